//! Fixed-size bitsets: [`Bitset`], the set of optional ops a search
//! configuration used, and [`Frontier`], its set of linearized ops with
//! deadlines, whose [`Window`] is half of the memo key.

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
}

/// A bitset over ops numbered in invoke order, that tracks its frontier:
/// the first word not yet full. Everything before the frontier is
/// linearized, and only the ops running around it can be linearized past
/// it, so a configuration is told apart by the frontier and the few words
/// from there to the last bit set: its [`Window`]. A memo key then costs a
/// few words however long the history is, not one bit per op.
#[derive(Clone, Debug)]
pub struct Frontier {
    bits: Bitset,
    /// The first word with a zero bit (or the last word).
    low: usize,
    /// One past the last word with a set bit.
    high: usize,
}

/// A [`Frontier`]'s set as a memo key: the frontier word and the words
/// from there to the last bit set. Words before `low` are all ones.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    low: u32,
    words: Box<[u64]>,
}

impl Window {
    /// Word `i` of the whole set: all ones below the frontier.
    fn word(&self, i: usize) -> u64 {
        let low = self.low as usize;
        if i < low {
            u64::MAX
        } else {
            self.words.get(i - low).copied().unwrap_or(0)
        }
    }

    /// Whether every op in `other` is in this set too.
    pub fn covers(&self, other: &Window) -> bool {
        let end = other.low as usize + other.words.len();
        (other.low.min(self.low) as usize..end).all(|i| other.word(i) & !self.word(i) == 0)
    }
}

impl Frontier {
    pub fn new(bits: usize) -> Frontier {
        Frontier { bits: Bitset::new(bits), low: 0, high: 0 }
    }

    pub fn set(&mut self, i: usize) {
        self.bits.set(i);
        let w = i / 64;
        self.high = self.high.max(w + 1);
        let last = self.bits.words.len() - 1;
        while self.low < last && self.bits.words[self.low] == u64::MAX {
            self.low += 1;
        }
    }

    pub fn clear(&mut self, i: usize) {
        self.bits.clear(i);
        let w = i / 64;
        self.low = self.low.min(w);
        while self.high > 0 && self.bits.words[self.high - 1] == 0 {
            self.high -= 1;
        }
    }

    /// The set as a memo key.
    pub fn window(&self) -> Window {
        let end = self.high.max(self.low);
        Window { low: self.low as u32, words: self.bits.words[self.low..end].into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_tells_sets_apart_and_stays_short() {
        let mut f = Frontier::new(1000);
        let empty = f.window();
        for i in 0..300 {
            f.set(i);
        }
        f.set(310);
        let w = f.window();
        assert_eq!(w.words.len(), 1, "only the frontier word: {w:?}");
        f.clear(310);
        assert_ne!(f.window(), w);
        f.set(310);
        assert_eq!(f.window(), w);
        f.clear(5);
        assert_eq!(f.window().low, 0);
        // The same set built directly: 0..300 and 310, without 5.
        let mut same = Frontier::new(1000);
        for i in (0..300).chain([310]).filter(|&i| i != 5) {
            same.set(i);
        }
        assert_eq!(f.window(), same.window());
        for i in 0..1000 {
            f.set(i);
        }
        for i in (0..1000).rev() {
            f.clear(i);
        }
        assert_eq!(f.window(), empty);
    }

    #[test]
    fn covers_is_superset_across_frontiers() {
        let of = |bits: &[usize]| {
            let mut f = Frontier::new(300);
            for &i in bits {
                f.set(i);
            }
            f.window()
        };
        let low: Vec<usize> = (0..130).collect();
        let big = of(&[low.as_slice(), &[200, 250]].concat());
        assert!(big.covers(&of(&[3, 64, 129, 200])));
        assert!(big.covers(&of(&low)));
        assert!(big.covers(&of(&[])));
        assert!(!big.covers(&of(&[201])));
        assert!(!of(&[3, 64]).covers(&of(&low)));
        assert!(of(&[3, 64]).covers(&of(&[64])));
        assert!(!of(&[64]).covers(&of(&[3, 64])));
    }

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
