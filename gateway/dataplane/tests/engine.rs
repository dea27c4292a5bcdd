//! The engine in-process through its I/O seam: a real two-shard device over in-memory
//! sockets and TUN queues, the test side speaking WireGuard through `support/noise.rs`.
//! No root, no namespace, no TUN device.
#![cfg(target_os = "linux")]

mod support;

use std::collections::HashSet;
use support::net::{GATEWAY_INSIDE, Net, PEER_INSIDE, is_keepalive};
use support::noise;
use support::udp_packet;
use wiregate_core::protocol::REJECT_AFTER_MESSAGES;

fn counters(net: &Net) -> wiregate_dataplane::stats::ShardCounters {
    support::total(net.engine.device())
}

/// A handshake made through either shard, then data both ways: each packet comes out
/// where it should, and each side's byte counts are the kernel's (every authenticated
/// datagram's full length: the handshake messages, data and keepalives).
#[test]
fn a_handshake_and_data_through_either_shard() {
    for shard in 0..2 {
        let mut net = Net::new(2, |_| {});
        let mut session = net.handshake(shard);
        let mut rx = noise::INITIATION_LEN as u64;
        let mut tx = noise::RESPONSE_LEN as u64;

        let inbound = udp_packet(PEER_INSIDE, GATEWAY_INSIDE, 9, b"from the peer");
        let sealed = session.seal(&inbound);
        rx += sealed.len() as u64;
        net.deliver(1 - shard, &sealed);
        let written = net.engine.take_written();
        assert_eq!(written, vec![inbound], "decrypted onto the TUN, unpadded");

        let outbound = udp_packet(GATEWAY_INSIDE, PEER_INSIDE, 9, b"to the peer");
        net.plaintext(outbound.clone());
        let sent = net.sent();
        assert_eq!(sent.len(), 1, "one data message");
        tx += sent[0].len() as u64;
        let opened = session
            .open(&sent[0])
            .expect("opens under the session's key");
        assert_eq!(&opened[..outbound.len()], &outbound[..]);
        assert_eq!(
            sent[0][4..8],
            session.local_index.to_le_bytes(),
            "names the peer's index"
        );

        let report = net.engine.device().report();
        let peer = &report.peers[0];
        assert_eq!((peer.rx_bytes, peer.tx_bytes), (rx, tx), "shard {shard}");
        assert!(peer.last_handshake.is_some());
        assert_eq!(
            peer.endpoint,
            Some(support::net::PEER_ENDPOINT),
            "roamed to"
        );
    }
}

/// A counter at REJECT_AFTER_MESSAGES or above is refused as a replay, before any
/// decryption; the last counter below it is still taken.
#[test]
fn counters_at_the_message_limit_are_refused() {
    let mut net = Net::new(2, |_| {});
    let mut session = net.handshake(0);
    let packet = udp_packet(PEER_INSIDE, GATEWAY_INSIDE, 9, b"x");
    for counter in [REJECT_AFTER_MESSAGES, u64::MAX - 1, u64::MAX] {
        session.skip_to(counter);
        let sealed = session.seal(&packet);
        net.deliver(0, &sealed);
    }
    assert!(net.engine.take_written().is_empty());
    assert_eq!(counters(&net).drop_replay, 3);

    session.skip_to(REJECT_AFTER_MESSAGES - 1);
    let sealed = session.seal(&packet);
    net.deliver(0, &sealed);
    assert_eq!(net.engine.take_written(), vec![packet]);
}

/// The receive window, against a naive reference that remembers every counter it took:
/// a counter is taken once, if it is newer than the newest taken, or no more than the
/// window's width behind it. Random arrivals, with repeats, reordering and jumps.
#[test]
fn the_replay_window_matches_a_naive_reference() {
    // boringtun's window: 1,024 counters (the kernel's is 8,128; see the README).
    const WINDOW: u64 = 1024;
    let mut net = Net::new(1, |_| {});
    let mut session = net.handshake(0);
    let mut taken = HashSet::new();
    let mut newest: Option<u64> = None;
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut base = 0u64;
    for i in 0..4000 {
        let r = next();
        let counter = match r % 10 {
            0 => base + 2 * WINDOW + r % 64,                // a jump ahead
            1..=3 => base.saturating_sub(r % (2 * WINDOW)), // behind, maybe too far
            4 => *taken.iter().next().unwrap_or(&0),        // a repeat
            _ => base + r % 8,                              // near the front
        };
        base = base.max(counter);
        let expected =
            !taken.contains(&counter) && newest.is_none_or(|n| counter > n || n - counter < WINDOW);
        session.skip_to(counter);
        let packet = udp_packet(PEER_INSIDE, GATEWAY_INSIDE, 9, &(i as u32).to_be_bytes());
        let sealed = session.seal(&packet);
        net.deliver(0, &sealed);
        let got = !net.engine.take_written().is_empty();
        assert_eq!(
            got, expected,
            "counter {counter} (newest {newest:?}), arrival {i}"
        );
        if got {
            taken.insert(counter);
            newest = newest.max(Some(counter));
        }
    }
}

/// A keepalive from the peer is authenticated and counted but writes nothing.
#[test]
fn a_keepalive_is_counted_and_not_written() {
    let mut net = Net::new(2, |_| {});
    let mut session = net.handshake(1);
    let keepalive = session.seal(&[]);
    assert!(is_keepalive(&keepalive));
    net.deliver(0, &keepalive);
    assert!(net.engine.take_written().is_empty());
    let peer = &net.engine.device().report().peers[0];
    assert_eq!(
        peer.rx_bytes,
        (noise::INITIATION_LEN + keepalive.len()) as u64
    );
}

/// A packet whose IPv4 length field is shorter than the header itself is dropped as
/// malformed, not written (boringtun would hand over that many bytes, even none). Found
/// by the `engine` fuzz target (fuzz/regressions/engine/ipv4-length-below-header).
#[test]
fn a_packet_shorter_than_its_header_says_is_not_written() {
    let mut net = Net::new(2, |_| {});
    let mut session = net.handshake(0);
    for claimed in [0u16, 1, 19] {
        let mut packet = udp_packet(PEER_INSIDE, GATEWAY_INSIDE, 9, b"dishonest");
        packet[2..4].copy_from_slice(&claimed.to_be_bytes());
        let sealed = session.seal(&packet);
        net.deliver(1, &sealed);
    }
    assert!(net.engine.take_written().is_empty());
    assert_eq!(counters(&net).drop_malformed, 3);
    let honest = udp_packet(PEER_INSIDE, GATEWAY_INSIDE, 9, b"honest");
    let sealed = session.seal(&honest);
    net.deliver(1, &sealed);
    assert_eq!(net.engine.take_written(), vec![honest]);
}
