//! The configuration buffer against `wireguard.h`: the layout follows C's rules for the
//! header's field lists; known values land at known bytes; configurations of 0, 1 and
//! 1,000 peers with IPv4 and IPv6 allowed IPs, every flag and every kind of endpoint
//! come back exactly; a short, long or corrupt buffer is an error, never a panic.
//! Runs on Linux and, built for Windows, under Wine (tests/windows/run).

use ipnet::IpNet;
use std::net::SocketAddr;
use wiregate_core::PublicKey;
use wiregate_windows::layout::{
    self, allowed_ip, interface, interface_flags, peer, peer_flags, sockaddr,
};
use wiregate_windows::{Configuration, DecodeError, Interface, Peer, decode, encode};

fn align(offset: usize, to: usize) -> usize {
    offset.next_multiple_of(to)
}

#[test]
fn the_layout_follows_c_rules_for_the_headers_fields() {
    // WIREGUARD_INTERFACE { u32 Flags; u16 ListenPort; u8 PrivateKey[32]; u8 PublicKey[32];
    // u32 PeersCount; } ALIGNED(8)
    assert_eq!(interface::LISTEN_PORT, 4);
    assert_eq!(interface::PRIVATE_KEY, interface::LISTEN_PORT + 2);
    assert_eq!(interface::PUBLIC_KEY, interface::PRIVATE_KEY + 32);
    assert_eq!(interface::PEERS_COUNT, align(interface::PUBLIC_KEY + 32, 4));
    assert_eq!(interface::SIZE, align(interface::PEERS_COUNT + 4, 8));
    // WIREGUARD_PEER { u32 Flags; u32 Reserved; u8 PublicKey[32]; u8 PresharedKey[32];
    // u16 PersistentKeepalive; SOCKADDR_INET Endpoint (28, align 4); u64 TxBytes, RxBytes,
    // LastHandshake; u32 AllowedIPsCount; } ALIGNED(8)
    assert_eq!(peer::RESERVED, 4);
    assert_eq!(peer::PUBLIC_KEY, 8);
    assert_eq!(peer::PRESHARED_KEY, peer::PUBLIC_KEY + 32);
    assert_eq!(peer::PERSISTENT_KEEPALIVE, peer::PRESHARED_KEY + 32);
    assert_eq!(peer::ENDPOINT, align(peer::PERSISTENT_KEEPALIVE + 2, 4));
    assert_eq!(peer::TX_BYTES, align(peer::ENDPOINT + sockaddr::SIZE, 8));
    assert_eq!(peer::RX_BYTES, peer::TX_BYTES + 8);
    assert_eq!(peer::LAST_HANDSHAKE, peer::RX_BYTES + 8);
    assert_eq!(peer::ALLOWED_IPS_COUNT, peer::LAST_HANDSHAKE + 8);
    assert_eq!(peer::SIZE, align(peer::ALLOWED_IPS_COUNT + 4, 8));
    // WIREGUARD_ALLOWED_IP { union { IN_ADDR; IN6_ADDR; } Address; u16 AddressFamily;
    // u8 Cidr; } ALIGNED(8)
    assert_eq!(allowed_ip::ADDRESS_FAMILY, 16);
    assert_eq!(allowed_ip::CIDR, allowed_ip::ADDRESS_FAMILY + 2);
    assert_eq!(allowed_ip::SIZE, align(allowed_ip::CIDR + 1, 8));
    // SOCKADDR_IN6 { u16 family; u16 port; u32 flowinfo; IN6_ADDR addr; u32 scope_id; }
    assert_eq!(sockaddr::V6_ADDRESS, sockaddr::V6_FLOWINFO + 4);
    assert_eq!(sockaddr::V6_SCOPE_ID, sockaddr::V6_ADDRESS + 16);
    assert_eq!(sockaddr::SIZE, sockaddr::V6_SCOPE_ID + 4);
    for size in [interface::SIZE, peer::SIZE, allowed_ip::SIZE] {
        assert_eq!(
            size % 8,
            0,
            "every structure keeps the next one 8-byte aligned"
        );
    }
    assert_eq!(
        (interface::SIZE, peer::SIZE, allowed_ip::SIZE),
        (80, 136, 24)
    );
}

