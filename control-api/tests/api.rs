//! The API through its router, against a real store (SQLite in a temporary directory) and
//! real userspace backends (TUN devices), each test in a network namespace of its own.
//! Needs root, as the e2e tests do.
#![cfg(target_os = "linux")]

mod support;

use support::*;
use wiregate_core::PrivateKey;

#[test]
fn auth_is_required_and_read_only_tokens_cannot_write() {
    in_netns(|api| async move {
        let (status, body) = api.call(Method::GET, "/v1/health", None, None).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (StatusCode::OK, Some("ok"))
        );

        let (_, _, content_type) = api.raw(Method::GET, "/v1/tunnels", None, None).await;
        assert_eq!(content_type, "application/problem+json");
        let (status, body) = api.call(Method::GET, "/v1/tunnels", None, None).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        let (status, body) = api
            .call(Method::GET, "/v1/tunnels", Some("wrong"), None)
            .await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
        let (status, body) = api.call(Method::GET, "/v1/openapi.json", None, None).await;
        assert_problem(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");

        let (status, _) = api
            .call(Method::GET, "/v1/tunnels", Some(READER), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let new = json!({"name": unique_name("ro"), "listen_port": 0});
        let (status, body) = api
            .call(Method::POST, "/v1/tunnels", Some(READER), Some(new))
            .await;
        assert_problem(status, &body, StatusCode::FORBIDDEN, "read_only");
        // The scheme is case-insensitive; the token is not.
        let (status, _) = api
            .raw_auth(Method::GET, "/v1/tunnels", &format!("bearer {ADMIN}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _) = api
            .raw_auth(
                Method::GET,
                "/v1/tunnels",
                &format!("Bearer {}", ADMIN.to_uppercase()),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        // Client configs hold keys: read-only tokens may not download them.
        let name = unique_name("ro");
        api.create_tunnel(&name, 0).await;
        let (_, peer) = api
            .admin(
                Method::POST,
                &format!("/v1/tunnels/{name}/peers"),
                Some(json!({"name": "p", "public_key": public_key()})),
            )
            .await;
        let config = format!("/v1/tunnels/{name}/peers/{}/config", peer["id"]);
        for uri in [config.clone(), format!("{config}/qr.png")] {
            let (status, body) = api.call(Method::GET, &uri, Some(READER), None).await;
            assert_problem(status, &body, StatusCode::FORBIDDEN, "read_only");
        }
        let (status, _) = api
            .call(
                Method::GET,
                &format!("/v1/tunnels/{name}/peers"),
                Some(READER),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = api.admin(Method::GET, "/v1/nowhere", None).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    });
}

#[test]
fn tunnels_are_created_listed_changed_and_deleted() {
    in_netns(|api| async move {
        let name = unique_name("t");
        let created = api.create_tunnel(&name, 0).await;
        assert_eq!(created["status"]["state"], "running", "{created}");
        assert_eq!(created["public_key"].as_str().unwrap().len(), 44);
        assert!(
            created.get("private_key").is_none(),
            "a private key leaked: {created}"
        );
        assert!(
            wiregate_dataplane::netconf::ifindex(&name).is_ok(),
            "no interface {name}"
        );

        // Each bad request: its status and code, and nothing created.
        let refused = [
            (
                json!({"name": name, "listen_port": 0}),
                StatusCode::CONFLICT,
                "tunnel_exists",
            ),
            (
                json!({"name": "bad/name", "listen_port": 0}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_name",
            ),
            (
                json!({"name": "x", "listen_port": 0, "colour": "red"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
            ),
            (
                json!({"name": "y", "listen_port": 0, "mtu": 100}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_mtu",
            ),
            (
                json!({"name": "z", "listen_port": 0, "backend": "nope"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_backend",
            ),
            (
                json!({"name": "w", "listen_port": 70000}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
            ),
        ];
        for (request, status_wanted, code) in refused {
            let (status, body) = api
                .admin(Method::POST, "/v1/tunnels", Some(request.clone()))
                .await;
            assert_problem(status, &body, status_wanted, code);
            if code == "invalid_body" && request.get("colour").is_some() {
                assert!(
                    body["detail"].as_str().unwrap().contains("colour"),
                    "{body}"
                );
            }
        }
        let (status, body) = api.text(Method::POST, "/v1/tunnels", "{not json").await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_body");

        // Ports: one tunnel each, at creation and on change.
        let other = unique_name("o");
        let (status, body) = api
            .admin(
                Method::POST,
                "/v1/tunnels",
                Some(json!({"name": other, "listen_port": 41000})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = api
            .admin(
                Method::POST,
                "/v1/tunnels",
                Some(json!({"name": unique_name("q"), "listen_port": 41000})),
            )
            .await;
        assert_problem(status, &body, StatusCode::CONFLICT, "port_in_use");
        let (status, body) = api
            .admin(
                Method::PATCH,
                &format!("/v1/tunnels/{name}"),
                Some(json!({"listen_port": 41000})),
            )
            .await;
        assert_problem(status, &body, StatusCode::CONFLICT, "port_in_use");
        let (status, _) = api
            .admin(Method::DELETE, &format!("/v1/tunnels/{other}"), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);

        let (status, list) = api.admin(Method::GET, "/v1/tunnels", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");

        let uri = format!("/v1/tunnels/{name}");
        let (status, body) = api
            .admin(
                Method::PATCH,
                &uri,
                Some(json!({"addresses": ["10.8.0.254/24", "fd08::1/64"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let shown = std::process::Command::new("ip")
            .args(["-o", "addr", "show", "dev", &name])
            .output()
            .unwrap();
        let shown = String::from_utf8_lossy(&shown.stdout);
        assert!(
            shown.contains("10.8.0.254/24") && !shown.contains("10.8.0.1/24"),
            "addresses not replaced:\n{shown}"
        );

        let (status, body) = api
            .admin(
                Method::PATCH,
                &uri,
                Some(json!({"mtu": 1380, "public_endpoint": null})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            (body["mtu"].as_u64(), &body["public_endpoint"]),
            (Some(1380), &Value::Null)
        );
        let (status, body) = api
            .admin(Method::PATCH, &uri, Some(json!({"fwmark": 51820})))
            .await;
        assert_eq!(
            (status, body["fwmark"].as_u64()),
            (StatusCode::OK, Some(51820)),
            "{body}"
        );
        let shown = std::process::Command::new("wg")
            .args(["show", &name, "fwmark"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&shown.stdout).trim(),
            "0xca6c",
            "the data plane did not get the fwmark"
        );
        let (status, body) = api.admin(Method::GET, "/v1/tunnels/missing", None).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");

        let (status, _) = api.admin(Method::DELETE, &uri, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert!(
            wiregate_dataplane::netconf::ifindex(&name).is_err(),
            "{name} outlived its tunnel"
        );
        let (status, body) = api.admin(Method::DELETE, &uri, None).await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
    });
}

#[test]
fn peers_get_addresses_keys_and_configs() {
    in_netns(|api| async move {
        let name = unique_name("p");
        let tunnel = api.create_tunnel(&name, 0).await;
        let peers = format!("/v1/tunnels/{name}/peers");

        // Client-supplied key: no private key comes back; the next free addresses do.
        let key = public_key();
        let (status, alice) = api
            .admin(
                Method::POST,
                &peers,
                Some(json!({"name": "alice", "public_key": key, "tags": ["staff"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{alice}");
        assert_eq!(alice["addresses"], json!(["10.8.0.2/32", "fd08::2/128"]));
        assert_eq!(alice["private_key"], Value::Null);
        assert_eq!(alice["config"], Value::Null);

        // Server-generated key: returned once, with a ready config.
        let (status, bob) = api.admin(Method::POST, &peers, Some(json!({"name": "bob", "generate_preshared_key": true, "persistent_keepalive": 25}))).await;
        assert_eq!(status, StatusCode::CREATED, "{bob}");
        let private = bob["private_key"].as_str().expect("generated private key");
        let config = bob["config"].as_str().unwrap();
        assert!(
            config.contains(&format!("PrivateKey = {private}")),
            "{config}"
        );
        assert!(
            config.contains("Address = 10.8.0.3/32, fd08::3/128"),
            "{config}"
        );
        assert!(
            config.contains(&format!(
                "PublicKey = {}",
                tunnel["public_key"].as_str().unwrap()
            )),
            "{config}"
        );
        assert!(
            config.contains("Endpoint = vpn.example.net:51820"),
            "{config}"
        );
        assert!(
            config.contains("AllowedIPs = 10.8.0.0/24, fd08::/64"),
            "{config}"
        );
        assert!(
            config.contains("PresharedKey = ") && config.contains("PersistentKeepalive = 25"),
            "{config}"
        );
        assert!(config.contains("DNS = 10.8.0.1"), "{config}");

        // Later reads never show a private key; the tunnel does not keep it.
        let bob_uri = format!("{peers}/{}", bob["id"]);
        let (_, read) = api.admin(Method::GET, &bob_uri, None).await;
        assert!(
            !read.to_string().contains(private),
            "private key in a read: {read}"
        );
        assert_eq!(read["has_private_key"], false);
        let (_, list) = api.admin(Method::GET, &peers, None).await;
        assert!(!list.to_string().contains(private), "private key in a list");
        let (status, text, content_type) = api
            .raw(Method::GET, &format!("{bob_uri}/config"), Some(ADMIN), None)
            .await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "text/plain; charset=utf-8")
        );
        assert!(
            !text.contains(private) && text.contains("# PrivateKey"),
            "{text}"
        );
        let (status, svg, content_type) = api
            .raw(
                Method::GET,
                &format!("{bob_uri}/config/qr.svg"),
                Some(ADMIN),
                None,
            )
            .await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "image/svg+xml")
        );
        assert!(svg.contains("<svg"), "{svg}");
        let png = api.bytes(&format!("{bob_uri}/config/qr.png")).await;
        assert_eq!(
            decode_qr(&png),
            text,
            "the QR code does not read back as the config"
        );
        let (status, body) = api
            .admin(Method::GET, &format!("{peers}/999999/config/qr.png"), None)
            .await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");

        // Both peers are in the data plane.
        let state = api.plane.data_plane(&name).unwrap().unwrap();
        assert_eq!(state.peers.len(), 2);
        let (_, read) = api
            .admin(Method::GET, &format!("{peers}/{}", alice["id"]), None)
            .await;
        assert_eq!(read["status"]["rx_bytes"], 0, "{read}");

        // Specific addresses are checked.
        let ask = |addresses: Value| json!({"name": "x", "public_key": public_key(), "addresses": addresses});
        let refused = [
            ("10.8.0.2/32", StatusCode::CONFLICT, "address_taken"),
            (
                "10.9.0.2/32",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_address",
            ),
            (
                "10.8.0.1/32",
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_address",
            ),
        ];
        for (address, status_wanted, code) in refused {
            let (status, body) = api
                .admin(Method::POST, &peers, Some(ask(json!([address]))))
                .await;
            assert_problem(status, &body, status_wanted, code);
        }
        let (status, carol) = api
            .admin(Method::POST, &peers, Some(ask(json!(["10.8.0.77/32"]))))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{carol}");

        // Bad keys, duplicate keys, overlapping routes, unknown fields.
        let (status, body) = api
            .admin(
                Method::POST,
                &peers,
                Some(json!({"name": "k", "public_key": "short"})),
            )
            .await;
        assert_problem(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_key",
        );
        let (status, body) = api
            .admin(
                Method::POST,
                &peers,
                Some(json!({"name": "d", "public_key": key})),
            )
            .await;
        assert_problem(status, &body, StatusCode::CONFLICT, "public_key_exists");
        let site =
            |routes: Value| json!({"name": "site", "public_key": public_key(), "routes": routes});
        let (status, _) = api
            .admin(Method::POST, &peers, Some(site(json!(["192.168.10.0/24"]))))
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) = api
            .admin(
                Method::POST,
                &peers,
                Some(site(json!(["192.168.10.128/25"]))),
            )
            .await;
        assert_problem(status, &body, StatusCode::CONFLICT, "allowed_ips_overlap");
        let (status, body) = api
            .admin(Method::POST, &peers, Some(site(json!(["192.168.20.1/24"]))))
            .await;
        assert_problem(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_prefix",
        );
        let (status, body) = api
            .admin(
                Method::POST,
                &peers,
                Some(json!({"name": "u", "nickname": "x"})),
            )
            .await;
        assert_problem(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        );
        let (status, body) = api
            .admin(
                Method::POST,
                "/v1/tunnels/missing/peers",
                Some(json!({"name": "m"})),
            )
            .await;
        assert_problem(status, &body, StatusCode::NOT_FOUND, "not_found");
        let (status, body) = api
            .admin(Method::GET, &format!("{peers}/notanumber"), None)
            .await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_path");

        // Disable: out of the data plane, still in the store. Delete: the address is reused.
        let (status, body) = api
            .admin(
                Method::PATCH,
                &format!("{peers}/{}", alice["id"]),
                Some(json!({"enabled": false})),
            )
            .await;
        assert_eq!(
            (status, &body["active"]),
            (StatusCode::OK, &Value::Bool(false)),
            "{body}"
        );
        let state = api.plane.data_plane(&name).unwrap().unwrap();
        assert!(
            !state.peers.iter().any(|p| p.public_key.to_base64() == key),
            "disabled peer still carried"
        );
        let (status, _) = api
            .admin(Method::DELETE, &format!("{peers}/{}", alice["id"]), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, dave) = api
            .admin(
                Method::POST,
                &peers,
                Some(json!({"name": "dave", "public_key": public_key()})),
            )
            .await;
        assert_eq!(
            dave["addresses"],
            json!(["10.8.0.2/32", "fd08::2/128"]),
            "{dave}"
        );

        // Expired peers leave the data plane on the next pass.
        let past = wiregate_control::model::now() - 10;
        let (status, _) = api
            .admin(
                Method::PATCH,
                &format!("{peers}/{}", dave["id"]),
                Some(json!({"expires_at": past})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        api.plane.reconcile_all();
        let state = api.plane.data_plane(&name).unwrap().unwrap();
        assert!(
            !state
                .peers
                .iter()
                .any(|p| p.public_key.to_base64() == dave["public_key"].as_str().unwrap())
        );
    });
}

#[test]
fn listing_pages_and_filters() {
    in_netns(|api| async move {
        let name = unique_name("l");
        api.create_tunnel(&name, 0).await;
        let peers = format!("/v1/tunnels/{name}/peers");
        let bulk: Vec<Value> = (0..25)
            .map(|i| json!({"name": format!("user{i}"), "public_key": public_key(), "tags": if i % 5 == 0 { json!(["vip"]) } else { json!([]) }, "enabled": i % 2 == 0}))
            .collect();
        let (status, body) = api
            .admin(
                Method::POST,
                &format!("{peers}/bulk"),
                Some(json!({"peers": bulk})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["items"].as_array().unwrap().len(), 25);

        let mut seen = Vec::new();
        let mut after: Option<i64> = None;
        loop {
            let uri = match after {
                Some(a) => format!("{peers}?limit=10&after={a}"),
                None => format!("{peers}?limit=10"),
            };
            let (status, page) = api.admin(Method::GET, &uri, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            seen.extend(
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["name"].as_str().unwrap().to_owned()),
            );
            match page["next_after"].as_i64() {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), 25);
        let (_, vip) = api
            .admin(Method::GET, &format!("{peers}?tag=vip"), None)
            .await;
        assert_eq!(vip["items"].as_array().unwrap().len(), 5);
        let (_, enabled) = api
            .admin(
                Method::GET,
                &format!("{peers}?enabled=true&name=user1"),
                None,
            )
            .await;
        // user1x with even x: user10, user12, ..., user18 (user1 itself is odd).
        assert_eq!(enabled["items"].as_array().unwrap().len(), 5, "{enabled}");
        let (status, body) = api
            .admin(Method::GET, &format!("{peers}?limit=0"), None)
            .await;
        assert_problem(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
        );
        let (status, body) = api
            .admin(Method::GET, &format!("{peers}?sort=name"), None)
            .await;
        assert_problem(status, &body, StatusCode::BAD_REQUEST, "invalid_query");

        // A bulk request with one bad peer creates none.
        let bad = json!({"peers": [{"name": "ok", "public_key": public_key()}, {"name": "bad", "public_key": "nope"}]});
        let (status, body) = api
            .admin(Method::POST, &format!("{peers}/bulk"), Some(bad))
            .await;
        assert_problem(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_key",
        );
        assert!(
            body["detail"].as_str().unwrap().contains("peer 1 (bad)"),
            "{body}"
        );
        let (_, all) = api
            .admin(Method::GET, &format!("{peers}?limit=1000"), None)
            .await;
        assert_eq!(all["items"].as_array().unwrap().len(), 25);
    });
}

#[test]
fn an_exhausted_pool_is_a_conflict_and_changes_nothing() {
    in_netns(|api| async move {
        let name = unique_name("e");
        let tunnel = json!({"name": name, "listen_port": 0, "addresses": ["10.5.0.1/30"], "pools": ["10.5.0.0/30"]});
        let (status, body) = api.admin(Method::POST, "/v1/tunnels", Some(tunnel)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let peers = format!("/v1/tunnels/{name}/peers");
        let (status, only) = api
            .admin(
                Method::POST,
                &peers,
                Some(json!({"name": "only", "public_key": public_key()})),
            )
            .await;
        assert_eq!(
            (status, &only["addresses"]),
            (StatusCode::CREATED, &json!(["10.5.0.2/32"])),
            "{only}"
        );
        let (status, body) = api
            .admin(
                Method::POST,
                &peers,
                Some(json!({"name": "more", "public_key": public_key()})),
            )
            .await;
        assert_problem(status, &body, StatusCode::CONFLICT, "pool_exhausted");
        let (status, body) = api
            .admin(
                Method::PATCH,
                &format!("/v1/tunnels/{name}"),
                Some(json!({"pools": ["10.6.0.0/24"]})),
            )
            .await;
        assert_problem(status, &body, StatusCode::CONFLICT, "pool_in_use");
        let (_, list) = api.admin(Method::GET, &peers, None).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
    });
}

#[test]
fn the_store_is_the_truth_across_restarts_and_drift_is_repaired() {
    in_netns(|api| async move {
        let name = unique_name("r");
        api.create_tunnel(&name, 0).await;
        let peers = format!("/v1/tunnels/{name}/peers");
        let key = public_key();
        let (status, _) = api
            .admin(
                Method::POST,
                &peers,
                Some(json!({"name": "kept", "public_key": key})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);

        // Behind the API's back, with `wg set` semantics over the UAPI socket: the stored
        // peer is removed and a stranger is added. The next pass undoes both.
        let uapi = |request: String| {
            use std::io::{Read, Write};
            let socket = wiregate_dataplane::uapi_server::socket_path(&name);
            let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut answer = [0u8; 64];
            let n = stream.read(&mut answer).unwrap();
            assert!(String::from_utf8_lossy(&answer[..n]).starts_with("errno=0"));
        };
        let hex = wiregate_core::PublicKey::from_base64(&key)
            .unwrap()
            .to_hex();
        let stranger = PrivateKey::generate().public_key();
        uapi(format!("set=1\npublic_key={hex}\nremove=true\n\n"));
        uapi(format!(
            "set=1\npublic_key={}\nallowed_ip=10.8.0.200/32\n\n",
            stranger.to_hex()
        ));
        let carried = |api: &Api| -> Vec<String> {
            let state = api.plane.data_plane(&name).unwrap().unwrap();
            state
                .peers
                .iter()
                .map(|p| p.public_key.to_base64())
                .collect()
        };
        assert_eq!(carried(&api), vec![stranger.to_base64()]);
        api.plane.reconcile_all();
        assert_eq!(carried(&api), vec![key.clone()], "drift not repaired");

        // A restart (a new process on the same database) brings back everything.
        let Api {
            db,
            _dir,
            plane,
            router,
            control,
        } = api;
        drop((router, control));
        plane.shutdown();
        let api = open(db, _dir);
        api.plane.reconcile_all();
        let state = api
            .plane
            .data_plane(&name)
            .expect("tunnel back")
            .expect("running");
        assert_eq!(state.peers[0].public_key.to_base64(), key);
    });
}

#[test]
fn the_openapi_document_describes_every_route() {
    in_netns(|api| async move {
        let (status, doc) = api.admin(Method::GET, "/v1/openapi.json", None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
        // A real validator (openapi-spec-validator, from PyPI) checks the document.
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), doc.to_string()).unwrap();
        let out = std::process::Command::new("python3")
            .args(["-m", "openapi_spec_validator"])
            .arg(file.path())
            .output()
            .expect("python3 is needed to validate the OpenAPI document");
        assert!(
            out.status.success(),
            "the OpenAPI document is invalid (or openapi-spec-validator is missing; tests/run installs it):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let paths = doc["paths"].as_object().unwrap();
        for path in [
            "/v1/health",
            "/v1/tunnels",
            "/v1/tunnels/{tunnel}",
            "/v1/tunnels/{tunnel}/peers",
            "/v1/tunnels/{tunnel}/peers/bulk",
            "/v1/tunnels/{tunnel}/peers/{id}",
            "/v1/tunnels/{tunnel}/peers/{id}/config",
            "/v1/tunnels/{tunnel}/peers/{id}/config/qr.svg",
            "/v1/tunnels/{tunnel}/peers/{id}/config/qr.png",
        ] {
            assert!(
                paths.contains_key(path),
                "{path} missing from the OpenAPI document"
            );
        }
        let (status, body) = api
            .text(
                Method::POST,
                "/v1/tunnels",
                &format!("{{\"name\": \"{}\"}}", "x".repeat(17 << 20)),
            )
            .await;
        assert_problem(
            status,
            &body,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        );
    });
}
