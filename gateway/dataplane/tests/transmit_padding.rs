//! Padding on every transmit path, against a real two-shard device (real TUN, real
//! sockets) in a network namespace of this test's own: packets the peer's own shard reads
//! from the TUN, packets another shard reads and hands over, and the segments of a UDP GSO
//! super-packet split on read. A boringtun peer on the test side receives every datagram;
//! each must carry its packet padded with zeros to a multiple of 16 bytes, never past the
//! MTU, and decrypt to exactly the packet that was sent.
//!
//! Needs root (a network namespace and a TUN device), as the e2e tests do.
#![cfg(target_os = "linux")]

mod support;

use boringtun::noise::TunnResult;
use std::collections::BTreeMap;
use std::net::UdpSocket;
use support::{Client, PEER_ADDR, TUNNEL_ADDR, device_with_client, own_namespace};
use wiregate_core::protocol::{DATA_OVERHEAD, MESSAGE_PADDING_MULTIPLE};
use wiregate_dataplane::Device;

const MTU: usize = support::MTU as usize;
/// IPv4 and UDP headers.
const HEADERS: usize = 28;

/// What WireGuard's rules make of a packet of `len` bytes on this MTU.
fn datagram_len(len: usize) -> usize {
    DATA_OVERHEAD + len.next_multiple_of(MESSAGE_PADDING_MULTIPLE).min(MTU)
}

/// Receives `count` data datagrams and checks each one's length against its packet's;
/// returns how many packets of each length arrived. A handshake initiation from the device
/// is answered as a peer would and not counted: a packet read from the TUN before the
/// device has taken the client's confirming keepalive finds a session it may not send
/// on yet, and the device starts a handshake of its own, sending the packet after it (a
/// keepalive confirms that handshake only if no packet waited for it: not counted).
fn receive_padded(peer: &mut Client, count: usize) -> BTreeMap<usize, usize> {
    let mut lengths = BTreeMap::new();
    let mut buf = vec![0u8; 65_536];
    let mut plain = vec![0u8; 65_536];
    let mut received = 0;
    while received < count {
        let n = peer.socket.recv(&mut buf).unwrap_or_else(|e| {
            panic!(
                "datagram {} of {count} went missing ({e}); got {lengths:?}",
                lengths.values().sum::<usize>()
            )
        });
        let packet = match peer.tunn.decapsulate(None, &buf[..n], &mut plain) {
            TunnResult::WriteToTunnelV4(packet, source) => {
                assert_eq!(source, TUNNEL_ADDR);
                packet
            }
            TunnResult::WriteToNetwork(response) if buf[0] == 1 => {
                peer.send(response);
                continue;
            }
            // The keepalive that confirms that handshake to us carries no packet.
            TunnResult::Done if n == DATA_OVERHEAD => continue,
            other => panic!("not a data packet for us: {other:?}"),
        };
        received += 1;
        let len = packet.len();
        assert_eq!(
            n,
            datagram_len(len),
            "a {len}-byte packet was sent in a {n}-byte datagram"
        );
        // The payload is the sender's: every byte its length mod 251.
        assert!(
            packet[HEADERS..]
                .iter()
                .all(|&b| usize::from(b) == (len - HEADERS) % 251),
            "a {len}-byte packet came out changed"
        );
        *lengths.entry(len).or_default() += 1;
    }
    lengths
}

fn payload(len: usize) -> Vec<u8> {
    vec![(len % 251) as u8; len]
}

#[test]
fn every_transmit_path_pads() {
    own_namespace();
    let (device, mut peer) = device_with_client("pad0");
    peer.handshake();

    // One packet of every length from 1 byte of payload to the MTU, each from a source port
    // of its own: flows land on both TUN queues, so half are read by the shard that does not
    // own the peer and handed over.
    let lengths: Vec<usize> = (HEADERS + 1..=MTU)
        .step_by(7)
        .chain([MTU - 1, MTU])
        .collect();
    for &len in &lengths {
        let sender = UdpSocket::bind((TUNNEL_ADDR, 0)).unwrap();
        sender
            .send_to(&payload(len - HEADERS), (PEER_ADDR, 9))
            .unwrap();
        // One at a time, so that none overflows the test socket's buffer.
        assert_eq!(receive_padded(&mut peer, 1), BTreeMap::from([(len, 1)]));
    }
    let handoffs: u64 = device.shard_counters().iter().map(|c| c.handoffs_out).sum();
    assert!(handoffs > 0, "no packet was handed over between shards");

    // A UDP GSO super-packet: 9 segments of 1,000 bytes and a last one of 437, which the
    // TUN hands over whole and the shard splits.
    let tun_reads = |device: &Device| {
        let sizes = device.batch_sizes();
        let rx = sizes
            .iter()
            .find(|s| s.io == "tun" && s.direction == "rx")
            .unwrap();
        (rx.counts.iter().sum::<u64>(), rx.sum)
    };
    let (calls_before, packets_before) = tun_reads(&device);
    let sender = UdpSocket::bind((TUNNEL_ADDR, 0)).unwrap();
    nix::sys::socket::setsockopt(&sender, nix::sys::socket::sockopt::UdpGsoSegment, &1000)
        .expect("UDP GSO");
    let mut burst = payload(1000).repeat(9);
    burst.extend(payload(437));
    sender.send_to(&burst, (PEER_ADDR, 9)).unwrap();
    let got = receive_padded(&mut peer, 10);
    assert_eq!(
        got,
        BTreeMap::from([(1000 + HEADERS, 9), (437 + HEADERS, 1)])
    );
    let (calls, packets) = tun_reads(&device);
    assert!(
        packets - packets_before > calls - calls_before,
        "the burst was not read as a super-packet ({} reads for {} packets): the split path \
         went untested",
        calls - calls_before,
        packets - packets_before
    );
}
