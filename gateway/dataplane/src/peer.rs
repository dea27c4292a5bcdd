//! A peer as its shard holds it: the Noise state machine (boringtun's `Tunn`), where to
//! send, and the counters the control plane reads.

use crate::cookie::CookieGiver;
use crate::index::PeerRef;
use crate::io::Path;
use crate::sessions::Noise;
use crate::stats::{PeerStats, ShardStats};
use boringtun::noise::Tunn;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::x25519;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use wiregate_core::protocol::HANDSHAKE_INITIATION_LEN;
use wiregate_core::{PresharedKey, PrivateKey, PublicKey};

/// The tunnel's own keys, shared by all its shards.
///
/// Whether a handshake needs a cookie is decided by each shard's handshake queue (see
/// `handshake.rs`), and initiations are checked on arrival by `cookies` (mac1, and
/// under load mac2; `cookie.rs`). Every peer's `Tunn` is given `mac1`, a boringtun
/// limiter that never counts up to its limit, so the owner shard checks mac1 again and
/// never answers with a cookie itself.
pub(crate) struct Identity {
    pub private: x25519::StaticSecret,
    pub public: x25519::PublicKey,
    pub mac1: Arc<RateLimiter>,
    /// Also our own MAC keys, for handshake responses whose receiver index is rewritten.
    pub cookies: CookieGiver,
}

impl Identity {
    pub fn new(key: &PrivateKey) -> Self {
        let private = x25519::StaticSecret::from(*key.expose_bytes());
        let public = x25519::PublicKey::from(&private);
        Self {
            mac1: Arc::new(RateLimiter::new(&public, u64::MAX)),
            cookies: CookieGiver::new(public.as_bytes(), std::time::Instant::now()),
            private,
            public,
        }
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", PublicKey(self.public.to_bytes()))
    }
}

/// What the control plane sends a shard to create or rebuild a peer.
#[derive(Debug)]
pub(crate) struct PeerSpec {
    pub at: PeerRef,
    /// Which placement of `at` this is (see `routing::Owner`).
    pub generation: u32,
    pub public_key: PublicKey,
    pub preshared_key: Option<PresharedKey>,
    pub persistent_keepalive: Option<u16>,
    pub endpoint: Option<SocketAddr>,
    pub stats: Arc<PeerStats>,
}

/// A configured peer.
///
/// Its Noise state is created when first needed: when the peer's initiation arrives,
/// when a packet is to be sent to it, or at once if it has a persistent keepalive (it
/// must reach out on its own). boringtun's `Tunn` is about 11 KiB, most of it room for
/// sessions, so a gateway with 100,000 configured peers of which few are online would
/// otherwise spend a gigabyte on peers that never connect. Once created it stays (until
/// the peer is removed or rebuilt): it holds the last initiation timestamp, which is
/// what stops a replayed initiation.
///
/// A peer whose public key is a low-order point never gets Noise state: every handshake
/// with it would be under keys anyone can compute (the kernel keeps such a peer, as the
/// UAPI lets one configure it, and refuses its handshakes the same way).
pub(crate) struct Peer {
    pub spec: PeerSpec,
    /// `None` until needed, and while the tunnel has no private key.
    pub noise: Option<Box<Noise>>,
    /// Where its datagrams go, and from which of our addresses.
    pub endpoint: Option<Path>,
    /// The newest initiation this peer's Noise state accepted: its timestamp is the floor
    /// below which initiations are replays, and it must outlive the state (see
    /// [`Peer::rekey`]).
    pub last_initiation: Option<Box<[u8; HANDSHAKE_INITIATION_LEN]>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("public_key", &self.spec.public_key)
            .field("endpoint", &self.endpoint)
            .field("active", &self.noise.is_some())
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// A peer, with the floor below which its initiations are replays (`last_initiation`:
    /// the newest one an earlier state of the same peer accepted, if any).
    pub fn new(
        spec: PeerSpec,
        identity: Option<&Identity>,
        last_initiation: Option<Box<[u8; HANDSHAKE_INITIATION_LEN]>>,
        scratch: &mut [u8],
    ) -> Self {
        if spec.public_key.is_low_order() {
            tracing::warn!(
                peer = %spec.public_key,
                "peer's public key is a low-order point: no handshake will be made with it"
            );
        }
        spec.stats.set_endpoint(spec.endpoint);
        let mut peer = Self {
            noise: None,
            endpoint: spec.endpoint.map(Path::to),
            spec,
            last_initiation,
        };
        if peer.spec.persistent_keepalive.is_some() {
            peer.rekey(identity, scratch);
        }
        peer
    }

