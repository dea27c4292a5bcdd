//! Exported client configurations cannot be made to carry anything but what their fields
//! mean. A tunnel's `dns` and `public_endpoint` used to be written into the wg-quick file as
//! given, so `"dns": ["10.61.0.1\nPostUp = touch /tmp/pwned"]` put a `PostUp` line (run as
//! root by wg-quick) into every client's configuration and QR code. Now hostile values are
//! refused, and the legal extremes of every field render into a file that a wg-quick-style
//! parser reads back as exactly the keys and values that were meant.
#![cfg(target_os = "linux")]

mod support;

use std::collections::BTreeMap;
use support::*;

/// The keys of each section (`[Interface]`, then one `[Peer]`) as wg-quick reads a file:
/// line by line, everything from `#` on dropped, split at the first `=`, both sides
/// trimmed of whitespace; a line starting with `[` opens a section.
fn parse_like_wg_quick(text: &str) -> Vec<(String, BTreeMap<String, Vec<String>>)> {
    let mut sections: Vec<(String, BTreeMap<String, Vec<String>>)> = Vec::new();
    for line in text.split('\n') {
        let stripped = line.split('#').next().unwrap_or("");
        let (key, value) = stripped.split_once('=').unwrap_or((stripped, ""));
        let (key, value) = (key.trim(), value.trim());
        if key.starts_with('[') {
            sections.push((key.to_owned(), BTreeMap::new()));
        } else if !key.is_empty() {
            let (_, keys) = sections.last_mut().expect("a key before any section");
            keys.entry(key.to_owned())
                .or_default()
                .push(value.to_owned());
        }
    }
    sections
}

fn keys(section: &BTreeMap<String, Vec<String>>) -> Vec<&str> {
    section.keys().map(String::as_str).collect()
}

#[test]
fn hostile_dns_and_endpoints_are_refused() {
    in_netns(|api| async move {
        let tunnel = unique_name("wgcc");
        let hostile_dns = [
            "10.61.0.1\nPostUp = touch /tmp/pwned",
            "10.61.0.1\r\nPostUp = id",
            "corp.example # comment",
            "a=b",
            "",
            "10.61.0.1, 10.61.0.2",
        ];
        let hostile_endpoints = [
            "vpn.example.net:51601\nPreUp = id",
            "vpn.example.net:51601 #",
            "vpn.example.net",
            "vpn.example.net:0",
            "2001:db8::1:51820",
        ];
        let base = json!({
            "name": tunnel, "listen_port": 51_820,
            "addresses": ["10.8.0.1/24"], "pools": ["10.8.0.0/24"]
        });
        let with = |field: &str, value: Value| {
            let mut body = base.clone();
            body[field] = value;
            body
        };
        for dns in hostile_dns {
            api.refused(
                Method::POST,
                "/v1/tunnels",
                with("dns", json!([dns])),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_dns",
            )
            .await;
        }
        for endpoint in hostile_endpoints {
            api.refused(
                Method::POST,
                "/v1/tunnels",
                with("public_endpoint", json!(endpoint)),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_endpoint",
            )
            .await;
        }
        let (status, body) = api.admin(Method::GET, "/v1/tunnels", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["items"], json!([]), "{body}");

        // A change is checked as a creation is, and a refused one changes nothing.
        api.create_tunnel(&tunnel, 51_821).await;
        let uri = format!("/v1/tunnels/{tunnel}");
        for patch in [
            json!({"dns": [hostile_dns[0]]}),
            json!({"public_endpoint": hostile_endpoints[0]}),
        ] {
            let (status, body) = api.admin(Method::PATCH, &uri, Some(patch)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        }
        let (_, stored) = api.admin(Method::GET, &uri, None).await;
        assert_eq!(stored["dns"], json!(["10.8.0.1"]));
        assert_eq!(stored["public_endpoint"], "vpn.example.net:51820");
    });
}

#[test]
fn every_field_at_its_extremes_reads_back_as_meant() {
    in_netns(|api| async move {
        let tunnel = unique_name("wgcc");
        let long_name = [
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61),
        ]
        .join(".");
        let endpoint = "[2001:db8:ffff::1]:65535";
        let dns = ["10.8.0.1", "fd08::53", "corp.example", &long_name];
        let (status, body) = api
            .admin(
                Method::POST,
                "/v1/tunnels",
                Some(json!({
                    "name": tunnel, "listen_port": 51_820,
                    "addresses": ["10.8.0.1/24", "fd08::1/64"], "pools": ["10.8.0.0/24", "fd08::/64"],
                    "public_endpoint": endpoint, "dns": dns, "keep_private_keys": true,
                    "routable": ["192.168.77.0/24"]
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let peers = format!("/v1/tunnels/{tunnel}/peers");
        let (status, peer) = api
            .admin(
                Method::POST,
                &peers,
                Some(json!({
                    "name": "n\u{0}a\nm#e=", "tags": ["t\n#"],
                    "generate_preshared_key": true, "persistent_keepalive": 65_535,
                    "routes": ["192.168.77.0/24"]
                })),
            )
            .await;
        // A peer's name and tags are not written into its configuration, whatever they are.
        assert_eq!(status, StatusCode::CREATED, "{peer}");
        let (_, text, _) = api
            .raw(
                Method::GET,
                &format!("{peers}/{}/config", peer["id"]),
                Some(ADMIN),
                None,
            )
            .await;

        let sections = parse_like_wg_quick(&text);
        let names: Vec<&str> = sections.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["[Interface]", "[Peer]"], "{text}");
        let (interface, gateway) = (&sections[0].1, &sections[1].1);
        assert_eq!(keys(interface), ["Address", "DNS", "PrivateKey"], "{text}");
        assert_eq!(
            keys(gateway),
            [
                "AllowedIPs",
                "Endpoint",
                "PersistentKeepalive",
                "PresharedKey",
                "PublicKey"
            ],
            "{text}"
        );
        assert_eq!(interface["DNS"], [dns.join(", ")]);
        assert_eq!(
            interface["PrivateKey"],
            [peer["private_key"].as_str().unwrap()]
        );
        assert_eq!(gateway["Endpoint"], [endpoint]);
        assert_eq!(gateway["PersistentKeepalive"], ["65535"]);
        assert_eq!(gateway["AllowedIPs"], ["10.8.0.0/24, fd08::/64"]);
        // Every line is a section, a `key = value`, a comment or blank: nothing else.
        for line in text.lines() {
            assert!(
                line.is_empty()
                    || line.starts_with('#')
                    || line.starts_with('[')
                    || line.contains(" = "),
                "{line:?} in\n{text}"
            );
            assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        }
    });
}
