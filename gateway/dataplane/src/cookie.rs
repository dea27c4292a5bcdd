//! The cookies we give (whitepaper 5.4.7), the responder's side: checking an initiation's
//! mac1 and, under load, its mac2, and sealing cookie replies, at most one per source
//! every four seconds.
//!
//! The kernel's cookie is MAC(secret, source address and port), its secret changing every
//! two minutes. Here one random key stands for every epoch's secret: the cookie is
//! MAC(key, epoch, source address and port), so it changes every two minutes just the
//! same, and every shard of a device computes it without sharing state or taking a lock:
//! a retry that lands on another shard than its cookie reply came from is let through.
//!
//! Under a flood of initiations with a valid mac1 (mac1 needs only our public key), each
//! would be answered with a cookie reply: a seal, a MAC and a datagram each, which is
//! what made such a flood cost several times a flood of garbage. But a cookie is good
//! for two minutes, and a peer retries every five seconds, so a source needs one reply
//! now and then, not one per initiation: [`ReplyLimiter`] answers each source (an IPv4
//! address or IPv6 /64) at most once every four seconds, in a fixed table (its memory does not
//! grow with the number of sources). A slot remembers which source it holds, so sources
//! that share one never silence each other: a peer whose slot a flood source also hashes
//! to still gets its reply (the flood source then gets one more than its share). A mac2
//! of zeros, what a sender without a cookie sends, is refused without computing a MAC.

use crate::macs::{MAC_LEN, MacKeys, mac};
use crate::ratelimit::Source;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};
use wiregate_core::protocol::{COOKIE_REPLY_LEN, COOKIE_SECRET_MAX_AGE, MESSAGE_HANDSHAKE_COOKIE};

/// How often a source may be sent a cookie reply (tunable): less than a peer waits before
/// it retries a handshake (REKEY_TIMEOUT, 5 s), so a peer whose reply was lost gets the
/// next one. Peers behind one address (a NAT) share it: under load, one of them a turn.
const REPLY_INTERVAL: Duration = Duration::from_secs(4);
/// Slots of the reply limiter's table: 512 KiB per shard.
const REPLY_SLOTS: usize = 1 << 16;

/// Our side of cookies: our MAC keys and the key the epochs' secrets come from.
pub(crate) struct CookieGiver {
    keys: MacKeys,
    key: [u8; 32],
    born: Instant,
}

impl std::fmt::Debug for CookieGiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieGiver(..)")
    }
}

impl CookieGiver {
    /// For the static public key `ours`, with a fresh random key, epochs counted from `now`.
    pub fn new(ours: &[u8; 32], now: Instant) -> Self {
        Self {
            keys: MacKeys::new(ours),
            key: rand::random(),
            born: now,
        }
    }

    /// Whether a handshake message carries our mac1.
    pub fn mac1_valid(&self, message: &[u8]) -> bool {
        self.keys.mac1_valid(message)
    }

    /// Whether a handshake message (its mac1 checked) carries the mac2 that the cookie
    /// `from` was given in this epoch makes.
    pub fn mac2_valid(&self, message: &[u8], from: SocketAddr, now: Instant) -> bool {
        let at = message.len() - MAC_LEN;
        let mac2 = &message[at..];
        if mac2.iter().all(|&b| b == 0) {
            return false;
        }
        mac(&self.cookie(from, now), &message[..at])[..] == *mac2
    }

    /// The cookie reply to `message` (an initiation from `from`): its sender index as the
    /// receiver, a random nonce, and the cookie sealed under our cookie key with the
    /// message's mac1 as associated data.
    pub fn reply(&self, message: &[u8], from: SocketAddr, now: Instant) -> [u8; COOKIE_REPLY_LEN] {
        let mut reply = [0u8; COOKIE_REPLY_LEN];
        reply[0] = MESSAGE_HANDSHAKE_COOKIE as u8;
        reply[4..8].copy_from_slice(&message[4..8]);
        let nonce: [u8; 24] = rand::random();
        reply[8..32].copy_from_slice(&nonce);
        let mac1_at = message.len() - 2 * MAC_LEN;
        let mac1 = &message[mac1_at..mac1_at + MAC_LEN];
        let mut cookie = self.cookie(from, now);
        let aead = XChaCha20Poly1305::new(self.keys.cookie_key().into());
        let tag = aead
            .encrypt_in_place_detached(XNonce::from_slice(&nonce), mac1, &mut cookie)
            .expect("a 16-byte cookie seals");
        reply[32..48].copy_from_slice(&cookie);
        reply[48..].copy_from_slice(&tag);
        reply
    }

    /// MAC(key, epoch, source address and port), the address as 16 bytes.
    fn cookie(&self, from: SocketAddr, now: Instant) -> [u8; MAC_LEN] {
        let epoch =
            now.saturating_duration_since(self.born).as_secs() / COOKIE_SECRET_MAX_AGE.as_secs();
        let ip = match from.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        let mut input = [0u8; 8 + 18];
        input[..8].copy_from_slice(&epoch.to_le_bytes());
        input[8..24].copy_from_slice(&ip.octets());
        input[24..].copy_from_slice(&from.port().to_be_bytes());
        mac(&self.key, &input)
    }

