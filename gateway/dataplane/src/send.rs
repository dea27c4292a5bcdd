//! Outgoing datagrams of one shard, gathered during a batch and sent at its end.
//!
//! A gateway's batch carries datagrams for many peers, interleaved as their packets came
//! from the TUN. At the end of the batch they are grouped by destination (keeping each
//! peer's order), a destination's run of same-size datagrams becomes one GSO message,
//! and the messages of the batch leave in one `sendmmsg` per segment size, so the number
//! of system calls does not grow with the number of peers in the batch. Each datagram
//! leaves from the local address its peer wrote to (`io::Path`); a batch's messages go
//! in one call per source address, and there is rarely more than one.

use crate::io::{BatchSocket, Outgoing, Path};
use crate::stats::{ShardStats, bump};
use std::io::{self, IoSlice};
use std::net::IpAddr;

/// Bytes of datagrams a batch holds before it is sent (tunable).
const BATCH_BYTES: usize = 512 << 10;
/// Largest UDP payload the kernel segments in one GSO send.
const GSO_MAX_BYTES: usize = 65_000;
/// Most messages one `sendmmsg` takes (the kernel's `UIO_MAXIOV`).
const MAX_MESSAGES: usize = 1024;

#[derive(Debug)]
pub(crate) struct SendBatch {
    buf: Vec<u8>,
    used: usize,
    /// Each datagram: its destination and where it lies in `buf`.
    datagrams: Vec<Datagram>,
    /// Indices into `datagrams`, grouped by destination at flush time.
    order: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Datagram {
    to: Path,
    start: usize,
    len: usize,
}

/// Consecutive entries of `order` for one destination, all `segment` bytes long but the
/// last, which may be shorter.
#[derive(Debug, Clone, Copy)]
struct Run {
    to: Path,
    segment: usize,
    first: usize,
    count: usize,
}

impl SendBatch {
    pub fn new() -> Self {
        Self {
            buf: vec![0; BATCH_BYTES],
            used: 0,
            datagrams: Vec::with_capacity(512),
            order: Vec::with_capacity(512),
        }
    }

    /// Room for a datagram of at most `max` bytes, sending what is queued first if the
    /// batch is full. Follow with [`commit`](Self::commit).
    pub fn reserve(&mut self, max: usize, udp: &dyn BatchSocket, stats: &ShardStats) -> &mut [u8] {
        if self.used + max > self.buf.len() {
            self.flush(udp, stats);
        }
        if max > self.buf.len() {
            self.buf.resize(max, 0);
        }
        &mut self.buf[self.used..self.used + max]
    }

    /// Queues the first `len` bytes of the last reservation for `to`.
    pub fn commit(&mut self, to: Path, len: usize) {
        self.datagrams.push(Datagram {
            to,
            start: self.used,
            len,
        });
        self.used += len;
    }

    /// Queues a copy of `datagram` for `to`.
    pub fn push(&mut self, to: Path, datagram: &[u8], udp: &dyn BatchSocket, stats: &ShardStats) {
        self.reserve(datagram.len(), udp, stats)[..datagram.len()].copy_from_slice(datagram);
        self.commit(to, datagram.len());
    }

    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// Sends everything queued.
    pub fn flush(&mut self, udp: &dyn BatchSocket, stats: &ShardStats) {
        self.group_by_destination();
        let runs = self.runs(udp.max_segments().max(1));
        let iov: Vec<IoSlice<'_>> = self
            .order
            .iter()
            .map(|&i| {
                let d = self.datagrams[i as usize];
                IoSlice::new(&self.buf[d.start..d.start + d.len])
            })
            .collect();
        // Lone datagrams need no segment size and go together; runs go together with
        // the others of their segment size; either, with the others of their source.
        let (mut alone, mut segmented): (Vec<Run>, Vec<Run>) =
            runs.into_iter().partition(|r| r.count == 1);
        alone.sort_by_key(|r| r.to.local);
        segmented.sort_unstable_by_key(|r| (r.segment, r.to.local));
        for group in alone.chunk_by(|a, b| a.to.local == b.to.local) {
            send_runs(udp, stats, &iov, group, None, group[0].to.local);
        }
        for group in segmented.chunk_by(|a, b| (a.segment, a.to.local) == (b.segment, b.to.local)) {
            let segment = Some(group[0].segment as u16);
            send_runs(udp, stats, &iov, group, segment, group[0].to.local);
        }
        self.used = 0;
        self.datagrams.clear();
        self.order.clear();
    }

