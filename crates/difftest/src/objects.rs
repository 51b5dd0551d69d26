//! The two places a program can run — Apiary's interpreter and the running
//! kernel's `BPF_PROG_TEST_RUN` — behind one request/result shape, and the
//! comparison of two runs (return value, packet, context and every map's
//! contents afterwards).
//!
//! Nothing here prints: the command layer (`apiary prog run --backend`)
//! decides how results and differences are shown.

mod vmrun;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use apiary_kernel::types::{MapType, ProgType};
use apiary_loader::{MapSpec, Object};
use apiary_runtime::{Env, MapId, ProgId, Runtime};
use apiary_vm::Runner;

/// Which implementation runs the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Apiary's interpreter and maps.
    Vm,
    /// The running kernel, through `bpf()`.
    Kernel,
}

impl BackendKind {
    /// The word used in messages: `vm` or `kernel`.
    pub fn label(self) -> &'static str {
        match self {
            BackendKind::Vm => "vm",
            BackendKind::Kernel => "kernel",
        }
    }
}

/// One test run's inputs, as `BPF_PROG_TEST_RUN` takes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunRequest {
    /// The packet (`data_in`).
    pub data_in: Option<Vec<u8>>,
    /// The context (`ctx_in`).
    pub ctx_in: Option<Vec<u8>>,
    /// Room for the packet after the run; `None` asks for no packet back.
    pub data_size_out: Option<u32>,
    /// Room for the context after the run; `None` asks for no context back.
    pub ctx_size_out: Option<u32>,
    /// Number of runs; 0 (not given) counts as 1 and is the only value
    /// raw tracepoint and syscall programs accept.
    pub repeat: u32,
}

/// Where a run sent the packet besides the normal path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// What sent it: `bpf_redirect`, `bpf_redirect_map`,
    /// `bpf_clone_redirect` or the `XDP_TX` verdict.
    pub via: &'static str,
    /// Human-readable target: `ifindex 3`, `map tx_port key 0 -> ifindex 4`.
    pub target: String,
}

/// One test run's outputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunResult {
    /// The program's return value (`r0` truncated to 32 bits, as the kernel reports it).
    pub retval: u32,
    /// Average nanoseconds per run.
    pub duration_ns: u32,
    /// The packet after the run, when asked for and the program type has one.
    pub data_out: Option<Vec<u8>>,
    /// The context after the run, when asked for.
    pub ctx_out: Option<Vec<u8>>,
    /// `bpf_trace_printk` lines, formatted as `trace_pipe` shows them
    /// (the kernel backend leaves its lines in the kernel's trace buffer).
    pub trace: Vec<String>,
    /// Redirect requests the helpers recorded (the vm backend only: the
    /// kernel does not report them through test-run).
    pub redirects: Vec<Redirect>,
}

/// A backend's failure, on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError {
    /// The backend that failed.
    pub backend: BackendKind,
    /// What went wrong.
    pub problem: String,
    /// The interpreter's error when the vm's run stopped with one, so that
    /// callers can tell a spent budget or a fault from refused input.
    pub run_error: Option<Box<apiary_vm::RunError>>,
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.backend.label(), self.problem)
    }
}

impl BackendError {
    fn vm(problem: impl fmt::Display) -> Self {
        BackendError {
            backend: BackendKind::Vm,
            problem: problem.to_string(),
            run_error: None,
        }
    }

    fn kernel(problem: impl fmt::Display) -> Self {
        BackendError {
            backend: BackendKind::Kernel,
            problem: problem.to_string(),
            run_error: None,
        }
    }
}

/// A map's contents after a run, keyed by the raw key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDump {
    /// The loader's name for the map (`counts`, `xdp_stat.bss`).
    pub name: String,
    /// The map's key size, so that keys print at their real width.
    pub key_size: u32,
    /// How values are laid out.
    pub shape: ValueShape,
    /// The entries, or why the map's contents are not comparable.
    pub contents: Result<BTreeMap<Vec<u8>, Vec<u8>>, String>,
}

/// How to read a map's value bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueShape {
    /// One value of this size.
    Single(u32),
    /// One value per possible CPU, each this size padded to 8 bytes.
    PerCpu(u32),
}

