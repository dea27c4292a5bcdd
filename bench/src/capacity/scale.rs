//! The scale phase: what a peer costs.
//!
//! Memory: for each --scale count, a fresh gateway's resident memory with no peers, then
//! with the peers configured and idle, then after a handshake with each (active). The
//! differences per peer are the figures. The UAPI `set` of the peers is timed too.
//!
//! Per-packet cost: the gateway's CPU time per decrypted packet when 10 peers send
//! `--cost-packets` as fast as the gateway takes them (or at `--cost-rate`), with 10 peers
//! configured and with the largest count configured (idle, then all active). Finding a peer must not get dearer with more peers,
//! so the ratio should be near 1. The gateway's CPU while idle over the same time is
//! measured just before and reported beside it: with all peers active, their timers tick.

use super::datapool;
use super::decrypt;
use super::dropin::Dropin;
use super::initiator;
use super::measure::{self, Delta, Snapshot};
use super::pace::Pace;
use super::{Context, progress};
use std::time::{Duration, Instant};

/// Peers that send in the per-packet cost measurement.
const COST_PEERS: usize = 10;
/// Memory is read after this pause, once the gateway's work on the change is over.
const SETTLE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct Memory {
    pub configured: usize,
    pub rss_empty_kib: u64,
    pub set_seconds: f64,
    pub rss_idle_kib: u64,
    /// Peers that completed a handshake in the time allowed, and how long they took.
    pub active: usize,
    pub activate_seconds: f64,
    pub rss_active_kib: u64,
}

impl Memory {
    pub fn idle_kib_per_peer(&self) -> f64 {
        (self.rss_idle_kib as f64 - self.rss_empty_kib as f64) / self.configured as f64
    }

    /// Per configured peer, with `active` of them active.
    pub fn active_kib_per_peer(&self) -> f64 {
        (self.rss_active_kib as f64 - self.rss_empty_kib as f64) / self.configured as f64
    }
}

#[derive(Debug, Clone)]
pub struct Cost {
    pub configured: usize,
    /// Whether all configured peers had a session (timers running for each).
    pub all_active: bool,
    /// `None`: as fast as the gateway takes them.
    pub offered_rate: Option<f64>,
    pub sent: usize,
    pub delivered: u64,
    pub gateway: Delta,
    /// The gateway's CPU seconds over as long, with no traffic, just before.
    pub idle_cpu: f64,
    pub idle_wall: f64,
}

impl Cost {
    pub fn ns_per_packet(&self) -> f64 {
        self.gateway.cpu * 1e9 / self.delivered as f64
    }

    /// Less what the gateway spends idle over the same time.
    pub fn net_ns_per_packet(&self) -> f64 {
        let idle = self.idle_cpu / self.idle_wall * self.gateway.wall;
        (self.gateway.cpu - idle) * 1e9 / self.delivered as f64
    }
}

#[derive(Debug, Clone, Default)]
pub struct Results {
    pub memory: Vec<Memory>,
    pub cost: Vec<Cost>,
}

pub fn run(ctx: &mut Context) -> Result<Results, String> {
    let mut results = Results::default();
    let mut counts = ctx.args.scale.clone();
    counts.sort_unstable();
    counts.dedup();
    counts.retain(|&n| n > 0);
    let largest = counts.last().copied().unwrap_or(0);

    progress(&format!(
        "scale: per-packet cost with {COST_PEERS} peers configured"
    ));
    let (gateway, _) = ctx.start_gateway(COST_PEERS)?;
    results.cost.push(cost(ctx, &gateway, COST_PEERS, true)?);
    gateway.stop()?;

    for &n in &counts {
        progress(&format!("scale: {n} peers"));
        let (gateway, _) = ctx.start_gateway(0)?;
        std::thread::sleep(SETTLE);
        let rss_empty_kib = gateway.rss_kib()?;
        let start = Instant::now();
        gateway.set(&ctx.fleet.uapi_peers(n))?;
        let set_seconds = start.elapsed().as_secs_f64();
        std::thread::sleep(SETTLE);
        let rss_idle_kib = gateway.rss_kib()?;
        if n == largest && n >= COST_PEERS {
            progress(&format!(
                "scale: per-packet cost with {n} peers configured, idle"
            ));
            results.cost.push(cost(ctx, &gateway, n, false)?);
        }
        progress(&format!("scale: a handshake for each of {n} peers"));
        let peers: Vec<usize> = (0..n).collect();
        let deadline = Duration::from_secs_f64(ctx.args.activate_seconds);
        let (sessions, outcome) = initiator::establish(&mut ctx.udp, &ctx.fleet, &peers, deadline)?;
        drop(sessions);
        std::thread::sleep(SETTLE);
        let rss_active_kib = gateway.rss_kib()?;
        if outcome.completed == 0 {
            return Err(gateway.fail(&format!("scale: no handshake completed of {n}")));
        }
        if n == largest && n >= COST_PEERS {
            progress(&format!(
                "scale: per-packet cost with {n} peers configured, active"
            ));
            results
                .cost
                .push(cost(ctx, &gateway, n, outcome.completed == n)?);
        }
        results.memory.push(Memory {
            configured: n,
            rss_empty_kib,
            set_seconds,
            rss_idle_kib,
            active: outcome.completed,
            activate_seconds: outcome.wall.as_secs_f64(),
            rss_active_kib,
        });
        gateway.stop()?;
    }
    Ok(results)
}

/// CPU per packet while the first 10 peers (fresh sessions) send at the offered rate.
fn cost(
    ctx: &mut Context,
    gateway: &Dropin,
    configured: usize,
    all_active: bool,
) -> Result<Cost, String> {
    let peers: Vec<usize> = (0..COST_PEERS).collect();
    let (mut sessions, _) =
        initiator::establish(&mut ctx.udp, &ctx.fleet, &peers, Duration::from_secs(30))?;
    if sessions.len() != COST_PEERS {
        return Err(gateway.fail("scale: the sending peers got no sessions"));
    }
    let seconds = ctx.args.cost_seconds;
    let per_peer = (ctx.args.cost_packets / COST_PEERS).max(1);
    let data = datapool::build(&ctx.udp, &mut sessions, per_peer, 1)?;

    let before = Snapshot::take(gateway)?;
    std::thread::sleep(Duration::from_secs_f64(seconds));
    let idle = Delta::between(&before, &Snapshot::take(gateway)?);

    let before = Snapshot::take(gateway)?;
    let (pace, deadline) = match ctx.args.cost_rate {
        Some(rate) => (
            Pace::Rate(rate),
            Duration::from_secs_f64(3.0 * per_peer as f64 * COST_PEERS as f64 / rate),
        ),
        None => (decrypt::window(ctx, gateway)?, Duration::from_secs(60)),
    };
    let sent = datapool::send(&mut ctx.udp, &data, pace, deadline)?;
    let after = measure::settle(gateway)?;
    let delta = Delta::between(&before, &after);
    let delivered = measure::delivered_to_tun(gateway, &delta, sent.packets, "scale")?;
    if let Some(rate) = ctx.args.cost_rate
        && (delivered as f64) < 0.95 * sent.packets as f64
    {
        progress(&format!(
            "scale: warning: only {delivered} of {} packets got through at {rate} packets/s: \
             the offered rate is not below saturation here",
            sent.packets
        ));
    }
    Ok(Cost {
        configured,
        all_active,
        offered_rate: ctx.args.cost_rate,
        sent: sent.packets,
        delivered,
        gateway: delta,
        idle_cpu: idle.cpu,
        idle_wall: idle.wall,
    })
}
