//! [`Map`]: one created map of any supported type, with the operations the
//! helper layer calls on behalf of programs (`lookup`, `update`, `push`,
//! `ringbuf_reserve`, ...) and the byte-level host operations that mirror
//! the `bpf()` commands (`sys_lookup`, `sys_update`, `sys_get_next_key`, ...).

use crate::absent::KernelObjectMap;
use crate::array::{ArrayStore, array_next_key, check_value};
use crate::bloom::Bloom;
use crate::def::{
    BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_F_RDONLY, BPF_F_WRONLY, BPF_NOEXIST, MapDef, MapType,
    round8,
};
use crate::error::{MapError, Result, check_len};
use crate::hash::{HashKind, HashTable, ValueSrc};
use crate::lpm::LpmTrie;
use crate::mem::{ValueRef, key_u32, spin_lock, spin_unlock};
use crate::perf::{PerfEventArray, PerfRecord};
use crate::queue::QueueStack;
use crate::ringbuf::RingBuffer;
use crate::slots::{SlotArray, pack};

/// Default capacity of a perf buffer opened through `sys_update`.
const DEFAULT_PERF_BUFFER_BYTES: usize = 64 * 4096;
/// Most runner CPUs a map can be created for (the kernel's largest `NR_CPUS`).
const MAX_CPUS: u32 = 8192;
/// The kernel's cpumap queue size sanity limit.
const CPUMAP_MAX_QSIZE: u32 = 16384;

enum Store {
    Array(ArrayStore),
    Hash(HashTable),
    Lpm(LpmTrie),
    Queue(QueueStack),
    Bloom(Bloom),
    Ringbuf(RingBuffer),
    Perf(PerfEventArray),
    Slots(SlotArray),
    /// Stack traces and sockets, which Apiary never holds.
    Absent(KernelObjectMap),
}

/// Where an `XDP_REDIRECT` through a map goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectTarget {
    /// A devmap/devmap_hash entry: `struct bpf_devmap_val`.
    Device {
        /// Interface index.
        ifindex: u32,
        /// Program to run on the device (0: none).
        prog_id: u32,
    },
    /// A cpumap entry: `struct bpf_cpumap_val` plus its key.
    Cpu {
        /// Target CPU.
        cpu: u32,
        /// Queue size.
        qsize: u32,
        /// Program to run on the CPU (0: none).
        prog_id: u32,
    },
    /// An xskmap entry: the AF_XDP socket's id.
    XskSocket {
        /// Socket id as resolved by the runtime.
        socket_id: u32,
    },
}

/// A BPF map. `Send + Sync`: share it with `Arc` between program runners
/// (each a CPU, numbered `0..nr_cpus`) and the host.
pub struct Map {
    def: MapDef,
    ty: MapType,
    max_entries: u32,
    nr_cpus: u32,
    store: Store,
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = bytes.get(at..at + 4) {
        b.copy_from_slice(s);
    }
    u32::from_ne_bytes(b)
}

