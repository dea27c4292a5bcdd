//! In-memory doubles of the I/O seam (wireguard-go's `bindtest` and `tuntest` in spirit):
//! a socket and a TUN queue whose traffic a test puts in and takes out through a handle
//! it keeps. They model what the engine relies on from the real ones: batches, segmented
//! sends (GSO, cut here into the datagrams the kernel would send), the local address a
//! datagram arrived at, and a queue that is empty until something is put in.

use crate::io::{BatchSocket, BatchTun, Outgoing, RecvMeta};
use crate::tun_batch::{TunReadBuffers, TunWriteBatch};
use std::collections::VecDeque;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

/// A datagram that reached the gateway: from whom, at which of its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arriving {
    pub from: SocketAddr,
    pub at: IpAddr,
    pub data: Vec<u8>,
}

/// A datagram the gateway sent: to whom, from which of its addresses (`None`: as routed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaving {
    pub to: SocketAddr,
    pub from: Option<IpAddr>,
    pub data: Vec<u8>,
}

#[derive(Debug, Default)]
struct SocketQueues {
    arriving: VecDeque<Arriving>,
    left: Vec<Leaving>,
    fwmark: u32,
}

/// An in-memory UDP socket. Clones share the same queues: the engine owns one, the test
/// keeps another.
#[derive(Debug, Clone)]
pub struct MemorySocket {
    queues: Arc<Mutex<SocketQueues>>,
    port: u16,
    max_segments: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemorySocket {
    /// A socket on `port` that takes segmented sends of up to `max_segments` datagrams
    /// (1: no GSO).
    pub fn new(port: u16, max_segments: usize) -> Self {
        Self {
            queues: Arc::default(),
            port,
            max_segments: max_segments.max(1),
        }
    }

    /// Queues a datagram for the engine to receive.
    pub fn arrive(&self, datagram: Arriving) {
        lock(&self.queues).arriving.push_back(datagram);
    }

    /// Whether datagrams wait to be received.
    pub fn has_arriving(&self) -> bool {
        !lock(&self.queues).arriving.is_empty()
    }

    /// Takes what the engine sent so far, in order.
    pub fn take_left(&self) -> Vec<Leaving> {
        std::mem::take(&mut lock(&self.queues).left)
    }

    /// The fwmark last set.
    pub fn fwmark(&self) -> u32 {
        lock(&self.queues).fwmark
    }
}

impl BatchSocket for MemorySocket {
    fn recv(&self, bufs: &mut [IoSliceMut<'_>], meta: &mut [RecvMeta]) -> io::Result<usize> {
        let mut queues = lock(&self.queues);
        if queues.arriving.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut n = 0;
        for (buf, meta) in bufs.iter_mut().zip(meta.iter_mut()) {
            let Some(datagram) = queues.arriving.pop_front() else {
                break;
            };
            // As a socket does, a datagram larger than the buffer is cut to its size.
            let len = datagram.data.len().min(buf.len());
            buf[..len].copy_from_slice(&datagram.data[..len]);
            meta.addr = datagram.from;
            meta.len = len;
            meta.stride = len;
            meta.ecn = None;
            meta.dst_ip = Some(datagram.at);
            n += 1;
        }
        Ok(n)
    }

    fn send_messages(
        &self,
        messages: &[Outgoing<'_>],
        segment: Option<u16>,
        from: Option<IpAddr>,
    ) -> io::Result<usize> {
        let mut queues = lock(&self.queues);
        for message in messages {
            let bytes: Vec<u8> = message.iov.iter().flat_map(|s| s.iter().copied()).collect();
            let size = segment.map_or(bytes.len(), usize::from).max(1);
            if bytes.len().div_ceil(size) > self.max_segments {
                // The kernel refuses a message of more segments than it may carry.
                return Err(io::ErrorKind::InvalidInput.into());
            }
            for data in bytes.chunks(size) {
                queues.left.push(Leaving {
                    to: message.to,
                    from,
                    data: data.to_vec(),
                });
            }
        }
        Ok(messages.len())
    }

    fn max_segments(&self) -> usize {
        self.max_segments
    }

    fn set_mark(&self, fwmark: u32) -> io::Result<()> {
        lock(&self.queues).fwmark = fwmark;
        Ok(())
    }

    fn local_port(&self) -> io::Result<u16> {
        Ok(self.port)
    }
}

#[derive(Debug, Default)]
struct TunQueues {
    /// Plaintext the host sends into the tunnel, for the engine to read.
    outbound: VecDeque<Vec<u8>>,
    /// Plaintext the engine decrypted and wrote, for the host.
    inbound: Vec<Vec<u8>>,
}

/// An in-memory TUN queue without offloads: one packet per read and per write. Clones
/// share the same queues.
#[derive(Debug, Clone)]
pub struct MemoryTun {
    queues: Arc<Mutex<TunQueues>>,
    mtu: u16,
}

impl MemoryTun {
    pub fn new(mtu: u16) -> Self {
        Self {
            queues: Arc::default(),
            mtu,
        }
    }

    /// Queues a packet the host routes into the tunnel.
    pub fn send(&self, packet: Vec<u8>) {
        lock(&self.queues).outbound.push_back(packet);
    }

    /// Whether packets wait to be read.
    pub fn has_outbound(&self) -> bool {
        !lock(&self.queues).outbound.is_empty()
    }

    /// Takes the packets the engine wrote so far, in order.
    pub fn take_written(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut lock(&self.queues).inbound)
    }
}

impl BatchTun for MemoryTun {
    fn read(&self, rx: &mut TunReadBuffers) -> io::Result<usize> {
        match lock(&self.queues).outbound.pop_front() {
            Some(packet) => Ok(rx.set_single(&packet)),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }

    fn write(&self, batch: &mut TunWriteBatch) -> usize {
        let mut queues = lock(&self.queues);
        batch.write_each(|packet| {
            queues.inbound.push(packet.to_vec());
            true
        })
    }

    fn mtu(&self) -> io::Result<u16> {
        Ok(self.mtu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::IoSlice;

    #[test]
    fn a_segmented_send_leaves_as_the_kernel_cuts_it() {
        let socket = MemorySocket::new(51820, 4);
        let to: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let bytes = [7u8; 250];
        let iov = [IoSlice::new(&bytes[..100]), IoSlice::new(&bytes[100..])];
        let message = Outgoing { to, iov: &iov };
        assert_eq!(
            socket.send_messages(&[message], Some(100), None).unwrap(),
            1
        );
        let sizes: Vec<usize> = socket.take_left().iter().map(|d| d.data.len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        let message = Outgoing { to, iov: &iov };
        assert!(socket.send_messages(&[message], Some(50), None).is_err());
    }

    #[test]
    fn a_receive_takes_a_batch_and_says_where_each_arrived() {
        let socket = MemorySocket::new(51820, 1);
        let at: IpAddr = "198.51.100.7".parse().unwrap();
        for i in 0..3u8 {
            socket.arrive(Arriving {
                from: SocketAddr::new("192.0.2.1".parse().unwrap(), u16::from(i) + 1),
                at,
                data: vec![i; 10 + usize::from(i)],
            });
        }
        let mut storage = [[0u8; 64]; 2];
        let mut meta = [RecvMeta::default(); 2];
        let mut bufs: Vec<IoSliceMut<'_>> =
            storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        assert_eq!(socket.recv(&mut bufs, &mut meta).unwrap(), 2);
        assert_eq!(
            (meta[1].len, meta[1].addr.port(), meta[1].dst_ip),
            (11, 2, Some(at))
        );
        assert_eq!(socket.recv(&mut bufs, &mut meta).unwrap(), 1);
        let empty = socket.recv(&mut bufs, &mut meta).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock);
    }
}
