//! A WireGuard device as the kernel reports it: the messages of a `WG_CMD_GET_DEVICE`
//! dump decoded and put together. A dump splits a large device across messages, and a
//! peer with many allowed IPs across two or more: such a peer ends one message and starts
//! the next with the same public key, carrying the rest of its allowed IPs.

use ipnet::IpNet;
use netlink_packet_wireguard::{
    WireguardAllowedIpAttr, WireguardAttribute, WireguardMessage, WireguardPeerAttribute,
};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};
use wiregate_core::{PeerState, PresharedKey, PrivateKey, PublicKey};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelDevice {
    pub private_key: Option<PrivateKey>,
    pub public_key: Option<PublicKey>,
    pub listen_port: u16,
    pub fwmark: u32,
    pub peers: Vec<KernelPeer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelPeer {
    pub public_key: PublicKey,
    /// `None` when the kernel reports the all-zero key (no preshared key).
    pub preshared_key: Option<PresharedKey>,
    pub endpoint: Option<SocketAddr>,
    /// Seconds; 0 is off.
    pub persistent_keepalive: u16,
    pub allowed_ips: Vec<IpNet>,
    pub last_handshake: Option<SystemTime>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

impl KernelPeer {
    fn new(public_key: PublicKey) -> Self {
        Self {
            public_key,
            preshared_key: None,
            endpoint: None,
            persistent_keepalive: 0,
            allowed_ips: Vec::new(),
            last_handshake: None,
            rx_bytes: 0,
            tx_bytes: 0,
        }
    }

    pub fn state(&self) -> PeerState {
        PeerState {
            public_key: self.public_key,
            endpoint: self.endpoint,
            allowed_ips: self.allowed_ips.clone(),
            persistent_keepalive: (self.persistent_keepalive != 0)
                .then_some(self.persistent_keepalive),
            has_preshared_key: self.preshared_key.is_some(),
            last_handshake: self.last_handshake,
            rx_bytes: self.rx_bytes,
            tx_bytes: self.tx_bytes,
        }
    }
}

impl KernelDevice {
    /// Puts a dump's messages together, in the order the kernel sent them.
    pub fn from_dump(messages: &[WireguardMessage]) -> Self {
        let mut device = KernelDevice::default();
        for message in messages {
            for attribute in &message.attributes {
                match attribute {
                    WireguardAttribute::PrivateKey(k) => {
                        device.private_key = (*k != [0; 32]).then(|| PrivateKey::from_bytes(*k));
                    }
                    WireguardAttribute::PublicKey(k) => {
                        device.public_key = (*k != [0; 32]).then_some(PublicKey(*k));
                    }
                    WireguardAttribute::ListenPort(p) => device.listen_port = *p,
                    WireguardAttribute::Fwmark(m) => device.fwmark = *m,
                    WireguardAttribute::Peers(peers) => {
                        for peer in peers {
                            device.add_peer_part(peer);
                        }
                    }
                    _ => {}
                }
            }
        }
        device
    }

    /// Adds a peer's attributes: a new peer, or the continuation of the last one.
    fn add_peer_part(&mut self, attributes: &[WireguardPeerAttribute]) {
        let Some(key) = attributes.iter().find_map(|a| match a {
            WireguardPeerAttribute::PublicKey(k) => Some(PublicKey(*k)),
            _ => None,
        }) else {
            return;
        };
        if self.peers.last().is_none_or(|p| p.public_key != key) {
            self.peers.push(KernelPeer::new(key));
        }
        let peer = self.peers.last_mut().expect("pushed above");
        for attribute in attributes {
            match attribute {
                WireguardPeerAttribute::PresharedKey(k) => {
                    peer.preshared_key = (*k != [0; 32]).then(|| PresharedKey::from_bytes(*k));
                }
                WireguardPeerAttribute::Endpoint(e) => peer.endpoint = Some(*e),
                WireguardPeerAttribute::PersistentKeepalive(s) => peer.persistent_keepalive = *s,
                WireguardPeerAttribute::LastHandshake(t) if t.seconds > 0 || t.nano_seconds > 0 => {
                    let since = Duration::new(t.seconds as u64, t.nano_seconds as u32);
                    peer.last_handshake = SystemTime::UNIX_EPOCH.checked_add(since);
                }
                WireguardPeerAttribute::RxBytes(n) => peer.rx_bytes = *n,
                WireguardPeerAttribute::TxBytes(n) => peer.tx_bytes = *n,
                WireguardPeerAttribute::AllowedIps(ips) => {
                    peer.allowed_ips
                        .extend(ips.iter().filter_map(|ip| allowed_ip(ip)));
                }
                _ => {}
            }
        }
    }
}

fn allowed_ip(attributes: &[WireguardAllowedIpAttr]) -> Option<IpNet> {
    let addr = attributes.iter().find_map(|a| match a {
        WireguardAllowedIpAttr::IpAddr(ip) => Some(*ip),
        _ => None,
    })?;
    let cidr = attributes.iter().find_map(|a| match a {
        WireguardAllowedIpAttr::Cidr(c) => Some(*c),
        _ => None,
    })?;
    IpNet::new(addr, cidr).ok()
}
