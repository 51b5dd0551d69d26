//! Apiary's kernel backend for whole objects: takes an [`Object`] the
//! loader parsed and does what libbpf's `bpf_object__load` does with it —
//! loads the object's BTF (the loader fixed its data DATASECs at open;
//! externs and hidden symbols are sanitized here as libbpf does at load),
//! creates every map (global data filled, `.rodata` and
//! `.kconfig` frozen, map-in-map with an inner template, BTF key/value ids
//! where libbpf passes them), loads every program with its type, attach
//! type, license, func/line info and `fd_array` for the symbolic map
//! references, then fills map-in-map and program-array initial slots.
//! With [`load_object_pinned`] it also pins and reuses iproute2's pinned
//! `struct bpf_elf_map` maps as `tc` does ([`TcPins`]).
//!
//! It must not parse ELF beyond symbol visibility (the loader owns the
//! rest), encode BTF (apiary-btf does), implement maps or verify
//! programs: the kernel does both.

mod sanitize;
mod tc_pins;
mod visibility;

pub use tc_pins::TcPins;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use apiary_btf::{Btf, BtfKind};
use apiary_kernel::types::{AttachType, MapType, ProgType, map_flags, prog_flags};
use apiary_kernel::{BtfFd, MapCreateAttrs, ProgLoadAttrs, Records};
use apiary_loader::{InitialSlotTarget, MapSpec, Object, ProgramSpec, SecFlags};

pub use apiary_kernel::{MapFd, ProgFd};

/// Why loading an object failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object's BTF could not be re-encoded.
    #[error("object BTF: {0}")]
    Btf(String),
    /// The ELF bytes given in [`LoadOptions::elf`] could not be read.
    #[error("ELF object: {0}")]
    Elf(String),
    /// The kernel refused to create a map.
    #[error("creating map {map:?}: {source}")]
    MapCreate {
        /// Map name.
        map: String,
        /// The kernel's answer.
        source: apiary_kernel::Error,
    },
    /// Writing a map's initial contents or slots failed.
    #[error("initialising map {map:?}: {source}")]
    MapInit {
        /// Map name.
        map: String,
        /// The kernel's answer.
        source: apiary_kernel::Error,
    },
    /// The kernel refused a program; the error carries the verifier log.
    #[error("loading program {program:?}: {source}")]
    ProgLoad {
        /// Program name.
        program: String,
        /// The kernel's answer.
        source: apiary_kernel::Error,
    },
    /// A program refers to a map index the object does not have.
    #[error("program {program:?} refers to map #{index}, but the object has {count} maps")]
    MapIndex {
        /// Program name.
        program: String,
        /// The bad index.
        index: usize,
        /// Number of maps.
        count: usize,
    },
    /// A slot names a program that did not load.
    #[error("map {map:?} slot {slot} names program {program:?}, which was not loaded")]
    MissingProgram {
        /// Map name.
        map: String,
        /// Slot index.
        slot: u32,
        /// Program name.
        program: String,
    },
    /// Reusing or pinning an iproute2-pinned map failed.
    #[error("map {map:?} pinned at {}: {reason}", path.display())]
    Pin {
        /// Map name.
        map: String,
        /// The pin's path.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A BTF-attached program's target is not in the kernel's BTF.
    #[error("program {program:?}: {reason}")]
    AttachTarget {
        /// Program name.
        program: String,
        /// What is missing.
        reason: String,
    },
}

/// How to load an object.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions<'a> {
    /// The ELF bytes the object was parsed from, for the visibility of its
    /// symbols, which the loader does not keep: libbpf gives hidden
    /// functions and variables static BTF linkage, so the verifier checks
    /// `__hidden` subprograms with their caller's context. Without them
    /// every global function is verified on its own.
    pub elf: Option<&'a [u8]>,
    /// Verifier log level for program loads (0: a log only on failure).
    pub log_level: u32,
    /// Load the other programs when the kernel refuses one, and record the
    /// refusal in [`KernelObject::rejected`] instead of failing the load
    /// (for per-program verdicts; libbpf stops at the first).
    pub keep_going: bool,
}

/// Something in the object that was not loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Program or map name.
    pub name: String,
    /// Why it was skipped.
    pub reason: String,
}

