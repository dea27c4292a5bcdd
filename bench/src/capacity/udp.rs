//! The load generator's UDP sockets: a pool of source ports shared by the simulated peers
//! (peer `p` always uses socket `p % len`, so the gateway sees a stable endpoint per peer
//! and many 4-tuples in all). Each socket is connected to the gateway. Data goes out with
//! `sendmmsg` of `UDP_SEGMENT` (GSO) messages: every datagram of a socket goes to the same
//! address, so runs of equal-size datagrams make one segmented message. Replies come in
//! with `recvmmsg` and `UDP_GRO`, split by their segment size.

use super::topology::GENERATOR_UNDERLAY;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrIn, recvmmsg, sendmmsg,
    setsockopt, sockopt,
};
use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};

/// Socket buffers: room for a burst of thousands of handshake replies, and for data while
/// the sender is descheduled.
const BUFFER_BYTES: usize = 8 << 20;
/// The kernel's limits on one GSO send: 64 segments, and a 64 KiB datagram.
const GSO_MAX_SEGMENTS: usize = 64;
const GSO_MAX_BYTES: usize = 65_000;
/// Messages per `sendmmsg` and `recvmmsg`.
const MMSG_BATCH: usize = 32;
/// A receive buffer holds one GRO super-datagram.
const RECV_BUFFER: usize = 65_536;

#[derive(Debug)]
pub struct Pool {
    sockets: Vec<UdpSocket>,
    /// Whether the kernel took `UDP_SEGMENT`; probed on the first data send.
    gso: bool,
    send_headers: MultiHeaders<SockaddrIn>,
    plain_headers: MultiHeaders<SockaddrIn>,
    recv_buffers: Vec<Vec<u8>>,
}

impl Pool {
    /// Opens `count` sockets on the generator's underlay address, each connected to the
    /// gateway. Call from the generator's namespace.
    pub fn open(count: usize, gateway: SocketAddrV4) -> Result<Self, String> {
        let mut sockets = Vec::with_capacity(count);
        for _ in 0..count {
            let socket = UdpSocket::bind((GENERATOR_UNDERLAY, 0))
                .map_err(|e| format!("bind {GENERATOR_UNDERLAY}: {e}"))?;
            socket
                .connect(gateway)
                .map_err(|e| format!("connect {gateway}: {e}"))?;
            setsockopt(&socket, sockopt::RcvBufForce, &BUFFER_BYTES)
                .map_err(|e| format!("SO_RCVBUFFORCE: {e}"))?;
            setsockopt(&socket, sockopt::SndBufForce, &BUFFER_BYTES)
                .map_err(|e| format!("SO_SNDBUFFORCE: {e}"))?;
            // Without GRO every datagram is its own recvmmsg slot: slower, still right.
            let _ = setsockopt(&socket, sockopt::UdpGroSegment, &true);
            sockets.push(socket);
        }
        Ok(Self {
            sockets,
            gso: true,
            send_headers: MultiHeaders::preallocate(MMSG_BATCH, Some(nix::cmsg_space!(u16))),
            plain_headers: MultiHeaders::preallocate(GSO_MAX_SEGMENTS * MMSG_BATCH, None),
            recv_buffers: vec![vec![0; RECV_BUFFER]; MMSG_BATCH],
        })
    }

    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    /// The socket simulated peer `p` sends from.
    pub fn of_peer(&self, p: usize) -> usize {
        p % self.sockets.len()
    }

    pub fn gso(&self) -> bool {
        self.gso
    }

    /// One datagram (a handshake message): a plain send.
    pub fn send(&self, socket: usize, datagram: &[u8]) -> Result<(), String> {
        self.sockets[socket]
            .send(datagram)
            .map(drop)
            .map_err(|e| format!("send: {e}"))
    }

    /// Sends `packets`, datagrams of `stride` bytes laid end to end, from one socket, as
    /// GSO messages (or one message per datagram where GSO is refused). Blocks while the
    /// socket buffer is full. Returns how many datagrams went out: all of them unless the
    /// kernel refuses some, which is an error.
    pub fn send_run(&mut self, socket: usize, packets: &[u8], stride: usize) -> Result<(), String> {
        debug_assert_eq!(packets.len() % stride, 0);
        let mut rest = packets;
        while !rest.is_empty() {
            let sent = if self.gso {
                match self.send_segmented(socket, rest, stride) {
                    Err(Errno::EIO | Errno::EINVAL | Errno::EOPNOTSUPP) => {
                        eprintln!(
                            "wiregate-bench: the kernel refused UDP GSO; one datagram per message"
                        );
                        self.gso = false;
                        continue;
                    }
                    other => other,
                }
            } else {
                self.send_plain(socket, rest, stride)
            };
            match sent {
                Ok(bytes) => rest = &rest[bytes..],
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(e) => return Err(format!("sendmmsg: {e}")),
            }
        }
        Ok(())
    }

