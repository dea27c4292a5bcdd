//! The protocol timers, run by each shard for its own peers every `TIMER_TICK`.
//! boringtun's `update_timers` implements all five of the whitepaper's timers (rekey after
//! time, handshake retry with REKEY_TIMEOUT up to REKEY_ATTEMPT_TIME, keepalive after
//! KEEPALIVE_TIMEOUT, persistent keepalive, and zeroing keys after REJECT_AFTER_TIME * 3);
//! we send what it asks for.

use crate::shard::Shard;
use crate::stats::bump;
use boringtun::noise::TunnResult;
use wiregate_core::protocol::MESSAGE_HANDSHAKE_INITIATION;

impl Shard {
    pub(crate) fn run_timers(&mut self) {
        let Shard {
            peers,
            sessions,
            timed,
            scratch,
            out,
            udp,
            stats,
            ..
        } = self;
        timed.retain(|slot| {
            let Some(peer) = peers.get_mut(slot).and_then(Option::as_mut) else {
                return false;
            };
            let Some(noise) = peer.noise.as_deref_mut() else {
                return false;
            };
            if let TunnResult::WriteToNetwork(datagram) = noise.tunn.update_timers(scratch) {
                sessions.outgoing(noise, datagram);
                if datagram.first() == Some(&(MESSAGE_HANDSHAKE_INITIATION as u8)) {
                    bump(&stats.handshake_initiations_sent, 1);
                }
                match peer.endpoint {
                    Some(endpoint) => {
                        bump(&peer.spec.stats.tx_bytes, datagram.len() as u64);
                        out.push(endpoint, datagram, udp, stats);
                    }
                    None => bump(&stats.drop_no_endpoint, 1),
                }
            }
            true
        });
        // The MAC checker counts what it checks; it resets once a second by its own
        // clock, so every shard calling it is harmless.
        if let Some(identity) = self.routing.load().identity.as_ref() {
            identity.mac1.reset_count();
        }
    }
}
