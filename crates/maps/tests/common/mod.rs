//! A minimal raw `bpf()` client so scenarios can run on the real kernel and
//! on apiary's maps side by side. Tests skip loudly when `bpf()` is unusable.

#![allow(dead_code)] // each test binary uses a different subset

use apiary_maps::{Map, MapDef, MapError};

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_MAP_LOOKUP_AND_DELETE_ELEM: libc::c_long = 21;

#[repr(C)]
#[derive(Default)]
struct CreateAttr {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
    map_ifindex: u32,
    btf_fd: u32,
    btf_key_type_id: u32,
    btf_value_type_id: u32,
    btf_vmlinux_value_type_id: u32,
    map_extra: u64,
    pad: [u64; 8],
}

#[repr(C)]
#[derive(Default)]
struct ElemAttr {
    map_fd: u32,
    pad0: u32,
    key: u64,
    value_or_next: u64,
    flags: u64,
    pad: [u64; 8],
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<i64, i32> {
    // SAFETY: attr is a properly sized, initialised bpf_attr prefix.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, size_of::<T>()) };
    if r < 0 {
        Err(-std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(r)
    }
}

/// A kernel map, closed on drop.
pub struct KernelMap {
    pub fd: i32,
    key_size: usize,
    value_size: usize,
}

impl Drop for KernelMap {
    fn drop(&mut self) {
        // SAFETY: closing our own fd.
        unsafe { libc::close(self.fd) };
    }
}

/// Creates a kernel map from `def` (no inner map, no BTF); the errno on failure.
pub fn kernel_create(def: &MapDef) -> Result<KernelMap, i32> {
    let mut attr = CreateAttr {
        map_type: def.map_type,
        key_size: def.key_size,
        value_size: def.value_size,
        max_entries: def.max_entries,
        map_flags: def.map_flags,
        map_extra: def.map_extra,
        ..CreateAttr::default()
    };
    let n = def.name.len().min(16);
    attr.map_name[..n].copy_from_slice(&def.name.as_bytes()[..n]);
    let fd = bpf(BPF_MAP_CREATE, &mut attr)? as i32;
    let value_size = if def.kind().map(|t| t.is_percpu()).unwrap_or(false) {
        def.value_size.div_ceil(8) as usize * 8 * possible_cpus() as usize
    } else {
        def.value_size as usize
    };
    Ok(KernelMap {
        fd,
        key_size: def.key_size as usize,
        value_size,
    })
}

fn ptr(b: &[u8]) -> u64 {
    if b.is_empty() { 0 } else { b.as_ptr() as u64 }
}

impl KernelMap {
    fn elem(
        &self,
        cmd: libc::c_long,
        key: Option<&[u8]>,
        out: &mut [u8],
        flags: u64,
    ) -> Result<(), i32> {
        let mut attr = ElemAttr {
            map_fd: self.fd as u32,
            key: key.map_or(0, ptr),
            value_or_next: if out.is_empty() {
                0
            } else {
                out.as_mut_ptr() as u64
            },
            flags,
            ..ElemAttr::default()
        };
        bpf(cmd, &mut attr).map(|_| ())
    }

    pub fn lookup(&self, key: &[u8], flags: u64) -> Result<Vec<u8>, i32> {
        let mut out = vec![0u8; self.value_size];
        self.elem(BPF_MAP_LOOKUP_ELEM, Some(key), &mut out, flags)?;
        Ok(out)
    }

    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), i32> {
        let mut attr = ElemAttr {
            map_fd: self.fd as u32,
            key: ptr(key),
            value_or_next: ptr(value),
            flags,
            ..ElemAttr::default()
        };
        bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(|_| ())
    }

    pub fn delete(&self, key: &[u8]) -> Result<(), i32> {
        self.elem(BPF_MAP_DELETE_ELEM, Some(key), &mut [], 0)
    }

    pub fn next_key(&self, key: Option<&[u8]>) -> Result<Vec<u8>, i32> {
        let mut out = vec![0u8; self.key_size];
        self.elem(BPF_MAP_GET_NEXT_KEY, key, &mut out, 0)?;
        Ok(out)
    }

    pub fn lookup_and_delete(&self, key: &[u8], flags: u64) -> Result<Vec<u8>, i32> {
        let mut out = vec![0u8; self.value_size];
        self.elem(BPF_MAP_LOOKUP_AND_DELETE_ELEM, Some(key), &mut out, flags)?;
        Ok(out)
    }
}

/// Number of possible CPUs, as the kernel sizes per-CPU values.
pub fn possible_cpus() -> u32 {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap_or_default();
    text.trim()
        .split(',')
        .filter_map(|part| {
            let mut it = part.split('-');
            let a: u32 = it.next()?.parse().ok()?;
            let b: u32 = it.next().map_or(Some(a), |b| b.parse().ok())?;
            Some(b - a + 1)
        })
        .sum::<u32>()
        .max(1)
}

/// Whether the kernel's `bpf()` works here; skips `test` when not.
pub fn kernel_available(test: &str) -> bool {
    let def = MapDef::new(apiary_maps::MapType::Array, 4, 4, 1);
    match kernel_create(&def) {
        Ok(_) => true,
        Err(e) => apiary_testskip::missing(
            test,
            format!("bpf(BPF_MAP_CREATE) failed with errno {e} (need root/CAP_BPF)"),
        ),
    }
}

/// Pins the calling thread to CPU 0 so LRU behaviour is deterministic.
pub fn pin_cpu0() {
    // SAFETY: a zeroed cpu_set_t with bit 0 set is a valid mask for this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

/// One host operation of a replayable scenario.
#[derive(Debug, Clone)]
pub enum Op {
    Update(Vec<u8>, Vec<u8>, u64),
    Lookup(Vec<u8>, u64),
    Delete(Vec<u8>),
    NextKey(Option<Vec<u8>>),
    LookupAndDelete(Vec<u8>, u64),
}

/// The observable result of an [`Op`]: bytes or a negative errno.
pub type Outcome = Result<Vec<u8>, i32>;

fn ours(r: Result<Vec<u8>, MapError>) -> Outcome {
    r.map_err(|e| e.errno())
}

/// Runs `op` on apiary's map.
pub fn run_ours(map: &Map, op: &Op) -> Outcome {
    match op {
        Op::Update(k, v, f) => ours(map.sys_update(k, v, *f).map(|()| Vec::new())),
        Op::Lookup(k, f) => ours(map.sys_lookup(k, *f)),
        Op::Delete(k) => ours(map.sys_delete(k).map(|()| Vec::new())),
        Op::NextKey(k) => ours(map.sys_get_next_key(k.as_deref())),
        Op::LookupAndDelete(k, f) => ours(map.sys_lookup_and_delete(k, *f)),
    }
}

/// Runs `op` on a kernel map.
pub fn run_kernel(map: &KernelMap, op: &Op) -> Outcome {
    match op {
        Op::Update(k, v, f) => map.update(k, v, *f).map(|()| Vec::new()),
        Op::Lookup(k, f) => map.lookup(k, *f),
        Op::Delete(k) => map.delete(k).map(|()| Vec::new()),
        Op::NextKey(k) => map.next_key(k.as_deref()),
        Op::LookupAndDelete(k, f) => map.lookup_and_delete(k, *f),
    }
}

/// Replays `ops` on a fresh kernel map and a fresh apiary map built from
/// `def`, asserting identical outcomes step by step. Returns false (after
/// skipping `name`) when the kernel is unavailable.
pub fn replay(name: &str, def: &MapDef, ops: &[Op]) -> bool {
    if !kernel_available(name) {
        return false;
    }
    let kernel =
        kernel_create(def).unwrap_or_else(|e| panic!("{name}: kernel refused the map: {e}"));
    let ours_map = Map::create(def.clone(), possible_cpus())
        .unwrap_or_else(|e| panic!("{name}: we refused the map: {e}"));
    for (i, op) in ops.iter().enumerate() {
        let k = run_kernel(&kernel, op);
        let o = run_ours(&ours_map, op);
        assert_eq!(o, k, "{name}: step {i} {op:?}: apiary vs kernel");
    }
    // Full iteration must agree too.
    let mut key: Option<Vec<u8>> = None;
    for _ in 0..=def.max_entries.saturating_add(2) {
        let op = Op::NextKey(key.clone());
        let k = run_kernel(&kernel, &op);
        assert_eq!(
            run_ours(&ours_map, &op),
            k,
            "{name}: final iteration after {key:?}"
        );
        match k {
            Ok(next) => key = Some(next),
            Err(_) => break,
        }
    }
    true
}

/// Creates each definition in the kernel and in apiary and asserts the
/// same outcome (success, or the same errno).
pub fn assert_creation_matches_kernel(cases: &[MapDef]) {
    for def in cases {
        let kernel = kernel_create(def).map(|_| ());
        let ours = Map::create(def.clone(), possible_cpus())
            .map(|_| ())
            .map_err(|e| e.errno());
        assert_eq!(ours, kernel, "create {def:?}");
    }
}
