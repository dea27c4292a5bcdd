//! A client that reaches the gateway over IPv6: the gateway's dual-stack sockets answer
//! it, and report its IPv6 endpoint.

use crate::gateway::{Gateway, GatewayConfig, PeerSpec, TunnelSpec};
use crate::names::unique;
use crate::netns::{self, Netns};
use crate::ping::must_ping;
use crate::topo::{CLIENT_PORT, GW_PORT};
use crate::wg::Keypair;
use crate::wggo::{PeerSetting, WgGoClient};

#[test]
fn a_client_over_an_ipv6_underlay() {
    let gw_ns = Netns::new();
    let ns = Netns::new();
    netns::link(&gw_ns, "fd00:200:1::1/64", &ns, "fd00:200:1::2/64");
    let gw_keys = Keypair::generate();
    let keys = Keypair::generate();
    let public = keys.public.clone();
    let gateway = PeerSetting {
        public_key: gw_keys.public.clone(),
        endpoint: Some(format!("[fd00:200:1::1]:{GW_PORT}")),
        allowed_ips: vec!["10.70.0.0/24".into()],
        preshared_key: None,
    };
    let _client = WgGoClient::start(&ns, keys, CLIENT_PORT, &["10.70.0.2/24".into()], &gateway);
    let name = unique("wg6");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24"]);
    tunnel.peers = vec![PeerSpec::new(&public, &["10.70.0.2/32"])];
    let gw = Gateway::start(&gw_ns, &GatewayConfig::new(vec![tunnel]), &[]);

    must_ping(&ns, "10.70.0.1");
    must_ping(&gw_ns, "10.70.0.2");
    assert_eq!(
        gw.endpoint(&name, &public),
        format!("[fd00:200:1::2]:{CLIENT_PORT}")
    );
}
