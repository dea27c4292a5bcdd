//! The protocol's timers, with the whitepaper's constants, in simulated time: a real
//! engine (`wiregate_dataplane::sim`) whose clock and boringtun's move together, a tick
//! (250 ms) at a time, and a peer played by the test through its own implementation of
//! the protocol (`gateway/dataplane/tests/support/noise.rs`). Each test fails if its
//! timer fires early, late (by more than a tick), or not at all.

#[path = "../../../gateway/dataplane/tests/support/net.rs"]
#[allow(dead_code)]
mod net;
#[path = "../../../gateway/dataplane/tests/support/noise.rs"]
#[allow(dead_code)]
mod noise;
#[path = "../../../gateway/dataplane/tests/support/packet.rs"]
mod packet;

use net::{GATEWAY_INSIDE, Net, PEER_ENDPOINT, PEER_INSIDE, is_initiation, is_keepalive};
use noise::Session;
use std::time::{Duration, Instant};
use wiregate_core::PeerConfig;
use wiregate_core::protocol::{
    KEEPALIVE_TIMEOUT, REJECT_AFTER_TIME, REKEY_AFTER_TIME, REKEY_ATTEMPT_TIME, REKEY_TIMEOUT,
};

/// The shards' timer tick: how late a timer may fire.
const TICK: Duration = Duration::from_millis(250);
/// The kernel's REKEY_TIMEOUT_JITTER_MAX.
const JITTER_MAX: Duration = Duration::from_millis(333);

/// A simulation: the engine, its peer, and when it started.
struct Sim {
    net: Net,
    start: Instant,
}

impl Sim {
    /// One shard, one peer configured by `configure`.
    fn new(configure: impl FnOnce(&mut PeerConfig)) -> Self {
        let net = Net::with(wiregate_simulation::engine(1), configure);
        let start = net.engine.now();
        Self { net, start }
    }

    /// Time since the start.
    fn at(&self) -> Duration {
        self.net.engine.now() - self.start
    }

    /// Moves the clock on by `by`, a tick at a time; returns what the gateway sent, each
    /// with the time it left.
    fn watch(&mut self, by: Duration) -> Vec<(Duration, Vec<u8>)> {
        let mut seen = Vec::new();
        let end = self.at() + by;
        while self.at() < end {
            self.net.engine.advance(TICK.min(end - self.at()));
            let at = self.at();
            seen.extend(self.net.sent().into_iter().map(|m| (at, m)));
        }
        seen
    }

    /// Moves the clock to `at` since the start; what was sent meanwhile.
    fn watch_until(&mut self, at: Duration) -> Vec<(Duration, Vec<u8>)> {
        let by = at.saturating_sub(self.at());
        self.watch(by)
    }

    /// The gateway sends a packet to the peer; what it sent for it.
    fn gateway_sends(&mut self) -> Vec<Vec<u8>> {
        let packet = packet::udp_packet(GATEWAY_INSIDE, PEER_INSIDE, 9, b"ping");
        self.net.plaintext(packet);
        self.net.sent()
    }

    /// The peer sends a packet through `session`; checks that it came out of the TUN.
    fn peer_sends(&mut self, session: &mut Session) {
        let packet = packet::udp_packet(PEER_INSIDE, GATEWAY_INSIDE, 9, b"pong");
        let sealed = session.seal(&packet);
        self.net.deliver(0, &sealed);
        assert_eq!(
            self.net.engine.take_written(),
            vec![packet],
            "at {:?}",
            self.at()
        );
    }

    /// The gateway initiates (a packet for the peer, which has an endpoint) and the peer
    /// answers: the session, in which the gateway is the initiator.
    fn gateway_initiates(&mut self) -> Session {
        let sent = self.gateway_sends();
        assert!(is_initiation(&sent[0]), "the packet starts a handshake");
        let session = self.net.respond(0, &sent[0]);
        let queued = self.net.sent();
        assert_eq!(queued.len(), 1, "the queued packet follows the handshake");
        assert!(session.open(&queued[0]).is_some());
        session
    }
}

fn with_endpoint(peer: &mut PeerConfig) {
    peer.endpoint = Some(PEER_ENDPOINT);
}

fn initiations(seen: &[(Duration, Vec<u8>)]) -> Vec<Duration> {
    seen.iter()
        .filter(|(_, m)| is_initiation(m))
        .map(|&(at, _)| at)
        .collect()
}