    /// Our MAC keys: the mac1 of messages to us, and the key our cookie replies are
    /// sealed with.
    pub fn keys(&self) -> &MacKeys {
        &self.keys
    }
}

/// When each source was last sent a cookie reply, in a fixed table (see the module's note).
pub(crate) struct ReplyLimiter {
    /// By slot: which source (a tag from its hash; 0: none) was sent a reply, and when
    /// (milliseconds since `origin`).
    last: Box<[(u32, u32)]>,
    hasher: std::collections::hash_map::RandomState,
    origin: Instant,
}

impl std::fmt::Debug for ReplyLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplyLimiter(..)")
    }
}

impl Default for ReplyLimiter {
    fn default() -> Self {
        Self {
            last: vec![(0, 0); REPLY_SLOTS].into_boxed_slice(),
            // Keyed at random: a flooder cannot choose sources that share a slot with a
            // peer's on purpose.
            hasher: Default::default(),
            origin: Instant::now(),
        }
    }
}

impl ReplyLimiter {
    /// Whether `ip` may be sent a cookie reply at `now`; notes it if so.
    pub fn allow(&mut self, ip: IpAddr, now: Instant) -> bool {
        let hash = self.hasher.hash_one(Source::from(ip));
        let slot = hash as usize % self.last.len();
        let tag = ((hash >> 32) as u32).max(1);
        let at = now.saturating_duration_since(self.origin).as_millis() as u32;
        let (held, last) = self.last[slot];
        if held == tag && at.wrapping_sub(last) < REPLY_INTERVAL.as_millis() as u32 {
            return false;
        }
        self.last[slot] = (tag, at);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initiation(giver: &CookieGiver) -> Vec<u8> {
        let mut m = vec![1u8, 0, 0, 0, 7, 7, 7, 7];
        m.resize(148, 0x5a);
        m[132..].fill(0);
        giver.keys.write_mac1(&mut m);
        m
    }

    /// A reply opens (as the initiator's side of `macs.rs` opens it) to the cookie whose
    /// mac2 is then valid: for that source only, in that epoch only.
    #[test]
    fn a_cookie_round_trip() {
        let ours = [3u8; 32];
        let t0 = Instant::now();
        let giver = CookieGiver::new(&ours, t0);
        let from: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        let mut m = initiation(&giver);
        assert!(giver.mac1_valid(&m));
        assert!(!giver.mac2_valid(&m, from, t0), "a zero mac2");
        let reply = giver.reply(&m, from, t0);
        assert_eq!(reply[4..8], [7; 4]);
        let mut state = crate::macs::CookieState::default();
        let keys = MacKeys::new(&ours);
        state.seal(&keys, &mut m, t0); // our mac1 again, as the initiator sent it
        assert!(state.take_reply(&keys, &reply, t0), "the reply opens");
        state.seal(&keys, &mut m, t0);
        assert!(giver.mac2_valid(&m, from, t0 + Duration::from_secs(1)));
        let other: SocketAddr = "192.0.2.1:5001".parse().unwrap();
        assert!(!giver.mac2_valid(&m, other, t0), "another source");
        assert!(
            !giver.mac2_valid(&m, from, t0 + COOKIE_SECRET_MAX_AGE),
            "next epoch"
        );
        m[20] ^= 1;
        assert!(!giver.mac2_valid(&m, from, t0), "covers the message");
    }

    #[test]
    fn one_reply_an_interval_per_source() {
        let mut limiter = ReplyLimiter::default();
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let b_same_64: IpAddr = "2001:db8::2".parse().unwrap();
        assert!(limiter.allow(a, t0));
        assert!(!limiter.allow(a, t0 + Duration::from_millis(999)));
        assert!(limiter.allow(b, t0));
        assert!(!limiter.allow(b_same_64, t0), "one /64, one source");
        assert!(limiter.allow(a, t0 + REPLY_INTERVAL));
        // Millions of sources: the table stays its size, and each is answered once.
        let sources = |n: u32| (0..n).map(|i| IpAddr::from((i | 1 << 31).to_be_bytes()));
        let answered = sources(1_000_000)
            .filter(|&ip| limiter.allow(ip, t0))
            .count();
        assert_eq!(limiter.last.len(), REPLY_SLOTS);
        assert_eq!(answered, 1_000_000);
        // A source that shares a slot with a busy one is not silenced by it.
        let mut limiter = ReplyLimiter::default();
        let flood: Vec<IpAddr> = sources(20_000).collect();
        for ip in &flood {
            assert!(limiter.allow(*ip, t0));
        }
        let again = flood.iter().filter(|&&ip| limiter.allow(ip, t0)).count();
        assert!(
            again < 6_000,
            "{again} of 20,000 answered twice within an interval"
        );
        let peers = (0..1000u32).map(|i| IpAddr::from([192, 168, (i >> 8) as u8, i as u8]));
        assert!(
            peers.into_iter().all(|ip| limiter.allow(ip, t0)),
            "a peer went unanswered"
        );
    }
}
