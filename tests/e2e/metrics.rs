//! `/metrics` against real traffic: a live scrape passes `promtool check metrics`, carries
//! every family docs/metrics.md documents, and its byte counters equal what the client's
//! own `wg show` says it sent and received (the same datagrams, counted at both ends);
//! `peer_series = "top:N"` keeps 1,000 peers down to N series each.

use crate::gateway::{Gateway, GatewayConfig, TunnelSpec};
use crate::names::unique;
use crate::netns::Netns;
use crate::ping::{must_ping, ping_sized};
use crate::scrape::Scrape;
use crate::topo::{GW_PORT, Site, SiteSpec};
use crate::wg::{Dump, Keypair};
use serde_json::json;
use std::time::{Duration, Instant};

/// A WireGuard data datagram for an inner packet of `len` bytes: 16 bytes of header,
/// the packet padded to 16, a 16-byte tag.
fn datagram(len: u64) -> u64 {
    32 + len.div_ceil(16) * 16
}

/// The metric names docs/metrics.md documents (its tables' first column).
fn documented() -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/metrics.md");
    let text = std::fs::read_to_string(path).expect("docs/metrics.md");
    text.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`').map(|(name, _)| name.to_owned()))
        .filter(|name| name.starts_with("wire"))
        .collect()
}

fn client_counters(site: &Site) -> (u64, u64) {
    let dump = Dump::parse(&site.client.wg(&["show", &site.client.iface, "dump"]));
    let gateway = &dump.peers[0];
    (gateway.rx_bytes, gateway.tx_bytes)
}

#[test]
fn a_live_scrape_passes_promtool_and_counts_what_the_client_sent() {
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let site = Site::new(&gw_ns, &SiteSpec::hub(1, 11, &gw_keys.public));
    let name = unique("wgm");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/24"]);
    tunnel.peers.push(site.gateway_peer());
    let gw = Gateway::start(&gw_ns, &GatewayConfig::new(vec![tunnel]), &[]);
    must_ping(&site.ns, "10.70.0.1");
    gw.json("GET", &format!("/v1/tunnels/{name}"), None, 200);

    let peer = [
        ("interface", name.as_str()),
        ("public_key", site.client.keys.public.as_str()),
    ];
    let before = Scrape::fetch(&gw_ns);
    let (client_rx, client_tx) = client_counters(&site);
    // 20 echo requests of 1,028-byte IP packets, and their replies.
    let pings = ping_sized(&site.ns, "10.70.0.1", 20, "0.05", 1000);
    assert_eq!(pings.received, 20, "{}", pings.output);
    let after = Scrape::fetch(&gw_ns);
    let (client_rx_after, client_tx_after) = client_counters(&site);

    let check = after.promtool_check();
    assert!(
        check.success(),
        "promtool check metrics:\n{}",
        check.report()
    );
    for family in documented() {
        assert!(
            after.text.contains(&format!("# TYPE {family} ")),
            "{family} (docs/metrics.md) is not in the scrape:\n{}",
            after.text
        );
    }

    let delta = |metric: &str| after.value(metric, &peer) - before.value(metric, &peer);
    let received = delta("wireguard_received_bytes_total") as u64;
    let sent = delta("wireguard_sent_bytes_total") as u64;
    // The same datagrams, counted by the client as it sent and received them...
    assert_eq!(
        received,
        client_tx_after - client_tx,
        "received by the gateway"
    );
    assert_eq!(sent, client_rx_after - client_rx, "sent by the gateway");
    // ...and what 20 packets each way come to, padded to 16 at both ends; a keepalive
    // (32 bytes) may slip in.
    let padded = 20 * datagram(1028);
    for (what, bytes) in [("received", received), ("sent", sent)] {
        assert!(
            (padded..=padded + 64).contains(&bytes),
            "{what} {bytes} bytes, expected {padded} (+ keepalives)"
        );
    }
    let tunnel = [("interface", name.as_str())];
    let shard_rx = after.sum(
        "wiregate_shard_packets_total",
        &[tunnel[0], ("direction", "rx")],
    ) - before.sum(
        "wiregate_shard_packets_total",
        &[tunnel[0], ("direction", "rx")],
    );
    assert!(
        shard_rx >= 20.0,
        "{shard_rx} packets decrypted by the shards"
    );
    // Every datagram and packet went through some batch.
    let calls = |io: &str, direction: &str| {
        let labels = [tunnel[0], ("direction", direction)];
        let name = format!("wiregate_{io}_batch_size");
        (
            after.value(&format!("{name}_count"), &labels),
            after.value(&format!("{name}_sum"), &labels),
        )
    };
    let (udp_calls, udp_datagrams) = calls("udp", "rx");
    assert!(
        udp_calls >= 1.0 && udp_datagrams >= 20.0,
        "{udp_calls} {udp_datagrams}"
    );
    let (tun_calls, tun_packets) = calls("tun", "tx");
    assert!(
        tun_calls >= 1.0 && tun_packets >= 20.0,
        "{tun_calls} {tun_packets}"
    );
    assert_eq!(after.value("wiregate_tunnel_up", &tunnel), 1.0);
    assert_eq!(after.value("wiregate_peers_connected", &tunnel), 1.0);
    assert!(after.value("wiregate_handshakes_completed_total", &tunnel) >= 1.0);
    assert!(after.value("wireguard_latest_handshake_seconds", &peer) > 0.0);
    assert_eq!(
        after.value(
            "wiregate_api_requests_total",
            &[("route", "/v1/tunnels/{tunnel}"), ("status", "200")]
        ),
        1.0
    );
}

#[test]
fn top_n_keeps_a_thousand_peers_to_n_series() {
    let gw_ns = Netns::new();
    let gw_keys = Keypair::generate();
    let site = Site::new(&gw_ns, &SiteSpec::hub(1, 11, &gw_keys.public));
    let name = unique("wgm");
    let mut tunnel = TunnelSpec::new(&name, GW_PORT, &gw_keys, &["10.70.0.1/16"]);
    tunnel.peers.push(site.gateway_peer());
    let mut config = GatewayConfig::new(vec![tunnel]);
    config.peer_series = Some("top:10".into());
    let gw = Gateway::start(&gw_ns, &config, &[]);
    let peers: Vec<_> = (0..1000)
        .map(|n| json!({"name": format!("bulk{n}"), "routes": [format!("10.70.{}.{}/32", n / 250 + 1, n % 250 + 1)]}))
        .collect();
    gw.json_within(
        "POST",
        &format!("/v1/tunnels/{name}/peers/bulk"),
        Some(&json!({ "peers": peers }).to_string()),
        201,
        Duration::from_secs(120),
    );
    must_ping(&site.ns, "10.70.0.1");

    let started = Instant::now();
    let scrape = Scrape::fetch(&gw_ns);
    let took = started.elapsed();
    let tunnel = [("interface", name.as_str())];
    for family in [
        "wireguard_sent_bytes_total",
        "wireguard_received_bytes_total",
        "wireguard_latest_handshake_seconds",
    ] {
        assert_eq!(scrape.find(family, &tunnel).len(), 10, "{family}");
    }
    // The one peer with traffic is among them.
    let client = [tunnel[0], ("public_key", site.client.keys.public.as_str())];
    assert!(scrape.value("wireguard_received_bytes_total", &client) > 0.0);
    assert_eq!(scrape.value("wiregate_peer_series_omitted", &tunnel), 991.0);
    assert_eq!(scrape.value("wiregate_peers_configured", &tunnel), 1001.0);
    let check = scrape.promtool_check();
    assert!(
        check.success(),
        "promtool check metrics:\n{}",
        check.report()
    );
    eprintln!("scrape of 1,001 peers (top:10) took {took:?}");
}
