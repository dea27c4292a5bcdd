//! Vocabulary shared by every wiregate crate.
//!
//! Nothing here does I/O: keys and their encodings, the desired configuration of a tunnel
//! and its peers (with the validation every backend relies on), the [`Backend`] trait that
//! the userspace, Linux-kernel and Windows-NT data planes implement, and the WireGuard
//! protocol constants.
#![forbid(unsafe_code)]

pub mod backend;
pub mod config;
pub mod dataplane_stats;
pub mod host;
pub mod key;
pub mod low_order;
pub mod protocol;
pub mod stop;

pub use backend::{Backend, BackendError, BackendFactory, PeerState, TunnelState};
pub use config::{ConfigError, PeerConfig, TunnelConfig};
pub use dataplane_stats::{BATCH_BUCKETS, BatchSizes, DataPlaneStats, ShardLoad};
pub use host::{Endpoint, Host};
pub use key::{KeyError, PresharedKey, PrivateKey, PublicKey};
