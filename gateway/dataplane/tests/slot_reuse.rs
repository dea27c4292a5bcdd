//! Slots are reused (last freed, first taken), while a packet routed by an older snapshot
//! carries only its peer's slot to the owner shard. Deterministically here: the owner
//! shard is held (`Device::stall_shard`) while another shard hands it plaintext for peer
//! A; A is removed and B added, and B takes A's slot; then the owner goes on, takes the
//! commands first and the handed-over packets after. Without the placement's generation
//! in the handoff, those packets were encrypted for B (a handshake went out to B to carry
//! them); now they are dropped as having no route.
//!
//! Needs root (a network namespace and a TUN device), as the e2e tests do.
#![cfg(target_os = "linux")]

mod support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};
use support::{PEER_ADDR, TUNNEL_ADDR, device_with_client, own_namespace, total};
use wiregate_core::{PeerConfig, PrivateKey};
use wiregate_dataplane::DeviceError;

#[test]
fn a_packet_for_a_removed_peer_never_reaches_the_peer_in_its_slot() {
    own_namespace();
    // Peer A (the client) is the first peer: shard 0, slot 0.
    let (device, mut a) = device_with_client("reuse0");
    a.handshake();
    let stall = device.stall_shard(0).expect("shard 0");

    // Plaintext for A from many flows: the kernel spreads them over both TUN queues, and
    // shard 1 hands its share to the held shard 0.
    for _ in 0..64 {
        let sender = UdpSocket::bind((TUNNEL_ADDR, 0)).unwrap();
        sender.send_to(b"for A only", (PEER_ADDR, 9)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while device.shard_counters()[1].handoffs_out == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let handed = device.shard_counters()[1].handoffs_out;
    assert!(
        handed > 0,
        "no packet was handed over: the test proves nothing"
    );

    // A goes; B comes, with an endpoint where anything sent to it would arrive.
    let b_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut b = PeerConfig::new(PrivateKey::generate().public_key());
    b.allowed_ips = vec!["10.9.0.3/32".parse().unwrap()];
    b.endpoint = Some(b_socket.local_addr().unwrap());
    device
        .update(|current| {
            let mut config = current.clone();
            config.peers.clear();
            Ok::<_, DeviceError>((config, vec![]))
        })
        .unwrap();
    device
        .update(|current| {
            let mut config = current.clone();
            config.peers.push(b);
            Ok::<_, DeviceError>((config, vec![]))
        })
        .unwrap();
    let no_route = total(&device).drop_no_route;
    drop(stall);

    b_socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let got = b_socket.recv(&mut buf);
    assert!(
        got.is_err(),
        "B was sent {} bytes (type {}) because of packets meant for A",
        got.unwrap_or(0),
        buf[0]
    );
    let dropped = total(&device).drop_no_route - no_route;
    assert!(
        dropped >= handed,
        "{dropped} packets dropped as unroutable, {handed} were handed over"
    );
}
