//! A tunnel switched to `keep_private_keys: false` forgets the peer private keys it kept:
//! the answer says how many, their configs come without a key, and the database file
//! (and its write-ahead log) no longer holds them, as text or as bytes.
#![cfg(target_os = "linux")]

mod support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use support::*;

/// Whether any file of the database (`wiregate.db`, `-wal`, `-shm`) contains `needle`.
fn database_holds(db: &std::path::Path, needle: &[u8]) -> bool {
    ["", "-wal", "-shm"].iter().any(|suffix| {
        let path = format!("{}{suffix}", db.display());
        std::fs::read(&path)
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            .unwrap_or(false)
    })
}

#[test]
fn switching_keep_private_keys_off_forgets_the_kept_keys() {
    in_netns(|api| async move {
        let tunnel = unique_name("wgpk");
        let (status, body) = api
            .admin(
                Method::POST,
                "/v1/tunnels",
                Some(json!({
                    "name": tunnel, "listen_port": 51_820,
                    "addresses": ["10.8.0.1/24"], "pools": ["10.8.0.0/24"],
                    "keep_private_keys": true
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let peers = format!("/v1/tunnels/{tunnel}/peers");
        let (status, created) = api
            .admin(Method::POST, &peers, Some(json!({"name": "phone"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let key = created["private_key"].as_str().unwrap().to_owned();
        let raw = STANDARD.decode(&key).unwrap();
        let config_uri = format!("{peers}/{}/config", created["id"]);
        let (_, config, _) = api.raw(Method::GET, &config_uri, Some(ADMIN), None).await;
        assert!(config.contains(&format!("PrivateKey = {key}")), "{config}");
        assert!(
            database_holds(&api.db, key.as_bytes()),
            "the key was never stored?"
        );

        let (status, changed) = api
            .admin(
                Method::PATCH,
                &format!("/v1/tunnels/{tunnel}"),
                Some(json!({"keep_private_keys": false})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{changed}");
        assert_eq!(changed["forgotten_private_keys"], 1, "{changed}");
        let (_, config, _) = api.raw(Method::GET, &config_uri, Some(ADMIN), None).await;
        assert!(
            !config.contains(&key) && !config.lines().any(|l| l.starts_with("PrivateKey")),
            "{config}"
        );
        assert!(
            !database_holds(&api.db, key.as_bytes()),
            "the key is still in the database as text"
        );
        assert!(
            !database_holds(&api.db, &raw),
            "the key is still in the database as bytes"
        );

        // The answer to other changes does not carry the count.
        let (_, other) = api
            .admin(
                Method::PATCH,
                &format!("/v1/tunnels/{tunnel}"),
                Some(json!({"mtu": 1400})),
            )
            .await;
        assert!(other.get("forgotten_private_keys").is_none(), "{other}");
    });
}