impl Map {
    /// `BPF_MAP_CREATE`: validates `def` as the kernel does and allocates
    /// the map for `nr_cpus` possible CPUs.
    pub fn create(def: MapDef, nr_cpus: u32) -> Result<Map> {
        if nr_cpus > MAX_CPUS {
            return Err(MapError::Invalid("more possible CPUs than apiary supports"));
        }
        let nr_cpus = nr_cpus.max(1);
        let max_entries = def.validate(nr_cpus)?;
        let ty = def.kind()?;
        if let Some(off) = def.spin_lock_off {
            if !matches!(ty, MapType::Hash | MapType::Array) {
                return Err(MapError::NotSupported(
                    "bpf_spin_lock only in hash and array values",
                ));
            }
            if off % 4 != 0 || u64::from(off) + 4 > u64::from(def.value_size) {
                return Err(MapError::Invalid(
                    "bpf_spin_lock offset outside the value or misaligned",
                ));
            }
        }
        let (ks, vs, flags) = (def.key_size, def.value_size, def.map_flags);
        let hash = |percpu, lru| {
            HashTable::new(
                HashKind { percpu, lru },
                ks,
                vs,
                max_entries,
                flags,
                nr_cpus,
                def.spin_lock_off,
            )
        };
        let store = match ty {
            MapType::Array => Store::Array(ArrayStore::new(
                vs,
                max_entries,
                nr_cpus,
                false,
                def.spin_lock_off,
            )?),
            MapType::PercpuArray => {
                Store::Array(ArrayStore::new(vs, max_entries, nr_cpus, true, None)?)
            }
            MapType::Hash | MapType::HashOfMaps | MapType::DevmapHash => {
                Store::Hash(hash(false, false)?)
            }
            MapType::PercpuHash => Store::Hash(hash(true, false)?),
            MapType::LruHash => Store::Hash(hash(false, true)?),
            MapType::LruPercpuHash => Store::Hash(hash(true, true)?),
            MapType::LpmTrie => Store::Lpm(LpmTrie::new(ks, vs, max_entries)?),
            MapType::Queue | MapType::Stack => {
                Store::Queue(QueueStack::new(ty == MapType::Stack, vs, max_entries)?)
            }
            MapType::BloomFilter => {
                Store::Bloom(Bloom::new(vs, max_entries, def.map_extra, flags)?)
            }
            MapType::Ringbuf => Store::Ringbuf(RingBuffer::new(max_entries)?),
            MapType::PerfEventArray => Store::Perf(PerfEventArray::new(max_entries)),
            MapType::ProgArray
            | MapType::ArrayOfMaps
            | MapType::Devmap
            | MapType::Cpumap
            | MapType::Xskmap => Store::Slots(SlotArray::new(max_entries, vs)?),
            MapType::StackTrace
            | MapType::Sockmap
            | MapType::Sockhash
            | MapType::ReuseportSockarray => {
                Store::Absent(KernelObjectMap::new(ty, max_entries, vs))
            }
            _ => return Err(MapError::NotSupported("map type not implemented by apiary")),
        };
        Ok(Map {
            def,
            ty,
            max_entries,
            nr_cpus,
            store,
        })
    }

    /// The definition the map was created from.
    pub fn def(&self) -> &MapDef {
        &self.def
    }

    /// The map type.
    pub fn map_type(&self) -> MapType {
        self.ty
    }

