//! The desired state of a tunnel, as every backend receives it, and the checks that make
//! it safe to apply: a backend is only ever handed a configuration that passed
//! [`TunnelConfig::validate`], so nothing is half-applied because of a bad peer.

use crate::key::{PresharedKey, PrivateKey, PublicKey};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::SocketAddr;

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_INTERFACE_NAME: usize = 15;
/// The WireGuard default MTU: 1500 minus the largest (IPv6) encapsulation overhead.
pub const DEFAULT_MTU: u16 = 1420;
/// Smallest MTU that still carries IPv6 (RFC 8200).
pub const MIN_MTU: u16 = 1280;
/// Largest MTU whose encrypted datagram still fits in a UDP datagram.
pub const MAX_MTU: u16 = 65_535 - 80;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelConfig {
    pub name: String,
    /// UDP port; 0 lets the kernel choose.
    pub listen_port: u16,
    pub private_key: PrivateKey,
    /// Interface addresses with their prefix (`10.0.0.1/24`).
    pub addresses: Vec<IpNet>,
    pub mtu: u16,
    pub fwmark: u32,
    pub peers: Vec<PeerConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub public_key: PublicKey,
    pub preshared_key: Option<PresharedKey>,
    pub allowed_ips: Vec<IpNet>,
    pub endpoint: Option<SocketAddr>,
    /// Seconds between keepalives when nothing else was sent; `None` is off.
    pub persistent_keepalive: Option<u16>,
}

impl PeerConfig {
    pub fn new(public_key: PublicKey) -> Self {
        Self {
            public_key,
            preshared_key: None,
            allowed_ips: Vec::new(),
            endpoint: None,
            persistent_keepalive: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "tunnel name {0:?} is not a valid interface name (1-15 characters of a-z, A-Z, 0-9, '_', '-', '.', '=', '+')"
    )]
    BadName(String),
    #[error("tunnel {tunnel}: MTU {mtu} is outside {MIN_MTU}..={MAX_MTU}")]
    BadMtu { tunnel: String, mtu: u16 },
    #[error("tunnel {tunnel}: allowed IP {net} of peer {peer} has host bits set (did you mean {}?)", net.trunc())]
    HostBits {
        tunnel: String,
        peer: PublicKey,
        net: IpNet,
    },
    #[error("tunnel {tunnel}: peer {peer} is listed twice")]
    DuplicatePeer { tunnel: String, peer: PublicKey },
    #[error("tunnel {tunnel}: peer {peer} has the tunnel's own public key")]
    OwnKey { tunnel: String, peer: PublicKey },
    #[error(
        "tunnel {tunnel}: allowed IP {net} of peer {peer} overlaps {other_net} of peer {other}"
    )]
    Overlap {
        tunnel: String,
        peer: PublicKey,
        net: IpNet,
        other: PublicKey,
        other_net: IpNet,
    },
    #[error("tunnel {tunnel}: peer {peer} has a zero (all-0) preshared key; omit it instead")]
    ZeroPresharedKey { tunnel: String, peer: PublicKey },
    #[error("tunnel {tunnel}: peer {peer} endpoint {endpoint} has port 0")]
    EndpointPortZero {
        tunnel: String,
        peer: PublicKey,
        endpoint: SocketAddr,
    },
}

/// Interface names as Linux accepts them, restricted to characters that are safe in a
/// UAPI socket path and a shell.
pub fn valid_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_INTERFACE_NAME
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.=+".contains(&b))
}

impl TunnelConfig {
    /// Checks everything a backend would otherwise trip over halfway through applying.
    ///
    /// Overlapping allowed IPs are refused rather than resolved: in WireGuard a prefix has
    /// one owner, and silently moving it between peers (as `wg set` does) is not what an
    /// operator writing a config file means.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let tunnel = || self.name.clone();
        if !valid_interface_name(&self.name) {
            return Err(ConfigError::BadName(self.name.clone()));
        }
        if !(MIN_MTU..=MAX_MTU).contains(&self.mtu) {
            return Err(ConfigError::BadMtu {
                tunnel: tunnel(),
                mtu: self.mtu,
            });
        }
        let own = self.private_key.public_key();
        let mut seen: HashMap<PublicKey, ()> = HashMap::with_capacity(self.peers.len());
        let mut owned: Vec<(IpNet, PublicKey)> = Vec::new();
        for peer in &self.peers {
            if seen.insert(peer.public_key, ()).is_some() {
                return Err(ConfigError::DuplicatePeer {
                    tunnel: tunnel(),
                    peer: peer.public_key,
                });
            }
            if peer.public_key == own {
                return Err(ConfigError::OwnKey {
                    tunnel: tunnel(),
                    peer: peer.public_key,
                });
            }
            if peer
                .preshared_key
                .as_ref()
                .is_some_and(PresharedKey::is_zero)
            {
                return Err(ConfigError::ZeroPresharedKey {
                    tunnel: tunnel(),
                    peer: peer.public_key,
                });
            }
            if let Some(endpoint) = peer.endpoint.filter(|e| e.port() == 0) {
                return Err(ConfigError::EndpointPortZero {
                    tunnel: tunnel(),
                    peer: peer.public_key,
                    endpoint,
                });
            }
            for net in &peer.allowed_ips {
                if net.trunc() != *net {
                    return Err(ConfigError::HostBits {
                        tunnel: tunnel(),
                        peer: peer.public_key,
                        net: *net,
                    });
                }
                owned.push((*net, peer.public_key));
            }
        }
        check_overlaps(&self.name, owned)
    }
}

