//! A shard's UDP socket: one of N `SO_REUSEPORT` sockets on the tunnel's port, with
//! batched receive (recvmmsg + GRO, through `quinn-udp`) and batched send to many
//! destinations (`sendmmsg`, segmented with GSO where the kernel takes it).
//!
//! quinn-udp probes GSO and GRO when the socket is made and quietly falls back to one
//! datagram per segment when the kernel refuses them; we log what it found once per socket
//! so an operator can see which path is in use.

use crate::index_cipher::IndexCipher;
use crate::io::{BatchSocket, Outgoing, RecvMeta};
use nix::sys::socket::{ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, sendmmsg};
use quinn_udp::{UdpSockRef, UdpSocketState};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Socket buffer size we ask for (tunable). A gateway absorbs bursts from many peers at
/// once; the kernel clamps this to `net.core.{r,w}mem_max` unless we are privileged, in
/// which case `SO_*BUFFORCE` lifts the clamp.
const SOCKET_BUFFER: usize = 8 << 20;
/// How long a send waits for room in a full socket buffer before the batch is dropped
/// (tunable). Waiting briefly keeps TCP inside the tunnel from seeing loss under bursts.
const SEND_WAIT: Duration = Duration::from_millis(50);

#[derive(Debug)]
pub struct Udp {
    socket: UdpSocket,
    state: UdpSocketState,
    /// The socket is IPv6 dual-stack: IPv4 destinations must be given v4-mapped.
    dual_stack: bool,
    /// Set when the kernel refused a segmented `sendmmsg` (a device without checksum
    /// offload answers EIO); from then on every datagram goes alone.
    gso_refused: AtomicBool,
}

/// The packet-info structures that name `from` as a datagram's source (each is used only
/// for its own family).
fn source_info(from: Option<IpAddr>) -> (nix::libc::in_pktinfo, nix::libc::in6_pktinfo) {
    let mut v4 = nix::libc::in_pktinfo {
        ipi_ifindex: 0,
        ipi_spec_dst: nix::libc::in_addr { s_addr: 0 },
        ipi_addr: nix::libc::in_addr { s_addr: 0 },
    };
    let mut v6 = nix::libc::in6_pktinfo {
        ipi6_addr: nix::libc::in6_addr { s6_addr: [0; 16] },
        ipi6_ifindex: 0,
    };
    match from {
        Some(IpAddr::V4(ip)) => v4.ipi_spec_dst.s_addr = u32::from_ne_bytes(ip.octets()),
        Some(IpAddr::V6(ip)) => v6.ipi6_addr.s6_addr = ip.octets(),
        None => {}
    }
    (v4, v6)
}

impl Udp {
    /// Binds `count` sockets to `port` (0: one the kernel picks, shared by all) with
    /// `SO_REUSEPORT`, dual-stack where the host has IPv6, each marked with `fwmark`;
    /// the kernel steers datagrams by receiver indices made with `indices`.
    pub(crate) fn bind_group(
        port: u16,
        count: usize,
        fwmark: u32,
        indices: &IndexCipher,
    ) -> io::Result<Vec<Udp>> {
        let mut sockets = Vec::with_capacity(count);
        let mut port = Self::claim(port)?;
        for _ in 0..count {
            let udp = Self::bind(port)?;
            udp.set_mark(fwmark)?;
            port = udp.local_port()?;
            sockets.push(udp);
        }
        if count > 1 {
            match crate::steering::attach(&sockets[0].socket, indices) {
                Ok(()) => tracing::debug!(port, "the kernel steers datagrams to their shard"),
                Err(e) => tracing::info!(
                    port,
                    error = %e,
                    "kernel steering unavailable: datagrams that reach the wrong shard are handed over"
                ),
            }
        }
        // The kernel's answer is the same for every socket of the group: say it once.
        let Some(first) = sockets.first() else {
            return Ok(sockets);
        };
        let (gso, gro) = (first.state.max_gso_segments(), first.state.gro_segments());
        if gso > 1 && gro > 1 {
            tracing::debug!(port, gso, gro, "UDP segmentation offloads in use");
        } else {
            tracing::info!(
                port,
                gso,
                gro,
                "UDP GSO or GRO unavailable: falling back to one datagram per segment"
            );
        }
        Ok(sockets)
    }

