//! The simulated peers: a static key each and one allowed IP (a /32 out of 10.128.0.0/9),
//! and the gateway's key. Keys are made once, in parallel, for the largest run; every
//! gateway started later is configured with a prefix of them.

use boringtun::noise::Tunn;
use rand::rngs::OsRng;
use rayon::prelude::*;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use x25519_dalek::{PublicKey, StaticSecret};

/// boringtun's peer index is 24 bits; the load generator puts its own numbering there, so
/// that a reply's receiver index names the simulated peer (or initiation) it answers.
pub const MAX_TUNN_INDEX: u32 = (1 << 24) - 1;

pub struct Fleet {
    pub gateway_secret: StaticSecret,
    pub gateway_public: PublicKey,
    peers: Vec<(StaticSecret, PublicKey)>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fleet({} peers)", self.peers.len())
    }
}

impl Fleet {
    pub fn generate(peers: usize) -> Self {
        let gateway_secret = StaticSecret::random_from_rng(OsRng);
        let gateway_public = PublicKey::from(&gateway_secret);
        let peers = (0..peers)
            .into_par_iter()
            .map(|_| {
                let secret = StaticSecret::random_from_rng(OsRng);
                let public = PublicKey::from(&secret);
                (secret, public)
            })
            .collect();
        Self {
            gateway_secret,
            gateway_public,
            peers,
        }
    }

    /// Peer `p`'s only allowed IP: 10.128.0.1 + p.
    pub fn allowed_ip(p: usize) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 128, 0, 1)) + p as u32)
    }

    /// The UAPI `set` lines that make the gateway's peers exactly the first `n`.
    pub fn uapi_peers(&self, n: usize) -> String {
        let mut body = String::with_capacity(n * 120 + 32);
        body.push_str("replace_peers=true\n");
        for (p, (_, public)) in self.peers[..n].iter().enumerate() {
            let _ = writeln!(
                body,
                "public_key={}\nallowed_ip={}/32",
                hex::encode(public.as_bytes()),
                Self::allowed_ip(p)
            );
        }
        body
    }

    /// A fresh Noise state for peer `p` towards the gateway. `index` (24 bits) becomes the
    /// top of every receiver index the gateway answers it with. It costs one X25519 (the
    /// static-static secret boringtun precomputes).
    pub fn tunn(&self, p: usize, index: u32) -> Tunn {
        assert!(
            index <= MAX_TUNN_INDEX,
            "tunnel index {index} exceeds 24 bits"
        );
        Tunn::new(
            self.peers[p].0.clone(),
            self.gateway_public,
            None,
            None,
            index,
            None,
        )
    }
}
