//! The gateway's own initiative: persistent keepalive makes it reach a silent client, and
//! a live change of its listening port (`wg set <t> listen-port`) keeps it reachable.

use crate::cmd::wait_for;
use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::must_ping;
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::Keypair;
use std::time::Duration;

#[test]
fn persistent_keepalive_reaches_a_silent_client() {
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let site = Site::new(&gw_ns, &SiteSpec::hub(1, 2, &gw_keys.public));
    let name = unique("wgk");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24"]);
    let mut peer = site.gateway_peer();
    peer.endpoint = Some(site.endpoint());
    peer.persistent_keepalive = Some(1);
    tunnel.peers = vec![peer];
    let gw = Gateway::start(&gw_ns, &GatewayConfig::new(vec![tunnel]), &[]);

    // The client sends nothing: only the gateway's keepalive timer can start a handshake.
    let handshake = wait_for(Duration::from_secs(10), || {
        let at = site.client.latest_handshake(&gw_keys.public);
        (at > 0).then_some(at)
    });
    assert!(
        handshake.is_some(),
        "the gateway never reached the silent client"
    );
    // And keepalives keep flowing after it: the client keeps receiving.
    let sent = |gw: &Gateway| gw.dump(&name).peer(&site.client.keys.public).tx_bytes;
    let first = sent(&gw);
    let grew = wait_for(Duration::from_secs(5), || (sent(&gw) > first).then_some(()));
    assert!(
        grew.is_some(),
        "no keepalive sent after the handshake ({first} bytes)"
    );
    assert_eq!(
        gw.dump(&name)
            .peer(&site.client.keys.public)
            .persistent_keepalive,
        "1"
    );
}

#[test]
fn gateway_moves_to_a_new_port_live() {
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let site = Site::new(&gw_ns, &SiteSpec::hub(1, 2, &gw_keys.public));
    let name = unique("wgp");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24"]);
    tunnel.peers = vec![site.gateway_peer()];
    let gw = Gateway::start(&gw_ns, &GatewayConfig::new(vec![tunnel]), &[]);
    must_ping(&site.ns, "10.70.0.1");

    let new_port = GW_PORT + 77;
    gw.wg(&["set", &name, "listen-port", &new_port.to_string()]);
    assert_eq!(gw.dump(&name).listen_port, new_port);
    site.client.wg(&[
        "set",
        &site.client.iface,
        "peer",
        &gw_keys.public,
        "endpoint",
        &format!("10.200.1.1:{new_port}"),
    ]);
    must_ping(&site.ns, "10.70.0.1");
    must_ping(&gw_ns, site.ip(0));

    // A port another process holds is refused, and the gateway stays where it was.
    let held = GW_PORT + 78;
    let squatter = crate::wggo::WgGoClient::start(
        &gw_ns,
        Keypair::generate(),
        held,
        &["10.99.99.1/32".to_owned()],
        &crate::wggo::PeerSetting {
            public_key: Keypair::generate().public,
            endpoint: None,
            allowed_ips: vec![],
            preshared_key: None,
        },
    );
    let refused = gw.try_wg(&["set", &name, "listen-port", &held.to_string()]);
    assert!(
        !refused.success(),
        "took port {held} from {}",
        squatter.iface
    );
    assert_eq!(gw.dump(&name).listen_port, new_port);
    must_ping(&site.ns, "10.70.0.1");
}
