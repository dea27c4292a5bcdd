//! No handshake with a low-order key, in-process: a real device (real TUN, real sockets)
//! in a network namespace of each test thread's own, as in `receive_path.rs`. A low-order
//! point makes every Diffie-Hellman with it zero, so a handshake with one is made under
//! keys anybody can compute. boringtun does not check for that, so the data plane must:
//! no Noise state for a peer whose static key is low-order, and no initiation or response
//! whose ephemeral is. The test side speaks WireGuard through `support/noise.rs`, which
//! can forge such handshakes; the first two tests prove it right against the device, in
//! both roles, without which the refusals that follow would prove nothing.
//!
//! Needs root (a network namespace and a TUN device), as the e2e tests do.
#![cfg(target_os = "linux")]

mod support;

use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};
use support::gateway::{
    Gateway, SINK_PORT, expect_within, loopback_socket, peer, recv_within, sink,
};
use support::noise::{Key, MESSAGE_DATA, MESSAGE_INITIATION, Session, consume_initiation};
use support::{PEER_ADDR, TUNNEL_ADDR, own_namespace, udp_packet};
use wiregate_core::low_order::low_order_encodings;
use wiregate_core::{PeerConfig, PresharedKey};

/// The allowed IP of the `i`th low-order peer.
fn low_order_addr(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 9, 0, 10 + i as u8)
}

/// The UDP payload of a decrypted IPv4 packet, its padding cut off by the total length.
fn udp_payload(packet: &[u8]) -> &[u8] {
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    &packet[28..total]
}

/// Sends a packet from the peer's address through `session` and checks that it comes out
/// of the TUN to `sink`.
fn data_gets_through(gw: &Gateway, socket: &UdpSocket, session: &mut Session, sink: &UdpSocket) {
    let packet = udp_packet(PEER_ADDR, TUNNEL_ADDR, SINK_PORT, b"through");
    socket.send_to(&session.seal(&packet), gw.addr).unwrap();
    assert_eq!(expect_within(sink, "data out of the TUN"), b"through");
}

/// The next data message from the device, opened under `session`.
fn open_next(socket: &UdpSocket, session: &Session) -> Vec<u8> {
    let m = expect_within(socket, "data message");
    assert_eq!(m[0], MESSAGE_DATA, "not a data message");
    assert_eq!(
        u32::from_le_bytes(m[4..8].try_into().unwrap()),
        session.local_index
    );
    session.open(&m).expect("a data message that does not open")
}

#[test]
fn the_test_side_handshakes_as_initiator() {
    own_namespace();
    let client = Key::generate();
    let psk = [7; 32];
    let mut config = peer(client.public(), PEER_ADDR);
    config.preshared_key = Some(PresharedKey::from_bytes(psk));
    let gw = Gateway::start("lowo0", vec![config]);
    let (socket, sink) = (loopback_socket(), sink());

    let mut init = gw.initiation(client, Key::generate(), 0x1234);
    init.psk = Some(psk);
    let (message, initiator) = init.build();
    socket.send_to(&message, gw.addr).unwrap();
    let response = expect_within(&socket, "handshake response");
    let mut session = initiator
        .consume_response(&response)
        .expect("the device's response reads right");
    data_gets_through(&gw, &socket, &mut session, &sink);
    // And back: the device seals with the keys we derived for receiving.
    sink.send_to(b"back", (PEER_ADDR, 6000)).unwrap();
    assert_eq!(udp_payload(&open_next(&socket, &session)), b"back");
    assert_eq!(gw.counters().handshakes, 1);
}

#[test]
fn the_test_side_handshakes_as_responder() {
    own_namespace();
    let responder = Key::generate();
    let socket = loopback_socket();
    let mut config = peer(responder.public(), PEER_ADDR);
    config.endpoint = Some(socket.local_addr().unwrap());
    let gw = Gateway::start("lowo1", vec![config]);
    let sink = sink();

    // A packet for the peer makes the device initiate; it is queued meanwhile.
    sink.send_to(b"queued", (PEER_ADDR, 6000)).unwrap();
    let init = expect_within(&socket, "initiation from the device");
    let received = consume_initiation(&responder, &init, None).expect("the initiation reads");
    assert_eq!(received.initiator_static, gw.public);
    let (response, mut session) = received.respond(&Key::generate(), 0x4321);
    socket.send_to(&response, gw.addr).unwrap();
    // The queued packet confirms the session: no keepalive before it (the kernel's rule).
    assert_eq!(udp_payload(&open_next(&socket, &session)), b"queued");
    data_gets_through(&gw, &socket, &mut session, &sink);
}

