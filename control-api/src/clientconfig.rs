//! A peer's wg-quick configuration, for download and QR codes: the peer's side of the
//! tunnel, with the gateway as its one `[Peer]`.

use crate::model::{PeerRecord, TunnelRecord};
use ipnet::IpNet;
use std::fmt::Write as _;
use wiregate_core::{PrivateKey, PublicKey};

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(T::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders the config. Without `private_key` (the gateway does not keep it) the
/// `PrivateKey` line is left for the peer's owner to fill in.
pub fn render(
    tunnel: &TunnelRecord,
    peer: &PeerRecord,
    private_key: Option<&PrivateKey>,
) -> String {
    Renderer::new(tunnel).render(peer, private_key)
}

/// Renders many peers' configs of one tunnel: the gateway's public key (a scalar
/// multiplication) is derived once, not per peer.
#[derive(Debug)]
pub struct Renderer<'a> {
    tunnel: &'a TunnelRecord,
    gateway_key: PublicKey,
}

impl<'a> Renderer<'a> {
    pub fn new(tunnel: &'a TunnelRecord) -> Self {
        Self {
            tunnel,
            gateway_key: tunnel.private_key.public_key(),
        }
    }

    pub fn render(&self, peer: &PeerRecord, private_key: Option<&PrivateKey>) -> String {
        let tunnel = self.tunnel;
        let mut out = String::from("[Interface]\n");
        match private_key {
            Some(key) => {
                let _ = writeln!(out, "PrivateKey = {}", key.expose_base64());
            }
            None => out.push_str(
                "# PrivateKey = (not kept by the gateway: add this peer's own private key)\n",
            ),
        }
        if !peer.addresses.is_empty() {
            let _ = writeln!(out, "Address = {}", join(&peer.addresses));
        }
        if !tunnel.dns.is_empty() {
            let _ = writeln!(out, "DNS = {}", join(&tunnel.dns));
        }
        out.push_str("\n[Peer]\n");
        let _ = writeln!(out, "PublicKey = {}", self.gateway_key);
        if let Some(psk) = &peer.preshared_key {
            let _ = writeln!(out, "PresharedKey = {}", psk.expose_base64());
        }
        // The client routes the tunnel's networks to the gateway: its pools, or else the
        // networks of the gateway's own addresses.
        let networks: Vec<IpNet> = if tunnel.pools.is_empty() {
            tunnel.addresses.iter().map(IpNet::trunc).collect()
        } else {
            tunnel.pools.clone()
        };
        let _ = writeln!(out, "AllowedIPs = {}", join(&networks));
        match &tunnel.public_endpoint {
            Some(endpoint) => {
                let _ = writeln!(out, "Endpoint = {endpoint}");
            }
            None => out.push_str("# Endpoint = (the tunnel has no public_endpoint set)\n"),
        }
        if let Some(keepalive) = peer.persistent_keepalive {
            let _ = writeln!(out, "PersistentKeepalive = {keepalive}");
        }
        out
    }
}
