//! The coalescer against an independent segmenter: every super-packet it plans is split
//! again by tun-rs's `gso_split` (wireguard-go's TSO code, as the kernel would split it)
//! and must give back exactly the packets that went in.

use super::*;
use rand::{Rng, SeedableRng};
use tun_rs::{VirtioNetHdr, gso_split};

const A4: [u8; 4] = [10, 0, 0, 1];
const B4: [u8; 4] = [10, 0, 0, 2];
const A6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const B6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// An IP packet around `l4` (a TCP or UDP header and payload, checksum field zero),
/// with both checksums filled in.
fn ip(v6: bool, proto: u8, id: u16, ports: (u16, u16), l4: Vec<u8>) -> Vec<u8> {
    let mut l4 = l4;
    l4[..2].copy_from_slice(&ports.0.to_be_bytes());
    l4[2..4].copy_from_slice(&ports.1.to_be_bytes());
    let (src, dst): (&[u8], &[u8]) = if v6 { (&A6, &B6) } else { (&A4, &B4) };
    let mut p = if v6 {
        let mut h = vec![0x60, 0, 0, 0, 0, 0, proto, 64];
        h[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
        h
    } else {
        let total = (20 + l4.len()) as u16;
        let mut h = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[4..6].copy_from_slice(&id.to_be_bytes());
        h
    };
    p.extend_from_slice(src);
    p.extend_from_slice(dst);
    if !v6 {
        let sum = !checksum(&p, 0);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
    }
    let ip_len = p.len();
    p.extend_from_slice(&l4);
    let s = Segment {
        key: FlowKey {
            src: pad(src),
            dst: pad(dst),
            ports: [0; 4],
            proto,
            v6,
            ack: 0,
        },
        ip_len,
        header_len: 0,
        payload: 0,
        seq: 0,
        psh: false,
    };
    let at = ip_len + if proto == PROTO_TCP { 16 } else { 6 };
    let sum = !checksum(&p[ip_len..], s.pseudo_header(l4.len()));
    p[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    p
}

fn pad(addr: &[u8]) -> [u8; 16] {
    let mut out = [0; 16];
    out[..addr.len()].copy_from_slice(addr);
    out
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

fn tcp(v6: bool, id: u16, port: u16, seq: u32, flags: u8, data: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0u8; 20];
    l4[4..8].copy_from_slice(&seq.to_be_bytes());
    l4[8..12].copy_from_slice(&77u32.to_be_bytes());
    l4[12] = 5 << 4;
    l4[13] = flags;
    l4[14..16].copy_from_slice(&512u16.to_be_bytes());
    l4.extend_from_slice(data);
    ip(v6, PROTO_TCP, id, (port, 5201), l4)
}

fn udp(v6: bool, id: u16, port: u16, data: &[u8]) -> Vec<u8> {
    let mut l4 = vec![0u8; 8];
    l4[4..6].copy_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    l4.extend_from_slice(data);
    ip(v6, PROTO_UDP, id, (port, 5201), l4)
}

/// A TCP stream's next `n` full segments of `mss` bytes, the last with PSH.
fn stream(v6: bool, port: u16, n: usize, mss: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let flags = TCP_ACK | if i + 1 == n { TCP_PSH } else { 0 };
            let seq = 1000 + (i * mss) as u32;
            tcp(v6, 100 + i as u16, port, seq, flags, &payload(mss, i as u8))
        })
        .collect()
}

/// Plans `packets` and returns each write, split back into packets.
fn round_trip(packets: &[Vec<u8>], udp: bool) -> Vec<Vec<Vec<u8>>> {
    let mut bufs: Vec<Vec<u8>> = packets.to_vec();
    let lens: Vec<usize> = packets.iter().map(Vec::len).collect();
    let mut c = Coalescer::default();
    c.plan(&mut bufs, &lens, udp);
    let mut writes = Vec::new();
    let refused = c.gather(&bufs, &lens, |iov| {
        let bytes: Vec<u8> = iov.iter().flat_map(|s| s.iter().copied()).collect();
        writes.push(split(&bytes));
        true
    });
    assert_eq!(refused, 0);
    assert_eq!(writes.len(), c.writes());
    writes
}

