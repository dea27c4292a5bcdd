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

/// Upper bounds of the batch-size histograms' buckets (a last bucket takes the rest).
pub const BATCH_BUCKETS: [u64; 8] = [1, 2, 4, 8, 16, 32, 64, 128];

/// How many packets or datagrams one I/O call moved, as a histogram.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchSizes {
    /// `"udp"` or `"tun"`.
    pub io: &'static str,
    /// `"rx"` or `"tx"`.
    pub direction: &'static str,
    /// Calls per bucket of [`BATCH_BUCKETS`], then the calls above the last bound.
    pub counts: [u64; BATCH_BUCKETS.len() + 1],
    /// Packets moved by all the calls.
    pub sum: u64,
}

/// A tunnel's data-plane counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataPlaneStats {
    pub handshakes_completed: u64,
    /// Initiations from peers that passed their MAC check and were queued.
    pub handshake_initiations_received: u64,
    /// Initiations the gateway sent (a session to start or renew).
    pub handshake_initiations_sent: u64,
    /// Initiations received that could not be opened: a key not configured, a failed
    /// decryption, a replayed timestamp.
    pub handshakes_failed: u64,
    pub cookie_replies_sent: u64,
    /// Whether new initiations must carry a cookie now.
    pub under_load: bool,
    /// Packets dropped, by reason (`"bad_mac"`, `"replay"`, ...), in a fixed order.
    pub drops: Vec<(&'static str, u64)>,
    /// In shard order.
    pub shards: Vec<ShardLoad>,
    /// UDP and TUN, receive and send.
    pub batches: Vec<BatchSizes>,
}
