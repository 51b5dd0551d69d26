//! `apiary-runtime`: turns loaded programs with map references into
//! runnable ones with the kernel's helper functions, over Apiary's maps,
//! and runs them as `BPF_PROG_TEST_RUN` does.
//!
//! It owns map creation from [`apiary_loader::MapSpec`]s, the rewriting of
//! `BPF_PSEUDO_MAP_IDX[_VALUE]` loads into map handles and global-data
//! addresses, the helper implementations by the kernel's ids with their
//! prototypes ([`helper_protos`]) including the packet helpers (skb and
//! XDP byte access, checksums, VLAN tags, room changes, redirects,
//! `bpf_fib_lookup` over [`Runtime::set_routes`]), tail calls through
//! program arrays, the packet buffer and internal context of networking
//! programs, [`Runtime::test_run`] per program type, live XDP frames from a
//! real interface ([`Runtime::run_xdp_frame`]), and the output
//! helpers leave for the embedder (`bpf_trace_printk` lines, signals,
//! redirects). Helpers over kernel state Apiary does not have (stacks,
//! sockets) answer as the kernel does when that state is absent; the run's
//! task is the one task-taking helpers and task storage know (named by the
//! pointer `bpf_get_current_task_btf` returns), and a `cgroup_sock` run's
//! context the one socket socket storage knows; sysctl
//! and iterator helpers work on the context images [`SysctlContext`] and
//! [`SeqFile`] describe. The kfuncs it provides (the numeric open-coded
//! iterator, `bpf_iter_num_*`) are called through helper slots of their
//! own: a program loaded from a [`ProgramSpec`] has each kfunc call, named
//! by the loader's record of its extern, rewritten to its slot.
//!
//! It must not parse ELF (that is `apiary-loader`), reimplement map types
//! (`apiary-maps`), decide which context accesses a program type may make
//! (`apiary-context`, which it calls at load) or reach into the
//! interpreter (`apiary-vm`): it talks to them through their public APIs
//! only.

mod csum;
mod error;
mod faults;
mod fib;
mod helpers;
mod helpers_local_storage;
mod helpers_sock;
mod helpers_sysctl;
mod helpers_trace;
mod kfuncs;
mod live;
mod packet;
mod printf;
mod skb_helpers;
mod skb_meta;
mod task;
mod testrun;
mod tunnel;
mod xdp_helpers;

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use apiary_coreloc::POISON_HELPER_ID;
use apiary_isa::{Insn, LdImm64Kind, RawInsn, decode_program};
use apiary_kernel::types::{AttachType, ProgType};
use apiary_loader::{BPF_F_RDONLY_PROG, MapSpec, ProgramSpec};
use apiary_maps::{Map, MapDef, RedirectTarget};
use apiary_vm::{
    ArrayLookup, DirectCommits, DirectLookup, DirectReserve, Helpers, MapLookup, Program, Region,
    RegionKind, RunError, RunInput, Runner,
};

pub use apiary_verifier::helpers::{ArgKind, HelperProto, RetKind, helper_proto, helper_protos};
pub use error::RuntimeError;
pub use fib::{Route, RouteKind};
pub use helpers::{helper_implemented, helper_name};
pub use helpers_sysctl::{
    BPF_F_SYSCTL_BASE_NAME, SYSCTL_NAME_MAX, SYSCTL_VALUE_MAX, SysctlContext, SysctlError,
    SysctlOutcome,
};
pub use helpers_trace::{
    BPF_F_FAST_STACK_CMP, BPF_F_REUSE_STACKID, BPF_F_SKIP_FIELD_MASK, BPF_F_USER_BUILD_ID,
    BPF_F_USER_STACK, SeqFile,
};
pub use live::{LiveVerdict, LiveXdp, RxQueue};
pub use task::TaskInfo;
pub use testrun::{
    BPF_F_TEST_RUN_ON_CPU, BPF_F_TEST_SKB_CHECKSUM_COMPLETE, BPF_F_TEST_XDP_LIVE_FRAMES,
    TEST_OBJECTS_BASE, TestRunError, TestRunInput, TestRunOutput, TraceLine,
};

/// Map handles are this tag ORed with the map's id: a kernel-half address,
/// never mapped in a user-space process, so a program cannot dereference one.
pub const MAP_HANDLE_TAG: u64 = 0xffff_a000_0000_0000;

/// A global-data value programs address directly (`.data`, `.bss`,
/// `.rodata`, ...): accessible in every run, named by its map in faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DataRegion {
    addr: usize,
    len: usize,
    writable: bool,
    map: MapId,
}

/// A map's id in a [`Runtime`]: 1 for the first map, as kernel ids (0 is
/// no map, which map-in-map slots rely on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapId(pub u32);

