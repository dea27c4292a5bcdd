//! A client that moves to another UDP port: the gateway follows it.

use crate::cmd::wait_for;
use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::must_ping;
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::Keypair;
use std::time::Duration;

#[test]
fn gateway_follows_a_client_to_its_new_port() {
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let mut site = Site::new(&gw_ns, &SiteSpec::hub(1, 2, &gw_keys.public));
    let name = unique("wgr");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24"]);
    tunnel.peers = vec![site.gateway_peer()];
    let gw = Gateway::start(&gw_ns, &GatewayConfig::new(vec![tunnel]), &[]);
    let key = site.client.keys.public.clone();

    must_ping(&site.ns, "10.70.0.1");
    let before = site.endpoint();
    assert_eq!(gw.endpoint(&name, &key), before);

    site.client.set_listen_port(51977);
    let after = site.endpoint();
    assert_ne!(before, after);
    // The replies only reach the client if the gateway sends them to the new port.
    must_ping(&site.ns, "10.70.0.1");
    let seen = wait_for(Duration::from_secs(5), || {
        let endpoint = gw.endpoint(&name, &key);
        (endpoint == after).then_some(endpoint)
    });
    assert!(
        seen.is_some(),
        "`wg show {name} endpoints` still says {}, expected {after}",
        gw.endpoint(&name, &key)
    );
    // And the gateway can still reach the client on its own.
    must_ping(&gw_ns, site.ip(0));
}
