//! A shard that never returns to its work (a flood keeps it busy; here the test hook
//! `WIREGATE_TEST_STALL_SHARD` holds it from the start) must not freeze the control
//! plane: the API answers reads and takes changes for the stuck tunnel (they queue, and
//! `wiregate stats` says how many), `/metrics` scrapes, another tunnel carries traffic,
//! and the gateway still stops on SIGTERM. Before, changes past the stuck shard's inbox
//! blocked under the device's and the reconciler's locks, and everything behind them hung.

use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::must_ping;
use crate::scrape::Scrape;
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::Keypair;
use serde_json::json;
use std::time::Duration;

#[test]
fn a_stuck_shard_freezes_nothing_but_itself() {
    let gw_ns = Netns::new();
    let (stuck_keys, other_keys) = (Keypair::generate(), Keypair::generate());
    let site = Site::new(&gw_ns, &SiteSpec::hub(1, 11, &other_keys.public));
    let (stuck, other) = (unique("wgst"), unique("wgok"));
    let mut other_tunnel = TunnelSpec::new(&other, GW_PORT, &other_keys, &["10.70.0.1/24"]);
    other_tunnel.peers.push(site.gateway_peer());
    let stuck_tunnel = TunnelSpec::new(&stuck, GW_PORT + 1, &stuck_keys, &["10.72.0.1/16"]);
    let mut config = GatewayConfig::new(vec![stuck_tunnel, other_tunnel]);
    config.shards = Some(2);
    config.env = vec![("WIREGATE_TEST_STALL_SHARD".into(), format!("{stuck}:0"))];
    let mut gw = Gateway::start(&gw_ns, &config, &[]);
    must_ping(&site.ns, "10.70.0.1");

    // 3,000 peers for the stuck tunnel: about half for its stuck shard, more than its
    // inbox once held. The answer comes; the change waits for the shard.
    let peers: Vec<_> = (0..3000)
        .map(|n| json!({"name": format!("p{n}"), "routes": [format!("10.72.{}.{}/32", n / 250 + 1, n % 250 + 1)]}))
        .collect();
    gw.json_within(
        "POST",
        &format!("/v1/tunnels/{stuck}/peers/bulk"),
        Some(&json!({ "peers": peers }).to_string()),
        201,
        Duration::from_secs(60),
    );
    let tunnel = gw.json("GET", &format!("/v1/tunnels/{stuck}"), None, 200);
    assert_eq!(tunnel["status"]["state"], "running", "{tunnel}");
    let page = gw.json(
        "GET",
        &format!("/v1/tunnels/{stuck}/peers?limit=5"),
        None,
        200,
    );
    assert_eq!(page["items"].as_array().map(Vec::len), Some(5), "{page}");
    let stats = gw.stats(&stuck);
    assert!(
        stats.get("0", "commands_pending") > 1000,
        "the stuck shard's queued changes are not shown:\n{}",
        stats.raw
    );
    assert_eq!(stats.get("1", "commands_pending"), 0, "{}", stats.raw);
    let scrape = Scrape::fetch(&gw_ns);
    assert_eq!(
        scrape.value("wiregate_tunnel_up", &[("interface", other.as_str())]),
        1.0
    );
    must_ping(&site.ns, "10.70.0.1");
    // Another change, and the periodic pass, do not wait on the stuck shard either.
    gw.json(
        "POST",
        &format!("/v1/tunnels/{stuck}/peers"),
        Some(r#"{"name": "one-more", "routes": ["10.72.200.1/32"]}"#),
        201,
    );
    gw.stop("TERM");
}
