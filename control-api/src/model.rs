//! The records the store keeps: tunnels and their peers, as the control plane sees them.
//! What a backend receives is derived from them (`TunnelRecord::desired`).

use ipnet::IpNet;
use std::net::SocketAddr;
use wiregate_core::{
    Endpoint, Host, PeerConfig, PresharedKey, PrivateKey, PublicKey, TunnelConfig,
};

/// Seconds since the Unix epoch.
pub type Timestamp = i64;

pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelRecord {
    pub name: String,
    pub listen_port: u16,
    pub private_key: PrivateKey,
    /// The gateway's own addresses on the tunnel interface.
    pub addresses: Vec<IpNet>,
    pub mtu: u16,
    /// Where peers' tunnel addresses come from (IPAM).
    pub pools: Vec<IpNet>,
    /// `host:port` clients connect to, for exported configs.
    pub public_endpoint: Option<Endpoint>,
    /// DNS servers (addresses) and search domains (names) for exported client configs.
    pub dns: Vec<Host>,
    /// Keep server-generated peer private keys, so their configs can be downloaded later.
    pub keep_private_keys: bool,
    pub backend: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// `SO_MARK` for the tunnel's datagrams; 0 is none.
    pub fwmark: u32,
    /// Networks behind peers that API peers may route, besides the pools and the tunnel's
    /// own networks (see `routes.rs`).
    pub routable: Vec<IpNet>,
    /// Which of the gateways sharing the store run it.
    pub placement: Placement,
}

/// Where a tunnel runs among the gateways sharing the store (the nodes of the fleet).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Placement {
    /// On every node, with the same key and port on each.
    #[default]
    Every,
    /// On one of these nodes at a time: one of them only (pinned), or, with several, the
    /// one holding the tunnel's lease, and another when that one is lost.
    OneOf(Vec<String>),
}

impl Placement {
    /// The nodes it is placed on, `None` for every node (as the API and the store say it).
    pub fn nodes(&self) -> Option<&[String]> {
        match self {
            Self::Every => None,
            Self::OneOf(nodes) => Some(nodes),
        }
    }

    pub fn from_nodes(nodes: Option<Vec<String>>) -> Self {
        nodes.map_or(Self::Every, Self::OneOf)
    }

    /// Whether the tunnel moves between nodes through a lease (placed on several).
    pub fn leased(&self) -> bool {
        matches!(self, Self::OneOf(nodes) if nodes.len() > 1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    pub id: i64,
    pub tunnel: String,
    pub name: String,
    pub tags: Vec<String>,
    pub public_key: PublicKey,
    pub preshared_key: Option<PresharedKey>,
    /// Only for server-generated keys, and only if the tunnel keeps them.
    pub private_key: Option<PrivateKey>,
    /// The peer's own tunnel addresses (from the pools), host prefixes.
    pub addresses: Vec<IpNet>,
    /// Further prefixes routed to the peer (site-to-site).
    pub routes: Vec<IpNet>,
    pub endpoint: Option<SocketAddr>,
    pub persistent_keepalive: Option<u16>,
    pub enabled: bool,
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl PeerRecord {
    /// Whether the data plane should carry this peer at `now`.
    pub fn active(&self, now: Timestamp) -> bool {
        self.enabled && self.expires_at.is_none_or(|at| at > now)
    }

    pub fn allowed_ips(&self) -> Vec<IpNet> {
        self.addresses.iter().chain(&self.routes).copied().collect()
    }

    /// The peer as a backend configures it.
    pub fn config(&self) -> PeerConfig {
        PeerConfig {
            public_key: self.public_key,
            preshared_key: self.preshared_key.clone(),
            allowed_ips: self.allowed_ips(),
            endpoint: self.endpoint,
            persistent_keepalive: self.persistent_keepalive,
        }
    }
}

impl TunnelRecord {
    /// The configuration a backend must carry: enabled, unexpired peers only.
    pub fn desired(&self, peers: &[PeerRecord], now: Timestamp) -> TunnelConfig {
        TunnelConfig {
            name: self.name.clone(),
            listen_port: self.listen_port,
            private_key: self.private_key.clone(),
            addresses: self.addresses.clone(),
            mtu: self.mtu,
            fwmark: self.fwmark,
            peers: peers
                .iter()
                .filter(|p| p.active(now))
                .map(PeerRecord::config)
                .collect(),
        }
    }
}

/// A gateway process sharing the store (a node of the fleet), as it last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub name: String,
    pub version: String,
    pub started_at: Timestamp,
    /// When it last reported, by the store's clock (the store sets it).
    pub last_seen: Timestamp,
    /// Seconds since then, by the store's clock (the store sets it when read), so that
    /// the nodes' own clocks never matter.
    pub seen_ago: i64,
    /// It stopped cleanly, and said so.
    pub stopped: bool,
    /// The tunnels it serves.
    pub serving: Vec<String>,
}
