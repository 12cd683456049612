//! A seeded PRNG and a byte-level mutator for the stable smoke runner.
//!
//! libFuzzer brings its own (coverage-guided) mutator; this one is blind but cheap and
//! deterministic: the same seed gives the same inputs, so a failure seen once can be replayed
//! with `--seed`. Mutations are the classic ones: bit flips, interesting values (0, -1,
//! `INT_MIN`...) at random offsets, inserted and deleted ranges, truncations, splices with another
//! corpus entry and tokens from the target's dictionary.

/// SplitMix64: tiny, fast, and good enough to drive mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `1/n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }

    /// An element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Values that tend to find edge cases, as little-endian integers of 1, 2, 4 and 8 bytes.
const INTERESTING: [u64; 14] = [
    0,
    1,
    2,
    7,
    8,
    0x10,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0x8000,
    0x7fff_ffff,
    0x8000_0000,
    u64::MAX,
];

/// Applies one to four random mutations to `base` and returns the result, at most `max_len`
/// bytes long. `corpus` supplies splice partners, `dict` tokens worth inserting.
pub fn mutate(
    rng: &mut Rng,
    base: &[u8],
    corpus: &[Vec<u8>],
    dict: &[&[u8]],
    max_len: usize,
) -> Vec<u8> {
    let mut out = base.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        mutate_once(rng, &mut out, corpus, dict);
    }
    out.truncate(max_len);
    out
}

fn mutate_once(rng: &mut Rng, out: &mut Vec<u8>, corpus: &[Vec<u8>], dict: &[&[u8]]) {
    let len = out.len();
    match rng.below(13) {
        // Flip one bit.
        0 if len > 0 => {
            let i = rng.below(len);
            out[i] ^= 1 << rng.below(8);
        }
        // Replace one byte.
        1 if len > 0 => {
            let i = rng.below(len);
            out[i] = rng.byte();
        }
        // An interesting value of 1, 2, 4 or 8 bytes, at any offset.
        2 | 3 if len > 0 => {
            let width = 1 << rng.below(4);
            let i = rng.below(len);
            let v = *rng.pick(&INTERESTING);
            let v = if rng.one_in(2) { v } else { v.wrapping_neg() };
            for (k, b) in v.to_le_bytes().iter().take(width).enumerate() {
                if let Some(slot) = out.get_mut(i + k) {
                    *slot = *b;
                }
            }
        }
        // Add or subtract a small number from a byte.
        4 if len > 0 => {
            let i = rng.below(len);
            let d = 1 + rng.below(16) as u8;
            out[i] = if rng.one_in(2) {
                out[i].wrapping_add(d)
            } else {
                out[i].wrapping_sub(d)
            };
        }
        // Delete a range.
        5 if len > 0 => {
            let start = rng.below(len);
            let n = 1 + rng.below((len - start).min(64));
            out.drain(start..start + n);
        }
        // Insert random bytes.
        6 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            out.splice(at..at, bytes);
        }
        // Duplicate a range somewhere else.
        7 if len > 0 => {
            let start = rng.below(len);
            let n = 1 + rng.below((len - start).min(64));
            let chunk = out[start..start + n].to_vec();
            let at = rng.below(len + 1);
            out.splice(at..at, chunk);
        }
        // Truncate.
        8 if len > 0 => out.truncate(rng.below(len)),
        // Splice: our head, another entry's tail.
        9 if !corpus.is_empty() => {
            let other = rng.pick(corpus);
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            out.truncate(cut);
            out.extend_from_slice(&other[from..]);
        }
        // Overwrite with the same span of another entry (keeps file layouts aligned).
        10 if !corpus.is_empty() && len > 0 => {
            let other = rng.pick(corpus);
            let start = rng.below(len);
            let n = 1 + rng.below(256);
            let end = (start + n).min(len).min(other.len().max(start));
            if start < end {
                out[start..end].copy_from_slice(&other[start..end]);
            }
        }
        // Insert or overwrite with a dictionary token.
        11 | 12 if !dict.is_empty() => {
            let token = *rng.pick(dict);
            let at = rng.below(len + 1);
            if rng.one_in(2) || at + token.len() > len {
                out.splice(at..at, token.iter().copied());
            } else {
                out[at..at + token.len()].copy_from_slice(token);
            }
        }
        // The chosen mutation did not apply (empty input, no corpus): append a byte.
        _ => out.push(rng.byte()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_inputs() {
        let corpus = vec![b"hello".to_vec(), b"world!".to_vec()];
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..100)
                .map(|i| mutate(&mut rng, &corpus[i % 2], &corpus, &[b"tok"], 64))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn respects_max_len() {
        let mut rng = Rng::new(1);
        let big = vec![0u8; 100];
        for _ in 0..1000 {
            assert!(mutate(&mut rng, &big, &[], &[], 50).len() <= 50);
        }
    }
}
