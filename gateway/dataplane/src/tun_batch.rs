//! The buffers a shard reads its TUN queue into and gathers decrypted packets in before
//! they are written: shared by every [`crate::io::BatchTun`], real or in memory.

use crate::coalesce::{Coalescer, VIRTIO_NET_HDR_LEN};

/// Segments one TUN read may split into (tunable; wireguard-go's `IdealBatchSize`). A
/// 64 KiB super-packet at the smallest MSS a 1280-byte MTU allows needs about 50.
pub(crate) const READ_SEGMENTS: usize = 128;
/// Largest IP packet a segment buffer holds: any MTU the config allows.
const SEGMENT_BYTES: usize = 64 << 10;
/// A segment buffer: a packet and room to pad it in place.
const SEGMENT_BUFFER: usize = SEGMENT_BYTES + crate::padding::TAIL_ROOM;
/// Decrypted packets gathered before they are written (tunable).
pub(crate) const WRITE_BATCH: usize = 256;

/// A shard's TUN read buffers: the raw read (virtio header and up to 64 KiB) and the
/// segments it is split into, each with room to pad it in place. Segment buffers are
/// zeroed allocations, mapped lazily, so only the pages packets touch become resident;
/// they are kept as separate buffers because tun-rs takes them as a slice of buffers,
/// which a read then needs no per-call array of slices for (that array cost more than
/// the read of a small packet).
#[derive(Debug)]
pub struct TunReadBuffers {
    pub(crate) raw: Vec<u8>,
    pub(crate) segments: Vec<Vec<u8>>,
    pub(crate) sizes: [usize; READ_SEGMENTS],
    pub(crate) count: usize,
}

impl TunReadBuffers {
    pub fn new() -> Self {
        Self {
            raw: vec![0; VIRTIO_NET_HDR_LEN + u16::MAX as usize],
            segments: (0..READ_SEGMENTS)
                .map(|_| vec![0; SEGMENT_BUFFER])
                .collect(),
            sizes: [0; READ_SEGMENTS],
            count: 0,
        }
    }

    /// Makes `packet` the one packet of this read, as a queue without offloads reads it;
    /// the part past the segment buffer's size is cut off. Returns the packets read (1).
    pub fn set_single(&mut self, packet: &[u8]) -> usize {
        let n = packet.len().min(SEGMENT_BYTES);
        self.segments[0][..n].copy_from_slice(&packet[..n]);
        self.sizes[0] = n;
        self.count = 1;
        1
    }

    /// The packets of the last read as (buffer, length): the buffer goes on past the
    /// packet, so it can be padded in place.
    pub(crate) fn packets_mut(&mut self) -> impl Iterator<Item = (&mut [u8], usize)> {
        self.sizes[..self.count]
            .iter()
            .zip(&mut self.segments)
            .map(|(&n, segment)| (&mut segment[..], n))
    }
}

impl Default for TunReadBuffers {
    fn default() -> Self {
        Self::new()
    }
}

/// Decrypted packets waiting to be written to a TUN queue, each decrypted straight into
/// a buffer of its own that is kept for the next batch. Buffers keep their length (a
/// packet's is in `lens`), so reusing one costs no zeroing.
#[derive(Default)]
pub struct TunWriteBatch {
    pub(crate) bufs: Vec<Vec<u8>>,
    pub(crate) lens: Vec<usize>,
    pub(crate) len: usize,
    pub(crate) coalescer: Coalescer,
}

impl std::fmt::Debug for TunWriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TunWriteBatch({} packets)", self.len)
    }
}

impl TunWriteBatch {
    /// Room for a packet of at most `max` bytes. Follow with [`commit`](Self::commit)
    /// to keep it; without, the space is reused.
    pub fn reserve(&mut self, max: usize) -> &mut [u8] {
        if self.bufs.len() == self.len {
            self.bufs.push(Vec::new());
            self.lens.push(0);
        }
        let buf = &mut self.bufs[self.len];
        if buf.len() < max {
            buf.resize(max, 0);
        }
        &mut buf[..max]
    }

    /// Keeps the first `len` bytes of the last reservation as a packet.
    pub fn commit(&mut self, len: usize) {
        self.lens[self.len] = len;
        self.len += 1;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Empties the batch, calling `write` with each packet in order, as a queue without
    /// offloads writes them; returns how many `write` refused (returned false for).
    pub fn write_each(&mut self, mut write: impl FnMut(&[u8]) -> bool) -> usize {
        let n = std::mem::take(&mut self.len);
        self.bufs[..n]
            .iter()
            .zip(&self.lens[..n])
            .filter(|&(buf, &len)| !write(&buf[..len]))
            .count()
    }
}
