//! Network → TUN: datagrams from the shard's socket are classified, handed to the shard
//! that owns their peer, authenticated and decrypted, checked against the peer's allowed
//! IPs, and written to the TUN device. Nothing a datagram contains can panic this path:
//! every length is checked before it is read, and every failure is a counted drop.

use crate::handoff::Handoff;
use crate::handshake;
use crate::index::PeerRef;
use crate::io::Path;
use crate::io::RecvMeta;
use crate::peer::{Peer, remember_initiation, roam};
use crate::routing::Owner;
use crate::sessions::{index_at, owner_of, unwrap_data, unwrap_response};
use crate::shard::Shard;
use crate::stats::bump;
use boringtun::noise::errors::WireGuardError;
use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::{Packet, Tunn, TunnResult};
use std::io::{self, IoSliceMut};
use std::net::IpAddr;
use std::time::SystemTime;
use wiregate_core::key::KEY_LEN;
use wiregate_core::low_order::is_low_order;
use wiregate_core::protocol::*;

/// Datagrams per receive call (tunable); each buffer holds a full GRO batch.
const RX_BATCH: usize = 32;
/// Receive calls in one pass over the socket (tunable): at most 16 x 32 datagrams (more
/// with GRO) before the shard looks at its commands, inbox, TUN and timers again.
const UDP_BUDGET: usize = 16;
const RX_BUFFER: usize = 64 << 10;

/// Receive buffers, owned by the shard's loop (outside the shard, so a datagram can be
/// borrowed while the shard is mutated).
#[derive(Debug)]
pub(crate) struct RxBuffers {
    pub bufs: Vec<Vec<u8>>,
    pub meta: Vec<RecvMeta>,
    pub tun: crate::tun_batch::TunReadBuffers,
}

impl RxBuffers {
    pub fn new() -> Self {
        Self {
            bufs: (0..RX_BATCH).map(|_| vec![0; RX_BUFFER]).collect(),
            meta: vec![RecvMeta::default(); RX_BATCH],
            tun: crate::tun_batch::TunReadBuffers::new(),
        }
    }
}

fn message_type(data: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(..4)?.try_into().ok()?))
}

/// The smallest IPv4 packet: its fixed header.
const IPV4_HEADER_LEN: usize = 20;

/// Where a data packet or cookie reply carries its receiver index; a response's is after
/// its sender index.
const RECEIVER_AT: usize = 4;
const RESPONSE_RECEIVER_AT: usize = 8;

