//! Where programs are in an object and what type each gets, for objects of
//! every era: functions found by `STT_FUNC` symbols (clang today), by
//! global `NOTYPE` symbols splitting the section (older clang), or the
//! whole section when no symbol names it (libbpf 0.x named it after the
//! section); and each executable section's fate: programs typed by its
//! name (libbpf 1.x's table, then libbpf 0.x's prefixes), by the user's
//! `--type`, `.text` subprograms, or skipped with the reason and the option
//! that would load it.

use std::collections::HashSet;

use apiary_isa::opcode::BPF_PSEUDO_CALL;
use apiary_kernel::types::{MapType, ProgType};

use crate::elf::{ElfObject, Section, SymbolKind};
use crate::error::LoadError;
use crate::legacy_sections::{ProgramTypeChoice, TypeSource, classify_any, tail_call_section};
use crate::maps::{MapOrigin, PlacedMap};
use crate::programs::{CodeSection, Function};
use crate::relocs::{CALL, InsnReloc};
use crate::sections::SectionKind;

/// How a program got its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameSource {
    /// An `STT_FUNC` symbol (clang since BPF-to-BPF calls).
    FuncSymbol,
    /// A global `STT_NOTYPE` symbol (older clang): the program runs from
    /// it to the next such symbol or the section's end.
    NoTypeSymbol,
    /// No symbol: the section is the program and names it.
    Section,
}

impl NameSource {
    /// Short words for listings and a stable JSON key.
    pub fn key(self) -> &'static str {
        match self {
            NameSource::FuncSymbol => "func_symbol",
            NameSource::NoTypeSymbol => "notype_symbol",
            NameSource::Section => "section",
        }
    }
}

/// What became of one executable section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionReport {
    /// The section's name.
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// What the loader did with it.
    pub outcome: SectionOutcome,
}

/// The fate of an executable section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionOutcome {
    /// Its programs, as indices into [`crate::Object::programs`].
    Programs {
        /// Indices into [`crate::Object::programs`].
        programs: Vec<usize>,
        /// For a tc tail-call section `ID/KEY`: the program array (by
        /// name) and the slot its first program was put in.
        tail_call: Option<(String, u32)>,
    },
    /// `.text`, or a section whose every function other code calls:
    /// functions appended to the programs that call them.
    Subprograms(Vec<String>),
    /// Not loaded.
    Skipped {
        /// Why.
        reason: String,
        /// The option that would load it (`--type TYPE`, `--type xdp`).
        hint: Option<String>,
    },
}

/// The user's choice of program type, and the one section it is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserTyping {
    /// `--type`: the type of every program whose section says nothing.
    pub program_type: Option<ProgramTypeChoice>,
    /// `--section`: the only section `--type` types (as tc's `sec NAME`),
    /// overriding what its name says; tail-call sections are still typed.
    pub section: Option<String>,
}

