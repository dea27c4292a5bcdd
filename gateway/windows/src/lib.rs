//! wiregate's `windows-nt` backend: a tunnel whose data plane is the WireGuardNT kernel
//! driver, driven through the signed `wireguard.dll`.
//!
//! The driver takes and gives its configuration as one buffer: a `WIREGUARD_INTERFACE`,
//! then for each peer a `WIREGUARD_PEER` followed by its `WIREGUARD_ALLOWED_IP`s, each
//! structure 8-byte aligned. That buffer is plain bytes here (`layout.rs` has the
//! header's offsets, `encode.rs` and `decode.rs` write and read it), so it is built and
//! unit-tested on every platform; `plan.rs` turns the driver's state and the desired
//! configuration into an incremental change, as the Linux kernel backend does.
#![deny(unsafe_code)]

#[cfg(windows)]
pub mod acl;
pub mod acl_check;
#[cfg(windows)]
mod adapter;
#[cfg(windows)]
mod backend;
pub mod decode;
#[cfg(windows)]
pub mod dll;
#[cfg(windows)]
pub mod elevation;
pub mod encode;
#[cfg(windows)]
mod ipconfig;
pub mod layout;
pub mod plan;
pub mod state;
pub mod verify;

#[cfg(windows)]
pub use backend::{WindowsFactory, WindowsTunnel};
pub use decode::{DecodeError, decode};
pub use encode::encode;

use ipnet::IpNet;
use std::net::SocketAddr;
use wiregate_core::PublicKey;

/// The interface part of a configuration buffer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interface {
    /// `WIREGUARD_INTERFACE_*` flags (see [`layout::interface_flags`]).
    pub flags: u32,
    pub listen_port: u16,
    pub private_key: [u8; 32],
    pub public_key: [u8; 32],
}

/// One peer of a configuration buffer, with its allowed IPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// `WIREGUARD_PEER_*` flags (see [`layout::peer_flags`]).
    pub flags: u32,
    pub public_key: PublicKey,
    pub preshared_key: [u8; 32],
    /// Seconds; 0 is off.
    pub persistent_keepalive: u16,
    /// `None`: no endpoint (a road warrior's, until it sends).
    pub endpoint: Option<SocketAddr>,
    /// What the driver reports; ignored when setting.
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    /// 100 ns intervals since 1601-01-01 UTC; 0 is never.
    pub last_handshake: u64,
    pub allowed_ips: Vec<IpNet>,
}

impl Peer {
    pub fn new(public_key: PublicKey) -> Self {
        Self {
            flags: layout::peer_flags::HAS_PUBLIC_KEY,
            public_key,
            preshared_key: [0; 32],
            persistent_keepalive: 0,
            endpoint: None,
            tx_bytes: 0,
            rx_bytes: 0,
            last_handshake: 0,
            allowed_ips: Vec::new(),
        }
    }
}

/// A whole configuration buffer, as set or as read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configuration {
    pub interface: Interface,
    pub peers: Vec<Peer>,
}