/// Why a map type's contents are not compared between backends.
fn not_comparable(map_type: MapType) -> Option<&'static str> {
    match map_type {
        MapType::HASH
        | MapType::ARRAY
        | MapType::PERCPU_HASH
        | MapType::PERCPU_ARRAY
        | MapType::LRU_HASH
        | MapType::LRU_PERCPU_HASH
        | MapType::LPM_TRIE => None,
        MapType::PROG_ARRAY
        | MapType::ARRAY_OF_MAPS
        | MapType::HASH_OF_MAPS
        | MapType::DEVMAP
        | MapType::DEVMAP_HASH
        | MapType::CPUMAP
        | MapType::XSKMAP
        | MapType::SOCKMAP
        | MapType::SOCKHASH
        | MapType::PERF_EVENT_ARRAY
        | MapType::CGROUP_ARRAY => Some("values are object ids, which differ between backends"),
        MapType::QUEUE | MapType::STACK | MapType::RINGBUF | MapType::BLOOM_FILTER => {
            Some("the map has no keys to iterate")
        }
        _ => Some("the map type's contents are not read back"),
    }
}

fn value_shape(spec: &MapSpec) -> ValueShape {
    if spec.map_type.is_per_cpu() {
        ValueShape::PerCpu(spec.value_size)
    } else {
        ValueShape::Single(spec.value_size)
    }
}

/// A map's dump: `read` gives the entries (or why it could not), unless
/// the map's type is not compared at all.
fn dump_map(
    spec: &MapSpec,
    read: impl FnOnce() -> Result<Result<BTreeMap<Vec<u8>, Vec<u8>>, String>, &'static str>,
) -> MapDump {
    let contents = match not_comparable(spec.map_type) {
        Some(reason) => Err(reason.to_owned()),
        None => read().unwrap_or_else(|missing| Err(missing.to_owned())),
    };
    MapDump {
        name: spec.name.clone(),
        key_size: spec.key_size,
        shape: value_shape(spec),
        contents,
    }
}

/// Reads every entry through a `get_next_key`/`lookup` pair, stopping
/// after `max_entries` keys so that a map changing underneath cannot loop.
fn dump_entries<E: fmt::Display>(
    max_entries: u32,
    mut next_key: impl FnMut(Option<&[u8]>) -> Result<Option<Vec<u8>>, E>,
    mut lookup: impl FnMut(&[u8]) -> Result<Option<Vec<u8>>, E>,
) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, String> {
    let mut entries = BTreeMap::new();
    let mut last: Option<Vec<u8>> = None;
    for _ in 0..max_entries {
        let Some(key) = next_key(last.as_deref()).map_err(|e| format!("next key: {e}"))? else {
            break;
        };
        if let Some(value) = lookup(&key).map_err(|e| format!("lookup: {e}"))? {
            entries.insert(key.clone(), value);
        }
        last = Some(key);
    }
    Ok(entries)
}

/// The object's program named `name`, or its only program.
pub fn select_program<'o>(
    object: &'o Object,
    name: Option<&str>,
) -> Result<&'o apiary_loader::ProgramSpec, String> {
    let loaded: Vec<&apiary_loader::ProgramSpec> = object
        .programs
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .collect();
    let listing = || {
        loaded
            .iter()
            .map(|p| format!("{} ({})", p.name, p.section))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(name) = name {
        if let Some(program) = loaded.iter().find(|p| p.name == name) {
            return Ok(program);
        }
        if let Some(Err(error)) = object
            .programs
            .iter()
            .find(|p| p.as_ref().err().is_some_and(|e| e.program() == name))
        {
            return Err(format!("program {name:?} could not be loaded: {error}"));
        }
        return Err(format!(
            "no program named {name:?}; the object has: {}",
            listing()
        ));
    }
    match loaded.as_slice() {
        [only] => Ok(only),
        [] => Err("the object has no loadable program".to_owned()),
        _ => Err(format!(
            "the object has {} programs, choose one with --prog NAME: {}",
            loaded.len(),
            listing()
        )),
    }
}

/// The program running in Apiary's interpreter, with the object's maps.
pub struct VmBackend {
    runtime: Arc<Runtime>,
    runner: Runner<Env>,
    task: Arc<apiary_runtime::TaskInfo>,
    prog: ProgId,
    maps: Vec<(MapSpec, MapId)>,
}

impl fmt::Debug for VmBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VmBackend")
            .field("prog", &self.prog)
            .finish_non_exhaustive()
    }
}

