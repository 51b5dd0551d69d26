//! Apiary's ELF object loader: reads the eBPF objects that clang
//! (`-target bpf -O2 -g`) and libbpf users build, unchanged, and produces
//! what libbpf's `bpf_object__open` plus relocation would: program specs
//! (type and attach type from libbpf's `SEC()` table, instructions with
//! every transitively called subprogram appended, map references left
//! symbolic as `BPF_PSEUDO_MAP_IDX[_VALUE]`, func/line info and CO-RE
//! records at final instruction indices) and map specs (BTF-defined,
//! legacy, global data, `.kconfig`).
//!
//! CO-RE relocations are applied on request by [`Object::relocate_core`]
//! against a caller-given target BTF, through `apiary-coreloc` (which owns
//! their semantics). The loader must not execute programs, create kernel
//! objects or implement maps. Every byte of the input is treated as
//! hostile: malformed objects give a [`LoadError`], a program that cannot
//! be produced gives a [`ProgramError`] in its slot of
//! [`Object::programs`], and nothing panics.

mod btf_dump;
mod core;
mod elf;
mod entries;
mod error;
pub mod helpers;
mod kconfig;
mod kfuncs;
mod legacy_maps;
mod legacy_sections;
mod maps;
mod programs;
mod relocs;
mod report;
mod sections;
mod xlated;

use apiary_btf::{Btf, BtfExt, Kind, TypeId};

pub use crate::btf_dump::{BtfDumpFormat, btf_dump, btf_dump_file, btf_from_file_bytes};
pub use crate::core::{CoreReport, ProgramCoreReport};
pub use crate::entries::{NameSource, SectionOutcome, SectionReport, UserTyping};
pub use crate::error::{LoadError, ProgramError};
pub use crate::kconfig::{Kconfig, KconfigValue, kernel_version_code};
pub use crate::kfuncs::KfuncCall;
pub use crate::legacy_sections::{
    LIBBPF0_PREFIXES, ProgramTypeChoice, TailCallSection, TypeSource, UnknownProgramType,
    classify_any, parse_c_number, tail_call_section,
};
pub use crate::maps::{
    BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, DataRelocation, ElfMapIds, ElfPinning, InitialSlot,
    InitialSlotTarget, MapOrigin, MapSpec,
};
pub use crate::programs::{CoreRelo, FuncInfo, LineInfo, MapReloc, ProgramSpec};
pub use crate::report::{ReportError, gpl_compatible, maps_used, object_json, object_listing};
pub use crate::sections::{SECTION_DEFS, SecFlags, SectionDef, SectionKind, classify_section};
pub use crate::xlated::{
    XlatedOptions, annotations, dump_object_xlated, dump_xlated, format_xlated_insn, func_signature,
};

use crate::elf::ElfObject;
use crate::entries::Decision;
use crate::maps::PlacedMap;
use crate::programs::{CodeSection, Function};

/// A loaded object.
#[derive(Debug)]
pub struct Object {
    /// Object name (file name up to its first dot, as libbpf names it).
    pub name: String,
    /// Contents of the `license` section.
    pub license: Option<String>,
    /// Contents of the `version` section.
    pub kern_version: Option<u32>,
    /// Maps, in libbpf's order: legacy, BTF-defined, global data,
    /// `.kconfig`.
    pub maps: Vec<MapSpec>,
    /// Programs in section order, then symbol order; each either relocated
    /// or failed with its reason.
    pub programs: Vec<Result<ProgramSpec, ProgramError>>,
    /// Every executable section, in file order, and what became of it.
    pub sections: Vec<SectionReport>,
    /// The object's `.BTF`.
    pub btf: Option<Btf>,
    /// Functions defined with hidden or internal visibility (`__hidden`),
    /// whose BTF linkage libbpf makes static: the kernel verifies them
    /// with their callers, not on their own as global functions.
    pub hidden_functions: std::collections::BTreeSet<String>,
}

impl Object {
    /// Whether any program has CO-RE relocations or kfunc calls left to
    /// resolve against the target kernel's BTF ([`Object::relocate_core`]).
    pub fn needs_core(&self) -> bool {
        self.has_unresolved_kfuncs()
            || self
                .programs
                .iter()
                .filter_map(|p| p.as_ref().ok())
                .any(|p| !p.core_relos.is_empty())
    }