/// What the kernel makes of one write: the packet alone, or a super-packet's segments.
fn split(write: &[u8]) -> Vec<Vec<u8>> {
    let (vnet, packet) = write.split_at(VIRTIO_NET_HDR_LEN);
    let hdr = VirtioNetHdr::decode(vnet).unwrap();
    if hdr.gso_type == 0 {
        assert_eq!(hdr.flags, 0, "a packet alone asks nothing of the kernel");
        return vec![packet.to_vec()];
    }
    assert_eq!(hdr.flags, NEEDS_CSUM);
    assert_checksum_partial(packet, &hdr);
    let mut out = vec![vec![0u8; 65536]; 64];
    let mut sizes = vec![0; 64];
    let mut input = packet.to_vec();
    let v6 = packet[0] >> 4 == 6;
    let n = gso_split(&mut input, hdr, &mut out, &mut sizes, 0, v6).unwrap();
    (0..n).map(|i| out[i][..sizes[i]].to_vec()).collect()
}

/// The head's checksum field must hold the folded pseudo-header sum of the whole
/// super-packet: completing it as the kernel does for CHECKSUM_PARTIAL must give a
/// checksum that verifies.
fn assert_checksum_partial(packet: &[u8], hdr: &VirtioNetHdr) {
    let start = usize::from(hdr.csum_start);
    let at = start + usize::from(hdr.csum_offset);
    let mut p = packet.to_vec();
    let sum = !checksum(&p[start..], 0);
    p[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    let s = Segment::parse(&p, true).unwrap();
    assert!(
        s.checksum_valid(&p),
        "pseudo-header sum in the checksum field"
    );
}

fn sizes(writes: &[Vec<Vec<u8>>]) -> Vec<usize> {
    writes.iter().map(Vec::len).collect()
}

#[test]
fn a_tcp_stream_is_one_write_that_splits_back_exactly() {
    for v6 in [false, true] {
        let packets = stream(v6, 40000, 40, 1380);
        let writes = round_trip(&packets, false);
        assert_eq!(sizes(&writes), [40], "v6 {v6}");
        assert_eq!(writes.concat(), packets, "v6 {v6}");
    }
}

#[test]
fn interleaved_flows_each_keep_their_order() {
    let (a, b) = (stream(false, 1, 10, 1000), stream(false, 2, 10, 1000));
    let mixed: Vec<Vec<u8>> = a
        .iter()
        .zip(&b)
        .flat_map(|(x, y)| [x.clone(), y.clone()])
        .collect();
    let writes = round_trip(&mixed, false);
    assert_eq!(writes, vec![a, b]);
}

#[test]
fn a_super_packet_stops_at_64_kib_and_64_segments() {
    let writes = round_trip(&stream(false, 1, 60, 1400), false);
    assert!(
        writes
            .iter()
            .all(|w| w.iter().map(|p| p.len() - 40).sum::<usize>() + 40 <= 65535)
    );
    assert_eq!(writes.concat(), stream(false, 1, 60, 1400));
    let small = stream(true, 1, 100, 100);
    let writes = round_trip(&small, false);
    assert_eq!(sizes(&writes), [64, 36]);
    assert_eq!(writes.concat(), small);
}

#[test]
fn gaps_flags_and_sizes_end_a_super_packet() {
    let data = payload(1000, 1);
    let ack = TCP_ACK;
    // A hole in the sequence, a SYN, a PSH in the middle, a short segment then a full one.
    let packets = vec![
        tcp(false, 1, 9, 0, ack, &data),
        tcp(false, 2, 9, 1000, ack, &data),
        tcp(false, 3, 9, 3000, ack, &data),
        tcp(false, 4, 9, 4000, TCP_SYN | ack, &data),
        tcp(false, 5, 9, 5000, ack | TCP_PSH, &data),
        tcp(false, 6, 9, 6000, ack, &data),
        tcp(false, 7, 9, 7000, ack, &data),
        tcp(false, 8, 9, 8000, ack, &data[..500]),
        tcp(false, 9, 9, 8500, ack, &data),
    ];
    let writes = round_trip(&packets, false);
    assert_eq!(sizes(&writes), [2, 1, 1, 1, 3, 1]);
    assert_eq!(writes.concat(), packets);
}

#[test]
fn a_corrupt_segment_is_written_alone_and_never_inside_a_super_packet() {
    let mut packets = stream(false, 1, 6, 1000);
    let last = packets[3].len() - 1;
    packets[3][last] ^= 0xff;
    let writes = round_trip(&packets, false);
    assert_eq!(sizes(&writes), [3, 1, 2]);
    assert_eq!(
        writes[1][0], packets[3],
        "written as it came, for the kernel to drop"
    );
    // A corrupt first packet keeps its flow from coalescing behind it.
    let mut packets = stream(false, 1, 3, 1000);
    packets[0][60] ^= 1;
    assert_eq!(sizes(&round_trip(&packets, false)), [1, 2]);
}

#[test]
fn udp_joins_only_when_the_device_takes_udp_gso() {
    for v6 in [false, true] {
        let mut packets: Vec<Vec<u8>> = (0..20)
            .map(|i| udp(v6, 10 + i, 7, &payload(1200, i as u8)))
            .collect();
        packets.push(udp(v6, 30, 7, &payload(300, 9)));
        packets.push(udp(v6, 31, 7, &payload(1200, 9)));
        assert_eq!(sizes(&round_trip(&packets, false)), [1; 22], "v6 {v6}");
        let writes = round_trip(&packets, true);
        assert_eq!(sizes(&writes), [21, 1], "v6 {v6}");
        assert_eq!(writes.concat(), packets);
    }
}

#[test]
fn differing_ip_headers_do_not_join() {
    let mut packets = stream(false, 1, 5, 1000);
    // The path changes after the second packet: one less hop (header checksum fixed up).
    for p in &mut packets[2..] {
        p[8] = 63;
        p[10..12].fill(0);
        let sum = !checksum(&p[..20], 0);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
    }
    let writes = round_trip(&packets, false);
    assert_eq!(sizes(&writes), [2, 3]);
    assert_eq!(writes.concat(), packets);
}

/// Found by the `tun_coalesce` fuzz target: a segment whose reserved bits or AE flag
/// (AccECN) differ from the first's joined it, and splitting gave it the first's.
#[test]
fn differing_reserved_bits_or_ae_flag_do_not_join() {
    // The first two of a stream (neither pushed), then three with the AE flag set.
    let mut packets = stream(false, 1, 5, 1000)[..2].to_vec();
    packets.extend((2..5u32).map(|i| {
        let mut l4 = vec![0u8; 20];
        l4[4..8].copy_from_slice(&(1000 + i * 1000).to_be_bytes());
        l4[8..12].copy_from_slice(&77u32.to_be_bytes());
        l4[12] = 5 << 4 | 0x01;
        l4[13] = TCP_ACK | if i == 4 { TCP_PSH } else { 0 };
        l4[14..16].copy_from_slice(&512u16.to_be_bytes());
        l4.extend_from_slice(&payload(1000, i as u8));
        ip(false, PROTO_TCP, 100 + i as u16, (1, 5201), l4)
    }));
    let writes = round_trip(&packets, false);
    assert_eq!(sizes(&writes), [2, 3]);
    assert_eq!(writes.concat(), packets);
}

#[test]
fn any_bytes_plan_and_gather_without_panicking() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let valid = stream(false, 1, 4, 200);
    for _ in 0..2000 {
        let packets: Vec<Vec<u8>> = (0..rng.gen_range(1..8))
            .map(|_| {
                let mut p = valid[rng.gen_range(0..4)].clone();
                match rng.gen_range(0..3) {
                    0 => p.truncate(rng.gen_range(0..p.len())),
                    1 => {
                        let at = rng.gen_range(0..p.len());
                        p[at] = rng.r#gen();
                    }
                    _ => p = (0..rng.gen_range(0..80)).map(|_| rng.r#gen()).collect(),
                }
                p
            })
            .collect();
        let mut bufs = packets.clone();
        let lens: Vec<usize> = packets.iter().map(Vec::len).collect();
        let mut c = Coalescer::default();
        c.plan(&mut bufs, &lens, true);
        let mut total = 0;
        c.gather(&bufs, &lens, |iov| {
            total += iov.len() - 1;
            true
        });
        assert_eq!(total, packets.len(), "every packet is written once");
    }
}
