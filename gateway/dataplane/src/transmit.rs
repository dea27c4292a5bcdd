//! TUN → network: plaintext packets from the shard's TUN queue are padded in place (see
//! `padding.rs`), routed by destination through the allowed-IPs table to their peer,
//! handed to the shard that owns it, and encrypted straight into the shard's send batch.

use crate::handoff::Handoff;
use crate::padding::pad;
use crate::receive::RxBuffers;
use crate::shard::Shard;
use crate::stats::bump;
use boringtun::noise::{Tunn, TunnResult};
use std::io;
use wiregate_core::protocol::{
    DATA_OVERHEAD, HANDSHAKE_INITIATION_LEN, MESSAGE_DATA, MESSAGE_HANDSHAKE_INITIATION,
};

/// TUN reads (each one packet, or one split super-packet) before the batch is sent
/// (tunable).
const TUN_BATCH: usize = 64;
/// Batches in one pass over the TUN queue (tunable), so that a flood of plaintext cannot
/// keep the shard from its other sources.
const TUN_BUDGET: usize = 4;

impl Shard {
    /// Reads the TUN queue for up to `TUN_BUDGET` batches; `Ok(true)` if it may hold
    /// more. An error other than `WouldBlock` means the device is gone.
    pub(crate) fn drain_tun(&mut self, rx: &mut RxBuffers) -> io::Result<bool> {
        let tun_rx = &mut rx.tun;
        for _ in 0..TUN_BUDGET {
            self.read_clock();
            for _ in 0..TUN_BATCH {
                match self.tun.read(tun_rx) {
                    Ok(n) => {
                        self.stats.tun_rx_batch.observe(n);
                        for (buf, len) in tun_rx.packets_mut() {
                            self.route_plaintext(buf, len);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // No OS error: a super-packet we could not split. Drop it, go on.
                    Err(e) if e.raw_os_error().is_none() => {
                        tracing::debug!(shard = self.id, error = %e, "unsplittable TUN packet");
                        bump(&self.stats.drop_malformed, 1);
                    }
                    Err(e) => return Err(e),
                }
            }
            self.flush();
        }
        Ok(true)
    }

    /// Routes the packet `buf[..len]`, padding it first: whichever shard encrypts it gets
    /// it padded.
    fn route_plaintext(&mut self, buf: &mut [u8], len: usize) {
        let packet = pad(buf, len, self.mtu);
        let Some(destination) = Tunn::dst_address(packet) else {
            return bump(&self.stats.drop_malformed, 1);
        };
        let Some(owner) = self.routing.load().allowed.lookup(destination) else {
            return bump(&self.stats.drop_no_route, 1);
        };
        if owner.at.shard == self.id {
            self.encrypt(owner.at.slot, owner.generation, packet);
        } else {
            let handoff = Handoff::Tunnel {
                slot: owner.at.slot,
                generation: owner.generation,
            };
            self.hand_off(owner.at.shard, handoff, packet);
        }
    }

    /// Encrypts a plaintext packet, already padded, for this shard's peer `slot` into the
    /// send batch, if the peer there is still the placement routing named (`generation`).
    /// With no session yet, boringtun queues the packet and gives us a handshake
    /// initiation.
    pub(crate) fn encrypt(&mut self, slot: u32, generation: u32, packet: &[u8]) {
        let Shard {
            peers,
            timed,
            identity,
            sessions,
            out,
            udp,
            stats,
            now,
            scratch,
            ..
        } = self;
        let Some(peer) = peers
            .get_mut(slot as usize)
            .and_then(Option::as_mut)
            .filter(|p| p.spec.generation == generation)
        else {
            // Gone, or the slot holds another peer now: the packet's peer is gone.
            return bump(&stats.drop_no_route, 1);
        };
        let Some(endpoint) = peer.endpoint else {
            return bump(&stats.drop_no_endpoint, 1);
        };
        let Some(noise) = peer.noise(identity.as_deref(), scratch) else {
            return bump(peer.without_tunn(stats), 1);
        };
        timed.insert(slot as usize);
        let room = (packet.len() + DATA_OVERHEAD).max(HANDSHAKE_INITIATION_LEN);
        let dst = out.reserve(room, &**udp, stats);
        match noise.tunn.encapsulate(packet, dst) {
            TunnResult::WriteToNetwork(datagram) => {
                sessions.outgoing(noise, datagram, *now);
                let len = datagram.len();
                match u32::from_le_bytes([datagram[0], datagram[1], datagram[2], datagram[3]]) {
                    MESSAGE_DATA => bump(&stats.tx_data_packets, 1),
                    MESSAGE_HANDSHAKE_INITIATION => bump(&stats.handshake_initiations_sent, 1),
                    _ => {}
                }
                bump(&peer.spec.stats.tx_bytes, len as u64);
                out.commit(endpoint, len);
            }
            TunnResult::Done => {}
            TunnResult::Err(_) => bump(&stats.drop_io, 1),
            TunnResult::WriteToTunnelV4(..) | TunnResult::WriteToTunnelV6(..) => {}
        }
    }
}
