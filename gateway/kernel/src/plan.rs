//! From what the kernel has to what the store wants: the `WG_CMD_SET_DEVICE` messages
//! that change only the difference, so established sessions survive every change.
//!
//! - A peer that is gone is removed (`REMOVE_ME`); a new one is added; a changed one is
//!   updated in place (`UPDATE_ONLY`), its allowed IPs replaced (`REPLACE_ALLOWEDIPS`)
//!   only when they differ. `REPLACE_PEERS` is never sent: it would drop every session.
//! - An endpoint the store does not name is left as the kernel learned it (a road
//!   warrior's, from its packets); the kernel cannot unset one anyway.
//! - Messages are kept under [`MESSAGE_BUDGET`] bytes, so tens of thousands of peers go
//!   in many messages; a peer whose allowed IPs alone exceed one message continues in the
//!   next ones with `UPDATE_ONLY` and no `REPLACE_ALLOWEDIPS`, which appends.

use crate::dump::{KernelDevice, KernelPeer};
use ipnet::IpNet;
use netlink_packet_core::Emitable;
use netlink_packet_wireguard::{
    WireguardAddressFamily, WireguardAllowedIp, WireguardAllowedIpAttr, WireguardAttribute,
    WireguardCmd, WireguardMessage, WireguardPeer, WireguardPeerAttribute, WireguardPeerFlags,
};
use std::collections::{BTreeSet, HashMap};
use wiregate_core::{PeerConfig, PrivateKey, TunnelConfig};

/// Attribute bytes per message: what `wg(8)` sends on systems with 8 KiB pages (it
/// sends a page at most). The kernel takes larger ones, but one change must not need a
/// socket buffer larger than the defaults.
pub const MESSAGE_BUDGET: usize = 8192;

/// The messages that turn `current` into `desired` (empty when they agree).
pub fn plan(current: &KernelDevice, desired: &TunnelConfig) -> Vec<WireguardMessage> {
    let mut device = Vec::new();
    // Compared by public key: the kernel keeps (and reports) the key clamped, and resets
    // every session when it is given a key whose bytes differ, even a key that is the
    // same Curve25519 key unclamped.
    let identity = current.private_key.as_ref().map(PrivateKey::public_key);
    if identity != Some(desired.private_key.public_key()) {
        let key = *desired.private_key.expose_bytes();
        device.push(WireguardAttribute::PrivateKey(key));
    }
    if current.listen_port != desired.listen_port && desired.listen_port != 0 {
        device.push(WireguardAttribute::ListenPort(desired.listen_port));
    }
    if current.fwmark != desired.fwmark {
        device.push(WireguardAttribute::Fwmark(desired.fwmark));
    }
    let wanted: HashMap<_, _> = desired.peers.iter().map(|p| (p.public_key, p)).collect();
    let mut peers: Vec<WireguardPeer> = current
        .peers
        .iter()
        .filter(|p| !wanted.contains_key(&p.public_key))
        .map(|p| {
            WireguardPeer(vec![
                WireguardPeerAttribute::PublicKey(p.public_key.0),
                WireguardPeerAttribute::Flags(WireguardPeerFlags::RemoveMe),
            ])
        })
        .collect();
    let present: HashMap<_, _> = current.peers.iter().map(|p| (p.public_key, p)).collect();
    for want in &desired.peers {
        peers.extend(peer_change(present.get(&want.public_key).copied(), want));
    }
    pack(&desired.name, device, peers)
}

/// A peer's attributes to add it (`have` is `None`) or bring it to `want`; `None` if it
/// is as wanted.
fn peer_change(have: Option<&KernelPeer>, want: &PeerConfig) -> Option<WireguardPeer> {
    let mut attributes = vec![WireguardPeerAttribute::PublicKey(want.public_key.0)];
    let psk = want
        .preshared_key
        .as_ref()
        .map_or([0; 32], |k| *k.expose_bytes());
    let keepalive = want.persistent_keepalive.unwrap_or(0);
    let Some(have) = have else {
        if psk != [0; 32] {
            attributes.push(WireguardPeerAttribute::PresharedKey(psk));
        }
        attributes.extend(want.endpoint.map(WireguardPeerAttribute::Endpoint));
        if keepalive != 0 {
            attributes.push(WireguardPeerAttribute::PersistentKeepalive(keepalive));
        }
        attributes.push(allowed_ips(&want.allowed_ips));
        return Some(WireguardPeer(attributes));
    };
    let mut flags = WireguardPeerFlags::UpdateOnly;
    if have
        .preshared_key
        .as_ref()
        .map_or([0; 32], |k| *k.expose_bytes())
        != psk
    {
        attributes.push(WireguardPeerAttribute::PresharedKey(psk));
    }
    if let Some(endpoint) = want.endpoint.filter(|e| have.endpoint != Some(*e)) {
        attributes.push(WireguardPeerAttribute::Endpoint(endpoint));
    }
    if have.persistent_keepalive != keepalive {
        attributes.push(WireguardPeerAttribute::PersistentKeepalive(keepalive));
    }
    if normalized(&have.allowed_ips) != normalized(&want.allowed_ips) {
        flags |= WireguardPeerFlags::ReplaceAllowedIps;
        attributes.push(allowed_ips(&want.allowed_ips));
    }
    if attributes.len() == 1 {
        return None;
    }
    attributes.insert(1, WireguardPeerAttribute::Flags(flags));
    Some(WireguardPeer(attributes))
}