/// Sorting by (family, network address, prefix length) puts every prefix right after the
/// shorter prefixes that contain it, so one pass with a stack of open prefixes finds any
/// overlap in O(n log n), even for 100k peers.
fn check_overlaps(tunnel: &str, mut owned: Vec<(IpNet, PublicKey)>) -> Result<(), ConfigError> {
    owned.sort_by(|a, b| {
        let key = |n: &IpNet| (n.addr().is_ipv6(), n.network(), n.prefix_len());
        key(&a.0).cmp(&key(&b.0))
    });
    let mut open: Vec<(IpNet, PublicKey)> = Vec::new();
    for (net, peer) in owned {
        while let Some((top, _)) = open.last() {
            if top.contains(&net) {
                break;
            }
            open.pop();
        }
        if let Some((other_net, other)) = open.last() {
            return Err(ConfigError::Overlap {
                tunnel: tunnel.to_owned(),
                peer,
                net,
                other: *other,
                other_net: *other_net,
            });
        }
        open.push((net, peer));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tunnel(peers: Vec<PeerConfig>) -> TunnelConfig {
        TunnelConfig {
            name: "wg0".into(),
            listen_port: 51820,
            private_key: PrivateKey::generate(),
            addresses: vec!["10.0.0.1/24".parse().unwrap()],
            mtu: DEFAULT_MTU,
            fwmark: 0,
            peers,
        }
    }

    fn peer(ips: &[&str]) -> PeerConfig {
        PeerConfig {
            allowed_ips: ips.iter().map(|s| s.parse().unwrap()).collect(),
            ..PeerConfig::new(PrivateKey::generate().public_key())
        }
    }

    #[test]
    fn accepts_disjoint_peers() {
        let t = tunnel(vec![
            peer(&["10.0.0.2/32", "192.168.5.0/24"]),
            peer(&["10.0.0.3/32", "fd00::3/128"]),
            peer(&["0.0.0.0/0"]).clone(),
        ]);
        // 0.0.0.0/0 contains everything IPv4: an overlap.
        assert!(matches!(t.validate(), Err(ConfigError::Overlap { .. })));
        let t = tunnel(vec![peer(&["10.0.0.2/32"]), peer(&["10.0.0.3/32", "::/0"])]);
        t.validate().unwrap();
    }

    #[test]
    fn refuses_overlap_host_bits_duplicates_and_own_key() {
        let a = peer(&["10.1.0.0/16"]);
        let b = peer(&["10.1.2.0/24"]);
        let err = tunnel(vec![a.clone(), b]).validate().unwrap_err();
        assert!(err.to_string().contains("overlaps"), "{err}");

        let err = tunnel(vec![peer(&["10.0.0.1/24"])]).validate().unwrap_err();
        assert!(
            err.to_string().contains("did you mean 10.0.0.0/24"),
            "{err}"
        );

        let err = tunnel(vec![a.clone(), a]).validate().unwrap_err();
        assert!(matches!(err, ConfigError::DuplicatePeer { .. }));

        let mut t = tunnel(vec![]);
        t.peers.push(PeerConfig::new(t.private_key.public_key()));
        assert!(matches!(t.validate(), Err(ConfigError::OwnKey { .. })));
    }

    #[test]
    fn refuses_bad_names_and_mtu() {
        let mut t = tunnel(vec![]);
        for bad in ["", "a-name-that-is-too-long", "wg/0", "..", "wg 0"] {
            t.name = bad.into();
            assert!(
                matches!(t.validate(), Err(ConfigError::BadName(_))),
                "{bad}"
            );
        }
        t.name = "wg0".into();
        t.mtu = 500;
        assert!(matches!(t.validate(), Err(ConfigError::BadMtu { .. })));
    }

    #[test]
    fn overlap_check_matches_pairwise_reference() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..300 {
            let nets: Vec<IpNet> = (0..rng.gen_range(1..12))
                .map(|_| {
                    let len = rng.gen_range(20..=32u8);
                    let addr =
                        std::net::Ipv4Addr::from(0x0a00_0000 | rng.gen_range(0..4096u32) << 8);
                    IpNet::new(addr.into(), len).unwrap().trunc()
                })
                .collect();
            let owned: Vec<(IpNet, PublicKey)> = nets
                .iter()
                .map(|n| (*n, PrivateKey::generate().public_key()))
                .collect();
            let pairwise = nets
                .iter()
                .enumerate()
                .any(|(i, a)| nets[i + 1..].iter().any(|b| a.contains(b) || b.contains(a)));
            assert_eq!(check_overlaps("t", owned).is_err(), pairwise, "{nets:?}");
        }
    }
}