    /// `SO_REUSEPORT` lets any process of the same user join a port's group and take a
    /// share of its datagrams. So the port is first bound once without it, which fails if
    /// anyone holds it; the group binds right after the probe closes. Port 0 becomes the
    /// port the kernel picked.
    fn claim(port: u16) -> io::Result<u16> {
        let (probe, _) = Self::dual_stack_socket(port, false)?;
        let bound = probe.local_addr()?.as_socket().map_or(port, |a| a.port());
        Ok(bound)
    }

    fn dual_stack_socket(port: u16, reuse_port: bool) -> io::Result<(Socket, bool)> {
        match Self::socket(Domain::IPV6, port, reuse_port) {
            Ok(s) => Ok((s, true)),
            // No IPv6 on this host (disabled or not compiled in): IPv4 only.
            Err(e) if e.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
                Ok((Self::socket(Domain::IPV4, port, reuse_port)?, false))
            }
            Err(e) => Err(e),
        }
    }

    fn bind(port: u16) -> io::Result<Udp> {
        let (socket, dual_stack) = Self::dual_stack_socket(port, true)?;
        let socket: UdpSocket = socket.into();
        let state = UdpSocketState::new(UdpSockRef::from(&socket))?;
        Ok(Udp {
            socket,
            state,
            dual_stack,
            gso_refused: AtomicBool::new(false),
        })
    }

    fn socket(domain: Domain, port: u16, reuse_port: bool) -> io::Result<Socket> {
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        let addr: SocketAddr = if domain == Domain::IPV6 {
            socket.set_only_v6(false)?;
            (Ipv6Addr::UNSPECIFIED, port).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, port).into()
        };
        socket.set_reuse_port(reuse_port)?;
        socket.set_nonblocking(true)?;
        if !reuse_port {
            socket.bind(&addr.into())?;
            return Ok(socket);
        }
        use nix::sys::socket::{setsockopt, sockopt};
        // The forced variants need CAP_NET_ADMIN; without it the plain ones apply, clamped.
        if setsockopt(&socket, sockopt::RcvBufForce, &SOCKET_BUFFER).is_err() {
            let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
        }
        if setsockopt(&socket, sockopt::SndBufForce, &SOCKET_BUFFER).is_err() {
            let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
        }
        socket.bind(&addr.into())?;
        Ok(socket)
    }

    /// Whether this process may set `fwmark` (it needs CAP_NET_ADMIN), tried on a
    /// throwaway socket so that a refusal changes nothing.
    pub fn check_mark(fwmark: u32) -> io::Result<()> {
        let probe = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        use nix::sys::socket::{setsockopt, sockopt};
        setsockopt(&probe, sockopt::Mark, &fwmark).map_err(io::Error::from)
    }

    /// `to` as this socket takes it: v4-mapped on a dual-stack socket.
    fn destination(&self, to: SocketAddr) -> SocketAddr {
        match (to, self.dual_stack) {
            (SocketAddr::V4(v4), true) => {
                SocketAddrV6::new(v4.ip().to_ipv6_mapped(), v4.port(), 0, 0).into()
            }
            _ => to,
        }
    }

    fn wait_writable(&self) -> io::Result<bool> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLOUT)];
        let timeout =
            PollTimeout::try_from(SEND_WAIT.as_millis() as i32).unwrap_or(PollTimeout::ZERO);
        Ok(poll(&mut fds, timeout).map_err(io::Error::from)? > 0)
    }
}

impl BatchSocket for Udp {
    fn max_segments(&self) -> usize {
        if self.gso_refused.load(Ordering::Relaxed) {
            return 1;
        }
        self.state.max_gso_segments()
    }

