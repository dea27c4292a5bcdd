//! A peer as its shard holds it: the Noise state machine (boringtun's `Tunn`), where to
//! send, and the counters the control plane reads.

use crate::index::PeerRef;
use crate::stats::PeerStats;
use boringtun::noise::Tunn;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::x25519;
use std::net::SocketAddr;
use std::sync::Arc;
use wiregate_core::{PresharedKey, PrivateKey, PublicKey};

/// Handshake messages a tunnel takes per second before it answers with cookies
/// (tunable). boringtun counts each initiation twice (our MAC check and the peer's), so
/// this admits half as many initiations per second.
const HANDSHAKE_RATE_LIMIT: u64 = 20_000;

/// The tunnel's own keys, shared by all its shards.
pub(crate) struct Identity {
    pub private: x25519::StaticSecret,
    pub public: x25519::PublicKey,
    pub rate_limiter: Arc<RateLimiter>,
}

impl Identity {
    pub fn new(key: &PrivateKey) -> Self {
        let private = x25519::StaticSecret::from(*key.expose_bytes());
        let public = x25519::PublicKey::from(&private);
        let rate_limiter = Arc::new(RateLimiter::new(&public, HANDSHAKE_RATE_LIMIT));
        Self {
            private,
            public,
            rate_limiter,
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
    pub public_key: PublicKey,
    pub preshared_key: Option<PresharedKey>,
    pub persistent_keepalive: Option<u16>,
    pub endpoint: Option<SocketAddr>,
    pub stats: Arc<PeerStats>,
}

pub(crate) struct Peer {
    pub spec: PeerSpec,
    /// `None` while the tunnel has no private key: nothing can be sent or received.
    pub tunn: Option<Tunn>,
    pub endpoint: Option<SocketAddr>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("public_key", &self.spec.public_key)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Peer {
    pub fn new(spec: PeerSpec, identity: Option<&Identity>) -> Self {
        let endpoint = spec.endpoint;
        spec.stats.set_endpoint(endpoint);
        let mut peer = Self {
            spec,
            tunn: None,
            endpoint,
        };
        peer.rekey(identity);
        peer
    }

    /// Builds a fresh Noise state for the current identity; existing sessions end.
    pub fn rekey(&mut self, identity: Option<&Identity>) {
        self.tunn = identity.map(|id| {
            Tunn::new(
                id.private.clone(),
                x25519::PublicKey::from(self.spec.public_key.0),
                self.spec.preshared_key.as_ref().map(|k| *k.expose_bytes()),
                self.spec.persistent_keepalive,
                self.spec.at.peer_index(),
                Some(id.rate_limiter.clone()),
            )
        });
    }

    pub fn set_endpoint(&mut self, endpoint: Option<SocketAddr>) {
        self.endpoint = endpoint;
        self.spec.stats.set_endpoint(endpoint);
    }
}

/// Roaming: a peer's endpoint follows its latest authenticated packet. (A free function
/// so that the caller can hold the peer's `Tunn` borrowed meanwhile.)
#[inline]
pub(crate) fn roam(endpoint: &mut Option<SocketAddr>, stats: &PeerStats, from: SocketAddr) {
    if *endpoint != Some(from) {
        *endpoint = Some(from);
        stats.set_endpoint(Some(from));
    }
}
