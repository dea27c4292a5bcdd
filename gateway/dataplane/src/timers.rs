//! The protocol timers, run by each shard for its own peers every `TIMER_TICK`.
//!
//! boringtun's `update_timers` implements the whitepaper's timers (rekey after time,
//! handshake retry every REKEY_TIMEOUT up to REKEY_ATTEMPT_TIME, keepalive after
//! KEEPALIVE_TIMEOUT, persistent keepalive, new handshake after KEEPALIVE_TIMEOUT +
//! REKEY_TIMEOUT without an answer, and clearing all keys after REJECT_AFTER_TIME * 3);
//! we send what it asks for. Two things are ours:
//!
//! - **Retry jitter.** The kernel sends a handshake again after REKEY_TIMEOUT plus a
//!   random third of a second, so that peers that lost their sessions together (a
//!   gateway restart, a link that came back) do not retry in lockstep; boringtun retries
//!   at exactly REKEY_TIMEOUT. So a peer's timers are not run in the window between
//!   the two (at most a third of a second, and only while a handshake is unanswered).
//! - **Expired state is freed.** When boringtun gives up on a peer (its handshake went
//!   unanswered for REKEY_ATTEMPT_TIME, or no new keys came for REJECT_AFTER_TIME * 3)
//!   it has cleared every key and session; the shard then drops the whole Noise state
//!   (11 KiB), so an idle peer costs no more than one that never connected. The replay
//!   floor stays with the peer (`Peer::rekey`). A peer with a persistent keepalive gets
//!   a fresh state at once, which reaches out again after its interval, as the kernel's
//!   keepalive timer does after giving up.

use crate::shard::Shard;
use crate::stats::bump;
use boringtun::noise::TunnResult;
use boringtun::noise::errors::WireGuardError;
use std::time::{Duration, Instant};
use wiregate_core::protocol::{MESSAGE_HANDSHAKE_INITIATION, REKEY_TIMEOUT};

/// The kernel's REKEY_TIMEOUT_JITTER_MAX: a third of a second.
const RETRY_JITTER_MAX: Duration = Duration::from_millis(333);

/// When an unanswered initiation is sent again: boringtun would at `due`; we let it at
/// `at`, a random part of [`RETRY_JITTER_MAX`] later.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    due: Instant,
    at: Instant,
}

impl Retry {
    /// For an initiation sent at `now`.
    pub fn after(now: Instant) -> Self {
        let due = now + REKEY_TIMEOUT;
        let jitter = rand::random::<u64>() % RETRY_JITTER_MAX.as_millis() as u64;
        Self {
            due,
            at: due + Duration::from_millis(jitter),
        }
    }

    /// Whether the peer's timers wait at `now`: between boringtun's time and ours.
    fn holds(&self, now: Instant) -> bool {
        self.due <= now && now < self.at
    }
}

impl Shard {
    pub(crate) fn run_timers(&mut self) {
        let Shard {
            peers,
            identity,
            sessions,
            timed,
            scratch,
            out,
            udp,
            stats,
            now,
            ..
        } = self;
        timed.retain(|slot| {
            let Some(peer) = peers.get_mut(slot).and_then(Option::as_mut) else {
                return false;
            };
            let Some(noise) = peer.noise.as_deref_mut() else {
                return false;
            };
            if noise.retry.is_some_and(|r| r.holds(*now)) {
                return true;
            }
            match noise.tunn.update_timers(scratch) {
                TunnResult::WriteToNetwork(datagram) => {
                    sessions.outgoing(noise, datagram, *now);
                    if datagram.first() == Some(&(MESSAGE_HANDSHAKE_INITIATION as u8)) {
                        bump(&stats.handshake_initiations_sent, 1);
                    }
                    match peer.endpoint {
                        Some(endpoint) => {
                            bump(&peer.spec.stats.tx_bytes, datagram.len() as u64);
                            out.push(endpoint, datagram, &**udp, stats);
                        }
                        None => bump(&stats.drop_no_endpoint, 1),
                    }
                    true
                }
                TunnResult::Err(WireGuardError::ConnectionExpired) => {
                    sessions.forget(noise);
                    peer.noise = None;
                    bump(&stats.noise_expired, 1);
                    if peer.spec.persistent_keepalive.is_some() {
                        peer.rekey(identity.as_deref(), scratch);
                    }
                    peer.noise.is_some()
                }
                _ => true,
            }
        });
        // The MAC checker counts what it checks; it resets once a second by its own
        // clock, so every shard calling it is harmless.
        if let Some(identity) = self.routing.load().identity.as_ref() {
            identity.mac1.reset_count();
        }
    }
}