impl MapId {
    fn index(self) -> Option<usize> {
        (self.0 as usize).checked_sub(1)
    }

    /// The value a program holds for this map (what `lddw rX, map` loads).
    pub fn handle(self) -> u64 {
        MAP_HANDLE_TAG | u64::from(self.0)
    }
}

/// A program's id in a [`Runtime`]; the value stored in program arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProgId(pub u32);

/// What [`Runtime::load_object`] made of an object.
#[derive(Debug)]
pub struct LoadedObject {
    /// Map ids in [`apiary_loader::Object::maps`] order.
    pub maps: Vec<MapId>,
    /// Each program's name and load result.
    pub programs: Vec<(String, Result<ProgId, RuntimeError>)>,
}

impl LoadedObject {
    /// The id of the program named `name`, if it loaded.
    pub fn program(&self, name: &str) -> Option<ProgId> {
        self.programs
            .iter()
            .find_map(|(n, r)| r.as_ref().ok().filter(|_| n == name).copied())
    }
}

/// Something a helper asked the host to do, recorded in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `bpf_send_signal(sig)` to the current task.
    Signal {
        /// Signal number.
        sig: u32,
        /// The current task's tgid.
        tgid: u32,
    },
    /// `bpf_redirect(ifindex, flags)`.
    Redirect {
        /// Target interface.
        ifindex: u32,
        /// Flags (`BPF_F_INGRESS`).
        flags: u64,
    },
    /// `bpf_clone_redirect(skb, ifindex, flags)`: a copy of the packet
    /// (from the MAC header) sent to a device.
    CloneRedirect {
        /// Target interface.
        ifindex: u32,
        /// Flags (`BPF_F_INGRESS`).
        flags: u64,
        /// The packet as it was at the call.
        packet: Vec<u8>,
    },
    /// An XDP program returned `XDP_TX`: the frame goes back out of the
    /// device it came in on.
    XdpTx {
        /// The ingress device.
        ifindex: u32,
    },
    /// `bpf_redirect_map` found a target.
    RedirectMap {
        /// The map.
        map: MapId,
        /// Key looked up.
        key: u32,
        /// What the map held.
        target: RedirectTarget,
    },
}

struct MapEntry {
    map: Arc<Map>,
    name: String,
    read_only: bool,
}

struct LoadedProgram {
    name: String,
    prog_type: ProgType,
    program: Arc<Program<Env>>,
    /// One past the last context byte the program touches.
    max_ctx_offset: u32,
}

#[derive(Default)]
struct Output {
    trace: Vec<u8>,
    events: Vec<Event>,
}

/// Maps, programs and the helper table, shared by every runner thread.
pub struct Runtime {
    nr_cpus: u32,
    maps: RwLock<Vec<MapEntry>>,
    programs: RwLock<Vec<LoadedProgram>>,
    /// Global-data values programs address directly, and the whole of the
    /// arrays loaded programs use (their values may be found by compiled
    /// code, `Runtime::map_lookups`): given to every run.
    data_regions: RwLock<Vec<DataRegion>>,
    helpers: Arc<Helpers<Env>>,
    output: Mutex<Output>,
    prandom: std::sync::atomic::AtomicU64,
    /// The last socket cookie handed out (`sock_gen_cookie`'s counter).
    socket_cookies: std::sync::atomic::AtomicU64,
    /// The routes `bpf_fib_lookup` searches.
    routes: RwLock<Vec<Route>>,
    /// An XDP test-run's frame kept for the next one: a capture replayed
    /// through test-run would otherwise allocate and zero a page and a
    /// context per packet, more than a short program's run costs.
    spare_xdp_frame: Mutex<Option<Box<packet::Packet>>>,
    /// An skb test-run's packet kept for the next one, for the same reason
    /// (its frame is six pages).
    spare_skb_frame: Mutex<Option<Box<packet::Packet>>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("nr_cpus", &self.nr_cpus)
            .finish_non_exhaustive()
    }
}

