//! The tag `config-file` marks the configuration file's peers, which the file keeps in
//! line at every start and reload. The API may neither give it nor take it away: either
//! edit used to make the next start refuse the file and take every tunnel down.
#![cfg(target_os = "linux")]

mod support;

use support::*;
use wiregate_control::control::FILE_TAG;
use wiregate_control::model::{PeerRecord, now};
use wiregate_core::PublicKey;

fn file_peer(tunnel: &str, key: PublicKey) -> PeerRecord {
    PeerRecord {
        id: 0,
        tunnel: tunnel.to_owned(),
        name: "from-file".into(),
        tags: vec![FILE_TAG.into()],
        public_key: key,
        preshared_key: None,
        private_key: None,
        addresses: vec!["10.8.0.50/32".parse().unwrap()],
        routes: vec![],
        endpoint: None,
        persistent_keepalive: None,
        enabled: true,
        expires_at: None,
        created_at: now(),
        updated_at: now(),
    }
}

#[test]
fn the_file_tag_is_neither_given_nor_taken_through_the_api() {
    in_netns(|api| async move {
        let tunnel = unique_name("wgft");
        api.create_tunnel(&tunnel, 51_820).await;
        let peers = format!("/v1/tunnels/{tunnel}/peers");
        let reserved = |status, body: &Value| {
            assert_problem(
                status,
                body,
                StatusCode::UNPROCESSABLE_ENTITY,
                "reserved_tag",
            );
        };

        let with_tag = json!({"name": "sneaky", "public_key": public_key(), "tags": [FILE_TAG]});
        let (status, body) = api
            .admin(Method::POST, &peers, Some(with_tag.clone()))
            .await;
        reserved(status, &body);
        let (status, body) = api
            .admin(
                Method::POST,
                &format!("{peers}/bulk"),
                Some(json!({"peers": [with_tag]})),
            )
            .await;
        reserved(status, &body);

        let (status, api_peer) = api
            .admin(
                Method::POST,
                &peers,
                Some(json!({"name": "api", "public_key": public_key(), "tags": ["vip"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{api_peer}");
        let api_peer = format!("{peers}/{}", api_peer["id"]);
        let (status, body) = api
            .admin(
                Method::PATCH,
                &api_peer,
                Some(json!({"tags": ["vip", FILE_TAG]})),
            )
            .await;
        reserved(status, &body);

        // A peer of the file keeps its tag; its other tags are the API's to change.
        let key = wiregate_core::PrivateKey::generate().public_key();
        api.control
            .sync_file_peers(&tunnel, vec![file_peer(&tunnel, key)])
            .expect("the file's peer");
        let (_, listed) = api
            .admin(Method::GET, &format!("{peers}?tag={FILE_TAG}"), None)
            .await;
        let id = listed["items"][0]["id"].clone();
        let file_peer_uri = format!("{peers}/{id}");
        let (status, body) = api
            .admin(
                Method::PATCH,
                &file_peer_uri,
                Some(json!({"tags": ["renamed"]})),
            )
            .await;
        reserved(status, &body);
        let (status, body) = api
            .admin(
                Method::PATCH,
                &file_peer_uri,
                Some(json!({"tags": [FILE_TAG, "ops"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");

        // And the next sync (a start or reload) still agrees with the store.
        let sync = api
            .control
            .sync_file_peers(&tunnel, vec![file_peer(&tunnel, key)])
            .expect("the file still applies");
        assert!(!sync.changed(), "{sync:?}");
    });
}