/// An object loaded into the kernel. Dropping it closes every fd.
#[derive(Debug)]
pub struct KernelObject {
    programs: BTreeMap<String, ProgFd>,
    maps: Vec<(String, MapFd)>,
    btf: Option<BtfFd>,
    /// Programs the loader could not produce or that need kernel support
    /// this backend lacks (struct_ops), with the reason.
    pub skipped: Vec<Skipped>,
    /// Verifier logs of loaded programs (empty at log level 0).
    pub logs: BTreeMap<String, String>,
    /// With [`LoadOptions::keep_going`]: the programs the kernel refused,
    /// with its answer (the verifier log for verifier rejections).
    pub rejected: BTreeMap<String, apiary_kernel::Error>,
    /// Wall time of each program's `BPF_PROG_LOAD`, loaded or refused
    /// (with a refusal at log level 0, the retry that fetches the log too).
    pub load_times: BTreeMap<String, Duration>,
}

impl KernelObject {
    /// The loaded program named `name`.
    pub fn program(&self, name: &str) -> Option<&ProgFd> {
        self.programs.get(name)
    }

    /// Loaded programs by name.
    pub fn programs(&self) -> impl Iterator<Item = (&str, &ProgFd)> {
        self.programs.iter().map(|(n, p)| (n.as_str(), p))
    }

    /// The map named `name` (the loader's name, e.g. `xdp_fire.rodata`).
    pub fn map(&self, name: &str) -> Option<&MapFd> {
        self.maps.iter().find(|(n, _)| n == name).map(|(_, m)| m)
    }

    /// Created maps by name, in object order.
    pub fn maps(&self) -> impl Iterator<Item = (&str, &MapFd)> {
        self.maps.iter().map(|(n, m)| (n.as_str(), m))
    }

    /// The object's BTF in the kernel, if it was loaded.
    pub fn btf(&self) -> Option<&BtfFd> {
        self.btf.as_ref()
    }
}

/// `BPF_LINE_INFO` record size: insn_off, file_name_off, line_off, line_col.
const LINE_INFO_SIZE: u32 = 16;
/// `BPF_FUNC_INFO` record size: insn_off, type_id.
const FUNC_INFO_SIZE: u32 = 8;

/// Loaded object BTF plus the record bytes programs point into it with.
struct KernelBtf {
    fd: BtfFd,
    /// Types sent as empty structs, unusable as value types.
    emptied: HashSet<u32>,
    line_info: HashMap<String, Vec<u8>>,
}

/// Loads `object` into the kernel as libbpf would; see the crate docs.
/// A failing map or program fails the whole load (as in libbpf), with the
/// kernel's log; programs the loader could not produce are listed in
/// [`KernelObject::skipped`].
pub fn load_object(object: &Object, options: &LoadOptions<'_>) -> Result<KernelObject, Error> {
    load(object, options, None)
}

/// [`load_object`], with iproute2's pinning of `struct bpf_elf_map`
/// definitions under `pins` (see [`TcPins`]): a map already pinned at its
/// place is reused, with its contents, when it matches its definition;
/// a new one is pinned there. Program-array slots of tail-call sections
/// are filled in reused arrays too, as `tc` does.
pub fn load_object_pinned(
    object: &Object,
    options: &LoadOptions<'_>,
    pins: &TcPins,
) -> Result<KernelObject, Error> {
    load(object, options, Some(pins))
}

