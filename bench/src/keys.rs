//! Peer public keys made by the client, as an operator's tooling would send them.
//!
//! The server checks only that a key is base64 of 32 bytes (any 32 bytes are a Curve25519
//! u-coordinate), so random bytes stand in for real public keys: deriving them would cost
//! the client a scalar multiplication each and measure nothing about the gateway.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::io::Read as _;

/// `count` distinct random keys, base64. Clamped as `wg genkey` clamps, so they have the
/// shape of keys made by the usual tools.
pub fn random(count: usize) -> Result<Vec<String>, String> {
    let mut bytes = vec![0u8; count * 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("/dev/urandom: {e}"))?;
    Ok(bytes
        .chunks_exact_mut(32)
        .map(|k| {
            k[0] &= 248;
            k[31] = (k[31] & 127) | 64;
            STANDARD.encode(k)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_clamped_base64_of_32_bytes() {
        let keys = random(1000).unwrap();
        let distinct: std::collections::HashSet<&String> = keys.iter().collect();
        assert_eq!(distinct.len(), 1000);
        for key in &keys {
            let bytes = STANDARD.decode(key).unwrap();
            assert_eq!(bytes.len(), 32);
            assert_eq!(bytes[0] & 7, 0);
            assert_eq!(bytes[31] & 0xc0, 0x40);
        }
    }
}
