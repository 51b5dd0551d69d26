//! `array` and `percpu_array` (`kernel/bpf/arraymap.c`): every element exists
//! from creation, zero-filled, in one preallocated mapping; keys are `u32`
//! indexes; elements cannot be deleted.

use crate::def::{BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, round8};
use crate::error::{MapError, Result, check_len};
use crate::layout::ArrayLayout;
use crate::mem::{
    Region, ValueRef, copy_value_in, copy_value_out, key_u32, spin_lock, spin_unlock,
};
use std::ptr::NonNull;

/// Array storage: `max_entries` slots of `round_up(value_size, 8)` bytes,
/// times the CPU count for per-CPU arrays.
pub(crate) struct ArrayStore {
    region: Region,
    value_size: usize,
    stride: usize,
    nr_cpus: u32,
    percpu: bool,
    max_entries: u32,
    lock_off: Option<u32>,
}

impl ArrayStore {
    pub(crate) fn new(
        value_size: u32,
        max_entries: u32,
        nr_cpus: u32,
        percpu: bool,
        lock_off: Option<u32>,
    ) -> Result<ArrayStore> {
        let stride = round8(value_size) as usize;
        let nr_cpus = nr_cpus.max(1);
        let per_elem = if percpu {
            stride * nr_cpus as usize
        } else {
            stride
        };
        let total = (per_elem as u64)
            .checked_mul(u64::from(max_entries))
            .ok_or(MapError::NoMemory("array size overflows"))?;
        let region = Region::new(
            usize::try_from(total).map_err(|_| MapError::NoMemory("array too large"))?,
        )?;
        Ok(ArrayStore {
            region,
            value_size: value_size as usize,
            stride,
            nr_cpus,
            percpu,
            max_entries,
            lock_off,
        })
    }

    fn slot(&self, index: u32, cpu: u32) -> *mut u8 {
        let per_elem = if self.percpu {
            self.stride * self.nr_cpus as usize
        } else {
            self.stride
        };
        let cpu_off = if self.percpu {
            cpu.min(self.nr_cpus - 1) as usize * self.stride
        } else {
            0
        };
        self.region
            .base()
            .wrapping_add(index as usize * per_elem + cpu_off)
    }

    /// The value slot for `key` (CPU `cpu` for per-CPU arrays), or `None`
    /// past `max_entries`, as `array_map_lookup_elem`.
    pub(crate) fn lookup(&self, key: &[u8], cpu: u32) -> Result<Option<ValueRef>> {
        let index = key_u32(key)?;
        if index >= self.max_entries {
            return Ok(None);
        }
        let p = self.slot(index, cpu);
        Ok(NonNull::new(p).map(|p| ValueRef::new(p, self.value_size)))
    }

    /// Where the values lie, as [`ArrayStore::slot`] finds them; `None`
    /// for an array without memory (no entries).
    pub(crate) fn layout(&self) -> Option<ArrayLayout> {
        let base = NonNull::new(self.region.base())?.as_ptr() as usize;
        let (elem_stride, cpu_stride, nr_cpus) = if self.percpu {
            (
                self.stride * self.nr_cpus as usize,
                self.stride,
                self.nr_cpus,
            )
        } else {
            (self.stride, 0, 1)
        };
        Some(ArrayLayout {
            base,
            max_entries: self.max_entries,
            value_size: self.value_size as u32,
            elem_stride,
            cpu_stride,
            nr_cpus,
            len: self.region.len(),
        })
    }

    /// Host value size: one value, or one 8-byte padded value per CPU.
    pub(crate) fn host_value_size(&self) -> usize {
        if self.percpu {
            self.stride * self.nr_cpus as usize
        } else {
            self.value_size
        }
    }

    fn lock_word(&self, value: *mut u8, locked: bool) -> Option<*mut u8> {
        self.lock_off
            .filter(|_| locked)
            .map(|o| value.wrapping_add(o as usize))
    }

