//! TUN offloads against the real kernel, in a network namespace of each test's own: a
//! batch of in-order TCP segments of one flow reaches the kernel as one coalesced packet,
//! and segments of different flows, or out of order, stay apart; a run of UDP datagrams
//! of one flow reaches the kernel as one UDP GSO packet and a socket as the datagrams
//! that were written. (Splitting the kernel's super-packets on read is shown end to end
//! by the e2e throughput test.)
//!
//! Needs root (a network namespace and a TUN device), as the e2e tests do.
#![cfg(target_os = "linux")]

use ipnet::IpNet;
use std::net::Ipv4Addr;
use wiregate_dataplane::io::BatchTun;
use wiregate_dataplane::netconf;
use wiregate_dataplane::tun;
use wiregate_dataplane::tun_batch::TunWriteBatch;

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 1);
const REMOTE: Ipv4Addr = Ipv4Addr::new(10, 8, 0, 2);
const MTU: u16 = 1420;

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn sum16(bytes: &[u8]) -> u32 {
    bytes
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum()
}

/// An IPv4/TCP segment (ACK, 12 bytes of timestamp option as Linux sends) with valid
/// checksums.
fn tcp_segment(src_port: u16, seq: u32, id: u16, payload: &[u8]) -> Vec<u8> {
    let (ip, tcp) = (20, 32);
    let total = ip + tcp + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[6] = 0x40; // DF
    p[8] = 64;
    p[9] = 6;
    p[12..16].copy_from_slice(&REMOTE.octets());
    p[16..20].copy_from_slice(&LOCAL.octets());
    let header = fold(sum16(&p[..20]));
    p[10..12].copy_from_slice(&header.to_be_bytes());
    let t = &mut p[ip..];
    t[0..2].copy_from_slice(&src_port.to_be_bytes());
    t[2..4].copy_from_slice(&5000u16.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&1u32.to_be_bytes());
    t[12] = (tcp as u8 / 4) << 4;
    t[13] = 0x10; // ACK
    t[14..16].copy_from_slice(&512u16.to_be_bytes());
    t[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    t[tcp..].copy_from_slice(payload);
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&REMOTE.octets());
    pseudo.extend_from_slice(&LOCAL.octets());
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&((tcp + payload.len()) as u16).to_be_bytes());
    let checksum = fold(sum16(&pseudo) + sum16(&p[ip..]));
    p[ip + 16..ip + 18].copy_from_slice(&checksum.to_be_bytes());
    p
}

/// An IPv4/UDP datagram to `LOCAL:port` with valid checksums.
fn udp_datagram(port: u16, id: u16, payload: &[u8]) -> Vec<u8> {
    let total = 28 + payload.len();
    let mut p = vec![0u8; total];
    p[..10].copy_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17]);
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes());
    p[12..16].copy_from_slice(&REMOTE.octets());
    p[16..20].copy_from_slice(&LOCAL.octets());
    let header = fold(sum16(&p[..20]));
    p[10..12].copy_from_slice(&header.to_be_bytes());
    p[20..22].copy_from_slice(&40000u16.to_be_bytes());
    p[22..24].copy_from_slice(&port.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    let mut pseudo = REMOTE.octets().to_vec();
    pseudo.extend_from_slice(&LOCAL.octets());
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&p[24..26]);
    let checksum = fold(sum16(&pseudo) + sum16(&p[20..]));
    p[26..28].copy_from_slice(&checksum.to_be_bytes());
    p
}

/// Puts this thread in a network namespace of its own with an `offl0` TUN device.
fn tun_in_namespace() -> tun::TunQueue {
    enter_namespace();
    let queue = tun::open("offl0", 1).expect("TUN").remove(0);
    assert!(
        queue.offload(),
        "this kernel takes TUN offloads; they must be on"
    );
    queue
}

fn enter_namespace() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("this test needs root: it makes a network namespace and a TUN device");
    netconf::configure_link("lo", 65_535, &[]).expect("loopback up");
}

/// The interface's received (bytes, packets), from `ip -s` (this namespace's sysfs is
/// not mounted here).
fn received() -> (u64, u64) {
    let text = ip(&["-s", "-o", "link", "show", "dev", "offl0"]);
    let after = text.split("RX:").nth(1).expect("RX statistics");
    let mut numbers = after
        .split_whitespace()
        .filter_map(|w| w.parse::<u64>().ok());
    (numbers.next().unwrap(), numbers.next().unwrap())
}

