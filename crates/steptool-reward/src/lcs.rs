//! Length of the longest common subsequence of two strings, counted in Unicode scalar values
//! (Python `str` characters), as the reference's Contribution rule needs (formats.md §2.7).
//!
//! The reference computes it with the O(m·n) dynamic programme. Observations are up to ~1 000
//! characters and final answers as long, and a batch has thousands of steps, so
//! [`lcs_len`] uses the bit-parallel algorithm of Allison & Dix (1986) in Hyyrö's (2004)
//! formulation: one row of the DP table is a bit vector `V` over the shorter string, and each
//! character of the longer string updates it with one AND, one multi-word addition, one
//! subtraction and one OR: `U = V & M[c]; V = (V + U) | (V - U)`. The LCS length is the number
//! of zero bits of `V`. Cost O(⌈m/64⌉·n) word operations instead of O(m·n) cell updates.
//! [`lcs_len_dp`] is the textbook DP, kept as the reference for tests and the benchmark.

use std::collections::HashMap;

/// LCS length of `a` and `b` in characters (bit-parallel).
///
/// ```
/// assert_eq!(steptool_reward::lcs::lcs_len("ABCBDAB", "BDCABA"), 4); // e.g. "BCBA"
/// assert_eq!(steptool_reward::lcs::lcs_len("héllo", "hello"), 4);
/// ```
pub fn lcs_len(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    lcs_len_chars(&a, &b)
}

/// [`lcs_len`] on character slices.
pub fn lcs_len_chars(a: &[char], b: &[char]) -> usize {
    let (pattern, text) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if pattern.is_empty() {
        return 0;
    }
    let words = pattern.len().div_ceil(64);
    let masks = MatchMasks::new(pattern, words);
    // V starts as all ones over the pattern's bits.
    let mut v = vec![u64::MAX; words];
    let mut sum = vec![0u64; words];
    for &c in text {
        let Some(m) = masks.get(c) else {
            // U = 0: V = (V + 0) | (V - 0) = V.
            continue;
        };
        let mut carry = 0u64;
        let mut borrow = 0u64;
        for w in 0..words {
            let u = v[w] & m[w];
            // (V + U) with carry propagation.
            let (s1, c1) = v[w].overflowing_add(u);
            let (s2, c2) = s1.overflowing_add(carry);
            carry = u64::from(c1 || c2);
            // (V - U) with borrow propagation.
            let (d1, b1) = v[w].overflowing_sub(u);
            let (d2, b2) = d1.overflowing_sub(borrow);
            borrow = u64::from(b1 || b2);
            sum[w] = s2 | d2;
        }
        std::mem::swap(&mut v, &mut sum);
    }
    // Count zero bits among the pattern's bits.
    let mut zeros = 0usize;
    for (w, word) in v.iter().enumerate() {
        let bits = (pattern.len() - w * 64).min(64);
        let mask = if bits == 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        zeros += (!word & mask).count_ones() as usize;
    }
    zeros
}

/// Per-character bit masks of the pattern: bit `i` of `M[c]` is set iff `pattern[i] == c`.
struct MatchMasks {
    words: usize,
    ascii: Vec<u64>,
    ascii_present: [bool; 128],
    other: HashMap<char, Vec<u64>>,
}

impl MatchMasks {
    fn new(pattern: &[char], words: usize) -> Self {
        let mut ascii = vec![0u64; 128 * words];
        let mut ascii_present = [false; 128];
        let mut other: HashMap<char, Vec<u64>> = HashMap::new();
        for (i, &c) in pattern.iter().enumerate() {
            let (w, bit) = (i / 64, 1u64 << (i % 64));
            if c.is_ascii() {
                let k = c as usize;
                ascii[k * words + w] |= bit;
                ascii_present[k] = true;
            } else {
                other.entry(c).or_insert_with(|| vec![0u64; words])[w] |= bit;
            }
        }
        Self {
            words,
            ascii,
            ascii_present,
            other,
        }
    }

    fn get(&self, c: char) -> Option<&[u64]> {
        if c.is_ascii() {
            let k = c as usize;
            self.ascii_present[k].then(|| &self.ascii[k * self.words..(k + 1) * self.words])
        } else {
            self.other.get(&c).map(Vec::as_slice)
        }
    }
}

/// LCS length by the O(m·n) dynamic programme (two rows), as the reference notebook does.
pub fn lcs_len_dp(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for &ca in &a {
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = if ca == cb {
                prev[j] + 1
            } else {
                cur[j].max(prev[j + 1])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_checked() {
        // Classic CLRS example: LCS("ABCBDAB", "BDCABA") = 4.
        assert_eq!(lcs_len("ABCBDAB", "BDCABA"), 4);
        assert_eq!(lcs_len("", "abc"), 0);
        assert_eq!(lcs_len("abc", ""), 0);
        assert_eq!(lcs_len("abc", "abc"), 3);
        assert_eq!(lcs_len("abc", "def"), 0);
        // Non-ASCII counts characters, not bytes: "مرحبا" vs "مرحب" share 4 characters.
        assert_eq!(lcs_len("مرحبا", "مرحب"), 4);
    }

    #[test]
    fn crosses_word_boundaries() {
        // 200 'a's against 130 'a's interleaved with 'b's: LCS = 130 (spans three 64-bit words).
        let a = "a".repeat(200);
        let b = "ab".repeat(130);
        assert_eq!(lcs_len(&a, &b), 130);
        assert_eq!(lcs_len_dp(&a, &b), 130);
    }

    proptest! {
        #[test]
        fn bit_parallel_equals_dp(a in "[abcé\u{645}]{0,150}", b in "[abcd\u{645}x]{0,150}") {
            prop_assert_eq!(lcs_len(&a, &b), lcs_len_dp(&a, &b));
        }
    }
}