/// How many CPUs per-CPU maps have: the kernel's possible CPUs, so that
/// per-CPU values have the same shape in both backends.
pub fn cpu_count() -> u32 {
    apiary_kernel::possible_cpus()
        .ok()
        .and_then(|n| u32::try_from(n).ok())
        .or_else(|| {
            std::thread::available_parallelism()
                .ok()
                .and_then(|n| u32::try_from(n.get()).ok())
        })
        .unwrap_or(1)
}

/// How [`VmBackend::open_on`] readies each loaded program for a tier, by
/// the program's name (a JIT compiles it, with the verifier's proofs for
/// that program where it has them).
pub type ReadyProgram<'a> = &'a dyn Fn(&str, &apiary_vm::Program<Env>) -> Result<(), String>;

impl VmBackend {
    /// Creates the object's maps and loads program `program` (and the
    /// object's other programs, as tail-call targets) into a new runtime.
    pub fn open(object: &Object, program: &str) -> Result<VmBackend, BackendError> {
        VmBackend::open_on(object, program, None)
    }

    /// [`VmBackend::open`] on the tier `prepare` readies every loaded
    /// program for, given its name (tail-call targets included); `None`:
    /// the interpreter.
    pub fn open_on(
        object: &Object,
        program: &str,
        prepare: Option<ReadyProgram<'_>>,
    ) -> Result<VmBackend, BackendError> {
        let runtime = Runtime::new(cpu_count());
        let loaded = runtime.load_object(object).map_err(BackendError::vm)?;
        if let Some(prepare) = prepare {
            for (name, result) in &loaded.programs {
                if let Some(prog) = result.as_ref().ok().and_then(|id| runtime.program(*id)) {
                    prepare(name, &prog).map_err(BackendError::vm)?;
                }
            }
        }
        let prog = match loaded.programs.iter().find(|(name, _)| name == program) {
            Some((_, Ok(id))) => *id,
            Some((_, Err(error))) => {
                return Err(BackendError::vm(format!("program {program:?}: {error}")));
            }
            None => return Err(BackendError::vm(format!("no program named {program:?}"))),
        };
        let maps = object.maps.iter().cloned().zip(loaded.maps).collect();
        Ok(VmBackend {
            runtime,
            runner: Runner::new(),
            task: Arc::new(apiary_runtime::TaskInfo::current()),
            prog,
            maps,
        })
    }

    /// The runtime holding the object's maps and programs (to run the
    /// program elsewhere, e.g. on live frames).
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// The program's id in [`VmBackend::runtime`].
    pub fn prog(&self) -> ProgId {
        self.prog
    }

    /// The map named `name` (the loader's name).
    pub fn map(&self, name: &str) -> Option<Arc<apiary_maps::Map>> {
        let (_, id) = self.maps.iter().find(|(spec, _)| spec.name == name)?;
        self.runtime.map(*id)
    }

    /// Runs the program once (or `repeat` times) on the request.
    pub fn run(&mut self, request: &RunRequest) -> Result<RunResult, BackendError> {
        vmrun::test_run(self, request)
    }

    /// Limits each run to `budget` executed instructions (`None`: no
    /// limit); the default is [`apiary_vm::DEFAULT_BUDGET`].
    pub fn set_budget(&mut self, budget: Option<u64>) {
        self.runner.set_budget(budget);
    }

    /// What a run needs: the runtime, the runner, the task runs pretend
    /// to happen in (this process) and the program.
    pub(crate) fn parts(
        &mut self,
    ) -> (
        &Arc<Runtime>,
        &mut Runner<Env>,
        &Arc<apiary_runtime::TaskInfo>,
        ProgId,
    ) {
        (&self.runtime, &mut self.runner, &self.task, self.prog)
    }

    /// Every map's contents.
    pub fn dump_maps(&self) -> Vec<MapDump> {
        self.maps
            .iter()
            .map(|(spec, id)| {
                dump_map(spec, || {
                    let map = self.runtime.map(*id).ok_or("the runtime lost the map")?;
                    Ok(vm_map_entries(&map))
                })
            })
            .collect()
    }
}

/// A keyed Apiary map's entries, read as `bpf()` from user space would.
pub fn vm_map_entries(map: &apiary_maps::Map) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, String> {
    dump_entries(
        map.max_entries(),
        |key| match map.sys_get_next_key(key) {
            Ok(next) => Ok(Some(next)),
            Err(apiary_maps::MapError::NotFound) => Ok(None),
            Err(error) => Err(error),
        },
        |key| match map.sys_lookup(key, 0) {
            Ok(value) => Ok(Some(value)),
            Err(apiary_maps::MapError::NotFound) => Ok(None),
            Err(error) => Err(error),
        },
    )
}