fn ip(args: &[&str]) -> String {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .expect("ip (iproute2)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn write_all(queue: &tun::TunQueue, packets: &[Vec<u8>]) {
    let mut batch = TunWriteBatch::default();
    for packet in packets {
        batch.reserve(packet.len())[..packet.len()].copy_from_slice(packet);
        batch.commit(packet.len());
    }
    assert_eq!(queue.write(&mut batch), 0, "the kernel refused packets");
    assert!(batch.is_empty());
}

#[test]
fn offloads_coalesce_in_order_segments_of_a_flow() {
    let queue = &tun_in_namespace();
    // A new device starts at WireGuard's MTU (as wireguard-go's does) with a TUN ring
    // longer than the kernel's default of 500.
    let link = ip(&["-o", "link", "show", "dev", "offl0"]);
    assert!(
        link.contains("mtu 1420") && link.contains("qlen 1000"),
        "{link}"
    );
    let address: IpNet = format!("{LOCAL}/24").parse().unwrap();
    netconf::configure_link("offl0", MTU, &[address]).expect("link up");

    // Writes: 8 in-order segments of one flow, then 2 of another flow and one that
    // leaves a gap in the first flow's sequence.
    let payload = vec![0xab; 1368];
    let mut packets: Vec<Vec<u8>> = (0..8u32)
        .map(|i| tcp_segment(40000, 1000 + i * 1368, 100 + i as u16, &payload))
        .collect();
    packets.push(tcp_segment(40001, 7, 1, &payload));
    packets.push(tcp_segment(40001, 7 + 1368, 2, &payload));
    packets.push(tcp_segment(40000, 1000 + 20 * 1368, 200, &payload));
    let (before_bytes, before_packets) = received();
    write_all(queue, &packets);
    let (after_bytes, after_packets) = received();
    let (written_bytes, written_packets) =
        (after_bytes - before_bytes, after_packets - before_packets);
    // One packet per flow run, and the segment with the gap alone: 3 packets, carrying
    // every payload byte once and one set of headers per packet.
    assert_eq!(
        written_packets, 3,
        "coalesced into one packet per in-order run"
    );
    assert_eq!(written_bytes, 11 * 1368 + 3 * 52);
}

#[test]
fn a_udp_flow_is_written_as_one_gso_packet_and_received_as_its_datagrams() {
    let queue = &tun_in_namespace();
    let address: IpNet = format!("{LOCAL}/24").parse().unwrap();
    netconf::configure_link("offl0", MTU, &[address]).expect("link up");
    let socket = std::net::UdpSocket::bind((LOCAL, 5001)).expect("socket on the TUN address");
    socket.set_nonblocking(true).unwrap();
    // 12 full datagrams and a shorter last one, each payload different.
    let payloads: Vec<Vec<u8>> = (0..13u8)
        .map(|i| vec![i; if i == 12 { 300 } else { 1200 }])
        .collect();
    let packets: Vec<Vec<u8>> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| udp_datagram(5001, i as u16, p))
        .collect();
    let (_, before) = received();
    write_all(queue, &packets);
    let (_, after) = received();
    assert_eq!(after - before, 1, "one UDP GSO packet for the flow");
    let mut buf = [0u8; 2048];
    for (i, payload) in payloads.iter().enumerate() {
        let (n, from) = socket.recv_from(&mut buf).expect("every datagram arrives");
        assert_eq!(&buf[..n], &payload[..], "datagram {i} intact and in order");
        assert_eq!(from, (REMOTE, 40000).into());
    }
    assert!(socket.recv_from(&mut buf).is_err(), "nothing more");
}

#[test]
fn without_offloads_every_packet_is_written_as_it_is() {
    enter_namespace();
    let queue = &tun::open_without_offloads("offl0", 1)
        .expect("TUN")
        .remove(0);
    assert!(!queue.offload());
    let address: IpNet = format!("{LOCAL}/24").parse().unwrap();
    netconf::configure_link("offl0", MTU, &[address]).expect("link up");
    let payload = vec![0xcd; 1368];
    let packets: Vec<Vec<u8>> = (0..4u32)
        .map(|i| tcp_segment(40000, 1000 + i * 1368, i as u16, &payload))
        .collect();
    let (before_bytes, before_packets) = received();
    write_all(queue, &packets);
    let (after_bytes, after_packets) = received();
    assert_eq!(after_packets - before_packets, 4);
    assert_eq!(after_bytes - before_bytes, 4 * (1368 + 52));
}
