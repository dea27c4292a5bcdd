//! SIGHUP: the configuration file read again and its difference applied while a transfer
//! runs through the tunnel. A peer added to the file comes up and reaches the gateway; the
//! running transfer never stalls and its session is not replaced; a broken file changes
//! nothing; a peer taken out of the file goes.

use crate::cmd::{self, wait_for};
use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::iperf::{Iperf3Server, every_interval_moved_data};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::must_ping;
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::Keypair;
use std::process::Stdio;
use std::thread::sleep;
use std::time::Duration;

/// Waits (10 s at most) until `wg show` lists exactly `keys` on the tunnel.
fn wait_for_peers(gw: &Gateway, tunnel: &str, keys: &[&str]) {
    let mut want: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    want.sort();
    let reached = wait_for(Duration::from_secs(10), || {
        (gw.peers(tunnel) == want).then_some(())
    });
    assert!(
        reached.is_some(),
        "peers {:?}, expected {want:?}\n{}",
        gw.peers(tunnel),
        gw.stderr()
    );
}

#[test]
fn sighup_applies_the_file_without_interrupting_a_transfer() {
    let _heavy = cmd::heavy_traffic();
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let a = Site::new(&gw_ns, &SiteSpec::hub(1, 11, &gw_keys.public));
    let b = Site::new(&gw_ns, &SiteSpec::hub(2, 12, &gw_keys.public));
    let name = unique("wgr");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24"]);
    tunnel.peers.push(a.gateway_peer());
    let mut config = GatewayConfig::new(vec![tunnel]);
    let gw = Gateway::start(&gw_ns, &config, &[]);
    must_ping(&a.ns, "10.70.0.1");
    let handshake = gw.dump(&name).peer(&a.client.keys.public).latest_handshake;

    let _server = Iperf3Server::start(&gw_ns, "10.70.0.1");
    let transfer =
        a.ns.command(&["iperf3", "-c", "10.70.0.1", "-t", "8", "-i", "1", "-J"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("iperf3 -c");
    sleep(Duration::from_secs(2));

    // A peer added to the file.
    config.tunnels[0].peers.push(b.gateway_peer());
    gw.rewrite_config(&config);
    gw.signal("HUP");
    wait_for_peers(&gw, &name, &[&a.client.keys.public, &b.client.keys.public]);
    must_ping(&b.ns, "10.70.0.1");

    // A file that does not parse changes nothing.
    gw.write_config_text("[[tunnel]\nname = ");
    gw.signal("HUP");
    let refused = wait_for(Duration::from_secs(10), || {
        gw.stderr()
            .contains("the configuration is refused; nothing changed")
            .then_some(())
    });
    assert!(refused.is_some(), "{}", gw.stderr());
    wait_for_peers(&gw, &name, &[&a.client.keys.public, &b.client.keys.public]);

    let output = transfer.wait_with_output().expect("iperf3 -c");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "iperf3 -c: {report}");
    let intervals = every_interval_moved_data(&report).unwrap_or_else(|e| panic!("{e}"));
    assert!(intervals >= 7, "{intervals} intervals of 8");
    assert_eq!(
        gw.dump(&name).peer(&a.client.keys.public).latest_handshake,
        handshake,
        "the running session was replaced"
    );

    // A peer taken out of the file goes; the other stays.
    config.tunnels[0].peers.pop();
    gw.rewrite_config(&config);
    gw.signal("HUP");
    wait_for_peers(&gw, &name, &[&a.client.keys.public]);
    must_ping(&a.ns, "10.70.0.1");
    assert!(
        gw.stderr()
            .contains("peers of the configuration file applied"),
        "{}",
        gw.stderr()
    );
}

#[test]
fn sighup_revokes_a_token_taken_out_of_the_file() {
    let ns = Netns::new();
    let second = "e2e-second-token-0123456789".to_owned();
    let mut config = GatewayConfig::new(vec![]);
    config.extra_tokens = vec![second.clone()];
    let gw = Gateway::spawn(&ns, &config, &[]);
    gw.wait_for_api();
    assert_eq!(gw.status_as(&second, "/v1/tunnels"), 200);

    config.extra_tokens.clear();
    gw.rewrite_config(&config);
    gw.signal("HUP");
    let revoked = wait_for(Duration::from_secs(10), || {
        (gw.status_as(&second, "/v1/tunnels") == 401).then_some(())
    });
    assert!(
        revoked.is_some(),
        "the removed token still works:\n{}",
        gw.stderr()
    );
    assert_eq!(gw.status_as(crate::gateway::API_TOKEN, "/v1/tunnels"), 200);
    assert!(
        gw.stderr().contains("API tokens replaced"),
        "{}",
        gw.stderr()
    );
}