/// Per-run state helpers see: the runtime, the CPU, the task, and what the
/// run reserved.
pub struct Env {
    runtime: Arc<Runtime>,
    cpu: u32,
    task: Arc<TaskInfo>,
    prog_type: ProgType,
    /// Ring buffer samples reserved and not yet submitted: address and map.
    reserved: Vec<(usize, Arc<Map>)>,
    /// `bpf_spin_lock`s this run holds: address and map. The verifier
    /// refuses a program that exits holding one or takes one twice; an
    /// unverified run that does is stopped (twice) or has its locks
    /// released when it ends, so that no later run waits forever.
    locks: Vec<(u64, Arc<Map>)>,
    /// Key buffers `bpf_for_each_map_elem` hands to callbacks; freed with the Env.
    key_buffers: Vec<Box<[std::cell::UnsafeCell<u8>]>>,
    /// The packet of a networking run (test-run of xdp or skb programs).
    packet: Option<Box<packet::Packet>>,
    /// The cookie of the skb's socket, once a program asked for it.
    socket_cookie: Option<u64>,
    /// An `sk_msg` run's whole message: its address and length, which
    /// `bpf_msg_pull_data` offsets count from.
    message: Option<(u64, u32)>,
    /// `bpf_trace_printk` output of this run.
    trace: Vec<TraceLine>,
    /// What helpers asked the host to do in this run.
    events: Vec<Event>,
    /// Maps this env's helpers already resolved, by handle: the runtime's
    /// table is locked once per map and env (a live program's frames keep
    /// them: the table only grows and an entry never changes), not once
    /// per helper call.
    maps_used: Vec<(u64, MapId, Arc<Map>, bool)>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.release_locks();
    }
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("cpu", &self.cpu)
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

/// Most `bpf_trace_printk` lines one run keeps; later ones are dropped, as
/// a full trace ring buffer drops them.
pub const MAX_TRACE_LINES: usize = 1 << 16;
/// Most events one run keeps (each may hold a packet copy); later ones are
/// dropped.
pub const MAX_EVENTS: usize = 4096;

impl Env {
    /// Keeps a `bpf_trace_printk` line, up to [`MAX_TRACE_LINES`].
    pub(crate) fn print(&mut self, line: TraceLine) {
        if self.trace.len() < MAX_TRACE_LINES {
            self.trace.push(line);
        }
    }

    /// Forgets what one run left (output, reservations), so that the env
    /// serves the next run as a fresh one would. The maps resolved stay:
    /// the runtime's table only grows and its entries never change, so
    /// they resolve the same (and one worker per core does not take the
    /// table's lock for every frame).
    #[inline]
    pub(crate) fn clear_run_state(&mut self) {
        self.release_locks();
        self.reserved.clear();
        self.key_buffers.clear();
        self.socket_cookie = None;
        self.trace.clear();
        self.events.clear();
    }

    /// Releases the `bpf_spin_lock`s the run left held (only an unverified
    /// program can).
    #[inline]
    pub(crate) fn release_locks(&mut self) {
        for (addr, map) in self.locks.drain(..) {
            // It was taken through this map: releasing it cannot fail.
            let _ = map.spin_unlock(addr as usize);
        }
    }

    /// Keeps an event, up to [`MAX_EVENTS`].
    pub(crate) fn record(&mut self, event: Event) {
        if self.events.len() < MAX_EVENTS {
            self.events.push(event);
        }
    }
}

fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// The `MapDef` a spec describes.
pub fn map_def(spec: &MapSpec) -> MapDef {
    MapDef {
        map_type: spec.map_type.0,
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries: spec.max_entries,
        map_flags: spec.map_flags,
        inner: spec.inner.as_deref().map(|inner| Box::new(map_def(inner))),
        spin_lock_off: spec.spin_lock_offset,
        map_extra: spec.map_extra,
        name: spec.name.chars().take(15).collect(),
    }
}

/// The `MapDef` libbpf would create for a spec on `nr_cpus` CPUs: a perf
/// event array without `max_entries` gets one entry per CPU, and a ring
/// buffer's size is rounded up to a power-of-2 multiple of the page size
/// (libbpf's `adjust_ringbuf_sz`).
pub fn map_def_for(spec: &MapSpec, nr_cpus: u32) -> MapDef {
    let mut def = map_def(spec);
    let kind = apiary_kernel::types::MapType(def.map_type);
    if kind == apiary_kernel::types::MapType::PERF_EVENT_ARRAY && def.max_entries == 0 {
        def.max_entries = nr_cpus;
    }
    if matches!(
        kind,
        apiary_kernel::types::MapType::RINGBUF | apiary_kernel::types::MapType::USER_RINGBUF
    ) {
        def.max_entries = ringbuf_size(def.max_entries, apiary_maps::page_size() as u32);
    }
    def
}

/// libbpf's `adjust_ringbuf_sz`: the smallest power-of-2 multiple of the
/// page size above `size`, unless `size` already is one (or is 0, or no
/// such multiple fits in a u32).
fn ringbuf_size(size: u32, page: u32) -> u32 {
    if size == 0 || page == 0 || (size.is_multiple_of(page) && (size / page).is_power_of_two()) {
        return size;
    }
    let mut mul: u32 = 1;
    while let Some(bytes) = mul.checked_mul(page) {
        if bytes > size {
            return bytes;
        }
        match mul.checked_mul(2) {
            Some(next) => mul = next,
            None => break,
        }
    }
    size
}