/// The functions of a code section: its `STT_FUNC` symbols; failing
/// those, its global `NOTYPE` symbols (in `.text` also its named local
/// ones), each running to the next one (the first from the section start,
/// where libbpf 0.x entered it); failing
/// those, the section itself named after the section (not `.text`, whose
/// unnamed code only a call can reach).
pub(crate) fn functions<'a>(
    elf: &ElfObject<'a>,
    section: &Section<'a>,
    is_text: bool,
) -> Result<Vec<Function<'a>>, LoadError> {
    let in_section = |kind: SymbolKind| {
        let mut syms: Vec<_> = elf
            .symbols
            .iter()
            .filter(|s| s.section == Some(section.index) && s.kind == kind)
            .collect();
        syms.sort_by_key(|s| s.value);
        syms
    };
    let len = section.data.len() as u64;
    let funcs = in_section(SymbolKind::Func);
    if !funcs.is_empty() {
        return funcs
            .into_iter()
            .map(|sym| {
                let bad = |reason: String| LoadError::Symbol {
                    symbol: sym.name.to_owned(),
                    reason,
                };
                if sym.value % 8 != 0 || sym.size % 8 != 0 || sym.size == 0 {
                    return Err(bad(format!(
                        "function at {:#x}+{:#x} in {:?} is not whole instructions",
                        sym.value, sym.size, section.name
                    )));
                }
                if sym.value.checked_add(sym.size).is_none_or(|end| end > len) {
                    return Err(bad(format!(
                        "function at {:#x}+{:#x} runs past {:?} ({len} bytes)",
                        sym.value, sym.size, section.name
                    )));
                }
                Ok(Function {
                    name: sym.name,
                    section: section.index,
                    start: (sym.value / 8) as usize,
                    len: (sym.size / 8) as usize,
                    global: sym.global,
                    name_source: NameSource::FuncSymbol,
                })
            })
            .collect();
    }
    // In `.text`, older clang named static functions with local NOTYPE
    // symbols too, beside its local jump labels (`LBB0_3`).
    let is_label = |name: &str| name.starts_with("LBB") || name.starts_with(".L");
    let mut starts: Vec<_> = in_section(SymbolKind::NoType)
        .into_iter()
        .filter(|s| !s.name.is_empty() && (s.global || (is_text && !is_label(s.name))))
        .collect();
    starts.dedup_by_key(|s| s.value);
    if let Some(sym) = starts.iter().find(|s| s.value % 8 != 0 || s.value >= len) {
        return Err(LoadError::Symbol {
            symbol: sym.name.to_owned(),
            reason: format!(
                "program symbol at offset {:#x} of {:?} ({len} bytes) is not the start of an instruction in it",
                sym.value, section.name
            ),
        });
    }
    if starts.is_empty() {
        if is_text {
            return Ok(Vec::new());
        }
        return Ok(vec![Function {
            name: section.name,
            section: section.index,
            start: 0,
            len: (len / 8) as usize,
            global: true,
            name_source: NameSource::Section,
        }]);
    }
    let ends: Vec<u64> = starts
        .iter()
        .skip(1)
        .map(|s| s.value)
        .chain([len])
        .collect();
    Ok(starts
        .iter()
        .zip(ends)
        .enumerate()
        .map(|(i, (sym, end))| {
            let start = if i == 0 { 0 } else { sym.value / 8 };
            Function {
                name: sym.name,
                section: section.index,
                start: start as usize,
                len: (end / 8 - start) as usize,
                global: true,
                name_source: NameSource::NoTypeSymbol,
            }
        })
        .collect())
}

/// What to do with one executable section.
pub(crate) enum Decision {
    /// Its programs have this type; a tail-call section also names the
    /// program array (index into the placed maps) and slot.
    Typed {
        kind: SectionKind,
        source: TypeSource,
        tail_call: Option<(usize, u32)>,
    },
    /// `.text` beside program sections, or a section only called into:
    /// subprograms.
    Subprograms,
    /// Skipped, with the reason and the option that would load it.
    Skipped {
        reason: String,
        hint: Option<String>,
    },
}

fn skipped(reason: String, hint: Option<&str>) -> Decision {
    Decision::Skipped {
        reason,
        hint: hint.map(str::to_owned),
    }
}

