//! wiregate's userspace WireGuard engine.
//!
//! A [`Device`] is one tunnel: a TUN interface with one queue per shard, and N shards,
//! each a thread that owns a `SO_REUSEPORT` UDP socket, its peers and its buffers. Packets
//! find the shard that owns their peer through the receiver index (random on the wire,
//! with the owning shard inside under the device's key: `sessions.rs`) or the
//! allowed-IPs table (see [`allowedips`]), and are handed over in batches when they arrive
//! on another shard. The control plane changes a device with [`Device::commit`] and reads
//! it with [`Device::report`]; [`uapi`] speaks the cross-platform userspace API on top.
//!
//! Linux only: on other systems the crate is empty.
#![cfg(target_os = "linux")]
#![deny(unsafe_code)]

pub mod allowedips;
mod backend;
mod coalesce;
mod device;
mod handoff;
mod handshake;
pub mod index;
mod index_cipher;
/// Interface configuration (its own crate, shared with the kernel backend).
pub use wiregate_netconf as netconf;
mod macs;
mod padding;
mod peer;
mod ratelimit;
mod receive;
mod routing;
mod send;
mod sessions;
mod shard;
mod slotset;
mod stall;
pub mod stats;
mod steering;
mod timers;
mod transmit;
pub mod tun;
pub mod udp;

/// The TUN write coalescer, for the fuzz targets only (feature `fuzzing`); the engine's
/// own surface does not include it.
#[cfg(feature = "fuzzing")]
pub use coalesce::Coalescer;
pub use device::{Device, DeviceConfig, DeviceError, DeviceReport, PeerReport};
pub use stall::ShardStall;
pub mod uapi;
pub mod uapi_server;
pub use backend::{UserspaceFactory, UserspaceTunnel};
