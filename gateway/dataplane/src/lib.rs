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
//! A shard's loop works over two batch interfaces ([`io`]): the host's socket and TUN
//! queue, or the in-memory doubles of [`memory`], with which [`sim`] runs the engine in
//! one thread, in simulated time, without root.
//!
//! The engine runs on Linux. Its platform-independent parts (allowed IPs, indices,
//! coalescing, send batching, the handshake queue, the UAPI parser, the seam and its
//! doubles) build everywhere, so they are built, linted and tested for Windows too;
//! there, nothing uses them yet.
#![deny(unsafe_code)]
#![cfg_attr(not(target_os = "linux"), allow(dead_code, unused_imports))]

// Platform-independent.
pub mod allowedips;
#[cfg_attr(target_os = "linux", allow(dead_code))]
mod checksum;
mod coalesce;
pub mod config;
mod cookie;
mod handoff;
mod handshake;
pub mod index;
mod index_cipher;
pub mod io;
mod macs;
pub mod memory;
mod padding;
mod ratelimit;
mod send;
mod slotset;
pub mod stats;
pub mod tun_batch;
pub mod uapi;

/// The TUN write coalescer, for the fuzz targets only (feature `fuzzing`); the engine's
/// own surface does not include it.
#[cfg(feature = "fuzzing")]
pub use coalesce::Coalescer;
pub use config::{DeviceConfig, DeviceReport, PeerReport};

// The engine itself: Linux.
#[cfg(target_os = "linux")]
mod backend;
#[cfg(target_os = "linux")]
mod device;
#[cfg(target_os = "linux")]
mod peer;
#[cfg(target_os = "linux")]
mod receive;
#[cfg(target_os = "linux")]
mod routing;
#[cfg(target_os = "linux")]
mod sessions;
#[cfg(target_os = "linux")]
mod shard;
#[cfg(target_os = "linux")]
pub mod sim;
#[cfg(target_os = "linux")]
mod stall;
#[cfg(target_os = "linux")]
mod steering;
#[cfg(target_os = "linux")]
mod timers;
#[cfg(target_os = "linux")]
mod transmit;
#[cfg(target_os = "linux")]
pub mod tun;
#[cfg(target_os = "linux")]
pub mod uapi_server;
#[cfg(target_os = "linux")]
pub mod udp;
#[cfg(target_os = "linux")]
pub use backend::{UserspaceFactory, UserspaceTunnel};
#[cfg(target_os = "linux")]
pub use device::{Device, DeviceError};
#[cfg(target_os = "linux")]
pub use stall::ShardStall;
/// Interface configuration (its own crate, shared with the kernel backend).
#[cfg(target_os = "linux")]
pub use wiregate_netconf as netconf;
