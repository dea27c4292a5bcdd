//! Batches of IP packets for the coalescer target: how fuzz input is read as a batch, how
//! a seed batch is written, and the comparison of a segment with the packet it came from.

use tun_rs::{checksum, checksum_no_fold};

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
/// Packets in one batch at most (the engine's write batch is 256).
const MAX_PACKETS: usize = 256;

/// One batch of decrypted packets and whether the TUN device takes UDP GSO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub udp_gso: bool,
    /// Whether lengths and checksums are made right before the batch is planned. A
    /// mutation that changes a packet almost never leaves its checksum valid, and only
    /// valid packets reach the coalescer's decisions past the checksum check.
    pub repair: bool,
    pub packets: Vec<Vec<u8>>,
}

impl Batch {
    /// A flags byte (bit 0: UDP GSO, bit 1: repair), then packets, each a big-endian
    /// 16-bit length and that many bytes; a length running past the input takes what
    /// is left.
    pub fn decode(data: &[u8]) -> Batch {
        let udp_gso = data.first().is_some_and(|f| f & 1 != 0);
        let repair = data.first().is_some_and(|f| f & 2 != 0);
        let mut rest = data.get(1..).unwrap_or_default();
        let mut packets = Vec::new();
        while rest.len() >= 2 && packets.len() < MAX_PACKETS {
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let packet = &rest[2..];
            let len = len.min(packet.len());
            let mut packet = packet[..len].to_vec();
            if repair {
                make_right(&mut packet);
            }
            packets.push(packet);
            rest = &rest[2 + len..];
        }
        Batch {
            udp_gso,
            repair,
            packets,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![u8::from(self.udp_gso) | u8::from(self.repair) << 1];
        for p in &self.packets {
            out.extend_from_slice(&(p.len() as u16).to_be_bytes());
            out.extend_from_slice(p);
        }
        out
    }
}

/// Whether `segment`, cut from a super-packet, is `original` as far as segmentation
/// keeps it: the same bytes but for the IPv4 identification (numbered from the first
/// segment's), the IPv4 header checksum and the TCP or UDP checksum, which must verify.
pub fn same_after_segmentation(segment: &[u8], original: &[u8]) -> bool {
    let Some((ip_len, proto, pseudo)) = headers(segment) else {
        return false;
    };
    let at = ip_len + if proto == PROTO_TCP { 16 } else { 6 };
    let rewritten = |i: usize| {
        (at..at + 2).contains(&i)
            || (ip_len == 20 && ((4..6).contains(&i) || (10..12).contains(&i)))
    };
    let bytes_match = segment.len() == original.len()
        && segment
            .iter()
            .zip(original)
            .enumerate()
            .all(|(i, (a, b))| a == b || rewritten(i));
    let ip_sum_ok = ip_len == 40 || checksum(&segment[..20], 0) == 0xffff;
    let l4_sum_ok = checksum(&segment[ip_len..], pseudo) == 0xffff;
    bytes_match && ip_sum_ok && l4_sum_ok
}

/// Sets the length fields and checksums of an IPv4 (without options) or IPv6 packet
/// carrying TCP or UDP to what its bytes make them; leaves anything else alone.
pub fn make_right(packet: &mut [u8]) {
    let v4 = packet.len() >= 20 && packet[0] == 0x45;
    if v4 {
        let total = (packet.len() as u16).to_be_bytes();
        packet[2..4].copy_from_slice(&total);
        packet[10..12].fill(0);
        let sum = !checksum(&packet[..20], 0);
        packet[10..12].copy_from_slice(&sum.to_be_bytes());
    } else if packet.len() >= 40 && packet[0] >> 4 == 6 {
        let payload = ((packet.len() - 40) as u16).to_be_bytes();
        packet[4..6].copy_from_slice(&payload);
    }
    let Some((ip_len, proto, pseudo)) = headers(packet) else {
        return;
    };
    let (at, min) = if proto == PROTO_TCP { (16, 20) } else { (6, 8) };
    if packet.len() < ip_len + min {
        return;
    }
    if proto == PROTO_UDP {
        let len = ((packet.len() - ip_len) as u16).to_be_bytes();
        packet[ip_len + 4..ip_len + 6].copy_from_slice(&len);
    }
    packet[ip_len + at..ip_len + at + 2].fill(0);
    let sum = !checksum(&packet[ip_len..], pseudo);
    packet[ip_len + at..ip_len + at + 2].copy_from_slice(&sum.to_be_bytes());
}

/// A packet's IP header length, transport protocol, and pseudo-header sum.
fn headers(packet: &[u8]) -> Option<(usize, u8, u64)> {
    let (ip_len, proto, src, dst) = match packet.first()? >> 4 {
        4 if packet[0] == 0x45 => (
            20,
            *packet.get(9)?,
            packet.get(12..16)?,
            packet.get(16..20)?,
        ),
        6 => (40, *packet.get(6)?, packet.get(8..24)?, packet.get(24..40)?),
        _ => return None,
    };
    if proto != PROTO_TCP && proto != PROTO_UDP {
        return None;
    }
    let l4_len = (packet.len().checked_sub(ip_len)? as u16).to_be_bytes();
    let sum = checksum_no_fold(src, 0);
    let sum = checksum_no_fold(dst, sum);
    Some((
        ip_len,
        proto,
        checksum_no_fold(&[0, proto, l4_len[0], l4_len[1]], sum),
    ))
}

/// Addresses of the seed flows: the gateway's tunnel side and a client.
const CLIENT4: [u8; 4] = [10, 99, 0, 2];
const SERVER4: [u8; 4] = [10, 99, 0, 1];
const CLIENT6: [u8; 16] = [0xfd, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const SERVER6: [u8; 16] = [0xfd, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// An IP packet from the client to the server around `l4` (a TCP or UDP header and its
/// payload), both checksums filled in. IPv4 packets set DF, as TCP stacks do.
fn ip_packet(v6: bool, proto: u8, id: u16, mut l4: Vec<u8>) -> Vec<u8> {
    let (src, dst): (&[u8], &[u8]) = if v6 {
        (&CLIENT6, &SERVER6)
    } else {
        (&CLIENT4, &SERVER4)
    };
    let mut packet = if v6 {
        let mut h = vec![0x60, 0, 0, 0, 0, 0, proto, 64];
        h[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
        h
    } else {
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
        h[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&id.to_be_bytes());
        h
    };
    packet.extend_from_slice(src);
    packet.extend_from_slice(dst);
    if !v6 {
        let sum = !checksum(&packet, 0);
        packet[10..12].copy_from_slice(&sum.to_be_bytes());
    }
    let at = if proto == PROTO_TCP { 16 } else { 6 };
    l4[at..at + 2].fill(0);
    packet.extend_from_slice(&l4);
    let (ip_len, _, pseudo) = headers(&packet).expect("a TCP or UDP packet");
    let sum = !checksum(&packet[ip_len..], pseudo);
    packet[ip_len + at..ip_len + at + 2].copy_from_slice(&sum.to_be_bytes());
    packet
}

/// `n` TCP segments of `mss` bytes from `port`, in sequence from `seq`, all ACK and the
/// last with PSH (what a bulk sender's stack emits).
pub fn tcp_stream(v6: bool, port: u16, seq: u32, n: usize, mss: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut l4 = vec![0u8; 20];
            l4[..2].copy_from_slice(&port.to_be_bytes());
            l4[2..4].copy_from_slice(&5201u16.to_be_bytes());
            l4[4..8].copy_from_slice(&seq.wrapping_add((i * mss) as u32).to_be_bytes());
            l4[8..12].copy_from_slice(&0x1f2e_3d4cu32.to_be_bytes());
            l4[12] = 5 << 4;
            l4[13] = 0x10 | if i + 1 == n { 0x08 } else { 0 };
            l4[14..16].copy_from_slice(&502u16.to_be_bytes());
            l4.extend((0..mss).map(|b| (b as u8) ^ (i as u8)));
            ip_packet(v6, PROTO_TCP, 0x4000 + i as u16, l4)
        })
        .collect()
}

/// `n` UDP datagrams of `size` bytes from `port` (a QUIC or media flow).
pub fn udp_stream(v6: bool, port: u16, n: usize, size: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut l4 = vec![0u8; 8];
            l4[..2].copy_from_slice(&port.to_be_bytes());
            l4[2..4].copy_from_slice(&443u16.to_be_bytes());
            l4[4..6].copy_from_slice(&((8 + size) as u16).to_be_bytes());
            l4.extend((0..size).map(|b| (b as u8).wrapping_mul(3) ^ (i as u8)));
            ip_packet(v6, PROTO_UDP, 0x100 + i as u16, l4)
        })
        .collect()
}
