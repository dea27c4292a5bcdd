//! The structures of `wireguard.h` (WireGuardNT's API), as sizes, offsets and flags. All
//! are `ALIGNED(8)`: each structure's size is a multiple of 8, so the structures of a
//! buffer follow each other with no padding in between. Integers are little-endian (x86
//! and ARM Windows alike), ports and addresses in network order as in `SOCKADDR_INET`.

/// `WIREGUARD_INTERFACE`: Flags (u32), ListenPort (u16), PrivateKey [32], PublicKey [32],
/// PeersCount (u32, aligned to 4).
pub mod interface {
    pub const FLAGS: usize = 0;
    pub const LISTEN_PORT: usize = 4;
    pub const PRIVATE_KEY: usize = 6;
    pub const PUBLIC_KEY: usize = 38;
    pub const PEERS_COUNT: usize = 72;
    pub const SIZE: usize = 80;
}

/// `WIREGUARD_PEER`: Flags (u32), Reserved (u32), PublicKey [32], PresharedKey [32],
/// PersistentKeepalive (u16), Endpoint (`SOCKADDR_INET`, 28 bytes aligned to 4),
/// TxBytes, RxBytes, LastHandshake (u64 each), AllowedIPsCount (u32).
pub mod peer {
    pub const FLAGS: usize = 0;
    pub const RESERVED: usize = 4;
    pub const PUBLIC_KEY: usize = 8;
    pub const PRESHARED_KEY: usize = 40;
    pub const PERSISTENT_KEEPALIVE: usize = 72;
    pub const ENDPOINT: usize = 76;
    pub const TX_BYTES: usize = 104;
    pub const RX_BYTES: usize = 112;
    pub const LAST_HANDSHAKE: usize = 120;
    pub const ALLOWED_IPS_COUNT: usize = 128;
    pub const SIZE: usize = 136;
}

/// `WIREGUARD_ALLOWED_IP`: Address (union of `IN_ADDR`/`IN6_ADDR`, 16 bytes),
/// AddressFamily (u16), Cidr (u8).
pub mod allowed_ip {
    pub const ADDRESS: usize = 0;
    pub const ADDRESS_FAMILY: usize = 16;
    pub const CIDR: usize = 18;
    pub const SIZE: usize = 24;
}

/// `SOCKADDR_INET`: a `SOCKADDR_IN` or `SOCKADDR_IN6`, told apart by the family at 0.
pub mod sockaddr {
    pub const FAMILY: usize = 0;
    /// Big-endian.
    pub const PORT: usize = 2;
    pub const V4_ADDRESS: usize = 4;
    pub const V6_FLOWINFO: usize = 4;
    pub const V6_ADDRESS: usize = 8;
    pub const V6_SCOPE_ID: usize = 24;
    pub const SIZE: usize = 28;
}

/// Windows' address families (`AF_INET6` is 23 there, not 10).
pub const AF_UNSPEC: u16 = 0;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 23;

/// `WIREGUARD_INTERFACE_FLAG`.
pub mod interface_flags {
    pub const HAS_PUBLIC_KEY: u32 = 1 << 0;
    pub const HAS_PRIVATE_KEY: u32 = 1 << 1;
    pub const HAS_LISTEN_PORT: u32 = 1 << 2;
    /// Never set by wiregate on a live adapter: it drops every session.
    pub const REPLACE_PEERS: u32 = 1 << 3;
}

/// `WIREGUARD_PEER_FLAG`.
pub mod peer_flags {
    pub const HAS_PUBLIC_KEY: u32 = 1 << 0;
    pub const HAS_PRESHARED_KEY: u32 = 1 << 1;
    pub const HAS_PERSISTENT_KEEPALIVE: u32 = 1 << 2;
    pub const HAS_ENDPOINT: u32 = 1 << 3;
    pub const REPLACE_ALLOWED_IPS: u32 = 1 << 5;
    pub const REMOVE: u32 = 1 << 6;
    pub const UPDATE: u32 = 1 << 7;
}

/// The buffer's size for peers with these numbers of allowed IPs.
pub fn buffer_size(allowed_ips_per_peer: impl IntoIterator<Item = usize>) -> usize {
    interface::SIZE
        + allowed_ips_per_peer
            .into_iter()
            .map(|ips| peer::SIZE + ips * allowed_ip::SIZE)
            .sum::<usize>()
}
