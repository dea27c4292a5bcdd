//! Counters. Each shard owns one [`ShardStats`] and is its only writer, so the relaxed
//! atomic adds on the hot path never contend; readers (the UAPI, metrics) sum them when
//! asked. Drops are counted here by reason, never logged per packet.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use wiregate_core::{BATCH_BUCKETS, BatchSizes};

macro_rules! counters {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {
        /// Per-shard counters, written by the owning shard only.
        #[derive(Debug, Default)]
        pub struct ShardStats {
            $(#[$doc] pub $name: AtomicU64,)*
            /// Unix milliseconds until which the shard answers initiations with cookies
            /// (a deadline, not a counter: it is not in the snapshots).
            under_load_until_ms: AtomicU64,
            /// Datagrams per UDP receive and send call, packets per TUN read and write.
            pub udp_rx_batch: BatchHistogram,
            pub udp_tx_batch: BatchHistogram,
            pub tun_rx_batch: BatchHistogram,
            pub tun_tx_batch: BatchHistogram,
        }

        /// A point-in-time copy of a [`ShardStats`], or a sum of several.
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
        pub struct ShardCounters {
            $(#[$doc] pub $name: u64,)*
        }

        /// A batch-size histogram with the buckets of [`BATCH_BUCKETS`], written by one shard.
#[derive(Debug, Default)]
pub struct BatchHistogram {
    counts: [AtomicU64; BATCH_BUCKETS.len() + 1],
    sum: AtomicU64,
}

impl BatchHistogram {
    /// Counts one call that moved `n` packets (calls that moved none are not batches).
    #[inline]
    pub fn observe(&self, n: usize) {
        if n == 0 {
            return;
        }
        let n = n as u64;
        let bucket = BATCH_BUCKETS
            .iter()
            .position(|&bound| n <= bound)
            .unwrap_or(BATCH_BUCKETS.len());
        bump(&self.counts[bucket], 1);
        bump(&self.sum, n);
    }

    /// Adds this histogram's figures to `into`.
    pub fn add_to(&self, into: &mut BatchSizes) {
        for (total, count) in into.counts.iter_mut().zip(&self.counts) {
            *total += count.load(Relaxed);
        }
        into.sum += self.sum.load(Relaxed);
    }
}

impl ShardStats {
    /// The four batch histograms, named as metrics name them.
    pub fn batches(&self) -> [(&'static str, &'static str, &BatchHistogram); 4] {
        [
            ("udp", "rx", &self.udp_rx_batch),
            ("udp", "tx", &self.udp_tx_batch),
            ("tun", "rx", &self.tun_rx_batch),
            ("tun", "tx", &self.tun_tx_batch),
        ]
    }

            pub fn snapshot(&self) -> ShardCounters {
                ShardCounters { $($name: self.$name.load(Relaxed),)* }
            }
        }

        impl ShardCounters {
            pub fn add(&mut self, other: &ShardCounters) {
                $(self.$name += other.$name;)*
            }
            /// `(name, value)` pairs in declaration order, for text output and metrics.
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name),)*]
            }
        }
    };
}

