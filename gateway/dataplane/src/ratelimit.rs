//! Per-source limits on handshake initiations while the gateway is under load, as the
//! kernel's ratelimiter: a token bucket per IPv4 address or IPv6 /64, 20 initiations a
//! second with a burst of 5. Only initiations that carry a valid cookie are limited (the
//! cookie proved the source address; without it they get a cookie reply). The table
//! holds at most [`MAX_SOURCES`] sources and forgets those idle for a second, so a flood
//! from millions of addresses costs bounded memory: while it is full, initiations from
//! sources it does not hold are refused, as the kernel refuses them.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::IpAddr;
use std::time::{Duration, Instant};

const PACKETS_PER_SECOND: u64 = 20;
const BURST: u64 = 5;
/// One initiation's cost, and the most a bucket holds, in nanoseconds of refill.
const COST: u64 = 1_000_000_000 / PACKETS_PER_SECOND;
const FULL: u64 = COST * BURST;
/// Sources tracked at most (the kernel's largest table).
pub(crate) const MAX_SOURCES: usize = 65_536;
/// A source idle this long has a full bucket again, and is forgotten.
const IDLE: Duration = Duration::from_secs(1);

/// Who a bucket is for: an IPv4 address, or an IPv6 /64 (one host can hold a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => Self::V6((u128::from(v6) >> 64) as u64),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Nanoseconds of refill held, at most `FULL`.
    tokens: u64,
    last: Instant,
}

#[derive(Debug)]
pub(crate) struct RateLimiter {
    buckets: HashMap<Source, Bucket>,
    swept: Instant,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self {
            buckets: HashMap::new(),
            swept: Instant::now(),
        }
    }
}

impl RateLimiter {
    /// Whether an initiation from `ip` at `now` may be opened; takes its token if so.
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        if now.saturating_duration_since(self.swept) >= IDLE {
            self.buckets
                .retain(|_, b| now.saturating_duration_since(b.last) < IDLE);
            self.swept = now;
        }
        let full = self.buckets.len() >= MAX_SOURCES;
        match self.buckets.entry(Source::from(ip)) {
            Entry::Occupied(mut held) => {
                let bucket = held.get_mut();
                let refill = now.saturating_duration_since(bucket.last).as_nanos();
                bucket.tokens = FULL.min(bucket.tokens.saturating_add(refill as u64));
                bucket.last = now;
                if bucket.tokens >= COST {
                    bucket.tokens -= COST;
                    true
                } else {
                    false
                }
            }
            Entry::Vacant(_) if full => false,
            Entry::Vacant(new) => {
                new.insert(Bucket {
                    tokens: FULL - COST,
                    last: now,
                });
                true
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_burst_of_five_then_twenty_a_second() {
        let mut limiter = RateLimiter::default();
        let t0 = Instant::now();
        let allowed = (0..10)
            .filter(|_| limiter.allow(ip("192.0.2.1"), t0))
            .count();
        assert_eq!(allowed, 5);
        // Another source is not held back by the first.
        assert!(limiter.allow(ip("192.0.2.2"), t0));
        // One more every 50 ms: none after 49 ms, two after 100.
        assert!(!limiter.allow(ip("192.0.2.1"), t0 + Duration::from_millis(49)));
        let later = t0 + Duration::from_millis(100);
        let allowed = (0..5)
            .filter(|_| limiter.allow(ip("192.0.2.1"), later))
            .count();
        assert_eq!(allowed, 2);
        // Its burst spent, a source gets 20 in a second.
        let mut at = t0 + Duration::from_secs(10);
        for _ in 0..BURST {
            assert!(limiter.allow(ip("198.51.100.9"), at));
        }
        let mut count = 0;
        for _ in 0..1000 {
            at += Duration::from_millis(1);
            count += usize::from(limiter.allow(ip("198.51.100.9"), at));
        }
        assert!((19..=21).contains(&count), "{count} in a second");
    }

    #[test]
    fn ipv6_sources_are_their_slash_64_and_v4_mapped_ones_ipv4() {
        let mut limiter = RateLimiter::default();
        let t0 = Instant::now();
        let spread: usize = (0..10)
            .filter(|i| limiter.allow(ip(&format!("2001:db8:1:2::{i:x}")), t0))
            .count();
        assert_eq!(spread, 5, "one /64, one bucket");
        assert!(limiter.allow(ip("2001:db8:1:3::1"), t0), "another /64");
        for _ in 0..5 {
            assert!(limiter.allow(ip("203.0.113.7"), t0));
        }
        assert!(!limiter.allow(ip("::ffff:203.0.113.7"), t0));
    }

    #[test]
    fn the_table_is_bounded_and_forgets_idle_sources() {
        let mut limiter = RateLimiter::default();
        let t0 = Instant::now();
        for n in 0..MAX_SOURCES as u32 {
            assert!(limiter.allow(IpAddr::V4(n.into()), t0));
        }
        assert_eq!(limiter.len(), MAX_SOURCES);
        // Full: a new source is refused, a known one still has its bucket.
        assert!(!limiter.allow(ip("10.255.255.255"), t0));
        assert!(limiter.allow(IpAddr::V4(7u32.into()), t0));
        assert_eq!(limiter.len(), MAX_SOURCES);
        // A second later every source is idle: forgotten, and new ones come in.
        let later = t0 + IDLE;
        assert!(limiter.allow(ip("10.255.255.255"), later));
        assert_eq!(limiter.len(), 1);
    }
}
