//! boringtun's receiver indices, which say which shard and slot own them.
//!
//! boringtun's `Tunn` takes a 24-bit peer index and uses it as the top 24 bits of every
//! session's 32-bit receiver index (the low 8 bits count sessions). We put the owning
//! shard in the top bits of that peer index and the peer's slot in the shard's table in
//! the rest, so boringtun's index of a session names its owner and its peer without a
//! lookup. These indices stay inside: the wire sees random ones (`sessions.rs`).
//!
//! ```text
//!  31        26 25                     8 7        0
//! +------------+------------------------+----------+
//! |   shard    |          slot          | session  |
//! +------------+------------------------+----------+
//! ```

/// Bits of the receiver index that name the shard (tunable; 64 shards).
pub const SHARD_BITS: u32 = 6;
/// Bits that name the slot within the shard: 262,144 peers per shard.
pub const SLOT_BITS: u32 = 24 - SHARD_BITS;
pub const MAX_SHARDS: usize = 1 << SHARD_BITS;
pub const MAX_SLOTS: usize = 1 << SLOT_BITS;

/// Where a peer lives: its shard and its slot in that shard's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerRef {
    pub shard: u16,
    pub slot: u32,
}

impl PeerRef {
    /// The 24-bit index handed to `Tunn::new`.
    pub fn peer_index(self) -> u32 {
        debug_assert!((self.shard as usize) < MAX_SHARDS && (self.slot as usize) < MAX_SLOTS);
        (u32::from(self.shard) << SLOT_BITS) | self.slot
    }

    /// The peer that a receiver index (as carried in a packet) belongs to.
    #[inline]
    pub fn from_receiver_index(index: u32) -> Self {
        let peer_index = index >> 8;
        Self {
            shard: (peer_index >> SLOT_BITS) as u16,
            slot: peer_index & (MAX_SLOTS as u32 - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn every_session_index_maps_back_to_its_peer() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..100_000 {
            let r = PeerRef {
                shard: rng.gen_range(0..MAX_SHARDS as u16),
                slot: rng.gen_range(0..MAX_SLOTS as u32),
            };
            // boringtun shifts the peer index left by 8 and counts sessions below it.
            let session = rng.r#gen::<u8>() as u32;
            let receiver = (r.peer_index() << 8) | session;
            assert_eq!(PeerRef::from_receiver_index(receiver), r);
        }
    }

    #[test]
    fn corners() {
        let last = PeerRef {
            shard: MAX_SHARDS as u16 - 1,
            slot: MAX_SLOTS as u32 - 1,
        };
        assert_eq!(last.peer_index(), 0x00ff_ffff);
        assert_eq!(PeerRef::from_receiver_index(u32::MAX), last);
        assert_eq!(
            PeerRef::from_receiver_index(0),
            PeerRef { shard: 0, slot: 0 }
        );
    }
}