fn load(
    object: &Object,
    options: &LoadOptions<'_>,
    pins: Option<&TcPins>,
) -> Result<KernelObject, Error> {
    let kernel_btf = load_btf(object, options)?;
    let btf_fd = kernel_btf.as_ref().map(|k| k.fd.as_fd());
    let mut skipped = Vec::new();
    let mut maps = Vec::with_capacity(object.maps.len());
    for spec in &object.maps {
        let place = pins.and_then(|p| p.path(spec));
        let reused = match &place {
            Some(path) => tc_pins::reuse(spec, path)?,
            None => None,
        };
        let map = match (reused, place) {
            (Some(map), _) => map,
            (None, Some(path)) => {
                let map = create_map(spec, kernel_btf.as_ref())?;
                tc_pins::pin(spec, &map, &path)?;
                map
            }
            (None, None) => create_map(spec, kernel_btf.as_ref())?,
        };
        maps.push((spec.name.clone(), map));
    }
    for (spec, (_, map)) in object.maps.iter().zip(&maps) {
        fill_map_slots(spec, map, |target| match target {
            InitialSlotTarget::Map(index) => Ok(maps.get(*index).map(|(_, m)| m.as_fd())),
            InitialSlotTarget::Program(_) => Ok(None),
        })?;
    }

    let fd_array: Vec<BorrowedFd<'_>> = maps.iter().map(|(_, m)| m.as_fd()).collect();
    let mut vmlinux = None;
    let mut programs = BTreeMap::new();
    let mut logs = BTreeMap::new();
    let mut rejected = BTreeMap::new();
    let mut load_times = BTreeMap::new();
    for program in &object.programs {
        let program = match program {
            Ok(program) => program,
            Err(error) => {
                skipped.push(Skipped {
                    name: error.program().to_owned(),
                    reason: error.to_string(),
                });
                continue;
            }
        };
        if program.prog_type == ProgType::STRUCT_OPS {
            skipped.push(Skipped {
                name: program.name.clone(),
                reason: "struct_ops programs need their struct_ops map registered, which this backend does not do".to_owned(),
            });
            continue;
        }
        if let Some(bad) = program
            .map_relocs
            .iter()
            .find(|r| r.map_index >= maps.len())
        {
            return Err(Error::MapIndex {
                program: program.name.clone(),
                index: bad.map_index,
                count: maps.len(),
            });
        }
        let attach_btf_id = attach_btf_id(program, &mut vmlinux)?;
        let started = Instant::now();
        let outcome = load_program(
            object,
            program,
            kernel_btf.as_ref(),
            btf_fd,
            &fd_array,
            attach_btf_id,
            options.log_level,
        );
        load_times.insert(program.name.clone(), started.elapsed());
        let loaded = match outcome {
            Err(Error::ProgLoad { program, source }) if options.keep_going => {
                rejected.insert(program, source);
                continue;
            }
            result => result?,
        };
        logs.insert(program.name.clone(), loaded.log);
        programs.insert(program.name.clone(), loaded.prog);
    }

    for (spec, (_, map)) in object.maps.iter().zip(&maps) {
        if spec.map_type != MapType::PROG_ARRAY {
            continue;
        }
        fill_map_slots(spec, map, |target| match target {
            InitialSlotTarget::Program(name) => match programs.get(name) {
                Some(prog) => Ok(Some(prog.as_fd())),
                None if rejected.contains_key(name) => Ok(None),
                None => Err(name.clone()),
            },
            InitialSlotTarget::Map(_) => Ok(None),
        })?;
    }

    Ok(KernelObject {
        programs,
        maps,
        btf: kernel_btf.map(|k| k.fd),
        skipped,
        logs,
        rejected,
        load_times,
    })
}

/// Writes a map's initial slots whose target `resolve` yields an fd
/// (`Ok(None)`: not this pass; `Err(name)`: a program that did not load).
fn fill_map_slots<'f>(
    spec: &MapSpec,
    map: &MapFd,
    resolve: impl Fn(&InitialSlotTarget) -> Result<Option<BorrowedFd<'f>>, String>,
) -> Result<(), Error> {
    for slot in &spec.initial_slots {
        let fd = match resolve(&slot.target) {
            Ok(Some(fd)) => fd,
            Ok(None) => continue,
            Err(program) => {
                return Err(Error::MissingProgram {
                    map: spec.name.clone(),
                    slot: slot.index,
                    program,
                });
            }
        };
        let value = fd.as_raw_fd().to_ne_bytes();
        map.update(&slot.index.to_ne_bytes(), &value, 0)
            .map_err(|source| Error::MapInit {
                map: spec.name.clone(),
                source,
            })?;
    }
    Ok(())
}

