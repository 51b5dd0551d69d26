//! What each relocation in a code section means (libbpf
//! `bpf_program__record_reloc`): a map reference, a global-data address, a
//! `.kconfig` extern, a subprogram call or function address, or something
//! this loader refuses with a reason.

use std::collections::BTreeMap;

use apiary_btf::TypeId;
use apiary_isa::RawInsn;
use apiary_isa::opcode::{BPF_CALL, BPF_DW, BPF_IMM, BPF_JMP, BPF_LD, BPF_PSEUDO_CALL};

use crate::elf::{ElfObject, SymbolKind};
use crate::maps::PlacedMap;

pub(crate) const LDDW: u8 = BPF_LD | BPF_DW | BPF_IMM;
pub(crate) const CALL: u8 = BPF_JMP | BPF_CALL;

/// `R_BPF_64_64`: the 64-bit immediate of an lddw.
const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_32`: the 32-bit immediate of a call.
const R_BPF_64_32: u32 = 10;

/// The meaning of one relocated instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InsnReloc {
    /// lddw of a map (`&map`).
    Map { map_index: usize },
    /// lddw of an address inside a map's value (global data, `.kconfig`).
    MapValue { map_index: usize, offset: u32 },
    /// Call of, or lddw of the address of, a code location: `byte_offset`
    /// into section `section` before adding the instruction's imm.
    Code { section: usize, byte_offset: u64 },
    /// Call of a kernel function: an extern function of `.ksyms`, with
    /// its local BTF `FUNC` when the object's BTF declares it.
    Kfunc {
        name: String,
        local_func: Option<TypeId>,
        weak: bool,
    },
    /// Kernel variable (a `.ksyms` extern read by lddw).
    Ksym { name: String },
    /// Refused, with the reason.
    Invalid(String),
}

/// Relocations of one code section, by slot index.
pub(crate) type SectionRelocs = BTreeMap<usize, InsnReloc>;

/// Classifies every relocation of code section `section`; `kconfig` maps
/// extern names to (map index, offset), `ksyms` a `.ksyms` extern's name
/// to its BTF `VAR` or `FUNC`.
pub(crate) fn classify(
    elf: &ElfObject<'_>,
    section: usize,
    slots: &[RawInsn],
    maps: &[PlacedMap],
    kconfig: &dyn Fn(&str) -> Option<(usize, u32)>,
    ksyms: &dyn Fn(&str) -> Option<TypeId>,
) -> SectionRelocs {
    let mut out = BTreeMap::new();
    for reloc in elf.relocs_for(section) {
        let Some(index) = usize::try_from(reloc.offset)
            .ok()
            .filter(|o| o % 8 == 0)
            .map(|o| o / 8)
        else {
            // Cannot name an instruction: recorded at the nearest slot so the
            // programs covering it fail with the reason.
            let slot = usize::try_from(reloc.offset / 8).unwrap_or(usize::MAX);
            out.insert(
                slot,
                InsnReloc::Invalid(format!(
                    "offset {:#x} is not instruction-aligned",
                    reloc.offset
                )),
            );
            continue;
        };
        let section_name = elf.section(section).map_or("?", |s| s.name);
        let meaning = match (slots.get(index), elf.symbol(reloc.symbol)) {
            // What clang emits into code; anything else (R_BPF_NONE, the data
            // kinds, numbers no BPF backend defines) has no meaning there.
            _ if reloc.r_type != R_BPF_64_64 && reloc.r_type != R_BPF_64_32 => {
                InsnReloc::Invalid(format!(
                    "relocation type {} at offset {:#x} of {section_name:?} (code takes R_BPF_64_64 and R_BPF_64_32 only)",
                    reloc.r_type, reloc.offset
                ))
            }
            (None, _) => InsnReloc::Invalid(format!(
                "offset {:#x} is past the section end",
                reloc.offset
            )),
            (_, None) => InsnReloc::Invalid(format!("symbol index {} out of range", reloc.symbol)),
            (Some(insn), Some(sym)) => classify_one(elf, insn, sym, maps, kconfig, ksyms),
        };
        out.insert(index, meaning);
    }
    out
}

fn classify_one(
    elf: &ElfObject<'_>,
    insn: &RawInsn,
    sym: &crate::elf::Symbol<'_>,
    maps: &[PlacedMap],
    kconfig: &dyn Fn(&str) -> Option<(usize, u32)>,
    ksyms: &dyn Fn(&str) -> Option<TypeId>,
) -> InsnReloc {
    let Some(sym_section) = sym.section else {
        if let Some((map_index, offset)) = kconfig(sym.name) {
            if insn.code != LDDW {
                return InsnReloc::Invalid(format!(
                    "kconfig extern {} used by a non-lddw instruction",
                    sym.name
                ));
            }
            return InsnReloc::MapValue { map_index, offset };
        }
        if insn.code == CALL {
            return InsnReloc::Kfunc {
                name: sym.name.to_owned(),
                local_func: ksyms(sym.name),
                weak: sym.weak,
            };
        }
        if ksyms(sym.name).is_some() {
            return InsnReloc::Ksym {
                name: sym.name.to_owned(),
            };
        }
        return InsnReloc::Invalid(format!(
            "undefined symbol {:?} is neither a .kconfig nor a .ksyms extern",
            sym.name
        ));
    };
    let Some(target) = elf.section(sym_section) else {
        return InsnReloc::Invalid(format!("symbol {:?} is in a missing section", sym.name));
    };
    if insn.code == CALL {
        if insn.src != BPF_PSEUDO_CALL {
            return InsnReloc::Invalid(format!(
                "relocated call to {:?} is not a BPF-to-BPF call",
                sym.name
            ));
        }
        // Older clang gave functions NOTYPE symbols.
        let function_like = matches!(
            sym.kind,
            SymbolKind::Func | SymbolKind::Section | SymbolKind::NoType
        );
        if !target.is_code() || !function_like {
            return InsnReloc::Invalid(format!("call target {:?} is not a function", sym.name));
        }
        return InsnReloc::Code {
            section: sym_section,
            byte_offset: sym.value,
        };
    }
    if insn.code != LDDW {
        return InsnReloc::Invalid(format!(
            "relocation against {:?} on opcode {:#04x}, expected lddw or call",
            sym.name, insn.code
        ));
    }
    if target.is_code() {
        return InsnReloc::Code {
            section: sym_section,
            byte_offset: sym.value,
        };
    }
    if target.name == ".maps" || target.name == "maps" {
        return match maps
            .iter()
            .position(|m| m.section == sym_section && m.offset == sym.value)
        {
            Some(map_index) => InsnReloc::Map { map_index },
            None => InsnReloc::Invalid(format!(
                "symbol {:?} is not at the start of a map definition",
                sym.name
            )),
        };
    }
    let Some(map_index) = maps.iter().position(|m| {
        m.section == sym_section && matches!(m.spec.origin, crate::MapOrigin::GlobalData { .. })
    }) else {
        return InsnReloc::Invalid(format!(
            "symbol {:?} is in section {:?}, which is neither code, maps nor global data",
            sym.name, target.name
        ));
    };
    // Both addends come from the file: a symbol value near i64::MAX plus a
    // positive imm must be refused, not overflow.
    let offset = i64::try_from(sym.value)
        .ok()
        .and_then(|value| value.checked_add(i64::from(insn.imm)));
    match offset.and_then(|o| u32::try_from(o).ok()) {
        Some(offset) if u64::from(offset) < target.size.max(1) => {
            InsnReloc::MapValue { map_index, offset }
        }
        _ => InsnReloc::Invalid(format!(
            "symbol {:?} value {:#x} plus imm {} is outside section {:?}",
            sym.name, sym.value, insn.imm, target.name
        )),
    }
}
