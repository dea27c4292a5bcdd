//! Cryptokey routing: the longest-prefix match from an inner IP address to the peer that
//! owns it, for IPv4 and IPv6.
//!
//! One hash map per prefix length that is in use, probed from the longest length down.
//! A gateway's tables hold many prefixes of few lengths (a /32 or /128 per road warrior,
//! a handful of site prefixes), so a lookup is a few hash probes whatever the number of
//! peers, and that cost stays flat from 10 to 100k peers. The table is immutable once
//! built: the control plane builds a new one and publishes it (see `routing`), so readers
//! on the hot path never take a lock.

use ipnet::IpNet;
use rustc_hash::FxHashMap;
use std::net::IpAddr;

#[derive(Debug, Clone)]
struct Family<V> {
    /// (prefix length, network address as integer → value), longest prefix first.
    levels: Vec<(u8, FxHashMap<u128, V>)>,
    bits: u8,
}

impl<V: Copy> Family<V> {
    fn new(bits: u8) -> Self {
        Self {
            levels: Vec::new(),
            bits,
        }
    }

    fn mask(&self, addr: u128, len: u8) -> u128 {
        if len == 0 {
            0
        } else {
            addr & (u128::MAX << (self.bits - len))
        }
    }

    fn insert(&mut self, addr: u128, len: u8, value: V) -> Option<V> {
        let key = self.mask(addr, len);
        let at = match self.levels.binary_search_by(|(l, _)| len.cmp(l)) {
            Ok(at) => at,
            Err(at) => {
                self.levels.insert(at, (len, FxHashMap::default()));
                at
            }
        };
        self.levels[at].1.insert(key, value)
    }

    fn lookup(&self, addr: u128) -> Option<V> {
        self.levels
            .iter()
            .find_map(|(len, map)| map.get(&self.mask(addr, *len)).copied())
    }

    fn len(&self) -> usize {
        self.levels.iter().map(|(_, m)| m.len()).sum()
    }
}

/// Longest-prefix-match table from IP prefixes to `V` (a peer reference).
#[derive(Debug, Clone)]
pub struct AllowedIps<V> {
    v4: Family<V>,
    v6: Family<V>,
}

impl<V: Copy> Default for AllowedIps<V> {
    fn default() -> Self {
        Self {
            v4: Family::new(32),
            v6: Family::new(128),
        }
    }
}

impl<V: Copy> AllowedIps<V> {
    /// Maps `net` to `value`, replacing (and returning) a previous owner of exactly that
    /// prefix. Host bits in `net` are ignored.
    pub fn insert(&mut self, net: IpNet, value: V) -> Option<V> {
        match net {
            IpNet::V4(n) => self
                .v4
                .insert(u32::from(n.addr()) as u128, n.prefix_len(), value),
            IpNet::V6(n) => self.v6.insert(u128::from(n.addr()), n.prefix_len(), value),
        }
    }

    /// The owner of the longest prefix containing `addr`.
    #[inline]
    pub fn lookup(&self, addr: IpAddr) -> Option<V> {
        match addr {
            IpAddr::V4(a) => self.v4.lookup(u32::from(a) as u128),
            // Like the kernel, an IPv4-mapped IPv6 address is an IPv6 address here.
            IpAddr::V6(a) => self.v6.lookup(u128::from(a)),
        }
    }

    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// The obviously correct table: a list, scanned for the longest containing prefix,
    /// the last insertion of an identical prefix winning.
    #[derive(Default)]
    struct Naive(Vec<(IpNet, u32)>);

    impl Naive {
        fn insert(&mut self, net: IpNet, v: u32) {
            let net = net.trunc();
            self.0.retain(|(n, _)| *n != net);
            self.0.push((net, v));
        }
        fn lookup(&self, addr: IpAddr) -> Option<u32> {
            self.0
                .iter()
                .filter(|(n, _)| n.contains(&addr))
                .max_by_key(|(n, _)| n.prefix_len())
                .map(|(_, v)| *v)
        }
    }

    /// Addresses drawn from a small space so that random prefixes nest and collide often.
    fn random_v4(rng: &mut StdRng) -> Ipv4Addr {
        Ipv4Addr::from(0x0a00_0000 | (rng.r#gen::<u32>() & 0x000f_ff0f))
    }

    fn random_v6(rng: &mut StdRng) -> Ipv6Addr {
        Ipv6Addr::from(0xfd00_u128 << 112 | (rng.r#gen::<u128>() & 0xff00_0000_0000_00ff))
    }

    #[test]
    fn matches_naive_reference_on_random_prefixes() {
        for seed in 0..20 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut table = AllowedIps::default();
            let mut naive = Naive::default();
            for v in 0..rng.gen_range(1..400) {
                let net = if rng.gen_bool(0.5) {
                    IpNet::new(random_v4(&mut rng).into(), rng.gen_range(0..=32)).unwrap()
                } else {
                    IpNet::new(random_v6(&mut rng).into(), rng.gen_range(0..=128)).unwrap()
                };
                table.insert(net, v);
                naive.insert(net, v);
            }
            assert_eq!(table.len(), naive.0.len());
            for _ in 0..2000 {
                let addr: IpAddr = if rng.gen_bool(0.5) {
                    random_v4(&mut rng).into()
                } else {
                    random_v6(&mut rng).into()
                };
                assert_eq!(table.lookup(addr), naive.lookup(addr), "seed {seed} {addr}");
            }
        }
    }

    #[test]
    fn longest_prefix_wins_and_default_routes_work() {
        let mut t = AllowedIps::default();
        t.insert("0.0.0.0/0".parse().unwrap(), 1);
        t.insert("10.0.0.0/8".parse().unwrap(), 2);
        t.insert("10.1.2.3/32".parse().unwrap(), 3);
        t.insert("::/0".parse().unwrap(), 4);
        assert_eq!(t.lookup("10.1.2.3".parse().unwrap()), Some(3));
        assert_eq!(t.lookup("10.1.2.4".parse().unwrap()), Some(2));
        assert_eq!(t.lookup("192.0.2.1".parse().unwrap()), Some(1));
        assert_eq!(t.lookup("2001:db8::1".parse().unwrap()), Some(4));
        assert_eq!(t.lookup("::ffff:10.1.2.3".parse().unwrap()), Some(4));
        assert_eq!(
            AllowedIps::<u32>::default().lookup("10.0.0.1".parse().unwrap()),
            None
        );
    }
}