    fn recv(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> io::Result<usize> {
        let n = self
            .state
            .recv(UdpSockRef::from(&self.socket), bufs, meta)?;
        for m in &mut meta[..n] {
            m.addr = SocketAddr::new(m.addr.ip().to_canonical(), m.addr.port());
            m.dst_ip = m.dst_ip.map(|ip| ip.to_canonical());
        }
        Ok(n)
    }

    /// One `sendmmsg`, segmented by the kernel; waits up to [`SEND_WAIT`] when the socket
    /// buffer is full.
    fn send_messages(
        &self,
        messages: &[Outgoing<'_>],
        segment: Option<u16>,
        from: Option<IpAddr>,
    ) -> io::Result<usize> {
        let addresses: Vec<Option<SockaddrStorage>> = messages
            .iter()
            .map(|m| Some(SockaddrStorage::from(self.destination(m.to))))
            .collect();
        let gso = segment.unwrap_or(0);
        let (v4, v6) = source_info(from);
        let mut cmsgs = Vec::with_capacity(2);
        if segment.is_some() {
            cmsgs.push(ControlMessage::UdpGsoSegments(&gso));
        }
        // IPv4 sources go as IP_PKTINFO even on a dual-stack socket (the kernel takes it
        // for v4-mapped destinations).
        match from {
            Some(IpAddr::V4(_)) => cmsgs.push(ControlMessage::Ipv4PacketInfo(&v4)),
            Some(IpAddr::V6(_)) => cmsgs.push(ControlMessage::Ipv6PacketInfo(&v6)),
            None => {}
        }
        // Exactly the space the messages use: the kernel reads the whole control buffer,
        // and would take spare room for a malformed message.
        use nix::libc::{in_pktinfo, in6_pktinfo};
        let space = match (segment.is_some(), from) {
            (false, None) => None,
            (true, None) => Some(nix::cmsg_space!(u16)),
            (false, Some(IpAddr::V4(_))) => Some(nix::cmsg_space!(in_pktinfo)),
            (false, Some(IpAddr::V6(_))) => Some(nix::cmsg_space!(in6_pktinfo)),
            (true, Some(IpAddr::V4(_))) => Some(nix::cmsg_space!(u16, in_pktinfo)),
            (true, Some(IpAddr::V6(_))) => Some(nix::cmsg_space!(u16, in6_pktinfo)),
        };
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(messages.len(), space);
        loop {
            let iovs = messages.iter().map(|m| &m.iov);
            match sendmmsg(
                self.socket.as_raw_fd(),
                &mut headers,
                iovs,
                &addresses,
                &cmsgs,
                MsgFlags::empty(),
            ) {
                Ok(sent) => return Ok(sent.count()),
                Err(nix::errno::Errno::EAGAIN) => {
                    if !self.wait_writable()? {
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EIO) if segment.is_some() => {
                    self.gso_refused.store(true, Ordering::Relaxed);
                    tracing::info!(
                        "the kernel refused a segmented send; sending datagrams one by one"
                    );
                    return Err(io::Error::from(nix::errno::Errno::EIO));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// `SO_MARK`, so that policy routing (wg-quick's default-route setup) can keep the
    /// datagrams out of the tunnel.
    fn set_mark(&self, fwmark: u32) -> io::Result<()> {
        use nix::sys::socket::{setsockopt, sockopt};
        setsockopt(&self.socket, sockopt::Mark, &fwmark).map_err(io::Error::from)
    }

    fn local_port(&self) -> io::Result<u16> {
        Ok(self.socket.local_addr()?.port())
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.socket.as_raw_fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::IoSlice;
    use std::net::Ipv4Addr;

    /// A datagram reports the local address it arrived at, and a reply sent from an
    /// address of this host leaves from it, not from the routed source (127.0.0.2 and
    /// 127.0.0.1 are both loopback's).
    #[test]
    fn replies_leave_from_the_address_given() {
        let udp = Udp::bind_group(0, 1, 0, &IndexCipher::random())
            .unwrap()
            .remove(0);
        let port = udp.local_port().unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        client.send_to(b"hello", ("127.0.0.2", port)).unwrap();
        let mut buf = [0u8; 2048];
        let mut meta = [RecvMeta::default()];
        let n = loop {
            let mut bufs = [IoSliceMut::new(&mut buf)];
            match udp.recv(&mut bufs, &mut meta) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(n, 1);
        assert_eq!(meta[0].dst_ip, Some(Ipv4Addr::new(127, 0, 0, 2).into()));
        let to = meta[0].addr;
        for local in [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)] {
            let iov = [IoSlice::new(b"reply")];
            let message = Outgoing { to, iov: &iov };
            assert_eq!(
                udp.send_messages(&[message], None, Some(local.into()))
                    .unwrap(),
                1
            );
            let (_, source) = client.recv_from(&mut buf).unwrap();
            assert_eq!(source, SocketAddr::from((local, port)));
        }
    }
}
