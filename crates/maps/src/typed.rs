//! Typed host views over a [`Map`], in the style of aya's `aya::maps`:
//! `HashMap<M, K, V>`, `Array<M, V>`, `PerCpuArray<M, V>`, `LpmTrie<M, K, V>`,
//! `Queue<M, V>`, `Stack<M, V>`, `RingBuf<M>`, `ProgramArray<M>`. `M` is
//! anything that borrows a [`Map`] (`&Map`, `Arc<Map>`, `Map`).
//!
//! Keys and values are plain-old-data types marked with [`Pod`].

use crate::def::{BPF_ANY, MapType, round8};
use crate::error::{MapError, Result};
use crate::map::Map;
use std::borrow::Borrow;
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;

/// Types that are valid for any bit pattern and have no padding-sensitive
/// invariants, so they can be copied to and from map bytes.
///
/// # Safety
/// Implement only for `#[repr(C)]` (or primitive) types for which every
/// byte pattern of `size_of::<Self>()` bytes is a valid value.
pub unsafe trait Pod: Copy + 'static {}

macro_rules! pod {
    ($($t:ty),*) => { $(
        // SAFETY: primitive integers accept every bit pattern.
        unsafe impl Pod for $t {}
    )* };
}
pod!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);
// SAFETY: an array of Pod values is Pod.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

fn bytes_of<T: Pod>(v: &T) -> &[u8] {
    // SAFETY: T is Pod, so viewing its bytes is sound.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
}

fn from_bytes<T: Pod>(b: &[u8]) -> Result<T> {
    if b.len() < size_of::<T>() {
        return Err(MapError::BadLength {
            what: "value",
            expected: size_of::<T>(),
            got: b.len(),
        });
    }
    // SAFETY: T is Pod and `b` holds at least size_of::<T>() bytes.
    Ok(unsafe { std::ptr::read_unaligned(b.as_ptr().cast::<T>()) })
}

fn expect(map: &Map, types: &[MapType], key: usize, value: usize) -> Result<()> {
    if !types.contains(&map.map_type()) {
        return Err(MapError::Invalid("map type does not match the typed view"));
    }
    if map.key_size() != key {
        return Err(MapError::BadLength {
            what: "key type",
            expected: map.key_size(),
            got: key,
        });
    }
    if map.value_size() != value {
        return Err(MapError::BadLength {
            what: "value type",
            expected: map.value_size(),
            got: value,
        });
    }
    Ok(())
}

/// A `hash` or `lru_hash` map with typed keys and values.
pub struct HashMap<M, K, V> {
    map: M,
    _types: PhantomData<(K, V)>,
}

impl<M: Borrow<Map>, K: Pod, V: Pod> HashMap<M, K, V> {
    /// Wraps `map`, checking its type and sizes.
    pub fn new(map: M) -> Result<Self> {
        expect(
            map.borrow(),
            &[MapType::Hash, MapType::LruHash],
            size_of::<K>(),
            size_of::<V>(),
        )?;
        Ok(HashMap {
            map,
            _types: PhantomData,
        })
    }

    /// The value under `key` (`ENOENT` if absent).
    pub fn get(&self, key: &K, flags: u64) -> Result<V> {
        from_bytes(&self.map.borrow().sys_lookup(bytes_of(key), flags)?)
    }

    /// Inserts or replaces according to `flags` (`BPF_ANY`, `BPF_NOEXIST`, ...).
    pub fn insert(&self, key: &K, value: &V, flags: u64) -> Result<()> {
        self.map
            .borrow()
            .sys_update(bytes_of(key), bytes_of(value), flags)
    }

    /// Deletes `key`.
    pub fn remove(&self, key: &K) -> Result<()> {
        self.map.borrow().sys_delete(bytes_of(key))
    }

    /// Keys in the kernel's `get_next_key` order.
    pub fn keys(&self) -> Keys<'_, K> {
        Keys {
            map: self.map.borrow(),
            next: None,
            done: false,
            _k: PhantomData,
        }
    }

    /// `(key, value)` pairs; keys deleted mid-iteration are skipped.
    pub fn iter(&self) -> impl Iterator<Item = Result<(K, V)>> + '_ {
        self.keys().filter_map(move |k| match k {
            Err(e) => Some(Err(e)),
            Ok(k) => match self.get(&k, 0) {
                Ok(v) => Some(Ok((k, v))),
                Err(MapError::NotFound) => None,
                Err(e) => Some(Err(e)),
            },
        })
    }
}

