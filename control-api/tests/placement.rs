//! A tunnel's placement through the API, on one gateway (this test's node is
//! `test-node`): placed elsewhere it is stored but not run (`standby`, no interface);
//! moved here it comes up; moved away it goes down; bad placements are refused and change
//! nothing. (Leases between several nodes: `store_engines` and e2e `fleet`.)
#![cfg(target_os = "linux")]

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::{in_netns, unique_name};

#[test]
fn a_tunnel_runs_only_where_it_is_placed() {
    in_netns(|api| async move {
        let name = unique_name("p");
        let (status, created) = api
            .admin(
                Method::POST,
                "/v1/tunnels",
                Some(json!({"name": name, "listen_port": 0, "nodes": ["elsewhere"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["status"]["state"], "standby", "{created}");
        assert_eq!(created["nodes"], json!(["elsewhere"]));
        let up = || wiregate_dataplane::netconf::ifindex(&name).is_ok();
        assert!(!up(), "a tunnel placed elsewhere runs here");

        let path = format!("/v1/tunnels/{name}");
        for nodes in [json!(["test-node"]), json!(null)] {
            let (status, moved) = api
                .admin(Method::PATCH, &path, Some(json!({ "nodes": nodes })))
                .await;
            assert_eq!(status, StatusCode::OK, "{moved}");
            assert_eq!(moved["status"]["state"], "running", "{moved}");
            assert_eq!(moved["nodes"], nodes);
            assert!(up(), "placed here, not running");
        }
        let (_, away) = api
            .admin(Method::PATCH, &path, Some(json!({"nodes": ["gw-b"]})))
            .await;
        assert_eq!(away["status"]["state"], "standby", "{away}");
        assert!(!up(), "moved away, still running");

        let long: Vec<String> = (0..17).map(|i| format!("n{i}")).collect();
        for bad in [json!([]), json!(["a b"]), json!(["a", "a"]), json!(long)] {
            api.refused(
                Method::PATCH,
                &path,
                json!({ "nodes": bad }),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_placement",
            )
            .await;
        }
        let (_, unchanged) = api.admin(Method::GET, &path, None).await;
        assert_eq!(unchanged["nodes"], json!(["gw-b"]));
    });
}
