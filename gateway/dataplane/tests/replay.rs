//! A captured initiation stays a replay after the peer changes. boringtun takes a new
//! preshared key or keepalive only in a new `Tunn`, which used to start with no memory of
//! the last initiation's timestamp: an old initiation, replayed from a spoofed address, was
//! accepted again, answered there, and moved the peer's endpoint to it. In-process against
//! a real device, with the test side speaking WireGuard through `support/noise.rs`.
//!
//! Needs root (a network namespace and a TUN device), as the e2e tests do.
#![cfg(target_os = "linux")]

mod support;

use std::time::{Duration, SystemTime};
use support::gateway::{Gateway, expect_within, loopback_socket, peer, recv_within};
use support::noise::{self, Key};
use support::{PEER_ADDR, own_namespace, total};
use wiregate_core::{PeerConfig, PresharedKey};
use wiregate_dataplane::DeviceError;

#[test]
fn an_initiation_replayed_after_a_peer_change_is_refused() {
    own_namespace();
    let client = Key::generate();
    let gw = Gateway::start("replay0", vec![peer(client.public(), PEER_ADDR)]);
    let (home, spoofed) = (loopback_socket(), loopback_socket());

    // A real handshake from home, whose initiation an observer keeps.
    let (captured, initiator) = gw.initiation(client.clone(), Key::generate(), 1).build();
    home.send_to(&captured, gw.addr).unwrap();
    let response = expect_within(&home, "the response");
    initiator
        .consume_response(&response)
        .expect("the response reads");

    let psk = [9; 32];
    type Change = fn(&mut PeerConfig);
    let changes: [(&str, Change); 2] = [
        ("a new preshared key", |p| {
            p.preshared_key = Some(PresharedKey::from_bytes([9; 32]))
        }),
        ("a new keepalive", |p| p.persistent_keepalive = Some(25)),
    ];
    for (what, change) in changes {
        gw.device
            .update(|current| {
                let mut config = current.clone();
                change(&mut config.peers[0]);
                Ok::<_, DeviceError>((config, vec![]))
            })
            .unwrap();
        let replays = total(&gw.device).drop_replay;
        spoofed.send_to(&captured, gw.addr).unwrap();
        assert_eq!(
            recv_within(&spoofed, Duration::from_millis(500)),
            None,
            "after {what}, a replayed initiation was answered"
        );
        let report = gw.device.report();
        assert_eq!(
            report.peers[0].endpoint,
            Some(home.local_addr().unwrap()),
            "after {what}, a replayed initiation moved the endpoint"
        );
        assert_eq!(total(&gw.device).drop_replay, replays + 1, "{what}");
    }

    // The peer itself, with a new initiation (and the new key), still gets through.
    let mut fresh = gw.initiation(client, Key::generate(), 2);
    fresh.timestamp = noise::tai64n(SystemTime::now());
    fresh.psk = Some(psk);
    let (message, initiator) = fresh.build();
    home.send_to(&message, gw.addr).unwrap();
    // The new persistent keepalive made the device reach out on its own at once (an
    // initiation of its own, left unanswered here) before the response.
    let response = loop {
        let m = expect_within(&home, "the response to a fresh initiation");
        if m[0] != noise::MESSAGE_INITIATION {
            break m;
        }
    };
    initiator
        .consume_response(&response)
        .expect("the fresh handshake completes under the new preshared key");
}
