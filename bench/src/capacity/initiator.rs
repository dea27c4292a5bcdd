//! Handshakes as thousands of real clients make them: initiations formed ahead of time (in
//! parallel), sent from the peers' sockets, answered cookie replies taken into the peer's
//! `Tunn` and the initiation formed again (now with mac2), lost ones retried. One thread
//! does it all: handshake rates are thousands per second, not millions.
//!
//! Each attempt has its own `Tunn`, created with the attempt's number as its 24-bit index,
//! so the receiver index of a reply names the attempt it answers without a table.

use super::fleet::{Fleet, MAX_TUNN_INDEX};
use super::udp::Pool;
use boringtun::noise::{Tunn, TunnResult};
use rayon::prelude::*;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Message sizes and types of the WireGuard protocol.
const INITIATION_LEN: usize = 148;
const RESPONSE_LEN: usize = 92;
const COOKIE_REPLY_LEN: usize = 64;
const TYPE_RESPONSE: u8 = 2;
const TYPE_COOKIE_REPLY: u8 = 3;
/// What a real client waits before it sends a lost initiation again (REKEY_TIMEOUT).
pub const REKEY_TIMEOUT: Duration = Duration::from_secs(5);

/// One simulated client's handshake.
pub struct Attempt {
    pub peer: usize,
    pub tunn: Tunn,
    initiation: [u8; INITIATION_LEN],
    sent_at: Option<Instant>,
    response: Option<[u8; RESPONSE_LEN]>,
}

/// Attempts made together: attempt `i` has `Tunn` index `base + i`.
pub struct Batch {
    base: u32,
    pub attempts: Vec<Attempt>,
}

/// The next free `Tunn` index: every batch of the run gets indices of its own, so a late
/// reply to an earlier batch is never taken for one of this batch.
static NEXT_INDEX: AtomicU32 = AtomicU32::new(1);

/// `rounds` initiations for each peer of `peers`, round after round. Costs three X25519
/// per attempt (the static-static secret, the ephemeral key, and DH(e, S)).
///
/// Rounds are formed one after the other (each in parallel) because the gateway accepts
/// a peer's initiation only if its timestamp is later than the last one it accepted: a
/// later round must carry later timestamps.
pub fn prepare(fleet: &Fleet, peers: &[usize], rounds: usize) -> Batch {
    let n = (peers.len() * rounds) as u32;
    let mut base = NEXT_INDEX.fetch_add(n, Ordering::Relaxed);
    if base + n > MAX_TUNN_INDEX {
        // Wrapped: whatever used the low indices is long finished.
        base = 1;
        NEXT_INDEX.store(1 + n, Ordering::Relaxed);
    }
    let mut attempts = Vec::with_capacity(n as usize);
    for round in 0..rounds {
        let first = base + (round * peers.len()) as u32;
        attempts.par_extend(peers.par_iter().enumerate().map(|(i, &peer)| {
            let mut tunn = fleet.tunn(peer, first + i as u32);
            let initiation = form(&mut tunn, false);
            Attempt {
                peer,
                tunn,
                initiation,
                sent_at: None,
                response: None,
            }
        }));
    }
    Batch { base, attempts }
}

/// A new initiation from `tunn`: new ephemeral key, new timestamp, mac2 if it holds a
/// cookie. `again` is for a retry while a handshake is in progress.
fn form(tunn: &mut Tunn, again: bool) -> [u8; INITIATION_LEN] {
    let mut buf = [0u8; INITIATION_LEN];
    match tunn.format_handshake_initiation(&mut buf, again) {
        TunnResult::WriteToNetwork(packet) if packet.len() == INITIATION_LEN => {}
        other => panic!("boringtun formed no initiation: {other:?}"),
    }
    buf
}

#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Initiations outstanding at once; `usize::MAX` sends them all at once.
    pub window: usize,
    /// When an unanswered initiation is formed and sent again.
    pub retry_after: Duration,
    /// When to give up, from the start.
    pub deadline: Duration,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    pub attempts: usize,
    pub completed: usize,
    /// Every initiation sent: firsts, retries and answers to cookies.
    pub initiations_sent: usize,
    pub retries: usize,
    pub cookies: usize,
    /// From the first send to the last response (or the deadline).
    pub wall: Duration,
}

/// What arrived: a response or a cookie reply for attempt `i`.
enum Reply {
    Response(usize, [u8; RESPONSE_LEN]),
    Cookie(usize, [u8; COOKIE_REPLY_LEN]),
}

