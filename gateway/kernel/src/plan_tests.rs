//! The messages `plan` makes, decoded again as the kernel would decode them.

use super::*;
use crate::dump::KernelDevice;
use netlink_packet_core::ParseableParametrized;
use netlink_packet_generic::GenlHeader;
use wiregate_core::{PeerConfig, PrivateKey, PublicKey, TunnelConfig};

fn key(n: u32) -> PublicKey {
    let mut k = [7u8; 32];
    k[..4].copy_from_slice(&n.to_be_bytes());
    PublicKey(k)
}

fn peer(n: u32, ips: usize) -> PeerConfig {
    let mut p = PeerConfig::new(key(n));
    p.allowed_ips = (0..ips)
        .map(|i| {
            format!("10.{}.{}.{}/32", n % 200, i / 250, i % 250)
                .parse()
                .unwrap()
        })
        .collect();
    p
}

fn tunnel(peers: Vec<PeerConfig>) -> TunnelConfig {
    TunnelConfig {
        name: "wgk0".into(),
        listen_port: 51820,
        private_key: PrivateKey::from_bytes([9; 32]),
        addresses: vec![],
        mtu: 1420,
        fwmark: 0,
        peers,
    }
}

/// Emits and parses back each message, checking it fits the budget.
fn wire(messages: &[WireguardMessage]) -> Vec<WireguardMessage> {
    messages
        .iter()
        .map(|m| {
            let mut bytes = vec![0u8; m.buffer_len()];
            m.emit(&mut bytes);
            assert!(bytes.len() <= MESSAGE_BUDGET, "{} bytes", bytes.len());
            let header = GenlHeader { cmd: 1, version: 1 };
            WireguardMessage::parse_with_param(&bytes, header).expect("parses")
        })
        .collect()
}

/// What the device looks like after `messages`, as far as adds and appends go: the
/// messages read as a dump would be (a peer continued across messages is one peer).
fn as_dump(messages: &[WireguardMessage]) -> KernelDevice {
    KernelDevice::from_dump(messages)
}

