//! The tunnel's UDP sockets: every shard's socket carries the fwmark, and a port that
//! another gateway holds is refused rather than silently shared through SO_REUSEPORT.

use crate::gateway::{Gateway, GatewayConfig, TunnelSpec, serve_once};
use crate::names::unique;
use crate::netns::Netns;
use crate::topo::GW_PORT;
use crate::wg::Keypair;

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

    let second = TunnelSpec::new(
        &unique("wgb"),
        GW_PORT,
        &Keypair::generate(),
        &["10.71.0.1/24"],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let outcome = serve_once(&ns, &GatewayConfig::new(vec![second]).to_toml(), dir.path());
    assert!(
        !outcome.success(),
        "a second gateway took port {GW_PORT}:\n{}",
        outcome.report()
    );
    assert!(
        outcome.stderr.contains("Address already in use")
            || outcome.stderr.contains("Address in use"),
        "{}",
        outcome.report()
    );
}
