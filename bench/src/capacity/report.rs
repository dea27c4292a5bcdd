//! The capacity figures: printed as tables, and drawn as SVG plots (`json.rs` writes
//! them as JSON).

use super::calibrate::{Calibration, WIREGATE_DH_PER_HANDSHAKE};
use super::measure::Delta;
use super::{Args, Phase, decrypt, encrypt, handshake, scale, svg};
use std::path::Path;
use std::time::Duration;

#[derive(Debug)]
pub struct Report<'a> {
    pub(super) args: &'a Args,
    pub(super) shards: usize,
    pub(super) phases: Vec<Phase>,
    pub(super) calibration: Calibration,
    pub(super) loadavg_before: String,
    pub handshake: Option<handshake::Results>,
    /// One per `--bursts` value.
    pub decrypt: Vec<decrypt::Results>,
    pub encrypt: Option<encrypt::Results>,
    pub scale: Option<scale::Results>,
    pub wall: Duration,
}

pub(super) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Prints rows under headers, each column as wide as its widest cell.
fn table(headers: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..headers.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain([headers[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        println!("  {}", padded.join("  "));
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

fn f(v: f64, digits: usize) -> String {
    format!("{v:.digits$}")
}

/// How the data sender went.
fn sender(window: Option<usize>, write_offs: u64) -> String {
    match window {
        Some(w) => format!("sender window {w} packets, {write_offs} written off as lost"),
        None => "sender flooding".into(),
    }
}

fn drops_text(d: &Delta) -> String {
    let drops = d.drops();
    if drops.is_empty() {
        return "none".into();
    }
    drops
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

impl<'a> Report<'a> {
    pub fn new(args: &'a Args, shards: usize, phases: &[Phase], calibration: Calibration) -> Self {
        Self {
            args,
            shards,
            phases: phases.to_vec(),
            calibration,
            loadavg_before: loadavg(),
            handshake: None,
            decrypt: Vec::new(),
            encrypt: None,
            scale: None,
            wall: Duration::ZERO,
        }
    }

    /// Share of the ChaCha20-Poly1305 limit of the cores used, in %.
    pub(super) fn aead_share(bytes_per_second: f64, per_core: f64, cores: f64) -> f64 {
        100.0 * bytes_per_second / (per_core * cores)
    }

    pub fn print(&self) {
        let c = &self.calibration;
        println!();
        println!(
            "capacity: wiregate drop-in, {} shards, {} cores",
            self.shards,
            cores()
        );
        println!("calibration (one core, one thread, this process):");
        table(
            &["operation", "rate", "limit per core"],
            &[
                vec![
                    "X25519 (x25519-dalek)".into(),
                    format!("{} ops/s", f(c.x25519_per_second, 0)),
                    format!(
                        "{} handshakes/s at 4 DH ({} at wiregate's 5)",
                        f(c.handshakes_per_core(), 0),
                        f(c.x25519_per_second / WIREGATE_DH_PER_HANDSHAKE, 0)
                    ),
                ],
                vec![
                    "ChaCha20-Poly1305 seal (ring)".into(),
                    format!("{} GB/s", f(c.seal_bytes_per_second / 1e9, 2)),
                    format!("{} Gbit/s", f(c.seal_bytes_per_second * 8e-9, 2)),
                ],
                vec![
                    "ChaCha20-Poly1305 open (ring)".into(),
                    format!("{} GB/s", f(c.open_bytes_per_second / 1e9, 2)),
                    format!("{} Gbit/s", f(c.open_bytes_per_second * 8e-9, 2)),
                ],
            ],
        );
        if let Some(h) = &self.handshake {
            println!("handshake ({} peers configured):", h.peers);
            let a = &h.acceptance;
            let b = &h.burst;
            table(
                &[
                    "test",
                    "done",
                    "seconds",
                    "per s",
                    "gw cores",
                    "per core",
                    "% of X25519 limit",
                    "cookies",
                    "retries",
                ],
                &[
                    vec![
                        format!("(a) closed loop, window {}", h.window),
                        a.completed.to_string(),
                        f(a.wall.as_secs_f64(), 2),
                        f(h.acceptance_rate(), 0),
                        f(h.acceptance_cores(), 2),
                        f(h.per_core(), 0),
                        f(100.0 * h.per_core() / c.handshakes_per_core(), 1),
                        a.cookies.to_string(),
                        a.retries.to_string(),
                    ],
                    vec![
                        format!("(b) all {} at once", h.peers),
                        b.completed.to_string(),
                        f(b.wall.as_secs_f64(), 2),
                        f(b.completed as f64 / b.wall.as_secs_f64(), 0),
                        f(h.burst_gateway.cores(), 2),
                        "-".into(),
                        "-".into(),
                        b.cookies.to_string(),
                        b.retries.to_string(),
                    ],
                ],
            );
            println!(
                "  (b): gateway sent {} cookie replies; initiations sent {}; gateway drops: {}",
                h.burst_gateway.counter("cookie_replies"),
                b.initiations_sent,
                drops_text(&h.burst_gateway)
            );
        }
        if let Some(d) = self.decrypt.first() {
            println!(
                "decrypt ({} configured, {} sending; {} packets of 1420 B made in {:.1} s; {}):",
                d.configured,
                d.active,
                d.pool,
                d.build_seconds,
                sender(d.window, d.write_offs)
            );
            let rows: Vec<Vec<String>> = self
                .decrypt
                .iter()
                .map(|d| {
                    let cores = d.gateway.cores();
                    vec![
                        d.burst.to_string(),
                        d.run.to_string(),
                        format!("{}{}", d.sent, if d.gso { " (GSO)" } else { "" }),
                        f(d.send_seconds, 2),
                        d.delivered.to_string(),
                        d.tun_writes.to_string(),
                        f(d.gateway.wall, 2),
                        f(d.packets_per_second(), 0),
                        f(d.gbit_per_second(), 2),
                        f(cores, 2),
                        f(
                            Self::aead_share(d.bytes_per_second(), c.open_bytes_per_second, cores),
                            1,
                        ),
                    ]
                })
                .collect();
            table(
                &[
                    "burst",
                    "run",
                    "sent",
                    "send s",
                    "to TUN",
                    "TUN writes",
                    "seconds",
                    "packets/s",
                    "Gbit/s",
                    "gw cores",
                    "% of open limit",
                ],
                &rows,
            );
            for d in decrypt::medians(&self.decrypt) {
                let runs = self.decrypt.iter().filter(|r| r.burst == d.burst).count();
                println!(
                    "  burst {}: median of {runs}: {} % of the open limit (run {})",
                    d.burst,
                    f(
                        Self::aead_share(
                            d.bytes_per_second(),
                            c.open_bytes_per_second,
                            d.gateway.cores()
                        ),
                        1
                    ),
                    d.run
                );
            }
            for d in &self.decrypt {
                println!(
                    "  burst {} run {}: not written to the TUN: {} of {}; the gateway's sockets \
                     overflowed {} times (RcvbufErrors, a GSO batch of up to 44 counts once); \
                     wiregate counted {} decrypted; wiregate drops: {}",
                    d.burst,
                    d.run,
                    d.sent as u64 - d.delivered,
                    d.sent,
                    d.rcvbuf_errors,
                    d.gateway_decrypted,
                    drops_text(&d.gateway)
                );
            }
        }
        if let Some(e) = &self.encrypt {
            println!(
                "encrypt ({} configured, {} receiving; {}):",
                e.configured,
                e.active,
                sender(e.window, e.write_offs)
            );
            let cores = e.gateway.cores();
            table(
                &[
                    "sent",
                    "TUN read",
                    "received",
                    "seconds",
                    "packets/s",
                    "Gbit/s",
                    "gw cores",
                    "% of seal limit",
                ],
                &[vec![
                    e.sent.to_string(),
                    e.tun_read.to_string(),
                    e.received.to_string(),
                    f(e.gateway.wall, 2),
                    f(e.packets_per_second(), 0),
                    f(e.gbit_per_second(), 2),
                    f(cores, 2),
                    f(
                        Self::aead_share(e.bytes_per_second(), c.seal_bytes_per_second, cores),
                        1,
                    ),
                ]],
            );
            println!(
                "  lost: {} refused to the sender, {} TUN tx_dropped, {} at the gateway's \
                 sockets (SndbufErrors), {} at the generator's (RcvbufErrors); wiregate \
                 drops: {}; other datagrams received: {}",
                e.send_refused,
                e.tun_dropped,
                e.gateway.udp("SndbufErrors"),
                e.generator_rcvbuf_errors,
                drops_text(&e.gateway),
                e.received_other
            );
        }
        if let Some(s) = &self.scale {
            println!("scale: memory (VmRSS) per peer:");
            let rows: Vec<Vec<String>> = s
                .memory
                .iter()
                .map(|m| {
                    vec![
                        m.configured.to_string(),
                        f(m.set_seconds, 2),
                        f(m.rss_empty_kib as f64 / 1024.0, 1),
                        f(m.idle_kib_per_peer(), 2),
                        format!("{} in {:.1} s", m.active, m.activate_seconds),
                        f(m.active_kib_per_peer(), 2),
                    ]
                })
                .collect();
            table(
                &[
                    "configured",
                    "UAPI set s",
                    "RSS empty MiB",
                    "idle KiB/peer",
                    "handshaked",
                    "active KiB/peer",
                ],
                &rows,
            );
            println!("scale: gateway CPU per decrypted packet, 10 peers sending:");
            let rows: Vec<Vec<String>> = s
                .cost
                .iter()
                .map(|k| {
                    vec![
                        format!(
                            "{}{}",
                            k.configured,
                            if k.all_active { " active" } else { " idle" }
                        ),
                        k.offered_rate
                            .map_or_else(|| "saturated".to_owned(), |r| f(r, 0)),
                        format!("{}/{}", k.delivered, k.sent),
                        f(k.ns_per_packet(), 0),
                        f(k.idle_cpu / k.idle_wall, 3),
                        f(k.net_ns_per_packet(), 0),
                    ]
                })
                .collect();
            table(
                &[
                    "configured",
                    "offered/s",
                    "to TUN/sent",
                    "ns/packet",
                    "idle cores",
                    "ns/packet less idle",
                ],
                &rows,
            );
            if let (Some(first), Some(last)) = (s.cost.first(), s.cost.get(1)) {
                println!(
                    "  ratio {} idle / {} configured: {:.2} ({:.2} less idle)",
                    last.configured,
                    first.configured,
                    last.ns_per_packet() / first.ns_per_packet(),
                    last.net_ns_per_packet() / first.net_ns_per_packet()
                );
            }
        }
        println!(
            "run: {:.0} s; load average before: {}; after: {}",
            self.wall.as_secs_f64(),
            self.loadavg_before,
            loadavg()
        );
    }

    pub fn write_svgs(&self, dir: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
        };
        if let Some(s) = &self.scale {
            let groups = s
                .memory
                .iter()
                .map(|m| {
                    (
                        format!("{} peers", m.configured),
                        vec![
                            ("idle", m.idle_kib_per_peer()),
                            ("active", m.active_kib_per_peer()),
                        ],
                    )
                })
                .collect();
            write(
                "capacity-memory.svg",
                svg::bars("Gateway memory per configured peer", "KiB per peer", groups),
            )?;
            let groups = s
                .cost
                .iter()
                .map(|k| {
                    (
                        format!(
                            "{} configured{}",
                            k.configured,
                            if k.all_active { ", active" } else { ", idle" }
                        ),
                        vec![
                            ("measured", k.ns_per_packet()),
                            ("less idle", k.net_ns_per_packet()),
                        ],
                    )
                })
                .collect();
            write(
                "capacity-cost.svg",
                svg::bars(
                    "Gateway CPU per decrypted packet, 10 peers sending",
                    "ns per packet",
                    groups,
                ),
            )?;
        }
        let c = &self.calibration;
        let mut groups = Vec::new();
        for d in decrypt::medians(&self.decrypt) {
            let limit = c.open_bytes_per_second * d.gateway.cores() * 8e-9;
            groups.push((
                format!("decrypt, bursts of {} (median run)", d.burst),
                vec![
                    ("gateway", d.gbit_per_second()),
                    ("ChaCha limit of its cores", limit),
                ],
            ));
        }
        if let Some(e) = &self.encrypt {
            let limit = c.seal_bytes_per_second * e.gateway.cores() * 8e-9;
            groups.push((
                "encrypt".to_owned(),
                vec![
                    ("gateway", e.gbit_per_second()),
                    ("ChaCha limit of its cores", limit),
                ],
            ));
        }
        if !groups.is_empty() {
            write(
                "capacity-throughput.svg",
                svg::bars(
                    "Throughput (inner bytes) vs the ChaCha20-Poly1305 limit of the cores used",
                    "Gbit/s",
                    groups,
                ),
            )?;
        }
        Ok(())
    }
}

pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}