fn load_btf(object: &Object, options: &LoadOptions<'_>) -> Result<Option<KernelBtf>, Error> {
    let Some(btf) = &object.btf else {
        return Ok(None);
    };
    let hidden = match options.elf {
        Some(elf) => visibility::hidden_symbols(elf)?,
        None => HashSet::new(),
    };
    let mut encoded = sanitize::KernelBtfBytes::new(btf, &hidden)?;
    let mut line_info = HashMap::new();
    for program in object.programs.iter().filter_map(|p| p.as_ref().ok()) {
        let mut bytes = Vec::with_capacity(program.line_info.len() * LINE_INFO_SIZE as usize);
        for line in &program.line_info {
            let insn = u32::try_from(line.insn_index)
                .map_err(|_| Error::Btf(format!("line info at instruction {}", line.insn_index)))?;
            let file = encoded.intern(&line.file)?;
            let text = encoded.intern(&line.line_text)?;
            let line_col = (line.line << 10) | (line.column & 0x3ff);
            for word in [insn, file, text, line_col] {
                bytes.extend_from_slice(&word.to_ne_bytes());
            }
        }
        line_info.insert(program.name.clone(), bytes);
    }
    let bytes = encoded.finish()?;
    let loaded = BtfFd::load(&bytes, 0).map_err(|e| Error::Btf(e.to_string()))?;
    Ok(Some(KernelBtf {
        fd: loaded.btf,
        emptied: encoded.emptied,
        line_info,
    }))
}

/// Map types whose key and value libbpf never describes with BTF (the
/// kernel rejects BTF ids for them).
fn takes_btf_ids(map_type: MapType) -> bool {
    ![
        MapType::PERF_EVENT_ARRAY,
        MapType::CGROUP_ARRAY,
        MapType::STACK_TRACE,
        MapType::ARRAY_OF_MAPS,
        MapType::HASH_OF_MAPS,
        MapType::DEVMAP,
        MapType::DEVMAP_HASH,
        MapType::CPUMAP,
        MapType::XSKMAP,
        MapType::SOCKMAP,
        MapType::SOCKHASH,
        MapType::QUEUE,
        MapType::STACK,
        MapType::RINGBUF,
        MapType::PROG_ARRAY,
    ]
    .contains(&map_type)
}

/// The kernel keeps 15 bytes of a name, of `[A-Za-z0-9_.]`.
fn kernel_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(15)
        .collect()
}

fn create_map(spec: &MapSpec, btf: Option<&KernelBtf>) -> Result<MapFd, Error> {
    let create_err = |source| Error::MapCreate {
        map: spec.name.clone(),
        source,
    };
    let inner = spec
        .inner
        .as_deref()
        .map(|inner| create_map(inner, btf))
        .transpose()?;
    let name = kernel_name(&spec.name);
    let mut max_entries = spec.max_entries;
    if spec.map_type == MapType::PERF_EVENT_ARRAY && max_entries == 0 {
        // libbpf sizes an unsized perf event array to the possible CPUs.
        max_entries = apiary_kernel::possible_cpus()
            .ok()
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(1);
    }
    // Global-data maps have their DATASEC as value type (from the loader).
    let (key_type, value_type) = match (spec.key_type, spec.value_type) {
        (key, Some(value)) if takes_btf_ids(spec.map_type) => (key.map_or(0, |t| t.0), value.0),
        _ => (0, 0),
    };
    let with_btf = btf.filter(|k| value_type != 0 && !k.emptied.contains(&value_type));
    let attrs = MapCreateAttrs {
        map_type: spec.map_type,
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries,
        map_flags: spec.map_flags,
        name: &name,
        numa_node: spec.numa_node,
        inner_map_fd: inner.as_ref().map(AsFd::as_fd),
        map_extra: spec.map_extra,
        btf_fd: with_btf.map(|k| k.fd.as_fd()),
        btf_key_type_id: if with_btf.is_some() { key_type } else { 0 },
        btf_value_type_id: if with_btf.is_some() { value_type } else { 0 },
        ..MapCreateAttrs::default()
    };
    let map = match MapFd::create(&attrs) {
        Ok(map) => map,
        // libbpf retries without BTF when the kernel refuses the types.
        Err(_) if with_btf.is_some() => MapFd::create(&MapCreateAttrs {
            btf_fd: None,
            btf_key_type_id: 0,
            btf_value_type_id: 0,
            ..attrs
        })
        .map_err(create_err)?,
        Err(error) => return Err(create_err(error)),
    };
    if !spec.initial_data.is_empty() {
        let init_err = |source| Error::MapInit {
            map: spec.name.clone(),
            source,
        };
        map.update(&0u32.to_ne_bytes(), &spec.initial_data, 0)
            .map_err(init_err)?;
        if spec.map_flags & map_flags::RDONLY_PROG != 0 {
            map.freeze().map_err(init_err)?;
        }
    }
    Ok(map)
}

