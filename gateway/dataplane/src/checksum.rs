//! The internet checksum (RFC 1071) in plain, portable code: what the coalescer uses where
//! tun-rs's vectorised one (Linux only) is not built. The two are checked against each
//! other on Linux.

/// The one's-complement sum of `bytes` as big-endian 16-bit words (an odd last byte is
/// padded with zero), added to `initial`, not yet folded to 16 bits.
pub(crate) fn checksum_no_fold(bytes: &[u8], initial: u64) -> u64 {
    let mut sum = initial;
    let mut words = bytes.chunks_exact(4);
    for word in &mut words {
        sum += u64::from(u32::from_be_bytes([word[0], word[1], word[2], word[3]]));
    }
    let mut rest = words.remainder().chunks_exact(2);
    for pair in &mut rest {
        sum += u64::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = rest.remainder() {
        sum += u64::from(*last) << 8;
    }
    sum
}

/// The folded checksum sum of `bytes` plus `initial` (0xffff: the bytes verify).
pub(crate) fn checksum(bytes: &[u8], initial: u64) -> u16 {
    let mut sum = checksum_no_fold(bytes, initial);
    while sum > 0xffff {
        sum = (sum >> 16) + (sum & 0xffff);
    }
    sum as u16
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use rand::{Rng, SeedableRng};

    #[test]
    fn agrees_with_tun_rs() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for len in (0..200).chain([1399, 1400, 1500, 9000, 65535]) {
            let bytes: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
            let initial = rng.gen_range(0..1 << 40);
            assert_eq!(
                super::checksum(&bytes, initial),
                tun_rs::checksum(&bytes, initial),
                "{len} bytes"
            );
        }
    }
}