/// Before the change a low-order peer got a `Tunn` like any other: with a persistent
/// keepalive its timers sent an initiation to the endpoint within a second, and every
/// packet for it started one too; it was never counted as a low-order drop.
#[test]
fn a_low_order_peer_is_never_sent_anything() {
    own_namespace();
    let silent = loopback_socket();
    let control = loopback_socket();
    let mut peers: Vec<PeerConfig> = low_order_encodings()
        .enumerate()
        .map(|(i, key)| {
            let mut p = peer(key, low_order_addr(i));
            p.endpoint = Some(silent.local_addr().unwrap());
            p.persistent_keepalive = Some(1);
            p
        })
        .collect();
    assert_eq!(peers.len(), 14);
    // An honest peer set up alike shows that the timers run and would reach a socket.
    let mut honest = peer(Key::generate().public(), PEER_ADDR);
    honest.endpoint = Some(control.local_addr().unwrap());
    honest.persistent_keepalive = Some(1);
    peers.push(honest);
    let gw = Gateway::start("lowo2", peers);

    let plaintext = UdpSocket::bind((TUNNEL_ADDR, 0)).unwrap();
    let mut sent = 0;
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        for i in 0..14 {
            plaintext
                .send_to(b"for you", (low_order_addr(i), 6000))
                .unwrap();
            sent += 1;
        }
        if let Some(d) = recv_within(&silent, Duration::from_millis(250)) {
            panic!("the device sent a low-order peer a type {} datagram", d[0]);
        }
    }
    let c = gw.counters_when(|c| c.drop_low_order_key >= sent);
    assert_eq!(
        c.drop_low_order_key, sent,
        "each packet for them dropped: {c:?}"
    );
    let control = recv_within(&control, Duration::from_millis(10));
    assert_eq!(
        control.map(|d| d[0]),
        Some(MESSAGE_INITIATION),
        "the honest peer got no initiation: the timers did not run"
    );
}

/// Before the change the initiation reached the claimed peer's `Tunn`, whose
/// static-static result with a low-order key is zero, as we took it, and which answered.
/// The answer's results with the claimed static key are zero too, so the forger, who has
/// no private key for it, still derives the session's keys and sends data as the peer:
/// the test makes that attempt for any answer, so the old code fails it twice over.
#[test]
fn an_initiation_claiming_a_low_order_static_key_is_dropped() {
    own_namespace();
    let peers = low_order_encodings()
        .enumerate()
        .map(|(i, key)| peer(key, low_order_addr(i)))
        .collect();
    let gw = Gateway::start("lowo3", peers);
    let (socket, sink) = (loopback_socket(), sink());

    let mut forgers = Vec::new();
    for (i, key) in low_order_encodings().enumerate() {
        // The static-static result the device would compute with this key: zero.
        let forged = Key::Forged {
            public: key,
            dh: [0; 32],
        };
        let (message, initiator) = gw.initiation(forged, Key::generate(), i as u32).build();
        socket.send_to(&message, gw.addr).unwrap();
        forgers.push(initiator);
    }
    let c = gw.counters_when(|c| c.drop_low_order_key >= 14);
    let mut answered = 0;
    while let Some(response) = recv_within(&socket, Duration::from_secs(1)) {
        answered += 1;
        let i = u32::from_le_bytes(response[8..12].try_into().unwrap()) as usize;
        if let Some(mut session) = forgers
            .get(i)
            .and_then(|f| f.consume_response(&response).ok())
        {
            let packet = udp_packet(low_order_addr(i), TUNNEL_ADDR, SINK_PORT, b"injected");
            socket.send_to(&session.seal(&packet), gw.addr).unwrap();
        }
    }
    let injected = recv_within(&sink, Duration::from_millis(500));
    assert_eq!(injected, None, "forged data came out of the TUN");
    assert_eq!(answered, 0, "the device answered a forged initiation");
    assert_eq!(c.drop_low_order_key, 14, "{c:?}");
    // Each passed its mac1 check and its static key opened to a configured peer's: the
    // forgery is right, and refused for its key alone.
    assert_eq!(c.handshake_initiations, 14, "{c:?}");
    assert_eq!((c.drop_bad_mac, c.drop_unknown_peer), (0, 0), "{c:?}");
    assert_eq!(gw.counters().rx_data_packets, 0);
}

