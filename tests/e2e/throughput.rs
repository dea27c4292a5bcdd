//! Bulk TCP through the tunnel, both directions.

use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::iperf::{Iperf3Server, transfer};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::must_ping;
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::Keypair;

const MIB: u64 = 1024 * 1024;

#[test]
fn tcp_100_mib_through_the_tunnel() {
    let _exclusive = crate::cmd::heavy_traffic();
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let site = Site::new(&gw_ns, &SiteSpec::hub(1, 2, &gw_keys.public));
    let name = unique("wgp");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24", "fd70::1/64"]);
    tunnel.peers = vec![site.gateway_peer()];
    let gw = Gateway::start(&gw_ns, &GatewayConfig::new(vec![tunnel]), &[]);
    must_ping(&site.ns, "10.70.0.1");

    // Client to gateway: at least 100 MiB received. iperf3's receiver stops counting when
    // the sender says it is done, with a few MiB still in socket buffers: send 120 MiB.
    let server = Iperf3Server::start(&gw_ns, "10.70.0.1");
    let received = transfer(&site.ns, "10.70.0.1", &["-n", "120M"]);
    drop(server);
    assert!(
        received >= 100 * MIB,
        "the gateway received only {received} bytes of 120 MiB sent"
    );

    // Gateway to client (-R), over IPv6 this time.
    let server = Iperf3Server::start(&gw_ns, "fd70::1");
    let received = transfer(&site.ns, "fd70::1", &["-R", "-n", "30M"]);
    drop(server);
    assert!(
        received >= 20 * MIB,
        "the client received only {received} bytes of 30 MiB sent"
    );

    let dump = gw.dump(&name);
    let peer = dump.peer(&site.client.keys.public);
    assert!(
        peer.rx_bytes >= 100 * MIB,
        "wg show says rx {} bytes",
        peer.rx_bytes
    );
    assert!(
        peer.tx_bytes >= 20 * MIB,
        "wg show says tx {} bytes",
        peer.tx_bytes
    );
}
