//! Map definitions (`union bpf_attr` for `BPF_MAP_CREATE`, minus file
//! descriptors) and the kernel's creation-time validation.

use crate::error::{MapError, Result};

/// The kernel's `enum bpf_map_type`, with its numbers.
#[allow(missing_docs)] // the names are the kernel's, documented there
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MapType {
    Unspec = 0,
    Hash = 1,
    Array = 2,
    ProgArray = 3,
    PerfEventArray = 4,
    PercpuHash = 5,
    PercpuArray = 6,
    StackTrace = 7,
    CgroupArray = 8,
    LruHash = 9,
    LruPercpuHash = 10,
    LpmTrie = 11,
    ArrayOfMaps = 12,
    HashOfMaps = 13,
    Devmap = 14,
    Sockmap = 15,
    Cpumap = 16,
    Xskmap = 17,
    Sockhash = 18,
    CgroupStorage = 19,
    ReuseportSockarray = 20,
    PercpuCgroupStorage = 21,
    Queue = 22,
    Stack = 23,
    SkStorage = 24,
    DevmapHash = 25,
    StructOps = 26,
    Ringbuf = 27,
    InodeStorage = 28,
    TaskStorage = 29,
    BloomFilter = 30,
    UserRingbuf = 31,
    CgrpStorage = 32,
    Arena = 33,
}

impl MapType {
    /// Every type in kernel order, used to decode numbers.
    const ALL: [MapType; 34] = [
        MapType::Unspec,
        MapType::Hash,
        MapType::Array,
        MapType::ProgArray,
        MapType::PerfEventArray,
        MapType::PercpuHash,
        MapType::PercpuArray,
        MapType::StackTrace,
        MapType::CgroupArray,
        MapType::LruHash,
        MapType::LruPercpuHash,
        MapType::LpmTrie,
        MapType::ArrayOfMaps,
        MapType::HashOfMaps,
        MapType::Devmap,
        MapType::Sockmap,
        MapType::Cpumap,
        MapType::Xskmap,
        MapType::Sockhash,
        MapType::CgroupStorage,
        MapType::ReuseportSockarray,
        MapType::PercpuCgroupStorage,
        MapType::Queue,
        MapType::Stack,
        MapType::SkStorage,
        MapType::DevmapHash,
        MapType::StructOps,
        MapType::Ringbuf,
        MapType::InodeStorage,
        MapType::TaskStorage,
        MapType::BloomFilter,
        MapType::UserRingbuf,
        MapType::CgrpStorage,
        MapType::Arena,
    ];

    /// Decodes a kernel map type number; unknown numbers are `EINVAL` as in
    /// `map_create()`.
    pub fn from_u32(n: u32) -> Result<MapType> {
        usize::try_from(n)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
            .ok_or(MapError::Invalid("unknown map type"))
    }

    /// Whether values are kept once per possible CPU.
    pub fn is_percpu(self) -> bool {
        matches!(
            self,
            MapType::PercpuArray | MapType::PercpuHash | MapType::LruPercpuHash
        )
    }
}

/// `BPF_F_NO_PREALLOC`: allocate elements on demand.
pub const BPF_F_NO_PREALLOC: u32 = 1 << 0;
/// `BPF_F_NO_COMMON_LRU`: one LRU list per CPU instead of one shared list.
pub const BPF_F_NO_COMMON_LRU: u32 = 1 << 1;
/// `BPF_F_NUMA_NODE`: honour `numa_node` (accepted, meaningless here).
pub const BPF_F_NUMA_NODE: u32 = 1 << 2;
/// `BPF_F_RDONLY`: user space may only read.
pub const BPF_F_RDONLY: u32 = 1 << 3;
/// `BPF_F_WRONLY`: user space may only write.
pub const BPF_F_WRONLY: u32 = 1 << 4;
/// `BPF_F_ZERO_SEED`: hash with seed 0 (deterministic bucket order).
pub const BPF_F_ZERO_SEED: u32 = 1 << 6;
/// `BPF_F_RDONLY_PROG`: programs may only read (enforced by the verifier).
pub const BPF_F_RDONLY_PROG: u32 = 1 << 7;
/// `BPF_F_WRONLY_PROG`: programs may only write (enforced by the verifier).
pub const BPF_F_WRONLY_PROG: u32 = 1 << 8;
/// `BPF_F_MMAPABLE`: array memory may be mapped by user space.
pub const BPF_F_MMAPABLE: u32 = 1 << 10;
/// `BPF_F_PRESERVE_ELEMS`: perf event array keeps entries when its fd closes.
pub const BPF_F_PRESERVE_ELEMS: u32 = 1 << 11;
/// `BPF_F_CLONE`: a socket's local storage is copied to its clones.
pub const BPF_F_CLONE: u32 = 1 << 9;
/// `BPF_F_INNER_MAP`: an inner map whose `max_entries` may differ from the template.
pub const BPF_F_INNER_MAP: u32 = 1 << 12;

