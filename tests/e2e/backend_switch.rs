//! Switching a tunnel's backend. The data plane is the host's choice, so a `backend` the
//! configuration file names wins over the stored one at every start; the API switches a
//! running tunnel live. Either way the peers stay in the store and the interface is made
//! again on the new backend. This machine's kernel has no WireGuard module, so the
//! linux-kernel side of each switch fails clearly; the `in_kernel_` tests (in a VM) switch
//! between two working backends.

use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::kernel_backend::NO_MODULE;
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::{must_ping, must_ping_within};
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::{Keypair, socket_path};
use std::time::Duration;

/// A client whose session the gateway lost starts a new handshake after
/// KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s) of unanswered traffic.
pub const NEW_SESSION: Duration = Duration::from_secs(40);

fn switch(gw: &Gateway, tunnel: &str, backend: &str) {
    let body = format!(r#"{{"backend": "{backend}"}}"#);
    let answer = gw.json("PATCH", &format!("/v1/tunnels/{tunnel}"), Some(&body), 200);
    assert_eq!(answer["backend"], backend, "{answer}");
}

#[test]
fn a_backend_named_in_the_file_wins_at_restart_and_the_api_switches_live() {
    let gw_ns = Netns::new();
    assert!(
        !gw_ns.has_kernel_wireguard(),
        "this test is for a kernel without WireGuard; the in_kernel_ tests cover one with it"
    );
    let state = tempfile::tempdir().expect("tempdir");
    let gw_keys = Keypair::generate();
    let name = unique("wgsw");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24"]);
    tunnel.backend = Some("linux-kernel".into());
    let mut config = GatewayConfig::new(vec![tunnel]);
    config.state_dir = Some(state.path().to_path_buf());

    // First start: the kernel tunnel fails, yet the store takes a peer for it.
    let mut gw = Gateway::spawn(&gw_ns, &config, &[]);
    gw.wait_tunnel_state(&name, "failed");
    let site = Site::new(&gw_ns, &SiteSpec::hub(1, 11, &gw_keys.public));
    let peer = format!(
        r#"{{"name": "site", "public_key": "{}", "routes": ["10.70.0.11/32"]}}"#,
        site.client.keys.public
    );
    gw.json(
        "POST",
        &format!("/v1/tunnels/{name}/peers"),
        Some(&peer),
        201,
    );
    gw.stop("TERM");

    // The file now says userspace: the restart switches the stored tunnel, peer and all.
    config.tunnels[0].backend = Some("userspace".into());
    let gw = Gateway::start(&gw_ns, &config, &[]);
    let running = gw.wait_tunnel_state(&name, "running");
    assert_eq!(running["backend"], "userspace", "{running}");
    assert!(
        gw.stderr()
            .contains("backend switched by the configuration file"),
        "{}",
        gw.stderr()
    );
    assert_eq!(gw.peers(&name), vec![site.client.keys.public.clone()]);
    must_ping(&site.ns, "10.70.0.1");

    // Live, through the API: to linux-kernel (fails here: the TUN goes, the reason shows)
    // and back (the TUN and its UAPI socket return; the client makes a new session).
    switch(&gw, &name, "linux-kernel");
    let failed = gw.wait_tunnel_state(&name, "failed");
    let reason = failed["status"]["error"].as_str().unwrap_or_default();
    assert!(reason.contains(NO_MODULE), "{failed}");
    assert!(
        !gw_ns.has_link(&name) && !socket_path(&name).exists(),
        "the userspace tunnel's interface or UAPI socket outlived the switch"
    );
    switch(&gw, &name, "userspace");
    gw.wait_tunnel_state(&name, "running");
    assert!(gw_ns.link_details(&name).contains("tun"));
    assert_eq!(gw.peers(&name), vec![site.client.keys.public.clone()]);
    must_ping_within(&site.ns, "10.70.0.1", NEW_SESSION);
}
