//! The object lifecycle in libbpf's order: open, configure, load.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use apiary_btf::{Btf, Kind};
use apiary_loader::{
    Kconfig, KconfigValue, MapOrigin, MapSpec, ProgramSpec, ProgramTypeChoice, UserTyping,
};
use apiary_maps::Map;
use apiary_maps::typed::Pod;
use apiary_runtime::{MapId, ProgId, Runtime};

use crate::core_target::CoreTarget;
use crate::error::{Error, Result};
use crate::program::{Program, ProgramKind, source_line};
use crate::runner::Runner;
use crate::views::MapView;

/// A configuration change recorded before loading, replayed when a changed
/// kconfig table makes the object be parsed again.
#[derive(Debug, Clone)]
enum Override {
    Global { name: String, bytes: Vec<u8> },
    MaxEntries { map: String, max_entries: u32 },
}

/// An object file opened and parsed, not yet loaded: the place to
/// configure it (libbpf's `bpf_object__open` state).
///
/// ```no_run
/// let mut open = apiary::OpenObject::open("xdp_firewall.o")?;
/// open.set_global("blocked_port", &8080u16)?
///     .set_max_entries("counters", 4096)?;
/// let object = open.load()?;
/// # Ok::<(), apiary::Error>(())
/// ```
#[derive(Debug)]
pub struct OpenObject {
    bytes: Vec<u8>,
    name: String,
    object: apiary_loader::Object,
    kconfig: Kconfig,
    kconfig_changed: bool,
    typing: UserTyping,
    overrides: Vec<Override>,
    core_target: CoreTarget,
    nr_cpus: u32,
    engine: Engine,
    verify: bool,
}

/// How loaded programs run. Both give the same results, errors, budget
/// and maps; only the speed differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Native x86-64 code from `apiary-jit` (the default on x86-64).
    Jit,
    /// The interpreter (the default elsewhere).
    Interpreter,
}

impl Default for Engine {
    fn default() -> Self {
        if cfg!(target_arch = "x86_64") {
            Engine::Jit
        } else {
            Engine::Interpreter
        }
    }
}

