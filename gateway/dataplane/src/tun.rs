//! The TUN device: a multi-queue Linux TUN interface, one queue per shard, so each shard
//! reads and writes its own file descriptor and the kernel spreads outbound flows across
//! queues by flow hash.
//!
//! Offloads: the device is opened with `IFF_VNET_HDR` and TSO/checksum offload when the
//! kernel allows it (probed once per device; the fallback is logged). Then the kernel
//! hands us TCP super-packets of up to 64 KiB, which are split into MTU-sized segments
//! here, and the decrypted packets of one batch are coalesced per TCP/UDP flow before
//! they are written, so the kernel sees a few large packets instead of many small ones.
//! Reads and their segmentation come from `tun-rs` (a port of wireguard-go's Linux
//! offload code); coalescing is ours (`coalesce.rs`), because tun-rs's copies each packet
//! twice. This file owns buffers and batching.

use crate::coalesce::Coalescer;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use tun_rs::{DeviceBuilder, SyncDevice, VIRTIO_NET_HDR_LEN};
use wiregate_core::config::DEFAULT_MTU;

/// Segments one TUN read may split into (tunable; wireguard-go's `IdealBatchSize`). A
/// 64 KiB super-packet at the smallest MSS a 1280-byte MTU allows needs about 50.
const READ_SEGMENTS: usize = 128;
/// Largest IP packet a segment buffer holds: any MTU the config allows.
const SEGMENT_BYTES: usize = 64 << 10;
/// A segment buffer: a packet and room to pad it in place.
const SEGMENT_BUFFER: usize = SEGMENT_BYTES + crate::padding::TAIL_ROOM;
/// Decrypted packets gathered before they are written (tunable).
pub(crate) const WRITE_BATCH: usize = 256;

/// One queue of a TUN device, owned by one shard.
pub struct TunQueue {
    dev: SyncDevice,
}

impl std::fmt::Debug for TunQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TunQueue(fd {}, offload {})",
            self.raw_fd(),
            self.offload()
        )
    }
}

/// Packets the kernel may queue per TUN queue for a shard to read. The kernel drops what
/// does not fit (the TUN ring has no backpressure before Linux 7.3), and the default of 500
/// is less than a shard's read burst while it is busy with a batch from the socket.
const TX_QUEUE_LEN: u32 = 1000;

/// Opens (creating if needed) the TUN interface `name` with `queues` queues, with
/// offloads if the kernel supports them.
///
/// The interface lives as long as one queue is open; it disappears when the last one is
/// closed, or when someone deletes the link (then reads fail and the device shuts down).
pub fn open(name: &str, queues: usize) -> io::Result<Vec<TunQueue>> {
    let first = match build(name, true) {
        Ok(dev) => dev,
        Err(e) => {
            tracing::warn!(tun = name, error = %e, "TUN offloads unavailable; one packet per read and write");
            build(name, false)?
        }
    };
    queues_of(name, first, queues)
}

/// Opens `name` as [`open`] does on a kernel without TUN offloads: the fallback path.
pub fn open_without_offloads(name: &str, queues: usize) -> io::Result<Vec<TunQueue>> {
    queues_of(name, build(name, false)?, queues)
}

fn queues_of(name: &str, first: SyncDevice, queues: usize) -> io::Result<Vec<TunQueue>> {
    let mut all = Vec::with_capacity(queues.max(1));
    for _ in 1..queues.max(1) {
        all.push(first.try_clone().map_err(|e| context(name, e))?);
    }
    all.insert(0, first);
    all.into_iter()
        .map(|dev| {
            dev.set_nonblocking(true).map_err(|e| context(name, e))?;
            Ok(TunQueue { dev })
        })
        .collect()
}

fn build(name: &str, offload: bool) -> io::Result<SyncDevice> {
    if name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    // Addresses, routes and the link state are netconf's: tun-rs only opens it. A new
    // device starts at WireGuard's MTU, as wireguard-go's does, so a drop-in interface that
    // nobody configures does not send outer datagrams larger than a 1500-byte underlay.
    DeviceBuilder::new()
        .name(name)
        .inherit_enable_state()
        .mtu(DEFAULT_MTU)
        .multi_queue(true)
        .offload(offload)
        .with(|device| {
            device.tx_queue_len(TX_QUEUE_LEN);
        })
        .build_sync()
        .map_err(|e| context(name, e))
}

fn context(name: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("TUN {name}: {e}"))
}

impl TunQueue {
    /// Whether reads may return super-packets and writes are coalesced.
    pub fn offload(&self) -> bool {
        self.dev.tcp_gso()
    }

    /// Reads one packet (or one super-packet, split) into `rx`; the packets are
    /// `rx.packets_mut()`. `WouldBlock` when the queue is empty; an error without an OS code
    /// is a malformed super-packet from the kernel, and the queue is still usable.
    pub fn read(&self, rx: &mut TunReadBuffers) -> io::Result<usize> {
        let n = self
            .dev
            .recv_multiple(&mut rx.raw, &mut rx.segments, &mut rx.sizes, 0)?;
        rx.count = n;
        Ok(n)
    }

    /// Writes the batch (coalescing it first when offloads are on) and empties it.
    /// Returns how many packets the kernel refused.
    pub fn write(&self, batch: &mut TunWriteBatch) -> usize {
        let n = std::mem::take(&mut batch.len);
        let (bufs, lens) = (&mut batch.bufs[..n], &batch.lens[..n]);
        if self.offload() {
            batch.coalescer.plan(bufs, lens, self.dev.udp_gso());
            batch.coalescer.gather(bufs, lens, |iov| {
                nix::sys::uio::writev(&self.dev, iov)
                    .inspect_err(|e| tracing::debug!(error = %e, "TUN write refused"))
                    .is_ok()
            })
        } else {
            bufs.iter()
                .zip(lens)
                .filter(|&(buf, &len)| nix::unistd::write(&self.dev, &buf[..len]).is_err())
                .count()
        }
    }

    /// The interface's MTU now (it may change under us: wg-quick sets it after creating
    /// the interface).
    pub fn mtu(&self) -> io::Result<u16> {
        self.dev.mtu()
    }

    pub fn raw_fd(&self) -> RawFd {
        self.dev.as_raw_fd()
    }
}

/// A shard's TUN read buffers: the raw read (virtio header and up to 64 KiB) and the
/// segments it is split into, each with room to pad it in place. Segment buffers are zeroed allocations, mapped lazily, so
/// only the pages packets touch become resident; they are kept as separate buffers
/// because tun-rs takes them as a slice of buffers, which a read then needs no
/// per-call array of slices for (that array cost more than the read of a small packet).
#[derive(Debug)]
pub struct TunReadBuffers {
    raw: Vec<u8>,
    segments: Vec<Vec<u8>>,
    sizes: [usize; READ_SEGMENTS],
    count: usize,
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
    bufs: Vec<Vec<u8>>,
    lens: Vec<usize>,
    len: usize,
    coalescer: Coalescer,
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
}
