//! Receiver indices as the wire sees them: random, and translated at the shard's edge
//! to the ones boringtun keeps.
//!
//! boringtun numbers a peer's sessions `peer index << 8 | counter`, and wiregate's peer
//! index is the peer's shard and slot (`index.rs`), so its own indices would tell an
//! observer which sessions belong to one peer, across roaming too. So every index
//! boringtun writes into a handshake message we send is replaced by a fresh one
//! (`index_cipher.rs`: random but for the owning shard, which only the device's key
//! reveals), remembered in the shard's table, and written back as boringtun's in every
//! datagram that names it before boringtun sees it: a data packet (bytes 4..8, not
//! covered by its tag), a handshake response (bytes 8..12, covered by its MACs, so they
//! are checked first and made again, `macs.rs`). Cookie replies to our handshakes never
//! reach boringtun (see `macs.rs`).
//!
//! A peer keeps one wire index for each of boringtun's session slots (its index modulo
//! 8, the ring its sessions live in), so a session boringtun replaces takes its wire
//! index out of the table with it, and the table holds at most eight entries per peer
//! with Noise state. A removed or rebuilt peer takes all of its out.

use crate::index::PeerRef;
use crate::index_cipher::IndexCipher;
use crate::macs::{CookieState, MacKeys};
use boringtun::noise::Tunn;
use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::time::Instant;
use wiregate_core::protocol::{MESSAGE_HANDSHAKE_INITIATION, MESSAGE_HANDSHAKE_RESPONSE};

/// boringtun's sessions ring (its `N_SESSIONS`): a session lives at its index modulo 8.
const SESSION_SLOTS: usize = 8;
/// Marks a session slot without a wire index; never issued.
const NONE: u32 = 0;

/// A peer's Noise state and what the wire sees of it.
pub(crate) struct Noise {
    pub tunn: Tunn,
    /// The wire index standing for each of boringtun's session slots.
    wire: [u32; SESSION_SLOTS],
    /// The peer's MAC keys, for the messages we send it and the cookie replies it sends.
    keys: MacKeys,
    /// While our handshake waits for an answer: when boringtun would send it again, and
    /// when it may (see `timers.rs`).
    pub retry: Option<crate::timers::Retry>,
    cookies: CookieState,
}

impl std::fmt::Debug for Noise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Noise(..)")
    }
}

impl Noise {
    pub fn new(tunn: Tunn, peer_public: &[u8; 32]) -> Self {
        Self {
            tunn,
            wire: [NONE; SESSION_SLOTS],
            keys: MacKeys::new(peer_public),
            cookies: CookieState::default(),
            retry: None,
        }
    }

    /// Opens a cookie reply to one of our handshakes and keeps its cookie for the next;
    /// false if it does not open.
    pub fn take_cookie_reply(&mut self, reply: &[u8], now: Instant) -> bool {
        self.cookies.take_reply(&self.keys, reply, now)
    }
}

/// A shard's wire indices: which of boringtun's indices each stands for.
#[derive(Debug)]
pub(crate) struct SessionIndices {
    shard: u16,
    cipher: Arc<IndexCipher>,
    by_wire: FxHashMap<u32, u32>,
}

/// The index a message carries at byte `at`; `None` if it is too short to carry one.
pub(crate) fn index_at(message: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        message.get(at..at + 4)?.try_into().ok()?,
    ))
}

fn write_index(message: &mut [u8], at: usize, index: u32) {
    message[at..at + 4].copy_from_slice(&index.to_le_bytes());
}

impl SessionIndices {
    pub fn new(shard: u16, cipher: Arc<IndexCipher>) -> Self {
        Self {
            shard,
            cipher,
            by_wire: FxHashMap::default(),
        }
    }

    /// boringtun's index for a wire index of this shard's.
    #[inline]
    pub fn lookup(&self, wire: u32) -> Option<u32> {
        self.by_wire.get(&wire).copied()
    }

    /// The shard a wire index this shard does not know belongs to.
    pub fn owner(&self, wire: u32) -> u16 {
        self.cipher.shard_of(wire)
    }