impl Runtime {
    /// An empty runtime for programs running on `nr_cpus` CPUs.
    pub fn new(nr_cpus: u32) -> Arc<Runtime> {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
            | 1;
        Arc::new(Runtime {
            nr_cpus: nr_cpus.max(1),
            maps: RwLock::new(Vec::new()),
            programs: RwLock::new(Vec::new()),
            data_regions: RwLock::new(Vec::new()),
            helpers: Arc::new(helpers::table()),
            output: Mutex::new(Output::default()),
            prandom: std::sync::atomic::AtomicU64::new(seed),
            socket_cookies: std::sync::atomic::AtomicU64::new(0),
            routes: RwLock::new(Vec::new()),
            spare_xdp_frame: Mutex::new(None),
            spare_skb_frame: Mutex::new(None),
        })
    }

    /// Replaces the route table `bpf_fib_lookup` searches (longest prefix
    /// first). Without routes every lookup answers
    /// `BPF_FIB_LKUP_RET_NOT_FWDED`.
    pub fn set_routes(&self, routes: Vec<Route>) {
        *write_lock(&self.routes) = routes;
    }

    /// Number of CPUs runs may claim.
    pub fn nr_cpus(&self) -> u32 {
        self.nr_cpus
    }

    /// Creates a map (`BPF_MAP_CREATE`).
    pub fn create_map(&self, def: MapDef) -> Result<MapId, RuntimeError> {
        let name = def.name.clone();
        let read_only = def.map_flags & BPF_F_RDONLY_PROG != 0;
        let map = Map::create(def, self.nr_cpus).map_err(|source| RuntimeError::Map {
            name: name.clone(),
            source,
        })?;
        let mut maps = write_lock(&self.maps);
        let id = MapId(maps.len() as u32 + 1);
        maps.push(MapEntry {
            map: Arc::new(map),
            name,
            read_only,
        });
        Ok(id)
    }

    /// Creates the map a spec describes, as libbpf would ([`map_def_for`]),
    /// and writes a global-data map's initial contents into its single value.
    pub fn create_map_from_spec(&self, spec: &MapSpec) -> Result<MapId, RuntimeError> {
        let id = self.create_map(map_def_for(spec, self.nr_cpus))?;
        if !spec.initial_data.is_empty() {
            let map = self.map(id).ok_or(RuntimeError::BadMapIndex {
                insn: 0,
                index: u64::from(id.0),
                count: 0,
            })?;
            let mut value = spec.initial_data.clone();
            value.resize(map.value_size(), 0);
            map.sys_update(&0u32.to_ne_bytes(), &value, 0)
                .map_err(|source| RuntimeError::Map {
                    name: spec.name.clone(),
                    source,
                })?;
        }
        Ok(id)
    }

    /// The map with id `id`.
    pub fn map(&self, id: MapId) -> Option<Arc<Map>> {
        read_lock(&self.maps)
            .get(id.index()?)
            .map(|e| Arc::clone(&e.map))
    }

    /// The first map named `name`.
    pub fn map_by_name(&self, name: &str) -> Option<MapId> {
        read_lock(&self.maps)
            .iter()
            .position(|e| e.name == name)
            .map(|i| MapId(i as u32 + 1))
    }

    pub(crate) fn map_of_handle(&self, handle: u64) -> Option<(MapId, Arc<Map>, bool)> {
        if handle & !0xffff_ffff != MAP_HANDLE_TAG {
            return None;
        }
        let id = MapId(handle as u32);
        read_lock(&self.maps)
            .get(id.index()?)
            .map(|e| (id, Arc::clone(&e.map), e.read_only))
    }

    /// Rewrites map references (`maps[i]` is the map a `BPF_PSEUDO_MAP_IDX`
    /// index `i` names), checks every helper call against the helpers
    /// Apiary provides, checks the context accesses against the program
    /// type's rules and rewrites the pointer-field loads
    /// ([`apiary_context::prepare_for`], for the types that crate covers;
    /// others run on their context as given), and prepares the program.
    pub fn load_program(
        &self,
        name: &str,
        prog_type: ProgType,
        insns: &[RawInsn],
        maps: &[MapId],
    ) -> Result<ProgId, RuntimeError> {
        self.load_program_for(name, prog_type, AttachType::default(), insns, maps, &[])
    }