    /// Fills `order` with the datagrams grouped by destination, each destination's in the
    /// order they were queued (the index breaks ties, so the unstable sort allocates
    /// nothing and is stable in effect).
    fn group_by_destination(&mut self) {
        self.order.clear();
        self.order.extend(0..self.datagrams.len() as u32);
        let single = self.datagrams.windows(2).all(|w| w[0].to == w[1].to);
        if !single {
            let datagrams = &self.datagrams;
            self.order
                .sort_unstable_by_key(|&i| (datagrams[i as usize].to, i));
        }
    }

    /// Cuts `order` into runs that one GSO message can carry.
    fn runs(&self, max_segments: usize) -> Vec<Run> {
        let mut runs = Vec::new();
        let mut first = 0;
        while first < self.order.len() {
            let head = self.datagrams[self.order[first] as usize];
            let mut bytes = head.len;
            let mut count = 1;
            while let Some(&next) = self.order.get(first + count) {
                let next = self.datagrams[next as usize];
                let fits = count < max_segments && bytes + next.len <= GSO_MAX_BYTES;
                if next.to != head.to || next.len > head.len || !fits {
                    break;
                }
                bytes += next.len;
                count += 1;
                if next.len < head.len {
                    break; // a shorter datagram can only end a run
                }
            }
            runs.push(Run {
                to: head.to,
                segment: head.len,
                first,
                count,
            });
            first += count;
        }
        runs
    }
}

/// Sends `runs` (whose datagrams are `iov[first..first + count]`) from `from` in as few
/// `sendmmsg` calls as the kernel takes. A message the kernel refuses is dropped and
/// counted; if it refuses segmentation altogether, the rest go one datagram per message;
/// if the source address is no longer this host's (a floating address that moved away),
/// the rest go from wherever the routing table says.
fn send_runs(
    udp: &dyn BatchSocket,
    stats: &ShardStats,
    iov: &[IoSlice<'_>],
    runs: &[Run],
    segment: Option<u16>,
    from: Option<IpAddr>,
) {
    let messages: Vec<Outgoing<'_>> = runs
        .iter()
        .map(|r| Outgoing {
            to: r.to.remote,
            iov: &iov[r.first..r.first + r.count],
        })
        .collect();
    let mut at = 0;
    while at < messages.len() {
        bump(&stats.udp_send_calls, 1);
        let end = messages.len().min(at + MAX_MESSAGES);
        match udp.send_messages(&messages[at..end], segment, from) {
            Ok(sent) => {
                stats
                    .udp_tx_batch
                    .observe(messages[at..at + sent].iter().map(|m| m.iov.len()).sum());
                let bytes: usize = messages[at..at + sent]
                    .iter()
                    .flat_map(|m| m.iov.iter())
                    .map(|s| s.len())
                    .sum();
                bump(&stats.tx_bytes, bytes as u64);
                at += sent.max(1);
            }
            Err(e) if segment.is_some() && udp.max_segments() == 1 => {
                tracing::debug!(error = %e, "segmented send refused; resending alone");
                let alone: Vec<Run> = runs[at..].iter().flat_map(split).collect();
                return send_runs(udp, stats, iov, &alone, None, from);
            }
            // The kernel's answers to a source it does not have (EINVAL from the route
            // lookup, ENETUNREACH when no route leaves from it); if the destination is
            // what is unreachable, the retry says so again and is counted.
            Err(e)
                if from.is_some()
                    && matches!(
                        e.kind(),
                        io::ErrorKind::InvalidInput
                            | io::ErrorKind::AddrNotAvailable
                            | io::ErrorKind::NetworkUnreachable
                    ) =>
            {
                tracing::debug!(?from, error = %e, "source address gone; sending as routed");
                return send_runs(udp, stats, iov, &runs[at..], segment, None);
            }
            Err(e) => {
                bump(&stats.drop_io, messages[at].iov.len() as u64);
                tracing::debug!(to = %messages[at].to, error = %e, "udp send failed");
                at += 1;
            }
        }
    }
}

/// A run as runs of one datagram each.
fn split(run: &Run) -> impl Iterator<Item = Run> + '_ {
    (0..run.count).map(move |i| Run {
        first: run.first + i,
        count: 1,
        ..*run
    })
}

// Against a real socket, whose kernel segments and routes.
#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::udp::Udp;
    use std::net::{SocketAddr, UdpSocket};
    use std::time::Duration;