counters! {
    /// Peers this shard owns.
    peers,
    /// Commands (peer changes) sent to this shard that it has not taken yet: more than a few for long means the shard is stuck or swamped.
    commands_pending,
    /// UDP datagrams received on this shard's socket.
    rx_datagrams,
    /// Data packets decrypted for peers this shard owns.
    rx_data_packets,
    /// Plaintext bytes written to the TUN device.
    rx_bytes,
    /// Data packets encrypted and sent for peers this shard owns.
    tx_data_packets,
    /// Encrypted bytes sent.
    tx_bytes,
    /// Packets handed to this shard by others.
    handoffs_in,
    /// Packets this shard handed to their owner.
    handoffs_out,
    /// Indexed datagrams (data, response, cookie) that arrived on another shard than their owner's: kernel steering keeps this at zero.
    misdirected,
    /// Handshakes completed (either side initiated).
    handshakes,
    /// Initiations from peers that passed their MAC check and were queued.
    handshake_initiations,
    /// Initiations this shard sent for its peers.
    handshake_initiations_sent,
    /// Queued initiations that could not be opened (unknown key, decryption, replay).
    handshake_failures,
    /// Peers whose keys expired (a handshake unanswered for 90 s, or no new keys for 9 minutes): their Noise state was freed.
    noise_expired,
    /// Cookie replies sent because the tunnel was under load.
    cookie_replies,
    /// Batched UDP sends (one sendmsg with GSO, or one plain send).
    udp_send_calls,
    /// Datagrams whose receiver index names no peer.
    drop_unknown_index,
    /// Handshake initiations from a public key that is not configured.
    drop_unknown_peer,
    /// Decrypted packets whose source address is not among the peer's allowed IPs.
    drop_allowed_ips,
    /// Datagrams whose MAC or authentication tag is wrong (forged, corrupted, or keyed for another).
    drop_bad_mac,
    /// Replayed datagrams: a counter already seen or too old, an initiation's timestamp not newer than the last.
    drop_replay,
    /// Datagrams that failed decryption otherwise (no session for the key, an expired session, a malformed timestamp).
    drop_decrypt,
    /// Datagrams and TUN packets that are not well-formed.
    drop_malformed,
    /// Handshake messages whose ephemeral key, and packets for a peer whose public key, is a low-order point (every Diffie-Hellman result with it is zero): no handshake is made with them.
    drop_low_order_key,
    /// Packets for a peer with no known endpoint.
    drop_no_endpoint,
    /// TUN packets to an address no peer's allowed IPs cover.
    drop_no_route,
    /// Packets dropped because a queue (handoff, socket) was full.
    drop_queue_full,
    /// Handshake initiations over their source's limit under load (20 a second, burst 5, per IPv4 address or IPv6 /64), or from a new source while the limiter's table is full.
    drop_ratelimited,
    /// Handshake initiations without a valid cookie under load from a source that was sent a cookie reply less than 4 s ago: not answered again.
    drop_cookie_limited,
    /// Packets that could not be written to the TUN device or the socket.
    drop_io,
}

impl ShardStats {
    /// Notes that the shard is under load until `until`.
    pub fn set_under_load_until(&self, until: SystemTime) {
        let ms = until
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        self.under_load_until_ms
            .store(u64::try_from(ms).unwrap_or(u64::MAX), Relaxed);
    }

    /// Whether the shard is under load at `now`.
    pub fn under_load(&self, now: SystemTime) -> bool {
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        u128::from(self.under_load_until_ms.load(Relaxed)) > now_ms
    }
}

/// What the control plane reads of one peer; written by the peer's shard.
#[derive(Debug, Default)]
pub struct PeerStats {
    pub rx_bytes: AtomicU64,
    pub tx_bytes: AtomicU64,
    /// Nanoseconds since the Unix epoch of the last completed handshake; 0 for never.
    last_handshake_nanos: AtomicU64,
    /// The endpoint as roaming left it. Written only when it changes (rare).
    endpoint: Mutex<Option<SocketAddr>>,
}

impl PeerStats {
    pub fn set_last_handshake(&self, at: SystemTime) {
        let nanos = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        self.last_handshake_nanos
            .store(u64::try_from(nanos).unwrap_or(u64::MAX), Relaxed);
    }

    pub fn last_handshake(&self) -> Option<SystemTime> {
        match self.last_handshake_nanos.load(Relaxed) {
            0 => None,
            n => Some(UNIX_EPOCH + Duration::from_nanos(n)),
        }
    }

    pub fn set_endpoint(&self, endpoint: Option<SocketAddr>) {
        *self.endpoint.lock().unwrap_or_else(|e| e.into_inner()) = endpoint;
    }

    pub fn endpoint(&self) -> Option<SocketAddr> {
        *self.endpoint.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Adds `n` to a counter. Only the owning shard calls this, so a load and store would do,
/// but `fetch_add` on an uncontended line costs the same and stays correct if that changes.
#[inline]
pub fn bump(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}