    /// [`Runtime::load_program`] for a program verified with
    /// `expected_attach_type` (xdp devmap/cpumap programs, cgroup hooks),
    /// naming the kernel function each of its kfunc calls calls (the
    /// loader's [`ProgramSpec::kfunc_calls`]).
    pub fn load_program_for(
        &self,
        name: &str,
        prog_type: ProgType,
        expected_attach_type: AttachType,
        insns: &[RawInsn],
        maps: &[MapId],
        kfuncs: &[apiary_loader::KfuncCall],
    ) -> Result<ProgId, RuntimeError> {
        let (mut code, max_ctx_offset) = if apiary_context::is_covered(prog_type) {
            let prepared = apiary_context::prepare_for(prog_type, expected_attach_type, insns)
                .map_err(|source| RuntimeError::Context {
                    name: name.to_owned(),
                    source,
                })?;
            (prepared.insns, prepared.max_ctx_offset)
        } else {
            (insns.to_vec(), 0)
        };
        let decoded = decode_program(insns)?;
        let mut regions = Vec::new();
        for (slot, insn) in decoded.iter().enumerate() {
            match insn {
                Some(Insn::Call(apiary_isa::CallTarget::Helper(POISON_HELPER_ID))) => {
                    // A CO-RE relocation libbpf could not satisfy: the kernel
                    // accepts it on a dead branch, so it fails only if run.
                    let poisoned = Insn::Call(apiary_isa::CallTarget::Helper(
                        helpers::POISONED_CALL as i32,
                    ));
                    if let (Some(target), Some(raw)) =
                        (code.get_mut(slot), poisoned.encode().first())
                    {
                        *target = *raw;
                    }
                }
                Some(Insn::Call(apiary_isa::CallTarget::Kfunc { btf_id, .. })) => {
                    let kfunc = kfuncs.iter().find(|k| k.insn_index == slot);
                    let Some(helper) = kfunc.and_then(|k| kfuncs::slot(&k.name)) else {
                        return Err(RuntimeError::MissingKfunc {
                            insn: slot,
                            name: kfunc.map_or_else(|| format!("#{btf_id}"), |k| k.name.clone()),
                        });
                    };
                    let call = Insn::Call(apiary_isa::CallTarget::Helper(helper as i32));
                    if let (Some(target), Some(raw)) = (code.get_mut(slot), call.encode().first()) {
                        *target = *raw;
                    }
                }
                Some(Insn::Call(apiary_isa::CallTarget::Helper(id)))
                    if !helper_implemented(*id) =>
                {
                    return Err(RuntimeError::MissingHelper {
                        id: *id,
                        name: helper_name(*id).unwrap_or("unknown"),
                    });
                }
                Some(Insn::LoadImm64 { dst, kind, imm }) => {
                    let value = match kind {
                        LdImm64Kind::Imm | LdImm64Kind::Func => continue,
                        LdImm64Kind::MapIdx => self.resolve_map(slot, *imm, maps)?.0.handle(),
                        LdImm64Kind::MapIdxValue => {
                            let region = self.resolve_value(slot, *imm, maps)?;
                            regions.push(region);
                            (region.addr + (*imm >> 32) as usize) as u64
                        }
                        other => {
                            return Err(RuntimeError::UnresolvedLoad {
                                insn: slot,
                                kind: *other,
                            });
                        }
                    };
                    let rewritten = Insn::LoadImm64 {
                        dst: *dst,
                        kind: LdImm64Kind::Imm,
                        imm: value,
                    }
                    .encode();
                    for (offset, raw) in rewritten.into_iter().enumerate() {
                        if let Some(target) = code.get_mut(slot + offset) {
                            *target = raw;
                        }
                    }
                }
                _ => {}
            }
        }
        let mut program = Program::new(&code, Arc::clone(&self.helpers))?;
        let (lookups, arrays) = self.map_lookups(maps);
        program.set_map_lookups(helpers::MAP_LOOKUP_ELEM, lookups);
        // Its packet is the span `LD_ABS` reads (`Packet::ld_abs_region`,
        // moved by `skb_helpers::commit`), and it keeps the input.
        program.set_packet_load_helper(helpers::SKB_LOAD_BYTES);
        program.set_ringbuf_reserves(
            helpers::RINGBUF_RESERVE,
            self.ringbuf_reserves(maps),
            helpers::record_reservation,
        );
        // Its submit and discard commit with the maps' functions, and
        // forget the record (`helpers::release_sample`).
        program.set_ringbuf_commits(DirectCommits {
            submit_id: helpers::RINGBUF_SUBMIT,
            submit: apiary_maps::SUBMIT,
            discard_id: helpers::RINGBUF_DISCARD,
            discard: apiary_maps::DISCARD,
        });
        regions.extend(arrays);
        let mut known = write_lock(&self.data_regions);
        for region in regions {
            if !known.contains(&region) {
                known.push(region);
            }
        }
        drop(known);
        let mut programs = write_lock(&self.programs);
        programs.push(LoadedProgram {
            name: name.to_owned(),
            prog_type,
            program: Arc::new(program),
            max_ctx_offset,
        });
        Ok(ProgId(programs.len() as u32))
    }