/// A kernel map's entries, or why its type's contents are not read back.
pub fn kernel_map_entries(
    spec: &MapSpec,
    map: &apiary_kernel::MapFd,
) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, String> {
    if let Some(reason) = not_comparable(spec.map_type) {
        return Err(reason.to_owned());
    }
    dump_entries(
        spec.max_entries,
        |key| map.next_key(key),
        |key| map.lookup(key, 0),
    )
}

/// The program loaded into the running kernel with the object's maps.
#[derive(Debug)]
pub struct KernelBackend {
    object: apiary_backend::KernelObject,
    program: String,
    prog_type: ProgType,
    maps: Vec<MapSpec>,
}

impl KernelBackend {
    /// Loads the whole object into the kernel (`elf` is the object file's
    /// bytes, which libbpf-style loading needs for data-section layouts).
    /// Without a usable `bpf()` the error says why, on one line.
    pub fn open(object: &Object, elf: &[u8], program: &str) -> Result<KernelBackend, BackendError> {
        apiary_kernel::probe()
            .map_err(|reason| BackendError::kernel(format!("cannot use bpf(): {reason}")))?;
        let options = apiary_backend::LoadOptions {
            elf: Some(elf),
            log_level: 0,
            ..Default::default()
        };
        let loaded = apiary_backend::load_object(object, &options).map_err(BackendError::kernel)?;
        pin_to_cpu_zero();
        if loaded.program(program).is_none() {
            let why = loaded
                .skipped
                .iter()
                .find(|s| s.name == program)
                .map_or_else(|| "it was not loaded".to_owned(), |s| s.reason.clone());
            return Err(BackendError::kernel(format!("program {program:?}: {why}")));
        }
        Ok(KernelBackend {
            object: loaded,
            program: program.to_owned(),
            prog_type: object
                .program(program)
                .map_or(ProgType::UNSPEC, |spec| spec.prog_type),
            maps: object.maps.clone(),
        })
    }

    /// The program, loaded in the kernel (to attach it somewhere).
    pub fn prog(&self) -> Option<&apiary_kernel::ProgFd> {
        self.object.program(&self.program)
    }

    /// The kernel's map named `name` (the loader's name).
    pub fn map(&self, name: &str) -> Option<&apiary_kernel::MapFd> {
        self.object.map(name)
    }

    /// Runs the program with `BPF_PROG_TEST_RUN`, on CPU 0 when opening
    /// could pin the process there (the CPU the vm backend claims, so that
    /// per-CPU map values land in the same slot).
    pub fn run(&mut self, request: &RunRequest) -> Result<RunResult, BackendError> {
        let prog = self
            .object
            .program(&self.program)
            .ok_or_else(|| BackendError::kernel("the program went away"))?;
        // Raw tracepoint and syscall programs take `ctx_in` only: the kernel
        // refuses a context buffer out (a syscall program's context is
        // written back into `ctx_in`, which this backend cannot read back).
        let context_out = !matches!(self.prog_type, ProgType::RAW_TRACEPOINT | ProgType::SYSCALL);
        let room = |size: Option<u32>| size.map_or(0, |n| (n as usize).min(MAX_KERNEL_OUTPUT));
        let attrs = apiary_kernel::TestRunAttrs {
            data_in: request.data_in.as_deref().unwrap_or_default(),
            data_out_capacity: room(request.data_size_out),
            ctx_in: request.ctx_in.as_deref().unwrap_or_default(),
            ctx_out_capacity: room(request.ctx_size_out.filter(|_| context_out)),
            repeat: request.repeat,
            ..apiary_kernel::TestRunAttrs::default()
        };
        let output = prog.test_run(&attrs).map_err(BackendError::kernel)?;
        if output.truncated {
            return Err(BackendError::kernel(
                "failed to run program: No space left on device (data_size_out or ctx_size_out is too small)",
            ));
        }
        Ok(RunResult {
            retval: output.retval,
            duration_ns: output.duration_ns,
            data_out: (request.data_size_out.is_some() && output.data_size_out > 0)
                .then_some(output.data_out),
            ctx_out: (request.ctx_size_out.is_some() && output.ctx_size_out > 0)
                .then_some(output.ctx_out),
            trace: Vec::new(),
            redirects: Vec::new(),
        })
    }

