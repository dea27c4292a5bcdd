//! What a data plane counts beyond each peer's bytes and handshake: the figures behind
//! wiregate's own metrics. The userspace backend keeps them per shard and sums them when
//! asked; the kernel's WireGuard does not expose them, so that backend has none.

/// One shard's load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardLoad {
    pub peers: u64,
    /// Data packets decrypted, and the plaintext bytes written to the TUN.
    pub rx_packets: u64,
    pub rx_bytes: u64,
    /// Data packets encrypted, and the bytes sent.
    pub tx_packets: u64,
    pub tx_bytes: u64,
}

/// A tunnel's data-plane counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataPlaneStats {
    pub handshakes_completed: u64,
    /// Initiations from peers that passed their MAC check and were queued.
    pub handshake_initiations_received: u64,
    pub cookie_replies_sent: u64,
    /// Whether new initiations must carry a cookie now.
    pub under_load: bool,
    /// Packets dropped, by reason (`"bad_mac"`, `"replay"`, ...), in a fixed order.
    pub drops: Vec<(&'static str, u64)>,
    /// In shard order.
    pub shards: Vec<ShardLoad>,
}
