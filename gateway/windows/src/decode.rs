//! Reads the buffer `WireGuardGetConfiguration` fills: every count and field checked
//! against the buffer's length, so a short or inconsistent buffer is an error, never a
//! panic.

use crate::layout::{self, allowed_ip, interface, peer, sockaddr};
use crate::{Configuration, Interface, Peer};
use ipnet::IpNet;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use wiregate_core::PublicKey;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the configuration buffer ends at {len} bytes; {what} needs {need}")]
    Truncated {
        what: &'static str,
        need: usize,
        len: usize,
    },
    #[error("{extra} bytes after the last peer")]
    Trailing { extra: usize },
    #[error("{what}: address family {family} is neither AF_INET nor AF_INET6")]
    Family { what: &'static str, family: u16 },
    #[error("allowed IP {address}/{cidr}: the prefix is too long")]
    Cidr { address: String, cidr: u8 },
}

/// Fixed-size fields of a slice whose length was checked first.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.0[at], self.0[at + 1]])
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes(at))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes(at))
    }
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0; N];
        out.copy_from_slice(&self.0[at..at + N]);
        out
    }
}

fn take<'a>(
    buf: &'a [u8],
    at: usize,
    size: usize,
    what: &'static str,
) -> Result<Fields<'a>, DecodeError> {
    buf.get(at..at.saturating_add(size))
        .map(Fields)
        .ok_or(DecodeError::Truncated {
            what,
            need: at.saturating_add(size),
            len: buf.len(),
        })
}

fn endpoint(f: &Fields<'_>) -> Result<Option<SocketAddr>, DecodeError> {
    let port = u16::from_be_bytes(f.bytes(sockaddr::PORT));
    match f.u16(sockaddr::FAMILY) {
        layout::AF_UNSPEC => Ok(None),
        layout::AF_INET => Ok(Some(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::from(f.bytes::<4>(sockaddr::V4_ADDRESS)),
            port,
        )))),
        layout::AF_INET6 => Ok(Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(f.bytes::<16>(sockaddr::V6_ADDRESS)),
            port,
            u32::from_be_bytes(f.bytes(sockaddr::V6_FLOWINFO)),
            f.u32(sockaddr::V6_SCOPE_ID),
        )))),
        family => Err(DecodeError::Family {
            what: "endpoint",
            family,
        }),
    }
}

fn allowed(f: &Fields<'_>) -> Result<IpNet, DecodeError> {
    let cidr = f.0[allowed_ip::CIDR];
    let (net, address) = match f.u16(allowed_ip::ADDRESS_FAMILY) {
        layout::AF_INET => {
            let address = Ipv4Addr::from(f.bytes::<4>(allowed_ip::ADDRESS));
            (
                ipnet::Ipv4Net::new(address, cidr).map(IpNet::V4),
                address.to_string(),
            )
        }
        layout::AF_INET6 => {
            let address = Ipv6Addr::from(f.bytes::<16>(allowed_ip::ADDRESS));
            (
                ipnet::Ipv6Net::new(address, cidr).map(IpNet::V6),
                address.to_string(),
            )
        }
        family => {
            return Err(DecodeError::Family {
                what: "allowed IP",
                family,
            });
        }
    };
    net.map_err(|_| DecodeError::Cidr { address, cidr })
}

/// The configuration in `buf`.
pub fn decode(buf: &[u8]) -> Result<Configuration, DecodeError> {
    let i = take(buf, 0, interface::SIZE, "the interface")?;
    let mut config = Configuration {
        interface: Interface {
            flags: i.u32(interface::FLAGS),
            listen_port: i.u16(interface::LISTEN_PORT),
            private_key: i.bytes(interface::PRIVATE_KEY),
            public_key: i.bytes(interface::PUBLIC_KEY),
        },
        peers: Vec::new(),
    };
    let mut at = interface::SIZE;
    for _ in 0..i.u32(interface::PEERS_COUNT) {
        let p = take(buf, at, peer::SIZE, "a peer")?;
        at += peer::SIZE;
        let mut decoded = Peer {
            flags: p.u32(peer::FLAGS),
            public_key: PublicKey(p.bytes(peer::PUBLIC_KEY)),
            preshared_key: p.bytes(peer::PRESHARED_KEY),
            persistent_keepalive: p.u16(peer::PERSISTENT_KEEPALIVE),
            endpoint: endpoint(&Fields(
                &p.0[peer::ENDPOINT..peer::ENDPOINT + sockaddr::SIZE],
            ))?,
            tx_bytes: p.u64(peer::TX_BYTES),
            rx_bytes: p.u64(peer::RX_BYTES),
            last_handshake: p.u64(peer::LAST_HANDSHAKE),
            allowed_ips: Vec::new(),
        };
        for _ in 0..p.u32(peer::ALLOWED_IPS_COUNT) {
            let a = take(buf, at, allowed_ip::SIZE, "an allowed IP")?;
            at += allowed_ip::SIZE;
            decoded.allowed_ips.push(allowed(&a)?);
        }
        config.peers.push(decoded);
    }
    match buf.len() - at {
        0 => Ok(config),
        extra => Err(DecodeError::Trailing { extra }),
    }
}
