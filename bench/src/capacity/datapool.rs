//! The data the load generator sends: inner IPv4/UDP packets of 1420 bytes from each
//! peer's allowed IP to a blackholed address, encrypted ahead of time in the peers'
//! sessions, and laid out per socket in the order they are sent. A peer's packets are in
//! counter order, and peers of a socket take turns, so the gateway's replay windows
//! accept them all. A counter is never sent twice, so the pool is as large as the phase.

use super::initiator::Session;
use super::pace::{Pace, Pacer};
use super::udp::Pool;
use boringtun::noise::TunnResult;
use rayon::prelude::*;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// An inner packet: a full-size packet for the TUN's MTU.
pub const INNER_LEN: usize = 1420;
const IPV4_HEADER: usize = 20;
const UDP_HEADER: usize = 8;
/// The UDP payload of an inner packet.
pub const PAYLOAD_LEN: usize = INNER_LEN - IPV4_HEADER - UDP_HEADER;
/// A transport data message: 16-byte header, the packet, a 16-byte tag. boringtun does
/// not pad to 16 bytes (the padding is the sender's choice; receivers accept both).
pub const DATA_LEN: usize = 16 + INNER_LEN + 16;
/// Where inner packets go: routed to a blackhole in the gateway's namespace, so the
/// kernel drops them silently once the gateway has written them to its TUN.
pub const BLACKHOLE: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);
pub const BLACKHOLE_PREFIX: &str = "10.200.0.0/16";
/// Packets one socket sends per turn at most: 8 GSO messages of 44.
const TURN: usize = 352;

#[derive(Debug)]
pub struct DataPool {
    /// Per socket, its datagrams end to end, `DATA_LEN` each, in send order.
    per_socket: Vec<Vec<u8>>,
    pub packets: usize,
}

/// Encrypts `per_peer` packets for each session, `burst` of a peer's back to back before
/// the next peer's. Sessions are grouped by socket and each group is one parallel task,
/// so each `Tunn` stays with one thread.
pub fn build(
    udp: &Pool,
    sessions: &mut [Session],
    per_peer: usize,
    burst: usize,
) -> Result<DataPool, String> {
    let mut groups: Vec<Vec<&mut Session>> = (0..udp.len()).map(|_| Vec::new()).collect();
    for s in sessions.iter_mut() {
        groups[udp.of_peer(s.peer)].push(s);
    }
    let per_socket: Vec<Result<Vec<u8>, String>> = groups
        .into_par_iter()
        .map(|mut group| {
            let mut out = vec![0u8; group.len() * per_peer * DATA_LEN];
            let mut chunks = out.chunks_exact_mut(DATA_LEN);
            let mut inner = [0u8; INNER_LEN];
            for turn in (0..per_peer).step_by(burst) {
                for s in group.iter_mut() {
                    for j in turn..per_peer.min(turn + burst) {
                        write_inner(&mut inner, Ipv4Addr::from(peer_ip(s.peer)), j as u16);
                        let slot = chunks.next().expect("sized for every packet");
                        match s.tunn.encapsulate(&inner, slot) {
                            TunnResult::WriteToNetwork(p) if p.len() == DATA_LEN => {}
                            other => {
                                return Err(format!("peer {}: encapsulate gave {other:?}", s.peer));
                            }
                        }
                    }
                }
            }
            Ok(out)
        })
        .collect();
    let per_socket = per_socket.into_iter().collect::<Result<Vec<_>, _>>()?;
    let packets = per_socket.iter().map(|b| b.len() / DATA_LEN).sum();
    Ok(DataPool {
        per_socket,
        packets,
    })
}

fn peer_ip(p: usize) -> u32 {
    u32::from(super::fleet::Fleet::allowed_ip(p))
}

/// An IPv4/UDP packet from `src` to the blackhole, with valid checksums: the gateway
/// coalesces only segments whose checksums hold, as a kernel would.
fn write_inner(buf: &mut [u8; INNER_LEN], src: Ipv4Addr, id: u16) {
    let (ip, rest) = buf.split_at_mut(IPV4_HEADER);
    let (udp, payload) = rest.split_at_mut(UDP_HEADER);
    let src = src.octets();
    let dst = BLACKHOLE.octets();
    ip.copy_from_slice(&[
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    ip[2..4].copy_from_slice(&(INNER_LEN as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&id.to_be_bytes());
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst);
    let ip_sum = !fold(sum(ip));
    ip[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    // The payload is all zeros, so it adds nothing to the checksum.
    payload.fill(0);
    let udp_len = (UDP_HEADER + PAYLOAD_LEN) as u16;
    udp.copy_from_slice(&[0x9c, 0x40, 0, 9, 0, 0, 0, 0]); // 40000 -> 9 (discard)
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    let pseudo = sum(&src) + sum(&dst) + 17 + u32::from(udp_len);
    let udp_sum = match !fold(pseudo + sum(udp)) {
        0 => 0xffff,
        s => s,
    };
    udp[6..8].copy_from_slice(&udp_sum.to_be_bytes());
}

/// The Internet checksum's one's-complement sum of big-endian 16-bit words, unfolded.
fn sum(bytes: &[u8]) -> u32 {
    bytes
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum()
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

#[derive(Debug, Clone, Copy)]
pub struct Sent {
    pub packets: usize,
    pub wall: Duration,
    /// Windows written off as lost (see `pace`).
    pub write_offs: u64,
}

/// Sends the pool, sockets taking turns, as fast as `pace` lets it. Stops when the pool
/// is sent or at `deadline`.
pub fn send(
    udp: &mut Pool,
    data: &DataPool,
    pace: Pace,
    deadline: Duration,
) -> Result<Sent, String> {
    let mut pacer = Pacer::new(pace);
    let mut cursor = vec![0usize; data.per_socket.len()];
    let mut sent = 0usize;
    let start = Instant::now();
    let mut socket = 0;
    while sent < data.packets && start.elapsed() < deadline {
        let budget = TURN.min(pacer.allowance(sent as u64));
        if budget == 0 {
            continue;
        }
        // The next socket with packets left.
        while cursor[socket] * DATA_LEN == data.per_socket[socket].len() {
            socket = (socket + 1) % cursor.len();
        }
        let buffer = &data.per_socket[socket];
        let left = buffer.len() / DATA_LEN - cursor[socket];
        let n = budget.min(left);
        let from = cursor[socket] * DATA_LEN;
        udp.send_run(socket, &buffer[from..from + n * DATA_LEN], DATA_LEN)?;
        cursor[socket] += n;
        sent += n;
        socket = (socket + 1) % cursor.len();
    }
    Ok(Sent {
        packets: sent,
        wall: start.elapsed(),
        write_offs: pacer.write_offs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_packet_checksums_verify() {
        let mut p = [0u8; INNER_LEN];
        write_inner(&mut p, Ipv4Addr::new(10, 128, 3, 7), 513);
        // A correct header sums to 0xffff; so does a UDP datagram with its pseudo-header.
        assert_eq!(fold(sum(&p[..IPV4_HEADER])), 0xffff);
        let pseudo = sum(&p[12..20]) + 17 + (INNER_LEN - IPV4_HEADER) as u32;
        assert_eq!(fold(pseudo + sum(&p[IPV4_HEADER..])), 0xffff);
    }
}