/// The vmlinux BTF id a BTF-attached program's `attach_target` names, with
/// libbpf's prefixes (`btf_trace_` typedefs for tp_btf, `bpf_lsm_` and
/// `bpf_iter_` functions).
fn attach_btf_id(program: &ProgramSpec, vmlinux: &mut Option<Btf>) -> Result<u32, Error> {
    if !program.flags.contains(SecFlags::ATTACH_BTF) {
        return Ok(0);
    }
    let fail = |reason: String| Error::AttachTarget {
        program: program.name.clone(),
        reason,
    };
    let Some(target) = program.attach_target.as_deref() else {
        return Err(fail("its section names no attach target".to_owned()));
    };
    if program.prog_type == ProgType::EXT {
        return Err(fail(
            "freplace needs a target program fd, which this backend does not take".to_owned(),
        ));
    }
    let btf = match vmlinux {
        Some(btf) => btf,
        None => {
            let path = "/sys/kernel/btf/vmlinux";
            let bytes = std::fs::read(path).map_err(|e| fail(format!("reading {path}: {e}")))?;
            vmlinux.insert(Btf::parse(&bytes).map_err(|e| fail(format!("parsing {path}: {e}")))?)
        }
    };
    let (name, kind) = match program.expected_attach_type {
        Some(AttachType::TRACE_RAW_TP) => (format!("btf_trace_{target}"), BtfKind::Typedef),
        Some(AttachType::LSM_MAC | AttachType::LSM_CGROUP) => {
            (format!("bpf_lsm_{target}"), BtfKind::Func)
        }
        Some(AttachType::TRACE_ITER) => (format!("bpf_iter_{target}"), BtfKind::Func),
        _ => (target.to_owned(), BtfKind::Func),
    };
    btf.find_by_name_kind(&name, kind)
        .map(|id| id.0)
        .ok_or_else(|| {
            fail(format!(
                "{kind} {name:?} is not in vmlinux BTF (module targets are not searched)"
            ))
        })
}

fn load_program(
    object: &Object,
    program: &ProgramSpec,
    btf: Option<&KernelBtf>,
    btf_fd: Option<BorrowedFd<'_>>,
    fd_array: &[BorrowedFd<'_>],
    attach_btf_id: u32,
    log_level: u32,
) -> Result<apiary_kernel::LoadedProg, Error> {
    let insns: Vec<u8> = program.insns.iter().flat_map(|i| i.to_le_bytes()).collect();
    let mut func_info = Vec::with_capacity(program.func_info.len() * FUNC_INFO_SIZE as usize);
    for record in &program.func_info {
        let insn = u32::try_from(record.insn_index).unwrap_or(u32::MAX);
        func_info.extend_from_slice(&insn.to_ne_bytes());
        func_info.extend_from_slice(&record.type_id.0.to_ne_bytes());
    }
    let line_info = btf
        .and_then(|k| k.line_info.get(&program.name))
        .map_or(&[][..], Vec::as_slice);
    let mut flags = 0;
    if program.flags.contains(SecFlags::SLEEPABLE) {
        flags |= prog_flags::SLEEPABLE;
    }
    if program.flags.contains(SecFlags::XDP_FRAGS) {
        flags |= prog_flags::XDP_HAS_FRAGS;
    }
    let name = kernel_name(&program.name);
    let attrs = ProgLoadAttrs {
        prog_type: program.prog_type,
        expected_attach_type: program.expected_attach_type,
        insns: &insns,
        license: object.license.as_deref().unwrap_or(""),
        log_level,
        kern_version: object.kern_version.unwrap_or(0),
        prog_flags: flags,
        name: &name,
        prog_btf_fd: btf_fd,
        func_info: Records {
            bytes: if btf_fd.is_some() { &func_info } else { &[] },
            rec_size: FUNC_INFO_SIZE,
        },
        line_info: Records {
            bytes: line_info,
            rec_size: LINE_INFO_SIZE,
        },
        attach_btf_id,
        fd_array,
        ..ProgLoadAttrs::default()
    };
    ProgFd::load(&attrs).map_err(|source| Error::ProgLoad {
        program: program.name.clone(),
        source,
    })
}
