//! The MACs of handshake messages (whitepaper 5.4.4), for the messages whose receiver or
//! sender index wiregate rewrites (`sessions.rs`).
//!
//! mac1 and mac2 cover the whole message before them, indices included, so a message
//! whose index is changed needs them again: our own initiations and responses get mac1
//! for the peer and, while the peer's cookie is fresh, mac2 with it; a response to us is
//! checked against its mac1 as it arrived and then given the mac1 of its rewritten
//! bytes, which boringtun checks again. A cookie reply for our handshake is sealed with
//! the mac1 we sent as associated data, which boringtun never saw, so it is opened here
//! and never reaches boringtun: the cookie it carries is kept here, as the mac2 key.

use blake2::digest::{FixedOutput, KeyInit, Update};
use blake2::{Blake2s256, Blake2sMac, Digest, digest::consts::U16};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::time::{Duration, Instant};
use wiregate_core::protocol::{COOKIE_REPLY_LEN, COOKIE_SECRET_MAX_AGE};

const LABEL_MAC1: &[u8] = b"mac1----";
const LABEL_COOKIE: &[u8] = b"cookie--";
pub(crate) const MAC_LEN: usize = 16;
/// A cookie is used for mac2 while it is younger than this: its maker changes its secret
/// every two minutes, and the kernel leaves five seconds for the reply's journey.
const COOKIE_USABLE: Duration = COOKIE_SECRET_MAX_AGE.saturating_sub(Duration::from_secs(5));

fn hash(label: &[u8], public: &[u8; 32]) -> [u8; 32] {
    Blake2s256::new()
        .chain_update(label)
        .chain_update(public)
        .finalize()
        .into()
}

pub(crate) fn mac(key: &[u8], data: &[u8]) -> [u8; MAC_LEN] {
    let mut m = <Blake2sMac<U16> as KeyInit>::new_from_slice(key).expect("keys of 16 or 32 bytes");
    m.update(data);
    m.finalize_fixed().into()
}

/// Where mac1 starts: 32 bytes (mac1, mac2) before the end.
fn mac1_at(message: &[u8]) -> usize {
    message.len() - 2 * MAC_LEN
}

/// The keys derived from one static public key: mac1's, and the one cookie replies to
/// its owner's messages are sealed with.
#[derive(Clone)]
pub(crate) struct MacKeys {
    mac1: [u8; 32],
    cookie: [u8; 32],
}

impl std::fmt::Debug for MacKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKeys(..)")
    }
}

impl MacKeys {
    pub fn new(public: &[u8; 32]) -> Self {
        Self {
            mac1: hash(LABEL_MAC1, public),
            cookie: hash(LABEL_COOKIE, public),
        }
    }

    /// Whether a handshake message carries this key's owner's mac1.
    pub fn mac1_valid(&self, message: &[u8]) -> bool {
        let at = mac1_at(message);
        mac(&self.mac1, &message[..at])[..] == message[at..at + MAC_LEN]
    }

    /// The key cookie replies to this key's owner's messages are sealed with.
    pub fn cookie_key(&self) -> &[u8; 32] {
        &self.cookie
    }

    /// Writes the mac1 of a message (its bytes before mac1) and returns it.
    pub fn write_mac1(&self, message: &mut [u8]) -> [u8; MAC_LEN] {
        let at = mac1_at(message);
        let mac1 = mac(&self.mac1, &message[..at]);
        message[at..at + MAC_LEN].copy_from_slice(&mac1);
        mac1
    }
}

/// What we keep of our handshakes with one peer: the mac1 we last sent it, and the cookie
/// it last gave us.
#[derive(Debug, Default)]
pub(crate) struct CookieState {
    last_mac1: Option<[u8; MAC_LEN]>,
    cookie: Option<([u8; MAC_LEN], Instant)>,
}