/// `BPF_F_STACK_BUILD_ID`: a stack map stores build ids and offsets.
pub const BPF_F_STACK_BUILD_ID: u32 = 1 << 5;

/// The kernel's `BPF_F_ACCESS_MASK`.
pub const BPF_F_ACCESS_MASK: u32 =
    BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG;

/// Update flag `BPF_ANY`: create or replace.
pub const BPF_ANY: u64 = 0;
/// Update flag `BPF_NOEXIST`: create only.
pub const BPF_NOEXIST: u64 = 1;
/// Update flag `BPF_EXIST`: replace only.
pub const BPF_EXIST: u64 = 2;
/// Update/lookup flag `BPF_F_LOCK`: copy the value under its `bpf_spin_lock`.
pub const BPF_F_LOCK: u64 = 4;

/// `KMALLOC_MAX_SIZE` on x86-64 (`1 << (MAX_PAGE_ORDER + PAGE_SHIFT)`).
pub(crate) const KMALLOC_MAX_SIZE: u64 = 1 << 22;
/// `PCPU_MIN_UNIT_SIZE`: the per-CPU value size limit.
pub(crate) const PCPU_MIN_UNIT_SIZE: u64 = 32 << 10;
/// `sizeof(struct htab_elem)` on x86-64, part of the hash size limit.
const HTAB_ELEM_SIZE: u64 = 48;
/// Largest cpumap the kernel accepts: `NR_CPUS` of the kernel this was
/// measured on (Linux 6.18 here refuses 257 entries with `E2BIG`).
pub(crate) const NR_CPUS: u32 = 256;
/// `sysctl_perf_event_max_stack`'s default (`PERF_MAX_STACK_DEPTH`),
/// which bounds a stack map's frames (`/proc/sys/kernel/perf_event_max_stack`
/// reads 127 on the machine this was measured on).
const PERF_MAX_STACK_DEPTH: u32 = 127;
/// `sizeof(struct bpf_stack_build_id)`: one frame of a build-id stack map.
const STACK_BUILD_ID_SIZE: u32 = 32;
/// `MAX_BPF_STACK`: the largest sockhash key.
const MAX_BPF_STACK: u32 = 512;
/// Cap on the address space one map may reserve; beyond it creation is `ENOMEM`.
pub(crate) const MAX_MAP_BYTES: u64 = 1 << 36;

/// Everything `BPF_MAP_CREATE` receives, with objects in place of fds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MapDef {
    /// `map_type`, as the kernel number ([`MapType`] decodes it).
    pub map_type: u32,
    /// `key_size` in bytes.
    pub key_size: u32,
    /// `value_size` in bytes.
    pub value_size: u32,
    /// `max_entries`.
    pub max_entries: u32,
    /// `map_flags` (`BPF_F_*`).
    pub map_flags: u32,
    /// The template of inner maps, for `array_of_maps` / `hash_of_maps`
    /// (the kernel's `inner_map_fd`).
    pub inner: Option<Box<MapDef>>,
    /// Offset of the `struct bpf_spin_lock` inside the value, from BTF.
    pub spin_lock_off: Option<u32>,
    /// `map_extra` (bloom filter: number of hash functions in the low 4 bits).
    pub map_extra: u64,
    /// `map_name` (at most 15 characters of `[A-Za-z0-9_.]`).
    pub name: String,
}

