//! The receive path against hostile input, in-process: a real two-shard device (real TUN,
//! real sockets) in a network namespace of this test thread's own, fed random datagrams,
//! truncated and bit-flipped handshakes, and truncated and replayed data packets. Every
//! one must be counted as a drop, no shard may stop, and a real WireGuard peer (boringtun
//! on the test side) must still get a tunnel through it in both directions.
//!
//! Needs root (a network namespace and a TUN device), as the e2e tests do.
#![cfg(target_os = "linux")]

mod support;

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};
use support::{PEER_ADDR, TUNNEL_ADDR, device_with_client, own_namespace, total, udp_packet};
use wiregate_dataplane::Device;
use wiregate_dataplane::stats::ShardCounters;

fn drops(c: &ShardCounters) -> u64 {
    c.fields()
        .iter()
        .filter(|(name, _)| name.starts_with("drop_"))
        .map(|(_, v)| v)
        .sum()
}

/// Waits until the device has received `datagrams` datagrams in all.
fn settle(device: &Device, datagrams: u64) -> ShardCounters {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = total(device);
        if c.rx_datagrams >= datagrams || Instant::now() > deadline {
            std::thread::sleep(Duration::from_millis(100)); // handoffs in flight
            return total(device);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn shards_survive_garbage_count_every_drop_and_keep_working() {
    own_namespace();

    let (device, mut client) = device_with_client("fuzz0");
    let server_public = client.server_public;

    // A first real handshake, so that the peer has sessions and real packets to mangle.
    client.handshake();
    let inner = udp_packet(PEER_ADDR, TUNNEL_ADDR, 5000, b"first");
    let data = client.seal(&inner);
    let sink = UdpSocket::bind((TUNNEL_ADDR, 5000)).unwrap();
    sink.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    client.send(&data);
    let mut got = [0u8; 64];
    let n = sink
        .recv(&mut got)
        .expect("first packet through the tunnel");
    assert_eq!(&got[..n], b"first");

    let before = settle(&device, 0);
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut garbage: Vec<Vec<u8>> = Vec::new();
    // Random bytes of random lengths, some with a valid message type in front.
    for _ in 0..3000 {
        let mut d: Vec<u8> = (0..rng.gen_range(1..300)).map(|_| rng.r#gen()).collect();
        if rng.gen_bool(0.6) && d.len() >= 4 {
            d[..4].copy_from_slice(&rng.gen_range(1u32..=4).to_le_bytes());
        }
        garbage.push(d);
    }
    // Every truncation of a real initiation and a real data packet, and bit flips of both.
    let mut out = vec![0u8; 2048];
    let mut other = Tunn::new(
        x25519::StaticSecret::random_from_rng(rand::rngs::OsRng),
        server_public,
        None,
        None,
        9,
        None,
    );
    let TunnResult::WriteToNetwork(init) = other.format_handshake_initiation(&mut out, false)
    else {
        panic!()
    };
    let init = init.to_vec();
    for real in [&init, &data] {
        for len in 1..real.len() {
            garbage.push(real[..len].to_vec());
        }
        for bit in 0..real.len() * 8 {
            let mut flipped = real.to_vec();
            flipped[bit / 8] ^= 1 << (bit % 8);
            if flipped[..4] == real[..4] {
                garbage.push(flipped);
            }
        }
    }
    // Replays of a packet the device already took, and an initiation from an unknown key.
    garbage.extend(std::iter::repeat_n(data.clone(), 50));
    garbage.push(init);
    for d in &garbage {
        client.send(d);
        // Keep well inside the socket buffer: this measures survival, not capacity.
        std::thread::sleep(Duration::from_micros(20));
    }

    let after = settle(&device, before.rx_datagrams + garbage.len() as u64);
    assert_eq!(device.stopped(), None, "a shard stopped");
    assert_eq!(
        after.rx_datagrams - before.rx_datagrams,
        garbage.len() as u64,
        "datagrams lost before the shard"
    );
    assert_eq!(
        drops(&after) - drops(&before),
        garbage.len() as u64,
        "every bad datagram is one counted drop: {after:?}"
    );
    assert_eq!(
        after.rx_data_packets, before.rx_data_packets,
        "nothing bad was accepted"
    );
    assert!(after.drop_unknown_peer > before.drop_unknown_peer);
    assert!(after.drop_malformed > before.drop_malformed);
    assert!(
        after.drop_bad_mac > before.drop_bad_mac,
        "forged MACs and tags: {after:?}"
    );

    // The tunnel still works both ways.
    let data = client.seal(&udp_packet(PEER_ADDR, TUNNEL_ADDR, 5000, b"still alive"));
    client.send(&data);
    let n = sink.recv(&mut got).expect("tunnel dead after the garbage");
    assert_eq!(&got[..n], b"still alive");
    sink.send_to(b"and back", (PEER_ADDR, 6000)).unwrap();
    let reply = client.recv();
    let mut plain = vec![0u8; 2048];
    match client.tunn.decapsulate(None, &reply, &mut plain) {
        TunnResult::WriteToTunnelV4(packet, source) => {
            assert_eq!(source, TUNNEL_ADDR);
            assert_eq!(&packet[28..], b"and back");
        }
        other => panic!("reply not a packet for us: {other:?}"),
    }
    // A forged inner source (not the peer's allowed IP) is dropped and counted.
    let forged = client.seal(&udp_packet(
        Ipv4Addr::new(10, 9, 0, 99),
        TUNNEL_ADDR,
        5000,
        b"forged",
    ));
    client.send(&forged);
    let deadline = Instant::now() + Duration::from_secs(5);
    while total(&device).drop_allowed_ips == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(total(&device).drop_allowed_ips, 1);
}