impl OpenObject {
    /// Reads and parses an ELF object; the object name is the file name
    /// without its extension, as libbpf names it.
    pub fn open(path: impl AsRef<Path>) -> Result<OpenObject> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        let name = path
            .file_stem()
            .map_or_else(|| "object".to_owned(), |s| s.to_string_lossy().into_owned());
        OpenObject::from_bytes(bytes, &name)
    }

    /// Parses an ELF object held in memory.
    ///
    /// ```
    /// let err = apiary::OpenObject::from_bytes(b"not an ELF".to_vec(), "junk").unwrap_err();
    /// assert!(err.to_string().starts_with("junk: "));
    /// ```
    pub fn from_bytes(bytes: Vec<u8>, name: &str) -> Result<OpenObject> {
        let kconfig = Kconfig::default();
        let typing = UserTyping::default();
        let object = parse(&bytes, name, &kconfig, &typing)?;
        Ok(OpenObject {
            bytes,
            name: name.to_owned(),
            object,
            kconfig,
            kconfig_changed: false,
            typing,
            overrides: Vec::new(),
            core_target: CoreTarget::default(),
            nr_cpus: default_cpus(),
            engine: Engine::default(),
            verify: true,
        })
    }

    /// The object's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the loader made of the file: programs (with per-program errors),
    /// map specs with configuration applied so far, BTF.
    pub fn spec(&self) -> &apiary_loader::Object {
        &self.object
    }

    /// Gives the global variable `name` (in `.rodata`, `.data`, `.bss` or
    /// their `.name` variants) the initial value `value`, as libbpf's
    /// skeleton `rodata->name = value` does before load. The variable is
    /// found through the object's BTF, and `T` must have its exact size.
    ///
    /// ```no_run
    /// # let mut open = apiary::OpenObject::open("prog.o")?;
    /// open.set_global("sample_rate", &100u32)?;
    /// # Ok::<(), apiary::Error>(())
    /// ```
    pub fn set_global<T: Pod>(&mut self, name: &str, value: &T) -> Result<&mut Self> {
        // SAFETY: T is Pod, so its bytes may be viewed.
        let bytes = unsafe {
            std::slice::from_raw_parts(std::ptr::from_ref(value).cast::<u8>(), size_of::<T>())
        };
        self.set_global_bytes(name, bytes)
    }

    /// [`set_global`](Self::set_global) with the value as raw bytes.
    pub fn set_global_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<&mut Self> {
        let change = Override::Global {
            name: name.to_owned(),
            bytes: bytes.to_vec(),
        };
        apply(&mut self.object, &change)?;
        self.overrides.push(change);
        Ok(self)
    }

    /// Sets a map's `max_entries` before it is created
    /// (`bpf_map__set_max_entries`).
    pub fn set_max_entries(&mut self, map: &str, max_entries: u32) -> Result<&mut Self> {
        let change = Override::MaxEntries {
            map: map.to_owned(),
            max_entries,
        };
        apply(&mut self.object, &change)?;
        self.overrides.push(change);
        Ok(self)
    }

    /// Gives the `.kconfig` extern `CONFIG_name` (or `LINUX_*`) a value.
    ///
    /// ```no_run
    /// let mut open = apiary::OpenObject::open("kconfig.o")?;
    /// open.set_kconfig("CONFIG_HZ", apiary::KconfigValue::Number(250));
    /// let object = open.load()?;
    /// # Ok::<(), apiary::Error>(())
    /// ```
    pub fn set_kconfig(&mut self, name: &str, value: KconfigValue) -> &mut Self {
        self.kconfig.values.insert(name.to_owned(), value);
        self.kconfig_changed = true;
        self
    }

    /// Replaces the kconfig table with the `CONFIG_*` lines of a `.config`
    /// file's text (libbpf's `kconfig` open option).
    pub fn set_kconfig_text(&mut self, config: &str) -> &mut Self {
        let kernel_version = self.kconfig.kernel_version;
        self.kconfig = Kconfig::parse_config(config);
        self.kconfig.kernel_version = kernel_version;
        self.kconfig_changed = true;
        self
    }

    /// Sets `LINUX_KERNEL_VERSION` (`KERNEL_VERSION(a, b, c)` encoding);
    /// by default the running kernel's release is used, as libbpf does.
    pub fn set_kernel_version(&mut self, version: u32) -> &mut Self {
        self.kconfig.kernel_version = Some(version);
        self.kconfig_changed = true;
        self
    }

    /// Gives a program type to the sections whose name says nothing, as
    /// bpftool's `prog load ... type NAME` and tc's `sec NAME` do: objects
    /// built for iproute2 (`from-container`, tail-call sections `ID/KEY`,
    /// which then fill their program array), `.text`-only objects, or
    /// with `section`, that one section whatever its name says. `name` is
    /// a `SEC()` name (`xdp`, `tc`, `classifier`, `socket`, `kprobe`, ...)
    /// or a kernel type name (`sched_cls`). The object is read again, and
    /// the changes made so far are kept.
    ///
    /// ```no_run
    /// let mut open = apiary::OpenObject::open("tc_elf_maps.o")?;
    /// open.set_program_type("tc", Some("from-netdev"))?;
    /// let object = open.load()?;
    /// # Ok::<(), apiary::Error>(())
    /// ```
    pub fn set_program_type(&mut self, name: &str, section: Option<&str>) -> Result<&mut Self> {
        self.typing = UserTyping {
            program_type: Some(ProgramTypeChoice::parse(name)?),
            section: section.map(str::to_owned),
        };
        self.object = self.reparse()?;
        Ok(self)
    }

    /// The file parsed again with the current kconfig and type choice,
    /// the recorded changes replayed.
    fn reparse(&self) -> Result<apiary_loader::Object> {
        let mut fresh = parse(&self.bytes, &self.name, &self.kconfig, &self.typing)?;
        for change in &self.overrides {
            apply(&mut fresh, change)?;
        }
        Ok(fresh)
    }

    /// Resolves CO-RE relocations against a kernel BTF file (e.g.
    /// `/sys/kernel/btf/vmlinux`) instead of Apiary's own context types.
    pub fn set_core_target(&mut self, btf_file: impl Into<PathBuf>) -> &mut Self {
        self.core_target = CoreTarget::File(btf_file.into());
        self
    }

    /// Number of CPUs the object's per-CPU maps have (default: this
    /// machine's CPUs); each [`Runner`] runs as one of them.
    pub fn set_nr_cpus(&mut self, nr_cpus: u32) -> &mut Self {
        self.nr_cpus = nr_cpus.max(1);
        self
    }

    /// The tier programs run on (default: [`Engine::default`]).
    pub fn set_engine(&mut self, engine: Engine) -> &mut Self {
        self.engine = engine;
        self
    }

    /// Whether [`OpenObject::load`] verifies each program first (default:
    /// yes). Without verification a program the kernel would refuse still
    /// runs, in the checked interpreter, which stops it at its first bad
    /// access.
    pub fn set_verify(&mut self, verify: bool) -> &mut Self {
        self.verify = verify;
        self
    }

    /// Applies CO-RE relocations, creates the maps, verifies every program
    /// as the kernel would (unless [`OpenObject::set_verify`] turned it
    /// off) and prepares it (libbpf's `bpf_object__load`). A program whose
    /// section the loader could not handle, that the verifier refuses
    /// ([`Error::Rejected`]), or which uses a helper Apiary lacks, does not
    /// stop the others; [`Object::program`] reports why it is missing.
    pub fn load(self) -> Result<Object> {
        let mut object = if self.kconfig_changed {
            self.reparse()?
        } else {
            self.object
        };
        let has_core = object.needs_core();
        if has_core {
            let target = self.core_target.load()?;
            object
                .relocate_core(&target)
                .map_err(|e| Error::Core(Box::new(e)))?;
        }
        let runtime = Runtime::new(self.nr_cpus);
        let loaded = runtime.load_object(&object)?;
        let maps = object
            .maps
            .iter()
            .map(|spec| spec.name.clone())
            .zip(loaded.maps.iter().copied())
            .collect();
        let mut verified = Vec::new();
        let mut programs: Vec<(String, Result<ProgId, Rejection>)> = loaded
            .programs
            .into_iter()
            .map(|(name, result)| {
                let verdict = self
                    .verify
                    .then(|| object.program(&name))
                    .flatten()
                    .map(|spec| apiary_verifier::verify_program(&object, spec).result);
                let result = match verdict {
                    Some(Err(rejection)) => Err(Rejection::Verifier(Arc::from(rejection))),
                    Some(Ok(accepted)) => {
                        verified.push((name.clone(), Arc::new(accepted)));
                        result.map_err(|e| Rejection::Runtime(Arc::new(e)))
                    }
                    None => result.map_err(|e| Rejection::Runtime(Arc::new(e))),
                };
                (name, result)
            })
            .collect();
        if self.engine == Engine::Jit {
            compile_all(&runtime, &programs, &verified)?;
        }
        for (index, result) in object.programs.iter().enumerate() {
            if let Err(e) = result {
                programs.push((format!("#{index}"), Err(Rejection::Loader(e.to_string()))));
            }
        }
        Ok(Object {
            runtime,
            spec: object,
            maps,
            programs,
            verified,
        })
    }
}