    /// What `bpf_map_lookup_elem` does on each of `maps` that is an array
    /// or per-CPU array (see `apiary_vm::array_lookup`), or a hash table or
    /// LPM trie (the map's own search, `apiary_vm::DirectLookup`), and the
    /// whole of those arrays' values, which every run is then given: a
    /// value a compiling tier finds itself is then accessible as one the
    /// helper handed out.
    fn map_lookups(&self, maps: &[MapId]) -> (Vec<Option<MapLookup>>, Vec<DataRegion>) {
        let table = read_lock(&self.maps);
        let mut arrays = Vec::new();
        let lookups = maps
            .iter()
            .map(|&id| {
                let entry = id.index().and_then(|i| table.get(i))?;
                if let Some(search) = entry.map.search() {
                    // The table lies inside the map, which the runtime's
                    // table keeps (it only grows) as long as the program.
                    return Some(MapLookup::Direct(DirectLookup {
                        lookup: search.search,
                        map: search.map,
                        key_size: search.key_size,
                        value_size: search.value_size,
                        writable: !entry.read_only,
                        kind: RegionKind::MapValue(id.0),
                    }));
                }
                let layout = entry.map.array_layout()?;
                arrays.push(DataRegion {
                    addr: layout.base,
                    len: layout.len,
                    writable: !entry.read_only,
                    map: id,
                });
                Some(MapLookup::Array(ArrayLookup {
                    base: layout.base as u64,
                    max_entries: layout.max_entries,
                    elem_stride: layout.elem_stride as u64,
                    cpu_stride: layout.cpu_stride as u64,
                    last_cpu: layout.nr_cpus - 1,
                }))
            })
            .collect();
        (lookups, arrays)
    }

    /// What `bpf_ringbuf_reserve` does on each of `maps` that is a ring
    /// buffer: its reservation, which compiled code may call itself
    /// (`apiary_vm::DirectReserve`), the map's handle as the tag
    /// `helpers::record_reservation` is given.
    fn ringbuf_reserves(&self, maps: &[MapId]) -> Vec<Option<DirectReserve>> {
        let table = read_lock(&self.maps);
        maps.iter()
            .map(|&id| {
                let entry = id.index().and_then(|i| table.get(i))?;
                // The ring lies inside the map, which the runtime's table
                // keeps (it only grows) as long as the program.
                let reserve = entry.map.reserve()?;
                Some(DirectReserve {
                    reserve: reserve.reserve,
                    ring: reserve.ring,
                    tag: id.handle(),
                })
            })
            .collect()
    }

    fn resolve_map(
        &self,
        slot: usize,
        imm: u64,
        maps: &[MapId],
    ) -> Result<(MapId, Arc<Map>, String, bool), RuntimeError> {
        let index = imm & 0xffff_ffff;
        let bad = RuntimeError::BadMapIndex {
            insn: slot,
            index,
            count: maps.len(),
        };
        let id = *usize::try_from(index)
            .ok()
            .and_then(|i| maps.get(i))
            .ok_or(bad)?;
        let table = read_lock(&self.maps);
        let entry = id
            .index()
            .and_then(|i| table.get(i))
            .ok_or(RuntimeError::BadMapIndex {
                insn: slot,
                index,
                count: maps.len(),
            })?;
        Ok((
            id,
            Arc::clone(&entry.map),
            entry.name.clone(),
            entry.read_only,
        ))
    }

    fn resolve_value(
        &self,
        slot: usize,
        imm: u64,
        maps: &[MapId],
    ) -> Result<DataRegion, RuntimeError> {
        let (id, map, name, read_only) = self.resolve_map(slot, imm, maps)?;
        let offset = (imm >> 32) as u32;
        let value = map
            .mmap_region()
            .filter(|_| map.max_entries() == 1)
            .or_else(|| {
                (map.map_type() == apiary_maps::MapType::Array && !map.map_type().is_percpu())
                    .then(|| map.lookup(&0u32.to_ne_bytes(), 0).ok().flatten())
                    .flatten()
            })
            .ok_or(RuntimeError::NotAddressable {
                insn: slot,
                map: name.clone(),
            })?;
        if offset as usize >= value.len() {
            return Err(RuntimeError::BadValueOffset {
                insn: slot,
                offset,
                value_size: value.len(),
                map: name,
            });
        }
        Ok(DataRegion {
            addr: value.addr(),
            len: value.len(),
            writable: !read_only,
            map: id,
        })
    }

