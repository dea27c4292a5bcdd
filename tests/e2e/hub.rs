//! A hub: three wireguard-go clients around one tunnel, talking to the gateway and, through
//! it, to each other, over IPv4 and IPv6.

use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::must_ping;
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::Keypair;

#[test]
fn three_clients_reach_the_gateway_and_each_other() {
    let gw_ns = Netns::new();
    gw_ns.enable_forwarding();
    let gw_keys = Keypair::generate();
    let sites: Vec<Site> = (1..=3u8)
        .map(|i| Site::new(&gw_ns, &SiteSpec::hub(i, 10 + i, &gw_keys.public)))
        .collect();
    let name = unique("wgh");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24", "fd70::1/64"]);
    tunnel.peers = sites.iter().map(Site::gateway_peer).collect();
    // The third client has a configured endpoint: the gateway can call it first.
    tunnel.peers[2].endpoint = Some(sites[2].endpoint());
    let gw = Gateway::start(&gw_ns, &GatewayConfig::new(vec![tunnel]), &[]);

    // Gateway-initiated handshake, to the configured endpoint.
    must_ping(&gw_ns, sites[2].ip(0));
    // Client-initiated handshakes; then the gateway knows every endpoint.
    for site in &sites[..2] {
        must_ping(&site.ns, "10.70.0.1");
    }
    must_ping(&sites[0].ns, "fd70::1");
    for site in &sites {
        must_ping(&gw_ns, site.ip(0));
        must_ping(&gw_ns, site.ip(1));
    }
    // Client to client, through the gateway's TUN and the kernel's forwarding.
    must_ping(&sites[0].ns, sites[1].ip(0));
    must_ping(&sites[1].ns, sites[2].ip(0));
    must_ping(&sites[2].ns, sites[0].ip(0));
    must_ping(&sites[0].ns, sites[1].ip(1));
    must_ping(&sites[2].ns, sites[1].ip(1));

    let dump = gw.dump(&name);
    for site in &sites {
        let peer = dump.peer(&site.client.keys.public);
        assert_eq!(peer.endpoint, site.endpoint(), "endpoint of {}", site.ip(0));
        assert!(
            peer.latest_handshake > 0,
            "no handshake with {}: {peer:?}",
            site.ip(0)
        );
    }
}
