//! The tunnel's UDP sockets: every shard's socket carries the fwmark, and a port that
//! another gateway holds is refused rather than silently shared through SO_REUSEPORT.

use crate::cmd::wait_for;
use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::topo::GW_PORT;
use crate::wg::Keypair;
use std::time::Duration;

#[test]
fn fwmark_is_set_on_every_shard_socket() {
    let ns = Netns::new();
    let name = unique("wgm");
    let tunnel = TunnelSpec::new(&name, GW_PORT, &Keypair::generate(), &["10.70.0.1/24"]);
    let gw = Gateway::start(&ns, &GatewayConfig::new(vec![tunnel]), &["--shards", "3"]);
    gw.wg(&["set", &name, "fwmark", "0x1234"]);
    assert_eq!(gw.wg(&["show", &name, "fwmark"]).trim(), "0x1234");
    let sockets = ns.run(&["ss", "-uapne", "sport", "=", &format!(":{GW_PORT}")]);
    let marked = sockets
        .lines()
        .filter(|l| l.contains("fwmark:0x1234"))
        .count();
    assert_eq!(marked, 3, "expected 3 marked sockets:\n{sockets}");

    gw.wg(&["set", &name, "fwmark", "0"]);
    let sockets = ns.run(&["ss", "-uapne", "sport", "=", &format!(":{GW_PORT}")]);
    assert!(
        !sockets.contains("fwmark:"),
        "fwmark 0 should clear the mark:\n{sockets}"
    );
}

#[test]
fn a_second_gateway_cannot_share_a_port() {
    let ns = Netns::new();
    let first = TunnelSpec::new(
        &unique("wga"),
        GW_PORT,
        &Keypair::generate(),
        &["10.70.0.1/24"],
    );
    let _gw = Gateway::start(&ns, &GatewayConfig::new(vec![first]), &[]);

    // A second gateway process (its API and metrics elsewhere) whose one tunnel wants the
    // same port:
    // that tunnel fails and says why; the process keeps serving its API.
    let name = unique("wgb");
    let second = TunnelSpec::new(&name, GW_PORT, &Keypair::generate(), &["10.71.0.1/24"]);
    let listen = "127.0.0.1:8081";
    let mut config = GatewayConfig::new(vec![second]);
    config.api_listen = Some(listen.into());
    config.metrics_listen = Some("127.0.0.1:9587".into());
    let gw2 = Gateway::spawn(&ns, &config, &[]);
    let failed = wait_for(Duration::from_secs(10), || {
        let (status, body) = gw2.try_api(Some(listen), "GET", &format!("/v1/tunnels/{name}"))?;
        (status == 200 && body.contains("\"failed\"")).then_some(body)
    });
    let body =
        failed.unwrap_or_else(|| panic!("tunnel {name} not reported failed:\n{}", gw2.stderr()));
    assert!(body.contains("Address already in use"), "{body}");
    assert!(!ns.has_link(&name), "the failed tunnel left an interface");
}
