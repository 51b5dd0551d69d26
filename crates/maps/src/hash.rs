//! Hash tables: `hash`, `percpu_hash`, `lru_hash`, `lru_percpu_hash`, and the
//! storage behind `hash_of_maps` and `devmap_hash`.
//!
//! Layout follows `kernel/bpf/hashtab.c`: `roundup_pow_of_two(max_entries)`
//! buckets chosen by `jhash` of the key with a per-map seed (0 with
//! `BPF_F_ZERO_SEED`), new elements linked at the head of their bucket, a
//! replaced element swapped for a fresh one (so a program still holding the
//! old value pointer keeps seeing the old value). Elements come from a pool
//! and go back to it on delete; their memory is never unmapped while the map
//! lives. Each bucket has its own reader-writer lock for writers and host
//! reads; programs' lookups take no lock but walk the chain under the
//! bucket's sequence count (see `bucket`).

use crate::bucket::Bucket;
use crate::def::{
    BPF_EXIST, BPF_F_LOCK, BPF_F_NO_COMMON_LRU, BPF_F_NO_PREALLOC, BPF_F_ZERO_SEED, BPF_NOEXIST,
    round8,
};
use crate::error::{MapError, Result, check_len};
use crate::jhash::{htab_hash, random_seed};
use crate::mem::{
    Slab, ValueRef, copy_value_in, copy_value_out, spin_lock, spin_unlock, zero_shared,
};
use parking_lot::Mutex;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU32, Ordering};

const NIL: u32 = u32::MAX;

/// Header words at the start of every element.
const H_HASH: usize = 0;
const H_NEXT: usize = 1;
const H_LRU_PREV: usize = 2;
const H_LRU_NEXT: usize = 3;
const H_REF: usize = 4;
const H_POOL: usize = 5;
const HEADER_BYTES: usize = 24;

/// Which flavour of table this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HashKind {
    pub percpu: bool,
    pub lru: bool,
}