    /// One `sendmmsg` of GSO messages; returns the bytes it took.
    fn send_segmented(
        &mut self,
        socket: usize,
        packets: &[u8],
        stride: usize,
    ) -> nix::Result<usize> {
        let per_message = (GSO_MAX_BYTES / stride).min(GSO_MAX_SEGMENTS) * stride;
        let messages: Vec<[IoSlice; 1]> = packets
            .chunks(per_message)
            .take(MMSG_BATCH)
            .map(|c| [IoSlice::new(c)])
            .collect();
        let addresses = vec![None; messages.len()];
        let segment = stride as u16;
        let cmsgs = [ControlMessage::UdpGsoSegments(&segment)];
        let fd = self.sockets[socket].as_raw_fd();
        let sent = sendmmsg(
            fd,
            &mut self.send_headers,
            &messages,
            &addresses,
            cmsgs,
            MsgFlags::empty(),
        )?;
        Ok(sent.map(|m| m.bytes).sum())
    }

    fn send_plain(&mut self, socket: usize, packets: &[u8], stride: usize) -> nix::Result<usize> {
        let messages: Vec<[IoSlice; 1]> = packets
            .chunks(stride)
            .take(GSO_MAX_SEGMENTS * MMSG_BATCH)
            .map(|c| [IoSlice::new(c)])
            .collect();
        let addresses = vec![None; messages.len()];
        let fd = self.sockets[socket].as_raw_fd();
        let sent = sendmmsg(
            fd,
            &mut self.plain_headers,
            &messages,
            &addresses,
            [],
            MsgFlags::empty(),
        )?;
        Ok(sent.map(|m| m.bytes).sum())
    }

    /// Waits up to `timeout_ms` for any socket to be readable; returns which are.
    pub fn wait(&self, timeout_ms: u16) -> Result<Vec<usize>, String> {
        let mut fds: Vec<PollFd> = self
            .sockets
            .iter()
            .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
            .collect();
        match poll(&mut fds, PollTimeout::from(timeout_ms)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        Ok(fds
            .iter()
            .enumerate()
            .filter(|(_, fd)| fd.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)))
            .map(|(i, _)| i)
            .collect())
    }

    /// Reads everything queued on one socket without blocking and hands each datagram
    /// (GRO super-datagrams split by their segment size) to `each`.
    pub fn drain(&mut self, socket: usize, mut each: impl FnMut(&[u8])) -> Result<(), String> {
        let fd = self.sockets[socket].as_raw_fd();
        loop {
            // (length, segment size) of each message received.
            let mut received: Vec<(usize, usize)> = Vec::with_capacity(MMSG_BATCH);
            {
                // nix leaves each header's msg_controllen as the previous call shrank it,
                // so the headers are made afresh per call.
                let mut headers: MultiHeaders<SockaddrIn> =
                    MultiHeaders::preallocate(MMSG_BATCH, Some(nix::cmsg_space!(i32)));
                let mut slices: Vec<[IoSliceMut; 1]> = self
                    .recv_buffers
                    .iter_mut()
                    .map(|b| [IoSliceMut::new(b)])
                    .collect();
                match recvmmsg(fd, &mut headers, &mut slices, MsgFlags::MSG_DONTWAIT, None) {
                    Ok(messages) => {
                        for m in messages {
                            let segment = m
                                .cmsgs()
                                .ok()
                                .and_then(|mut c| {
                                    c.find_map(|c| match c {
                                        ControlMessageOwned::UdpGroSegments(s) => Some(s as usize),
                                        _ => None,
                                    })
                                })
                                .unwrap_or(m.bytes);
                            received.push((m.bytes, segment.max(1)));
                        }
                    }
                    Err(Errno::EAGAIN | Errno::EINTR) => return Ok(()),
                    // A stale ICMP error from an earlier send; the next call goes on.
                    Err(Errno::ECONNREFUSED) => continue,
                    Err(e) => return Err(format!("recvmmsg: {e}")),
                }
            }
            for (i, (len, segment)) in received.iter().enumerate() {
                for datagram in self.recv_buffers[i][..*len].chunks(*segment) {
                    each(datagram);
                }
            }
            if received.len() < MMSG_BATCH {
                return Ok(());
            }
        }
    }
}
