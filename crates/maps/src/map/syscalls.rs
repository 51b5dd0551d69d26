//! The host side of a map: the byte-level operations behind the `bpf()`
//! commands (lookup, update, delete, get-next-key, lookup-and-delete) with
//! their flag and access checks, and perf buffers opened from user space.

use super::{CPUMAP_MAX_QSIZE, DEFAULT_PERF_BUFFER_BYTES, Map, Store, u32_at};
use crate::array::{array_next_key, check_value};
use crate::def::{
    BPF_ANY, BPF_EXIST, BPF_F_LOCK, BPF_F_RDONLY, BPF_F_WRONLY, BPF_NOEXIST, MapType,
};
use crate::error::{MapError, Result, check_len};
use crate::hash::ValueSrc;
use crate::mem::key_u32;
use crate::perf::PerfRecord;
use crate::slots::{SlotArray, pack};

impl Map {
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
            (Store::Local(l), _) => l.sys_lookup(key, flags),
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
            (Store::Local(l), _) => l.sys_update(key, value, flags),
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
            (Store::Local(l), _) => l.sys_delete(key),
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
            // `notsupp_get_next_key`.
            Store::Local(_) => Err(MapError::KernelNotSupported(
                "local storage has no key order",
            )),
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
}