/// Iterator over a map's keys through `get_next_key`.
pub struct Keys<'a, K> {
    map: &'a Map,
    next: Option<Vec<u8>>,
    done: bool,
    _k: PhantomData<K>,
}

impl<K: Pod> Iterator for Keys<'_, K> {
    type Item = Result<K>;

    fn next(&mut self) -> Option<Result<K>> {
        if self.done {
            return None;
        }
        match self.map.sys_get_next_key(self.next.as_deref()) {
            Ok(k) => {
                let key = from_bytes(&k);
                self.next = Some(k);
                Some(key)
            }
            Err(MapError::NotFound) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// An `array` map of typed values.
pub struct Array<M, V> {
    map: M,
    _v: PhantomData<V>,
}

impl<M: Borrow<Map>, V: Pod> Array<M, V> {
    /// Wraps `map`, checking its type and value size.
    pub fn new(map: M) -> Result<Self> {
        expect(map.borrow(), &[MapType::Array], 4, size_of::<V>())?;
        Ok(Array {
            map,
            _v: PhantomData,
        })
    }

    /// Number of elements (`max_entries`).
    pub fn len(&self) -> u32 {
        self.map.borrow().max_entries()
    }

    /// Whether the array has no elements (never: `max_entries` > 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at `index` (`ENOENT` past the end).
    pub fn get(&self, index: u32, flags: u64) -> Result<V> {
        from_bytes(&self.map.borrow().sys_lookup(&index.to_ne_bytes(), flags)?)
    }

    /// Stores `value` at `index` (`E2BIG` past the end).
    pub fn set(&self, index: u32, value: &V, flags: u64) -> Result<()> {
        self.map
            .borrow()
            .sys_update(&index.to_ne_bytes(), bytes_of(value), flags)
    }

    /// Every value in index order.
    pub fn iter(&self) -> impl Iterator<Item = Result<V>> + '_ {
        (0..self.len()).map(move |i| self.get(i, 0))
    }
}

/// One value per possible CPU, as read from or written to a per-CPU map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerCpuValues<V>(Vec<V>);

impl<V: Pod> PerCpuValues<V> {
    /// Values for CPUs `0..values.len()`.
    pub fn new(values: Vec<V>) -> Self {
        PerCpuValues(values)
    }

    /// The values, indexed by CPU.
    pub fn as_slice(&self) -> &[V] {
        &self.0
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let stride = round8(size_of::<V>() as u32) as usize;
        bytes
            .chunks_exact(stride.max(1))
            .map(from_bytes)
            .collect::<Result<Vec<V>>>()
            .map(PerCpuValues)
    }

    fn encode(&self, nr_cpus: u32) -> Result<Vec<u8>> {
        if self.0.len() != nr_cpus as usize {
            return Err(MapError::BadLength {
                what: "per-CPU values",
                expected: nr_cpus as usize,
                got: self.0.len(),
            });
        }
        let stride = round8(size_of::<V>() as u32) as usize;
        let mut out = vec![0u8; stride * self.0.len()];
        for (chunk, v) in out.chunks_exact_mut(stride.max(1)).zip(&self.0) {
            chunk[..size_of::<V>()].copy_from_slice(bytes_of(v));
        }
        Ok(out)
    }
}

impl<V> std::ops::Deref for PerCpuValues<V> {
    type Target = [V];
    fn deref(&self) -> &[V] {
        &self.0
    }
}

/// A `percpu_array` map.
pub struct PerCpuArray<M, V> {
    map: M,
    _v: PhantomData<V>,
}

impl<M: Borrow<Map>, V: Pod> PerCpuArray<M, V> {
    /// Wraps `map`, checking its type and value size.
    pub fn new(map: M) -> Result<Self> {
        expect(map.borrow(), &[MapType::PercpuArray], 4, size_of::<V>())?;
        Ok(PerCpuArray {
            map,
            _v: PhantomData,
        })
    }

    /// Every CPU's value at `index`.
    pub fn get(&self, index: u32, flags: u64) -> Result<PerCpuValues<V>> {
        PerCpuValues::decode(&self.map.borrow().sys_lookup(&index.to_ne_bytes(), flags)?)
    }

    /// Sets every CPU's value at `index`.
    pub fn set(&self, index: u32, values: &PerCpuValues<V>, flags: u64) -> Result<()> {
        let map = self.map.borrow();
        map.sys_update(&index.to_ne_bytes(), &values.encode(map.nr_cpus())?, flags)
    }
}

/// A `percpu_hash` or `lru_percpu_hash` map.
pub struct PerCpuHashMap<M, K, V> {
    map: M,
    _types: PhantomData<(K, V)>,
}

impl<M: Borrow<Map>, K: Pod, V: Pod> PerCpuHashMap<M, K, V> {
    /// Wraps `map`, checking its type and sizes.
    pub fn new(map: M) -> Result<Self> {
        expect(
            map.borrow(),
            &[MapType::PercpuHash, MapType::LruPercpuHash],
            size_of::<K>(),
            size_of::<V>(),
        )?;
        Ok(PerCpuHashMap {
            map,
            _types: PhantomData,
        })
    }

    /// Every CPU's value under `key`.
    pub fn get(&self, key: &K, flags: u64) -> Result<PerCpuValues<V>> {
        PerCpuValues::decode(&self.map.borrow().sys_lookup(bytes_of(key), flags)?)
    }

    /// Inserts or replaces every CPU's value under `key`.
    pub fn insert(&self, key: &K, values: &PerCpuValues<V>, flags: u64) -> Result<()> {
        let map = self.map.borrow();
        map.sys_update(bytes_of(key), &values.encode(map.nr_cpus())?, flags)
    }

    /// Deletes `key`.
    pub fn remove(&self, key: &K) -> Result<()> {
        self.map.borrow().sys_delete(bytes_of(key))
    }

    /// Keys in `get_next_key` order.
    pub fn keys(&self) -> Keys<'_, K> {
        Keys {
            map: self.map.borrow(),
            next: None,
            done: false,
            _k: PhantomData,
        }
    }
}

