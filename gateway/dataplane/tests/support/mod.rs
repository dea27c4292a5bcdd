//! Shared by the in-process device tests: a network namespace of the test thread's own,
//! a device with one boringtun peer on the test side, packets to write into a TUN, and
//! the device's counters summed.
// Each test file uses its own part.
#![allow(dead_code)]

pub mod gateway;
pub mod net;
pub mod noise;
mod packet;

#[allow(unused_imports)] // not every test file sends packets
pub use packet::udp_packet;

use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519;
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;
use wiregate_core::{PeerConfig, PrivateKey, PublicKey};
use wiregate_dataplane::stats::ShardCounters;
use wiregate_dataplane::{Device, DeviceConfig, netconf, tun};

/// Moves the calling test thread into a network namespace of its own, with loopback up.
/// First thing in every test: a socket made before it is outside, where the device
/// cannot reach it (and a test that expects silence would pass for that alone).
pub fn own_namespace() {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .expect("this test needs root: it makes a network namespace and a TUN device");
    netconf::configure_link("lo", 65_535, &[]).expect("loopback up");
}

/// Every shard's counters, summed.
pub fn total(device: &Device) -> ShardCounters {
    let mut sum = ShardCounters::default();
    device.shard_counters().iter().for_each(|c| sum.add(c));
    sum
}

/// The tunnel's address on its TUN, and the one peer's (its allowed IP).
pub const TUNNEL_ADDR: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
pub const PEER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 2);
/// The TUN's MTU.
pub const MTU: u16 = 1420;

/// The test side's WireGuard peer: boringtun over a loopback socket.
pub struct Client {
    pub tunn: Tunn,
    pub socket: UdpSocket,
    /// The device's public key.
    pub server_public: x25519::PublicKey,
    buf: Vec<u8>,
}

/// A two-shard device on the TUN `name` at `TUNNEL_ADDR`/24 with one peer at `PEER_ADDR`,
/// and that peer, not yet handshaken.
pub fn device_with_client(name: &str) -> (Arc<Device>, Client) {
    let server_key = PrivateKey::generate();
    let client_secret = x25519::StaticSecret::random_from_rng(rand::rngs::OsRng);
    let mut peer = PeerConfig::new(PublicKey(
        x25519::PublicKey::from(&client_secret).to_bytes(),
    ));
    peer.allowed_ips = vec![format!("{PEER_ADDR}/32").parse().unwrap()];
    let device = Device::start(name, tun::open(name, 2).expect("TUN"), 0).expect("device");
    let config = DeviceConfig {
        private_key: Some(server_key.clone()),
        peers: vec![peer],
        ..DeviceConfig::default()
    };
    device.commit(config, &[]).unwrap();
    netconf::configure_link(name, MTU, &[format!("{TUNNEL_ADDR}/24").parse().unwrap()]).unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .connect(("127.0.0.1", device.report().listen_port))
        .unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let server_public = x25519::PublicKey::from(*server_key.public_key().as_bytes());
    let client = Client {
        tunn: Tunn::new(client_secret, server_public, None, None, 7, None),
        socket,
        server_public,
        buf: vec![0; 65_536],
    };
    (device, client)
}

impl Client {
    pub fn send(&self, datagram: &[u8]) {
        self.socket.send(datagram).expect("send to the device");
    }

    pub fn recv(&mut self) -> Vec<u8> {
        let n = self
            .socket
            .recv(&mut self.buf)
            .expect("no answer from the device");
        self.buf[..n].to_vec()
    }

    pub fn handshake(&mut self) {
        let mut out = vec![0u8; 2048];
        let TunnResult::WriteToNetwork(init) =
            self.tunn.format_handshake_initiation(&mut out, false)
        else {
            panic!("no initiation");
        };
        let init = init.to_vec();
        self.send(&init);
        let response = self.recv();
        match self.tunn.decapsulate(None, &response, &mut out) {
            TunnResult::WriteToNetwork(keepalive) => {
                let keepalive = keepalive.to_vec();
                self.send(&keepalive);
            }
            other => panic!("handshake response not accepted: {other:?}"),
        }
    }

    pub fn seal(&mut self, packet: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; packet.len() + 64];
        match self.tunn.encapsulate(packet, &mut out) {
            TunnResult::WriteToNetwork(d) => d.to_vec(),
            other => panic!("cannot encrypt: {other:?}"),
        }
    }
}
