//! Packets handed from the shard that received them to the shard that owns their peer.
//! With kernel steering these are initiations (they name their peer only inside their
//! encryption) and plaintext the kernel put on another shard's TUN queue. A batch lays
//! its packets end to end in one buffer, so a batch costs one allocation, not one per
//! packet.

use crate::io::Path;
use std::ops::Range;

/// Where a handed-over packet came from, and for which of the owner's peers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Handoff {
    /// An initiation, for the peer its sender's key names.
    Initiation {
        slot: u32,
        generation: u32,
        from: Path,
    },
    /// A datagram that names its session by a receiver index the owner keeps.
    Indexed { from: Path },
    /// A plaintext packet from the TUN device, for the placement that routing named.
    Tunnel { slot: u32, generation: u32 },
}

#[derive(Debug, Default)]
pub(crate) struct HandoffBatch {
    bytes: Vec<u8>,
    items: Vec<(Handoff, Range<usize>)>,
}

impl HandoffBatch {
    pub fn push(&mut self, handoff: Handoff, data: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(data);
        self.items.push((handoff, start..self.bytes.len()));
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Takes the batch, leaving an empty one with room for as much.
    pub fn take(&mut self) -> Self {
        let room = Self {
            bytes: Vec::with_capacity(self.bytes.capacity()),
            items: Vec::with_capacity(self.items.capacity()),
        };
        std::mem::replace(self, room)
    }

    /// Calls `f` with each packet, which it may change in place.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(Handoff, &mut [u8])) {
        for (handoff, range) in &self.items {
            f(*handoff, &mut self.bytes[range.clone()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_come_back_in_order_and_intact() {
        let mut batch = HandoffBatch::default();
        let from = Path::to("192.0.2.1:7".parse().unwrap());
        batch.push(
            Handoff::Tunnel {
                slot: 3,
                generation: 0,
            },
            b"abc",
        );
        batch.push(Handoff::Indexed { from }, b"");
        batch.push(
            Handoff::Tunnel {
                slot: 5,
                generation: 1,
            },
            b"defg",
        );
        let mut taken = batch.take();
        assert!(batch.is_empty());
        let mut got: Vec<(String, Vec<u8>)> = Vec::new();
        taken.for_each_mut(|h, d| got.push((format!("{h:?}"), d.to_vec())));
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].1, b"abc");
        assert!(got[1].0.contains("Indexed") && got[1].1.is_empty());
        assert_eq!(got[2].1, b"defg");
        assert_eq!(taken.len(), 3);
    }
}
