//! A client whose key the gateway does not know gets nothing, and is counted.

use crate::cmd::wait_for;
use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::{must_ping, ping_once};
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::Keypair;
use std::time::Duration;

#[test]
fn unknown_key_gets_no_tunnel_and_is_counted() {
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let known = Site::new(&gw_ns, &SiteSpec::hub(1, 2, &gw_keys.public));
    let stranger = Site::new(&gw_ns, &SiteSpec::hub(2, 99, &gw_keys.public));
    let name = unique("wgu");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24"]);
    tunnel.peers = vec![known.gateway_peer()];
    let gw = Gateway::start(&gw_ns, &GatewayConfig::new(vec![tunnel]), &[]);

    // About 3 s of pings from the stranger: its handshake initiations go unanswered.
    let result = ping_once(&stranger.ns, "10.70.0.1", 10, "0.3");
    assert!(
        result.transmitted > 0,
        "the stranger's ping did not run:\n{}",
        result.output
    );
    assert_eq!(
        result.received, 0,
        "the unknown client got replies:\n{}",
        result.output
    );
    assert_eq!(
        stranger.client.latest_handshake(&gw_keys.public),
        0,
        "the unknown client completed a handshake"
    );

    // Meanwhile the configured client works.
    must_ping(&known.ns, "10.70.0.1");
    must_ping(&gw_ns, known.ip(0));
    assert_eq!(gw.peers(&name), [known.client.keys.public.as_str()]);

    let counted = wait_for(Duration::from_secs(5), || {
        let stats = gw.stats(&name);
        (stats.total("drop_unknown_peer") > 0).then_some(stats)
    });
    let stats = counted.unwrap_or_else(|| {
        panic!(
            "drop_unknown_peer stayed 0 in the total line of `wiregate stats {name}`:\n{}",
            gw.stats(&name).raw
        )
    });
    assert!(
        stats.total("handshakes") >= 1,
        "no handshake counted:\n{}",
        stats.raw
    );
    assert!(
        stats.total("rx_data_packets") >= 3,
        "no data counted:\n{}",
        stats.raw
    );
}