/// REKEY_AFTER_TIME: the initiator of a session 120 s old that sends a packet starts a
/// new handshake (within a tick); before 120 s it does not.
#[test]
fn the_initiator_rekeys_after_120_s() {
    let mut sim = Sim::new(with_endpoint);
    let mut session = sim.gateway_initiates();
    sim.watch(Duration::from_secs(1));
    // Traffic both ways, so no other timer wants a handshake.
    let mut last = sim.at();
    while sim.at() + Duration::from_secs(10) < REKEY_AFTER_TIME {
        let sent = sim.gateway_sends();
        assert!(sent.iter().all(|m| !is_initiation(m)), "at {:?}", sim.at());
        sim.peer_sends(&mut session);
        let seen = sim.watch(Duration::from_secs(10));
        assert!(initiations(&seen).is_empty(), "early, at {:?}", seen);
        last = sim.at();
    }
    assert!(last < REKEY_AFTER_TIME);
    let seen = sim.watch_until(REKEY_AFTER_TIME - TICK);
    assert!(initiations(&seen).is_empty(), "before 120 s: {seen:?}");
    sim.gateway_sends();
    let seen = sim.watch(2 * TICK);
    let rekeys = initiations(&seen);
    assert_eq!(rekeys.len(), 1, "one new handshake: {seen:?}");
    assert!(rekeys[0] >= REKEY_AFTER_TIME && rekeys[0] <= REKEY_AFTER_TIME + TICK);
}

/// REJECT_AFTER_TIME: a session 180 s old takes no more data, and a packet for the peer
/// then waits for a new handshake instead of going out under the old keys.
#[test]
fn a_session_is_refused_after_180_s() {
    let mut sim = Sim::new(|_| {});
    let mut session = sim.net.handshake(0);
    // The peer keeps the session in use; the gateway answers with keepalives.
    while sim.at() + Duration::from_secs(10) < REJECT_AFTER_TIME {
        sim.peer_sends(&mut session);
        sim.watch(Duration::from_secs(10));
    }
    sim.watch_until(REJECT_AFTER_TIME - TICK);
    sim.peer_sends(&mut session);
    sim.watch(2 * TICK);
    let packet = packet::udp_packet(PEER_INSIDE, GATEWAY_INSIDE, 9, b"late");
    let sealed = session.seal(&packet);
    sim.net.deliver(0, &sealed);
    assert!(
        sim.net.engine.take_written().is_empty(),
        "taken at {:?}",
        sim.at()
    );
    let sent = sim.gateway_sends();
    assert_eq!(sent.len(), 1);
    assert!(is_initiation(&sent[0]), "a new handshake, not old keys");
}

/// REKEY_TIMEOUT and REKEY_ATTEMPT_TIME: an unanswered initiation is sent again every
/// 5 s plus up to a third of a second of jitter, and the attempts stop after 90 s.
#[test]
fn an_unanswered_handshake_is_retried_with_jitter_and_given_up_after_90_s() {
    let mut gaps = Vec::new();
    for _ in 0..3 {
        let mut sim = Sim::new(with_endpoint);
        let first = sim.gateway_sends();
        assert!(is_initiation(&first[0]));
        let seen = sim.watch(REKEY_ATTEMPT_TIME + Duration::from_secs(30));
        let mut times = vec![Duration::ZERO];
        times.extend(initiations(&seen));
        assert!(
            *times.last().unwrap() < REKEY_ATTEMPT_TIME,
            "no attempt after 90 s: {times:?}"
        );
        let counted = times.len() as u32;
        let most = REKEY_ATTEMPT_TIME.as_secs() as u32 / REKEY_TIMEOUT.as_secs() as u32;
        assert!(
            counted + 2 >= most && counted <= most,
            "{counted} attempts: {times:?}"
        );
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= REKEY_TIMEOUT && gap <= REKEY_TIMEOUT + JITTER_MAX + TICK,
                "a retry after {gap:?}: {times:?}"
            );
            gaps.push(gap);
        }
        assert_eq!(sim.net.engine.device().shard_counters()[0].noise_expired, 1);
    }
    gaps.sort();
    gaps.dedup();
    assert!(gaps.len() > 1, "every retry after the same time: no jitter");
}