/// An LPM trie key: `struct bpf_lpm_trie_key_u8` with typed data.
#[repr(C, packed)]
#[derive(Clone, Copy)]
pub struct Key<K: Pod> {
    prefix_len: u32,
    data: K,
}

// SAFETY: a packed u32 followed by a Pod has no padding and accepts any bits.
unsafe impl<K: Pod> Pod for Key<K> {}

impl<K: Pod> Key<K> {
    /// A key matching the first `prefix_len` bits of `data`.
    pub fn new(prefix_len: u32, data: K) -> Self {
        Key { prefix_len, data }
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u32 {
        self.prefix_len
    }

    /// The data (address bytes, most significant first).
    pub fn data(&self) -> K {
        self.data
    }
}

/// An `lpm_trie` map.
pub struct LpmTrie<M, K, V> {
    map: M,
    _types: PhantomData<(K, V)>,
}

impl<M: Borrow<Map>, K: Pod, V: Pod> LpmTrie<M, K, V> {
    /// Wraps `map`, checking its type and sizes.
    pub fn new(map: M) -> Result<Self> {
        expect(
            map.borrow(),
            &[MapType::LpmTrie],
            size_of::<Key<K>>(),
            size_of::<V>(),
        )?;
        Ok(LpmTrie {
            map,
            _types: PhantomData,
        })
    }

    /// The value of the longest prefix matching `key`.
    pub fn get(&self, key: &Key<K>, flags: u64) -> Result<V> {
        from_bytes(&self.map.borrow().sys_lookup(bytes_of(key), flags)?)
    }

    /// Inserts or replaces a prefix.
    pub fn insert(&self, key: &Key<K>, value: &V, flags: u64) -> Result<()> {
        self.map
            .borrow()
            .sys_update(bytes_of(key), bytes_of(value), flags)
    }

    /// Removes an exact prefix.
    pub fn remove(&self, key: &Key<K>) -> Result<()> {
        self.map.borrow().sys_delete(bytes_of(key))
    }

    /// Keys in the kernel's post-order.
    pub fn keys(&self) -> Keys<'_, Key<K>> {
        Keys {
            map: self.map.borrow(),
            next: None,
            done: false,
            _k: PhantomData,
        }
    }
}

/// A `queue` map (FIFO).
pub struct Queue<M, V> {
    map: M,
    _v: PhantomData<V>,
}

/// A `stack` map (LIFO).
pub struct Stack<M, V> {
    map: M,
    _v: PhantomData<V>,
}