    /// Loads a loader program spec whose map indices refer to `object_maps`
    /// (the ids of the object's maps, in [`apiary_loader::Object::maps`] order).
    pub fn load_spec(
        &self,
        spec: &ProgramSpec,
        object_maps: &[MapId],
    ) -> Result<ProgId, RuntimeError> {
        self.load_program_for(
            &spec.name,
            spec.prog_type,
            spec.expected_attach_type.unwrap_or_default(),
            &spec.insns,
            object_maps,
            &spec.kfunc_calls,
        )
    }

    /// Creates every map of a loaded object, loads each of its programs
    /// the loader produced (each with its own result: one program's
    /// missing helper does not stop the others) and fills program arrays'
    /// initial slots with the programs they name.
    pub fn load_object(
        &self,
        object: &apiary_loader::Object,
    ) -> Result<LoadedObject, RuntimeError> {
        let maps = object
            .maps
            .iter()
            .map(|spec| self.create_map_from_spec(spec))
            .collect::<Result<Vec<_>, _>>()?;
        let programs: Vec<(String, Result<ProgId, RuntimeError>)> = object
            .programs
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .map(|spec| (spec.name.clone(), self.load_spec(spec, &maps)))
            .collect();
        for (spec, &map) in object.maps.iter().zip(&maps) {
            for slot in &spec.initial_slots {
                match &slot.target {
                    apiary_loader::InitialSlotTarget::Program(name) => {
                        let target = programs
                            .iter()
                            .find_map(|(n, r)| r.as_ref().ok().filter(|_| n == name))
                            .ok_or_else(|| RuntimeError::MissingTailCallTarget {
                                map: spec.name.clone(),
                                index: slot.index,
                                program: name.clone(),
                            })?;
                        self.set_tail_call(map, slot.index, *target)?;
                    }
                    // `values[] = { [i] = &inner }` of a map of maps: slot
                    // `i` holds the inner map, as libbpf fills it at load.
                    apiary_loader::InitialSlotTarget::Map(index) => {
                        let inner = maps.get(*index).ok_or(RuntimeError::BadMapIndex {
                            insn: 0,
                            index: *index as u64,
                            count: maps.len(),
                        })?;
                        self.set_inner_map(map, slot.index, *inner)?;
                    }
                }
            }
        }
        Ok(LoadedObject { maps, programs })
    }

    /// The program with id `id`.
    pub fn program(&self, id: ProgId) -> Option<Arc<Program<Env>>> {
        let index = (id.0 as usize).checked_sub(1)?;
        read_lock(&self.programs)
            .get(index)
            .map(|p| Arc::clone(&p.program))
    }

    /// The first program named `name`.
    pub fn program_by_name(&self, name: &str) -> Option<ProgId> {
        read_lock(&self.programs)
            .iter()
            .position(|p| p.name == name)
            .map(|i| ProgId(i as u32 + 1))
    }

    fn program_type(&self, id: ProgId) -> ProgType {
        let index = (id.0 as usize).wrapping_sub(1);
        read_lock(&self.programs)
            .get(index)
            .map_or(ProgType::UNSPEC, |p| p.prog_type)
    }

    /// One past the last context byte program `id` touches (the kernel's
    /// `max_ctx_offset`).
    fn max_ctx_offset(&self, id: ProgId) -> u32 {
        let index = (id.0 as usize).wrapping_sub(1);
        read_lock(&self.programs)
            .get(index)
            .map_or(0, |p| p.max_ctx_offset)
    }

    /// Puts program `prog` in slot `index` of program array `map`.
    pub fn set_tail_call(&self, map: MapId, index: u32, prog: ProgId) -> Result<(), RuntimeError> {
        let entry = self.map(map).ok_or(RuntimeError::BadMapIndex {
            insn: 0,
            index: u64::from(map.0),
            count: 0,
        })?;
        entry
            .sys_update(&index.to_ne_bytes(), &prog.0.to_ne_bytes(), 0)
            .map_err(|source| RuntimeError::Map {
                name: format!("map #{}", map.0),
                source,
            })
    }

    /// Puts inner map `inner` in slot `index` of the map of maps `outer`.
    pub fn set_inner_map(
        &self,
        outer: MapId,
        index: u32,
        inner: MapId,
    ) -> Result<(), RuntimeError> {
        let entry = self.map(outer).ok_or(RuntimeError::BadMapIndex {
            insn: 0,
            index: u64::from(outer.0),
            count: 0,
        })?;
        entry
            .sys_update(&index.to_ne_bytes(), &inner.0.to_ne_bytes(), 0)
            .map_err(|source| RuntimeError::Map {
                name: entry.def().name.clone(),
                source,
            })
    }

