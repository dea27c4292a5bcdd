//! Low-order points of Curve25519: public keys whose X25519 result is all zeros, whatever
//! the private key.
//!
//! A handshake with such a key is encrypted under keys any observer can compute: an
//! initiation to one leaks the gateway's identity and its timestamps, and an initiation
//! claiming one can be forged by anybody. The kernel and wireguard-go check every
//! Diffie-Hellman result and give up on zero; wiregate refuses the keys at its own doors
//! (API, CLI, configuration file) and its data plane never handshakes with them.
//!
//! Why a list and not a Diffie-Hellman: X25519 clamps every scalar to a multiple of 8,
//! the cofactor, so its result is zero exactly for points whose order divides 8: on the
//! curve (cofactor 8) the points of order 1, 2, 4 and 8, on its twist (cofactor 4) those of
//! order 2 and 4. Their u-coordinates are 0, 1, p - 1 and the two of order 8. An encoding
//! is read modulo p with its top bit ignored (RFC 7748), so 0 and 1 have a second encoding
//! below 2^255 (p and p + 1), and each of the seven has a twin with bit 255 set. Comparing
//! against the seven costs nothing on the data path, where an X25519 would cost as much
//! as a fifth of a handshake; the test checks the list against X25519 and against
//! curve25519-dalek's own torsion points.

use crate::key::KEY_LEN;

/// The seven encodings below 2^255 of the low-order u-coordinates, little-endian.
const LOW_ORDER: [[u8; KEY_LEN]; 7] = [
    // 0 (order 2)
    [0; KEY_LEN],
    // 1 (order 4)
    le_small(1),
    // The two points of order 8.
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    // p - 1 (order 4 on the twist), p (0 again), p + 1 (1 again); p = 2^255 - 19.
    p_plus(-1),
    p_plus(0),
    p_plus(1),
];

const fn le_small(n: u8) -> [u8; KEY_LEN] {
    let mut bytes = [0; KEY_LEN];
    bytes[0] = n;
    bytes
}

/// p + `delta` for a small `delta`, little-endian: p is 0xed, then 30 bytes of 0xff, 0x7f.
const fn p_plus(delta: i8) -> [u8; KEY_LEN] {
    let mut bytes = [0xff; KEY_LEN];
    bytes[0] = (0xed_i16 + delta as i16) as u8;
    bytes[31] = 0x7f;
    bytes
}

/// Whether X25519 with `u` as the public key gives all zeros for every private key.
pub fn is_low_order(u: &[u8; KEY_LEN]) -> bool {
    let mut masked = *u;
    masked[31] &= 0x7f;
    LOW_ORDER.contains(&masked)
}

/// Every encoding [`is_low_order`] accepts, the seven and their twins with bit 255 set:
/// for tests here and in other crates, which must refuse each of them.
pub fn low_order_encodings() -> impl Iterator<Item = [u8; KEY_LEN]> {
    LOW_ORDER.into_iter().flat_map(|point| {
        let mut high = point;
        high[31] |= 0x80;
        [point, high]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    fn x25519(scalar: [u8; KEY_LEN], u: [u8; KEY_LEN]) -> [u8; KEY_LEN] {
        x25519_dalek::x25519(scalar, u)
    }

    fn random() -> [u8; KEY_LEN] {
        let mut bytes = [0; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        bytes
    }

    #[test]
    fn every_listed_encoding_gives_a_zero_result() {
        let encodings: Vec<_> = low_order_encodings().collect();
        assert_eq!(encodings.len(), 14);
        for u in encodings {
            assert!(is_low_order(&u));
            for _ in 0..8 {
                assert_eq!(x25519(random(), u), [0; KEY_LEN], "{}", hex::encode(u));
            }
        }
    }

    #[test]
    fn the_list_holds_every_torsion_point_of_the_curve() {
        // curve25519-dalek's eight points of order dividing 8, as u-coordinates (the
        // identity has none: it maps to u = 0's encoding, which is listed anyway).
        for point in curve25519_dalek::constants::EIGHT_TORSION {
            let u = point.to_montgomery().to_bytes();
            assert!(is_low_order(&u), "{}", hex::encode(u));
        }
    }

    #[test]
    fn ordinary_keys_are_not_low_order() {
        for _ in 0..256 {
            let key = crate::PrivateKey::generate().public_key();
            assert!(!is_low_order(key.as_bytes()));
            let u = random();
            // A random string is a point on the curve or its twist of large order
            // (a chance of 14 in 2^256 otherwise): its result is not zero.
            assert_eq!(is_low_order(&u), x25519(random(), u) == [0; KEY_LEN]);
        }
    }
}
