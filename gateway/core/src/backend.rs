//! The one interface every data plane implements: desired state in, observed state out.
//!
//! A backend owns one tunnel. The control plane hands it a validated [`TunnelConfig`];
//! the backend changes only what differs, so established sessions of untouched peers
//! survive every `apply`. Reading back never blocks the data path.

use crate::config::TunnelConfig;
use crate::key::PublicKey;
use ipnet::IpNet;
use std::net::SocketAddr;
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("invalid configuration: {0}")]
    Config(Box<crate::config::ConfigError>),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Unsupported(String),
}

impl From<crate::config::ConfigError> for BackendError {
    fn from(e: crate::config::ConfigError) -> Self {
        Self::Config(Box::new(e))
    }
}

impl BackendError {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// What a backend reports of one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerState {
    pub public_key: PublicKey,
    pub endpoint: Option<SocketAddr>,
    pub allowed_ips: Vec<IpNet>,
    pub persistent_keepalive: Option<u16>,
    pub has_preshared_key: bool,
    pub last_handshake: Option<SystemTime>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// What a backend reports of its tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelState {
    pub name: String,
    pub public_key: PublicKey,
    pub listen_port: u16,
    pub peers: Vec<PeerState>,
}

/// The backends a tunnel may name, in the configuration file and the API.
/// Which of them a build can run depends on its system: Linux runs the first two, Windows
/// the third.
pub const KINDS: &[&str] = &["userspace", "linux-kernel", "windows-nt"];

pub trait Backend: Send + Sync {
    /// Short name for logs and the API ("userspace", "linux-kernel", "windows-nt").
    fn kind(&self) -> &'static str;
    /// Makes the data plane match `desired`, touching only what differs.
    fn apply(&self, desired: &TunnelConfig) -> Result<(), BackendError>;
    /// The tunnel as the data plane sees it now.
    fn state(&self) -> Result<TunnelState, BackendError>;
    /// The data plane's own counters, for metrics; `None` where it keeps none.
    fn data_plane_stats(&self) -> Option<crate::DataPlaneStats> {
        None
    }
}

/// Creates a tunnel's backend (its interface and data plane) from its first configuration.
/// `kind` is the tunnel's backend setting ("userspace", ...); dropping the backend removes
/// the tunnel from the host.
pub trait BackendFactory: Send + Sync {
    fn create(&self, kind: &str, desired: &TunnelConfig) -> Result<Box<dyn Backend>, BackendError>;
}