impl CookieState {
    /// Gives a handshake message of ours its mac1 (for the peer `keys` belong to) and
    /// mac2 (with the peer's cookie if it is fresh, zeros otherwise).
    pub fn seal(&mut self, keys: &MacKeys, message: &mut [u8], now: Instant) {
        let mac1 = keys.write_mac1(message);
        self.last_mac1 = Some(mac1);
        let at = message.len() - MAC_LEN;
        let mac2 = match self.cookie {
            Some((cookie, made)) if now.saturating_duration_since(made) < COOKIE_USABLE => {
                mac(&cookie, &message[..at])
            }
            _ => [0; MAC_LEN],
        };
        message[at..].copy_from_slice(&mac2);
    }

    /// Opens a cookie reply from the peer `keys` belong to and keeps its cookie; false if
    /// it is not one (we sent nothing, or it was sealed for another message or by another
    /// key).
    pub fn take_reply(&mut self, keys: &MacKeys, reply: &[u8], now: Instant) -> bool {
        let Some(last_mac1) = self.last_mac1 else {
            return false;
        };
        if reply.len() != COOKIE_REPLY_LEN {
            return false;
        }
        let (nonce, sealed) = reply[8..].split_at(24);
        let Ok(aead) = <XChaCha20Poly1305 as KeyInit>::new_from_slice(&keys.cookie) else {
            return false;
        };
        let payload = Payload {
            msg: sealed,
            aad: &last_mac1,
        };
        match aead.decrypt(XNonce::from_slice(nonce), payload) {
            Ok(cookie) => match <[u8; MAC_LEN]>::try_from(cookie) {
                Ok(cookie) => {
                    self.cookie = Some((cookie, now));
                    true
                }
                Err(_) => false,
            },
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chacha20poly1305::aead::AeadCore;

    fn reply_to(keys_of: &[u8; 32], mac1: &[u8], cookie: [u8; 16]) -> Vec<u8> {
        let key = hash(LABEL_COOKIE, keys_of);
        let aead = <XChaCha20Poly1305 as KeyInit>::new_from_slice(&key).unwrap();
        let nonce = XChaCha20Poly1305::generate_nonce(&mut rand::thread_rng());
        let sealed = aead
            .encrypt(
                &nonce,
                Payload {
                    msg: &cookie,
                    aad: mac1,
                },
            )
            .unwrap();
        let mut reply = vec![3, 0, 0, 0, 9, 9, 9, 9];
        reply.extend_from_slice(&nonce);
        reply.extend_from_slice(&sealed);
        reply
    }

    #[test]
    fn macs_cover_the_message_and_mac2_follows_the_cookie() {
        let peer = [5u8; 32];
        let keys = MacKeys::new(&peer);
        let mut state = CookieState::default();
        let t0 = Instant::now();
        let mut message = vec![1u8; 148];
        state.seal(&keys, &mut message, t0);
        assert!(keys.mac1_valid(&message));
        assert_eq!(message[132..], [0; 16], "no cookie: mac2 is zero");
        message[4] ^= 1;
        assert!(!keys.mac1_valid(&message), "mac1 covers the sender index");

        // A cookie reply sealed for another mac1 is refused; one for ours is taken.
        let mac1 = message[116..132].to_vec();
        assert!(!state.take_reply(&keys, &reply_to(&peer, &[0; 16], [7; 16]), t0));
        assert!(!state.take_reply(&keys, &reply_to(&[6; 32], &mac1, [7; 16]), t0));
        let mut message = vec![1u8; 148];
        state.seal(&keys, &mut message, t0);
        let mac1 = message[116..132].to_vec();
        assert!(state.take_reply(&keys, &reply_to(&peer, &mac1, [7; 16]), t0));

        state.seal(&keys, &mut message, t0 + Duration::from_secs(1));
        assert_eq!(message[132..], mac(&[7; 16], &message[..132]));
        state.seal(&keys, &mut message, t0 + COOKIE_USABLE);
        assert_eq!(message[132..], [0; 16], "a stale cookie is not used");
    }
}