/// KEEPALIVE_TIMEOUT: a gateway that only receives sends a keepalive no later than 10 s
/// (and a tick) after the data it has not answered, and none while it has answered.
#[test]
fn a_keepalive_follows_10_s_of_only_receiving() {
    let mut sim = Sim::new(|_| {});
    let mut session = sim.net.handshake(0);
    sim.watch(Duration::from_secs(3));
    sim.peer_sends(&mut session);
    let data_at = sim.at();
    let seen = sim.watch(KEEPALIVE_TIMEOUT + 4 * TICK);
    let keepalives: Vec<Duration> = seen
        .iter()
        .filter(|(_, m)| is_keepalive(m))
        .map(|&(at, _)| at)
        .collect();
    assert_eq!(keepalives.len(), 1, "{seen:?}");
    assert!(
        keepalives[0] <= data_at + KEEPALIVE_TIMEOUT + TICK,
        "{keepalives:?}"
    );
    assert!(
        keepalives[0] >= KEEPALIVE_TIMEOUT,
        "not before 10 s after the gateway's own last packet (the response at 0)"
    );
    let opened = session.open(&seen[0].1).expect("under the session's keys");
    assert!(opened.is_empty());
    // Answered, silence: nothing more.
    assert!(sim.watch(Duration::from_secs(30)).is_empty());
}

/// Persistent keepalive: the first goes out as soon as it is configured (with no
/// session yet, as a handshake), then one every interval while the tunnel is otherwise
/// idle, without any traffic to prompt it.
#[test]
fn a_persistent_keepalive_goes_out_at_once_and_every_interval() {
    let mut sim = Sim::new(|p| {
        p.endpoint = Some(PEER_ENDPOINT);
        p.persistent_keepalive = Some(25);
    });
    let first = sim.net.sent();
    assert_eq!(first.len(), 1, "one datagram on configuration");
    assert!(is_initiation(&first[0]));
    let session = sim.net.respond(0, &first[0]);
    // The keepalive that was waiting for the session.
    let queued = sim.net.sent();
    assert_eq!(queued.len(), 1);
    assert!(is_keepalive(&queued[0]) && session.open(&queued[0]).is_some());
    let seen = sim.watch(Duration::from_secs(80));
    let keepalives: Vec<Duration> = seen
        .iter()
        .filter(|(_, m)| is_keepalive(m) && session.open(m).is_some())
        .map(|&(at, _)| at)
        .collect();
    assert_eq!(keepalives.len(), 3, "{seen:?}");
    assert_eq!(keepalives.len(), seen.len(), "only keepalives: {seen:?}");
    for (i, at) in keepalives.iter().enumerate() {
        let due = Duration::from_secs(25 * (i as u64 + 1));
        assert!(*at >= due && *at <= due + TICK, "{keepalives:?}");
    }
}

/// KEEPALIVE_TIMEOUT + REKEY_TIMEOUT: data sent with no answer at all for 15 s starts a
/// new handshake. (boringtun counts the 15 s from the peer's last packet, here a tick
/// before the data, where the kernel counts from the data and adds jitter; and it
/// cannot tell a packet received in the same tick as the data from one after it.)
#[test]
fn unanswered_data_starts_a_handshake_after_15_s() {
    let mut sim = Sim::new(with_endpoint);
    let mut session = sim.gateway_initiates();
    sim.watch(Duration::from_secs(5));
    sim.peer_sends(&mut session);
    sim.watch(TICK);
    let sent = sim.gateway_sends();
    assert!(!is_initiation(&sent[0]));
    let sent_at = sim.at();
    let seen = sim.watch(Duration::from_secs(20));
    let handshakes = initiations(&seen);
    let limit = KEEPALIVE_TIMEOUT + REKEY_TIMEOUT;
    assert!(!handshakes.is_empty(), "no handshake: {seen:?}");
    assert!(
        handshakes[0] >= sent_at + limit - TICK
            && handshakes[0] <= sent_at + limit + JITTER_MAX + TICK,
        "{handshakes:?} for data sent at {sent_at:?}"
    );
}

/// REJECT_AFTER_TIME * 3: nine minutes after the last new keys, everything is cleared;
/// the shard frees the peer's state, and the peer's replayed old initiation is still
/// refused (the replay floor outlives the state).
#[test]
fn keys_are_cleared_after_three_times_180_s() {
    let mut sim = Sim::new(|_| {});
    let (captured, initiator) = sim.net.initiation().build();
    sim.net.deliver(0, &captured);
    let response = sim.net.sent().remove(0);
    let mut session = initiator.consume_response(&response).expect("response");
    sim.peer_sends(&mut session);
    let counters = |sim: &Sim| sim.net.engine.device().shard_counters()[0];
    sim.watch_until(3 * REJECT_AFTER_TIME - TICK);
    assert_eq!(counters(&sim).noise_expired, 0, "cleared early");
    sim.watch(2 * TICK);
    assert_eq!(counters(&sim).noise_expired, 1, "not cleared at 540 s");

    let handshakes = counters(&sim).handshakes;
    sim.net.deliver(0, &captured);
    assert!(sim.net.sent().is_empty(), "a replayed initiation answered");
    assert_eq!(counters(&sim).handshakes, handshakes);
    // A new one is taken.
    sim.net.handshake(0);
    assert_eq!(counters(&sim).handshakes, handshakes + 1);
}