/// Runs the attempts until each has its response or the deadline passes.
pub fn run(pool: &mut Pool, batch: &mut Batch, settings: Settings) -> Result<Outcome, String> {
    let (base, attempts) = (batch.base, &mut batch.attempts);
    let mut out = Outcome {
        attempts: attempts.len(),
        ..Outcome::default()
    };
    let start = Instant::now();
    // Sent initiations in send order, with when; stale entries are skipped.
    let mut queue: VecDeque<(usize, Instant)> = VecDeque::new();
    let (mut next, mut outstanding) = (0, 0);
    let mut replies = Vec::new();
    let send = |pool: &Pool, a: &mut Attempt, queue: &mut VecDeque<(usize, Instant)>, i| {
        let now = Instant::now();
        a.sent_at = Some(now);
        queue.push_back((i, now));
        pool.send(pool.of_peer(a.peer), &a.initiation)
    };
    while out.completed < attempts.len() && start.elapsed() < settings.deadline {
        while outstanding < settings.window && next < attempts.len() {
            send(pool, &mut attempts[next], &mut queue, next)?;
            (next, outstanding, out.initiations_sent) =
                (next + 1, outstanding + 1, out.initiations_sent + 1);
        }
        let now = Instant::now();
        while let Some(&(i, at)) = queue.front() {
            let a = &mut attempts[i];
            if a.response.is_some() || a.sent_at != Some(at) {
                queue.pop_front();
                continue;
            }
            if now - at < settings.retry_after {
                break;
            }
            queue.pop_front();
            a.initiation = form(&mut a.tunn, true);
            send(pool, a, &mut queue, i)?;
            (out.retries, out.initiations_sent) = (out.retries + 1, out.initiations_sent + 1);
        }
        for socket in pool.wait(1)? {
            pool.drain(socket, |d| {
                if let Some(reply) = parse(d, base, attempts.len()) {
                    replies.push(reply);
                }
            })?;
        }
        for reply in replies.drain(..) {
            match reply {
                Reply::Response(i, bytes) => {
                    let a = &mut attempts[i];
                    if a.response.is_none() && a.sent_at.is_some() {
                        a.response = Some(bytes);
                        out.completed += 1;
                        outstanding -= 1;
                        out.wall = start.elapsed();
                    }
                }
                Reply::Cookie(i, bytes) => {
                    let a = &mut attempts[i];
                    if a.response.is_some() {
                        continue;
                    }
                    let mut scratch = [0u8; 256];
                    // A cookie for an initiation we already replaced is refused: ignore it.
                    if let TunnResult::Done = a.tunn.decapsulate(None, &bytes, &mut scratch) {
                        out.cookies += 1;
                        a.initiation = form(&mut a.tunn, true);
                        send(pool, a, &mut queue, i)?;
                        out.initiations_sent += 1;
                    }
                }
            }
        }
    }
    if out.completed < attempts.len() {
        out.wall = start.elapsed();
    }
    Ok(out)
}

fn parse(d: &[u8], base: u32, attempts: usize) -> Option<Reply> {
    let index_at = |off: usize| u32::from_le_bytes(d[off..off + 4].try_into().unwrap());
    let attempt = |receiver: u32| {
        let i = (receiver >> 8).checked_sub(base)? as usize;
        (i < attempts).then_some(i)
    };
    match (d.first(), d.len()) {
        (Some(&TYPE_RESPONSE), RESPONSE_LEN) => {
            Some(Reply::Response(attempt(index_at(8))?, d.try_into().ok()?))
        }
        (Some(&TYPE_COOKIE_REPLY), COOKIE_REPLY_LEN) => {
            Some(Reply::Cookie(attempt(index_at(4))?, d.try_into().ok()?))
        }
        _ => None,
    }
}

/// A peer with an established session, and the keepalive that confirms it to the gateway
/// (a responder sends nothing on a session before the initiator's first packet).
pub struct Session {
    pub peer: usize,
    pub tunn: Tunn,
    keepalive: Vec<u8>,
}

/// Takes each response into its `Tunn` (in parallel, after the timed part). Every
/// response must give a session: one that does not is an error.
pub fn sessions(batch: Batch) -> Result<Vec<Session>, String> {
    let results: Vec<Option<Result<Session, String>>> = batch
        .attempts
        .into_par_iter()
        .map(|mut a| {
            let response = a.response?;
            let mut buf = [0u8; 256];
            Some(match a.tunn.decapsulate(None, &response, &mut buf) {
                TunnResult::WriteToNetwork(keepalive) => Ok(Session {
                    peer: a.peer,
                    keepalive: keepalive.to_vec(),
                    tunn: a.tunn,
                }),
                other => Err(format!(
                    "peer {}: the gateway's handshake response gave no session: {other:?}",
                    a.peer
                )),
            })
        })
        .collect();
    results.into_iter().flatten().collect()
}

/// Sends each session's keepalive from its peer's socket.
pub fn confirm(pool: &Pool, sessions: &[Session]) -> Result<(), String> {
    for s in sessions {
        pool.send(pool.of_peer(s.peer), &s.keepalive)?;
    }
    Ok(())
}

/// Sessions for `peers`, made the quick way: a window of initiations below the gateway's
/// under-load threshold (so no cookies), lost ones retried after a second. Every peer must
/// get its session within `deadline`, and the gateway is told with a keepalive each.
pub fn establish(
    pool: &mut Pool,
    fleet: &Fleet,
    peers: &[usize],
    deadline: Duration,
) -> Result<(Vec<Session>, Outcome), String> {
    let mut batch = prepare(fleet, peers, 1);
    let settings = Settings {
        window: 256,
        retry_after: Duration::from_secs(1),
        deadline,
    };
    let outcome = run(pool, &mut batch, settings)?;
    let sessions = sessions(batch)?;
    confirm(pool, &sessions)?;
    Ok((sessions, outcome))
}
