//! A set of peer slots as a bitmap: the peers of a shard that have Noise state
//! (a boringtun `Tunn`) and so have timers to run.
//!
//! The timer pass used to walk every slot of the shard four times a second. With 100,000
//! mostly idle peers that walk read megabytes and pushed the busy peers' state out of the
//! cache, which made every packet dearer; walking a bitmap reads 2 bytes per 16 slots.

#[derive(Debug, Default)]
pub(crate) struct SlotSet {
    words: Vec<u64>,
}

impl SlotSet {
    pub fn insert(&mut self, slot: usize) {
        let word = slot / 64;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (slot % 64);
    }

    /// Calls `keep` with each slot in the set, in increasing order, and removes the slots
    /// for which it returns false.
    pub fn retain(&mut self, mut keep: impl FnMut(usize) -> bool) {
        for (i, word) in self.words.iter_mut().enumerate() {
            let mut bits = *word;
            while bits != 0 {
                let bit = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if !keep(i * 64 + bit) {
                    *word &= !(1 << bit);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_it_is_told_in_order() {
        let mut set = SlotSet::default();
        for slot in [130, 3, 64, 3, 0, 200_000] {
            set.insert(slot);
        }
        let mut seen = Vec::new();
        set.retain(|slot| {
            seen.push(slot);
            slot % 2 == 0
        });
        assert_eq!(seen, vec![0, 3, 64, 130, 200_000]);
        let mut left = Vec::new();
        set.retain(|slot| {
            left.push(slot);
            true
        });
        assert_eq!(left, vec![0, 64, 130, 200_000]);
    }
}