    /// Runs program `prog` on `cpu` with `r1` = the address of `ctx` (0
    /// when empty), `ctx` writable, every global-data value and every array programs use accessible.
    /// Its `bpf_trace_printk` text and events go to [`Runtime::take_trace`]
    /// and [`Runtime::take_events`].
    ///
    /// `ctx` is plain memory: xdp and skb programs, whose pointer-field
    /// loads were rewritten at load time, need the packet and internal
    /// context [`Runtime::test_run`] builds, and their packet helpers fail
    /// here.
    pub fn run(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        ctx: &mut [u8],
        cpu: u32,
        task: &TaskInfo,
    ) -> Result<u64, RunError> {
        let program = self.program(prog).ok_or(RunError::BadCallback {
            addr: u64::from(prog.0),
        })?;
        let mut env = self.env(prog, cpu, Arc::new(task.clone()));
        let ctx_len = ctx.len();
        let region = Region::writable(ctx).with_kind(RegionKind::Context);
        let ctx_addr = if ctx_len == 0 { 0 } else { region.addr() };
        let result = self
            .execute(runner, &program, &mut env, ctx_addr, &[region], None)
            .map_err(|error| self.name_fault(error, &env));
        let mut out = self.output.lock().unwrap_or_else(PoisonError::into_inner);
        for line in env.trace.drain(..) {
            out.trace.extend_from_slice(line.text.as_bytes());
        }
        out.events.append(&mut env.events);
        result
    }

    /// The per-run state for program `prog`.
    fn env(self: &Arc<Self>, prog: ProgId, cpu: u32, task: Arc<TaskInfo>) -> Env {
        Env {
            runtime: Arc::clone(self),
            cpu: cpu.min(self.nr_cpus - 1),
            task,
            prog_type: self.program_type(prog),
            reserved: Vec::new(),
            locks: Vec::new(),
            key_buffers: Vec::new(),
            packet: None,
            socket_cookie: None,
            message: None,
            trace: Vec::new(),
            events: Vec::new(),
            maps_used: Vec::new(),
        }
    }

    /// One run of `program` with `r1 = ctx_addr`, the given regions plus
    /// every global-data value and array, and `packet` as the `LD_ABS` span.
    fn execute(
        &self,
        runner: &mut Runner<Env>,
        program: &Program<Env>,
        env: &mut Env,
        ctx_addr: u64,
        given: &[Region<'_>],
        packet: Option<Region<'_>>,
    ) -> Result<u64, RunError> {
        let regions = self.with_data_regions(given.iter().copied());
        let input = RunInput {
            args: [ctx_addr, 0, 0, 0, 0],
            regions: &regions,
            packet,
            headers: None,
        };
        let result = runner.set_cpu(env.cpu).run(program, env, &input);
        env.release_locks();
        result
    }

    /// `given` followed by every global-data value and array programs use (`data_regions`).
    fn with_data_regions<'a>(&self, given: impl Iterator<Item = Region<'a>>) -> Vec<Region<'a>> {
        let data_regions = read_lock(&self.data_regions);
        // One allocation: a test run of a short program on one packet
        // costs less than a second one.
        let given_len = given.size_hint().1.unwrap_or(0);
        let mut regions = Vec::with_capacity(given_len + data_regions.len());
        regions.extend(given);
        for data in data_regions.iter() {
            // SAFETY: the value lives in a map this runtime never drops, and
            // the host only touches it with the maps crate's word-atomic copies.
            let region = unsafe { Region::from_raw(data.addr as *mut u8, data.len, data.writable) };
            regions.push(region.with_kind(RegionKind::MapValue(data.map.0)));
        }
        regions
    }

    /// Takes the text `bpf_trace_printk` produced so far.
    pub fn take_trace(&self) -> String {
        let mut out = self.output.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&std::mem::take(&mut out.trace)).into_owned()
    }

    /// Takes the events helpers recorded so far.
    pub fn take_events(&self) -> Vec<Event> {
        let mut out = self.output.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut out.events)
    }
}

#[cfg(test)]
mod tests {
    use super::ringbuf_size;

    /// libbpf's adjust_ringbuf_sz on 4 KiB pages.
    #[test]
    fn ring_buffer_sizes_round_like_libbpf() {
        assert_eq!(ringbuf_size(0, 4096), 0);
        assert_eq!(ringbuf_size(4096, 4096), 4096);
        assert_eq!(ringbuf_size(16384, 4096), 16384);
        assert_eq!(ringbuf_size(12288, 4096), 16384);
        assert_eq!(ringbuf_size(1, 4096), 4096);
        assert_eq!(ringbuf_size(4097, 4096), 8192);
        assert_eq!(ringbuf_size(u32::MAX - 5, 4096), u32::MAX - 5);
    }
}