/// A data message's counter (its nonce); 0 if the message is too short to carry one.
fn data_counter(data: &[u8]) -> u64 {
    data.get(8..16)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

/// Whether a handshake message carries a low-order ephemeral key: its Diffie-Hellman
/// results would be zero, and the kernel and wireguard-go give up on those (boringtun
/// does not check). Anything else is `false`. Checked where each kind enters the shard,
/// before it is queued or handed over: an initiation after its MAC, a response at once.
fn low_order_ephemeral(kind: Option<u32>, data: &[u8]) -> bool {
    let at = match kind {
        Some(MESSAGE_HANDSHAKE_INITIATION) => INITIATION_EPHEMERAL_AT,
        Some(MESSAGE_HANDSHAKE_RESPONSE) => RESPONSE_EPHEMERAL_AT,
        _ => return false,
    };
    data.get(at..at + KEY_LEN)
        .and_then(|key| key.try_into().ok())
        .is_some_and(is_low_order)
}

impl Shard {
    /// Reads the socket for up to `UDP_BUDGET` receive calls; true if it may hold more.
    pub(crate) fn drain_udp(&mut self, rx: &mut RxBuffers) -> bool {
        for _ in 0..UDP_BUDGET {
            self.read_clock();
            let n = {
                let mut slices: Vec<IoSliceMut<'_>> =
                    rx.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                match self.udp.recv(&mut slices, &mut rx.meta) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        if e.kind() != io::ErrorKind::WouldBlock {
                            tracing::debug!(shard = self.id, error = %e, "udp receive failed");
                        }
                        return false;
                    }
                }
            };
            let datagrams: usize = rx.meta[..n]
                .iter()
                .map(|m| m.len.div_ceil(m.stride.max(1)).max(1))
                .sum();
            self.stats.udp_rx_batch.observe(datagrams);
            for (meta, buf) in rx.meta[..n].iter().zip(rx.bufs.iter_mut()) {
                if meta.len == 0 {
                    bump(&self.stats.rx_datagrams, 1);
                    bump(&self.stats.drop_malformed, 1);
                    continue;
                }
                let stride = meta.stride.max(1);
                for datagram in buf[..meta.len].chunks_mut(stride) {
                    bump(&self.stats.rx_datagrams, 1);
                    let from = Path {
                        remote: meta.addr,
                        local: meta.dst_ip,
                    };
                    self.handle_datagram(from, datagram);
                }
            }
            self.flush();
        }
        true
    }

    /// Finds the peer a datagram belongs to and delivers it there.
    pub(crate) fn handle_datagram(&mut self, from: Path, data: &mut [u8]) {
        let receiver_at = match (message_type(data), data.len()) {
            (Some(MESSAGE_HANDSHAKE_INITIATION), HANDSHAKE_INITIATION_LEN) => {
                return self.handle_initiation(from, data);
            }
            (Some(MESSAGE_HANDSHAKE_RESPONSE), HANDSHAKE_RESPONSE_LEN)
                if low_order_ephemeral(Some(MESSAGE_HANDSHAKE_RESPONSE), data) =>
            {
                return bump(&self.stats.drop_low_order_key, 1);
            }
            (Some(MESSAGE_HANDSHAKE_RESPONSE), HANDSHAKE_RESPONSE_LEN) => RESPONSE_RECEIVER_AT,
            (Some(MESSAGE_HANDSHAKE_COOKIE), COOKIE_REPLY_LEN) => RECEIVER_AT,
            (Some(MESSAGE_DATA), n) if n >= DATA_OVERHEAD => RECEIVER_AT,
            _ => return bump(&self.stats.drop_malformed, 1),
        };
        let Some(index) = index_at(data, receiver_at) else {
            return bump(&self.stats.drop_malformed, 1);
        };
        if let Some(internal) = self.sessions.lookup(index) {
            return self.deliver_session(from, data, internal);
        }
        // Not ours: the owner is the shard the index decrypts to (see `sessions.rs`).
        let owner = self.sessions.owner(index);
        if owner == self.id || usize::from(owner) >= self.links.len() {
            return bump(&self.stats.drop_unknown_index, 1);
        }
        bump(&self.stats.misdirected, 1);
        self.hand_off(owner, Handoff::Indexed { from }, data);
    }

    /// Delivers a datagram handed over by the shard it reached, which found that it
    /// names one of this shard's sessions by its wire index.
    pub(crate) fn deliver_indexed(&mut self, from: Path, data: &mut [u8]) {
        let at = if message_type(data) == Some(MESSAGE_HANDSHAKE_RESPONSE) {
            RESPONSE_RECEIVER_AT
        } else {
            RECEIVER_AT
        };
        match index_at(data, at).and_then(|i| self.sessions.lookup(i)) {
            Some(internal) => self.deliver_session(from, data, internal),
            None => bump(&self.stats.drop_unknown_index, 1),
        }
    }

    /// Delivers a datagram for the session boringtun knows as `internal`, after writing
    /// that index in place of the wire's.
    fn deliver_session(&mut self, from: Path, data: &mut [u8], internal: u32) {
        let slot = owner_of(internal).slot;
        match message_type(data) {
            // A counter this high is refused before anything else, as the kernel refuses
            // it (REJECT_AFTER_MESSAGES): no session may use its last nonces, and
            // boringtun's window arithmetic is not written for counters near the top.
            Some(MESSAGE_DATA) if data_counter(data) >= REJECT_AFTER_MESSAGES => {
                return bump(&self.stats.drop_replay, 1);
            }
            Some(MESSAGE_DATA) => unwrap_data(data, internal),
            Some(MESSAGE_HANDSHAKE_RESPONSE) => {
                let Some(identity) = self.identity.as_deref() else {
                    return bump(&self.stats.drop_unknown_index, 1);
                };
                if !unwrap_response(data, internal, identity.cookies.keys()) {
                    return bump(&self.stats.drop_bad_mac, 1);
                }
            }
            // A cookie reply to our handshake: its cookie is kept for the next one. It is
            // not authenticated by the peer, so it neither moves the endpoint nor counts
            // as the peer's traffic (the kernel's rules: only authenticated messages
            // roam, handshakes and data are counted).
            Some(MESSAGE_HANDSHAKE_COOKIE) => {
                let now = self.now;
                let taken = self
                    .peer_mut(slot)
                    .and_then(|p| p.noise.as_deref_mut())
                    .is_some_and(|noise| noise.take_cookie_reply(data, now));
                if !taken {
                    bump(&self.stats.drop_bad_mac, 1);
                }
                return;
            }
            _ => return bump(&self.stats.drop_malformed, 1),
        }
        self.deliver(slot, None, from, data);
    }

    fn route_initiation(&mut self, owner: Owner, from: Path, data: &[u8]) {
        if owner.at.shard == self.id {
            self.deliver(owner.at.slot, Some(owner.generation), from, data);
        } else {
            let handoff = Handoff::Initiation {
                slot: owner.at.slot,
                generation: owner.generation,
                from,
            };
            self.hand_off(owner.at.shard, handoff, data);
        }
    }

    /// Checks an initiation's MAC (and, under load, its cookie) and queues it; it is
    /// opened later, after the batch's data (see `handshake.rs`). Under load, one without
    /// a valid cookie is answered with a cookie reply, at most once every 4 s per source
    /// (`cookie.rs`), and one with a cookie is held to its source's share.
    fn handle_initiation(&mut self, from: Path, data: &[u8]) {
        let routing = self.routing.load();
        let Some(identity) = routing.identity.as_ref() else {
            return bump(&self.stats.drop_unknown_peer, 1);
        };
        let cookies = &identity.cookies;
        if !cookies.mac1_valid(data) {
            return bump(&self.stats.drop_bad_mac, 1);
        }
        if low_order_ephemeral(Some(MESSAGE_HANDSHAKE_INITIATION), data) {
            bump(&self.stats.drop_low_order_key, 1);
            return bump(&self.stats.handshake_failures, 1);
        }
        if self.handshakes.under_load(self.now) {
            // Published for metrics: rare (only under load) and one store.
            self.stats
                .set_under_load_until(SystemTime::now() + handshake::UNDER_LOAD_AFTER);
            if !cookies.mac2_valid(data, from.remote, self.now) {
                self.handshakes.turned_away(self.now);
                if !self.cookie_replies.allow(from.remote.ip(), self.now) {
                    return bump(&self.stats.drop_cookie_limited, 1);
                }
                let reply = cookies.reply(data, from.remote, self.now);
                bump(&self.stats.cookie_replies, 1);
                return self.out.push(from, &reply, &*self.udp, &self.stats);
            }
            let allowed = self
                .ratelimit
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .allow(from.remote.ip(), self.now);
            if !allowed {
                return bump(&self.stats.drop_ratelimited, 1);
            }
        }
        if self.handshakes.push(from, data) {
            bump(&self.stats.handshake_initiations, 1);
        } else {
            bump(&self.stats.drop_queue_full, 1);
        }
    }

    /// Opens up to a budget of queued initiations. An initiation names its sender only
    /// inside its encrypted static key, so it is decrypted here to find the peer by
    /// public key, and handed to the peer's shard.
    pub(crate) fn open_initiations(&mut self) {
        let routing = self.routing.load();
        let Some(identity) = routing.identity.as_ref() else {
            return;
        };
        for _ in 0..handshake::BUDGET {
            let Some(pending) = self.handshakes.pop() else {
                break;
            };
            let Ok(Packet::HandshakeInit(init)) = Tunn::parse_incoming_packet(&pending.data) else {
                bump(&self.stats.drop_malformed, 1);
                continue;
            };
            match parse_handshake_anon(&identity.private, &identity.public, &init) {
                Ok(half) => match routing.by_key.get(&half.peer_static_public) {
                    Some(&owner) => self.route_initiation(owner, pending.from, &pending.data),
                    None => {
                        bump(&self.stats.drop_unknown_peer, 1);
                        bump(&self.stats.handshake_failures, 1);
                    }
                },
                Err(e) => {
                    count_error(&self.stats, &e);
                    bump(&self.stats.handshake_failures, 1);
                }
            }
        }
        self.flush();
    }

    /// Decrypts a datagram for this shard's peer `slot` (if it is still the placement
    /// `generation` names, when given) and acts on the result. Data is decrypted straight
    /// into the TUN write batch.
    pub(crate) fn deliver(&mut self, slot: u32, generation: Option<u32>, from: Path, data: &[u8]) {
        let me = PeerRef {
            shard: self.id,
            slot,
        };
        let routing = self.routing.load();
        let Shard {
            peers,
            timed,
            identity,
            sessions,
            scratch,
            out,
            udp,
            tun_out,
            stats,
            now,
            ..
        } = self;
        let Some(peer) = peers
            .get_mut(slot as usize)
            .and_then(Option::as_mut)
            .filter(|p| generation.is_none_or(|g| g == p.spec.generation))
        else {
            return bump(&stats.drop_unknown_index, 1);
        };
        let kind = message_type(data);
        // Only an initiation brings an idle peer's Noise state to life; anything else
        // for a peer without one names a session that does not exist.
        if kind == Some(MESSAGE_HANDSHAKE_INITIATION) {
            peer.noise(identity.as_deref(), scratch);
            timed.insert(slot as usize);
        }
        let Peer {
            noise,
            endpoint,
            spec,
            last_initiation,
        } = peer;
        let Some(noise) = noise.as_deref_mut() else {
            return bump(
                if spec.public_key.is_low_order() {
                    &stats.drop_low_order_key
                } else {
                    &stats.drop_unknown_index
                },
                1,
            );
        };
        let dst = if kind == Some(MESSAGE_DATA) {
            tun_out.reserve(data.len())
        } else {
            &mut scratch[..]
        };
        let delivered: Option<(usize, IpAddr)> =
            match noise.tunn.decapsulate(Some(from.remote.ip()), data, dst) {
                TunnResult::Done => {
                    roam(endpoint, &spec.stats, from);
                    None
                }
                TunnResult::WriteToNetwork(reply) => {
                    if message_type(reply) == Some(MESSAGE_HANDSHAKE_COOKIE) {
                        bump(&stats.cookie_replies, 1);
                        return out.push(from, reply, &**udp, stats);
                    }
                    sessions.outgoing(noise, reply, *now);
                    roam(endpoint, &spec.stats, from);
                    // Our handshake response goes at once. The keepalive that confirms a
                    // session we initiated is needed only if no packet waited for the
                    // session: the first of those confirms it as well (the kernel's rule;
                    // boringtun always sends both).
                    let confirmation = (kind == Some(MESSAGE_HANDSHAKE_RESPONSE))
                        .then(|| <[u8; DATA_OVERHEAD]>::try_from(&*reply).ok())
                        .flatten();
                    if confirmation.is_none() {
                        bump(&spec.stats.tx_bytes, reply.len() as u64);
                        out.push(from, reply, &**udp, stats);
                    }
                    if matches!(
                        kind,
                        Some(MESSAGE_HANDSHAKE_INITIATION | MESSAGE_HANDSHAKE_RESPONSE)
                    ) {
                        bump(&stats.handshakes, 1);
                        spec.stats.set_last_handshake(SystemTime::now());
                    }
                    if kind == Some(MESSAGE_HANDSHAKE_INITIATION) {
                        remember_initiation(last_initiation, data);
                    } else if kind == Some(MESSAGE_HANDSHAKE_RESPONSE) {
                        noise.retry = None; // answered: no retry to hold
                    }
                    // Packets queued while the handshake was pending can go now.
                    let mut queued_any = false;
                    while let TunnResult::WriteToNetwork(queued) =
                        noise.tunn.decapsulate(None, &[], scratch)
                    {
                        out.push(from, queued, &**udp, stats);
                        bump(&spec.stats.tx_bytes, queued.len() as u64);
                        queued_any = true;
                    }
                    if let Some(keepalive) = confirmation.filter(|_| !queued_any) {
                        bump(&spec.stats.tx_bytes, keepalive.len() as u64);
                        out.push(from, &keepalive, &**udp, stats);
                    }
                    None
                }
                // boringtun takes an IPv4 packet's length from its header as long as it
                // fits in what was sent; one shorter than the header itself is a
                // dishonest size (the kernel's words) and goes no further, as in the
                // kernel. (An IPv6 length counts the payload only: never short.)
                TunnResult::WriteToTunnelV4(packet, _) if packet.len() < IPV4_HEADER_LEN => {
                    return bump(&stats.drop_malformed, 1);
                }
                TunnResult::WriteToTunnelV4(packet, source) => Some((packet.len(), source.into())),
                TunnResult::WriteToTunnelV6(packet, source) => Some((packet.len(), source.into())),
                TunnResult::Err(e) => return count_error(stats, &e),
            };
        if let Some((len, source)) = delivered {
            roam(endpoint, &spec.stats, from);
            let me = Owner {
                at: me,
                generation: spec.generation,
            };
            if routing.allowed.lookup(source) != Some(me) {
                return bump(&stats.drop_allowed_ips, 1);
            }
            tun_out.commit(len);
            bump(&stats.rx_bytes, len as u64);
        }
        bump(&spec.stats.rx_bytes, data.len() as u64);
        if kind == Some(MESSAGE_DATA) {
            bump(&stats.rx_data_packets, 1);
        }
        self.flush_tun_if_full();
    }
}

fn count_error(stats: &crate::stats::ShardStats, e: &WireGuardError) {
    use WireGuardError::*;
    let counter = match e {
        NoCurrentSession | WrongIndex | UnexpectedPacket => &stats.drop_unknown_index,
        InvalidPacket | IncorrectPacketLength | WrongPacketType => &stats.drop_malformed,
        InvalidMac | InvalidAeadTag => &stats.drop_bad_mac,
        DuplicateCounter | InvalidCounter | WrongTai64nTimestamp => &stats.drop_replay,
        _ => &stats.drop_decrypt,
    };
    bump(counter, 1);
}
