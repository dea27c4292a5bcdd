//! Receiver indices that reveal nothing: every handshake gives the peer an index unrelated
//! to its earlier ones (boringtun's own would share their top 24 bits, the peer's shard
//! and slot), and each of them still carries data to the peer it names. In-process
//! against a real two-shard device, with the test side speaking WireGuard through
//! `support/noise.rs`.
//!
//! Needs root (a network namespace and a TUN device), as the e2e tests do.
#![cfg(target_os = "linux")]

mod support;

use std::collections::HashSet;
use std::time::{Duration, SystemTime};
use support::gateway::{Gateway, SINK_PORT, expect_within, loopback_socket, peer, sink};
use support::noise::{self, Key};
use support::{PEER_ADDR, TUNNEL_ADDR, own_namespace, udp_packet};

#[test]
fn every_handshake_gets_an_unrelated_index_that_carries_data() {
    own_namespace();
    let client = Key::generate();
    let gw = Gateway::start("index0", vec![peer(client.public(), PEER_ADDR)]);
    let (home, sink) = (loopback_socket(), sink());
    let mut indices = Vec::new();
    for i in 0..16u32 {
        let mut init = gw.initiation(client.clone(), Key::generate(), i);
        // Each initiation newer than the last, as a real peer's are.
        let at = SystemTime::now() + Duration::from_secs(u64::from(i));
        init.timestamp = noise::tai64n(at);
        let (message, initiator) = init.build();
        home.send_to(&message, gw.addr).unwrap();
        let response = expect_within(&home, "the response");
        let mut session = initiator
            .consume_response(&response)
            .expect("the response reads");
        indices.push(session.remote_index);

        let payload = format!("session {i}");
        let packet = udp_packet(PEER_ADDR, TUNNEL_ADDR, SINK_PORT, payload.as_bytes());
        home.send_to(&session.seal(&packet), gw.addr).unwrap();
        let got = expect_within(&sink, "the packet sent under the new index");
        assert_eq!(got, payload.as_bytes());
    }
    let distinct: HashSet<u32> = indices.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        indices.len(),
        "an index came again: {indices:x?}"
    );
    let peer_parts: HashSet<u32> = indices.iter().map(|i| i >> 8).collect();
    assert_eq!(
        peer_parts.len(),
        indices.len(),
        "indices share their top 24 bits, which would link the sessions: {indices:x?}"
    );
    let steps: HashSet<u32> = indices
        .windows(2)
        .map(|w| w[1].wrapping_sub(w[0]))
        .collect();
    assert!(
        steps.len() > 1,
        "indices advance by a constant step: {indices:x?}"
    );
    assert_eq!(gw.counters().drop_unknown_index, 0);
}
