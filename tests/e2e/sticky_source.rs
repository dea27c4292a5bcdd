//! Replies leave from the address the client wrote to. Each client reaches the gateway
//! at a second address of the gateway's (on its loopback, routed to it, as a floating
//! address would be) rather than the address of the link: the routing table alone would
//! answer from the link's address, and the client would roam to that one. IPv4 and IPv6.

use crate::gateway::{Gateway, GatewayConfig, PeerSpec, TunnelSpec};
use crate::names::unique;
use crate::netns::{self, Netns};
use crate::ping::must_ping;
use crate::topo::{CLIENT_PORT, GW_PORT};
use crate::wg::Keypair;
use crate::wggo::{PeerSetting, WgGoClient};

/// The gateway peer's endpoint as `client` sees it now.
fn endpoint(client: &WgGoClient, gateway: &str) -> String {
    let out = client.wg(&["show", &client.iface, "endpoints"]);
    out.lines()
        .filter_map(|line| line.split_once('\t'))
        .find(|(key, _)| *key == gateway)
        .map(|(_, endpoint)| endpoint.trim().to_owned())
        .unwrap_or_else(|| panic!("no gateway peer in:\n{out}"))
}

#[test]
fn replies_leave_from_the_address_the_client_wrote_to() {
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let name = unique("wgst");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24"]);
    let mut clients = Vec::new();
    // (link addresses, the second address, the client's tunnel address)
    let families = [
        (
            "10.200.1.1/24",
            "10.200.1.2/24",
            "10.201.0.1",
            "10.200.1.1",
            2,
        ),
        (
            "fd00:200:1::1/64",
            "fd00:200:1::2/64",
            "fd00:201::1",
            "fd00:200:1::1",
            3,
        ),
    ];
    for (gw_addr, client_addr, second, via, host) in families {
        let ns = Netns::new();
        netns::link(&gw_ns, gw_addr, &ns, client_addr);
        let prefix = if second.contains(':') { "128" } else { "32" };
        gw_ns.run(&[
            "ip",
            "addr",
            "add",
            &format!("{second}/{prefix}"),
            "dev",
            "lo",
        ]);
        ns.run(&[
            "ip",
            "route",
            "add",
            &format!("{second}/{prefix}"),
            "via",
            via,
        ]);
        let keys = Keypair::generate();
        tunnel.peers.push(PeerSpec::new(
            &keys.public,
            &[&format!("10.70.0.{host}/32")],
        ));
        let target = if second.contains(':') {
            format!("[{second}]:{GW_PORT}")
        } else {
            format!("{second}:{GW_PORT}")
        };
        let gateway = PeerSetting {
            public_key: gw_keys.public.clone(),
            endpoint: Some(target.clone()),
            allowed_ips: vec!["10.70.0.0/24".into()],
            preshared_key: None,
        };
        let address = format!("10.70.0.{host}/24");
        let client = WgGoClient::start(&ns, keys, CLIENT_PORT, &[address], &gateway);
        clients.push((client, ns, target));
    }
    let _gw = Gateway::start(&gw_ns, &GatewayConfig::new(vec![tunnel]), &[]);
    for (client, ns, target) in &clients {
        must_ping(ns, "10.70.0.1");
        // wireguard-go roams to the source of every authenticated datagram.
        assert_eq!(
            endpoint(client, &gw_keys.public),
            *target,
            "the gateway answered from another address"
        );
    }
}