macro_rules! queue_like {
    ($name:ident, $ty:expr) => {
        impl<M: Borrow<Map>, V: Pod> $name<M, V> {
            /// Wraps `map`, checking its type and value size.
            pub fn new(map: M) -> Result<Self> {
                expect(map.borrow(), &[$ty], 0, size_of::<V>())?;
                Ok($name {
                    map,
                    _v: PhantomData,
                })
            }

            /// Pushes a value (`BPF_EXIST` overwrites the oldest when full).
            pub fn push(&self, value: &V, flags: u64) -> Result<()> {
                self.map.borrow().sys_update(&[], bytes_of(value), flags)
            }

            /// Removes and returns the next value (`ENOENT` when empty).
            pub fn pop(&self) -> Result<V> {
                from_bytes(&self.map.borrow().sys_lookup_and_delete(&[], 0)?)
            }

            /// Returns the next value without removing it.
            pub fn peek(&self) -> Result<V> {
                from_bytes(&self.map.borrow().sys_lookup(&[], 0)?)
            }
        }
    };
}
queue_like!(Queue, MapType::Queue);
queue_like!(Stack, MapType::Stack);

/// A `prog_array` of program ids.
pub struct ProgramArray<M> {
    map: M,
}

impl<M: Borrow<Map>> ProgramArray<M> {
    /// Wraps `map`, checking its type.
    pub fn new(map: M) -> Result<Self> {
        expect(map.borrow(), &[MapType::ProgArray], 4, 4)?;
        Ok(ProgramArray { map })
    }

    /// Stores program `prog_id` at `index`.
    pub fn set(&self, index: u32, prog_id: u32) -> Result<()> {
        self.map
            .borrow()
            .sys_update(&index.to_ne_bytes(), &prog_id.to_ne_bytes(), BPF_ANY)
    }

    /// Empties `index`.
    pub fn clear_index(&self, index: u32) -> Result<()> {
        self.map.borrow().sys_delete(&index.to_ne_bytes())
    }

    /// The program id at `index`.
    pub fn get(&self, index: u32) -> Result<u32> {
        from_bytes(&self.map.borrow().sys_lookup(&index.to_ne_bytes(), 0)?)
    }

    /// Indexes that hold a program.
    pub fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.map.borrow().max_entries())
            .filter(move |&i| self.map.borrow().tail_call_target(i).is_some())
    }
}

/// Consumer side of a `ringbuf` map.
pub struct RingBuf<M> {
    map: M,
}

/// A record read from a [`RingBuf`]; the consumer position moves past it
/// when it is dropped.
pub struct RingBufItem<'a> {
    map: &'a Map,
    bytes: &'a [u8],
    next: u64,
}

impl std::ops::Deref for RingBufItem<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

impl Drop for RingBufItem<'_> {
    fn drop(&mut self) {
        if let Some(r) = self.map.ring() {
            r.consumer_pos().store(self.next, Ordering::Release);
        }
    }
}

impl<M: Borrow<Map>> RingBuf<M> {
    /// Wraps a ring buffer map.
    pub fn new(map: M) -> Result<Self> {
        if map.borrow().ring().is_none() {
            return Err(MapError::Invalid("map is not a ring buffer"));
        }
        Ok(RingBuf { map })
    }

    /// The next committed record, skipping discarded ones; `None` when the
    /// consumer has caught up or the next record is still reserved.
    #[allow(clippy::should_implement_trait)] // items borrow the view, as in aya
    pub fn next(&mut self) -> Option<RingBufItem<'_>> {
        let map = self.map.borrow();
        let (bytes, next) = map.ring()?.peek_record()?;
        Some(RingBufItem { map, bytes, next })
    }

    /// An eventfd that becomes readable when a producer requests a wakeup;
    /// register it with epoll/poll, then call [`RingBuf::clear_ready`].
    pub fn as_raw_fd(&self) -> RawFd {
        self.map.borrow().ring().map_or(-1, |r| r.wakeup_fd())
    }

    /// Consumes pending wakeup notifications on the eventfd.
    pub fn clear_ready(&self) {
        if let Some(r) = self.map.borrow().ring() {
            r.clear_wakeup();
        }
    }

    /// Data area size in bytes.
    pub fn size(&self) -> u64 {
        self.map.borrow().ring().map_or(0, |r| r.size())
    }
}
