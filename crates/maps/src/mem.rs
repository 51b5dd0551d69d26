//! Stable value memory: every byte a program may point into is allocated
//! with `mmap` and unmapped only when the map is dropped, so a pointer
//! returned by a lookup stays valid for the map's lifetime, even after the
//! element is deleted (its slot may then be reused, as in the kernel).
//!
//! Programs and the host access this memory concurrently; copies go through
//! relaxed atomic loads and stores so no aligned 8-byte word is ever torn.

use crate::error::{MapError, Result};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering};

/// The machine's page size.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096)
}

/// Address and length of a value inside map memory, valid while the map lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueRef {
    addr: NonNull<u8>,
    len: usize,
}

// SAFETY: a ValueRef is only an address; the memory it names is shared map
// memory that is accessed with atomics or by the memory-checked interpreter.
unsafe impl Send for ValueRef {}
// SAFETY: as above.
unsafe impl Sync for ValueRef {}

impl ValueRef {
    pub(crate) fn new(addr: NonNull<u8>, len: usize) -> ValueRef {
        ValueRef { addr, len }
    }

    /// First byte of the value.
    pub fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }

    /// The address as an integer (for the interpreter's region table).
    pub fn addr(&self) -> usize {
        self.addr.as_ptr() as usize
    }

    /// Value length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the value is zero bytes long (never true for a real map).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the value out with word-atomic loads.
    pub fn read(&self) -> Vec<u8> {
        let mut out = vec![0; self.len];
        // SAFETY: the value memory is valid for `len` bytes while the map lives.
        unsafe { copy_from_shared(&mut out, self.as_ptr()) };
        out
    }
}

/// An anonymous, zero-filled private mapping released on drop.
pub(crate) struct Region {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the region is plain memory; synchronisation is the users' job.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    /// Maps `len` zeroed bytes (lazily backed by the kernel).
    pub(crate) fn new(len: usize) -> Result<Region> {
        if len as u64 > crate::def::MAX_MAP_BYTES {
            return Err(MapError::NoMemory("map larger than the address-space cap"));
        }
        let len = len.max(1);
        // SAFETY: anonymous mapping, no file, kernel chooses the address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(MapError::NoMemory("mmap of map memory failed"));
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or(MapError::NoMemory("mmap returned null"))?;
        Ok(Region { ptr, len })
    }