    /// Effective `max_entries` (per-CPU LRU maps round it to a CPU multiple).
    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }

    /// Number of possible CPUs the map was created for.
    pub fn nr_cpus(&self) -> u32 {
        self.nr_cpus
    }

    /// Key size in bytes.
    pub fn key_size(&self) -> usize {
        self.def.key_size as usize
    }

    /// Value size in bytes as a program sees it.
    pub fn value_size(&self) -> usize {
        self.def.value_size as usize
    }

    /// Value size of host reads and writes: per-CPU maps carry one value per
    /// possible CPU, each padded to 8 bytes, as `bpf()` does.
    pub fn host_value_size(&self) -> usize {
        if self.ty.is_percpu() {
            round8(self.def.value_size) as usize * self.nr_cpus as usize
        } else {
            self.value_size()
        }
    }

    fn unsupported(&self) -> MapError {
        MapError::NotSupported("operation not available for this map type")
    }

    // ----- program side -------------------------------------------------

    /// `bpf_map_lookup_elem` from a program on `cpu`: the address of the
    /// value (this CPU's copy for per-CPU maps), valid for the map's
    /// lifetime. Map-in-map lookups yield the slot holding the inner map id.
    pub fn lookup(&self, key: &[u8], cpu: u32) -> Result<Option<ValueRef>> {
        check_len("key", key, self.key_size())?;
        match &self.store {
            Store::Array(a) => a.lookup(key, cpu),
            Store::Hash(h) => h.lookup(key, cpu, true),
            Store::Lpm(t) => t.lookup(key),
            Store::Slots(s) if self.ty != MapType::ProgArray => Ok(s.value_ref(key_u32(key)?)),
            Store::Absent(a) => a.program_lookup().map(|()| None),
            _ => Err(self.unsupported()),
        }
    }

    /// `bpf_map_lookup_percpu_elem`: another CPU's copy; `None` for a CPU
    /// that is not possible.
    pub fn lookup_percpu(&self, key: &[u8], cpu: u32) -> Result<Option<ValueRef>> {
        if !self.ty.is_percpu() {
            return Err(self.unsupported());
        }
        if cpu >= self.nr_cpus {
            return Ok(None);
        }
        match &self.store {
            Store::Array(a) => a.lookup(key, cpu),
            Store::Hash(h) => h.lookup(key, cpu, true),
            _ => Err(self.unsupported()),
        }
    }

    /// `bpf_map_update_elem` from a program on `cpu`.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> Result<()> {
        check_len("key", key, self.key_size())?;
        match (&self.store, self.ty) {
            (Store::Array(a), _) => a.update(key, value, flags, Some(cpu)),
            (
                Store::Hash(h),
                MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash,
            ) => h.update(key, ValueSrc::Cpu(value, cpu), flags, cpu),
            (Store::Lpm(t), _) => t.update(key, value, flags),
            (Store::Absent(a), _) => a.program_update(),
            _ => Err(self.unsupported()),
        }
    }

    /// `bpf_map_delete_elem` from a program.
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        check_len("key", key, self.key_size())?;
        match (&self.store, self.ty) {
            (Store::Array(_), _) => Err(MapError::Invalid("array elements cannot be deleted")),
            (
                Store::Hash(h),
                MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash,
            ) => h.delete(key),
            (Store::Lpm(t), _) => t.delete(key),
            (Store::Absent(a), _) => a.delete(key),
            _ => Err(self.unsupported()),
        }
    }

    /// `bpf_map_push_elem` (queue, stack, bloom filter).
    pub fn push(&self, value: &[u8], flags: u64) -> Result<()> {
        match &self.store {
            Store::Queue(q) => q.push(value, flags),
            Store::Bloom(b) => b.push(value, flags),
            _ => Err(self.unsupported()),
        }
    }

    /// `bpf_map_pop_elem` into `out`.
    pub fn pop(&self, out: &mut [u8]) -> Result<()> {
        match &self.store {
            Store::Queue(q) => q.pop(out),
            _ => Err(self.unsupported()),
        }
    }

    /// `bpf_map_peek_elem`: for queues and stacks `buf` receives the value;
    /// for bloom filters `buf` is the value to test (`ENOENT`: absent).
    pub fn peek(&self, buf: &mut [u8]) -> Result<()> {
        match &self.store {
            Store::Queue(q) => q.peek(buf),
            Store::Bloom(b) => b.peek(buf),
            _ => Err(self.unsupported()),
        }
    }

    fn ringbuf(&self) -> Result<&RingBuffer> {
        match &self.store {
            Store::Ringbuf(r) => Ok(r),
            _ => Err(self.unsupported()),
        }
    }

    /// `bpf_ringbuf_reserve`; any error is a NULL return in the kernel.
    pub fn ringbuf_reserve(&self, size: u64, flags: u64) -> Result<ValueRef> {
        self.ringbuf()?.reserve(size, flags)
    }

    /// `bpf_ringbuf_submit` of the sample at `sample_addr`.
    pub fn ringbuf_submit(&self, sample_addr: usize, flags: u64) -> Result<()> {
        self.ringbuf()?.commit(sample_addr, flags, false)
    }

    /// `bpf_ringbuf_discard` of the sample at `sample_addr`.
    pub fn ringbuf_discard(&self, sample_addr: usize, flags: u64) -> Result<()> {
        self.ringbuf()?.commit(sample_addr, flags, true)
    }

    /// `bpf_ringbuf_output` (`EAGAIN` when there is no room).
    pub fn ringbuf_output(&self, data: &[u8], flags: u64) -> Result<()> {
        self.ringbuf()?.output(data, flags)
    }

    /// `bpf_ringbuf_query`.
    pub fn ringbuf_query(&self, flags: u64) -> Result<u64> {
        Ok(self.ringbuf()?.query(flags))
    }

    /// `bpf_perf_event_output` from a program on `cpu`.
    pub fn perf_event_output(&self, cpu: u32, flags: u64, data: &[u8]) -> Result<()> {
        match &self.store {
            Store::Perf(p) => p.output(cpu, flags, data),
            _ => Err(self.unsupported()),
        }
    }

    /// `bpf_tail_call`'s lookup: the program id at `index`, if any.
    pub fn tail_call_target(&self, index: u32) -> Option<u32> {
        match &self.store {
            Store::Slots(s) if self.ty == MapType::ProgArray => s.get(index).map(|raw| raw as u32),
            _ => None,
        }
    }

    /// The inner map id stored under `key` of an `array_of_maps` / `hash_of_maps`.
    pub fn inner_map_id(&self, key: &[u8]) -> Result<Option<u32>> {
        match (&self.store, self.ty) {
            (Store::Slots(s), MapType::ArrayOfMaps) => Ok(s.get(key_u32(key)?).map(|r| r as u32)),
            (Store::Hash(h), MapType::HashOfMaps) => {
                Ok(h.lookup(key, 0, false)?.map(|v| u32_at(&v.read(), 0)))
            }
            _ => Err(self.unsupported()),
        }
    }

    /// `bpf_redirect_map`'s lookup in a devmap, devmap_hash, cpumap or xskmap.
    pub fn redirect_target(&self, key: u32) -> Option<RedirectTarget> {
        let raw = match &self.store {
            Store::Slots(s) => s.get(key)?,
            Store::Hash(h) if self.ty == MapType::DevmapHash => {
                let v = h.lookup(&key.to_ne_bytes(), 0, false).ok()??;
                pack(&v.read())
            }
            _ => return None,
        };
        let (lo, hi) = (raw as u32, (raw >> 32) as u32);
        match self.ty {
            MapType::Devmap | MapType::DevmapHash => Some(RedirectTarget::Device {
                ifindex: lo,
                prog_id: hi,
            }),
            MapType::Cpumap => Some(RedirectTarget::Cpu {
                cpu: key,
                qsize: lo,
                prog_id: hi,
            }),
            MapType::Xskmap => Some(RedirectTarget::XskSocket { socket_id: lo }),
            _ => None,
        }
    }

    fn lock_word(&self, lock_addr: usize) -> Result<*mut u8> {
        let found = match &self.store {
            Store::Array(a) => a.lock_addr_for(lock_addr),
            Store::Hash(h) if self.ty == MapType::Hash => h.lock_addr_for(lock_addr),
            _ => None,
        };
        found.ok_or(MapError::Invalid(
            "address is not a bpf_spin_lock of this map",
        ))
    }

    /// `bpf_spin_lock` on the lock at `lock_addr` inside one of this map's values.
    pub fn spin_lock(&self, lock_addr: usize) -> Result<()> {
        let word = self.lock_word(lock_addr)?;
        // SAFETY: `lock_word` checked that the address is a lock word in live map memory.
        unsafe { spin_lock(word) };
        Ok(())
    }

    /// `bpf_spin_unlock` of a lock taken with [`Map::spin_lock`].
    pub fn spin_unlock(&self, lock_addr: usize) -> Result<()> {
        let word = self.lock_word(lock_addr)?;
        // SAFETY: as in `spin_lock`.
        unsafe { spin_unlock(word) };
        Ok(())
    }

    /// The whole value memory of a `BPF_F_MMAPABLE` array (global data).
    pub fn mmap_region(&self) -> Option<ValueRef> {
        match &self.store {
            Store::Array(a) if self.def.map_flags & crate::def::BPF_F_MMAPABLE != 0 => a.memory(),
            _ => None,
        }
    }

    // ----- host side (`bpf()` commands) ---------------------------------

    fn check_read(&self) -> Result<()> {
        if self.def.map_flags & BPF_F_WRONLY != 0 {
            return Err(MapError::PermissionDenied);
        }
        Ok(())
    }

    fn check_write(&self) -> Result<()> {
        if self.def.map_flags & BPF_F_RDONLY != 0 {
            return Err(MapError::PermissionDenied);
        }
        Ok(())
    }

    fn check_lock_flags(&self, flags: u64) -> Result<()> {
        if flags & BPF_F_LOCK != 0 && self.def.spin_lock_off.is_none() {
            return Err(MapError::Invalid(
                "BPF_F_LOCK on a map without bpf_spin_lock",
            ));
        }
        Ok(())
    }

    /// `BPF_MAP_LOOKUP_ELEM`: a copy of the value (per-CPU maps: every
    /// CPU's value, each padded to 8 bytes; queue/stack: peek; fd maps: the
    /// stored object id). `key` is empty for queues and stacks.
    pub fn sys_lookup(&self, key: &[u8], flags: u64) -> Result<Vec<u8>> {
        if flags & !BPF_F_LOCK != 0 {
            return Err(MapError::Invalid("unknown lookup flags"));
        }
        self.check_read()?;
        self.check_lock_flags(flags)?;
        check_len("key", key, self.key_size())?;
        match (&self.store, self.ty) {
            (Store::Array(a), _) => a.sys_lookup(key, flags),
            (Store::Hash(h), _) => h.sys_lookup(key, flags),
            (Store::Lpm(t), _) => t.sys_lookup(key),
            (Store::Queue(q), _) => {
                let mut out = vec![0u8; self.value_size()];
                q.peek(&mut out)?;
                Ok(out)
            }
            (Store::Slots(_), MapType::Xskmap) => {
                Err(MapError::NotSupported("xskmap lookup from user space"))
            }
            (Store::Slots(s), _) => {
                let index = key_u32(key)?;
                s.get(index)
                    .map(|raw| s.bytes(raw))
                    .ok_or(MapError::NotFound)
            }
            (Store::Perf(_), _) => Err(MapError::KernelNotSupported("perf event array lookup")),
            (Store::Ringbuf(_), _) => Err(MapError::Invalid("ring buffer has no elements")),
            (Store::Bloom(_), _) => Err(MapError::Invalid("bloom filter: use peek with the value")),
            (Store::Absent(a), _) => a.sys_lookup(),
        }
    }

    /// `BPF_MAP_UPDATE_ELEM` from the host (per-CPU maps: one padded value
    /// per CPU; fd maps: the object id the runtime resolved the fd to;
    /// perf event arrays: the CPU the new buffer is bound to).
    pub fn sys_update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        self.check_write()?;
        self.check_lock_flags(flags)?;
        check_len("key", key, self.key_size())?;
        match (&self.store, self.ty) {
            (Store::Array(a), _) => a.update(key, value, flags, None),
            (Store::Hash(_), MapType::DevmapHash) => self.devmap_hash_update(key, value, flags),
            (Store::Hash(h), MapType::HashOfMaps) => {
                check_value(value, 4)?;
                if u32_at(value, 0) == 0 {
                    return Err(MapError::BadFd);
                }
                h.update(key, ValueSrc::All(value), flags, 0)
            }
            (Store::Hash(h), _) => h.update(key, ValueSrc::All(value), flags, 0),
            (Store::Lpm(t), _) => t.update(key, value, flags),
            (Store::Queue(q), _) => q.push(value, flags),
            (Store::Bloom(b), _) => b.push(value, flags),
            (Store::Slots(s), _) => self.slot_update(s, key, value, flags),
            (Store::Perf(p), _) => {
                check_value(value, 4)?;
                if flags != BPF_ANY {
                    return Err(MapError::Invalid("fd array updates take BPF_ANY only"));
                }
                p.open(key_u32(key)?, u32_at(value, 0), DEFAULT_PERF_BUFFER_BYTES)
            }
            (Store::Ringbuf(_), _) => Err(MapError::Invalid("ring buffer has no elements")),
            (Store::Absent(a), _) => a.sys_update(key, value, flags),
        }
    }

    fn slot_update(&self, s: &SlotArray, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        let index = key_u32(key)?;
        check_value(value, self.value_size())?;
        let (lo, hi) = (u32_at(value, 0), u32_at(value, 4));
        match self.ty {
            MapType::ProgArray | MapType::ArrayOfMaps => {
                if flags != BPF_ANY {
                    return Err(MapError::Invalid("fd array updates take BPF_ANY only"));
                }
                if index >= s.len() {
                    return Err(MapError::TooBig("index beyond max_entries"));
                }
                if lo == 0 {
                    return Err(MapError::BadFd);
                }
                s.set(index, u64::from(lo));
                Ok(())
            }
            MapType::Devmap | MapType::Cpumap => {
                if flags > BPF_EXIST {
                    return Err(MapError::Invalid("unknown update flags"));
                }
                if index >= s.len() {
                    return Err(MapError::TooBig("index beyond max_entries"));
                }
                if flags == BPF_NOEXIST {
                    return Err(MapError::AlreadyExists);
                }
                if self.ty == MapType::Cpumap {
                    if lo > CPUMAP_MAX_QSIZE {
                        return Err(MapError::Overflow("cpumap qsize above 16384"));
                    }
                    if index >= self.nr_cpus {
                        return Err(MapError::NoDevice);
                    }
                } else if lo == 0 && hi != 0 {
                    return Err(MapError::Invalid(
                        "devmap entry with a program but no ifindex",
                    ));
                }
                // ifindex 0 (devmap) or qsize 0 (cpumap) empties the slot.
                if lo == 0 {
                    s.clear(index);
                } else {
                    s.set(index, pack(value));
                }
                Ok(())
            }
            _ => {
                // xskmap
                if flags > BPF_EXIST {
                    return Err(MapError::Invalid("unknown update flags"));
                }
                if index >= s.len() {
                    return Err(MapError::TooBig("index beyond max_entries"));
                }
                if lo == 0 {
                    return Err(MapError::BadFd);
                }
                let present = s.get(index).is_some();
                if present && flags == BPF_NOEXIST {
                    return Err(MapError::AlreadyExists);
                }
                if !present && flags == BPF_EXIST {
                    return Err(MapError::NotFound);
                }
                s.set(index, u64::from(lo));
                Ok(())
            }
        }
    }

    fn devmap_hash_update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        let Store::Hash(h) = &self.store else {
            return Err(self.unsupported());
        };
        check_value(value, self.value_size())?;
        if flags > BPF_EXIST {
            return Err(MapError::Invalid("unknown update flags"));
        }
        if u32_at(value, 0) == 0 {
            return Err(MapError::Invalid("devmap_hash entry needs an ifindex"));
        }
        h.update(key, ValueSrc::All(value), flags, 0)
    }

    /// `BPF_MAP_DELETE_ELEM` from the host.
    pub fn sys_delete(&self, key: &[u8]) -> Result<()> {
        self.check_write()?;
        check_len("key", key, self.key_size())?;
        match (&self.store, self.ty) {
            (Store::Hash(h), _) => h.delete(key),
            (Store::Slots(s), MapType::ProgArray | MapType::ArrayOfMaps) => {
                let index = key_u32(key)?;
                if index >= s.len() {
                    return Err(MapError::TooBig("index beyond max_entries"));
                }
                if s.clear(index) {
                    Ok(())
                } else {
                    Err(MapError::NotFound)
                }
            }
            (Store::Slots(s), _) => {
                let index = key_u32(key)?;
                if index >= s.len() {
                    return Err(MapError::Invalid("index beyond max_entries"));
                }
                s.clear(index);
                Ok(())
            }
            (Store::Perf(p), _) => p.close(key_u32(key)?),
            (Store::Ringbuf(_), _) => Err(MapError::Invalid("ring buffer has no elements")),
            (Store::Bloom(_), _) => Err(MapError::NotSupported("bloom filter delete")),
            (Store::Queue(_), _) => Err(MapError::Invalid(
                "queue/stack elements cannot be deleted by key",
            )),
            _ => self.delete(key),
        }
    }

    /// `BPF_MAP_GET_NEXT_KEY`: `None` (or a key that is not in the map)
    /// starts from the first key.
    pub fn sys_get_next_key(&self, key: Option<&[u8]>) -> Result<Vec<u8>> {
        self.check_read()?;
        if let Some(k) = key {
            check_len("key", k, self.key_size())?;
        }
        match &self.store {
            Store::Array(_) | Store::Slots(_) | Store::Perf(_) => {
                array_next_key(key, self.max_entries)
            }
            Store::Hash(h) => h.get_next_key(key),
            Store::Lpm(t) => t.get_next_key(key),
            // The kernel's queue_stack_map_get_next_key, bloom_map_get_next_key
            // and ringbuf_map_get_next_key, as measured with bpftool on 6.18.
            Store::Queue(_) => Err(MapError::Invalid("map has no keys")),
            Store::Bloom(_) => Err(MapError::NotSupported("bloom filter has no keys")),
            Store::Ringbuf(_) => Err(MapError::KernelNotSupported("ring buffer has no keys")),
            Store::Absent(a) => a.get_next_key(key),
        }
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` (hash types; queue/stack pop).
    pub fn sys_lookup_and_delete(&self, key: &[u8], flags: u64) -> Result<Vec<u8>> {
        self.check_read()?;
        self.check_write()?;
        check_len("key", key, self.key_size())?;
        match (&self.store, self.ty) {
            (Store::Queue(q), _) => {
                if flags != 0 {
                    return Err(MapError::Invalid("pop takes no flags"));
                }
                let mut out = vec![0u8; self.value_size()];
                q.pop(&mut out)?;
                Ok(out)
            }
            (
                Store::Hash(h),
                MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash,
            ) => h.lookup_and_delete(key, flags),
            (Store::Absent(a), MapType::StackTrace) => a.sys_lookup_and_delete(flags),
            _ => Err(MapError::KernelNotSupported(
                "lookup_and_delete on this map type",
            )),
        }
    }

    /// Opens a perf buffer of `capacity` bytes bound to `cpu` at `index`.
    pub fn perf_open(&self, index: u32, cpu: u32, capacity: usize) -> Result<()> {
        match &self.store {
            Store::Perf(p) => p.open(index, cpu, capacity),
            _ => Err(self.unsupported()),
        }
    }

    /// Takes the next record from the perf buffer at `index`.
    pub fn perf_read(&self, index: u32) -> Result<Option<PerfRecord>> {
        match &self.store {
            Store::Perf(p) => p.read(index),
            _ => Err(self.unsupported()),
        }
    }

    /// Whether the perf event array slot `index` has a buffer.
    pub fn perf_is_open(&self, index: u32) -> bool {
        matches!(&self.store, Store::Perf(p) if p.is_open(index))
    }

    /// Number of elements currently stored (hash, LRU, LPM, queue/stack);
    /// `max_entries` for arrays.
    pub fn len(&self) -> u32 {
        match &self.store {
            Store::Hash(h) => h.len(),
            Store::Lpm(t) => t.len(),
            Store::Queue(q) => q.len(),
            Store::Absent(_) => 0,
            _ => self.max_entries,
        }
    }

    /// Whether [`Map::len`] is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn ring(&self) -> Option<&RingBuffer> {
        match &self.store {
            Store::Ringbuf(r) => Some(r),
            _ => None,
        }
    }
}

/// `get_next_key` of one store, as [`Map::snapshot`] walks it.
type NextKeyFn<'a> = dyn Fn(Option<&[u8]>) -> Result<Vec<u8>> + 'a;

/// What a pin file can keep of a map's contents, read past the map's
/// user-space access flags (a pin saves the whole map, as the kernel keeps
/// it across processes).
pub(crate) enum Snapshot {
    /// Keyed elements as `(key, host value)`, in iteration order, with the
    /// hash seed of hash-table maps.
    Entries {
        /// Bucket seed of a hash table; `None` for arrays, tries and slots.
        seed: Option<u32>,
        /// The elements.
        entries: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// A queue's or stack's values, oldest first.
    Queue(Vec<Vec<u8>>),
    /// A bloom filter's seed and bitset.
    Bloom {
        /// Hash seed.
        seed: u32,
        /// Bitset words.
        words: Vec<u64>,
    },
    /// Contents that mean nothing outside this process.
    Unsaveable(&'static str),
}

impl Map {
    /// Copies out everything a pin file keeps of this map.
    pub(crate) fn snapshot(&self) -> Result<Snapshot> {
        if let Some(reason) = self.unsaveable_reason() {
            return Ok(Snapshot::Unsaveable(reason));
        }
        let keyed = |seed: Option<u32>,
                     next: &NextKeyFn<'_>,
                     read: &dyn Fn(&[u8]) -> Result<Vec<u8>>|
         -> Result<Snapshot> {
            let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            loop {
                let prev = entries.last().map(|(k, _)| k.as_slice());
                let key = match next(prev) {
                    Ok(key) => key,
                    Err(MapError::NotFound) => break,
                    Err(e) => return Err(e),
                };
                match read(&key) {
                    Ok(value) => entries.push((key, value)),
                    // Deleted between the two steps by a concurrent user.
                    Err(MapError::NotFound) => continue,
                    Err(e) => return Err(e),
                }
                if entries.len() > self.max_entries as usize {
                    return Err(MapError::Busy);
                }
            }
            Ok(Snapshot::Entries { seed, entries })
        };
        match (&self.store, self.ty) {
            (Store::Array(a), _) => keyed(None, &|k| array_next_key(k, self.max_entries), &|k| {
                a.sys_lookup(k, 0)
            }),
            (Store::Hash(h), _) => keyed(Some(h.seed()), &|k| h.get_next_key(k), &|k| {
                h.sys_lookup(k, 0)
            }),
            (Store::Lpm(t), _) => keyed(None, &|k| t.get_next_key(k), &|k| t.sys_lookup(k)),
            (Store::Slots(s), MapType::Devmap | MapType::Cpumap) => {
                let entries = (0..s.len())
                    .filter_map(|i| s.get(i).map(|raw| (i.to_ne_bytes().to_vec(), s.bytes(raw))))
                    .collect();
                Ok(Snapshot::Entries {
                    seed: None,
                    entries,
                })
            }
            (Store::Slots(_), _)
            | (Store::Ringbuf(_), _)
            | (Store::Perf(_), _)
            | (Store::Absent(_), _) => Ok(Snapshot::Unsaveable(
                self.unsaveable_reason().unwrap_or("not saveable"),
            )),
            (Store::Queue(q), _) => Ok(Snapshot::Queue(q.values_oldest_first())),
            (Store::Bloom(b), _) => {
                let (seed, words) = b.snapshot();
                Ok(Snapshot::Bloom { seed, words })
            }
        }
    }

    /// Why a pin file keeps only this map's definition, or `None` when it
    /// keeps the contents too.
    pub(crate) fn unsaveable_reason(&self) -> Option<&'static str> {
        match self.ty {
            MapType::ProgArray => Some("program ids are only valid in the process that made them"),
            MapType::ArrayOfMaps | MapType::HashOfMaps => {
                Some("inner map ids are only valid in the process that made them")
            }
            MapType::Xskmap => Some("AF_XDP sockets are only valid in the process that made them"),
            MapType::Ringbuf => Some("ring buffer records are consumed, not stored"),
            MapType::PerfEventArray => Some("perf buffers belong to the process that opened them"),
            MapType::StackTrace => {
                Some("stack traces are kernel call chains Apiary never captures")
            }
            MapType::Sockmap | MapType::Sockhash | MapType::ReuseportSockarray => {
                Some("Apiary has no sockets: socket maps are always empty")
            }
            _ => None,
        }
    }

    /// Sets the hash seed of an empty hash-table map (no-op for others).
    pub(crate) fn restore_seed(&mut self, seed: u32) -> Result<()> {
        match &mut self.store {
            Store::Hash(h) => h.set_seed(seed),
            _ => Ok(()),
        }
    }

    /// Puts one saved element back, past the access flags.
    pub(crate) fn restore_entry(&self, key: &[u8], value: &[u8]) -> Result<()> {
        check_len("key", key, self.key_size())?;
        check_len("value", value, self.host_value_size())?;
        match (&self.store, self.ty) {
            (Store::Array(a), _) => a.update(key, value, BPF_ANY, None),
            (Store::Hash(h), _) => h.update(key, ValueSrc::All(value), BPF_NOEXIST, 0),
            (Store::Lpm(t), _) => t.update(key, value, BPF_NOEXIST),
            (Store::Slots(s), MapType::Devmap | MapType::Cpumap) => {
                let index = key_u32(key)?;
                if index >= s.len() {
                    return Err(MapError::TooBig("index beyond max_entries"));
                }
                s.set(index, pack(value));
                Ok(())
            }
            _ => Err(self.unsupported()),
        }
    }

    /// Pushes one saved queue/stack value back (oldest first).
    pub(crate) fn restore_queue_value(&self, value: &[u8]) -> Result<()> {
        match &self.store {
            Store::Queue(q) => q.push(value, BPF_ANY),
            _ => Err(self.unsupported()),
        }
    }

    /// Number of bitset words of a bloom filter.
    pub(crate) fn bloom_words(&self) -> Option<usize> {
        match &self.store {
            Store::Bloom(b) => Some(b.word_count()),
            _ => None,
        }
    }

    /// Puts a saved bloom filter bitset back.
    pub(crate) fn restore_bloom(&mut self, seed: u32, words: &[u64]) -> Result<()> {
        match &mut self.store {
            Store::Bloom(b) => b.restore(seed, words),
            _ => Err(MapError::NotSupported("not a bloom filter")),
        }
    }
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map")
            .field("type", &self.ty)
            .field("name", &self.def.name)
            .field("key_size", &self.def.key_size)
            .field("value_size", &self.def.value_size)
            .field("max_entries", &self.max_entries)
            .field("nr_cpus", &self.nr_cpus)
            .finish()
    }
}