fn normalized(nets: &[IpNet]) -> BTreeSet<IpNet> {
    nets.iter().map(IpNet::trunc).collect()
}

fn allowed_ips(nets: &[IpNet]) -> WireguardPeerAttribute {
    let ips = nets
        .iter()
        .map(|net| {
            let family = match net {
                IpNet::V4(_) => WireguardAddressFamily::Ipv4,
                IpNet::V6(_) => WireguardAddressFamily::Ipv6,
            };
            WireguardAllowedIp(vec![
                WireguardAllowedIpAttr::Family(family),
                WireguardAllowedIpAttr::IpAddr(net.addr()),
                WireguardAllowedIpAttr::Cidr(net.prefix_len()),
            ])
        })
        .collect();
    WireguardPeerAttribute::AllowedIps(ips)
}

/// Packs the device attributes and peer changes into messages of at most
/// [`MESSAGE_BUDGET`] attribute bytes each, in order.
fn pack(
    name: &str,
    device: Vec<WireguardAttribute>,
    peers: Vec<WireguardPeer>,
) -> Vec<WireguardMessage> {
    if device.is_empty() && peers.is_empty() {
        return Vec::new();
    }
    let start = |device: Vec<WireguardAttribute>| {
        let mut attributes = vec![WireguardAttribute::IfName(name.to_owned())];
        attributes.extend(device);
        attributes
    };
    // What a message's attributes take before its peers: the name, the device settings,
    // and the header of the Peers attribute.
    let fixed = |a: &[WireguardAttribute]| a.buffer_len() + 4;
    // Room for one part: a message's name and Peers header, with a margin.
    let part_budget = MESSAGE_BUDGET - 64;
    let mut messages = Vec::new();
    let mut attributes = start(device);
    let mut batch: Vec<WireguardPeer> = Vec::new();
    let mut used = fixed(&attributes);
    for part in peers.into_iter().flat_map(|p| split(p, part_budget)) {
        let len = part.buffer_len();
        if !batch.is_empty() && used + len > MESSAGE_BUDGET {
            attributes.push(WireguardAttribute::Peers(std::mem::take(&mut batch)));
            messages.push(std::mem::replace(&mut attributes, start(Vec::new())));
            used = fixed(&attributes);
        }
        used += len;
        batch.push(part);
    }
    if !batch.is_empty() {
        attributes.push(WireguardAttribute::Peers(batch));
    }
    messages.push(attributes);
    messages
        .into_iter()
        .map(|attributes| WireguardMessage {
            cmd: WireguardCmd::SetDevice,
            attributes,
        })
        .collect()
}

/// Splits a peer whose allowed IPs do not fit in `budget` bytes into parts that do: the
/// first with all its other attributes and flags, the rest `UPDATE_ONLY` with more of its
/// allowed IPs, which the kernel appends.
fn split(peer: WireguardPeer, budget: usize) -> Vec<WireguardPeer> {
    if peer.buffer_len() <= budget {
        return vec![peer];
    }
    let mut head: Vec<WireguardPeerAttribute> = Vec::new();
    let mut ips = Vec::new();
    for attribute in peer.0 {
        match attribute {
            WireguardPeerAttribute::AllowedIps(list) => ips = list,
            other => head.push(other),
        }
    }
    let key = head.iter().find_map(|a| match a {
        WireguardPeerAttribute::PublicKey(k) => Some(*k),
        _ => None,
    });
    let mut parts = Vec::new();
    let mut ips = ips.into_iter().peekable();
    let mut attributes = head;
    while ips.peek().is_some() {
        let room = budget.saturating_sub(attributes.as_slice().buffer_len() + 8);
        let mut chunk = Vec::new();
        let mut used = 0;
        while let Some(ip) = ips.next_if(|ip| chunk.is_empty() || used + ip.buffer_len() <= room) {
            used += ip.buffer_len();
            chunk.push(ip);
        }
        attributes.push(WireguardPeerAttribute::AllowedIps(chunk));
        parts.push(WireguardPeer(std::mem::take(&mut attributes)));
        attributes = key
            .map(|k| {
                vec![
                    WireguardPeerAttribute::PublicKey(k),
                    WireguardPeerAttribute::Flags(WireguardPeerFlags::UpdateOnly),
                ]
            })
            .unwrap_or_default();
    }
    parts
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