    /// Every map's contents, read with `BPF_MAP_GET_NEXT_KEY`/`LOOKUP_ELEM`.
    pub fn dump_maps(&self) -> Vec<MapDump> {
        self.maps
            .iter()
            .map(|spec| {
                dump_map(spec, || {
                    let map = self
                        .object
                        .map(&spec.name)
                        .ok_or("the kernel object has no such map")?;
                    Ok(kernel_map_entries(spec, map))
                })
            })
            .collect()
    }
}

/// Output buffers for the kernel are allocated at most this large whatever
/// `data_size_out`/`ctx_size_out` ask: test-run packets are limited to a
/// few pages and contexts to 64 KiB, so nothing the kernel can return is
/// cut, while a hostile size cannot make the CLI allocate gigabytes.
const MAX_KERNEL_OUTPUT: usize = 16 << 20;

/// Keeps this thread on CPU 0 so that the kernel's test runs, like the vm
/// backend's, update CPU 0's slot of per-CPU maps. Best effort: on
/// failure per-CPU maps may differ in which slot holds the counts.
fn pin_to_cpu_zero() {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET only write inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// One way two runs disagree, printable as one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference(pub String);

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many differing bytes of one buffer are listed before the rest are counted.
const LISTED_BYTE_DIFFERENCES: usize = 8;

/// Differences between the vm's and the kernel's results of one run. The
/// context is compared only when the kernel handed one back (it does not
/// for raw tracepoint and syscall programs).
pub fn compare_runs(vm: &RunResult, kernel: &RunResult) -> Vec<Difference> {
    let mut differences = Vec::new();
    if vm.retval != kernel.retval {
        differences.push(Difference(format!(
            "retval: vm {}, kernel {}",
            vm.retval, kernel.retval
        )));
    }
    compare_buffers(
        "data_out",
        vm.data_out.as_deref(),
        kernel.data_out.as_deref(),
        &mut differences,
    );
    if kernel.ctx_out.is_some() {
        compare_buffers(
            "ctx_out",
            vm.ctx_out.as_deref(),
            kernel.ctx_out.as_deref(),
            &mut differences,
        );
    }
    differences
}

fn compare_buffers(
    what: &str,
    vm: Option<&[u8]>,
    kernel: Option<&[u8]>,
    out: &mut Vec<Difference>,
) {
    let (vm, kernel) = match (vm, kernel) {
        (None, None) => return,
        (Some(vm), Some(kernel)) => (vm, kernel),
        (vm, kernel) => {
            let describe =
                |b: Option<&[u8]>| b.map_or("none".to_owned(), |b| format!("{} bytes", b.len()));
            out.push(Difference(format!(
                "{what}: vm {}, kernel {}",
                describe(vm),
                describe(kernel)
            )));
            return;
        }
    };
    if vm.len() != kernel.len() {
        out.push(Difference(format!(
            "{what} length: vm {}, kernel {}",
            vm.len(),
            kernel.len()
        )));
    }
    let differing: Vec<usize> = vm
        .iter()
        .zip(kernel)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| i)
        .collect();
    for &index in differing.iter().take(LISTED_BYTE_DIFFERENCES) {
        if let (Some(a), Some(b)) = (vm.get(index), kernel.get(index)) {
            out.push(Difference(format!(
                "{what} byte {index}: vm {a:#04x}, kernel {b:#04x}"
            )));
        }
    }
    if differing.len() > LISTED_BYTE_DIFFERENCES {
        out.push(Difference(format!(
            "{what}: {} more bytes differ",
            differing.len() - LISTED_BYTE_DIFFERENCES
        )));
    }
}

/// How many differing entries of one map are listed before the rest are counted.
const LISTED_ENTRY_DIFFERENCES: usize = 16;

