//! Provisioning through the API, end to end: a tunnel and a peer are created over HTTP,
//! a wireguard-go client is configured from the exported wg-quick config and pings
//! through; after a gateway restart the peer is still there and the client gets through
//! again; a disabled peer's traffic stops; a deleted peer's address goes to the next one.

use crate::cmd::{self, wait_for};
use crate::gateway::{Gateway, GatewayConfig};
use crate::names::unique;
use crate::netns::{self, Netns};
use crate::ping::{must_ping, try_ping};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// The (first) value of `"field":` in a JSON text: a number, a string, or the first
/// string of a list (enough for these answers).
fn field<'a>(json: &'a str, field: &str) -> &'a str {
    let start = json
        .find(&format!("\"{field}\":"))
        .unwrap_or_else(|| panic!("no {field} in {json}"))
        + field.len()
        + 3;
    let rest = json[start..].trim_start_matches(['[', '"']);
    let end = rest.find(['"', ',', '}', ']']).unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn provision_restart_disable_delete_through_the_api() {
    let gw_ns = Netns::new();
    let client_ns = Netns::new();
    netns::link(&gw_ns, "10.200.1.1/24", &client_ns, "10.200.1.2/24");
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = GatewayConfig::new(vec![]);
    config.state_dir = Some(state.path().to_path_buf());
    let mut gw = Gateway::spawn(&gw_ns, &config, &[]);
    gw.wait_for_api();

    let tunnel = unique("wgapi");
    let (status, body) = gw.api(
        None,
        "POST",
        "/v1/tunnels",
        Some(&format!(
            r#"{{"name": "{tunnel}", "listen_port": 51820, "addresses": ["10.70.0.1/24"], "pools": ["10.70.0.0/24"], "public_endpoint": "10.200.1.1:51820"}}"#
        )),
    );
    assert_eq!(status, 201, "{body}");
    let peers = format!("/v1/tunnels/{tunnel}/peers");
    let (status, created) = gw.api(
        None,
        "POST",
        &peers,
        Some(r#"{"name": "laptop", "persistent_keepalive": 5}"#),
    );
    assert_eq!(status, 201, "{created}");
    let id = field(&created, "id").to_owned();
    assert_eq!(field(&created, "addresses"), "10.70.0.2/32");
    let config_text = created
        .split("\"config\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a config in the answer")
        .replace("\\n", "\n");

    // The client: wg-quick with wireguard-go, from the exported config as it is.
    let iface = unique("wgcl");
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = dir.path().join(format!("{iface}.conf"));
    fs::write(&conf, &config_text).expect("config");
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o600)).expect("chmod");
    let up = cmd::try_run_cmd(
        &mut client_ns.command(&[
            "env",
            "WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go",
            "wg-quick",
            "up",
            conf.to_str().expect("utf-8"),
        ]),
        None,
        Duration::from_secs(30),
    );
    assert!(
        up.success(),
        "wg-quick up from the exported config:\n{config_text}\n{}",
        up.report()
    );
    must_ping(&client_ns, "10.70.0.1");

    // Another peer provisioned meanwhile leaves this one's session alone: no new handshake.
    let public_key = field(&created, "public_key").to_owned();
    let before = gw.dump(&tunnel).peer(&public_key).latest_handshake;
    let (status, body) = gw.api(None, "POST", &peers, Some(r#"{"name": "other"}"#));
    assert_eq!(status, 201, "{body}");
    let other_id = field(&body, "id").to_owned();
    must_ping(&client_ns, "10.70.0.1");
    assert_eq!(
        gw.dump(&tunnel).peer(&public_key).latest_handshake,
        before,
        "the session was reset"
    );
    let (status, body) = gw.api(None, "DELETE", &format!("{peers}/{other_id}"), None);
    assert_eq!(status, 204, "{body}");

    // Restart: the store brings the tunnel and the peer back; the client gets through.
    gw.stop("TERM");
    let gw = Gateway::spawn(&gw_ns, &config, &[]);
    gw.wait_for_api();
    let (status, body) = gw.api(None, "GET", &format!("{peers}/{id}"), None);
    assert_eq!(status, 200, "{body}");
    let back = wait_for(Duration::from_secs(40), || {
        try_ping(&client_ns, "10.70.0.1", 1).ok()
    });
    assert!(
        back.is_some(),
        "the client did not get through after the restart:\n{}",
        gw.stderr()
    );

    // Disabled: its traffic stops.
    let (status, body) = gw.api(
        None,
        "PATCH",
        &format!("{peers}/{id}"),
        Some(r#"{"enabled": false}"#),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        try_ping(&client_ns, "10.70.0.1", 3).is_err(),
        "a disabled peer still gets through"
    );

    // Deleted: its address goes to the next peer.
    let (status, body) = gw.api(None, "DELETE", &format!("{peers}/{id}"), None);
    assert_eq!(status, 204, "{body}");
    let (status, next) = gw.api(None, "POST", &peers, Some(r#"{"name": "phone"}"#));
    assert_eq!(status, 201, "{next}");
    assert_eq!(field(&next, "addresses"), "10.70.0.2/32");

    let _ = cmd::try_run_cmd(
        &mut client_ns.command(&[
            "env",
            "WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go",
            "wg-quick",
            "down",
            conf.to_str().expect("utf-8"),
        ]),
        None,
        Duration::from_secs(10),
    );
}
