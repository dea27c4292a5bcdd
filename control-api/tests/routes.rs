//! A peer's routes go into the host's routing table, so the API may only route what the
//! operator declared: the tunnel's pools and networks and its `routable` sites. Routes that
//! would take over the host's traffic (`0.0.0.0/1` + `128.0.0.0/1`, its resolver's `/32`, the
//! cloud metadata address) are refused, and the host's table is left as it was.
#![cfg(target_os = "linux")]

mod support;

use support::*;

/// The IPv4 main table of this test's namespace, as `ip route` prints it.
fn host_routes() -> String {
    let out = std::process::Command::new("ip")
        .args(["-4", "route", "show", "table", "main"])
        .output()
        .expect("ip (iproute2)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn only_declared_networks_reach_the_host_table() {
    in_netns(|api| async move {
        // 10.8.0.0/24 (pool and own network) and 192.168.0.0/16 (routable).
        let tunnel = unique_name("wgrt");
        api.create_tunnel(&tunnel, 51_820).await;
        let peers = format!("/v1/tunnels/{tunnel}/peers");
        let before = host_routes();
        for routes in [
            json!(["0.0.0.0/1", "128.0.0.0/1"]),
            json!(["169.254.169.254/32"]),
            json!(["10.0.0.53/32"]),
            json!(["0.0.0.0/0"]),
            json!(["172.16.0.0/12"]),
        ] {
            let body = json!({"name": "site", "public_key": public_key(), "routes": routes});
            api.refused(
                Method::POST,
                &peers,
                body,
                StatusCode::UNPROCESSABLE_ENTITY,
                "route_not_allowed",
            )
            .await;
        }
        let (status, site) = api
            .admin(
                Method::POST,
                &peers,
                Some(json!({"name": "site", "public_key": public_key(), "routes": ["192.168.20.0/24"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{site}");
        let site = format!("{peers}/{}", site["id"]);
        api.refused(
            Method::PATCH,
            &site,
            json!({"routes": ["0.0.0.0/1"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "route_not_allowed",
        )
        .await;

        let after = host_routes();
        assert!(
            after.contains("192.168.20.0/24"),
            "the declared route is missing:\n{after}"
        );
        for line in after.lines().filter(|l| !before.contains(*l)) {
            assert!(
                ["192.168.20.0/24 ", "10.8.0."]
                    .iter()
                    .any(|ok| line.starts_with(ok)),
                "a route the API should not have made: {line}\n{after}"
            );
        }

        // The operator declares another site; then it may be routed.
        let uri = format!("/v1/tunnels/{tunnel}");
        api.refused(
            Method::PATCH,
            &uri,
            json!({"routable": ["169.254.0.0/16"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_prefix",
        )
        .await;
        let (status, body) = api
            .admin(
                Method::PATCH,
                &uri,
                Some(json!({"routable": ["192.168.0.0/16", "172.16.0.0/12"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = api
            .admin(
                Method::PATCH,
                &site,
                Some(json!({"routes": ["172.16.5.0/24"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    });
}