/// The functions other code calls through a relocation (`call` of a
/// function symbol), by index in `functions`.
pub(crate) fn called_functions(
    code: &[CodeSection<'_>],
    functions: &[Function<'_>],
) -> HashSet<usize> {
    let mut called = HashSet::new();
    for section in code {
        for (slot, reloc) in &section.relocs {
            let (
                InsnReloc::Code {
                    section: target,
                    byte_offset,
                },
                Some(insn),
            ) = (reloc, section.slots.get(*slot))
            else {
                continue;
            };
            if insn.code != CALL || insn.src != BPF_PSEUDO_CALL {
                continue;
            }
            let start = (byte_offset / 8).checked_add_signed(i64::from(insn.imm) + 1);
            if let Some(id) = functions
                .iter()
                .position(|f| f.section == *target && Some(f.start as u64) == start)
            {
                called.insert(id);
            }
        }
    }
    called
}

/// The `--type` option naming `prog_type`: the `SEC()` name users know
/// for the types tail calls are common in, the kernel's name otherwise
/// (both are what [`ProgramTypeChoice::parse`] takes).
fn type_option(prog_type: ProgType) -> String {
    let name = match prog_type {
        ProgType::XDP => Some("xdp"),
        ProgType::SCHED_CLS => Some("tc"),
        ProgType::SCHED_ACT => Some("action"),
        other => other.name(),
    };
    format!("--type {}", name.unwrap_or("TYPE"))
}

/// The one value every item has, if there are items and they agree.
fn only(mut types: impl Iterator<Item = ProgType>) -> Option<ProgType> {
    let first = types.next()?;
    types.all(|t| t == first).then_some(first)
}

/// The option that would load a tail-call section into prog array `array`
/// (index into the placed maps): a tail call keeps the caller's type, so
/// the type of the sections whose code names that array when their names
/// type them all alike; failing that, the one type every typed section of
/// the object has (an XDP object's tail calls are XDP programs); failing
/// that, the type `tc` or `ip` would give, which the object does not say.
fn tail_call_hint(code: &[CodeSection<'_>], array: usize) -> String {
    let typed = || {
        code.iter()
            .filter_map(|c| Some((c, classify_any(c.name)?.0.def.prog_type)))
    };
    let callers = typed().filter(|(c, _)| {
        c.relocs
            .values()
            .any(|r| matches!(r, InsnReloc::Map { map_index } if *map_index == array))
    });
    only(callers.map(|(_, t)| t))
        .or_else(|| only(typed().map(|(_, t)| t)))
        .map_or_else(|| "--type TYPE".to_owned(), type_option)
}

/// Decides section `name`'s fate; `text_only` says the object has no code
/// section but `.text`, `all_called` that every function of the section is
/// called from elsewhere (a section of subprograms, as cilium/ebpf allows);
/// `code` is every code section of the object.
pub(crate) fn decide(
    name: &str,
    is_text: bool,
    text_only: bool,
    all_called: bool,
    typing: &UserTyping,
    maps: &[PlacedMap],
    code: &[CodeSection<'_>],
) -> Decision {
    let chosen = typing.program_type.as_ref();
    let for_this = typing.section.as_deref().is_none_or(|s| s == name);
    if all_called
        && !is_text
        && typing.section.as_deref() != Some(name)
        && classify_any(name).is_none()
    {
        return Decision::Subprograms;
    }
    if is_text {
        return match (text_only, chosen) {
            (false, _) => Decision::Subprograms,
            (true, Some(choice)) if for_this => Decision::Typed {
                kind: choice.kind.clone(),
                source: TypeSource::UserType,
                tail_call: None,
            },
            (true, _) => skipped(
                "only .text holds code: libbpf 1.x takes its functions for subprograms, and no program calls them".to_owned(),
                Some("--type TYPE"),
            ),
        };
    }
    if let (Some(choice), Some(section)) = (chosen, typing.section.as_deref())
        && section == name
    {
        return Decision::Typed {
            kind: choice.kind.clone(),
            source: TypeSource::UserTypeForSection,
            tail_call: None,
        };
    }
    if let Some((kind, source)) = classify_any(name) {
        return Decision::Typed {
            kind,
            source,
            tail_call: None,
        };
    }
    if let Some(tail) = tail_call_section(name) {
        let what = format!(
            "tail call slot {} of prog array id {}",
            tail.key, tail.map_id
        );
        let array = maps.iter().enumerate().find(|(_, m)| {
            m.spec.map_type == MapType::PROG_ARRAY
                && matches!(m.spec.origin, MapOrigin::Iproute2(ids) if ids.id == tail.map_id)
        });
        return match (array, chosen) {
            (None, _) => skipped(
                format!(
                    "{what}, but no prog array in \"maps\" has id {} (tc skips it too)",
                    tail.map_id
                ),
                None,
            ),
            (Some((_, map)), _) if tail.key >= map.spec.max_entries => skipped(
                format!(
                    "{what}, but {:?} has only {} slots",
                    map.spec.name, map.spec.max_entries
                ),
                None,
            ),
            (Some((index, _)), None) => Decision::Skipped {
                reason: what,
                hint: Some(tail_call_hint(code, index)),
            },
            (Some((index, _)), Some(choice)) => Decision::Typed {
                kind: choice.kind.clone(),
                source: TypeSource::UserType,
                tail_call: Some((index, tail.key)),
            },
        };
    }
    match chosen {
        Some(choice) if for_this => Decision::Typed {
            kind: choice.kind.clone(),
            source: TypeSource::UserType,
            tail_call: None,
        },
        Some(_) => skipped(
            format!(
                "its name gives no program type, and --section chose {:?}",
                typing.section.as_deref().unwrap_or_default()
            ),
            Some("--section NAME"),
        ),
        None if name == "prog" => skipped(
            "iproute2's default section for `ip link ... xdp` and `ip route ... lwt`: the command gives its type".to_owned(),
            Some("--type TYPE"),
        ),
        None => skipped(
            "its name gives no program type (neither libbpf 1.x's SEC() table nor libbpf 0.x's prefixes know it; `tc ... sec NAME` leaves the type to the command)".to_owned(),
            Some("--type TYPE"),
        ),
    }
}
