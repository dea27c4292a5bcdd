//! Tunnel and peer figures, read from the backends when scraped: the WireGuard exporter's
//! per-peer series (`wireguard_*`, so existing dashboards work), per-tunnel peer counts
//! and bytes, and the data plane's own counters where the backend keeps them.

use super::PeerSeries;
use super::exposition::Family;
use crate::reconcile::{Observed, Reconciler};
use crate::store::Store;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wiregate_core::{BATCH_BUCKETS, DataPlaneStats, PeerState, PublicKey};

/// A peer with a handshake this recent has a live session (REJECT_AFTER_TIME).
const CONNECTED_WITHIN: Duration = Duration::from_secs(180);

/// The families of one scrape.
struct Families {
    sent: Family,
    received: Family,
    handshake: Family,
    up: Family,
    configured: Family,
    enabled: Family,
    connected: Family,
    omitted: Family,
    tunnel_sent: Family,
    tunnel_received: Family,
    handshakes: Family,
    initiations: Family,
    initiations_sent: Family,
    failed: Family,
    udp_batch: Family,
    tun_batch: Family,
    cookies: Family,
    under_load: Family,
    dropped: Family,
    shard_packets: Family,
    shard_bytes: Family,
    shard_peers: Family,
}

impl Families {
    fn new() -> Self {
        Self {
            sent: Family::counter("wireguard_sent_bytes_total", "Bytes sent to the peer."),
            received: Family::counter(
                "wireguard_received_bytes_total",
                "Bytes received from the peer.",
            ),
            handshake: Family::gauge(
                "wireguard_latest_handshake_seconds",
                "Unix time of the peer's last completed handshake; 0 for never.",
            ),
            up: Family::gauge(
                "wiregate_tunnel_up",
                "1 while the tunnel runs, 0 while it has failed.",
            ),
            configured: Family::gauge("wiregate_peers_configured", "Peers in the store."),
            enabled: Family::gauge(
                "wiregate_peers_enabled",
                "Peers the data plane carries (enabled, not expired).",
            ),
            connected: Family::gauge(
                "wiregate_peers_connected",
                "Peers with a handshake in the last 180 s.",
            ),
            omitted: Family::gauge(
                "wiregate_peer_series_omitted",
                "Peers left without per-peer series by [metrics] peer_series.",
            ),
            tunnel_sent: Family::counter(
                "wiregate_tunnel_sent_bytes_total",
                "Bytes sent to the tunnel's peers (all of them, whatever peer_series says).",
            ),
            tunnel_received: Family::counter(
                "wiregate_tunnel_received_bytes_total",
                "Bytes received from the tunnel's peers (all of them).",
            ),
            handshakes: Family::counter(
                "wiregate_handshakes_completed_total",
                "Handshakes completed, either side initiating.",
            ),
            initiations: Family::counter(
                "wiregate_handshake_initiations_received_total",
                "Initiations from peers that passed their MAC check.",
            ),
            initiations_sent: Family::counter(
                "wiregate_handshake_initiations_sent_total",
                "Initiations the gateway sent (a session to start or renew).",
            ),
            failed: Family::counter(
                "wiregate_handshakes_failed_total",
                "Initiations received that could not be opened (unknown key, decryption, replay).",
            ),
            udp_batch: Family::histogram(
                "wiregate_udp_batch_size",
                "Datagrams per UDP receive (rx) or send (tx) call.",
            ),
            tun_batch: Family::histogram(
                "wiregate_tun_batch_size",
                "Packets per TUN read (rx, after splitting) or written per flush (tx).",
            ),
            cookies: Family::counter(
                "wiregate_cookie_replies_sent_total",
                "Cookie replies sent while under load.",
            ),
            under_load: Family::gauge(
                "wiregate_under_load",
                "1 while the tunnel answers initiations with cookies.",
            ),
            dropped: Family::counter(
                "wiregate_packets_dropped_total",
                "Packets dropped, by reason.",
            ),
            shard_packets: Family::counter(
                "wiregate_shard_packets_total",
                "Data packets decrypted (rx) or encrypted (tx) by each shard.",
            ),
            shard_bytes: Family::counter(
                "wiregate_shard_bytes_total",
                "Plaintext bytes written to the TUN (rx) or encrypted bytes sent (tx) by each shard.",
            ),
            shard_peers: Family::gauge("wiregate_shard_peers", "Peers each shard owns."),
        }
    }

    fn write(&self, out: &mut String) {
        for family in [
            &self.sent,
            &self.received,
            &self.handshake,
            &self.up,
            &self.configured,
            &self.enabled,
            &self.connected,
            &self.omitted,
            &self.tunnel_sent,
            &self.tunnel_received,
            &self.handshakes,
            &self.initiations,
            &self.initiations_sent,
            &self.failed,
            &self.udp_batch,
            &self.tun_batch,
            &self.cookies,
            &self.under_load,
            &self.dropped,
            &self.shard_packets,
            &self.shard_bytes,
            &self.shard_peers,
        ] {
            family.write(out);
        }
    }
}