/// The Windows target's own `SOCKADDR_INET` (windows-sys, `repr(C)` as the compiler lays
/// it out for Windows) against the offsets the buffer code uses.
#[cfg(windows)]
#[test]
fn the_sockaddr_layout_is_windows_own() {
    use std::mem::{align_of, offset_of, size_of};
    use windows_sys::Win32::Networking::WinSock::{SOCKADDR_IN, SOCKADDR_IN6, SOCKADDR_INET};
    assert_eq!(size_of::<SOCKADDR_INET>(), sockaddr::SIZE);
    assert_eq!(
        align_of::<SOCKADDR_INET>(),
        4,
        "so the endpoint starts at 76, not 74"
    );
    assert_eq!(offset_of!(SOCKADDR_IN, sin_port), sockaddr::PORT);
    assert_eq!(offset_of!(SOCKADDR_IN, sin_addr), sockaddr::V4_ADDRESS);
    assert_eq!(
        offset_of!(SOCKADDR_IN6, sin6_flowinfo),
        sockaddr::V6_FLOWINFO
    );
    assert_eq!(offset_of!(SOCKADDR_IN6, sin6_addr), sockaddr::V6_ADDRESS);
    assert_eq!(offset_of!(SOCKADDR_IN6, Anonymous), sockaddr::V6_SCOPE_ID);
    assert_eq!(
        (
            windows_sys::Win32::Networking::WinSock::AF_INET,
            windows_sys::Win32::Networking::WinSock::AF_INET6
        ),
        (layout::AF_INET, layout::AF_INET6)
    );
}

#[test]
fn the_flags_are_the_headers() {
    assert_eq!(
        [
            interface_flags::HAS_PUBLIC_KEY,
            interface_flags::HAS_PRIVATE_KEY,
            interface_flags::HAS_LISTEN_PORT,
            interface_flags::REPLACE_PEERS,
        ],
        [1, 2, 4, 8]
    );
    assert_eq!(
        [
            peer_flags::HAS_PUBLIC_KEY,
            peer_flags::HAS_PRESHARED_KEY,
            peer_flags::HAS_PERSISTENT_KEEPALIVE,
            peer_flags::HAS_ENDPOINT,
            peer_flags::REPLACE_ALLOWED_IPS,
            peer_flags::REMOVE,
            peer_flags::UPDATE,
        ],
        [1, 2, 4, 8, 32, 64, 128]
    );
    assert_eq!((layout::AF_INET, layout::AF_INET6), (2, 23));
}

