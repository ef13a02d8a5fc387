//! A fixed-size bitset: the set of linearized ops in one search
//! configuration. Hashing and equality are over the words, so it serves as
//! half of the memo key.

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Bitset {
    words: Box<[u64]>,
}

impl Bitset {
    pub fn new(bits: usize) -> Bitset {
        Bitset { words: vec![0; bits.div_ceil(64).max(1)].into_boxed_slice() }
    }

    pub fn set(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    pub fn clear(&mut self, i: usize) {
        self.words[i / 64] &= !(1 << (i % 64));
    }

    pub fn get(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether every bit set here is set in `other` (same size).
    pub fn is_subset(&self, other: &Bitset) -> bool {
        self.words.iter().zip(other.words.iter()).all(|(a, b)| a & !b == 0)
    }

    /// Bytes held, for the memory guard.
    pub fn heap_bytes(&self) -> usize {
        self.words.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_clear_get_count() {
        let mut b = Bitset::new(130);
        for i in [0, 63, 64, 129] {
            b.set(i);
        }
        assert!(b.get(63) && b.get(64) && !b.get(65));
        assert_eq!(b.count(), 4);
        b.clear(64);
        assert!(!b.get(64));
        assert_eq!(b.count(), 3);
        assert_ne!(b, Bitset::new(130));
        let mut small = Bitset::new(130);
        small.set(129);
        assert!(small.is_subset(&b) && !b.is_subset(&small));
    }
}
