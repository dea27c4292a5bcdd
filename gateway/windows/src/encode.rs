//! Writes a [`Configuration`] as the buffer `WireGuardSetConfiguration` takes.

use crate::layout::{self, allowed_ip, interface, peer, sockaddr};
use crate::{Configuration, Peer};
use ipnet::IpNet;
use std::net::SocketAddr;

fn put_u16(buf: &mut [u8], at: usize, value: u16) {
    buf[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn put_u32(buf: &mut [u8], at: usize, value: u32) {
    buf[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put_u64(buf: &mut [u8], at: usize, value: u64) {
    buf[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// `SOCKADDR_INET` (28 bytes): all zero (`AF_UNSPEC`) for no endpoint.
fn put_endpoint(buf: &mut [u8], endpoint: Option<SocketAddr>) {
    match endpoint {
        None => {}
        Some(SocketAddr::V4(v4)) => {
            put_u16(buf, sockaddr::FAMILY, layout::AF_INET);
            buf[sockaddr::PORT..sockaddr::PORT + 2].copy_from_slice(&v4.port().to_be_bytes());
            buf[sockaddr::V4_ADDRESS..sockaddr::V4_ADDRESS + 4].copy_from_slice(&v4.ip().octets());
        }
        Some(SocketAddr::V6(v6)) => {
            put_u16(buf, sockaddr::FAMILY, layout::AF_INET6);
            buf[sockaddr::PORT..sockaddr::PORT + 2].copy_from_slice(&v6.port().to_be_bytes());
            buf[sockaddr::V6_FLOWINFO..sockaddr::V6_FLOWINFO + 4]
                .copy_from_slice(&v6.flowinfo().to_be_bytes());
            buf[sockaddr::V6_ADDRESS..sockaddr::V6_ADDRESS + 16].copy_from_slice(&v6.ip().octets());
            put_u32(buf, sockaddr::V6_SCOPE_ID, v6.scope_id());
        }
    }
}

fn put_allowed_ip(buf: &mut [u8], net: &IpNet) {
    match net {
        IpNet::V4(v4) => {
            buf[allowed_ip::ADDRESS..allowed_ip::ADDRESS + 4].copy_from_slice(&v4.addr().octets());
            put_u16(buf, allowed_ip::ADDRESS_FAMILY, layout::AF_INET);
        }
        IpNet::V6(v6) => {
            buf[allowed_ip::ADDRESS..allowed_ip::ADDRESS + 16].copy_from_slice(&v6.addr().octets());
            put_u16(buf, allowed_ip::ADDRESS_FAMILY, layout::AF_INET6);
        }
    }
    buf[allowed_ip::CIDR] = net.prefix_len();
}

fn put_peer(buf: &mut [u8], p: &Peer) -> usize {
    put_u32(buf, peer::FLAGS, p.flags);
    buf[peer::PUBLIC_KEY..peer::PUBLIC_KEY + 32].copy_from_slice(&p.public_key.0);
    buf[peer::PRESHARED_KEY..peer::PRESHARED_KEY + 32].copy_from_slice(&p.preshared_key);
    put_u16(buf, peer::PERSISTENT_KEEPALIVE, p.persistent_keepalive);
    put_endpoint(
        &mut buf[peer::ENDPOINT..peer::ENDPOINT + sockaddr::SIZE],
        p.endpoint,
    );
    put_u64(buf, peer::TX_BYTES, p.tx_bytes);
    put_u64(buf, peer::RX_BYTES, p.rx_bytes);
    put_u64(buf, peer::LAST_HANDSHAKE, p.last_handshake);
    put_u32(buf, peer::ALLOWED_IPS_COUNT, count(p.allowed_ips.len()));
    let mut at = peer::SIZE;
    for net in &p.allowed_ips {
        put_allowed_ip(&mut buf[at..at + allowed_ip::SIZE], net);
        at += allowed_ip::SIZE;
    }
    at
}

/// Counts are DWORDs; a configuration never comes near 2^32 of anything.
fn count(n: usize) -> u32 {
    u32::try_from(n).expect("fewer than 2^32 peers or allowed IPs")
}

/// The buffer for `config`: its exact size, every structure at an 8-byte boundary of it.
/// (The caller hands it to the driver from memory aligned to 8.)
pub fn encode(config: &Configuration) -> Vec<u8> {
    let size = layout::buffer_size(config.peers.iter().map(|p| p.allowed_ips.len()));
    let mut buf = vec![0u8; size];
    let i = &config.interface;
    put_u32(&mut buf, interface::FLAGS, i.flags);
    put_u16(&mut buf, interface::LISTEN_PORT, i.listen_port);
    buf[interface::PRIVATE_KEY..interface::PRIVATE_KEY + 32].copy_from_slice(&i.private_key);
    buf[interface::PUBLIC_KEY..interface::PUBLIC_KEY + 32].copy_from_slice(&i.public_key);
    put_u32(&mut buf, interface::PEERS_COUNT, count(config.peers.len()));
    let mut at = interface::SIZE;
    for p in &config.peers {
        at += put_peer(&mut buf[at..], p);
    }
    debug_assert_eq!(at, size);
    buf
}
