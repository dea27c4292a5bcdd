//! The linux-kernel backend through the daemon. This machine's kernel has no WireGuard
//! module: a tunnel on that backend must fail with a clear reason while the others keep
//! working. Under a kernel that has it, `tests/run` runs the `in_kernel_` tests in a VM
//! (`tests/kernel-vm`): clients of both kinds reach a gateway whose data plane is the
//! kernel's.

use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::{self, Netns};
use crate::ping::must_ping;
use crate::topo::{CLIENT_PORT, GW_PORT, Site, SiteSpec};
use crate::wg::Keypair;

/// What the API reports of a linux-kernel tunnel on a kernel without the module.
pub const NO_MODULE: &str = "this kernel has no WireGuard support; use backend";

#[test]
fn without_the_module_a_kernel_tunnel_fails_clearly_and_the_others_run() {
    let ns = Netns::new();
    assert!(
        !ns.has_kernel_wireguard(),
        "this test is for a kernel without WireGuard; the in_kernel_ tests cover one with it"
    );
    let user = TunnelSpec::new(
        &unique("wgu"),
        GW_PORT,
        &Keypair::generate(),
        &["10.70.0.1/24"],
    );
    let kernel_name = unique("wgk");
    let mut kernel = TunnelSpec::new(
        &kernel_name,
        GW_PORT + 1,
        &Keypair::generate(),
        &["10.71.0.1/24"],
    );
    kernel.backend = Some("linux-kernel".into());
    let user_name = user.name.clone();
    let config = GatewayConfig::new(vec![user, kernel]);
    let gw = Gateway::spawn(&ns, &config, &[]);
    let failed = gw.wait_tunnel_state(&kernel_name, "failed");
    let reason = failed["status"]["error"].as_str().unwrap_or_default();
    assert!(reason.contains(NO_MODULE), "{failed}");
    let (_, user_body) = gw.api(None, "GET", &format!("/v1/tunnels/{user_name}"), None);
    assert!(user_body.contains("\"running\""), "{user_body}");
    assert!(
        !ns.has_link(&kernel_name),
        "the failed tunnel left an interface"
    );
}

/// A kernel WireGuard client in a namespace of its own on underlay link `link`, at tunnel
/// address `address` ("10.70.0.12/24"), whose one peer is the gateway.
pub fn kernel_client(
    gw_ns: &Netns,
    link: u8,
    address: &str,
    gateway_key: &str,
) -> (Netns, Keypair) {
    let ns = Netns::new();
    netns::link(
        gw_ns,
        &format!("10.200.{link}.1/24"),
        &ns,
        &format!("10.200.{link}.2/24"),
    );
    let keys = Keypair::generate();
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, &keys.private).expect("key file");
    ns.run(&["ip", "link", "add", "wg0", "type", "wireguard"]);
    ns.run(&[
        "wg",
        "set",
        "wg0",
        "private-key",
        key_file.to_str().unwrap(),
        "listen-port",
        &CLIENT_PORT.to_string(),
        "peer",
        gateway_key,
        "endpoint",
        &format!("10.200.{link}.1:{GW_PORT}"),
        "allowed-ips",
        "10.70.0.0/24",
    ]);
    ns.run(&["ip", "address", "add", address, "dev", "wg0"]);
    ns.run(&["ip", "link", "set", "wg0", "up"]);
    (ns, keys)
}

#[test]
#[ignore = "needs a kernel with WireGuard: tests/run runs it under tests/kernel-vm"]
fn in_kernel_gateway_serves_wireguard_go_and_kernel_clients() {
    let gw_ns = Netns::new();
    assert!(
        gw_ns.has_kernel_wireguard(),
        "this kernel has no WireGuard module"
    );
    let gw_keys = Keypair::generate();
    let go_site = Site::new(&gw_ns, &SiteSpec::hub(1, 11, &gw_keys.public));
    let (kernel_ns, kernel_keys) = kernel_client(&gw_ns, 2, "10.70.0.12/24", &gw_keys.public);
    let name = unique("wgk");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24"]);
    tunnel.backend = Some("linux-kernel".into());
    tunnel.peers.push(go_site.gateway_peer());
    tunnel.peers.push(crate::gateway::PeerSpec::new(
        &kernel_keys.public,
        &["10.70.0.12/32"],
    ));
    let gw = Gateway::start(&gw_ns, &GatewayConfig::new(vec![tunnel]), &[]);
    assert!(
        gw_ns.link_details(&name).contains("wireguard"),
        "the tunnel is a kernel WireGuard link"
    );
    must_ping(&go_site.ns, "10.70.0.1");
    must_ping(&kernel_ns, "10.70.0.1");
    // `wg show` (over netlink) and the API agree on both peers.
    let dump = gw.dump(&name);
    assert_eq!(
        dump.peer(&go_site.client.keys.public).endpoint,
        go_site.endpoint()
    );
    assert_eq!(
        dump.peer(&kernel_keys.public).endpoint,
        format!("10.200.2.2:{CLIENT_PORT}")
    );
    for key in [&go_site.client.keys.public, &kernel_keys.public] {
        let peer = dump.peer(key);
        assert!(peer.latest_handshake > 0, "no handshake for {key}");
        assert!(
            peer.rx_bytes > 0 && peer.tx_bytes > 0,
            "no traffic for {key}"
        );
    }
    let (status, body) = gw.api(None, "GET", &format!("/v1/tunnels/{name}"), None);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("\"running\"") && body.contains("linux-kernel"),
        "{body}"
    );
}