    pub(crate) fn base(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: ptr/len came from our own successful mmap.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Number of geometric chunks a growable slab may have.
const MAX_CHUNKS: usize = 40;

/// Fixed-stride element storage that grows in chunks and never moves.
///
/// Chunk `k` holds `first << k` elements, so element `i` is found without a
/// lock. A preallocated slab has a single chunk holding every element.
pub(crate) struct Slab {
    stride: usize,
    capacity: u32,
    first: u32,
    chunks: [AtomicPtr<u8>; MAX_CHUNKS],
    owned: parking_lot::Mutex<Vec<Region>>,
}

impl Slab {
    /// A slab for `capacity` elements of `stride` bytes (a multiple of 8).
    /// With `prealloc` the whole slab is mapped now; otherwise chunk by chunk.
    pub(crate) fn new(stride: usize, capacity: u32, prealloc: bool) -> Result<Slab> {
        let total = (stride as u64)
            .checked_mul(u64::from(capacity))
            .ok_or(MapError::NoMemory("map size overflows"))?;
        if total > crate::def::MAX_MAP_BYTES {
            return Err(MapError::NoMemory("map larger than the address-space cap"));
        }
        let first = if prealloc {
            capacity.max(1)
        } else {
            capacity.clamp(1, 64)
        };
        let slab = Slab {
            stride,
            capacity,
            first,
            chunks: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
            owned: parking_lot::Mutex::new(Vec::new()),
        };
        if prealloc {
            slab.ensure(capacity.saturating_sub(1))?;
        }
        Ok(slab)
    }

    /// Chunk number and index inside it for element `i`.
    fn locate(&self, i: u32) -> (usize, usize) {
        // The first chunk (all of a preallocated slab) without a division:
        // lookups locate every element they pass.
        if i < self.first {
            return (0, i as usize);
        }
        let q = u64::from(i) / u64::from(self.first) + 1;
        let k = 63 - q.leading_zeros() as usize;
        let start = u64::from(self.first) * ((1u64 << k) - 1);
        (k, (u64::from(i) - start) as usize)
    }

    /// Makes sure element `i` is backed by memory.
    pub(crate) fn ensure(&self, i: u32) -> Result<()> {
        if i >= self.capacity.max(1) {
            return Err(MapError::TooBig("slab index beyond capacity"));
        }
        let (k, _) = self.locate(i);
        if self
            .chunks
            .get(k)
            .is_some_and(|c| !c.load(Ordering::Acquire).is_null())
        {
            return Ok(());
        }
        let mut owned = self.owned.lock();
        for chunk in 0..=k {
            let slot = self
                .chunks
                .get(chunk)
                .ok_or(MapError::NoMemory("slab chunk table"))?;
            if slot.load(Ordering::Acquire).is_null() {
                let elems = (u64::from(self.first) << chunk) as usize;
                let region = Region::new(elems.saturating_mul(self.stride))?;
                slot.store(region.base(), Ordering::Release);
                owned.push(region);
            }
        }
        Ok(())
    }

    /// Address of element `i`; the element must have been `ensure`d.
    /// How many elements the slab can hold.
    pub(crate) fn capacity(&self) -> u32 {
        self.capacity
    }

    pub(crate) fn addr(&self, i: u32) -> *mut u8 {
        let (k, off) = self.locate(i);
        let base = self
            .chunks
            .get(k)
            .map_or(std::ptr::null_mut(), |c| c.load(Ordering::Acquire));
        debug_assert!(!base.is_null(), "slab element used before ensure");
        base.wrapping_add(off * self.stride)
    }

    /// Which element contains `addr`, and the offset inside it.
    pub(crate) fn find(&self, addr: usize) -> Option<(u32, usize)> {
        let owned = self.owned.lock();
        let mut first_index = 0u64;
        for (k, region) in owned.iter().enumerate() {
            let base = region.base() as usize;
            if addr >= base && addr < base + region.len() {
                let rel = addr - base;
                let idx = first_index + (rel / self.stride) as u64;
                return u32::try_from(idx)
                    .ok()
                    .filter(|&i| i < self.capacity)
                    .map(|i| (i, rel % self.stride));
            }
            first_index += u64::from(self.first) << k;
        }
        None
    }
}

/// Copies `src` into shared memory at `dst` (8-byte aligned) word-atomically.
///
/// # Safety
/// `dst` must be valid for `src.len()` bytes and 8-byte aligned.
pub(crate) unsafe fn copy_to_shared(dst: *mut u8, src: &[u8]) {
    let mut words = src.chunks_exact(8);
    let mut off = 0;
    for w in words.by_ref() {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        // SAFETY: in bounds and aligned per the contract.
        unsafe { AtomicU64::from_ptr(dst.add(off).cast()) }
            .store(u64::from_ne_bytes(b), Ordering::Relaxed);
        off += 8;
    }
    for &byte in words.remainder() {
        // SAFETY: in bounds per the contract.
        unsafe { AtomicU8::from_ptr(dst.add(off)) }.store(byte, Ordering::Relaxed);
        off += 1;
    }
}

/// Copies shared memory at `src` (8-byte aligned) into `dst` word-atomically.
///
/// # Safety
/// `src` must be valid for `dst.len()` bytes and 8-byte aligned.
pub(crate) unsafe fn copy_from_shared(dst: &mut [u8], src: *const u8) {
    let mut words = dst.chunks_exact_mut(8);
    let mut off = 0;
    for w in words.by_ref() {
        // SAFETY: in bounds and aligned per the contract.
        let v =
            unsafe { AtomicU64::from_ptr(src.add(off).cast_mut().cast()) }.load(Ordering::Relaxed);
        w.copy_from_slice(&v.to_ne_bytes());
        off += 8;
    }
    for byte in words.into_remainder() {
        // SAFETY: in bounds per the contract.
        *byte = unsafe { AtomicU8::from_ptr(src.add(off).cast_mut()) }.load(Ordering::Relaxed);
        off += 1;
    }
}

/// Zeroes `len` bytes of shared memory at `dst` (8-byte aligned).
///
/// # Safety
/// `dst` must be valid for `len` bytes and 8-byte aligned.
pub(crate) unsafe fn zero_shared(dst: *mut u8, len: usize) {
    let zeros = [0u8; 64];
    let mut off = 0;
    while off < len {
        let n = (len - off).min(zeros.len());
        // SAFETY: in bounds; `off` stays a multiple of 8 until the tail.
        unsafe { copy_to_shared(dst.add(off), &zeros[..n]) };
        off += n;
    }
}

/// Copies a value into map memory the way `copy_map_value` does: the
/// `bpf_spin_lock` word (if any) is left as it is.
///
/// # Safety
/// `dst` must be valid for `src.len()` bytes and 8-byte aligned.
pub(crate) unsafe fn copy_value_in(dst: *mut u8, src: &[u8], lock_off: Option<u32>) {
    match lock_off.map(|o| o as usize).filter(|&o| o + 4 <= src.len()) {
        None => unsafe { copy_to_shared(dst, src) },
        Some(o) => {
            // SAFETY: both pieces are within the value; `o + 4` is 4-aligned,
            // so the second piece is copied bytewise where not 8-aligned.
            unsafe {
                copy_to_shared(dst, &src[..o]);
                copy_unaligned_to_shared(dst.add(o + 4), &src[o + 4..]);
            }
        }
    }
}

/// Copies a value out of map memory; the spin lock word reads as zero, as
/// the kernel's `check_and_init_map_value` leaves it.
///
/// # Safety
/// `src` must be valid for `dst.len()` bytes and 8-byte aligned.
pub(crate) unsafe fn copy_value_out(dst: &mut [u8], src: *const u8, lock_off: Option<u32>) {
    // SAFETY: per the contract.
    unsafe { copy_from_shared(dst, src) };
    if let Some(lock) = lock_off.and_then(|o| dst.get_mut(o as usize..o as usize + 4)) {
        lock.fill(0);
    }
}

/// Bytewise atomic store for destinations that may not be 8-aligned.
///
/// # Safety
/// `dst` must be valid for `src.len()` bytes.
unsafe fn copy_unaligned_to_shared(dst: *mut u8, src: &[u8]) {
    for (i, &b) in src.iter().enumerate() {
        // SAFETY: in bounds per the contract.
        unsafe { AtomicU8::from_ptr(dst.add(i)) }.store(b, Ordering::Relaxed);
    }
}

/// Takes the `bpf_spin_lock` at `lock` (a 4-byte aligned `u32`, 0 = free).
///
/// # Safety
/// `lock` must point to a live, 4-byte aligned `bpf_spin_lock` in map memory.
pub(crate) unsafe fn spin_lock(lock: *mut u8) {
    // SAFETY: per the contract.
    let word = unsafe { AtomicU32::from_ptr(lock.cast()) };
    let mut spins = 0u32;
    while word
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(64) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Releases a `bpf_spin_lock` taken by [`spin_lock`].
///
/// # Safety
/// As for [`spin_lock`].
pub(crate) unsafe fn spin_unlock(lock: *mut u8) {
    // SAFETY: per the contract.
    unsafe { AtomicU32::from_ptr(lock.cast()) }.store(0, Ordering::Release);
}

/// Reads a native-endian `u32` key (array index) from a key buffer.
pub(crate) fn key_u32(key: &[u8]) -> Result<u32> {
    let bytes: [u8; 4] = key.try_into().map_err(|_| MapError::BadLength {
        what: "key",
        expected: 4,
        got: key.len(),
    })?;
    Ok(u32::from_ne_bytes(bytes))
}
