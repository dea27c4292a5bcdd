//! Outgoing datagrams of one shard, gathered during a batch and sent at its end: runs of
//! same-size datagrams to one destination go out as one GSO send.

use crate::stats::{ShardStats, bump};
use crate::udp::Udp;
use std::net::SocketAddr;

/// Bytes of datagrams a batch holds before it is sent (tunable).
const BATCH_BYTES: usize = 512 << 10;
/// Largest UDP payload the kernel segments in one GSO send.
const GSO_MAX_BYTES: usize = 65_000;

#[derive(Debug)]
pub(crate) struct SendBatch {
    buf: Vec<u8>,
    used: usize,
    /// (destination, length) of each datagram, laid end to end in `buf`.
    datagrams: Vec<(SocketAddr, usize)>,
}

impl SendBatch {
    pub fn new() -> Self {
        Self {
            buf: vec![0; BATCH_BYTES],
            used: 0,
            datagrams: Vec::with_capacity(256),
        }
    }

    /// Room for a datagram of at most `max` bytes, sending what is queued first if the
    /// batch is full. Follow with [`commit`](Self::commit).
    pub fn reserve(&mut self, max: usize, udp: &Udp, stats: &ShardStats) -> &mut [u8] {
        if self.used + max > self.buf.len() {
            self.flush(udp, stats);
        }
        if max > self.buf.len() {
            self.buf.resize(max, 0);
        }
        &mut self.buf[self.used..self.used + max]
    }

    /// Queues the first `len` bytes of the last reservation for `to`.
    pub fn commit(&mut self, to: SocketAddr, len: usize) {
        self.used += len;
        self.datagrams.push((to, len));
    }

    /// Queues a copy of `datagram` for `to`.
    pub fn push(&mut self, to: SocketAddr, datagram: &[u8], udp: &Udp, stats: &ShardStats) {
        self.reserve(datagram.len(), udp, stats)[..datagram.len()].copy_from_slice(datagram);
        self.commit(to, datagram.len());
    }

    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Sends everything queued. A run of datagrams to one destination whose sizes are
    /// equal (the last may be smaller) becomes one GSO send.
    pub fn flush(&mut self, udp: &Udp, stats: &ShardStats) {
        let max_segments = udp.max_segments().max(1);
        let mut offset = 0;
        let mut i = 0;
        while i < self.datagrams.len() {
            let (to, segment) = self.datagrams[i];
            let mut end = offset + segment;
            let mut count = 1;
            while let Some(&(next_to, next_len)) = self.datagrams.get(i + count) {
                let fits = count < max_segments && end + next_len - offset <= GSO_MAX_BYTES;
                if next_to != to || next_len > segment || !fits {
                    break;
                }
                end += next_len;
                count += 1;
                if next_len < segment {
                    break; // a shorter datagram can only end a run
                }
            }
            let gso = (count > 1).then_some(segment);
            match udp.send(to, &self.buf[offset..end], gso) {
                Ok(()) => bump(&stats.tx_bytes, (end - offset) as u64),
                Err(e) => {
                    bump(&stats.drop_io, count as u64);
                    tracing::debug!(%to, error = %e, "udp send failed");
                }
            }
            bump(&stats.udp_send_calls, 1);
            offset = end;
            i += count;
        }
        self.used = 0;
        self.datagrams.clear();
    }
}
