//! The TUN device: a multi-queue Linux TUN interface, one queue per shard, so each shard
//! reads and writes its own file descriptor and the kernel spreads outbound flows across
//! queues by flow hash.
//!
//! Packets are plain IP (`IFF_NO_PI`). Offloads (`IFF_VNET_HDR`, TSO/GRO) are not enabled
//! yet; every read and write is one packet.
#![allow(unsafe_code)] // TUNSETIFF has no safe wrapper; each use says why it is sound.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;

const TUN_PATH: &str = "/dev/net/tun";
/// `_IOW('T', 202, int)` from `<linux/if_tun.h>`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;
const IFF_MULTI_QUEUE: libc::c_short = 0x0100;

/// One queue of a TUN device, owned by one shard.
#[derive(Debug)]
pub struct TunQueue {
    file: File,
}

/// Opens (creating if needed) the TUN interface `name` with `queues` queues.
///
/// The interface lives as long as one queue is open; it disappears when the last one is
/// closed, or when someone deletes the link (then reads fail and the device shuts down).
pub fn open(name: &str, queues: usize) -> io::Result<Vec<TunQueue>> {
    (0..queues.max(1)).map(|_| open_queue(name)).collect()
}

fn open_queue(name: &str) -> io::Result<TunQueue> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(TUN_PATH)
        .map_err(|e| io::Error::new(e.kind(), format!("{TUN_PATH}: {e}")))?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE;
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `req` is, and the
    // descriptor is an open /dev/net/tun.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, &mut req) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("creating TUN {name}: {e}"),
        ));
    }
    Ok(TunQueue { file })
}

impl TunQueue {
    /// Reads one packet; `WouldBlock` when the queue is empty.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }

    /// Writes one packet.
    pub fn write(&self, packet: &[u8]) -> io::Result<usize> {
        (&self.file).write(packet)
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}
