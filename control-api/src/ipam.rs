//! IP address management: each tunnel has pools (IPv4 and/or IPv6 prefixes) from which
//! peers get their tunnel addresses, one per pool, lowest free first.
//!
//! An [`Allocator`] is built once per request from what is taken and hands out addresses
//! with a cursor per pool, so that a bulk request for thousands of peers scans each pool
//! once rather than once per peer.

use ipnet::IpNet;
use std::collections::HashSet;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    #[error("pool {0} has no free address left")]
    Exhausted(IpNet),
    #[error("address {0} is not inside any of the tunnel's pools")]
    OutsidePools(IpNet),
    #[error("address {0} must be a single host (/32 or /128)")]
    NotHost(IpNet),
    #[error("address {0} is already in use")]
    Taken(IpNet),
    #[error("address {0} is reserved (network, broadcast or the gateway's own)")]
    Reserved(IpNet),
}

fn host(addr: IpAddr) -> IpNet {
    IpNet::from(addr)
}

/// Whether `addr` may never be handed out from `pool`: the network address, the IPv4
/// broadcast address.
fn reserved_in(pool: &IpNet, addr: IpAddr) -> bool {
    let edge = pool.prefix_len() < pool.max_prefix_len().saturating_sub(1);
    edge && (addr == pool.network() || (pool.addr().is_ipv4() && addr == pool.broadcast()))
}

#[derive(Debug)]
pub struct Allocator {
    pools: Vec<IpNet>,
    /// Addresses in use: peers', and the gateway's own.
    taken: HashSet<IpAddr>,
    gateway: HashSet<IpAddr>,
    /// Per pool, the next address the scan looks at; `None` once it has passed the pool's
    /// last address (which may be the last of the address space: no `+ 1` past it).
    cursors: Vec<Option<u128>>,
}

fn to_int(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u32::from(a).into(),
        IpAddr::V6(a) => a.into(),
    }
}

fn from_int(v4: bool, n: u128) -> IpAddr {
    if v4 {
        IpAddr::from(std::net::Ipv4Addr::from(n as u32))
    } else {
        IpAddr::from(std::net::Ipv6Addr::from(n))
    }
}

impl Allocator {
    /// `gateway`: the tunnel's own interface addresses; `taken`: every address of every peer.
    pub fn new(pools: &[IpNet], gateway: &[IpNet], taken: impl IntoIterator<Item = IpNet>) -> Self {
        let gateway: HashSet<IpAddr> = gateway.iter().map(IpNet::addr).collect();
        let mut used: HashSet<IpAddr> = taken.into_iter().map(|n| n.addr()).collect();
        used.extend(&gateway);
        Self {
            pools: pools.iter().map(IpNet::trunc).collect(),
            taken: used,
            gateway,
            cursors: pools.iter().map(|p| Some(to_int(p.network()))).collect(),
        }
    }

    /// One free address from each pool, marked taken.
    pub fn allocate(&mut self) -> Result<Vec<IpNet>, IpamError> {
        let mut picked = Vec::with_capacity(self.pools.len());
        for i in 0..self.pools.len() {
            let pool = self.pools[i];
            let last = to_int(pool.broadcast());
            let v4 = pool.addr().is_ipv4();
            let found = loop {
                let Some(n) = self.cursors[i].filter(|&n| n <= last) else {
                    break None;
                };
                self.cursors[i] = n.checked_add(1);
                let addr = from_int(v4, n);
                if !reserved_in(&pool, addr) && !self.taken.contains(&addr) {
                    break Some(addr);
                }
            };
            let addr = found.ok_or(IpamError::Exhausted(pool))?;
            self.taken.insert(addr);
            picked.push(host(addr));
        }
        Ok(picked)
    }

