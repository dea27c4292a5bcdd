//! The keyed permutation that turns a shard and 26 random bits into the receiver index
//! a peer sees, and back.
//!
//! The kernel gives each session a random receiver index and finds the session in a hash
//! table. wiregate's indices must also say which shard owns them, to the kernel's
//! steering program (`steering.rs`) as much as to a shard that receives a datagram of
//! another's, yet must not show the shard to an observer: it stays the same for all of a
//! peer's sessions, so it would link them. So the index on the wire is the encryption of
//! `shard (6 bits) | random (26 bits)` under a key each device draws at random when it
//! is created. Without the key every index looks random; with it, the shard is the top
//! bits of one decryption, which classic BPF can do in straight-line code.
//!
//! The cipher is Speck32/64 (Beaulieu et al., 2013): a 32-bit block, so an index is one
//! block, and only additions, rotations and XORs of 16-bit words, which is what classic
//! BPF's 32-bit arithmetic can express. Its 22 rounds are its full strength; the steering
//! program runs the same rounds as [`IndexCipher::decrypt`], and a test holds the two
//! equal.

use crate::index::SHARD_BITS;

/// Speck32/64's rounds.
pub(crate) const ROUNDS: usize = 22;
/// Bits of the plaintext drawn at random for each session.
const RANDOM_BITS: u32 = 32 - SHARD_BITS;

/// A device's index key, expanded into its round keys.
#[derive(Clone)]
pub(crate) struct IndexCipher {
    round_keys: [u16; ROUNDS],
}

impl std::fmt::Debug for IndexCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IndexCipher(..)")
    }
}

fn ror(x: u16, r: u32) -> u16 {
    x.rotate_right(r)
}

fn rol(x: u16, r: u32) -> u16 {
    x.rotate_left(r)
}

impl IndexCipher {
    /// A cipher under a fresh random key.
    pub fn random() -> Self {
        Self::new(rand::random())
    }

    /// Speck32/64's key schedule; `key` is (k0, l0, l1, l2) in the paper's names.
    pub fn new(key: [u16; 4]) -> Self {
        let mut round_keys = [0u16; ROUNDS];
        let mut l = [key[1], key[2], key[3]];
        round_keys[0] = key[0];
        for i in 0..ROUNDS - 1 {
            let next = round_keys[i].wrapping_add(ror(l[i % 3], 7)) ^ i as u16;
            l[i % 3] = next;
            round_keys[i + 1] = rol(round_keys[i], 2) ^ next;
        }
        Self { round_keys }
    }

    pub fn round_keys(&self) -> &[u16; ROUNDS] {
        &self.round_keys
    }

    pub fn encrypt(&self, block: u32) -> u32 {
        let (mut x, mut y) = ((block >> 16) as u16, block as u16);
        for &k in &self.round_keys {
            x = ror(x, 7).wrapping_add(y) ^ k;
            y = rol(y, 2) ^ x;
        }
        (u32::from(x) << 16) | u32::from(y)
    }

    pub fn decrypt(&self, block: u32) -> u32 {
        let (mut x, mut y) = ((block >> 16) as u16, block as u16);
        for &k in self.round_keys.iter().rev() {
            y = ror(y ^ x, 2);
            x = rol((x ^ k).wrapping_sub(y), 7);
        }
        (u32::from(x) << 16) | u32::from(y)
    }

    /// A fresh receiver index owned by `shard`, as the packet carries it (little-endian
    /// `u32`). The block is the index's bytes read big-endian, as the steering program's
    /// word load reads them.
    pub fn fresh_index(&self, shard: u16) -> u32 {
        let random = rand::random::<u32>() >> SHARD_BITS;
        let block = (u32::from(shard) << RANDOM_BITS) | random;
        self.encrypt(block).swap_bytes()
    }

    /// The shard that owns a receiver index (any value decodes to some shard).
    #[inline]
    pub fn shard_of(&self, index: u32) -> u16 {
        (self.decrypt(index.swap_bytes()) >> RANDOM_BITS) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::MAX_SHARDS;

    /// The authors' test vector (Beaulieu et al., appendix C): key 1918 1110 0908 0100,
    /// plaintext 6574 694c, ciphertext a868 42f2.
    #[test]
    fn speck32_64_test_vector() {
        let cipher = IndexCipher::new([0x0100, 0x0908, 0x1110, 0x1918]);
        assert_eq!(cipher.encrypt(0x6574_694c), 0xa868_42f2);
        assert_eq!(cipher.decrypt(0xa868_42f2), 0x6574_694c);
    }

    #[test]
    fn fresh_indices_name_their_shard_and_do_not_repeat() {
        let cipher = IndexCipher::random();
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000u32 {
            let shard = (i % MAX_SHARDS as u32) as u16;
            let index = cipher.fresh_index(shard);
            assert_eq!(cipher.shard_of(index), shard);
            seen.insert(index);
        }
        // 26 random bits per shard: a handful of repeats among 100,000 at most.
        assert!(seen.len() > 99_900, "{} distinct", seen.len());
    }

    /// What an observer sees: one shard's indices spread over every top-bit value and
    /// every byte, as random values would.
    #[test]
    fn indices_do_not_show_their_shard() {
        let cipher = IndexCipher::random();
        let mut top = [0u32; MAX_SHARDS];
        let mut low_byte = [0u32; 256];
        let n = 64_000;
        for _ in 0..n {
            let index = cipher.fresh_index(1);
            top[(index >> (32 - SHARD_BITS)) as usize] += 1;
            low_byte[(index & 0xff) as usize] += 1;
        }
        let expect = n / MAX_SHARDS as u32;
        assert!(
            top.iter().all(|&c| c > expect / 2 && c < expect * 2),
            "{top:?}"
        );
        let expect = n / 256;
        assert!(low_byte.iter().all(|&c| c > expect / 2 && c < expect * 2));
    }
}
