//! `bloom_filter` (`kernel/bpf/bloom_filter.c`): `push` sets `nr_hash_funcs`
//! bits chosen by `jhash(value, seed + i)`, `peek` tests them. No false
//! negatives; false positives as the bit count allows.

use crate::def::{BPF_ANY, BPF_F_ZERO_SEED};
use crate::error::{MapError, Result, check_len};
use crate::jhash::{jhash, jhash2, random_seed};
use std::sync::atomic::{AtomicU64, Ordering};

/// A bloom filter bitset.
pub(crate) struct Bloom {
    bits: Box<[AtomicU64]>,
    mask: u32,
    hashes: u32,
    seed: u32,
    value_size: usize,
}

impl Bloom {
    /// Sizes the bitset as `bloom_map_alloc` does: `max_entries * hashes / ln 2`
    /// bits (approximated by `* 7 / 5`), rounded up to a power of two.
    pub(crate) fn new(
        value_size: u32,
        max_entries: u32,
        map_extra: u64,
        map_flags: u32,
    ) -> Result<Bloom> {
        let mut hashes = (map_extra & 0xf) as u32;
        if hashes == 0 {
            hashes = 5;
        }
        let nr_bits = u64::from(max_entries) * u64::from(hashes) / 5 * 7;
        let nr_bits = if nr_bits > 1 << 31 {
            1u64 << 31
        } else if nr_bits <= 64 {
            64
        } else {
            nr_bits.next_power_of_two()
        };
        let words = (nr_bits / 64) as usize;
        let mut bits = Vec::new();
        bits.try_reserve_exact(words)
            .map_err(|_| MapError::NoMemory("bloom bitset"))?;
        bits.extend((0..words).map(|_| AtomicU64::new(0)));
        Ok(Bloom {
            bits: bits.into_boxed_slice(),
            mask: (nr_bits - 1) as u32,
            hashes,
            seed: if map_flags & BPF_F_ZERO_SEED != 0 {
                0
            } else {
                random_seed()
            },
            value_size: value_size as usize,
        })
    }

    fn bit(&self, value: &[u8], i: u32) -> (usize, u64) {
        let seed = self.seed.wrapping_add(i);
        let h = if value.len().is_multiple_of(4) {
            jhash2(value, seed)
        } else {
            jhash(value, seed)
        } & self.mask;
        ((h / 64) as usize, 1u64 << (h % 64))
    }

    /// `bpf_map_push_elem` on a bloom filter: only `BPF_ANY` is accepted.
    pub(crate) fn push(&self, value: &[u8], flags: u64) -> Result<()> {
        check_len("value", value, self.value_size)?;
        if flags != BPF_ANY {
            return Err(MapError::Invalid("bloom filter push takes BPF_ANY only"));
        }
        for i in 0..self.hashes {
            let (w, b) = self.bit(value, i);
            if let Some(word) = self.bits.get(w) {
                word.fetch_or(b, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// The hash seed and the bitset words, for saving the filter.
    pub(crate) fn snapshot(&self) -> (u32, Vec<u64>) {
        let words = self
            .bits
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .collect();
        (self.seed, words)
    }

    /// Puts back a [`Bloom::snapshot`] taken from a filter of the same
    /// definition; a different word count is `EINVAL`.
    pub(crate) fn restore(&mut self, seed: u32, words: &[u64]) -> Result<()> {
        if words.len() != self.bits.len() {
            return Err(MapError::Invalid(
                "bloom bitset size differs from the definition's",
            ));
        }
        self.seed = seed;
        for (word, &saved) in self.bits.iter().zip(words) {
            word.store(saved, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Number of 64-bit words in the bitset.
    pub(crate) fn word_count(&self) -> usize {
        self.bits.len()
    }

    /// `bpf_map_peek_elem`: `ENOENT` when the value was certainly never pushed.
    pub(crate) fn peek(&self, value: &[u8]) -> Result<()> {
        check_len("value", value, self.value_size)?;
        for i in 0..self.hashes {
            let (w, b) = self.bit(value, i);
            if self
                .bits
                .get(w)
                .is_none_or(|word| word.load(Ordering::Relaxed) & b == 0)
            {
                return Err(MapError::NotFound);
            }
        }
        Ok(())
    }
}