    fn receiver() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        socket
    }

    /// Every datagram of `socket` until `count`, as (length, first byte).
    fn received(socket: &UdpSocket, count: usize) -> Vec<(usize, u8)> {
        let mut buf = [0u8; 2048];
        (0..count)
            .map(|_| {
                let n = socket.recv(&mut buf).expect("datagram");
                (n, buf[0])
            })
            .collect()
    }

    #[test]
    fn interleaved_peers_leave_grouped_in_few_calls_and_in_order() {
        let udp = Udp::bind_group(0, 1, 0, &crate::index_cipher::IndexCipher::random())
            .unwrap()
            .remove(0);
        let stats = ShardStats::default();
        let (a, b, c) = (receiver(), receiver(), receiver());
        let to = |s: &UdpSocket| Path::to(s.local_addr().unwrap());
        let mut batch = SendBatch::new();
        for i in 0..10u8 {
            batch.push(to(&a), &[i; 100], &udp, &stats);
            batch.push(to(&b), &[100 + i; 100], &udp, &stats);
            batch.push(to(&c), &[200 + i; 50], &udp, &stats);
        }
        batch.push(to(&a), &[10; 60], &udp, &stats);
        // Grouped by peer, each peer's datagrams are one run (a's shorter one ends it).
        batch.group_by_destination();
        let mut runs: Vec<(Path, usize, usize)> = batch
            .runs(64)
            .iter()
            .map(|r| (r.to, r.segment, r.count))
            .collect();
        runs.sort();
        let mut want = vec![(to(&a), 100, 11), (to(&b), 100, 10), (to(&c), 50, 10)];
        want.sort();
        assert_eq!(runs, want);
        batch.flush(&udp, &stats);

        let mut want_a: Vec<(usize, u8)> = (0..10).map(|i| (100, i)).collect();
        want_a.push((60, 10));
        assert_eq!(received(&a, 11), want_a);
        assert_eq!(
            received(&b, 10),
            (0..10).map(|i| (100, 100 + i)).collect::<Vec<_>>()
        );
        assert_eq!(
            received(&c, 10),
            (0..10).map(|i| (50, 200 + i)).collect::<Vec<_>>()
        );
        let counters = stats.snapshot();
        assert_eq!(counters.tx_bytes, 2060 + 500);
        // With GSO: one call for the 100-byte runs (a and b), one for c's; without it,
        // one call for all 31 datagrams. Never a call per peer or per datagram.
        assert!(counters.udp_send_calls <= 2, "{counters:?}");
        assert!(batch.is_empty());
    }

    /// A datagram whose peer wrote to an address this host no longer has (a floating
    /// address that moved away) leaves as routed instead of being lost; the others keep
    /// their source.
    #[test]
    fn a_source_that_is_gone_falls_back_to_the_routed_one() {
        let udp = Udp::bind_group(0, 1, 0, &crate::index_cipher::IndexCipher::random())
            .unwrap()
            .remove(0);
        let port = udp.local_port().unwrap();
        let stats = ShardStats::default();
        let a = receiver();
        let remote = a.local_addr().unwrap();
        let mut batch = SendBatch::new();
        for local in ["192.0.2.77", "127.0.0.5"] {
            let to = Path {
                remote,
                local: Some(local.parse().unwrap()),
            };
            batch.push(to, b"x", &udp, &stats);
        }
        batch.flush(&udp, &stats);
        let mut buf = [0u8; 16];
        let mut sources: Vec<SocketAddr> =
            (0..2).map(|_| a.recv_from(&mut buf).unwrap().1).collect();
        sources.sort();
        let expected: Vec<SocketAddr> = vec![
            ("127.0.0.1".parse::<IpAddr>().unwrap(), port).into(),
            ("127.0.0.5".parse::<IpAddr>().unwrap(), port).into(),
        ];
        assert_eq!(sources, expected);
        assert_eq!(stats.snapshot().drop_io, 0);
    }
}