impl MapDef {
    /// A definition with the four sizes set and everything else default.
    pub fn new(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapDef {
        MapDef {
            map_type: map_type as u32,
            key_size,
            value_size,
            max_entries,
            ..MapDef::default()
        }
    }

    /// Builder: sets `map_flags`.
    pub fn with_flags(mut self, map_flags: u32) -> MapDef {
        self.map_flags = map_flags;
        self
    }

    /// Builder: sets the name.
    pub fn with_name(mut self, name: &str) -> MapDef {
        self.name = name.to_owned();
        self
    }

    /// The decoded map type.
    pub fn kind(&self) -> Result<MapType> {
        MapType::from_u32(self.map_type)
    }

    /// Whether an inner map `candidate` may be stored in a map-in-map whose
    /// template is `self` (the kernel's `bpf_map_meta_equal`).
    pub fn accepts_inner(&self, candidate: &MapDef) -> bool {
        let max_ok =
            self.map_flags & BPF_F_INNER_MAP != 0 || self.max_entries == candidate.max_entries;
        self.map_type == candidate.map_type
            && self.key_size == candidate.key_size
            && self.value_size == candidate.value_size
            && self.map_flags == candidate.map_flags
            && self.spin_lock_off == candidate.spin_lock_off
            && max_ok
    }

    /// Runs the kernel's checks for `BPF_MAP_CREATE` and returns the
    /// effective `max_entries` (the kernel rounds it for per-CPU LRU lists).
    pub fn validate(&self, nr_cpus: u32) -> Result<u32> {
        let ty = self.kind()?;
        validate_name(&self.name)?;
        let flags = self.map_flags;
        if flags & BPF_F_RDONLY != 0 && flags & BPF_F_WRONLY != 0 {
            return Err(MapError::Invalid("BPF_F_RDONLY together with BPF_F_WRONLY"));
        }
        let access_ok = flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)
            != (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG);
        if self.map_extra != 0 && ty != MapType::BloomFilter && ty != MapType::Arena {
            return Err(MapError::Invalid(
                "map_extra is only for bloom filters and arenas",
            ));
        }
        let unknown_flags = |mask: u32| flags & !mask != 0 || !access_ok;
        let (ks, vs, max) = (self.key_size, self.value_size, self.max_entries);
        match ty {
            MapType::Array
            | MapType::PercpuArray
            | MapType::ProgArray
            | MapType::PerfEventArray
            | MapType::ArrayOfMaps
            | MapType::ReuseportSockarray => {
                if ty == MapType::ReuseportSockarray && vs != 4 && vs != 8 {
                    return Err(MapError::Invalid(
                        "reuseport_sockarray value_size must be 4 or 8",
                    ));
                }
                let mask = BPF_F_NUMA_NODE
                    | BPF_F_MMAPABLE
                    | BPF_F_ACCESS_MASK
                    | BPF_F_PRESERVE_ELEMS
                    | BPF_F_INNER_MAP;
                let fd_array = matches!(
                    ty,
                    MapType::ProgArray | MapType::PerfEventArray | MapType::ArrayOfMaps
                );
                if fd_array && vs != 4 {
                    return Err(MapError::Invalid("fd array value_size must be 4"));
                }
                if max == 0 || ks != 4 || vs == 0 || unknown_flags(mask) {
                    return Err(MapError::Invalid(
                        "array needs key_size 4, value_size > 0, max_entries > 0",
                    ));
                }
                if ty.is_percpu() && flags & BPF_F_NUMA_NODE != 0 {
                    return Err(MapError::Invalid("per-CPU array cannot be NUMA-bound"));
                }
                if ty != MapType::Array && flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP) != 0 {
                    return Err(MapError::Invalid(
                        "only plain arrays may be mmapable or inner maps",
                    ));
                }
                if ty != MapType::PerfEventArray && flags & BPF_F_PRESERVE_ELEMS != 0 {
                    return Err(MapError::Invalid(
                        "BPF_F_PRESERVE_ELEMS is for perf event arrays",
                    ));
                }
                if u64::from(vs) > i32::MAX as u64 {
                    return Err(MapError::TooBig("value_size"));
                }
                if ty.is_percpu() && round8(vs) > PCPU_MIN_UNIT_SIZE {
                    return Err(MapError::TooBig("per-CPU value_size above 32 KiB"));
                }
                if ty == MapType::ArrayOfMaps {
                    self.validate_inner()?;
                }
                Ok(max)
            }
            MapType::Hash
            | MapType::PercpuHash
            | MapType::LruHash
            | MapType::LruPercpuHash
            | MapType::HashOfMaps => {
                let lru = matches!(ty, MapType::LruHash | MapType::LruPercpuHash);
                let mask = BPF_F_NO_PREALLOC
                    | BPF_F_NO_COMMON_LRU
                    | BPF_F_NUMA_NODE
                    | BPF_F_ACCESS_MASK
                    | BPF_F_ZERO_SEED;
                if unknown_flags(mask) {
                    return Err(MapError::Invalid("unknown hash map flags"));
                }
                if !lru && flags & BPF_F_NO_COMMON_LRU != 0 {
                    return Err(MapError::Invalid("BPF_F_NO_COMMON_LRU needs an LRU map"));
                }
                if lru && flags & BPF_F_NO_PREALLOC != 0 {
                    return Err(MapError::KernelNotSupported(
                        "LRU maps are always preallocated",
                    ));
                }
                if flags & BPF_F_NUMA_NODE != 0
                    && (ty.is_percpu() || flags & BPF_F_NO_COMMON_LRU != 0)
                {
                    return Err(MapError::Invalid("per-CPU hash cannot be NUMA-bound"));
                }
                if ty == MapType::HashOfMaps && vs != 4 {
                    return Err(MapError::Invalid("hash of maps value_size must be 4"));
                }
                if max == 0 || ks == 0 || vs == 0 {
                    return Err(MapError::Invalid(
                        "hash needs key_size, value_size and max_entries > 0",
                    ));
                }
                if u64::from(ks) + u64::from(vs) >= KMALLOC_MAX_SIZE - HTAB_ELEM_SIZE {
                    return Err(MapError::TooBig("key_size + value_size"));
                }
                if ty.is_percpu() && round8(vs) > PCPU_MIN_UNIT_SIZE {
                    return Err(MapError::TooBig("per-CPU value_size above 32 KiB"));
                }
                if ty == MapType::HashOfMaps {
                    self.validate_inner()?;
                }
                let mut effective = max;
                if lru && flags & BPF_F_NO_COMMON_LRU != 0 {
                    // Every CPU's LRU list gets the same number of elements.
                    let n = u64::from(nr_cpus.max(1));
                    let up = u64::from(max).div_ceil(n) * n;
                    effective = u32::try_from(up).unwrap_or(max / nr_cpus.max(1) * nr_cpus.max(1));
                }
                if u64::from(effective).next_power_of_two() > 1 << 28 {
                    return Err(MapError::TooBig("too many hash buckets"));
                }
                Ok(effective)
            }
            MapType::LpmTrie => {
                let mask = BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK;
                if max == 0
                    || flags & BPF_F_NO_PREALLOC == 0
                    || unknown_flags(mask)
                    || !(4 + 1..=4 + 256).contains(&ks)
                    || vs == 0
                    || u64::from(vs) > KMALLOC_MAX_SIZE - 256 - 48
                {
                    return Err(MapError::Invalid(
                        "lpm_trie needs BPF_F_NO_PREALLOC, key_size 5..=260, value_size > 0",
                    ));
                }
                Ok(max)
            }
            MapType::Queue | MapType::Stack => {
                if max == 0
                    || ks != 0
                    || vs == 0
                    || unknown_flags(BPF_F_NUMA_NODE | BPF_F_ACCESS_MASK)
                {
                    return Err(MapError::Invalid(
                        "queue/stack needs key_size 0, value_size > 0",
                    ));
                }
                if u64::from(vs) > KMALLOC_MAX_SIZE {
                    return Err(MapError::TooBig("value_size"));
                }
                Ok(max)
            }
            MapType::BloomFilter => {
                let mask = BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | BPF_F_ACCESS_MASK;
                if ks != 0
                    || vs == 0
                    || max == 0
                    || unknown_flags(mask)
                    || self.map_extra & !0xf != 0
                {
                    return Err(MapError::Invalid(
                        "bloom filter needs key_size 0, value_size > 0, map_extra <= 15",
                    ));
                }
                if u64::from(vs) > KMALLOC_MAX_SIZE {
                    return Err(MapError::TooBig("value_size"));
                }
                Ok(max)
            }
            MapType::Ringbuf => {
                if flags & !BPF_F_NUMA_NODE != 0 {
                    return Err(MapError::Invalid("unknown ring buffer flags"));
                }
                if ks != 0
                    || vs != 0
                    || !max.is_power_of_two()
                    || !(max as usize).is_multiple_of(crate::mem::page_size())
                {
                    return Err(MapError::Invalid(
                        "ring buffer needs key/value size 0 and a page-aligned power-of-two size",
                    ));
                }
                Ok(max)
            }
            MapType::Devmap | MapType::DevmapHash => {
                if max == 0
                    || ks != 4
                    || (vs != 4 && vs != 8)
                    || flags & !(BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY) != 0
                {
                    return Err(MapError::Invalid(
                        "devmap needs key_size 4, value_size 4 or 8",
                    ));
                }
                if ty == MapType::DevmapHash && u64::from(max).next_power_of_two() > 1 << 31 {
                    return Err(MapError::TooBig("too many devmap buckets"));
                }
                Ok(max)
            }
            MapType::Cpumap => {
                if max == 0 || ks != 4 || (vs != 4 && vs != 8) || flags & !BPF_F_NUMA_NODE != 0 {
                    return Err(MapError::Invalid(
                        "cpumap needs key_size 4, value_size 4 or 8",
                    ));
                }
                if max > NR_CPUS {
                    return Err(MapError::TooBig("cpumap larger than NR_CPUS"));
                }
                Ok(max)
            }
            MapType::Xskmap => {
                if max == 0
                    || ks != 4
                    || vs != 4
                    || flags & !(BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY) != 0
                {
                    return Err(MapError::Invalid("xskmap needs key_size 4, value_size 4"));
                }
                Ok(max)
            }
            MapType::StackTrace => {
                let mask = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_STACK_BUILD_ID;
                if flags & !mask != 0 || max == 0 || ks != 4 || vs < 8 || vs % 8 != 0 {
                    return Err(MapError::Invalid(
                        "stack_trace needs key_size 4 and value_size a multiple of 8",
                    ));
                }
                let frames = if flags & BPF_F_STACK_BUILD_ID != 0 {
                    if vs % STACK_BUILD_ID_SIZE != 0 {
                        return Err(MapError::Invalid(
                            "build-id stack_trace value_size must be a multiple of 32",
                        ));
                    }
                    vs / STACK_BUILD_ID_SIZE
                } else {
                    vs / 8
                };
                if frames > PERF_MAX_STACK_DEPTH {
                    return Err(MapError::Invalid(
                        "stack_trace value holds more frames than perf_event_max_stack",
                    ));
                }
                if max > 1 << 31 {
                    return Err(MapError::TooBig("stack_trace max_entries above 2^31"));
                }
                Ok(max)
            }
            MapType::Sockmap | MapType::Sockhash => {
                let mask = BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY;
                let key_ok = if ty == MapType::Sockmap {
                    ks == 4
                } else {
                    ks != 0
                };
                if max == 0 || !key_ok || (vs != 4 && vs != 8) || flags & !mask != 0 {
                    return Err(MapError::Invalid(
                        "socket map needs a key, value_size 4 or 8, max_entries > 0",
                    ));
                }
                if ty == MapType::Sockhash {
                    if ks > MAX_BPF_STACK {
                        return Err(MapError::TooBig("sockhash key above 512 bytes"));
                    }
                    // Buckets are 16 bytes and their array is sized in a u32.
                    if u64::from(max).next_power_of_two() > u64::from(u32::MAX / 16) {
                        return Err(MapError::Invalid("too many sockhash buckets"));
                    }
                }
                Ok(max)
            }
            MapType::TaskStorage | MapType::SkStorage | MapType::CgrpStorage => {
                // `bpf_local_storage_map_alloc_check`; the BTF key and value
                // types it also demands are the loader's to give.
                if flags & !(BPF_F_NO_PREALLOC | BPF_F_CLONE) != 0
                    || flags & BPF_F_NO_PREALLOC == 0
                    || max != 0
                    || ks != 4
                    || vs == 0
                {
                    return Err(MapError::Invalid(
                        "local storage needs BPF_F_NO_PREALLOC, key_size 4, value_size > 0, max_entries 0",
                    ));
                }
                if vs > crate::local_storage::MAX_VALUE_SIZE {
                    return Err(MapError::TooBig("local storage value_size"));
                }
                Ok(0)
            }
            MapType::Unspec => Err(MapError::Invalid("map type 0 (unspec)")),
            _ => Err(MapError::NotSupported("map type not implemented by apiary")),
        }
    }

    fn validate_inner(&self) -> Result<()> {
        let inner = self.inner.as_deref().ok_or(MapError::BadFd)?;
        let inner_ty = inner.kind()?;
        if matches!(inner_ty, MapType::ArrayOfMaps | MapType::HashOfMaps) {
            return Err(MapError::Invalid("more than one level of map-in-map"));
        }
        Ok(())
    }
}

/// Rounds a size up to a multiple of 8, as the kernel pads values.
pub(crate) fn round8(n: u32) -> u64 {
    u64::from(n).div_ceil(8) * 8
}

/// The kernel's `bpf_obj_name_cpy` rules: up to 15 bytes of `[A-Za-z0-9_.]`.
fn validate_name(name: &str) -> Result<()> {
    if name.len() >= 16 {
        return Err(MapError::Invalid("map name longer than 15 bytes"));
    }
    if name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        Ok(())
    } else {
        Err(MapError::Invalid(
            "map name has a character outside [A-Za-z0-9_.]",
        ))
    }
}
