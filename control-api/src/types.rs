//! The API's resources and requests, as JSON. Requests refuse unknown fields, so a typo
//! is an error rather than a silently ignored setting. Private keys appear in exactly one
//! place: the response that creates a peer with a server-generated key.

use crate::model::{PeerRecord, Timestamp, TunnelRecord};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use std::net::SocketAddr;
use utoipa::ToSchema;

/// `null` and absent are different in a PATCH: absent keeps the value, `null` clears it.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTunnel {
    /// Interface name: 1-15 characters of a-z, A-Z, 0-9, `_-.=+`.
    pub name: String,
    pub listen_port: u16,
    /// The gateway's addresses on the tunnel, with prefix (`10.8.0.1/24`).
    #[schema(value_type = Vec<String>)]
    #[serde(default)]
    pub addresses: Vec<IpNet>,
    pub mtu: Option<u16>,
    /// Prefixes peers' addresses are allocated from (one IPv4 and/or one IPv6, typically).
    #[schema(value_type = Vec<String>)]
    #[serde(default)]
    pub pools: Vec<IpNet>,
    /// `host:port` that clients connect to; written into exported configs.
    pub public_endpoint: Option<String>,
    #[serde(default)]
    pub dns: Vec<String>,
    /// Keep server-generated peer private keys so configs can be downloaded later.
    #[serde(default)]
    pub keep_private_keys: bool,
    /// Data-plane backend: `userspace` (the default) or `linux-kernel` on Linux,
    /// `windows-nt` on Windows.
    pub backend: Option<String>,
    /// `SO_MARK` for the tunnel's UDP datagrams (policy routing); 0 is none.
    #[serde(default)]
    pub fwmark: u32,
    /// Networks behind peers (sites) that peers' `routes` may cover, besides the pools
    /// and the tunnel's own networks. Nothing else is routed into the host's table.
    #[schema(value_type = Vec<String>)]
    #[serde(default)]
    pub routable: Vec<IpNet>,
    /// The nodes (gateways sharing the store) that may run it: one (pinned there), or
    /// several (one of them at a time, another taking over within 15 s when it is lost).
    /// Absent or null: every node.
    pub nodes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TunnelPatch {
    pub listen_port: Option<u16>,
    #[schema(value_type = Option<Vec<String>>)]
    pub addresses: Option<Vec<IpNet>>,
    pub mtu: Option<u16>,
    #[schema(value_type = Option<Vec<String>>)]
    pub pools: Option<Vec<IpNet>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub public_endpoint: Option<Option<String>>,
    pub dns: Option<Vec<String>>,
    pub keep_private_keys: Option<bool>,
    /// Switching it recreates the tunnel on the new backend: peers stay, sessions
    /// restart with a new handshake.
    pub backend: Option<String>,
    pub fwmark: Option<u32>,
    #[schema(value_type = Option<Vec<String>>)]
    pub routable: Option<Vec<IpNet>>,
    /// null: every node.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Vec<String>>)]
    pub nodes: Option<Option<Vec<String>>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TunnelStatus {
    /// On this gateway: `running`; `failed`, with the reason in `error`; `pending`, not
    /// started yet; or `standby`, placed on other nodes (or, placed on several, another
    /// holds it).
    pub state: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Tunnel {
    pub name: String,
    pub public_key: String,
    pub listen_port: u16,
    #[schema(value_type = Vec<String>)]
    pub addresses: Vec<IpNet>,
    pub mtu: u16,
    #[schema(value_type = Vec<String>)]
    pub pools: Vec<IpNet>,
    pub public_endpoint: Option<String>,
    pub dns: Vec<String>,
    pub keep_private_keys: bool,
    pub backend: String,
    pub fwmark: u32,
    #[schema(value_type = Vec<String>)]
    pub routable: Vec<IpNet>,
    /// The nodes that may run it; null: every node.
    pub nodes: Option<Vec<String>>,
    pub status: TunnelStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Only in the answer to a change that sets `keep_private_keys` to false: how many
    /// stored peer private keys it deleted (their configs can no longer be downloaded
    /// with a key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forgotten_private_keys: Option<usize>,
}

impl Tunnel {
    pub fn new(t: &TunnelRecord, status: TunnelStatus) -> Self {
        Self {
            name: t.name.clone(),
            public_key: t.private_key.public_key().to_base64(),
            listen_port: t.listen_port,
            addresses: t.addresses.clone(),
            mtu: t.mtu,
            pools: t.pools.clone(),
            public_endpoint: t.public_endpoint.as_ref().map(ToString::to_string),
            dns: t.dns.iter().map(ToString::to_string).collect(),
            keep_private_keys: t.keep_private_keys,
            backend: t.backend.clone(),
            fwmark: t.fwmark,
            routable: t.routable.clone(),
            nodes: t.placement.nodes().map(<[String]>::to_vec),
            status,
            created_at: t.created_at,
            updated_at: t.updated_at,
            forgotten_private_keys: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPeer {
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The peer's public key (base64). Omit it to have the server generate a keypair;
    /// the private key is then returned once, in this response.
    pub public_key: Option<String>,
    /// A preshared key (base64), or omit and set `generate_preshared_key`.
    pub preshared_key: Option<String>,
    #[serde(default)]
    pub generate_preshared_key: bool,
    /// Specific tunnel addresses (host prefixes inside the pools); default: the next free
    /// address of each pool.
    #[schema(value_type = Option<Vec<String>>)]
    pub addresses: Option<Vec<IpNet>>,
    /// Further prefixes routed to this peer (site-to-site).
    #[schema(value_type = Vec<String>)]
    #[serde(default)]
    pub routes: Vec<IpNet>,
    #[schema(value_type = Option<String>)]
    pub endpoint: Option<SocketAddr>,
    pub persistent_keepalive: Option<u16>,
    pub enabled: Option<bool>,
    /// Unix seconds after which the peer leaves the data plane (it stays in the store).
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeerPatch {
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub preshared_key: Option<Option<String>>,
    #[schema(value_type = Option<Vec<String>>)]
    pub routes: Option<Vec<IpNet>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub endpoint: Option<Option<SocketAddr>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u16>)]
    pub persistent_keepalive: Option<Option<u16>>,
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub expires_at: Option<Option<Timestamp>>,
}

/// What the data plane reports of a peer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeerStatus {
    pub endpoint: Option<String>,
    /// Unix seconds of the last completed handshake.
    pub last_handshake: Option<Timestamp>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Peer {
    pub id: i64,
    pub tunnel: String,
    pub name: String,
    pub tags: Vec<String>,
    pub public_key: String,
    pub has_preshared_key: bool,
    /// The server keeps this peer's private key (its config can be downloaded).
    pub has_private_key: bool,
    #[schema(value_type = Vec<String>)]
    pub addresses: Vec<IpNet>,
    #[schema(value_type = Vec<String>)]
    pub routes: Vec<IpNet>,
    pub endpoint: Option<String>,
    pub persistent_keepalive: Option<u16>,
    pub enabled: bool,
    pub expires_at: Option<Timestamp>,
    /// Whether the data plane carries the peer now (enabled and not expired).
    pub active: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Present on single-peer reads when the tunnel is running.
    pub status: Option<PeerStatus>,
}

impl Peer {
    pub fn new(p: &PeerRecord, now: Timestamp) -> Self {
        Self {
            id: p.id,
            tunnel: p.tunnel.clone(),
            name: p.name.clone(),
            tags: p.tags.clone(),
            public_key: p.public_key.to_base64(),
            has_preshared_key: p.preshared_key.is_some(),
            has_private_key: p.private_key.is_some(),
            addresses: p.addresses.clone(),
            routes: p.routes.clone(),
            endpoint: p.endpoint.map(|e| e.to_string()),
            persistent_keepalive: p.persistent_keepalive,
            enabled: p.enabled,
            expires_at: p.expires_at,
            active: p.active(now),
            created_at: p.created_at,
            updated_at: p.updated_at,
            status: None,
        }
    }
}

/// The answer to creating a peer: the peer, and, if the server generated its keypair,
/// the private key and a ready wg-quick config. They are not shown again (unless the
/// tunnel keeps private keys, for the config).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedPeer {
    #[serde(flatten)]
    pub peer: Peer,
    pub private_key: Option<String>,
    pub config: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PeerPage {
    pub items: Vec<Peer>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_after: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PeerQuery {
    /// Page size, 1-1000 (default 100).
    pub limit: Option<usize>,
    /// Only peers with an id greater than this (from `next_after`).
    pub after: Option<i64>,
    /// Only peers whose name contains this.
    pub name: Option<String>,
    /// Only peers with this tag.
    pub tag: Option<String>,
    pub enabled: Option<bool>,
}

/// A gateway sharing the store (a node of the fleet).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Node {
    pub name: String,
    pub version: String,
    /// When its process started (Unix seconds).
    pub started_at: Timestamp,
    /// When it last reported (Unix seconds, by the database's clock); it reports every 2 s.
    pub last_seen: Timestamp,
    pub state: crate::nodes::NodeState,
    /// The tunnels it serves.
    pub tunnels: Vec<String>,
}

impl Node {
    pub fn new(record: crate::model::NodeRecord) -> Self {
        Node {
            state: crate::nodes::NodeState::of(&record),
            name: record.name,
            version: record.version,
            started_at: record.started_at,
            last_seen: record.last_seen,
            tunnels: record.serving,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NodeList {
    pub items: Vec<Node>,
}
