//! The live-engine target's input and its driver: a two-shard engine
//! (`wiregate_dataplane::sim`, in memory) with one configured peer, played by boringtun
//! on the test side, and a script of events read from the fuzz input: datagrams of any
//! bytes, datagrams the peer seals (so the fuzzer reaches everything past
//! authentication), plaintext from the host, handshakes, altered replays of what the peer
//! sent, and time passing.
//!
//! What must hold, whatever the script: nothing panics; the engine falls quiet after each
//! event (no loop); and every packet the engine writes to its TUN is one the peer sealed,
//! from an address the peer is allowed to use.

use crate::packets::make_right;
use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use wiregate_core::{PeerConfig, PrivateKey, PublicKey};
use wiregate_dataplane::DeviceConfig;
use wiregate_dataplane::memory::Arriving;
use wiregate_dataplane::sim::Engine;

/// Events in one input at most: enough for a handshake and a burst of traffic each way.
const MAX_EVENTS: usize = 64;
/// The peer's allowed IPs: the seed flows' addresses (`packets.rs`).
const ALLOWED: [&str; 2] = ["10.99.0.0/24", "fd99::/64"];
const PEER_ENDPOINT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), 51000);
const GATEWAY_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
/// Rounds of answers between the engine and the peer after one event (a handshake is two).
const EXCHANGES: usize = 4;

/// One event of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Any bytes, from the peer's address or another, to a shard.
    Raw {
        shard: u8,
        stranger: bool,
        data: Vec<u8>,
    },
    /// A packet the peer seals in its session (lengths and checksums made right first if
    /// `repair`), to a shard.
    Sealed {
        shard: u8,
        repair: bool,
        packet: Vec<u8>,
    },
    /// A packet the host sends into the tunnel.
    Plain { repair: bool, packet: Vec<u8> },
    /// The peer starts a handshake through a shard.
    Handshake { shard: u8 },
    /// The last datagram the peer sent, one byte changed (none when `xor` is 0: a
    /// replay), to a shard.
    Altered { shard: u8, at: u16, xor: u8 },
    /// The clock moves on by this many quarter seconds.
    Advance { ticks: u8 },
}

const RAW: u8 = 0;
const SEALED: u8 = 1;
const PLAIN: u8 = 2;
const HANDSHAKE: u8 = 3;
const ALTERED: u8 = 4;
const ADVANCE: u8 = 5;
const KINDS: u8 = 6;

/// Reads a script: each event a kind byte (its value modulo 6; bit 7 is a flag), then
/// what that kind needs, lengths as big-endian 16 bits; what runs past the input is
/// short, never an error.
pub fn decode(mut data: &[u8]) -> Vec<Event> {
    let mut events = Vec::new();
    let byte = |data: &mut &[u8]| -> u8 {
        let b = data.first().copied().unwrap_or(0);
        *data = data.get(1..).unwrap_or_default();
        b
    };
    while !data.is_empty() && events.len() < MAX_EVENTS {
        let kind = byte(&mut data);
        let flag = kind & 0x80 != 0;
        let event = match (kind & 0x7f) % KINDS {
            RAW => {
                let shard = byte(&mut data);
                Event::Raw {
                    shard,
                    stranger: flag,
                    data: bytes(&mut data),
                }
            }
            SEALED => {
                let shard = byte(&mut data);
                Event::Sealed {
                    shard,
                    repair: flag,
                    packet: bytes(&mut data),
                }
            }
            PLAIN => Event::Plain {
                repair: flag,
                packet: bytes(&mut data),
            },
            HANDSHAKE => Event::Handshake {
                shard: byte(&mut data),
            },
            ALTERED => {
                let shard = byte(&mut data);
                let at = u16::from_be_bytes([byte(&mut data), byte(&mut data)]);
                let xor = byte(&mut data);
                Event::Altered { shard, at, xor }
            }
            _ => Event::Advance {
                ticks: byte(&mut data),
            },
        };
        events.push(event);
    }
    events
}

fn bytes(data: &mut &[u8]) -> Vec<u8> {
    let len = match data {
        [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
        _ => 0,
    };
    let rest = data.get(2..).unwrap_or_default();
    let len = len.min(rest.len());
    *data = &rest[len..];
    rest[..len].to_vec()
}

/// Writes a script as [`decode`] reads it (for seeds).
pub fn encode(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    let with_bytes = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u16).to_be_bytes());
        out.extend_from_slice(b);
    };
    for event in events {
        match event {
            Event::Raw {
                shard,
                stranger,
                data,
            } => {
                out.extend([RAW | u8::from(*stranger) << 7, *shard]);
                with_bytes(&mut out, data);
            }
            Event::Sealed {
                shard,
                repair,
                packet,
            } => {
                out.extend([SEALED | u8::from(*repair) << 7, *shard]);
                with_bytes(&mut out, packet);
            }
            Event::Plain { repair, packet } => {
                out.push(PLAIN | u8::from(*repair) << 7);
                with_bytes(&mut out, packet);
            }
            Event::Handshake { shard } => out.extend([HANDSHAKE, *shard]),
            Event::Altered { shard, at, xor } => {
                out.extend([ALTERED, *shard]);
                out.extend(at.to_be_bytes());
                out.push(*xor);
            }
            Event::Advance { ticks } => out.extend([ADVANCE, *ticks]),
        }
    }
    out
}

/// An engine, its peer on the test side, and what the peer sealed.
pub struct Scenario {
    engine: Engine,
    peer: Tunn,
    /// The last datagram the peer sent.
    last: Vec<u8>,
    /// Every packet the peer sealed: what the engine may write to its TUN.
    sealed: Vec<Vec<u8>>,
    buf: Vec<u8>,
}

