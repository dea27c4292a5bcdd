//! The decrypt phase: --active peers with fresh sessions send a pool of encrypted
//! full-size packets as fast as the generator can. What counts is what the gateway wrote
//! into its TUN (the TUN's RX counters, the kernel's view), over the time from the first
//! send until the gateway wrote its last packet; and its CPU over that time. Decrypt
//! capacity is given as a share of what ChaCha20-Poly1305 alone allows on the cores the
//! gateway used.

use super::datapool::{self, DATA_LEN, INNER_LEN, PAYLOAD_LEN};
use super::dropin::Dropin;
use super::initiator;
use super::measure::{self, Delta, Snapshot};
use super::pace::Pace;
use super::{Context, procfs, progress};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Results {
    /// Packets a peer sent back to back.
    pub burst: usize,
    /// Which of the measurements of this burst size (from 1).
    pub run: usize,
    pub configured: usize,
    pub active: usize,
    /// Encrypted packets made ahead, and how long that took.
    pub pool: usize,
    pub build_seconds: f64,
    pub sent: usize,
    pub send_seconds: f64,
    /// Whether the generator's sends were GSO.
    pub gso: bool,
    /// The generator's window (packets in flight), or None when it flooded.
    pub window: Option<usize>,
    pub write_offs: u64,
    /// Inner packets the gateway wrote to its TUN.
    pub delivered: u64,
    /// Writes to the TUN (a GSO super-packet is one).
    pub tun_writes: u64,
    pub gateway: Delta,
    /// Times the kernel dropped at the gateway's full sockets: per socket buffer, so a
    /// GSO batch of up to 44 datagrams counts once.
    pub rcvbuf_errors: u64,
    /// What wiregate counted itself: data packets decrypted (a cross-check of `delivered`).
    pub gateway_decrypted: u64,
}

impl Results {
    pub fn packets_per_second(&self) -> f64 {
        self.delivered as f64 / self.gateway.wall
    }

    /// Inner (plaintext) bits per second written to the TUN.
    pub fn gbit_per_second(&self) -> f64 {
        self.packets_per_second() * INNER_LEN as f64 * 8.0 / 1e9
    }

    pub fn bytes_per_second(&self) -> f64 {
        self.packets_per_second() * INNER_LEN as f64
    }

    /// Plaintext bytes per second per gateway core: what the share of the ChaCha limit
    /// is made of.
    pub fn bytes_per_core_second(&self) -> f64 {
        self.bytes_per_second() / self.gateway.cores()
    }
}

/// Per burst size, in the order measured, the run with the median bytes per core-second.
pub fn medians(all: &[Results]) -> Vec<&Results> {
    let mut bursts: Vec<usize> = all.iter().map(|r| r.burst).collect();
    bursts.dedup();
    bursts
        .into_iter()
        .map(|burst| {
            let mut runs: Vec<&Results> = all.iter().filter(|r| r.burst == burst).collect();
            runs.sort_by(|a, b| {
                a.bytes_per_core_second()
                    .total_cmp(&b.bytes_per_core_second())
            });
            runs[runs.len() / 2]
        })
        .collect()
}

/// `--data-window` packets in flight: sent, and not yet written by the gateway to its TUN
/// since now.
pub fn window(ctx: &Context, gateway: &Dropin) -> Result<Pace<'static>, String> {
    let (pid, iface, base) = (gateway.pid(), gateway.iface.clone(), gateway.tun()?);
    Ok(Pace::Window {
        packets: ctx.args.data_window,
        done: Box::new(move || {
            procfs::link(pid, &iface).map_or(0, |l| {
                let l = l.since(base);
                let header = (INNER_LEN - PAYLOAD_LEN) as u64;
                l.rx_bytes.saturating_sub(header * l.rx_packets) / PAYLOAD_LEN as u64
            })
        }),
    })
}

/// `--decrypt-runs` measurements per `--bursts` value, each with a gateway of its own.
pub fn run(ctx: &mut Context) -> Result<Vec<Results>, String> {
    let bursts = ctx.args.bursts.clone();
    let runs = ctx.args.decrypt_runs.max(1);
    let mut all = Vec::new();
    for burst in bursts {
        for run in 1..=runs {
            all.push(run_one(ctx, burst.max(1), run)?);
        }
    }
    Ok(all)
}

fn run_one(ctx: &mut Context, burst: usize, run: usize) -> Result<Results, String> {
    let (configured, active) = (ctx.args.peers, ctx.active());
    let (gateway, _) = ctx.start_gateway(configured)?;
    progress(&format!(
        "decrypt: bursts of {burst}, run {run}: sessions for {active} peers"
    ));
    let peers: Vec<usize> = (0..active).collect();
    let (mut sessions, outcome) =
        initiator::establish(&mut ctx.udp, &ctx.fleet, &peers, Duration::from_secs(60))?;
    if sessions.len() != active {
        return Err(gateway.fail(&format!(
            "decrypt: {} of {active} peers got a session ({} retries)",
            sessions.len(),
            outcome.retries
        )));
    }
    let per_peer = (ctx.args.pool / active).max(1);
    progress(&format!(
        "decrypt: encrypting {} packets ({:.1} GiB)",
        per_peer * active,
        (per_peer * active * DATA_LEN) as f64 / (1u64 << 30) as f64
    ));
    let build = Instant::now();
    let data = datapool::build(&ctx.udp, &mut sessions, per_peer, burst)?;
    let build_seconds = build.elapsed().as_secs_f64();
    progress(&format!(
        "decrypt: sending for at most {} s",
        ctx.args.duration
    ));
    let deadline = Duration::from_secs_f64(ctx.args.duration);
    let before = Snapshot::take(&gateway)?;
    let pace = if ctx.args.flood {
        Pace::Flood
    } else {
        window(ctx, &gateway)?
    };
    let sent = datapool::send(&mut ctx.udp, &data, pace, deadline)?;
    let after = measure::settle(&gateway)?;
    let delta = Delta::between(&before, &after);
    let delivered = measure::delivered_to_tun(&gateway, &delta, sent.packets, "decrypt")?;
    let results = Results {
        burst,
        run,
        configured,
        active,
        pool: data.packets,
        build_seconds,
        sent: sent.packets,
        send_seconds: sent.wall.as_secs_f64(),
        gso: ctx.udp.gso(),
        window: (!ctx.args.flood).then_some(ctx.args.data_window),
        write_offs: sent.write_offs,
        delivered,
        tun_writes: delta.tun.rx_packets,
        rcvbuf_errors: delta.udp("RcvbufErrors"),
        gateway_decrypted: delta.counter("rx_data_packets"),
        gateway: delta,
    };
    gateway.stop()?;
    Ok(results)
}