/// Differences between the maps of the two backends after their runs
/// (maps are matched by name; maps whose type is not comparable are skipped).
pub fn compare_maps(vm: &[MapDump], kernel: &[MapDump]) -> Vec<Difference> {
    let mut differences = Vec::new();
    for vm_map in vm {
        let Some(kernel_map) = kernel.iter().find(|k| k.name == vm_map.name) else {
            differences.push(Difference(format!(
                "map {}: only the vm has it",
                vm_map.name
            )));
            continue;
        };
        let (vm_entries, kernel_entries) = match (&vm_map.contents, &kernel_map.contents) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(_), Err(_)) => continue,
            (Err(reason), Ok(_)) | (Ok(_), Err(reason)) => {
                differences.push(Difference(format!(
                    "map {}: could not be read in one backend: {reason}",
                    vm_map.name
                )));
                continue;
            }
        };
        let keys: std::collections::BTreeSet<&Vec<u8>> =
            vm_entries.keys().chain(kernel_entries.keys()).collect();
        let mut listed = 0usize;
        let mut unlisted = 0usize;
        for key in keys {
            let (a, b) = (vm_entries.get(key), kernel_entries.get(key));
            if a == b {
                continue;
            }
            if listed == LISTED_ENTRY_DIFFERENCES {
                unlisted += 1;
                continue;
            }
            listed += 1;
            let show = |v: Option<&Vec<u8>>| {
                v.map_or("(absent)".to_owned(), |v| format_value(v, vm_map.shape))
            };
            differences.push(Difference(format!(
                "map {} key {}: vm {}, kernel {}",
                vm_map.name,
                hex(key),
                show(a),
                show(b)
            )));
        }
        if unlisted > 0 {
            differences.push(Difference(format!(
                "map {}: {unlisted} more entries differ",
                vm_map.name
            )));
        }
    }
    differences
}

/// Hex digits of `bytes` in memory order, as bpftool prints keys.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A value as a number when it is 1, 2, 4 or 8 bytes (little endian, as
/// counters are), otherwise hex; per-CPU values as `[cpu0 cpu1 ...]`.
pub fn format_value(value: &[u8], shape: ValueShape) -> String {
    match shape {
        ValueShape::Single(_) => format_scalar(value),
        ValueShape::PerCpu(size) => {
            let stride = (size as usize).next_multiple_of(8).max(1);
            let cpus: Vec<String> = value
                .chunks(stride)
                .map(|chunk| format_scalar(chunk.get(..size as usize).unwrap_or(chunk)))
                .collect();
            format!("[{}]", cpus.join(" "))
        }
    }
}

fn format_scalar(value: &[u8]) -> String {
    let mut wide = [0u8; 8];
    match value.len() {
        1 | 2 | 4 | 8 => {
            if let Some(prefix) = wide.get_mut(..value.len()) {
                prefix.copy_from_slice(value);
            }
            u64::from_le_bytes(wide).to_string()
        }
        _ => hex(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(name: &str, entries: &[(&[u8], &[u8])], shape: ValueShape) -> MapDump {
        MapDump {
            name: name.to_owned(),
            key_size: 4,
            shape,
            contents: Ok(entries
                .iter()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect()),
        }
    }

    #[test]
    fn map_differences_name_the_key_and_both_values() {
        let key: &[u8] = &[0x0a, 0, 0, 1];
        let vm = [dump(
            "counts",
            &[(key, &3u64.to_le_bytes())],
            ValueShape::Single(8),
        )];
        let kernel = [dump(
            "counts",
            &[(key, &2u64.to_le_bytes())],
            ValueShape::Single(8),
        )];
        assert_eq!(
            compare_maps(&vm, &kernel),
            vec![Difference("map counts key 0a000001: vm 3, kernel 2".into())]
        );
        let empty = [dump("counts", &[], ValueShape::Single(8))];
        assert_eq!(
            compare_maps(&vm, &empty),
            vec![Difference(
                "map counts key 0a000001: vm 3, kernel (absent)".into()
            )]
        );
        assert!(compare_maps(&vm, &vm).is_empty());
    }

    #[test]
    fn per_cpu_values_print_per_cpu() {
        let mut value = 5u64.to_le_bytes().to_vec();
        value.extend(7u64.to_le_bytes());
        assert_eq!(format_value(&value, ValueShape::PerCpu(8)), "[5 7]");
        let mut padded = 9u32.to_le_bytes().to_vec();
        padded.extend([0; 4]);
        assert_eq!(format_value(&padded, ValueShape::PerCpu(4)), "[9]");
        assert_eq!(format_value(&[1, 2, 3], ValueShape::Single(3)), "010203");
    }

    #[test]
    fn run_differences_list_retval_and_bytes() {
        let vm = RunResult {
            retval: 2,
            data_out: Some(vec![1, 2, 3]),
            ..RunResult::default()
        };
        let kernel = RunResult {
            retval: 1,
            data_out: Some(vec![1, 9, 3, 4]),
            ..RunResult::default()
        };
        let lines: Vec<String> = compare_runs(&vm, &kernel)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "retval: vm 2, kernel 1",
                "data_out length: vm 3, kernel 4",
                "data_out byte 1: vm 0x02, kernel 0x09"
            ]
        );
    }
}
