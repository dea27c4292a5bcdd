//! Low-order public keys (every Diffie-Hellman result with them is zero) are refused
//! wherever a peer's key enters through the API, alone or in a bulk request, with
//! `invalid_key` and a detail that says why; nothing is created.
#![cfg(target_os = "linux")]

mod support;

use support::*;
use wiregate_core::PublicKey;
use wiregate_core::low_order::low_order_encodings;

#[test]
fn every_low_order_key_is_refused_and_nothing_is_created() {
    in_netns(|api| async move {
        let tunnel = unique_name("wglo");
        api.create_tunnel(&tunnel, 51_820).await;
        let peers = format!("/v1/tunnels/{tunnel}/peers");
        for bytes in low_order_encodings() {
            let key = PublicKey(bytes).to_base64();
            let body = api
                .refused(
                    Method::POST,
                    &peers,
                    json!({"name": "low", "public_key": key}),
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_key",
                )
                .await;
            let detail = body["detail"].as_str().unwrap();
            assert!(
                detail.contains("public_key") && detail.contains("low-order point"),
                "{key}: {body}"
            );
            let bulk = json!({"peers": [
                {"name": "fine", "public_key": public_key()},
                {"name": "low", "public_key": key},
            ]});
            let body = api
                .refused(
                    Method::POST,
                    &format!("{peers}/bulk"),
                    bulk,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_key",
                )
                .await;
            assert!(
                body["detail"].as_str().unwrap().contains("peer 1 (low)"),
                "{body}"
            );
        }
        let (_, all) = api.admin(Method::GET, &peers, None).await;
        assert_eq!(all["items"].as_array().unwrap().len(), 0, "{all}");
        // An ordinary key still goes in.
        let (status, body) = api
            .admin(
                Method::POST,
                &peers,
                Some(json!({"name": "ok", "public_key": public_key()})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    });
}