/// Before the change the device's ephemeral-static result with a low-order ephemeral was
/// zero, as we took it, so the initiation opened and the device answered it.
#[test]
fn an_initiation_with_a_low_order_ephemeral_is_dropped() {
    own_namespace();
    let client = Key::generate();
    let gw = Gateway::start("lowo4", vec![peer(client.public(), PEER_ADDR)]);
    let (socket, sink) = (loopback_socket(), sink());

    for (i, key) in low_order_encodings().enumerate() {
        let init = gw.initiation(client.clone(), Key::low_order(key), i as u32);
        socket.send_to(&init.build().0, gw.addr).unwrap();
    }
    let c = gw.counters_when(|c| c.drop_low_order_key >= 14 && c.handshake_failures >= 14);
    if let Some(d) = recv_within(&socket, Duration::from_secs(1)) {
        panic!("the device answered with a type {} datagram", d[0]);
    }
    assert_eq!(
        (c.drop_low_order_key, c.handshake_failures),
        (14, 14),
        "{c:?}"
    );
    assert_eq!(c.drop_bad_mac, 0, "their mac1 was right: {c:?}");

    // The same peer with an honest ephemeral still gets its handshake.
    let (message, initiator) = gw.initiation(client, Key::generate(), 99).build();
    socket.send_to(&message, gw.addr).unwrap();
    let response = expect_within(&socket, "handshake response");
    let mut session = initiator.consume_response(&response).expect("response");
    data_gets_through(&gw, &socket, &mut session, &sink);
}

/// Before the change boringtun took the forged response (its two results with the
/// low-order ephemeral zero, as we took them), confirmed the session with a keepalive
/// and sent the queued packet under keys we know.
#[test]
fn a_response_with_a_low_order_ephemeral_is_dropped() {
    own_namespace();
    let responder = Key::generate();
    let socket = loopback_socket();
    let mut config = peer(responder.public(), PEER_ADDR);
    config.endpoint = Some(socket.local_addr().unwrap());
    let gw = Gateway::start("lowo5", vec![config]);
    let sink = sink();

    sink.send_to(b"secret", (PEER_ADDR, 6000)).unwrap();
    let init = expect_within(&socket, "initiation from the device");
    let mut received = consume_initiation(&responder, &init, None).expect("initiation");
    let mut forged = Vec::new();
    for (i, key) in low_order_encodings().enumerate() {
        let (response, session) = received.respond(&Key::low_order(key), 100 + i as u32);
        socket.send_to(&response, gw.addr).unwrap();
        forged.push(session);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while let Some(d) = recv_within(&socket, deadline.saturating_duration_since(Instant::now())) {
        // A retried initiation is the device still waiting for a real answer: fine.
        if d[0] == MESSAGE_INITIATION {
            received = consume_initiation(&responder, &d, None).expect("retry");
            continue;
        }
        let opens = forged.iter().any(|s| s.open(&d).is_some());
        panic!(
            "the device sent a type {} datagram (opens under forged keys: {opens})",
            d[0]
        );
    }
    let c = gw.counters_when(|c| c.drop_low_order_key >= 14);
    assert_eq!(c.drop_low_order_key, 14, "{c:?}");
    assert_eq!(c.handshakes, 0, "{c:?}");

    // An honest response to the (latest) initiation still makes the session.
    let (response, session) = received.respond(&Key::generate(), 7);
    socket.send_to(&response, gw.addr).unwrap();
    assert_eq!(udp_payload(&open_next(&socket, &session)), b"secret");
}
