//! [`Map`]: one created map of any supported type, with the operations the
//! helper layer calls on behalf of programs (`lookup`, `update`, `push`,
//! `ringbuf_reserve`, ...); the byte-level host operations that mirror the
//! `bpf()` commands (`sys_lookup`, `sys_update`, `sys_get_next_key`, ...)
//! are in `syscalls`, what a pin file keeps in `snapshot`.

use crate::absent::KernelObjectMap;
use crate::array::ArrayStore;
use crate::bloom::Bloom;
use crate::def::{MapDef, MapType, round8};
use crate::error::{MapError, Result, check_len};
use crate::hash::{HashKind, HashTable, ValueSrc};
use crate::layout::ArrayLayout;
use crate::local_storage::LocalStorage;
use crate::lpm::LpmTrie;
use crate::mem::{ValueRef, key_u32, spin_lock, spin_unlock};
use crate::perf::PerfEventArray;
use crate::queue::QueueStack;
use crate::ringbuf::RingBuffer;
use crate::search::Search;
use crate::slots::{SlotArray, pack};

mod snapshot;
mod syscalls;

pub(crate) use snapshot::Snapshot;

/// Default capacity of a perf buffer opened through `sys_update`.
const DEFAULT_PERF_BUFFER_BYTES: usize = 64 * 4096;
/// Most runner CPUs a map can be created for (the kernel's largest `NR_CPUS`).
const MAX_CPUS: u32 = 8192;
/// The kernel's cpumap queue size sanity limit.
const CPUMAP_MAX_QSIZE: u32 = 16384;

#[expect(
    clippy::large_enum_variant,
    reason = "one store per map: boxing the trie would add a load to every lookup for no saving"
)]
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
    /// Values per kernel object (task, socket and cgroup storage).
    Local(LocalStorage),
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
            MapType::TaskStorage | MapType::SkStorage | MapType::CgrpStorage => {
                Store::Local(LocalStorage::new(ty, vs)?)
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

    /// Where the values of an `array` or `percpu_array` lie, for code that
    /// looks them up itself ([`ArrayLayout`]); `None` for other maps and
    /// for arrays without entries.
    pub fn array_layout(&self) -> Option<ArrayLayout> {
        match &self.store {
            Store::Array(a) => a.layout(),
            _ => None,
        }
    }

    /// [`Map::lookup`] as a function native code may call ([`Search`]),
    /// for hash tables (plain, per-CPU, LRU) and LPM tries; `None` for
    /// other maps.
    pub fn search(&self) -> Option<Search> {
        match (&self.store, self.ty) {
            (
                Store::Hash(h),
                MapType::Hash | MapType::PercpuHash | MapType::LruHash | MapType::LruPercpuHash,
            ) => Some(Search::hash(h, self)),
            (Store::Lpm(t), _) => Some(Search::trie(t, self)),
            _ => None,
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

    /// `bpf_task_storage_get` / `bpf_sk_storage_get` /
    /// `bpf_cgrp_storage_get` on the task, socket or cgroup numbered
    /// `owner`: its value, or
    /// when it has none and `create` holds the new value's bytes
    /// (`BPF_LOCAL_STORAGE_GET_F_CREATE`), a new one; `None` otherwise.
    pub fn storage_get(&self, owner: u64, create: Option<&[u8]>) -> Result<Option<ValueRef>> {
        match &self.store {
            Store::Local(l) => {
                if let Some(init) = create {
                    check_len("value", init, self.value_size())?;
                }
                l.get(owner, create)
            }
            _ => Err(self.unsupported()),
        }
    }

    /// `bpf_task_storage_delete` / `bpf_sk_storage_delete` /
    /// `bpf_cgrp_storage_delete` of the value of the object numbered `owner`.
    pub fn storage_delete(&self, owner: u64) -> Result<()> {
        match &self.store {
            Store::Local(l) => l.delete(owner),
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

    /// Whether `lock_addr` is the `bpf_spin_lock` of one of this map's values.
    pub fn is_spin_lock(&self, lock_addr: usize) -> bool {
        self.lock_word(lock_addr).is_ok()
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

    /// Number of elements currently stored (hash, LRU, LPM, queue/stack);
    /// `max_entries` for arrays.
    pub fn len(&self) -> u32 {
        match &self.store {
            Store::Hash(h) => h.len(),
            Store::Lpm(t) => t.len(),
            Store::Queue(q) => q.len(),
            Store::Absent(_) => 0,
            Store::Local(l) => l.len(),
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