fn peers(m: &WireguardMessage) -> Vec<WireguardPeer> {
    m.attributes
        .iter()
        .find_map(|a| match a {
            WireguardAttribute::Peers(p) => Some(p.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn flags(p: &WireguardPeer) -> WireguardPeerFlags {
    p.iter()
        .find_map(|a| match a {
            WireguardPeerAttribute::Flags(f) => Some(*f),
            _ => None,
        })
        .unwrap_or(WireguardPeerFlags::empty())
}

#[test]
fn five_thousand_peers_go_in_messages_under_the_budget_and_read_back_exactly() {
    let desired = tunnel(
        (0..5000)
            .map(|n| peer(n, if n % 50 == 0 { 150 } else { 2 }))
            .collect(),
    );
    let messages = wire(&plan(&KernelDevice::default(), &desired));
    assert!(messages.len() > 10, "{} messages", messages.len());
    for m in &messages {
        assert!(matches!(m.attributes[0], WireguardAttribute::IfName(ref n) if n == "wgk0"));
        assert!(
            !m.attributes
                .iter()
                .any(|a| matches!(a, WireguardAttribute::Flags(_))),
            "never REPLACE_PEERS"
        );
    }
    let back = as_dump(&messages);
    assert_eq!(back.peers.len(), 5000);
    for (got, want) in back.peers.iter().zip(&desired.peers) {
        assert_eq!(got.public_key, want.public_key);
        assert_eq!(got.allowed_ips, want.allowed_ips);
    }
}

#[test]
fn a_peer_with_thousands_of_allowed_ips_continues_over_messages_appending() {
    let mut have = as_dump(&plan(&KernelDevice::default(), &tunnel(vec![peer(1, 3)])));
    have.private_key = Some(PrivateKey::from_bytes([9; 32]));
    have.listen_port = 51820;
    let messages = wire(&plan(&have, &tunnel(vec![peer(1, 3000)])));
    assert!(messages.len() >= 10);
    let parts: Vec<WireguardPeer> = messages.iter().flat_map(peers).collect();
    assert_eq!(
        flags(&parts[0]),
        WireguardPeerFlags::UpdateOnly | WireguardPeerFlags::ReplaceAllowedIps
    );
    assert!(
        parts[1..]
            .iter()
            .all(|p| flags(p) == WireguardPeerFlags::UpdateOnly),
        "the rest append"
    );
    assert_eq!(
        as_dump(&messages).peers[0].allowed_ips,
        peer(1, 3000).allowed_ips
    );
}

#[test]
fn only_the_difference_is_sent() {
    let desired = tunnel(vec![peer(1, 2), peer(2, 2), peer(3, 2)]);
    let mut have = as_dump(&plan(&KernelDevice::default(), &desired));
    have.private_key = Some(PrivateKey::from_bytes([9; 32]));
    have.listen_port = 51820;
    assert!(plan(&have, &desired).is_empty(), "nothing to do");
    // A learned endpoint is kept when the store names none.
    have.peers[0].endpoint = Some("192.0.2.1:1234".parse().unwrap());
    assert!(plan(&have, &desired).is_empty());
    // Peer 2 gone, peer 3 with a keepalive, peer 4 new.
    let mut p3 = peer(3, 2);
    p3.persistent_keepalive = Some(25);
    let changed = tunnel(vec![peer(1, 2), p3, peer(4, 1)]);
    let messages = wire(&plan(&have, &changed));
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0].attributes.len(),
        2,
        "no device attributes: {:?}",
        messages[0].attributes
    );
    let sent = peers(&messages[0]);
    assert_eq!(sent.len(), 3);
    assert_eq!(flags(&sent[0]), WireguardPeerFlags::RemoveMe);
    assert!(sent[0].contains(&WireguardPeerAttribute::PublicKey(key(2).0)));
    assert_eq!(flags(&sent[1]), WireguardPeerFlags::UpdateOnly);
    assert!(sent[1].contains(&WireguardPeerAttribute::PersistentKeepalive(25)));
    assert!(
        !sent[1]
            .iter()
            .any(|a| matches!(a, WireguardPeerAttribute::AllowedIps(_))),
        "allowed IPs unchanged"
    );
    assert_eq!(
        flags(&sent[2]),
        WireguardPeerFlags::empty(),
        "a new peer is created"
    );
}

#[test]
fn device_settings_are_sent_when_they_differ() {
    let mut desired = tunnel(vec![]);
    desired.fwmark = 51;
    let messages = wire(&plan(&KernelDevice::default(), &desired));
    let a = &messages[0].attributes;
    assert!(a.contains(&WireguardAttribute::PrivateKey([9; 32])));
    assert!(a.contains(&WireguardAttribute::ListenPort(51820)));
    assert!(a.contains(&WireguardAttribute::Fwmark(51)));
}

#[test]
fn the_same_key_clamped_is_no_change() {
    // The kernel reports its key clamped; a key the store holds unclamped is the same
    // key, and sending it would reset every session.
    let mut desired = tunnel(vec![peer(1, 1)]);
    let unclamped = [0xff; 32];
    let mut clamped = unclamped;
    clamped[0] &= 248;
    clamped[31] = (clamped[31] & 127) | 64;
    desired.private_key = PrivateKey::from_bytes(unclamped);
    let mut have = as_dump(&plan(&KernelDevice::default(), &desired));
    have.private_key = Some(PrivateKey::from_bytes(clamped));
    have.listen_port = 51820;
    assert!(plan(&have, &desired).is_empty(), "nothing to do");
    desired.private_key = PrivateKey::from_bytes([9; 32]);
    let messages = wire(&plan(&have, &desired));
    assert!(
        messages[0]
            .attributes
            .contains(&WireguardAttribute::PrivateKey([9; 32]))
    );
}