impl Scenario {
    pub fn new() -> Self {
        let mut engine = Engine::new("fuzz0", 2, 0).expect("an engine");
        let gateway = PrivateKey::generate();
        let peer_secret = x25519::StaticSecret::random_from_rng(rand::rngs::OsRng);
        let mut config =
            PeerConfig::new(PublicKey(x25519::PublicKey::from(&peer_secret).to_bytes()));
        config.allowed_ips = ALLOWED.iter().map(|n| n.parse().expect("a net")).collect();
        config.endpoint = Some(PEER_ENDPOINT);
        engine
            .device()
            .commit(
                DeviceConfig {
                    private_key: Some(gateway.clone()),
                    peers: vec![config],
                    ..DeviceConfig::default()
                },
                &[],
            )
            .expect("the configuration");
        engine.run();
        let gateway_public = x25519::PublicKey::from(*gateway.public_key().as_bytes());
        Self {
            engine,
            peer: Tunn::new(peer_secret, gateway_public, None, None, 1, None),
            last: Vec::new(),
            sealed: Vec::new(),
            buf: vec![0; 1 << 17],
        }
    }

    /// Plays the script, checking what must hold after each event.
    pub fn play(&mut self, events: &[Event]) {
        for event in events {
            self.apply(event);
            self.exchange();
            self.check_written();
        }
    }

    fn apply(&mut self, event: &Event) {
        match event {
            Event::Raw {
                shard,
                stranger,
                data,
            } => {
                let from = if *stranger {
                    SocketAddr::from(([203, 0, 113, 9], 4000))
                } else {
                    PEER_ENDPOINT
                };
                self.arrive(*shard, from, data.clone());
            }
            Event::Sealed {
                shard,
                repair,
                packet,
            } => {
                let mut packet = packet.clone();
                if *repair {
                    make_right(&mut packet);
                }
                let datagram = match self.peer.encapsulate(&packet, &mut self.buf) {
                    TunnResult::WriteToNetwork(d) => d.to_vec(),
                    _ => return, // no session: queued by boringtun until one exists
                };
                self.sealed.push(packet);
                self.send(*shard, datagram);
            }
            Event::Plain { repair, packet } => {
                let mut packet = packet.clone();
                if *repair {
                    make_right(&mut packet);
                }
                self.engine.send_plaintext(0, packet);
                self.engine.run();
            }
            Event::Handshake { shard } => {
                if let TunnResult::WriteToNetwork(d) =
                    self.peer.format_handshake_initiation(&mut self.buf, true)
                {
                    let d = d.to_vec();
                    self.send(*shard, d);
                }
            }
            Event::Altered { shard, at, xor } => {
                let mut datagram = self.last.clone();
                if let Some(byte) = datagram.get_mut(usize::from(*at)) {
                    *byte ^= xor;
                }
                self.arrive(*shard, PEER_ENDPOINT, datagram);
            }
            Event::Advance { ticks } => {
                self.engine
                    .advance(Duration::from_millis(250) * u32::from(*ticks));
            }
        }
    }

    /// The peer sends a datagram it made.
    fn send(&mut self, shard: u8, datagram: Vec<u8>) {
        self.last = datagram.clone();
        self.arrive(shard, PEER_ENDPOINT, datagram);
    }

    fn arrive(&mut self, shard: u8, from: SocketAddr, data: Vec<u8>) {
        let arriving = Arriving {
            from,
            at: GATEWAY_IP,
            data,
        };
        self.engine.arrive(usize::from(shard), arriving);
        self.engine.run();
    }

    /// What the engine sent the peer goes to the peer, and its answers back, a few rounds.
    fn exchange(&mut self) {
        for _ in 0..EXCHANGES {
            let to_peer: Vec<(usize, Vec<u8>)> = self
                .engine
                .take_sent()
                .into_iter()
                .filter(|s| s.datagram.to == PEER_ENDPOINT)
                .map(|s| (s.shard, s.datagram.data))
                .collect();
            if to_peer.is_empty() {
                return;
            }
            for (shard, datagram) in to_peer {
                let mut answers = Vec::new();
                let mut result = self.peer.decapsulate(None, &datagram, &mut self.buf);
                // boringtun hands queued packets out one call at a time.
                while let TunnResult::WriteToNetwork(d) = result {
                    answers.push(d.to_vec());
                    result = self.peer.decapsulate(None, &[], &mut self.buf);
                }
                for answer in answers {
                    self.send(shard as u8, answer);
                }
            }
        }
    }

    /// Every packet written to the TUN is one the peer sealed, from an allowed source.
    fn check_written(&mut self) {
        for packet in self.engine.take_written() {
            assert!(
                self.sealed
                    .iter()
                    .any(|s| s.len() >= packet.len() && s[..packet.len()] == packet[..]),
                "the engine wrote a packet the peer never sealed: {packet:02x?}"
            );
            let source: Option<IpAddr> = match packet.first().map(|b| b >> 4) {
                Some(4) if packet.len() >= 20 => {
                    Some(<[u8; 4]>::try_from(&packet[12..16]).expect("4").into())
                }
                Some(6) if packet.len() >= 40 => {
                    Some(<[u8; 16]>::try_from(&packet[8..24]).expect("16").into())
                }
                _ => None,
            };
            let allowed = source.is_some_and(|ip| {
                ALLOWED
                    .iter()
                    .any(|n| n.parse::<ipnet::IpNet>().expect("a net").contains(&ip))
            });
            assert!(
                allowed,
                "written from a source the peer may not use: {source:?}"
            );
        }
    }
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Scenario({:?}, {} sealed)",
            self.engine,
            self.sealed.len()
        )
    }
}

impl Default for Scenario {
    fn default() -> Self {
        Self::new()
    }
}