    /// Claims addresses a client asked for, after checking each.
    pub fn claim(&mut self, wanted: &[IpNet]) -> Result<(), IpamError> {
        for net in wanted {
            if net.prefix_len() != net.max_prefix_len() {
                return Err(IpamError::NotHost(*net));
            }
            let addr = net.addr();
            let Some(pool) = self.pools.iter().find(|p| p.contains(&addr)) else {
                return Err(IpamError::OutsidePools(*net));
            };
            if self.gateway.contains(&addr) || reserved_in(pool, addr) {
                return Err(IpamError::Reserved(*net));
            }
            if !self.taken.insert(addr) {
                return Err(IpamError::Taken(*net));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn hands_out_lowest_free_skipping_reserved_and_taken() {
        let pools = nets(&["10.8.0.0/29", "fd08::/125"]);
        let mut a = Allocator::new(
            &pools,
            &nets(&["10.8.0.1/24", "fd08::1/64"]),
            nets(&["10.8.0.3/32"]),
        );
        assert_eq!(a.allocate().unwrap(), nets(&["10.8.0.2/32", "fd08::2/128"]));
        assert_eq!(a.allocate().unwrap(), nets(&["10.8.0.4/32", "fd08::3/128"]));
        assert_eq!(a.allocate().unwrap(), nets(&["10.8.0.5/32", "fd08::4/128"]));
        assert_eq!(a.allocate().unwrap(), nets(&["10.8.0.6/32", "fd08::5/128"]));
        // 10.8.0.7 is the broadcast address of the /29.
        assert_eq!(
            a.allocate(),
            Err(IpamError::Exhausted("10.8.0.0/29".parse().unwrap()))
        );
    }

    #[test]
    fn claims_are_checked() {
        let pools = nets(&["10.8.0.0/24"]);
        let mut a = Allocator::new(&pools, &nets(&["10.8.0.1/24"]), nets(&["10.8.0.9/32"]));
        let claim = |a: &mut Allocator, s: &str| a.claim(&nets(&[s]));
        assert!(matches!(
            claim(&mut a, "10.8.0.0/25"),
            Err(IpamError::NotHost(_))
        ));
        assert!(matches!(
            claim(&mut a, "10.9.0.5/32"),
            Err(IpamError::OutsidePools(_))
        ));
        assert!(matches!(
            claim(&mut a, "10.8.0.1/32"),
            Err(IpamError::Reserved(_))
        ));
        assert!(matches!(
            claim(&mut a, "10.8.0.255/32"),
            Err(IpamError::Reserved(_))
        ));
        assert!(matches!(
            claim(&mut a, "10.8.0.9/32"),
            Err(IpamError::Taken(_))
        ));
        claim(&mut a, "10.8.0.50/32").unwrap();
        assert!(matches!(
            claim(&mut a, "10.8.0.50/32"),
            Err(IpamError::Taken(_))
        ));
    }

    #[test]
    fn pools_at_both_ends_of_both_families() {
        // (pool, the gateway's address, every address it hands out, in order)
        let cases: [(&str, &str, &[&str]); 4] = [
            ("0.0.0.0/30", "0.0.0.1/30", &["0.0.0.2"]),
            (
                "255.255.255.252/30",
                "255.255.255.253/30",
                &["255.255.255.254"],
            ),
            ("::/126", "::3/126", &["::1", "::2"]),
            // The top of the IPv6 space: the cursor must not wrap around to `::`.
            (
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffc/126",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd/126",
                &[
                    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
                    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                ],
            ),
        ];
        for (pool, gateway, expected) in cases {
            let pool: IpNet = pool.parse().unwrap();
            let mut a = Allocator::new(&[pool], &nets(&[gateway]), []);
            for addr in expected {
                let host = IpNet::from(addr.parse::<IpAddr>().unwrap());
                assert_eq!(a.allocate().unwrap(), vec![host], "{pool}");
            }
            for _ in 0..3 {
                assert_eq!(a.allocate(), Err(IpamError::Exhausted(pool)), "{pool}");
            }
        }
    }

    #[test]
    fn thousands_in_one_pass() {
        let mut a = Allocator::new(&nets(&["10.0.0.0/16"]), &nets(&["10.0.0.1/16"]), []);
        let got: HashSet<IpNet> = (0..10_000).map(|_| a.allocate().unwrap()[0]).collect();
        assert_eq!(got.len(), 10_000);
    }
}
