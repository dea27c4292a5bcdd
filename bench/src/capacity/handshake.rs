//! The handshake phase, with --peers configured.
//!
//! (a) Acceptance rate: a closed loop keeps a window of initiations outstanding (below the
//! gateway's under-load threshold, so no cookies) and counts responses per second, against
//! the gateway's CPU time: handshakes per gateway core, and that as a share of what X25519
//! alone allows. Peers go round after round, each round with later timestamps.
//!
//! (b) Every peer at once, as after a gateway restart: all initiations sent as fast as
//! possible, cookie replies answered as a real client does (take the cookie, form the
//! initiation again with mac2, send), lost initiations sent again after REKEY_TIMEOUT.
//! Measured: the time until every peer has its response, and the cookies it took.
//!
//! Afterwards every response is taken into its peer's `Tunn`: each must give a session.

use super::calibrate::WIREGATE_DH_PER_HANDSHAKE;
use super::initiator::{self, Outcome, REKEY_TIMEOUT, Settings};
use super::measure::{Delta, Snapshot};
use super::{Context, progress};
use std::time::Duration;

/// How long (b) may take before the run fails.
const BURST_DEADLINE: Duration = Duration::from_secs(120);
/// At most this many rounds of initiations are made ahead for (a).
const MAX_ROUNDS: usize = 10;

#[derive(Debug, Clone)]
pub struct Results {
    pub peers: usize,
    pub window: usize,
    pub acceptance: Outcome,
    /// The gateway over (a).
    pub acceptance_gateway: Delta,
    pub burst: Outcome,
    pub burst_gateway: Delta,
}

impl Results {
    pub fn acceptance_rate(&self) -> f64 {
        self.acceptance.completed as f64 / self.acceptance.wall.as_secs_f64()
    }

    /// Gateway cores busy during (a).
    pub fn acceptance_cores(&self) -> f64 {
        self.acceptance_gateway.cpu / self.acceptance.wall.as_secs_f64()
    }

    pub fn per_core(&self) -> f64 {
        self.acceptance_rate() / self.acceptance_cores()
    }
}

pub fn run(ctx: &mut Context) -> Result<Results, String> {
    let n = ctx.args.peers;
    let peers: Vec<usize> = (0..n).collect();
    let (gateway, _) = ctx.start_gateway(n)?;

    // (a): enough rounds to last the phase even if the gateway's cores did nothing but
    // its X25519 (at most MAX_ROUNDS: if they run out first, the phase is shorter).
    let duration = Duration::from_secs_f64(ctx.args.duration);
    let per_core = ctx.calibration.x25519_per_second / WIREGATE_DH_PER_HANDSHAKE;
    let ceiling = per_core * ctx.shards as f64 * duration.as_secs_f64();
    let rounds = ((ceiling / n as f64).ceil() as usize).clamp(1, MAX_ROUNDS);
    progress(&format!(
        "handshake (a): forming {rounds} rounds of {n} initiations"
    ));
    let mut batch = initiator::prepare(&ctx.fleet, &peers, rounds);
    let settings = Settings {
        window: ctx.args.window,
        retry_after: Duration::from_secs(1),
        deadline: duration,
    };
    progress(&format!(
        "handshake (a): closed loop, window {}, {duration:?}",
        ctx.args.window
    ));
    let before = Snapshot::take(&gateway)?;
    let acceptance = initiator::run(&mut ctx.udp, &mut batch, settings)?;
    let after = Snapshot::take(&gateway)?;
    let acceptance_gateway = Delta::between(&before, &after);
    let sessions = initiator::sessions(batch).map_err(|e| gateway.fail(&e))?;
    if acceptance.completed == 0 || sessions.len() != acceptance.completed {
        return Err(gateway.fail(&format!(
            "handshake (a): {} responses, {} sessions",
            acceptance.completed,
            sessions.len()
        )));
    }
    drop(sessions);

    // (b): fresh states (and later timestamps) for every peer, all at once.
    progress(&format!("handshake (b): {n} peers at once"));
    let mut batch = initiator::prepare(&ctx.fleet, &peers, 1);
    // Let the gateway leave any under-load state (it lasts a second) before the burst.
    std::thread::sleep(Duration::from_millis(1500));
    let settings = Settings {
        window: usize::MAX,
        retry_after: REKEY_TIMEOUT,
        deadline: BURST_DEADLINE,
    };
    let before = Snapshot::take(&gateway)?;
    let burst = initiator::run(&mut ctx.udp, &mut batch, settings)?;
    let after = Snapshot::take(&gateway)?;
    let burst_gateway = Delta::between(&before, &after);
    if burst.completed < n {
        return Err(gateway.fail(&format!(
            "handshake (b): only {} of {n} peers had a response after {BURST_DEADLINE:?} \
             ({} cookies, {} retries)",
            burst.completed, burst.cookies, burst.retries
        )));
    }
    let sessions = initiator::sessions(batch).map_err(|e| gateway.fail(&e))?;
    if sessions.len() != n {
        return Err(gateway.fail(&format!(
            "handshake (b): {} sessions of {n}",
            sessions.len()
        )));
    }
    gateway.stop()?;
    Ok(Results {
        peers: n,
        window: ctx.args.window,
        acceptance,
        acceptance_gateway,
        burst,
        burst_gateway,
    })
}