    /// Reads and loads the object at `path` with default `.kconfig` values.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Object, LoadError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| LoadError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = file_name.split('.').next().unwrap_or_default();
        Object::parse(&bytes, name)
    }

    /// Loads an object from its bytes; `name` is the object name libbpf
    /// would use (the file name without extension).
    pub fn parse(bytes: &[u8], name: &str) -> Result<Object, LoadError> {
        Object::parse_with_kconfig(bytes, name, &Kconfig::default())
    }

    /// Loads an object, giving `.kconfig` externs values from `kconfig`.
    pub fn parse_with_kconfig(
        bytes: &[u8],
        name: &str,
        kconfig: &Kconfig,
    ) -> Result<Object, LoadError> {
        Object::parse_with(bytes, name, kconfig, &UserTyping::default())
    }

    /// Loads an object with `.kconfig` values and the user's program type
    /// for sections whose name says nothing (bpftool's `type`, tc's `sec`).
    pub fn parse_with(
        bytes: &[u8],
        name: &str,
        kconfig: &Kconfig,
        typing: &UserTyping,
    ) -> Result<Object, LoadError> {
        let elf = ElfObject::parse(bytes)?;
        let license = elf.section_by_name("license").map(|s| {
            let text = s.data.split(|b| *b == 0).next().unwrap_or_default();
            String::from_utf8_lossy(text).into_owned()
        });
        let kern_version = elf
            .section_by_name("version")
            .map(|s| {
                s.data
                    .try_into()
                    .map(u32::from_le_bytes)
                    .map_err(|_| LoadError::Section {
                        section: "version".to_owned(),
                        reason: format!("{} bytes, expected 4", s.data.len()),
                    })
            })
            .transpose()?;
        let mut btf = elf
            .section_by_name(".BTF")
            .map(|s| Btf::parse(s.data))
            .transpose()?;
        if let Some(btf) = btf.as_mut() {
            fixup_datasecs(&elf, btf)?;
        }
        let (kconfig_externs, ksyms) = externs(&elf, btf.as_ref())?;
        let kconfig_plan = match (kconfig_externs.is_empty(), btf.as_mut()) {
            (false, Some(btf)) => {
                let layout = kconfig::layout(btf, &kconfig_externs, kconfig)?;
                let value_type = btf.find_by_name_kind(".kconfig", apiary_btf::BtfKind::Datasec);
                if let Some(id) = value_type {
                    let size = u32::try_from(layout.data.len()).unwrap_or(u32::MAX);
                    btf.layout_kconfig_datasec(id, size, |var| {
                        layout
                            .externs
                            .iter()
                            .find(|e| e.name == var)
                            .map(|e| e.offset)
                    })?;
                }
                Some((layout, value_type))
            }
            _ => None,
        };
        let mut access_offsets = programs::AccessOffsets::new();
        let ext = match (elf.section_by_name(".BTF.ext"), &btf) {
            (Some(s), Some(btf)) => {
                let raw = BtfExt::parse(s.data)?;
                for record in raw.core_relos.iter().flat_map(|sec| &sec.records) {
                    access_offsets
                        .insert(btf.str_at(record.access_str_off)?, record.access_str_off);
                }
                raw.resolve(btf)?
            }
            _ => Vec::new(),
        };

        let mut placed = legacy_maps::legacy_maps(&elf, 0)?;
        placed.extend(maps::btf_maps(&elf, btf.as_ref(), placed.len())?);
        placed.extend(maps::global_data_maps(&elf, name)?);
        if let Some(btf) = &btf {
            for placed in &mut placed {
                if let MapOrigin::GlobalData { section } = &placed.spec.origin {
                    placed.spec.value_type =
                        btf.find_by_name_kind(section, apiary_btf::BtfKind::Datasec);
                }
            }
        }

        let mut kconfig_slots = Vec::new();
        if let Some((layout, value_type)) = kconfig_plan {
            let map_index = placed.len();
            kconfig_slots = layout
                .externs
                .iter()
                .map(|e| (e.name.clone(), map_index, e.offset))
                .collect();
            let value_size = u32::try_from(layout.data.len()).unwrap_or(u32::MAX);
            placed.push(PlacedMap {
                spec: MapSpec {
                    map_type: apiary_kernel::types::MapType::ARRAY,
                    key_size: 4,
                    value_size,
                    max_entries: 1,
                    map_flags: BPF_F_RDONLY_PROG | BPF_F_MMAPABLE,
                    value_type,
                    initial_data: layout.data,
                    ..MapSpec::empty(
                        maps::internal_map_name(name, ".kconfig"),
                        MapOrigin::Kconfig,
                    )
                },
                section: usize::MAX,
                offset: 0,
            });
        }
        let kconfig_lookup = |n: &str| {
            kconfig_slots
                .iter()
                .find(|(name, ..)| name == n)
                .map(|&(_, m, o)| (m, o))
        };
        let ksym_lookup = |n: &str| ksyms.iter().find(|(name, _)| *name == n).map(|&(_, id)| id);

        let mut code = Vec::new();
        let mut functions = Vec::new();
        for section in elf.sections.iter().filter(|s| s.is_code()) {
            let slots =
                apiary_isa::slots_from_bytes(section.data).map_err(|e| LoadError::Section {
                    section: section.name.to_owned(),
                    reason: format!("code is not a whole number of instructions: {e}"),
                })?;
            functions.extend(entries::functions(&elf, section, section.name == ".text")?);
            let relocs = relocs::classify(
                &elf,
                section.index,
                &slots,
                &placed,
                &kconfig_lookup,
                &ksym_lookup,
            );
            let ext_info = ext.iter().find(|e| e.name == section.name).cloned();
            code.push(CodeSection {
                index: section.index,
                name: section.name,
                slots,
                relocs,
                ext: ext_info,
            });
        }

        let text = elf
            .section_by_name(".text")
            .filter(|s| s.is_code())
            .map(|s| s.index);
        let (programs, sections) = place_programs(
            &code,
            &functions,
            text,
            typing,
            &mut placed,
            &access_offsets,
        )?;

        Ok(Object {
            name: name.to_owned(),
            license,
            kern_version,
            maps: placed.into_iter().map(|p| p.spec).collect(),
            programs,
            sections,
            btf,
            hidden_functions: elf
                .symbols
                .iter()
                .filter(|s| s.kind == elf::SymbolKind::Func && s.hidden)
                .map(|s| s.name.to_owned())
                .collect(),
        })
    }

    /// The program named `name`, if it loaded.
    pub fn program(&self, name: &str) -> Option<&ProgramSpec> {
        self.programs
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .find(|p| p.name == name)
    }

    /// The map named `name`.
    pub fn map(&self, name: &str) -> Option<&MapSpec> {
        self.maps.iter().find(|m| m.name == name)
    }
}

