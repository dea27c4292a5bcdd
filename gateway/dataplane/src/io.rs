//! The I/O seam: the two batch interfaces a shard's loop works over, one for its UDP
//! socket and one for its TUN queue (wireguard-go's `conn.Bind` and `tun.Device` play
//! the same part). On Linux the real ones are `udp::Udp` and `tun::TunQueue`; the
//! in-memory ones of [`crate::memory`] let the engine's logic run in a test, in one
//! thread, without root and in simulated time.
//!
//! Both are batched, as the real ones are: a receive fills many buffers in one call and a
//! send takes many messages, so that a double sees the engine's batches exactly as the
//! kernel does.

use crate::tun_batch::{TunReadBuffers, TunWriteBatch};
use std::fmt::Debug;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr};

/// What a receive says of each buffer it filled (quinn-udp's: source, length, segment
/// size of a GRO batch, and the local address it arrived at).
pub use quinn_udp::RecvMeta;

/// The path between a peer and this gateway: the peer's address and port, and the local
/// address its datagrams arrive at. Replies leave from that local address, as the kernel's
/// and wireguard-go's do ("sticky sockets"): on a host with several addresses (a
/// floating address that moves between gateways, say) a peer hears back from the address
/// it wrote to, and does not roam to another that may not move with the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path {
    pub remote: SocketAddr,
    /// `None`: wherever the routing table says (a configured endpoint, before the peer
    /// has written).
    pub local: Option<IpAddr>,
}

impl Path {
    pub fn to(remote: SocketAddr) -> Self {
        Self {
            remote,
            local: None,
        }
    }
}

/// One message of a [`BatchSocket::send_messages`] call: datagrams for one destination,
/// laid end to end across `iov`.
#[derive(Debug)]
pub struct Outgoing<'a> {
    pub to: SocketAddr,
    pub iov: &'a [IoSlice<'a>],
}

/// A shard's UDP socket.
pub trait BatchSocket: Send + Debug {
    /// Receives a batch; `meta[i]` describes `bufs[i]`, and a buffer may hold several
    /// datagrams of `meta[i].stride` bytes (GRO). Addresses come back canonical (IPv4 as
    /// IPv4, not v4-mapped). `WouldBlock` when nothing waits.
    fn recv(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> io::Result<usize>;

    /// Sends several messages, each to its own destination, all from the local address
    /// `from` (`None`: as routed). With `segment`, every message is cut into datagrams of
    /// that size, the last maybe shorter (GSO). Returns how many messages, from the first,
    /// were sent; an error is about the first message.
    fn send_messages(
        &self,
        messages: &[Outgoing<'_>],
        segment: Option<u16>,
        from: Option<IpAddr>,
    ) -> io::Result<usize>;

    /// Most datagrams one segmented message may carry (1: no GSO).
    fn max_segments(&self) -> usize;

    /// Marks outgoing datagrams with `fwmark` (0 clears it).
    fn set_mark(&self, fwmark: u32) -> io::Result<()>;

    /// The port the socket is bound to.
    fn local_port(&self) -> io::Result<u16>;

    /// The descriptor a poller waits on, if the socket has one (the doubles do not: they
    /// are driven by a test, step by step).
    #[cfg(unix)]
    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
}

/// A shard's queue of a TUN device.
pub trait BatchTun: Send + Debug {
    /// Reads one packet, or one super-packet split into its segments, into `rx`;
    /// `WouldBlock` when the queue is empty. An error without an OS code is a packet that
    /// could not be split, and the queue is still usable.
    fn read(&self, rx: &mut TunReadBuffers) -> io::Result<usize>;

    /// Writes the batch and empties it; returns how many packets were refused.
    fn write(&self, batch: &mut TunWriteBatch) -> usize;

    /// The interface's MTU now (it may change under us).
    fn mtu(&self) -> io::Result<u16>;

    /// As [`BatchSocket::poll_fd`].
    #[cfg(unix)]
    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
}
