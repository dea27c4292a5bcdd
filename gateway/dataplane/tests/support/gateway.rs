//! A device on a TUN of the test's own, and the test side's sockets around it, for tests
//! that speak WireGuard through [`super::noise`].

use super::TUNNEL_ADDR;
use super::noise::{self, Initiation, Key};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use wiregate_core::{PeerConfig, PrivateKey, PublicKey};
use wiregate_dataplane::stats::ShardCounters;
use wiregate_dataplane::{Device, DeviceConfig, netconf, tun};

/// Where the tunnel's side receives what comes out of the TUN.
pub const SINK_PORT: u16 = 5000;
/// How long anything expected may take.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A device on its own TUN `name`, at 10.9.0.1/24, in the calling thread's namespace
/// (its shard threads inherit it).
pub struct Gateway {
    pub device: Arc<Device>,
    pub public: noise::Bytes32,
    pub addr: SocketAddr,
}

impl Gateway {
    pub fn start(name: &str, peers: Vec<PeerConfig>) -> Self {
        let key = PrivateKey::generate();
        let device = Device::start(name, tun::open(name, 2).expect("TUN"), 0).expect("device");
        let config = DeviceConfig {
            private_key: Some(key.clone()),
            peers,
            ..DeviceConfig::default()
        };
        device.commit(config, &[]).expect("commit");
        netconf::configure_link(name, 1420, &["10.9.0.1/24".parse().unwrap()]).unwrap();
        let port = device.report().listen_port;
        Self {
            device,
            public: *key.public_key().as_bytes(),
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        }
    }

    pub fn counters(&self) -> ShardCounters {
        super::total(&self.device)
    }

    /// The counters once `done` holds of them, or as they are after `PATIENCE`.
    pub fn counters_when(&self, done: impl Fn(&ShardCounters) -> bool) -> ShardCounters {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let c = self.counters();
            if done(&c) || Instant::now() > deadline {
                return c;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// An initiation from `static_key` with `ephemeral`, stamped now.
    pub fn initiation(&self, static_key: Key, ephemeral: Key, sender: u32) -> Initiation {
        Initiation {
            static_key,
            ephemeral,
            responder: self.public,
            sender,
            timestamp: noise::tai64n(SystemTime::now()),
            psk: None,
        }
    }
}

pub fn peer(public: noise::Bytes32, allowed: Ipv4Addr) -> PeerConfig {
    let mut peer = PeerConfig::new(PublicKey(public));
    peer.allowed_ips = vec![format!("{allowed}/32").parse().unwrap()];
    peer
}

pub fn loopback_socket() -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("loopback socket")
}

/// The tunnel side's socket, for what the device writes to the TUN.
pub fn sink() -> UdpSocket {
    UdpSocket::bind((TUNNEL_ADDR, SINK_PORT)).expect("sink on the tunnel address")
}

/// The next datagram within `wait`, if any.
pub fn recv_within(socket: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    if wait.is_zero() {
        return None; // a zero read timeout is an error, not a poll
    }
    socket.set_read_timeout(Some(wait)).unwrap();
    let mut buf = vec![0; 65_536];
    let n = socket.recv(&mut buf).ok()?;
    Some(buf[..n].to_vec())
}

pub fn expect_within(socket: &UdpSocket, what: &str) -> Vec<u8> {
    recv_within(socket, PATIENCE).unwrap_or_else(|| panic!("no {what} within {PATIENCE:?}"))
}