/// Every program of every code section, typed as [`entries::decide`]
/// says, with the section reports; tail-call programs are put into their
/// program array's initial slots.
fn place_programs(
    code: &[CodeSection<'_>],
    functions: &[Function<'_>],
    text: Option<usize>,
    typing: &UserTyping,
    placed: &mut [PlacedMap],
    access_offsets: &programs::AccessOffsets<'_>,
) -> Result<ProgramResults, LoadError> {
    if let Some(section) = typing.section.as_deref()
        && !code.iter().any(|c| c.name == section)
    {
        let names: Vec<&str> = code.iter().map(|c| c.name).collect();
        return Err(LoadError::Section {
            section: section.to_owned(),
            reason: format!(
                "--section names no executable section; the object has {}",
                names.join(", ")
            ),
        });
    }
    let text_only = code.iter().all(|c| Some(c.index) == text);
    let called = entries::called_functions(code, functions);
    let mut programs = Vec::new();
    let mut reports = Vec::new();
    for section in code {
        let is_text = Some(section.index) == text;
        let members = functions
            .iter()
            .enumerate()
            .filter(|(_, f)| f.section == section.index);
        let mut members = members.peekable();
        let all_called = members.peek().is_some()
            && functions
                .iter()
                .enumerate()
                .filter(|(_, f)| f.section == section.index)
                .all(|(id, _)| called.contains(&id));
        let decision = entries::decide(
            section.name,
            is_text,
            text_only,
            all_called,
            typing,
            placed,
            code,
        );
        let outcome = match decision {
            Decision::Subprograms => {
                SectionOutcome::Subprograms(members.map(|(_, f)| f.name.to_owned()).collect())
            }
            Decision::Skipped { reason, hint } => SectionOutcome::Skipped { reason, hint },
            Decision::Typed {
                kind,
                source,
                tail_call,
            } => {
                let first = programs.len();
                for (id, f) in members.filter(|(_, f)| f.global || !is_text) {
                    programs.push(if f.global {
                        programs::assemble(id, &kind, source, code, functions, access_offsets)
                    } else {
                        Err(ProgramError::StaticProgram {
                            program: f.name.to_owned(),
                            section: section.name.to_owned(),
                        })
                    });
                }
                let entry = programs.get(first).and_then(|p| p.as_ref().ok());
                let slot = match (tail_call, entry) {
                    (Some((map, key)), Some(entry)) => placed.get_mut(map).map(|map| {
                        map.spec.initial_slots.push(InitialSlot {
                            index: key,
                            target: InitialSlotTarget::Program(entry.name.clone()),
                        });
                        (map.spec.name.clone(), key)
                    }),
                    _ => None,
                };
                SectionOutcome::Programs {
                    programs: (first..programs.len()).collect(),
                    tail_call: slot,
                }
            }
        };
        reports.push(SectionReport {
            name: section.name.to_owned(),
            size: (section.slots.len() * 8) as u64,
            outcome,
        });
    }
    Ok((programs, reports))
}

/// The programs of an object and the report of its sections.
type ProgramResults = (Vec<Result<ProgramSpec, ProgramError>>, Vec<SectionReport>);

/// A `.kconfig` extern: name, BTF type, whether `__weak`.
type KconfigExternRef<'a> = (&'a str, apiary_btf::TypeId, bool);
/// A `.ksyms` extern: its name and BTF `VAR` or `FUNC`.
type KsymExternRef<'a> = (&'a str, TypeId);

