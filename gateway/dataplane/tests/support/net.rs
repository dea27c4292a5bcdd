//! A simulated engine (`wiregate_dataplane::sim`) with one peer, which the test plays
//! through [`super::noise`]: no root, no sockets, no TUN, and a clock the test moves.
//! Also used by the simulated-time crate (tests/simulation), whose boringtun follows that
//! clock.

use super::noise::{self, Bytes32, Initiation, Key, Session};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, SystemTime};
use wiregate_core::{PeerConfig, PrivateKey, PublicKey};
use wiregate_dataplane::DeviceConfig;
use wiregate_dataplane::memory::Arriving;
use wiregate_dataplane::sim::Engine;

/// The peer's address on the (simulated) internet, and the gateway's.
pub const PEER_ENDPOINT: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 40_000);
pub const GATEWAY_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
/// Inside the tunnel: the peer's allowed IP, and the address on the gateway's side.
pub const PEER_INSIDE: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
pub const GATEWAY_INSIDE: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);

/// An engine with one peer, and that peer's keys.
pub struct Net {
    pub engine: Engine,
    pub gateway: Bytes32,
    pub peer: Key,
    /// The sender index the peer's next initiation or response uses.
    next_index: u32,
    /// How far the peer's TAI64N clock has moved (the engine's clock may be simulated,
    /// while timestamps are wall time: each initiation must be newer than the last).
    stamps: Duration,
}

impl Net {
    /// A `shards`-shard engine whose one peer is configured by `configure` (the default:
    /// allowed IP `PEER_INSIDE/32`, no endpoint, no keepalive).
    pub fn new(shards: usize, configure: impl FnOnce(&mut PeerConfig)) -> Self {
        Self::with(Engine::new("sim0", shards, 0).expect("engine"), configure)
    }

    /// As [`Net::new`], on an engine made by the caller (one with a clock of its own).
    pub fn with(mut engine: Engine, configure: impl FnOnce(&mut PeerConfig)) -> Self {
        let key = PrivateKey::generate();
        let peer = Key::generate();
        let mut config = PeerConfig::new(PublicKey(peer.public()));
        config.allowed_ips = vec![format!("{PEER_INSIDE}/32").parse().unwrap()];
        configure(&mut config);
        let device = DeviceConfig {
            private_key: Some(key.clone()),
            peers: vec![config],
            ..DeviceConfig::default()
        };
        engine.device().commit(device, &[]).expect("commit");
        engine.run();
        Self {
            engine,
            gateway: *key.public_key().as_bytes(),
            peer,
            next_index: 1,
            stamps: Duration::ZERO,
        }
    }

    /// A datagram from the peer reaches shard `shard`; the engine runs until quiet.
    pub fn deliver(&mut self, shard: usize, data: &[u8]) {
        self.deliver_from(shard, PEER_ENDPOINT, data);
    }

    pub fn deliver_from(&mut self, shard: usize, from: SocketAddr, data: &[u8]) {
        self.engine.arrive(
            shard,
            Arriving {
                from,
                at: GATEWAY_IP,
                data: data.to_vec(),
            },
        );
        self.engine.run();
    }

    /// The host sends `packet` into the tunnel; the engine runs until quiet.
    pub fn plaintext(&mut self, packet: Vec<u8>) {
        self.engine.send_plaintext(0, packet);
        self.engine.run();
    }

    /// The datagrams the engine sent since the last call, in order.
    pub fn sent(&mut self) -> Vec<Vec<u8>> {
        self.engine
            .take_sent()
            .into_iter()
            .map(|s| s.datagram.data)
            .collect()
    }

    /// An initiation from the peer with a fresh ephemeral key, index and timestamp.
    pub fn initiation(&mut self) -> Initiation {
        self.next_index += 1;
        self.stamps += Duration::from_millis(1);
        Initiation {
            static_key: self.peer.clone(),
            ephemeral: Key::generate(),
            responder: self.gateway,
            sender: self.next_index,
            timestamp: noise::tai64n(SystemTime::now() + self.stamps),
            psk: None,
        }
    }

    /// The peer initiates a handshake through shard `shard`; returns its session.
    pub fn handshake(&mut self, shard: usize) -> Session {
        let (message, initiator) = self.initiation().build();
        self.deliver(shard, &message);
        let sent = self.sent();
        let response = sent
            .iter()
            .find(|m| m[0] == noise::MESSAGE_RESPONSE)
            .unwrap_or_else(|| panic!("no response among {} datagrams", sent.len()));
        initiator.consume_response(response).expect("the response")
    }

    /// Answers the gateway's initiation `m` as the peer would; returns the session.
    pub fn respond(&mut self, shard: usize, m: &[u8]) -> Session {
        let received = noise::consume_initiation(&self.peer, m, None).expect("an initiation");
        self.next_index += 1;
        let (response, session) = received.respond(&Key::generate(), self.next_index);
        self.deliver(shard, &response);
        session
    }
}

/// Whether `m` is a handshake initiation.
pub fn is_initiation(m: &[u8]) -> bool {
    m.len() == noise::INITIATION_LEN && m[0] == noise::MESSAGE_INITIATION
}

/// Whether `m` is a keepalive: a data message with nothing inside.
pub fn is_keepalive(m: &[u8]) -> bool {
    m[0] == noise::MESSAGE_DATA && m.len() == 32
}