/// Compiles every loaded program, with the verifier's proofs where it
/// accepted the program (its proven accesses then run unchecked).
fn compile_all(
    runtime: &Runtime,
    programs: &[(String, Result<ProgId, Rejection>)],
    verified: &[(String, Arc<apiary_verifier::Accepted>)],
) -> Result<()> {
    for (name, result) in programs {
        let Some(program) = result.as_ref().ok().and_then(|id| runtime.program(*id)) else {
            continue;
        };
        let accepted = verified.iter().find(|(n, _)| n == name);
        apiary_jit::compile_by_verdict(&program, accepted.map(|(_, a)| &**a)).map_err(|e| {
            Error::Jit {
                program: name.clone(),
                reason: e.to_string(),
            }
        })?;
    }
    Ok(())
}

fn parse(
    bytes: &[u8],
    name: &str,
    kconfig: &Kconfig,
    typing: &UserTyping,
) -> Result<apiary_loader::Object> {
    apiary_loader::Object::parse_with(bytes, name, kconfig, typing).map_err(|source| Error::Parse {
        object: name.to_owned(),
        source: Box::new(source),
    })
}

fn default_cpus() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
}

fn apply(object: &mut apiary_loader::Object, change: &Override) -> Result<()> {
    match change {
        Override::MaxEntries { map, max_entries } => {
            if *max_entries == 0 {
                return Err(Error::ZeroMaxEntries { name: map.clone() });
            }
            let spec = object
                .maps
                .iter_mut()
                .find(|m| &m.name == map)
                .ok_or_else(|| Error::NoSuchMap { name: map.clone() })?;
            spec.max_entries = *max_entries;
            Ok(())
        }
        Override::Global { name, bytes } => {
            let Some(btf) = object.btf.as_ref() else {
                return Err(Error::NoDataBtf { name: name.clone() });
            };
            let (section, offset, size) = find_global(btf, name)?;
            if bytes.len() != size as usize {
                return Err(Error::GlobalSize {
                    name: name.clone(),
                    expected: size,
                    given: bytes.len(),
                });
            }
            let spec = object
                .maps
                .iter_mut()
                .find(
                    |m| matches!(&m.origin, MapOrigin::GlobalData { section: s } if *s == section),
                )
                .ok_or_else(|| Error::NoSuchGlobal { name: name.clone() })?;
            write_initial(spec, offset, bytes).ok_or_else(|| Error::GlobalSize {
                name: name.clone(),
                expected: spec.value_size,
                given: offset as usize + bytes.len(),
            })
        }
    }
}

