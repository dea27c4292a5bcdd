//! Curve25519 keys and the two text encodings the WireGuard world uses for them:
//! base64 (wg-quick files, `wg` output, our config) and lowercase hex (the UAPI socket).
//!
//! Private and preshared keys are wiped on drop and never printed: their `Debug` is
//! redacted, and there is deliberately no `Display`, so a key cannot reach a log by accident.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::fmt;
use std::str::FromStr;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length in bytes of every WireGuard key.
pub const KEY_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key is not valid base64 of 32 bytes (expected 44 characters ending in '=')")]
    Base64,
    #[error("key is not 64 hexadecimal characters")]
    Hex,
    #[error(
        "key is a low-order point of Curve25519: every Diffie-Hellman result with it is zero, so a handshake with it would be readable and forgeable by anyone"
    )]
    LowOrder,
}

fn decode_base64(s: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let s = s.trim();
    if s.len() != 44 {
        return Err(KeyError::Base64);
    }
    let bytes = STANDARD.decode(s).map_err(|_| KeyError::Base64)?;
    bytes.try_into().map_err(|_| KeyError::Base64)
}

fn decode_hex(s: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let mut out = [0u8; KEY_LEN];
    hex::decode_to_slice(s.trim(), &mut out).map_err(|_| KeyError::Hex)?;
    Ok(out)
}

/// A peer's (or our own) public key. Public, so it prints and compares freely.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; KEY_LEN]);

impl PublicKey {
    pub fn from_base64(s: &str) -> Result<Self, KeyError> {
        decode_base64(s).map(Self)
    }
    pub fn from_hex(s: &str) -> Result<Self, KeyError> {
        decode_hex(s).map(Self)
    }
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
    /// Whether no handshake with this key can be secret (see [`crate::low_order`]).
    pub fn is_low_order(&self) -> bool {
        crate::low_order::is_low_order(&self.0)
    }
    /// The key, unless it is low-order: for keys that enter through wiregate's own
    /// interfaces (API, CLI, configuration file). The UAPI keeps the kernel's rule and
    /// accepts them; the data plane then never handshakes with them.
    pub fn usable(self) -> Result<Self, KeyError> {
        if self.is_low_order() {
            Err(KeyError::LowOrder)
        } else {
            Ok(self)
        }
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        Self::from_base64(s)
    }
}

/// Secret key material shared by [`PrivateKey`] and [`PresharedKey`]: wiped on drop,
/// redacted in `Debug`.
macro_rules! secret_key {
    ($name:ident, $what:literal) => {
        #[doc = concat!("A ", $what, ". Wiped on drop; `Debug` is redacted.")]
        #[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
        pub struct $name([u8; KEY_LEN]);

        impl $name {
            pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
                Self(bytes)
            }
            pub fn from_base64(s: &str) -> Result<Self, KeyError> {
                decode_base64(s).map(Self)
            }
            pub fn from_hex(s: &str) -> Result<Self, KeyError> {
                decode_hex(s).map(Self)
            }
            /// The secret as base64. Only for writing key files and client configs.
            pub fn expose_base64(&self) -> String {
                STANDARD.encode(self.0)
            }
            /// The secret as hex. Only for the UAPI `get` answer, which `wg showconf` needs.
            pub fn expose_hex(&self) -> String {
                hex::encode(self.0)
            }
            pub fn expose_bytes(&self) -> &[u8; KEY_LEN] {
                &self.0
            }
            pub fn is_zero(&self) -> bool {
                self.0 == [0u8; KEY_LEN]
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_key!(PrivateKey, "Curve25519 private key");
secret_key!(PresharedKey, "symmetric preshared key");

impl PrivateKey {
    /// A fresh key from the operating system's CSPRNG, clamped as `wg genkey` clamps
    /// (x25519-dalek clamps only when it uses a key, not in the bytes it gives).
    pub fn generate() -> Self {
        let secret = x25519_dalek::StaticSecret::random_from_rng(rand::rngs::OsRng);
        let mut bytes = secret.to_bytes();
        bytes[0] &= 248;
        bytes[31] = (bytes[31] & 127) | 64;
        Self(bytes)
    }

    pub fn public_key(&self) -> PublicKey {
        let secret = x25519_dalek::StaticSecret::from(self.0);
        PublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes())
    }
}

impl PresharedKey {
    pub fn generate() -> Self {
        use rand::RngCore as _;
        let mut bytes = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_clamped() {
        for _ in 0..64 {
            let key = PrivateKey::generate();
            let bytes = key.expose_bytes();
            assert_eq!(bytes[0] & 7, 0);
            assert_eq!(bytes[31] & 0xc0, 0x40);
        }
    }

    #[test]
    fn base64_and_hex_round_trip() {
        let private = PrivateKey::generate();
        let public = private.public_key();
        assert_eq!(PublicKey::from_base64(&public.to_base64()).unwrap(), public);
        assert_eq!(PublicKey::from_hex(&public.to_hex()).unwrap(), public);
        assert_eq!(
            PrivateKey::from_base64(&private.expose_base64()).unwrap(),
            private
        );
        assert_eq!(
            PrivateKey::from_hex(&private.expose_hex()).unwrap(),
            private
        );
    }

    #[test]
    fn known_vector_matches_wg_pubkey() {
        // `echo 'oK56DE9Ue9zK76rAc8pBl6opph+1v36lm7cXXsQKrQM=' | wg pubkey`
        let private =
            PrivateKey::from_base64("oK56DE9Ue9zK76rAc8pBl6opph+1v36lm7cXXsQKrQM=").unwrap();
        assert_eq!(
            private.public_key().to_base64(),
            "cL9S5KV5wAy/AsKyYct3qz9BHxe5FYqxlb/eDthF/VY="
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert_eq!(PublicKey::from_base64("abc"), Err(KeyError::Base64));
        assert_eq!(
            PublicKey::from_base64("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!="),
            Err(KeyError::Base64)
        );
        // 33 bytes of base64 squeezed into 44 characters is still wrong.
        assert_eq!(PublicKey::from_hex("zz"), Err(KeyError::Hex));
        assert_eq!(PublicKey::from_hex(&"a".repeat(66)), Err(KeyError::Hex));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let private = PrivateKey::generate();
        let shown = format!("{private:?}");
        assert!(!shown.contains(&private.expose_base64()));
        assert!(shown.contains("redacted"));
    }
}