    /// `BPF_MAP_LOOKUP_ELEM` from the host.
    pub(crate) fn sys_lookup(&self, key: &[u8], flags: u64) -> Result<Vec<u8>> {
        if flags & BPF_F_LOCK != 0 && (self.lock_off.is_none() || self.percpu) {
            return Err(MapError::Invalid(
                "BPF_F_LOCK on a map without bpf_spin_lock",
            ));
        }
        let index = key_u32(key)?;
        if index >= self.max_entries {
            return Err(MapError::NotFound);
        }
        let mut out = vec![0u8; self.host_value_size()];
        if self.percpu {
            for (cpu, chunk) in out.chunks_exact_mut(self.stride).enumerate() {
                // SAFETY: the slot lies inside the region.
                unsafe { copy_value_out(chunk, self.slot(index, cpu as u32), None) };
            }
        } else {
            let p = self.slot(index, 0);
            let lock = self.lock_word(p, flags & BPF_F_LOCK != 0);
            // SAFETY: the slot and its lock word lie inside the region.
            unsafe {
                if let Some(l) = lock {
                    spin_lock(l);
                }
                copy_value_out(&mut out, p, self.lock_off);
                if let Some(l) = lock {
                    spin_unlock(l);
                }
            }
        }
        Ok(out)
    }

    /// `array_map_update_elem` (program: `cpu` given, one value) or the host
    /// update (`cpu` `None`: per-CPU arrays take every CPU's value).
    pub(crate) fn update(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        cpu: Option<u32>,
    ) -> Result<()> {
        let index = key_u32(key)?;
        let allowed = if self.percpu {
            flags
        } else {
            flags & !BPF_F_LOCK
        };
        if allowed > BPF_EXIST {
            return Err(MapError::Invalid("unknown update flags"));
        }
        if index >= self.max_entries {
            return Err(MapError::TooBig("array index beyond max_entries"));
        }
        if flags & !BPF_F_LOCK == BPF_NOEXIST {
            return Err(MapError::AlreadyExists);
        }
        if flags & BPF_F_LOCK != 0 && self.lock_off.is_none() {
            return Err(MapError::Invalid(
                "BPF_F_LOCK on a map without bpf_spin_lock",
            ));
        }
        match cpu {
            Some(cpu) => {
                check_len("value", value, self.value_size)?;
                self.write_one(self.slot(index, cpu), value, flags & BPF_F_LOCK != 0);
            }
            None => {
                check_len("value", value, self.host_value_size())?;
                if self.percpu {
                    // Host writes copy whole 8-byte padded slots, padding
                    // included, as the kernel's copy_map_value_long.
                    for (c, chunk) in value.chunks_exact(self.stride).enumerate() {
                        // SAFETY: the slot lies inside the region.
                        unsafe { copy_value_in(self.slot(index, c as u32), chunk, None) };
                    }
                } else {
                    self.write_one(self.slot(index, 0), value, flags & BPF_F_LOCK != 0);
                }
            }
        }
        Ok(())
    }

    fn write_one(&self, p: *mut u8, value: &[u8], locked: bool) {
        let lock = self.lock_word(p, locked);
        // SAFETY: the slot and its lock word lie inside the region.
        unsafe {
            if let Some(l) = lock {
                spin_lock(l);
            }
            copy_value_in(p, value, self.lock_off);
            if let Some(l) = lock {
                spin_unlock(l);
            }
        }
    }

    /// Base address and length of the whole array (for `BPF_F_MMAPABLE` maps).
    pub(crate) fn memory(&self) -> Option<ValueRef> {
        NonNull::new(self.region.base()).map(|p| ValueRef::new(p, self.region.len()))
    }

    /// If `lock_addr` is the `bpf_spin_lock` of some element, that address.
    pub(crate) fn lock_addr_for(&self, lock_addr: usize) -> Option<*mut u8> {
        let off = self.lock_off? as usize;
        let base = self.region.base() as usize;
        let rel = lock_addr.checked_sub(base)?;
        (!self.percpu && rel < self.stride * self.max_entries as usize && rel % self.stride == off)
            .then_some(lock_addr as *mut u8)
    }
}

/// `array_map_get_next_key`, shared by every array-like map: a missing or
/// out-of-range key gives index 0; the last index gives `ENOENT`.
pub(crate) fn array_next_key(key: Option<&[u8]>, max_entries: u32) -> Result<Vec<u8>> {
    let index = match key {
        None => None,
        Some(k) => Some(key_u32(k)?),
    };
    let next = match index {
        Some(i) if i < max_entries => {
            if i == max_entries - 1 {
                return Err(MapError::NotFound);
            }
            i + 1
        }
        _ => 0,
    };
    Ok(next.to_ne_bytes().to_vec())
}

/// Checks a value buffer for the fixed-size slot maps.
pub(crate) fn check_value(value: &[u8], expected: usize) -> Result<()> {
    check_len("value", value, expected)
}