/// The data section, offset and size of the global variable `name`.
fn find_global(btf: &Btf, name: &str) -> Result<(String, u32, u32)> {
    for (_, ty) in btf.types() {
        let Kind::Datasec(datasec) = &ty.kind else {
            continue;
        };
        let Ok(section) = btf.str_at(ty.name_off) else {
            continue;
        };
        if !(section.starts_with(".data")
            || section.starts_with(".rodata")
            || section.starts_with(".bss"))
        {
            continue;
        }
        if let Some(var) = datasec
            .vars
            .iter()
            .find(|v| btf.name(v.ty).is_ok_and(|n| n == name))
        {
            return Ok((section.to_owned(), var.offset, var.size));
        }
    }
    Err(Error::NoSuchGlobal {
        name: name.to_owned(),
    })
}

/// Writes `bytes` at `offset` of the map's initial value (`.bss` starts
/// empty: zeros up to the value size); `None` when it does not fit.
fn write_initial(spec: &mut MapSpec, offset: u32, bytes: &[u8]) -> Option<()> {
    let end = (offset as usize).checked_add(bytes.len())?;
    if end > spec.value_size as usize {
        return None;
    }
    if spec.initial_data.len() < end {
        spec.initial_data.resize(spec.value_size as usize, 0);
    }
    spec.initial_data
        .get_mut(offset as usize..end)?
        .copy_from_slice(bytes);
    Some(())
}

/// A loaded object: its maps exist and its programs are ready to run
/// (libbpf's loaded `bpf_object`, aya's `Ebpf`).
///
/// ```no_run
/// use apiary::{OpenObject, Xdp, XdpRun};
/// let object = OpenObject::open("xdp_pass.o")?.load()?;
/// let program = object.program::<Xdp>("xdp_pass")?;
/// let packet = [0u8; 64];
/// let result = program.test_run(&XdpRun::new(&packet))?;
/// println!("verdict {}", result.retval);
/// # Ok::<(), apiary::Error>(())
/// ```
pub struct Object {
    runtime: Arc<Runtime>,
    spec: apiary_loader::Object,
    maps: Vec<(String, MapId)>,
    programs: Vec<(String, Result<ProgId, Rejection>)>,
    /// What the verifier proved about each program it accepted.
    verified: Vec<(String, Arc<apiary_verifier::Accepted>)>,
}

/// Why a program of the object cannot run.
#[derive(Debug, Clone)]
enum Rejection {
    /// The loader could not make a program of its section.
    Loader(String),
    /// The runtime refused it at load.
    Runtime(Arc<apiary_runtime::RuntimeError>),
    /// The verifier refused it.
    Verifier(Arc<apiary_verifier::Rejection>),
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Loader(reason) => f.write_str(reason),
            Rejection::Runtime(error) => error.fmt(f),
            Rejection::Verifier(rejection) => rejection.fmt(f),
        }
    }
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("name", &self.spec.name)
            .field("maps", &self.maps)
            .field("programs", &self.programs)
            .finish_non_exhaustive()
    }
}

/// One program of an [`Object`], as [`Object::programs`] lists it.
#[derive(Debug, Clone)]
pub struct ProgramInfo<'o> {
    /// Program name (the function symbol).
    pub name: &'o str,
    /// Its `SEC()` name and type, when the loader understood the section.
    pub spec: Option<&'o ProgramSpec>,
    /// Why it cannot run, when it did not load.
    pub error: Option<String>,
}

