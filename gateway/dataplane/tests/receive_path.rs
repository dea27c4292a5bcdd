//! The receive path against hostile input, in-process: a real two-shard device (real TUN,
//! real sockets) in a network namespace of this test thread's own, fed random datagrams,
//! truncated and bit-flipped handshakes, and truncated and replayed data packets. Every
//! one must be counted as a drop, no shard may stop, and a real WireGuard peer (boringtun
//! on the test side) must still get a tunnel through it in both directions.
//!
//! Needs root (a network namespace and a TUN device), as the e2e tests do.
#![cfg(target_os = "linux")]

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};
use wiregate_core::{PeerConfig, PrivateKey};
use wiregate_dataplane::stats::ShardCounters;
use wiregate_dataplane::{Device, DeviceConfig, netconf, tun};

const TUNNEL_ADDR: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
const PEER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);

/// An IPv4/UDP packet with a valid header checksum (UDP checksum 0: none, allowed in IPv4).
fn udp_packet(src: Ipv4Addr, dst: Ipv4Addr, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let sum: u32 = p[..20]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    let checksum = !((folded & 0xffff) + (folded >> 16)) as u16;
    p[10..12].copy_from_slice(&checksum.to_be_bytes());
    p[20..22].copy_from_slice(&4000u16.to_be_bytes());
    p[22..24].copy_from_slice(&dst_port.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    p
}

fn total(device: &Device) -> ShardCounters {
    let mut sum = ShardCounters::default();
    device.shard_counters().iter().for_each(|c| sum.add(c));
    sum
}

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

/// The test side's WireGuard peer: boringtun over a loopback socket.
struct Client {
    tunn: Tunn,
    socket: UdpSocket,
    buf: Vec<u8>,
}

impl Client {
    fn send(&self, datagram: &[u8]) {
        self.socket.send(datagram).expect("send to the device");
    }

    fn recv(&mut self) -> Vec<u8> {
        let n = self
            .socket
            .recv(&mut self.buf)
            .expect("no answer from the device");
        self.buf[..n].to_vec()
    }

    fn handshake(&mut self) {
        let mut out = vec![0u8; 2048];
        let TunnResult::WriteToNetwork(init) =
            self.tunn.format_handshake_initiation(&mut out, false)
        else {
            panic!("no initiation");
        };
        let init = init.to_vec();
        self.send(&init);
        let response = self.recv();
        match self.tunn.decapsulate(None, &response, &mut out) {
            TunnResult::WriteToNetwork(keepalive) => {
                let keepalive = keepalive.to_vec();
                self.send(&keepalive);
            }
            other => panic!("handshake response not accepted: {other:?}"),
        }
    }

    fn seal(&mut self, packet: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; packet.len() + 64];
        match self.tunn.encapsulate(packet, &mut out) {
            TunnResult::WriteToNetwork(d) => d.to_vec(),
            other => panic!("cannot encrypt: {other:?}"),
        }
    }
}

#[test]
fn shards_survive_garbage_count_every_drop_and_keep_working() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("this test needs root: it makes a network namespace and a TUN device");
    netconf::configure_link("lo", 65_535, &[]).expect("loopback up");

    let server_key = PrivateKey::generate();
    let client_secret = x25519::StaticSecret::random_from_rng(rand::rngs::OsRng);
    let client_public =
        wiregate_core::PublicKey(x25519::PublicKey::from(&client_secret).to_bytes());

    let device = Device::start("fuzz0", tun::open("fuzz0", 2).expect("TUN"), 0).expect("device");
    let mut peer = PeerConfig::new(client_public);
    peer.allowed_ips = vec!["10.9.0.2/32".parse().unwrap()];
    device
        .commit(
            DeviceConfig {
                private_key: Some(server_key.clone()),
                peers: vec![peer],
                ..DeviceConfig::default()
            },
            &[],
        )
        .unwrap();
    netconf::configure_link("fuzz0", 1420, &["10.9.0.1/24".parse().unwrap()]).unwrap();
    let port = device.report().listen_port;

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let server_public = x25519::PublicKey::from(*server_key.public_key().as_bytes());
    let mut client = Client {
        tunn: Tunn::new(client_secret, server_public, None, None, 7, None),
        socket,
        buf: vec![0; 65_536],
    };

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