fn key(n: u32) -> PublicKey {
    let mut k = [0u8; 32];
    k[..4].copy_from_slice(&n.to_le_bytes());
    k[31] = 0x5a;
    PublicKey(k)
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

#[test]
fn known_values_land_at_known_bytes() {
    let mut p = Peer::new(key(7));
    p.flags |= peer_flags::HAS_ENDPOINT | peer_flags::HAS_PERSISTENT_KEEPALIVE;
    p.persistent_keepalive = 25;
    p.endpoint = Some("[2001:db8::1]:51820".parse().unwrap());
    p.allowed_ips = vec![net("10.1.2.0/24"), net("fd00::/64")];
    let config = Configuration {
        interface: Interface {
            flags: interface_flags::HAS_PRIVATE_KEY | interface_flags::HAS_LISTEN_PORT,
            listen_port: 51820,
            private_key: [0x11; 32],
            public_key: [0; 32],
        },
        peers: vec![p],
    };
    let buf = encode(&config);
    assert_eq!(buf.len(), 80 + 136 + 2 * 24);
    assert_eq!(&buf[0..4], &[6, 0, 0, 0], "flags");
    assert_eq!(
        &buf[4..6],
        &51820u16.to_le_bytes(),
        "listen port, little-endian"
    );
    assert_eq!(&buf[6..38], &[0x11; 32]);
    assert_eq!(&buf[72..76], &[1, 0, 0, 0], "one peer");
    let peer_at = 80;
    assert_eq!(buf[peer_at], 1 | 4 | 8);
    assert_eq!(&buf[peer_at + 8..peer_at + 12], &[7, 0, 0, 0]);
    assert_eq!(&buf[peer_at + 72..peer_at + 74], &[25, 0]);
    let endpoint = peer_at + 76;
    assert_eq!(
        &buf[endpoint..endpoint + 2],
        &[23, 0],
        "AF_INET6 is 23 on Windows"
    );
    assert_eq!(
        &buf[endpoint + 2..endpoint + 4],
        &[0xca, 0x6c],
        "port 51820, big-endian"
    );
    assert_eq!(&buf[endpoint + 8..endpoint + 10], &[0x20, 0x01]);
    assert_eq!(
        &buf[peer_at + 128..peer_at + 132],
        &[2, 0, 0, 0],
        "two allowed IPs"
    );
    let ip = peer_at + 136;
    assert_eq!(&buf[ip..ip + 4], &[10, 1, 2, 0]);
    assert_eq!(&buf[ip + 16..ip + 19], &[2, 0, 24]);
    let ip6 = ip + 24;
    assert_eq!(&buf[ip6..ip6 + 2], &[0xfd, 0]);
    assert_eq!(&buf[ip6 + 16..ip6 + 19], &[23, 0, 64]);
}

/// `n` peers with every flag and every kind of endpoint among them, IPv4 and IPv6
/// allowed IPs (none for some), and the figures the driver reports.
fn sample(n: u32) -> Configuration {
    let peers = (0..n)
        .map(|i| {
            let mut p = Peer::new(key(i));
            p.flags = [
                peer_flags::HAS_PUBLIC_KEY,
                peer_flags::HAS_PUBLIC_KEY | peer_flags::HAS_PRESHARED_KEY,
                peer_flags::HAS_PUBLIC_KEY | peer_flags::HAS_PERSISTENT_KEEPALIVE,
                peer_flags::HAS_PUBLIC_KEY | peer_flags::HAS_ENDPOINT,
                peer_flags::HAS_PUBLIC_KEY | peer_flags::UPDATE | peer_flags::REPLACE_ALLOWED_IPS,
                peer_flags::HAS_PUBLIC_KEY | peer_flags::REMOVE,
            ][i as usize % 6];
            p.preshared_key = [(i % 251) as u8; 32];
            p.persistent_keepalive = (i % 60) as u16;
            p.endpoint = match i % 3 {
                0 => None,
                1 => Some(SocketAddr::new([192, 0, 2, (i % 250) as u8].into(), 40_000)),
                _ => Some(
                    format!("[2001:db8::{:x}%{}]:{}", i, i % 7, 50_000 + i % 1000)
                        .parse()
                        .unwrap(),
                ),
            };
            p.tx_bytes = u64::from(i) << 33;
            p.rx_bytes = u64::MAX - u64::from(i);
            p.last_handshake = 133_000_000_000_000_000 + u64::from(i);
            p.allowed_ips = (0..i % 4)
                .map(|j| {
                    if j % 2 == 0 {
                        net(&format!("10.{}.{}.0/24", i / 256 % 256, i % 256))
                    } else {
                        net(&format!("fd00:{:x}:{j}::/48", i))
                    }
                })
                .collect();
            p
        })
        .collect();
    Configuration {
        interface: Interface {
            flags: interface_flags::HAS_PRIVATE_KEY
                | interface_flags::HAS_PUBLIC_KEY
                | interface_flags::HAS_LISTEN_PORT
                | interface_flags::REPLACE_PEERS,
            listen_port: 65_535,
            private_key: [0xab; 32],
            public_key: [0xcd; 32],
        },
        peers,
    }
}

#[test]
fn configurations_of_0_1_and_1000_peers_round_trip() {
    for n in [0, 1, 1000] {
        let config = sample(n);
        let buf = encode(&config);
        assert_eq!(
            buf.len(),
            layout::buffer_size(config.peers.iter().map(|p| p.allowed_ips.len()))
        );
        assert_eq!(decode(&buf).unwrap(), config, "{n} peers");
    }
}

#[test]
fn a_short_long_or_corrupt_buffer_is_an_error() {
    let buf = encode(&sample(7));
    for len in 0..buf.len() {
        assert!(
            matches!(decode(&buf[..len]), Err(DecodeError::Truncated { .. })),
            "cut at {len}"
        );
    }
    let mut long = buf.clone();
    long.extend([0; 8]);
    assert_eq!(decode(&long), Err(DecodeError::Trailing { extra: 8 }));
    // The first peer's endpoint family, then its first allowed IP's family and prefix.
    let peer_at = interface::SIZE;
    let mut bad = buf.clone();
    bad[peer_at + peer::ENDPOINT] = 99;
    assert!(matches!(decode(&bad), Err(DecodeError::Family { .. })));
    let two_ips = encode(&{
        let mut c = sample(0);
        let mut p = Peer::new(key(1));
        p.allowed_ips = vec![net("10.0.0.0/8")];
        c.peers.push(p);
        c
    });
    let ip_at = peer_at + peer::SIZE;
    let mut bad = two_ips.clone();
    bad[ip_at + allowed_ip::ADDRESS_FAMILY] = 10;
    assert!(matches!(decode(&bad), Err(DecodeError::Family { .. })));
    let mut bad = two_ips;
    bad[ip_at + allowed_ip::CIDR] = 33;
    assert!(matches!(
        decode(&bad),
        Err(DecodeError::Cidr { cidr: 33, .. })
    ));
    // A peer count that promises more than the buffer holds.
    let mut bad = encode(&sample(1));
    bad[interface::PEERS_COUNT..interface::PEERS_COUNT + 4]
        .copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(decode(&bad), Err(DecodeError::Truncated { .. })));
}

#[test]
fn any_bytes_decode_without_panicking() {
    // A cheap deterministic generator: the same inputs on every platform.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let base = encode(&sample(5));
    for _ in 0..20_000 {
        let mut buf = base.clone();
        for _ in 0..(next() % 8) {
            let at = (next() as usize) % buf.len();
            buf[at] = next() as u8;
        }
        let cut = (next() as usize) % (buf.len() + 1);
        let _ = decode(&buf[..cut]);
    }
}
