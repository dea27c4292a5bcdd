//! The incremental change: only the difference, never `REPLACE_PEERS`; a peer without an
//! endpoint is expressible; a learned endpoint is kept; the same key clamped is no change.

use ipnet::IpNet;
use wiregate_core::{PeerConfig, PresharedKey, PrivateKey, PublicKey, TunnelConfig};
use wiregate_windows::layout::{interface_flags, peer_flags};
use wiregate_windows::plan::plan;
use wiregate_windows::{Configuration, Interface, Peer, decode, encode};

fn key(n: u8) -> PublicKey {
    PublicKey([n; 32])
}

fn peer(n: u8, nets: &[&str]) -> PeerConfig {
    let mut p = PeerConfig::new(key(n));
    p.allowed_ips = nets.iter().map(|s| s.parse::<IpNet>().unwrap()).collect();
    p
}

fn tunnel(peers: Vec<PeerConfig>) -> TunnelConfig {
    TunnelConfig {
        name: "wg0".into(),
        listen_port: 51820,
        private_key: PrivateKey::from_bytes([9; 32]),
        addresses: Vec::new(),
        mtu: 1420,
        fwmark: 0,
        peers,
    }
}

/// What the driver would report after applying `change` to an empty adapter: the change's
/// buffer decoded, as the driver keeps it (no flags).
fn applied(change: &Configuration) -> Configuration {
    let mut config = decode(&encode(change)).unwrap();
    config.interface.flags = 0;
    for p in &mut config.peers {
        p.flags = 0;
    }
    config
}

#[test]
fn a_new_adapter_gets_everything_and_then_nothing_to_do() {
    let mut road_warrior = peer(1, &["10.0.0.2/32"]);
    road_warrior.persistent_keepalive = Some(25);
    let mut site = peer(2, &["10.0.0.3/32", "192.168.7.0/24", "fd00:7::/64"]);
    site.endpoint = Some("198.51.100.7:51820".parse().unwrap());
    site.preshared_key = Some(PresharedKey::from_bytes([3; 32]));
    let desired = tunnel(vec![road_warrior, site]);
    let change = plan(&Configuration::default(), &desired).expect("a change");
    assert_eq!(
        change.interface.flags,
        interface_flags::HAS_PRIVATE_KEY | interface_flags::HAS_LISTEN_PORT
    );
    assert_eq!(change.interface.flags & interface_flags::REPLACE_PEERS, 0);
    let flags: Vec<u32> = change.peers.iter().map(|p| p.flags).collect();
    assert_eq!(
        flags,
        [
            peer_flags::HAS_PUBLIC_KEY | peer_flags::HAS_PERSISTENT_KEEPALIVE,
            peer_flags::HAS_PUBLIC_KEY
                | peer_flags::HAS_PERSISTENT_KEEPALIVE
                | peer_flags::HAS_PRESHARED_KEY
                | peer_flags::HAS_ENDPOINT,
        ],
        "no endpoint for the road warrior"
    );
    assert_eq!(change.peers[0].endpoint, None);
    let now = applied(&change);
    assert_eq!(plan(&now, &desired), None, "nothing to do");
}

#[test]
fn only_the_difference_is_sent() {
    let desired = tunnel(vec![
        peer(1, &["10.0.0.2/32"]),
        peer(2, &["10.0.0.3/32"]),
        peer(3, &["10.0.0.4/32"]),
    ]);
    let mut now = applied(&plan(&Configuration::default(), &desired).unwrap());
    // A learned endpoint is kept when the store names none.
    now.peers[0].endpoint = Some("203.0.113.9:40000".parse().unwrap());
    assert_eq!(plan(&now, &desired), None);

    let mut p1 = peer(1, &["10.0.0.2/32"]);
    p1.persistent_keepalive = Some(15);
    let changed = tunnel(vec![
        p1,
        peer(3, &["10.0.0.4/32", "10.9.0.0/16"]),
        peer(4, &["10.0.0.5/32"]),
    ]);
    let change = plan(&now, &changed).unwrap();
    assert_eq!(change.interface.flags, 0, "no interface change");
    let by_key = |n: u8| {
        change
            .peers
            .iter()
            .find(|p| p.public_key == key(n))
            .unwrap()
    };
    assert_eq!(
        by_key(2).flags,
        peer_flags::HAS_PUBLIC_KEY | peer_flags::REMOVE
    );
    assert_eq!(
        by_key(1).flags,
        peer_flags::HAS_PUBLIC_KEY | peer_flags::UPDATE | peer_flags::HAS_PERSISTENT_KEEPALIVE
    );
    assert!(
        by_key(1).allowed_ips.is_empty(),
        "allowed IPs unchanged: none sent"
    );
    assert_eq!(
        by_key(3).flags,
        peer_flags::HAS_PUBLIC_KEY | peer_flags::UPDATE | peer_flags::REPLACE_ALLOWED_IPS
    );
    assert_eq!(by_key(3).allowed_ips.len(), 2);
    assert_eq!(
        by_key(4).flags & peer_flags::UPDATE,
        0,
        "a new peer is created"
    );
    assert_eq!(change.peers.len(), 4);
}

#[test]
fn the_same_key_clamped_is_no_change_and_a_new_key_is_sent() {
    let mut desired = tunnel(Vec::new());
    desired.private_key = PrivateKey::from_bytes([0xff; 32]);
    let mut clamped = [0xff; 32];
    clamped[0] &= 248;
    clamped[31] = (clamped[31] & 127) | 64;
    let now = Configuration {
        interface: Interface {
            flags: 0,
            listen_port: 51820,
            private_key: clamped,
            public_key: [0; 32],
        },
        peers: Vec::new(),
    };
    assert_eq!(plan(&now, &desired), None);
    desired.private_key = PrivateKey::from_bytes([9; 32]);
    let change = plan(&now, &desired).unwrap();
    assert_eq!(change.interface.flags, interface_flags::HAS_PRIVATE_KEY);
    assert_eq!(change.interface.private_key, [9; 32]);
}

#[test]
fn every_unwanted_peer_is_removed_by_key_never_by_replace_peers() {
    // Never REPLACE_PEERS: every unwanted peer goes by REMOVE, one entry each.
    let now = Configuration {
        interface: Interface {
            private_key: [9; 32],
            listen_port: 51820,
            ..Interface::default()
        },
        peers: vec![Peer::new(key(5)), Peer::new(key(6))],
    };
    let change = plan(&now, &tunnel(Vec::new())).unwrap();
    assert!(
        change
            .peers
            .iter()
            .all(|p| p.flags & peer_flags::REMOVE != 0)
    );
    assert_eq!(change.peers.len(), 2);
    assert_eq!(change.interface.flags & interface_flags::REPLACE_PEERS, 0);
}
