//! A device's configuration and report, as the control plane and the UAPI see them.

use std::net::SocketAddr;
use std::time::SystemTime;
use wiregate_core::{PeerConfig, PrivateKey};

/// The configuration of a device as the UAPI sees it: kernel WireGuard semantics, where
/// allowed IPs may nest (longest prefix wins) but one exact prefix has one owner.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceConfig {
    pub private_key: Option<PrivateKey>,
    pub listen_port: u16,
    pub fwmark: u32,
    pub peers: Vec<PeerConfig>,
}

/// A peer as reported: its configuration plus what the data plane observed.
#[derive(Debug, Clone)]
pub struct PeerReport {
    pub config: PeerConfig,
    /// The endpoint now in use (after roaming), else the configured one.
    pub endpoint: Option<SocketAddr>,
    pub last_handshake: Option<SystemTime>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct DeviceReport {
    pub private_key: Option<PrivateKey>,
    /// The port actually bound (differs from the configured one when that is 0).
    pub listen_port: u16,
    pub fwmark: u32,
    pub peers: Vec<PeerReport>,
}
