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

use crate::io::BatchTun;
use crate::tun_batch::{TunReadBuffers, TunWriteBatch};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use tun_rs::{DeviceBuilder, SyncDevice};
use wiregate_core::config::DEFAULT_MTU;

// The coalescer writes the virtio header tun-rs reads (it is the kernel's ABI).
const _: () = assert!(crate::coalesce::VIRTIO_NET_HDR_LEN == tun_rs::VIRTIO_NET_HDR_LEN);

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

    pub fn raw_fd(&self) -> RawFd {
        self.dev.as_raw_fd()
    }
}

impl BatchTun for TunQueue {
    fn read(&self, rx: &mut TunReadBuffers) -> io::Result<usize> {
        let n = self
            .dev
            .recv_multiple(&mut rx.raw, &mut rx.segments, &mut rx.sizes, 0)?;
        rx.count = n;
        Ok(n)
    }

    /// Coalesces the batch first when offloads are on.
    fn write(&self, batch: &mut TunWriteBatch) -> usize {
        if !self.offload() {
            return batch.write_each(|packet| nix::unistd::write(&self.dev, packet).is_ok());
        }
        let n = std::mem::take(&mut batch.len);
        let (bufs, lens) = (&mut batch.bufs[..n], &batch.lens[..n]);
        batch.coalescer.plan(bufs, lens, self.dev.udp_gso());
        batch.coalescer.gather(bufs, lens, |iov| {
            nix::sys::uio::writev(&self.dev, iov)
                .inspect_err(|e| tracing::debug!(error = %e, "TUN write refused"))
                .is_ok()
        })
    }

    fn mtu(&self) -> io::Result<u16> {
        self.dev.mtu()
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.raw_fd())
    }
}