impl Object {
    /// The loader's view of the object (program specs with relocated
    /// instructions and line info, map specs, BTF).
    pub fn spec(&self) -> &apiary_loader::Object {
        &self.spec
    }

    /// The runtime holding the object's maps and programs, for embedders
    /// that need its lower-level API.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Every program: loaded ones and those that failed, with the reason.
    pub fn programs(&self) -> impl Iterator<Item = ProgramInfo<'_>> + '_ {
        self.programs.iter().map(|(name, result)| ProgramInfo {
            name,
            spec: self.spec.program(name),
            error: result.as_ref().err().map(ToString::to_string),
        })
    }

    /// The program `name`, typed by its kind; the kind must match the
    /// program's `SEC()` type, so a test-run's options fit the program.
    ///
    /// ```no_run
    /// # let object = apiary::OpenObject::open("tc.o")?.load()?;
    /// let classifier = object.program::<apiary::Tc>("classify")?;
    /// # Ok::<(), apiary::Error>(())
    /// ```
    pub fn program<K: ProgramKind>(&self, name: &str) -> Result<Program<'_, K>> {
        let (_, result) = self
            .programs
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| Error::NoSuchProgram {
                name: name.to_owned(),
                available: self
                    .programs
                    .iter()
                    .filter(|(_, r)| r.is_ok())
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let spec = self.spec.program(name);
        let id = *result.as_ref().map_err(|rejection| match rejection {
            Rejection::Loader(reason) => Error::ProgramUnavailable {
                name: name.to_owned(),
                reason: reason.clone(),
            },
            Rejection::Verifier(rejection) => Error::Rejected {
                program: name.to_owned(),
                rejection: Arc::clone(rejection),
            },
            Rejection::Runtime(source) => {
                let insn = source.insn();
                Error::ProgramRejected {
                    program: name.to_owned(),
                    insn,
                    line: insn.zip(spec).and_then(|(i, spec)| source_line(spec, i)),
                    source: Arc::clone(source),
                }
            }
        })?;
        let spec = spec.ok_or_else(|| Error::ProgramUnavailable {
            name: name.to_owned(),
            reason: "the loader has no spec for it".to_owned(),
        })?;
        if !K::accepts(spec.prog_type) {
            return Err(Error::WrongProgramType {
                name: name.to_owned(),
                expected: K::NAME,
                actual: spec.prog_type.to_string(),
            });
        }
        Ok(Program::new(self, spec, id))
    }

    /// What the verifier proved about program `name` when it accepted it
    /// (`None` when it did not verify it: [`OpenObject::set_verify`], or
    /// the program did not load).
    pub fn verified(&self, name: &str) -> Option<&Arc<apiary_verifier::Accepted>> {
        self.verified
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, accepted)| accepted)
    }

    /// The map `name` (global data maps are named as libbpf names them,
    /// e.g. `prog.rodata` for object `prog.o`).
    pub fn map(&self, name: &str) -> Result<Arc<Map>> {
        self.maps
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, id)| self.runtime.map(*id))
            .ok_or_else(|| Error::NoSuchMap {
                name: name.to_owned(),
            })
    }

    /// Every map with its name.
    pub fn maps(&self) -> impl Iterator<Item = (&str, Arc<Map>)> + '_ {
        self.maps
            .iter()
            .filter_map(|(name, id)| Some((name.as_str(), self.runtime.map(*id)?)))
    }

    /// A typed view of the map `name`, checked against its type and sizes.
    ///
    /// ```no_run
    /// # let object = apiary::OpenObject::open("counter.o")?.load()?;
    /// let counts: apiary::HashMap<u32, u64> = object.map_view("counts")?;
    /// for entry in counts.iter() {
    ///     let (key, value) = entry.map_err(|e| apiary::Error::Map { name: "counts".into(), source: e })?;
    ///     println!("{key}: {value}");
    /// }
    /// # Ok::<(), apiary::Error>(())
    /// ```
    pub fn map_view<V: MapView>(&self, name: &str) -> Result<V> {
        V::from_map(self.map(name)?).map_err(|source| Error::Map {
            name: name.to_owned(),
            source,
        })
    }

    /// A runner playing CPU `cpu` (clamped to the object's CPU count):
    /// give one to each thread that runs programs concurrently.
    pub fn runner(&self, cpu: u32) -> Runner {
        Runner::new(cpu.min(self.runtime.nr_cpus() - 1))
    }
}