/// Handshake initiations from strangers (keys the gateway does not know, each with a
/// valid mac1) from addresses of their own: enough to put the shard under load.
fn flood(sim: &mut Sim, count: u16) {
    for i in 0..count {
        let stranger = noise::Initiation {
            static_key: noise::Key::generate(),
            ephemeral: noise::Key::generate(),
            responder: sim.net.gateway,
            sender: u32::from(i),
            timestamp: noise::tai64n(std::time::SystemTime::now()),
            psk: None,
        };
        let from = std::net::SocketAddr::from(([203, 0, 113, (i % 250) as u8], 1000 + i));
        sim.net.engine.arrive(
            0,
            wiregate_dataplane::memory::Arriving {
                from,
                at: net::GATEWAY_IP,
                data: stranger.build().0.to_vec(),
            },
        );
    }
}

/// What the gateway sent to the peer's endpoint (not the cookie replies to strangers).
fn sent_to_peer(sim: &mut Sim) -> Vec<Vec<u8>> {
    sim.net
        .engine
        .take_sent()
        .into_iter()
        .filter(|s| s.datagram.to == PEER_ENDPOINT)
        .map(|s| s.datagram.data)
        .collect()
}

/// Under load, the peer's initiation gets a cookie reply; the same initiation again with
/// that cookie's mac2 gets the handshake response. A cookie is bound to the gateway's
/// secret of the moment, which changes within two minutes (boringtun: every 128 s): an
/// old one gets a cookie reply again, not a handshake.
#[test]
fn the_cookie_round_trip_under_load() {
    // A shard is under load once 512 initiations wait; it opens 64 between two reads of
    // 512 datagrams.
    const LOAD: u16 = 640;
    let mut sim = Sim::new(|_| {});
    let handshake = |sim: &mut Sim, cookie: Option<[u8; 16]>| {
        flood(sim, LOAD);
        let (mut m, initiator) = sim.net.initiation().build();
        if let Some(cookie) = cookie {
            noise::set_mac2(&mut m, &cookie);
        }
        sim.net.deliver(0, &m);
        let answers = sent_to_peer(sim);
        assert_eq!(answers.len(), 1, "one answer to the peer");
        match noise::open_cookie_reply(&sim.net.gateway, &m, &answers[0]) {
            Some(cookie) => Err(cookie),
            None => Ok(initiator.consume_response(&answers[0]).expect("a response")),
        }
    };
    let cookie = handshake(&mut sim, None)
        .err()
        .expect("a cookie reply under load");
    assert!(sim.net.engine.device().under_load());
    assert!(
        handshake(&mut sim, Some(cookie)).is_ok(),
        "the cookie is taken"
    );
    sim.watch(Duration::from_secs(130));
    let fresh = handshake(&mut sim, Some(cookie))
        .err()
        .expect("an old cookie is refused");
    assert_ne!(fresh, cookie);
    assert!(handshake(&mut sim, Some(fresh)).is_ok());
}

/// The other way: a cookie reply to the gateway's initiation is kept, and the retry
/// (after REKEY_TIMEOUT) carries its mac2; a cookie reply sealed for another initiation
/// is ignored.
#[test]
fn the_gateway_retries_with_the_cookie_it_was_given() {
    let mut sim = Sim::new(with_endpoint);
    let first = sim.gateway_sends();
    assert!(is_initiation(&first[0]));
    let peer_public = sim.net.peer.public();
    let cookie = [0x42; 16];
    let mut other = first[0].clone();
    other[116] ^= 1; // another mac1: not our initiation
    sim.net
        .deliver(0, &noise::cookie_reply(&peer_public, &other, [0x66; 16]));
    sim.net
        .deliver(0, &noise::cookie_reply(&peer_public, &first[0], cookie));
    let seen = sim.watch(REKEY_TIMEOUT + JITTER_MAX + TICK);
    let retries = initiations(&seen);
    assert_eq!(retries.len(), 1, "{seen:?}");
    let retry = &seen.iter().find(|(_, m)| is_initiation(m)).unwrap().1;
    assert_eq!(
        retry[132..],
        noise::mac2(&cookie, &retry[..132]),
        "mac2 of the cookie"
    );
    assert_ne!(first[0][132..], retry[132..]);
    assert_eq!(sim.net.engine.device().shard_counters()[0].drop_bad_mac, 1);
}