/// libbpf's `btf_finalize_data` at open: clang leaves the size of data
/// DATASECs and their variables' offsets at 0; they come from the ELF
/// section size and each variable's `STT_OBJECT` symbol.
fn fixup_datasecs(elf: &ElfObject<'_>, btf: &mut Btf) -> Result<(), LoadError> {
    let datasecs: Vec<(apiary_btf::TypeId, String)> = btf
        .types()
        .filter(|(_, t)| matches!(t.kind, Kind::Datasec(_)))
        .filter_map(|(id, t)| Some((id, btf.str_at(t.name_off).ok()?.to_owned())))
        .collect();
    for (id, name) in datasecs {
        let section_size = elf
            .section_by_name(&name)
            .and_then(|s| u32::try_from(s.size).ok())
            .unwrap_or(0);
        btf.fixup_datasec(id, section_size, |var| {
            elf.symbols
                .iter()
                .find(|s| s.kind == elf::SymbolKind::Object && s.name == var)
                .and_then(|s| u32::try_from(s.value).ok())
        })?;
    }
    Ok(())
}

/// Extern variables: `.kconfig` ones (name, BTF type, weak) and `.ksyms`
/// ones (name, BTF `VAR` or `FUNC`), found through BTF's DATASECs as
/// libbpf does.
fn externs<'a>(
    elf: &ElfObject<'a>,
    btf: Option<&Btf>,
) -> Result<(Vec<KconfigExternRef<'a>>, Vec<KsymExternRef<'a>>), LoadError> {
    let mut kconfig = Vec::new();
    let mut ksyms = Vec::new();
    let Some(btf) = btf else {
        return Ok((kconfig, ksyms));
    };
    for sym in elf
        .symbols
        .iter()
        .filter(|s| s.section.is_none() && s.global && !s.name.is_empty())
    {
        for (section, list) in [(".kconfig", true), (".ksyms", false)] {
            let Some(id) = btf.find_by_name_kind(section, apiary_btf::BtfKind::Datasec) else {
                continue;
            };
            let Kind::Datasec(datasec) = &btf.type_by_id(id)?.kind else {
                continue;
            };
            for var in &datasec.vars {
                let t = btf.type_by_id(var.ty)?;
                if btf.str_at(t.name_off)? != sym.name {
                    continue;
                }
                match (&t.kind, list) {
                    (Kind::Var { ty, .. }, true) => kconfig.push((sym.name, *ty, sym.weak)),
                    (_, false) => ksyms.push((sym.name, var.ty)),
                    _ => {}
                }
            }
        }
    }
    Ok((kconfig, ksyms))
}
