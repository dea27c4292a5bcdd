//! A cookie reply is not authenticated by the peer: whoever saw the gateway's initiation
//! and knows the peer's public key can make one, from any address. The kernel therefore
//! neither moves the peer's endpoint for it nor counts it as the peer's traffic; boringtun
//! reports it as "done" like authenticated traffic, and wiregate used to roam on that, so
//! a forged reply sent the gateway's next initiations (and data) wherever the forger
//! chose. In-process against a real device, as `low_order.rs`.
//!
//! Needs root (a network namespace and a TUN device), as the e2e tests do.
#![cfg(target_os = "linux")]

mod support;

use std::net::UdpSocket;
use std::time::Duration;
use support::gateway::{Gateway, expect_within, loopback_socket, peer, recv_within};
use support::noise::{Key, MESSAGE_INITIATION, consume_initiation, cookie_reply, mac2};
use support::{PEER_ADDR, own_namespace};

/// A device on the TUN `name` whose one peer (the returned key, at the returned socket)
/// it must reach out to at once, and the first initiation it sends there.
fn device_initiating(name: &str) -> (Gateway, Key, UdpSocket, Vec<u8>) {
    own_namespace();
    let responder = Key::generate();
    let home = loopback_socket();
    let mut config = peer(responder.public(), PEER_ADDR);
    config.endpoint = Some(home.local_addr().unwrap());
    config.persistent_keepalive = Some(1);
    let gw = Gateway::start(name, vec![config]);
    let init = expect_within(&home, "initiation from the device");
    assert_eq!(init[0], MESSAGE_INITIATION);
    (gw, responder, home, init)
}

#[test]
fn a_cookie_reply_from_elsewhere_neither_roams_nor_counts() {
    let (gw, responder, home, init) = device_initiating("cookie0");
    let forger = loopback_socket();
    // The reply is well-formed: the test side opens the initiation as the peer would.
    consume_initiation(&responder, &init, None).expect("the initiation reads");
    let reply = cookie_reply(&responder.public(), &init, [7; 16]);
    forger.send_to(&reply, gw.addr).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    let report = gw.device.report();
    let peer = &report.peers[0];
    assert_eq!(
        peer.endpoint,
        Some(home.local_addr().unwrap()),
        "a cookie reply moved the endpoint"
    );
    assert_eq!(
        peer.rx_bytes, 0,
        "a cookie reply counted as the peer's traffic"
    );
    // The retry (REKEY_TIMEOUT, 5 s, with jitter) still goes home, not to the forger.
    let retry = recv_within(&home, Duration::from_secs(8)).expect("no retried initiation");
    assert_eq!(retry[0], MESSAGE_INITIATION);
    assert_eq!(recv_within(&forger, Duration::from_millis(100)), None);
}

/// The other half of the cookie round trip (whitepaper 5.4.7): after a cookie reply from
/// the peer, the gateway's next initiation carries mac2 made with that cookie, under a
/// fresh sender index, and its mac1 is still the peer's.
#[test]
fn the_next_initiation_carries_the_peers_cookie() {
    let (gw, responder, home, init) = device_initiating("cookie1");
    assert_eq!(init[132..148], [0; 16], "no cookie yet: mac2 is zero");
    let cookie = [0x42; 16];
    home.send_to(&cookie_reply(&responder.public(), &init, cookie), gw.addr)
        .unwrap();

    let retry = recv_within(&home, Duration::from_secs(8)).expect("no retried initiation");
    assert_eq!(retry[0], MESSAGE_INITIATION);
    consume_initiation(&responder, &retry, None).expect("the retry reads, mac1 included");
    assert_eq!(
        retry[132..148],
        mac2(&cookie, &retry[..132]),
        "the retry does not carry mac2 made with the peer's cookie"
    );
    assert_ne!(retry[4..8], init[4..8], "the retry reused the sender index");
}
