//! Cookies under load, in-process against a real one-shard device: a flood of handshake
//! initiations fills the shard's handshake queue, and while it is long the device
//! answers initiations without a cookie MAC with cookie replies instead of opening
//! them; a real peer that takes the cookie and retries gets its handshake, but no more
//! than its source's share (burst 5, 20 a second) while the load lasts; and once
//! the queue has drained and a second has passed, initiations are opened without one.
//!
//! Needs root (a network namespace and a TUN device), as the e2e tests do.
#![cfg(target_os = "linux")]

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519;
use std::net::UdpSocket;
use std::time::{Duration, Instant};
use wiregate_core::{PeerConfig, PrivateKey};
use wiregate_dataplane::stats::ShardCounters;
use wiregate_dataplane::{Device, DeviceConfig, netconf, tun};

/// Initiations in the flood: several times the queue length that means load (512).
const FLOOD: usize = 3000;
const COOKIE_REPLY: u32 = 3;
const RESPONSE: u32 = 2;

fn counters(device: &Device) -> ShardCounters {
    let mut sum = ShardCounters::default();
    device.shard_counters().iter().for_each(|c| sum.add(c));
    sum
}

fn message_type(d: &[u8]) -> u32 {
    u32::from_le_bytes(d[..4].try_into().unwrap())
}

fn initiation(tunn: &mut Tunn) -> Vec<u8> {
    let mut out = vec![0u8; 256];
    match tunn.format_handshake_initiation(&mut out, true) {
        TunnResult::WriteToNetwork(d) => d.to_vec(),
        other => panic!("no initiation: {other:?}"),
    }
}

/// A socket from `source` (a loopback address) to the device's port.
fn connected(source: &str, port: u16) -> UdpSocket {
    let socket = UdpSocket::bind((source, 0)).unwrap();
    socket.connect(("127.0.0.1", port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    socket
}

#[test]
fn a_long_handshake_queue_answers_with_cookies_and_a_cookie_gets_through() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("this test needs root: it makes a network namespace and a TUN device");
    netconf::configure_link("lo", 65_535, &[]).expect("loopback up");

    let server_key = PrivateKey::generate();
    let server_public = x25519::PublicKey::from(*server_key.public_key().as_bytes());
    let client_secret = x25519::StaticSecret::random_from_rng(rand::rngs::OsRng);
    let client_public =
        wiregate_core::PublicKey(x25519::PublicKey::from(&client_secret).to_bytes());
    let device = Device::start("load0", tun::open("load0", 1).expect("TUN"), 0).expect("device");
    let mut peer = PeerConfig::new(client_public);
    peer.allowed_ips = vec!["10.9.0.2/32".parse().unwrap()];
    let config = DeviceConfig {
        private_key: Some(server_key.clone()),
        peers: vec![peer],
        ..DeviceConfig::default()
    };
    device.commit(config, &[]).unwrap();
    let port = device.report().listen_port;

    // The flood: one stranger's initiation, over and over. Its MAC is valid (mac1 needs
    // only the gateway's public key), so each copy costs the gateway a Diffie-Hellman
    // unless it is answered with a cookie.
    let mut stranger = Tunn::new(
        x25519::StaticSecret::random_from_rng(rand::rngs::OsRng),
        server_public,
        None,
        None,
        1,
        None,
    );
    let flood = initiation(&mut stranger);
    let flooder = connected("127.0.0.1", port);
    for _ in 0..FLOOD {
        flooder.send(&flood).unwrap();
    }

    // The real peer, right behind the flood, from an address of its own (a source is
    // sent at most one cookie reply a second, and the flooder's was sent): its first
    // initiation is answered with a cookie reply.
    let client = connected("127.0.0.2", port);
    let mut tunn = Tunn::new(client_secret, server_public, None, None, 7, None);
    client.send(&initiation(&mut tunn)).unwrap();
    let mut buf = vec![0u8; 2048];
    let n = client.recv(&mut buf).expect("an answer to the initiation");
    assert_eq!(
        message_type(&buf[..n]),
        COOKIE_REPLY,
        "under load, an initiation without a cookie gets a cookie reply"
    );
    let mut out = vec![0u8; 2048];
    assert!(matches!(
        tunn.decapsulate(None, &buf[..n], &mut out),
        TunnResult::Done
    ));

    // With the cookie, the retry is queued and answered with a handshake response.
    client.send(&initiation(&mut tunn)).unwrap();
    let n = client.recv(&mut buf).expect("a response to the retry");
    assert_eq!(
        message_type(&buf[..n]),
        RESPONSE,
        "the cookie let it through"
    );
    assert!(matches!(
        tunn.decapsulate(None, &buf[..n], &mut out),
        TunnResult::WriteToNetwork(_)
    ));
    // Its source may not open more than its share while the load lasts: a burst of 5,
    // then 20 a second (the kernel's limits). 15 more at once, each with the cookie: at
    // most 4 more are opened (the retry above took a token), the rest are refused.
    let before = counters(&device).drop_ratelimited;
    for _ in 0..15 {
        client.send(&initiation(&mut tunn)).unwrap();
    }
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut responses = 0;
    while let Ok(n) = client.recv(&mut buf) {
        responses += usize::from(message_type(&buf[..n]) == RESPONSE);
    }
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let limited = counters(&device).drop_ratelimited - before;
    assert!(
        (1..=5).contains(&responses) && limited >= 10 && limited as usize + responses == 15,
        "{responses} responses, {limited} refused by the per-source limit"
    );

    let c = counters(&device);
    assert!(
        (2..=4).contains(&c.cookie_replies) && c.drop_cookie_limited > 0,
        "one cookie reply a second for each source (the flooder, the peer): {c:?}"
    );
    assert!(device.under_load(), "the metrics' under-load state");

    // The flood is opened and dropped as an unknown key, then the load passes: a second
    // after the queue drained, a fresh initiation is answered without a cookie.
    let deadline = Instant::now() + Duration::from_secs(30);
    let worked_off =
        |c: ShardCounters| c.drop_unknown_peer + c.cookie_replies + c.drop_cookie_limited;
    while worked_off(counters(&device)) < FLOOD as u64 + 1 {
        assert!(Instant::now() < deadline, "the flood was not worked off");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1100));
    let mut fresh = Tunn::new(
        x25519::StaticSecret::random_from_rng(rand::rngs::OsRng),
        server_public,
        None,
        None,
        9,
        None,
    );
    let cookies = counters(&device).cookie_replies;
    flooder.send(&initiation(&mut fresh)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while worked_off(counters(&device)) < FLOOD as u64 + 2 {
        assert!(
            Instant::now() < deadline,
            "the fresh initiation was not opened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        counters(&device).cookie_replies,
        cookies,
        "no cookie once the load has passed"
    );
    assert!(
        !device.under_load(),
        "the under-load state ends with the load"
    );
    // Every initiation of the flood that was opened failed: its key is not configured.
    let c = counters(&device);
    assert_eq!(c.handshake_failures, c.drop_unknown_peer, "{c:?}");
    assert_eq!(device.stopped(), None);
}