    /// Gives a message boringtun wrote for `noise`'s peer the wire's view: a handshake
    /// message gets a fresh sender index and its MACs again (mac2 with a cookie received
    /// before `now` expired it); anything else is left as is.
    pub fn outgoing(&mut self, noise: &mut Noise, message: &mut [u8], now: Instant) {
        let kind = message.first().map(|&b| u32::from(b));
        if !matches!(
            kind,
            Some(MESSAGE_HANDSHAKE_INITIATION | MESSAGE_HANDSHAKE_RESPONSE)
        ) || message.len() < 8 + 32
        {
            return;
        }
        let Some(internal) = index_at(message, 4) else {
            return;
        };
        let session = internal as usize % SESSION_SLOTS;
        let old = std::mem::replace(&mut noise.wire[session], NONE);
        if old != NONE {
            self.by_wire.remove(&old);
        }
        let wire = loop {
            let wire = self.cipher.fresh_index(self.shard);
            if wire != NONE && !self.by_wire.contains_key(&wire) {
                break wire;
            }
        };
        self.by_wire.insert(wire, internal);
        noise.wire[session] = wire;
        write_index(message, 4, wire);
        noise.cookies.seal(&noise.keys, message, now);
        if kind == Some(MESSAGE_HANDSHAKE_INITIATION) {
            noise.retry = Some(crate::timers::Retry::after(now));
        }
    }

    /// Takes a peer's wire indices out of the table: its Noise state is going.
    pub fn forget(&mut self, noise: &Noise) {
        for wire in noise.wire {
            if wire != NONE {
                self.by_wire.remove(&wire);
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_wire.len()
    }
}

/// Writes boringtun's index into a data packet in place of the wire's.
pub(crate) fn unwrap_data(packet: &mut [u8], internal: u32) {
    write_index(packet, 4, internal);
}

/// Writes boringtun's index into a handshake response to us in place of the wire's, and
/// the mac1 that covers it; false (and nothing written) if the response did not carry
/// our mac1 as it came.
pub(crate) fn unwrap_response(response: &mut [u8], internal: u32, ours: &MacKeys) -> bool {
    if !ours.mac1_valid(response) {
        return false;
    }
    write_index(response, 8, internal);
    ours.write_mac1(response);
    true
}

/// The peer an index of boringtun's belongs to.
pub(crate) fn owner_of(internal: u32) -> PeerRef {
    PeerRef::from_receiver_index(internal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boringtun::x25519::{PublicKey, StaticSecret};

    fn noise() -> Noise {
        let ours = StaticSecret::random_from_rng(rand::thread_rng());
        let theirs = PublicKey::from(&StaticSecret::random_from_rng(rand::thread_rng()));
        let tunn = Tunn::new(ours, theirs, None, None, 5, None);
        Noise::new(tunn, theirs.as_bytes())
    }

    /// Every initiation gets an index never seen before, not derived from the last, in
    /// the table as long as boringtun may still answer to it and no longer.
    #[test]
    fn each_handshake_gets_a_fresh_index_and_the_table_stays_small() {
        let cipher = Arc::new(IndexCipher::random());
        let mut table = SessionIndices::new(3, cipher.clone());
        let mut noise = noise();
        let mut seen = std::collections::HashSet::new();
        let mut buf = vec![0u8; 256];
        for _ in 0..1000 {
            let boringtuns = match noise.tunn.format_handshake_initiation(&mut buf, true) {
                boringtun::noise::TunnResult::WriteToNetwork(m) => {
                    let internal = index_at(m, 4).unwrap();
                    table.outgoing(&mut noise, m, Instant::now());
                    let wire = index_at(m, 4).unwrap();
                    assert!(seen.insert(wire), "an index came again");
                    assert_eq!(cipher.shard_of(wire), 3);
                    assert_eq!(table.lookup(wire), Some(internal));
                    assert!(noise.keys.mac1_valid(m), "mac1 made again");
                    internal
                }
                other => panic!("no initiation: {other:?}"),
            };
            assert_eq!(owner_of(boringtuns).slot, 5);
            assert!(table.len() <= SESSION_SLOTS);
        }
        table.forget(&noise);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_response_is_unwrapped_only_with_our_mac1() {
        let ours = MacKeys::new(&[1; 32]);
        let mut response = vec![2u8; 92];
        ours.write_mac1(&mut response);
        let mut forged = response.clone();
        forged[8] ^= 1;
        assert!(!unwrap_response(&mut forged, 77, &ours));
        assert!(unwrap_response(&mut response, 77, &ours));
        assert_eq!(index_at(&response, 8).unwrap(), 77);
        assert!(ours.mac1_valid(&response));
    }
}
