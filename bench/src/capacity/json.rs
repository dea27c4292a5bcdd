//! The capacity figures as JSON: the machine, the command line, the options and every
//! figure, for the record (bench/results/) and for comparing runs.

use super::calibrate::WIREGATE_DH_PER_HANDSHAKE;
use super::decrypt;
use super::initiator::Outcome;
use super::measure::Delta;
use super::report::{Report, cores, loadavg};
use serde_json::{Value, json};
use std::path::Path;

impl Report<'_> {
    pub fn json(&self) -> Value {
        let c = &self.calibration;
        let delta = |d: &Delta| {
            json!({
                "wall_seconds": d.wall,
                "cpu_seconds": (d.cpu * 100.0).round() / 100.0,
                "cores": d.cores(),
                "tun": {
                    "rx_bytes": d.tun.rx_bytes, "rx_packets": d.tun.rx_packets,
                    "tx_bytes": d.tun.tx_bytes, "tx_packets": d.tun.tx_packets,
                    "tx_dropped": d.tun.tx_dropped, "rx_dropped": d.tun.rx_dropped,
                },
                "udp_rcvbuf_errors": d.udp("RcvbufErrors"),
                "udp_sndbuf_errors": d.udp("SndbufErrors"),
                "wiregate_drops": d.drops().into_iter().map(|(n, v)| (n, json!(v))).collect::<serde_json::Map<_, _>>(),
                "cookie_replies": d.counter("cookie_replies"),
                "handshakes": d.counter("handshakes"),
            })
        };
        let handshake = self.handshake.as_ref().map(|h| {
            let o = |o: &Outcome| {
                json!({
                    "attempts": o.attempts, "completed": o.completed,
                    "initiations_sent": o.initiations_sent, "retries": o.retries,
                    "cookies": o.cookies, "seconds": o.wall.as_secs_f64(),
                })
            };
            json!({
                "peers": h.peers,
                "acceptance": {
                    "window": h.window,
                    "outcome": o(&h.acceptance),
                    "per_second": h.acceptance_rate(),
                    "gateway_cores": h.acceptance_cores(),
                    "per_gateway_core": h.per_core(),
                    "percent_of_x25519_limit": 100.0 * h.per_core() / c.handshakes_per_core(),
                    "gateway": delta(&h.acceptance_gateway),
                },
                "all_at_once": {
                    "outcome": o(&h.burst),
                    "seconds_until_all": h.burst.wall.as_secs_f64(),
                    "gateway": delta(&h.burst_gateway),
                },
            })
        });
        let decrypt_median: Vec<Value> = decrypt::medians(&self.decrypt).iter().map(|d| json!({
            "burst": d.burst, "run": d.run,
            "runs": self.decrypt.iter().filter(|r| r.burst == d.burst).count(),
            "packets_per_second": d.packets_per_second(), "gbit_per_second": d.gbit_per_second(),
            "percent_of_chacha_open_limit": Self::aead_share(d.bytes_per_second(), c.open_bytes_per_second, d.gateway.cores()),
        })).collect();
        let decrypt: Vec<Value> = self.decrypt.iter().map(|d| json!({
            "burst": d.burst, "run": d.run,
            "configured": d.configured, "active": d.active, "pool": d.pool,
            "build_seconds": d.build_seconds, "sent": d.sent, "send_seconds": d.send_seconds,
            "gso": d.gso, "window": d.window, "window_write_offs": d.write_offs,
            "delivered_to_tun": d.delivered, "tun_writes": d.tun_writes,
            "packets_per_second": d.packets_per_second(), "gbit_per_second": d.gbit_per_second(),
            "percent_of_chacha_open_limit": Self::aead_share(d.bytes_per_second(), c.open_bytes_per_second, d.gateway.cores()),
            "gateway_rcvbuf_errors": d.rcvbuf_errors,
            "gateway_counted_decrypted": d.gateway_decrypted,
            "gateway": delta(&d.gateway),
        })).collect();
        let encrypt = self.encrypt.as_ref().map(|e| json!({
            "configured": e.configured, "active": e.active, "sent": e.sent,
            "send_refused": e.send_refused, "window": e.window, "window_write_offs": e.write_offs, "tun_read": e.tun_read, "tun_tx_dropped": e.tun_dropped,
            "received": e.received, "received_other": e.received_other,
            "generator_rcvbuf_errors": e.generator_rcvbuf_errors,
            "packets_per_second": e.packets_per_second(), "gbit_per_second": e.gbit_per_second(),
            "percent_of_chacha_seal_limit": Self::aead_share(e.bytes_per_second(), c.seal_bytes_per_second, e.gateway.cores()),
            "gateway": delta(&e.gateway),
        }));
        let scale = self.scale.as_ref().map(|s| {
            json!({
                "memory": s.memory.iter().map(|m| json!({
                    "configured": m.configured, "uapi_set_seconds": m.set_seconds,
                    "rss_empty_kib": m.rss_empty_kib, "rss_idle_kib": m.rss_idle_kib,
                    "rss_active_kib": m.rss_active_kib, "active": m.active,
                    "activate_seconds": m.activate_seconds,
                    "idle_kib_per_peer": m.idle_kib_per_peer(),
                    "active_kib_per_peer": m.active_kib_per_peer(),
                })).collect::<Vec<_>>(),
                "per_packet_cost": s.cost.iter().map(|k| json!({
                    "configured": k.configured, "all_configured_active": k.all_active,
                    "sending_peers": 10, "offered_rate": k.offered_rate, "sent": k.sent,
                    "delivered": k.delivered, "ns_per_packet": k.ns_per_packet(),
                    "net_ns_per_packet": k.net_ns_per_packet(),
                    "idle_cpu_seconds": k.idle_cpu, "idle_wall_seconds": k.idle_wall,
                    "gateway": delta(&k.gateway),
                })).collect::<Vec<_>>(),
            })
        });
        let a = self.args;
        json!({
            "benchmark": "capacity",
            "command": std::env::args().collect::<Vec<_>>().join(" "),
            "machine": machine(),
            "options": {
                "wiregate": a.wiregate, "shards": self.shards, "peers": a.peers,
                "active": a.active.unwrap_or(a.peers), "phases": format!("{:?}", self.phases),
                "scale": a.scale, "duration": a.duration, "window": a.window, "pool": a.pool,
                "sockets": a.sockets, "data_window": a.data_window, "bursts": a.bursts,
                "encrypt_window": a.encrypt_window, "flood": a.flood, "cost_packets": a.cost_packets, "cost_rate": a.cost_rate, "cost_seconds": a.cost_seconds,
                "activate_seconds": a.activate_seconds,
            },
            "loadavg_before": self.loadavg_before,
            "loadavg_after": loadavg(),
            "wall_seconds": self.wall.as_secs_f64(),
            "calibration": {
                "x25519_per_second": c.x25519_per_second,
                "handshakes_per_core_at_4_dh": c.handshakes_per_core(),
                "handshakes_per_core_at_5_dh": c.x25519_per_second / WIREGATE_DH_PER_HANDSHAKE,
                "chacha20poly1305_seal_bytes_per_second": c.seal_bytes_per_second,
                "chacha20poly1305_open_bytes_per_second": c.open_bytes_per_second,
                "buffer_bytes": 1420,
            },
            "handshake": handshake,
            "decrypt": decrypt,
            "decrypt_median": decrypt_median,
            "encrypt": encrypt,
            "scale": scale,
        })
    }

    pub fn write_json(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(&self.json()).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The machine, for the record: cores, CPU model, kernel, wiregate's git revision.
fn machine() -> Value {
    let cpu = crate::host::cpu_model().unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rev = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    json!({
        "nproc": cores(),
        "cpu": cpu,
        "kernel": kernel.trim(),
        "wiregate_git_rev": rev,
    })
}