/// Where an update's value bytes go.
#[derive(Clone, Copy)]
pub(crate) enum ValueSrc<'a> {
    /// A program's update: one value for CPU `cpu` (other CPUs of a new
    /// per-CPU element read zero, as `pcpu_init_value` leaves them).
    Cpu(&'a [u8], u32),
    /// A host update: for per-CPU maps one 8-byte padded value per CPU.
    All(&'a [u8]),
}

/// A free list plus (for LRU maps) the recency list of the elements it owns.
struct Pool {
    free: Vec<u32>,
    next_fresh: u32,
    end: u32,
    lru_head: u32,
    lru_tail: u32,
    lru_len: u32,
}

/// The hash table proper.
pub(crate) struct HashTable {
    kind: HashKind,
    key_size: usize,
    value_size: usize,
    /// Per-CPU stride (value rounded to 8) for per-CPU tables, else the value size rounded.
    cpu_stride: usize,
    nr_cpus: u32,
    max_entries: u32,
    seed: u32,
    lock_off: Option<u32>,
    buckets: Box<[Bucket]>,
    /// Elements an LRU shrink frees at once (`LOCAL_FREE_TARGET` clamped by
    /// the CPU share for the common list, `PERCPU_FREE_TARGET` per CPU).
    evict_batch: u32,
    slab: Slab,
    pools: Box<[Mutex<Pool>]>,
    count: AtomicU32,
}

impl HashTable {
    pub(crate) fn new(
        kind: HashKind,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        map_flags: u32,
        nr_cpus: u32,
        lock_off: Option<u32>,
    ) -> Result<HashTable> {
        let nr_cpus = nr_cpus.max(1);
        let cpu_stride = round8(value_size) as usize;
        let value_area = if kind.percpu {
            cpu_stride * nr_cpus as usize
        } else {
            cpu_stride
        };
        let stride = HEADER_BYTES + round8(key_size) as usize + value_area;
        let prealloc = map_flags & BPF_F_NO_PREALLOC == 0;
        // Non-LRU tables keep one spare element per CPU so that replacing a
        // key in a full map still has a fresh element (the kernel's extra_elems).
        let capacity = if kind.lru {
            max_entries
        } else {
            max_entries.saturating_add(nr_cpus)
        };
        let slab = Slab::new(stride, capacity, prealloc)?;
        let per_cpu_lists = kind.lru && map_flags & BPF_F_NO_COMMON_LRU != 0;
        let n_pools = if per_cpu_lists { nr_cpus } else { 1 };
        let share = capacity / n_pools;
        let pools = (0..n_pools)
            .map(|p| {
                Mutex::new(Pool {
                    free: Vec::new(),
                    next_fresh: p * share,
                    end: if p + 1 == n_pools {
                        capacity
                    } else {
                        (p + 1) * share
                    },
                    lru_head: NIL,
                    lru_tail: NIL,
                    lru_len: 0,
                })
            })
            .collect();
        let n_buckets = max_entries
            .max(1)
            .checked_next_power_of_two()
            .ok_or(MapError::TooBig("too many buckets"))?;
        let seed = if map_flags & BPF_F_ZERO_SEED != 0 {
            0
        } else {
            random_seed()
        };
        Ok(HashTable {
            kind,
            key_size: key_size as usize,
            value_size: value_size as usize,
            cpu_stride,
            nr_cpus,
            max_entries,
            seed,
            lock_off,
            buckets: (0..n_buckets).map(|_| Bucket::new(NIL)).collect(),
            evict_batch: if per_cpu_lists {
                4
            } else {
                (max_entries / nr_cpus / 2).clamp(1, 128)
            },
            slab,
            pools,
            count: AtomicU32::new(0),
        })
    }

    /// The bucket hash seed (0 with `BPF_F_ZERO_SEED`).
    pub(crate) fn seed(&self) -> u32 {
        self.seed
    }

    /// Replaces the seed of an empty table, so that a restored table
    /// iterates in the order of the one it was saved from.
    pub(crate) fn set_seed(&mut self, seed: u32) -> Result<()> {
        if self.len() != 0 {
            return Err(MapError::Invalid("seed change on a non-empty hash table"));
        }
        self.seed = seed;
        Ok(())
    }

    /// Bytes of a key.
    pub(crate) fn key_size(&self) -> usize {
        self.key_size
    }

    /// Number of live elements.
    pub(crate) fn len(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    fn hdr(&self, e: u32, word: usize) -> &AtomicU32 {
        // SAFETY: every element handed out by a pool has been `ensure`d, the
        // header lies inside it and is 4-aligned.
        unsafe { AtomicU32::from_ptr(self.slab.addr(e).add(word * 4).cast()) }
    }

    fn key_ptr(&self, e: u32) -> *mut u8 {
        self.slab.addr(e).wrapping_add(HEADER_BYTES)
    }

    fn value_ptr(&self, e: u32) -> *mut u8 {
        self.key_ptr(e)
            .wrapping_add(round8(self.key_size as u32) as usize)
    }

    fn cpu_value_ptr(&self, e: u32, cpu: u32) -> *mut u8 {
        let slot = if self.kind.percpu { cpu as usize } else { 0 };
        self.value_ptr(e).wrapping_add(slot * self.cpu_stride)
    }

    fn key_matches(&self, e: u32, key: &[u8]) -> bool {
        // SAFETY: keys are written only under the bucket's write lock and the
        // caller holds that bucket's lock, so the bytes are stable.
        let stored = unsafe { std::slice::from_raw_parts(self.key_ptr(e), self.key_size) };
        stored == key
    }

    fn bucket_of(&self, hash: u32) -> usize {
        hash as usize & (self.buckets.len() - 1)
    }

    /// Finds `key` in the chain starting at `head`.
    fn find(&self, head: u32, hash: u32, key: &[u8]) -> Option<u32> {
        let mut e = head;
        while e != NIL {
            if self.hdr(e, H_HASH).load(Ordering::Relaxed) == hash && self.key_matches(e, key) {
                return Some(e);
            }
            e = self.hdr(e, H_NEXT).load(Ordering::Relaxed);
        }
        None
    }

    fn pool_of_cpu(&self, cpu: u32) -> usize {
        if self.pools.len() == 1 {
            0
        } else {
            cpu as usize % self.pools.len()
        }
    }

    /// A program's lookup: the value (for `cpu` in per-CPU tables). LRU
    /// lookups mark the element referenced, as `bpf_lru_node_set_ref`.
    /// Takes no lock (see `bucket`).
    pub(crate) fn lookup(&self, key: &[u8], cpu: u32, mark_ref: bool) -> Result<Option<ValueRef>> {
        check_len("key", key, self.key_size)?;
        let hash = htab_hash(key, self.seed);
        let bucket = &self.buckets[self.bucket_of(hash)];
        Ok(bucket
            .walk(|head| self.find_racing(head, hash, key))
            .map(|e| {
                if self.kind.lru && mark_ref {
                    let r = self.hdr(e, H_REF);
                    if r.load(Ordering::Relaxed) == 0 {
                        r.store(1, Ordering::Relaxed);
                    }
                }
                let p = self.cpu_value_ptr(e, cpu.min(self.nr_cpus - 1));
                ValueRef::new(
                    NonNull::new(p).unwrap_or(NonNull::dangling()),
                    self.value_size,
                )
            }))
    }

    /// [`HashTable::find`] without the bucket's lock, on a chain a writer
    /// may be changing: atomic reads only, and no more steps than the
    /// table has elements, so that a walk led astray by a recycled element
    /// still ends (its answer is then thrown away, see `Bucket::walk`).
    fn find_racing(&self, head: u32, hash: u32, key: &[u8]) -> Option<u32> {
        let capacity = self.slab.capacity();
        let mut e = head;
        for _ in 0..capacity {
            if e >= capacity {
                return None;
            }
            // Located once: the header's words and the key's bytes follow.
            let at = self.slab.addr(e);
            // SAFETY: `e` is a backed element (see `hdr`): its header words
            // are 4-aligned inside it, its key area holds the key size.
            let word = |w: usize| unsafe { AtomicU32::from_ptr(at.add(w * 4).cast()) };
            let byte = |i: usize| unsafe { AtomicU8::from_ptr(at.add(HEADER_BYTES + i)) };
            let same_key = || {
                key.iter()
                    .enumerate()
                    .all(|(i, b)| byte(i).load(Ordering::Relaxed) == *b)
            };
            if word(H_HASH).load(Ordering::Relaxed) == hash && same_key() {
                return Some(e);
            }
            e = word(H_NEXT).load(Ordering::Relaxed);
        }
        None
    }

    /// Byte `i` of element `e`'s key, which lock-free walks read while a
    /// writer may be filling the element anew.
    fn key_byte(&self, e: u32, i: usize) -> &AtomicU8 {
        // SAFETY: `e` is a backed element (see `hdr`) and `i` is below the
        // key size, inside its key area.
        unsafe { AtomicU8::from_ptr(self.key_ptr(e).add(i)) }
    }

    /// Size of a host-side value (all CPUs, each padded to 8, for per-CPU tables).
    pub(crate) fn host_value_size(&self) -> usize {
        if self.kind.percpu {
            self.cpu_stride * self.nr_cpus as usize
        } else {
            self.value_size
        }
    }

    fn copy_out(&self, e: u32, out: &mut [u8], locked: bool) {
        if self.kind.percpu {
            // Host reads copy whole 8-byte padded slots (copy_map_value_long).
            for (cpu, chunk) in out.chunks_exact_mut(self.cpu_stride).enumerate() {
                // SAFETY: the element is live and holds nr_cpus slots.
                unsafe { copy_value_out(chunk, self.cpu_value_ptr(e, cpu as u32), None) };
            }
        } else {
            let p = self.value_ptr(e);
            let lock = self
                .lock_off
                .filter(|_| locked)
                .map(|o| p.wrapping_add(o as usize));
            // SAFETY: value memory is valid; the lock word is inside it.
            unsafe {
                if let Some(l) = lock {
                    spin_lock(l);
                }
                copy_value_out(out, p, self.lock_off);
                if let Some(l) = lock {
                    spin_unlock(l);
                }
            }
        }
    }

    /// The host's lookup (`BPF_MAP_LOOKUP_ELEM`): a copy of the value.
    pub(crate) fn sys_lookup(&self, key: &[u8], flags: u64) -> Result<Vec<u8>> {
        check_len("key", key, self.key_size)?;
        self.check_lock_flag(flags)?;
        let hash = htab_hash(key, self.seed);
        let head = self.buckets[self.bucket_of(hash)].read();
        let e = self.find(*head, hash, key).ok_or(MapError::NotFound)?;
        let mut out = vec![0u8; self.host_value_size()];
        self.copy_out(e, &mut out, flags & BPF_F_LOCK != 0);
        Ok(out)
    }

    fn check_lock_flag(&self, flags: u64) -> Result<()> {
        if flags & BPF_F_LOCK != 0 && self.lock_off.is_none() {
            return Err(MapError::Invalid(
                "BPF_F_LOCK on a map without bpf_spin_lock",
            ));
        }
        Ok(())
    }

    /// Copies `src` into element `e`; `fresh` elements get their lock word
    /// and other CPUs' slots zeroed.
    fn write_value(&self, e: u32, src: ValueSrc<'_>, fresh: bool, locked: bool) {
        match src {
            ValueSrc::Cpu(v, cpu) if self.kind.percpu => {
                if fresh {
                    // SAFETY: the element's value area is nr_cpus slots long.
                    unsafe {
                        zero_shared(self.value_ptr(e), self.cpu_stride * self.nr_cpus as usize)
                    };
                }
                // SAFETY: slot `cpu` is inside the element.
                unsafe { copy_value_in(self.cpu_value_ptr(e, cpu.min(self.nr_cpus - 1)), v, None) };
            }
            ValueSrc::All(all) if self.kind.percpu => {
                for (cpu, chunk) in all.chunks_exact(self.cpu_stride).enumerate() {
                    // SAFETY: as above.
                    unsafe { copy_value_in(self.cpu_value_ptr(e, cpu as u32), chunk, None) };
                }
            }
            ValueSrc::Cpu(v, _) | ValueSrc::All(v) => {
                let p = self.value_ptr(e);
                let lock = self.lock_off.map(|o| p.wrapping_add(o as usize));
                // SAFETY: value memory is valid and the lock word is inside it.
                unsafe {
                    match lock {
                        Some(l) if fresh => {
                            AtomicU32::from_ptr(l.cast()).store(0, Ordering::Relaxed)
                        }
                        Some(l) if locked => spin_lock(l),
                        _ => {}
                    }
                    copy_value_in(p, v, self.lock_off);
                    if let Some(l) = lock.filter(|_| locked && !fresh) {
                        spin_unlock(l);
                    }
                }
            }
        }
    }

    fn check_value_len(&self, src: ValueSrc<'_>) -> Result<()> {
        match src {
            ValueSrc::Cpu(v, _) => check_len("value", v, self.value_size),
            ValueSrc::All(v) => check_len("value", v, self.host_value_size()),
        }
    }

    /// Takes an element from pool `p`: a free one, a fresh one, or (LRU) the
    /// least recently used one, evicted.
    fn pop_element(&self, p: usize) -> Result<Option<u32>> {
        let mut pool = self.pools[p].lock();
        if let Some(e) = pool.free.pop() {
            return Ok(Some(e));
        }
        if pool.next_fresh < pool.end {
            let e = pool.next_fresh;
            self.slab.ensure(e)?;
            pool.next_fresh += 1;
            self.hdr(e, H_POOL).store(p as u32, Ordering::Relaxed);
            return Ok(Some(e));
        }
        if !self.kind.lru {
            return Ok(None);
        }
        // The kernel shrinks the LRU in batches into a free list, so a
        // full map drops several entries at once (measured on 6.18: 200
        // inserts into a 128-entry common LRU on 2 CPUs leave 104 keys).
        let victim = self.evict(&mut pool)?;
        for _ in 1..self.evict_batch {
            match self.evict(&mut pool) {
                Ok(extra) => pool.free.push(extra),
                Err(_) => break,
            }
        }
        Ok(Some(victim))
    }

    /// Second-chance eviction from the tail of the LRU list: referenced
    /// elements get their bit cleared and move to the head.
    fn evict(&self, pool: &mut Pool) -> Result<u32> {
        for _ in 0..pool.lru_len.saturating_mul(2).saturating_add(2) {
            let victim = pool.lru_tail;
            if victim == NIL {
                break;
            }
            let referenced = self.hdr(victim, H_REF).swap(0, Ordering::Relaxed) != 0;
            if referenced {
                self.lru_unlink(pool, victim);
                self.lru_push_head(pool, victim);
                continue;
            }
            let hash = self.hdr(victim, H_HASH).load(Ordering::Relaxed);
            // Lock order is bucket -> pool, so only try the bucket here.
            let Some(mut head) = self.buckets[self.bucket_of(hash)].try_write() else {
                self.lru_unlink(pool, victim);
                self.lru_push_head(pool, victim);
                continue;
            };
            self.chain_unlink(&mut head, victim);
            drop(head);
            self.lru_unlink(pool, victim);
            self.count.fetch_sub(1, Ordering::Relaxed);
            return Ok(victim);
        }
        Err(MapError::NoMemory("no LRU element could be evicted"))
    }

    fn lru_unlink(&self, pool: &mut Pool, e: u32) {
        let prev = self.hdr(e, H_LRU_PREV).load(Ordering::Relaxed);
        let next = self.hdr(e, H_LRU_NEXT).load(Ordering::Relaxed);
        if prev == NIL {
            pool.lru_head = next
        } else {
            self.hdr(prev, H_LRU_NEXT).store(next, Ordering::Relaxed)
        }
        if next == NIL {
            pool.lru_tail = prev
        } else {
            self.hdr(next, H_LRU_PREV).store(prev, Ordering::Relaxed)
        }
        pool.lru_len -= 1;
    }

    fn lru_push_head(&self, pool: &mut Pool, e: u32) {
        self.hdr(e, H_LRU_PREV).store(NIL, Ordering::Relaxed);
        self.hdr(e, H_LRU_NEXT)
            .store(pool.lru_head, Ordering::Relaxed);
        if pool.lru_head == NIL {
            pool.lru_tail = e
        } else {
            self.hdr(pool.lru_head, H_LRU_PREV)
                .store(e, Ordering::Relaxed)
        }
        pool.lru_head = e;
        pool.lru_len += 1;
    }

    /// Returns an element that is in no chain (and no LRU list) to its pool.
    fn release(&self, e: u32) {
        let p = self.hdr(e, H_POOL).load(Ordering::Relaxed) as usize;
        self.pools[p.min(self.pools.len() - 1)].lock().free.push(e);
    }

    /// Unlinks a live element from its chain and (LRU) its recency list and
    /// returns it to its pool.
    fn retire(&self, head: &mut u32, e: u32) {
        self.chain_unlink(head, e);
        let p = self.hdr(e, H_POOL).load(Ordering::Relaxed) as usize;
        let mut pool = self.pools[p.min(self.pools.len() - 1)].lock();
        if self.kind.lru {
            self.lru_unlink(&mut pool, e);
        }
        pool.free.push(e);
    }

    fn chain_unlink(&self, head: &mut u32, e: u32) {
        let next = self.hdr(e, H_NEXT).load(Ordering::Relaxed);
        if *head == e {
            *head = next;
            return;
        }
        let mut cur = *head;
        while cur != NIL {
            let n = self.hdr(cur, H_NEXT).load(Ordering::Relaxed);
            if n == e {
                self.hdr(cur, H_NEXT).store(next, Ordering::Relaxed);
                return;
            }
            cur = n;
        }
    }

    /// Links a filled element at the head of its chain (and LRU list).
    fn link(&self, head: &mut u32, e: u32, hash: u32, referenced: bool) {
        self.hdr(e, H_HASH).store(hash, Ordering::Relaxed);
        self.hdr(e, H_NEXT).store(*head, Ordering::Relaxed);
        *head = e;
        if self.kind.lru {
            self.hdr(e, H_REF)
                .store(u32::from(referenced), Ordering::Relaxed);
            let p = self.hdr(e, H_POOL).load(Ordering::Relaxed) as usize;
            let mut pool = self.pools[p.min(self.pools.len() - 1)].lock();
            self.lru_push_head(&mut pool, e);
        }
    }

    /// `BPF_MAP_UPDATE_ELEM` / `bpf_map_update_elem` with the kernel's flag rules.
    pub(crate) fn update(&self, key: &[u8], src: ValueSrc<'_>, flags: u64, cpu: u32) -> Result<()> {
        check_len("key", key, self.key_size)?;
        self.check_value_len(src)?;
        let allow_lock = !self.kind.percpu && !self.kind.lru;
        let plain = if allow_lock {
            flags & !BPF_F_LOCK
        } else {
            flags
        };
        if plain > BPF_EXIST {
            return Err(MapError::Invalid("unknown update flags"));
        }
        self.check_lock_flag(flags)?;
        let locked = flags & BPF_F_LOCK != 0;
        let hash = htab_hash(key, self.seed);
        let bucket = &self.buckets[self.bucket_of(hash)];
        // LRU tables take their element before the bucket lock, evicting if
        // needed, exactly like prealloc_lru_pop(): even an in-place update
        // of a full LRU map can evict another key.
        let pool = self.pool_of_cpu(cpu);
        let mut spare = if self.kind.lru {
            Some(
                self.pop_element(pool)?
                    .ok_or(MapError::NoMemory("LRU pool empty"))?,
            )
        } else {
            None
        };
        let mut head = bucket.write();
        let old = self.find(*head, hash, key);
        let verdict = match (old, plain) {
            (Some(_), BPF_NOEXIST) => Err(MapError::AlreadyExists),
            (None, BPF_EXIST) => Err(MapError::NotFound),
            _ => Ok(()),
        };
        if let Err(e) = verdict {
            drop(head);
            if let Some(s) = spare {
                self.release(s);
            }
            return Err(e);
        }
        if let Some(old) = old {
            if locked || self.kind.percpu {
                self.write_value(old, src, false, locked);
                if self.kind.lru {
                    self.hdr(old, H_REF).store(1, Ordering::Relaxed);
                }
                drop(head);
                if let Some(s) = spare {
                    self.release(s);
                }
                return Ok(());
            }
        } else if !self.kind.lru && self.count.load(Ordering::Relaxed) >= self.max_entries {
            return Err(MapError::TooBig("hash map is full"));
        }
        if spare.is_none() {
            spare = self.pop_element(pool)?;
        }
        let Some(new) = spare else {
            // Every spare element is in flight: replace in place instead.
            if let Some(old) = old {
                self.write_value(old, src, false, false);
                return Ok(());
            }
            return Err(MapError::TooBig("hash map is full"));
        };
        // Byte by byte: a lookup's walk may still be reading the element.
        for (i, b) in key.iter().enumerate() {
            self.key_byte(new, i).store(*b, Ordering::Relaxed);
        }
        self.write_value(new, src, true, false);
        self.link(&mut head, new, hash, old.is_some());
        match old {
            Some(old) => self.retire(&mut head, old),
            None => {
                self.count.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    /// `BPF_MAP_DELETE_ELEM`.
    pub(crate) fn delete(&self, key: &[u8]) -> Result<()> {
        check_len("key", key, self.key_size)?;
        let hash = htab_hash(key, self.seed);
        let mut head = self.buckets[self.bucket_of(hash)].write();
        let e = self.find(*head, hash, key).ok_or(MapError::NotFound)?;
        self.retire(&mut head, e);
        self.count.fetch_sub(1, Ordering::Relaxed);
        Ok(())
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM`: copy then delete, atomically.
    pub(crate) fn lookup_and_delete(&self, key: &[u8], flags: u64) -> Result<Vec<u8>> {
        check_len("key", key, self.key_size)?;
        if flags & !BPF_F_LOCK != 0 {
            return Err(MapError::Invalid("unknown lookup-and-delete flags"));
        }
        self.check_lock_flag(flags)?;
        let hash = htab_hash(key, self.seed);
        let mut head = self.buckets[self.bucket_of(hash)].write();
        let e = self.find(*head, hash, key).ok_or(MapError::NotFound)?;
        let mut out = vec![0u8; self.host_value_size()];
        self.copy_out(e, &mut out, flags & BPF_F_LOCK != 0);
        self.retire(&mut head, e);
        self.count.fetch_sub(1, Ordering::Relaxed);
        Ok(out)
    }

    fn key_of(&self, e: u32) -> Vec<u8> {
        // SAFETY: called under the lock of the element's bucket.
        unsafe { std::slice::from_raw_parts(self.key_ptr(e), self.key_size) }.to_vec()
    }

    /// `BPF_MAP_GET_NEXT_KEY`: the next key in bucket order; a missing (or
    /// absent) key restarts from the first element, as the kernel does.
    pub(crate) fn get_next_key(&self, key: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut start = 0;
        if let Some(key) = key {
            check_len("key", key, self.key_size)?;
            let hash = htab_hash(key, self.seed);
            let b = self.bucket_of(hash);
            let head = self.buckets[b].read();
            if let Some(e) = self.find(*head, hash, key) {
                let next = self.hdr(e, H_NEXT).load(Ordering::Relaxed);
                if next != NIL {
                    return Ok(self.key_of(next));
                }
                start = b + 1;
            }
        }
        for bucket in self.buckets.iter().skip(start) {
            let head = bucket.read();
            if *head != NIL {
                return Ok(self.key_of(*head));
            }
        }
        Err(MapError::NotFound)
    }

    /// Whether `addr` is the start of a value slot; with it the slot's `bpf_spin_lock`.
    pub(crate) fn lock_addr_for(&self, lock_addr: usize) -> Option<*mut u8> {
        let off = self.lock_off? as usize;
        let (_, within) = self.slab.find(lock_addr)?;
        let value_start = HEADER_BYTES + round8(self.key_size as u32) as usize;
        (within == value_start + off).then_some(lock_addr as *mut u8)
    }
}