    /// The same peer (same key, same identity) with a new preshared key or keepalive,
    /// which boringtun can only take in a new `Tunn`. The replay floor carries over (see
    /// [`Peer::rekey`]); the endpoint is the new spec's.
    pub fn rebuilt(
        spec: PeerSpec,
        identity: Option<&Identity>,
        old: Peer,
        scratch: &mut [u8],
    ) -> Self {
        Self::new(spec, identity, old.last_initiation, scratch)
    }

    /// The peer's Noise state, created now if it has none; `None` without a key.
    pub fn noise(&mut self, identity: Option<&Identity>, scratch: &mut [u8]) -> Option<&mut Noise> {
        if self.noise.is_none() {
            self.rekey(identity, scratch);
        }
        self.noise.as_deref_mut()
    }

    /// Builds a fresh Noise state for the current identity; existing sessions end (the
    /// caller takes the old state's wire indices out of the shard's table first). None
    /// for a low-order public key.
    ///
    /// A new `Tunn` would accept any initiation whose timestamp is newer than zero, so a
    /// captured old initiation could be replayed to roam the peer to a spoofed address.
    /// The initiation an earlier state last accepted is therefore fed to the new one,
    /// which records its timestamp as the floor; the session that opening it creates is
    /// dropped at once (`set_static_private` with the same key clears sessions and keeps
    /// the timestamp). Costs a handshake's Diffie-Hellmans, once per new state of a peer
    /// that has handshaken.
    pub fn rekey(&mut self, identity: Option<&Identity>, scratch: &mut [u8]) {
        if self.spec.public_key.is_low_order() {
            self.noise = None;
            return;
        }
        self.noise = identity.map(|id| {
            let mut tunn = Tunn::new(
                id.private.clone(),
                x25519::PublicKey::from(self.spec.public_key.0),
                self.spec.preshared_key.as_ref().map(|k| *k.expose_bytes()),
                self.spec.persistent_keepalive,
                self.spec.at.peer_index(),
                Some(id.mac1.clone()),
            );
            if let Some(initiation) = self.last_initiation.as_deref() {
                // What the old state accepted opens again; its response is never sent.
                let _ = tunn.decapsulate(None, &initiation[..], scratch);
                tunn.set_static_private(id.private.clone(), id.public, Some(id.mac1.clone()));
            }
            Box::new(Noise::new(tunn, &self.spec.public_key.0))
        });
    }

    /// A new identity: peers with Noise state get a fresh one, idle peers stay idle. No
    /// initiation made for the old key opens under the new one, so the replay floor goes.
    pub fn reidentify(&mut self, identity: Option<&Identity>, scratch: &mut [u8]) {
        self.last_initiation = None;
        if self.noise.is_some() || self.spec.persistent_keepalive.is_some() {
            self.rekey(identity, scratch);
        }
    }

    /// The drop counter for a packet that needs Noise state the peer cannot have: its key
    /// is low-order, or the tunnel has no private key.
    pub fn without_tunn<'s>(&self, stats: &'s ShardStats) -> &'s AtomicU64 {
        if self.spec.public_key.is_low_order() {
            &stats.drop_low_order_key
        } else {
            &stats.drop_no_endpoint
        }
    }

    pub fn set_endpoint(&mut self, endpoint: Option<SocketAddr>) {
        self.endpoint = endpoint.map(Path::to);
        self.spec.stats.set_endpoint(endpoint);
    }
}

/// Roaming: a peer's endpoint, and the local address replies leave from, follow its
/// latest authenticated packet. (A free function so that the caller can hold the peer's
/// `Tunn` borrowed meanwhile.)
#[inline]
pub(crate) fn roam(endpoint: &mut Option<Path>, stats: &PeerStats, from: Path) {
    if *endpoint != Some(from) {
        if endpoint.map(|e| e.remote) != Some(from.remote) {
            stats.set_endpoint(Some(from.remote));
        }
        *endpoint = Some(from);
    }
}

/// Notes an initiation the peer's Noise state accepted (a free function, as [`roam`]).
#[inline]
pub(crate) fn remember_initiation(
    last: &mut Option<Box<[u8; HANDSHAKE_INITIATION_LEN]>>,
    initiation: &[u8],
) {
    if let Ok(bytes) = <[u8; HANDSHAKE_INITIATION_LEN]>::try_from(initiation) {
        match last {
            Some(kept) => **kept = bytes,
            None => *last = Some(Box::new(bytes)),
        }
    }
}
