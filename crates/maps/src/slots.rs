//! Index-keyed slots holding small records (at most 8 bytes): the storage of
//! `prog_array`, `array_of_maps`, `devmap`, `cpumap` and `xskmap`. A slot is
//! either empty or holds a value; programs may read a present value through
//! its address, which stays valid for the map's lifetime.

use crate::error::{MapError, Result};
use crate::mem::{Region, ValueRef};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// Fixed slots of up to 8 bytes with presence bits.
pub(crate) struct SlotArray {
    region: Region,
    present: Box<[AtomicU8]>,
    value_size: usize,
}

impl SlotArray {
    pub(crate) fn new(max_entries: u32, value_size: u32) -> Result<SlotArray> {
        if value_size > 8 {
            return Err(MapError::Invalid("slot values are at most 8 bytes"));
        }
        let n = max_entries as usize;
        Ok(SlotArray {
            region: Region::new(
                n.checked_mul(8)
                    .ok_or(MapError::NoMemory("slot array too large"))?,
            )?,
            present: (0..n).map(|_| AtomicU8::new(0)).collect(),
            value_size: value_size as usize,
        })
    }

    fn word(&self, i: u32) -> Option<&AtomicU64> {
        if (i as usize) < self.present.len() {
            // SAFETY: slot `i` is inside the region and 8-aligned.
            Some(unsafe { AtomicU64::from_ptr(self.region.base().add(i as usize * 8).cast()) })
        } else {
            None
        }
    }

    /// Number of slots (`max_entries`).
    pub(crate) fn len(&self) -> u32 {
        self.present.len() as u32
    }

    /// The raw value in slot `i` (little-endian bytes packed in a `u64`), if present.
    pub(crate) fn get(&self, i: u32) -> Option<u64> {
        let present = self.present.get(i as usize)?.load(Ordering::Acquire) != 0;
        present.then(|| self.word(i).map_or(0, |w| w.load(Ordering::Relaxed)))
    }

    /// Address of slot `i`'s value, if present.
    pub(crate) fn value_ref(&self, i: u32) -> Option<ValueRef> {
        self.get(i)?;
        let p = self.region.base().wrapping_add(i as usize * 8);
        NonNull::new(p).map(|p| ValueRef::new(p, self.value_size))
    }

    /// Stores `raw` in slot `i`; returns whether it was present before.
    pub(crate) fn set(&self, i: u32, raw: u64) -> bool {
        let Some(w) = self.word(i) else { return false };
        w.store(raw, Ordering::Relaxed);
        self.present
            .get(i as usize)
            .is_some_and(|p| p.swap(1, Ordering::AcqRel) != 0)
    }

    /// Empties slot `i`; returns whether it was present.
    pub(crate) fn clear(&self, i: u32) -> bool {
        self.present
            .get(i as usize)
            .is_some_and(|p| p.swap(0, Ordering::AcqRel) != 0)
    }

    /// The value bytes of a raw slot word.
    pub(crate) fn bytes(&self, raw: u64) -> Vec<u8> {
        raw.to_le_bytes()[..self.value_size].to_vec()
    }
}

/// Packs up to 8 little-endian value bytes into a slot word.
pub(crate) fn pack(value: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = value.len().min(8);
    b[..n].copy_from_slice(&value[..n]);
    u64::from_le_bytes(b)
}