/// Unix seconds, 0 for none.
fn unix_seconds(at: Option<SystemTime>) -> u64 {
    at.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// The peers of one tunnel that get series: all, none, or the busiest.
fn chosen(peers: &[PeerState], series: PeerSeries) -> Vec<&PeerState> {
    let mut chosen: Vec<&PeerState> = peers.iter().collect();
    let limit = series.limit(chosen.len());
    if limit == 0 {
        return Vec::new();
    }
    if limit < chosen.len() {
        // The busiest `limit` first, in no particular order: a partial sort.
        chosen
            .select_nth_unstable_by_key(limit - 1, |p| std::cmp::Reverse(p.rx_bytes + p.tx_bytes));
        chosen.truncate(limit);
    }
    chosen
}

fn data_plane(f: &mut Families, name: &str, stats: &DataPlaneStats) {
    let tunnel = [("interface", name)];
    f.handshakes.sample(&tunnel, stats.handshakes_completed);
    f.initiations
        .sample(&tunnel, stats.handshake_initiations_received);
    f.initiations_sent
        .sample(&tunnel, stats.handshake_initiations_sent);
    f.failed.sample(&tunnel, stats.handshakes_failed);
    f.cookies.sample(&tunnel, stats.cookie_replies_sent);
    for batch in &stats.batches {
        let family = if batch.io == "udp" {
            &mut f.udp_batch
        } else {
            &mut f.tun_batch
        };
        family.histogram_samples(
            &[("interface", name), ("direction", batch.direction)],
            &BATCH_BUCKETS,
            &batch.counts,
            batch.sum,
        );
    }
    f.under_load.sample(&tunnel, u8::from(stats.under_load));
    for (reason, count) in &stats.drops {
        f.dropped
            .sample(&[("interface", name), ("reason", reason)], count);
    }
    for (i, shard) in stats.shards.iter().enumerate() {
        let id = i.to_string();
        f.shard_peers
            .sample(&[("interface", name), ("shard", &id)], shard.peers);
        for (direction, packets, bytes) in [
            ("rx", shard.rx_packets, shard.rx_bytes),
            ("tx", shard.tx_packets, shard.tx_bytes),
        ] {
            let labels = [
                ("interface", name),
                ("shard", &id),
                ("direction", direction),
            ];
            f.shard_packets.sample(&labels, packets);
            f.shard_bytes.sample(&labels, bytes);
        }
    }
}

fn tunnel(f: &mut Families, store: &dyn Store, observed: &Observed, series: PeerSeries) {
    let name = observed.name.as_str();
    let tunnel = [("interface", name)];
    let stored = store.peers(name).unwrap_or_default();
    let now = crate::model::now();
    f.configured.sample(&tunnel, stored.len());
    f.enabled
        .sample(&tunnel, stored.iter().filter(|p| p.active(now)).count());
    let running = observed.state.as_ref().ok();
    f.up.sample(
        &[("interface", name), ("backend", &observed.backend)],
        u8::from(running.is_some()),
    );
    let Some((state, stats)) = running else {
        return;
    };
    let recent = SystemTime::now() - CONNECTED_WITHIN;
    let connected = state
        .peers
        .iter()
        .filter(|p| p.last_handshake.is_some_and(|t| t >= recent))
        .count();
    f.connected.sample(&tunnel, connected);
    f.tunnel_sent
        .sample(&tunnel, state.peers.iter().map(|p| p.tx_bytes).sum::<u64>());
    f.tunnel_received
        .sample(&tunnel, state.peers.iter().map(|p| p.rx_bytes).sum::<u64>());
    if let Some(stats) = stats {
        data_plane(f, name, stats);
    }
    let peers = chosen(&state.peers, series);
    f.omitted.sample(&tunnel, state.peers.len() - peers.len());
    if peers.is_empty() {
        return;
    }
    let known: HashMap<PublicKey, (&str, i64)> = stored
        .iter()
        .map(|p| (p.public_key, (p.name.as_str(), p.id)))
        .collect();
    let mut allowed = String::new();
    for peer in peers {
        let key = peer.public_key.to_base64();
        allowed.clear();
        for (i, net) in peer.allowed_ips.iter().enumerate() {
            if i > 0 {
                allowed.push(',');
            }
            let _ = std::fmt::Write::write_fmt(&mut allowed, format_args!("{net}"));
        }
        let (friendly, id) = known
            .get(&peer.public_key)
            .map_or(("", String::new()), |(n, id)| (*n, id.to_string()));
        let labels = [
            ("interface", name),
            ("public_key", key.as_str()),
            ("allowed_ips", allowed.as_str()),
            ("friendly_name", friendly),
            ("peer_id", id.as_str()),
        ];
        f.sent.sample(&labels, peer.tx_bytes);
        f.received.sample(&labels, peer.rx_bytes);
        f.handshake
            .sample(&labels, unix_seconds(peer.last_handshake));
    }
}

/// Every tunnel's families, as of now, appended to `out` in the text format.
pub(super) fn write(
    reconciler: &Reconciler,
    store: &dyn Store,
    series: PeerSeries,
    out: &mut String,
) {
    let mut families = Families::new();
    for observed in reconciler.observe() {
        tunnel(&mut families, store, &observed, series);
    }
    families.write(out);
}
