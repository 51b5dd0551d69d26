//! Programs: code sections split into functions by their symbols, and each
//! program assembled as libbpf does — its own instructions, then every
//! transitively called subprogram (of `.text`, or of another section as
//! cilium/ebpf and PREVAIL allow) appended in depth-first order of
//! first use, calls and function addresses re-pointed, map references made
//! symbolic, and BTF.ext records moved to final instruction indices.

use apiary_btf::{CoreReloKind, SectionExtInfo, TypeId};
use apiary_isa::RawInsn;
use apiary_isa::opcode::{BPF_PSEUDO_CALL, BPF_PSEUDO_FUNC, BPF_PSEUDO_KFUNC_CALL};
use apiary_kernel::types::{AttachType, ProgType};

use crate::entries::NameSource;
use crate::error::ProgramError;
use crate::kfuncs::KfuncCall;
use crate::legacy_sections::TypeSource;
use crate::relocs::{CALL, InsnReloc, LDDW, SectionRelocs};
use crate::sections::{SecFlags, SectionKind};

/// `BPF_PSEUDO_MAP_IDX`: lddw imm is an index into the map list.
const PSEUDO_MAP_IDX: u8 = 5;
/// `BPF_PSEUDO_MAP_IDX_VALUE`: as above, second imm is the value offset.
const PSEUDO_MAP_IDX_VALUE: u8 = 6;

/// A map reference left symbolic in a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapReloc {
    /// Index of the lddw's first slot in [`ProgramSpec::insns`].
    pub insn_index: usize,
    /// Index in [`crate::Object::maps`].
    pub map_index: usize,
    /// Byte offset into the map value for address loads; `None` for a
    /// reference to the map itself.
    pub value_offset: Option<u32>,
}

/// A BTF function record at its final instruction index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FuncInfo {
    /// Instruction (slot) index in [`ProgramSpec::insns`].
    pub insn_index: usize,
    /// The BTF `FUNC` type.
    pub type_id: TypeId,
}

/// A source line record at its final instruction index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineInfo {
    /// Instruction (slot) index in [`ProgramSpec::insns`].
    pub insn_index: usize,
    /// Source file.
    pub file: String,
    /// The source line's text.
    pub line_text: String,
    /// Line number.
    pub line: u32,
    /// Column.
    pub column: u32,
}

/// A CO-RE relocation at its final instruction index, to be applied by a
/// CO-RE resolver against target BTF after loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreRelo {
    /// Instruction (slot) index in [`ProgramSpec::insns`].
    pub insn_index: usize,
    /// Local (object BTF) root type.
    pub type_id: TypeId,
    /// Access string (`0:1:2`).
    pub access_str: String,
    /// Offset of the access string in the object's `.BTF` string table,
    /// as the raw `.BTF.ext` record gives it.
    pub access_str_off: u32,
    /// Relocation kind.
    pub kind: CoreReloKind,
}

/// One program, relocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSpec {
    /// Function symbol name, or the section name when no symbol names it.
    pub name: String,
    /// How the program got its name.
    pub name_source: NameSource,
    /// ELF section name (the `SEC()` string).
    pub section: String,
    /// Program type: from the section name, or as the user chose.
    pub prog_type: ProgType,
    /// How the type was decided.
    pub type_source: TypeSource,
    /// Expected attach type from the section name.
    pub expected_attach_type: Option<AttachType>,
    /// Attach target from the section name (text after `/`).
    pub attach_target: Option<String>,
    /// libbpf's section flags (sleepable, XDP frags, BTF attach, ...).
    pub flags: SecFlags,
    /// Instruction slots: the program then its appended subprograms. Map
    /// references use `BPF_PSEUDO_MAP_IDX` / `BPF_PSEUDO_MAP_IDX_VALUE`
    /// with the index into [`crate::Object::maps`].
    pub insns: Vec<RawInsn>,
    /// Every symbolic map reference in `insns`.
    pub map_relocs: Vec<MapReloc>,
    /// Appended subprograms: name and first slot index.
    pub subprograms: Vec<(String, usize)>,
    /// BTF function records.
    pub func_info: Vec<FuncInfo>,
    /// Source line records.
    pub line_info: Vec<LineInfo>,
    /// CO-RE relocations not yet applied; [`crate::Object::relocate_core`]
    /// applies them and leaves this empty.
    pub core_relos: Vec<CoreRelo>,
    /// Calls of kernel functions (`call` instructions with
    /// `BPF_PSEUDO_KFUNC_CALL`), by name: their BTF id is 0 until
    /// [`crate::Object::relocate_core`] resolves them.
    pub kfunc_calls: Vec<KfuncCall>,
}

/// One function of a code section.
#[derive(Debug, Clone)]
pub(crate) struct Function<'a> {
    pub(crate) name: &'a str,
    pub(crate) section: usize,
    /// First slot within the section.
    pub(crate) start: usize,
    pub(crate) len: usize,
    pub(crate) global: bool,
    pub(crate) name_source: NameSource,
}

/// A code section: its slots, functions and classified relocations.
#[derive(Debug)]
pub(crate) struct CodeSection<'a> {
    pub(crate) index: usize,
    pub(crate) name: &'a str,
    pub(crate) slots: Vec<RawInsn>,
    pub(crate) relocs: SectionRelocs,
    pub(crate) ext: Option<SectionExtInfo<'a>>,
}

struct Assembler<'s, 'a> {
    program: &'s str,
    sections: &'s [CodeSection<'a>],
    functions: &'s [Function<'a>],
    insns: Vec<RawInsn>,
    /// (function id, first output slot), in placement order.
    placed: Vec<(usize, usize)>,
    map_relocs: Vec<MapReloc>,
    kfunc_calls: Vec<KfuncCall>,
}

impl<'s, 'a> Assembler<'s, 'a> {
    fn place(&mut self, function: usize) -> Result<usize, ProgramError> {
        let f = self
            .functions
            .get(function)
            .ok_or_else(|| self.bad_call(0, "function vanished".to_owned()))?;
        let section = self.code_section(f.section)?;
        let body = section
            .slots
            .get(f.start..f.start + f.len)
            .unwrap_or_default();
        let start = self.insns.len();
        self.insns.extend_from_slice(body);
        self.placed.push((function, start));
        Ok(start)
    }

    fn code_section(&self, index: usize) -> Result<&'s CodeSection<'a>, ProgramError> {
        let sections: &'s [CodeSection<'a>] = self.sections;
        sections
            .iter()
            .find(|s| s.index == index)
            .ok_or_else(|| self.bad_call(0, format!("section {index} is not a code section")))
    }

    fn bad_call(&self, insn_index: usize, reason: String) -> ProgramError {
        ProgramError::BadCall {
            program: self.program.to_owned(),
            insn_index,
            reason,
        }
    }

    /// The function of code section `section` starting at slot `target`:
    /// a `.text` subprogram, or (as in objects for loaders that allowed it,
    /// such as cilium/ebpf's and PREVAIL) a function of another section.
    fn subprogram_at(&self, section: usize, target: i64, at: usize) -> Result<usize, ProgramError> {
        self.functions
            .iter()
            .position(|f| f.section == section && i64::try_from(f.start).is_ok_and(|s| s == target))
            .ok_or_else(|| {
                let name = self
                    .sections
                    .iter()
                    .find(|s| s.index == section)
                    .map_or("?", |s| s.name);
                self.bad_call(
                    at,
                    format!("no function of {name:?} starts at instruction {target}"),
                )
            })
    }

    /// Places `main` and processes its instructions, placing each callee
    /// when first seen and processing it before continuing the caller (the
    /// order of libbpf's recursive `bpf_object__reloc_code`), with an
    /// explicit stack so hostile call chains cannot overflow ours.
    fn run(&mut self, main: usize) -> Result<(), ProgramError> {
        self.place(main)?;
        let mut stack: Vec<(usize, usize, usize)> = vec![(main, 0, 0)]; // (function, out start, next idx)
        while let Some(top) = stack.last_mut() {
            let (function, out_start, idx) = *top;
            let f = self
                .functions
                .get(function)
                .cloned()
                .ok_or_else(|| self.bad_call(idx, "function vanished".to_owned()))?;
            if idx >= f.len {
                stack.pop();
                continue;
            }
            let section = self.code_section(f.section)?;
            let sec_slot = f.start + idx;
            let Some(insn) = section.slots.get(sec_slot).copied() else {
                stack.pop();
                continue;
            };
            let step = if insn.code == LDDW { 2 } else { 1 };
            if let Some(top) = stack.last_mut() {
                top.2 = idx + step;
            }
            let reloc = section.relocs.get(&sec_slot).cloned();
            let out = out_start + idx;
            let is_call = insn.code == CALL && insn.src == BPF_PSEUDO_CALL;
            let is_func = insn.code == LDDW
                && (insn.src == BPF_PSEUDO_FUNC || matches!(reloc, Some(InsnReloc::Code { .. })));
            let target = match (reloc, is_call || is_func) {
                (Some(InsnReloc::Invalid(reason)), _) => {
                    return Err(ProgramError::Relocation {
                        program: self.program.to_owned(),
                        insn_index: idx,
                        reason,
                    });
                }
                (
                    Some(InsnReloc::Kfunc {
                        name,
                        local_func,
                        weak,
                    }),
                    _,
                ) => {
                    if let Some(slot) = self.insns.get_mut(out) {
                        // libbpf's RELO_EXTERN_CALL: a kfunc call until the
                        // kernel's BTF gives its id (Object::relocate_core).
                        slot.src = BPF_PSEUDO_KFUNC_CALL;
                        slot.imm = 0;
                        slot.off = 0;
                    }
                    self.kfunc_calls.push(KfuncCall {
                        insn_index: out,
                        name,
                        local_func,
                        weak,
                        resolved: false,
                    });
                    continue;
                }
                (Some(InsnReloc::Ksym { name }), _) => {
                    return Err(ProgramError::Unsupported {
                        program: self.program.to_owned(),
                        what: format!("kernel variable {name:?} (.ksyms extern)"),
                    });
                }
                (Some(InsnReloc::Map { map_index }), _) => {
                    self.set_map(out, map_index, None)?;
                    continue;
                }
                (Some(InsnReloc::MapValue { map_index, offset }), _) => {
                    self.set_map(out, map_index, Some(offset))?;
                    continue;
                }
                (
                    Some(InsnReloc::Code {
                        section: target_section,
                        byte_offset,
                    }),
                    true,
                ) => {
                    // The symbol value and imm both come from the file.
                    let target = i64::try_from(byte_offset).ok().and_then(|byte_offset| {
                        if is_call {
                            (byte_offset / 8).checked_add(i64::from(insn.imm) + 1)
                        } else {
                            byte_offset.checked_add(i64::from(insn.imm)).map(|b| b / 8)
                        }
                    });
                    let target = target.ok_or_else(|| {
                        self.bad_call(
                            idx,
                            format!("target {byte_offset:#x}{:+} is out of range", insn.imm),
                        )
                    })?;
                    (target_section, target)
                }
                (Some(InsnReloc::Code { .. }), false) => {
                    return Err(
                        self.bad_call(idx, "code relocation on a non-call instruction".to_owned())
                    );
                }
                (None, true) if is_func => {
                    return Err(
                        self.bad_call(idx, "function address without relocation".to_owned())
                    );
                }
                // A call without relocation stays within its own section.
                (None, true) => (
                    f.section,
                    // sec_slot indexes the section's slots, so it is far below i64::MAX.
                    i64::try_from(sec_slot).unwrap_or(0) + i64::from(insn.imm) + 1,
                ),
                (None, false) => continue,
            };
            let callee = self.subprogram_at(target.0, target.1, idx)?;
            let callee_start = match self.placed.iter().find(|(id, _)| *id == callee) {
                Some(&(_, start)) => start,
                None => {
                    let start = self.place(callee)?;
                    stack.push((callee, start, 0));
                    start
                }
            };
            let relative = i64::try_from(callee_start).unwrap_or(i64::MAX)
                - i64::try_from(out).unwrap_or(0)
                - 1;
            let imm = i32::try_from(relative)
                .map_err(|_| self.bad_call(idx, "program too large".to_owned()))?;
            if let Some(slot) = self.insns.get_mut(out) {
                slot.imm = imm;
                if is_func {
                    // clang leaves src 0; libbpf marks the lddw as a function address.
                    slot.src = BPF_PSEUDO_FUNC;
                }
            }
        }
        Ok(())
    }

    fn set_map(
        &mut self,
        out: usize,
        map_index: usize,
        value_offset: Option<u32>,
    ) -> Result<(), ProgramError> {
        let index = i32::try_from(map_index)
            .map_err(|_| self.bad_call(out, "map index overflows".to_owned()))?;
        let complete = out + 1 < self.insns.len();
        let (Some(first), true) = (self.insns.get_mut(out), complete) else {
            return Err(ProgramError::Relocation {
                program: self.program.to_owned(),
                insn_index: out,
                reason: "lddw is truncated".to_owned(),
            });
        };
        first.src = if value_offset.is_some() {
            PSEUDO_MAP_IDX_VALUE
        } else {
            PSEUDO_MAP_IDX
        };
        first.imm = index;
        if let Some(second) = self.insns.get_mut(out + 1) {
            second.imm = value_offset.unwrap_or(0) as i32;
        }
        self.map_relocs.push(MapReloc {
            insn_index: out,
            map_index,
            value_offset,
        });
        Ok(())
    }
}

/// String-table offset of every CO-RE access string of the raw `.BTF.ext`
/// records: the resolved records carry only the text, and CO-RE
/// resolution addresses the local BTF's strings by offset.
pub(crate) type AccessOffsets<'a> = std::collections::HashMap<&'a str, u32>;

/// Assembles the program whose main function is `functions[main]`.
pub(crate) fn assemble(
    main: usize,
    kind: &SectionKind,
    type_source: TypeSource,
    sections: &[CodeSection<'_>],
    functions: &[Function<'_>],
    access_offsets: &AccessOffsets<'_>,
) -> Result<ProgramSpec, ProgramError> {
    let f = functions.get(main).ok_or_else(|| ProgramError::BadCall {
        program: String::new(),
        insn_index: 0,
        reason: "no such function".to_owned(),
    })?;
    let mut asm = Assembler {
        program: f.name,
        sections,
        functions,
        insns: Vec::new(),
        placed: Vec::new(),
        map_relocs: Vec::new(),
        kfunc_calls: Vec::new(),
    };
    asm.run(main)?;
    let section_name = sections
        .iter()
        .find(|s| s.index == f.section)
        .map_or("", |s| s.name);
    let mut spec = ProgramSpec {
        name: f.name.to_owned(),
        name_source: f.name_source,
        section: section_name.to_owned(),
        prog_type: kind.def.prog_type,
        type_source,
        expected_attach_type: kind.def.expected_attach_type,
        attach_target: kind.attach_target.clone(),
        flags: kind.def.flags,
        insns: Vec::new(),
        map_relocs: std::mem::take(&mut asm.map_relocs),
        subprograms: Vec::new(),
        func_info: Vec::new(),
        line_info: Vec::new(),
        core_relos: Vec::new(),
        kfunc_calls: std::mem::take(&mut asm.kfunc_calls),
    };
    for &(id, out_start) in &asm.placed {
        let Some(g) = functions.get(id) else { continue };
        if id != main {
            spec.subprograms.push((g.name.to_owned(), out_start));
        }
        let Some(ext) = sections
            .iter()
            .find(|s| s.index == g.section)
            .and_then(|s| s.ext.as_ref())
        else {
            continue;
        };
        // BTF.ext offsets are in bytes from the section start.
        let place = |insn_off: u32| {
            let slot = (insn_off / 8) as usize;
            (insn_off.is_multiple_of(8) && slot >= g.start && slot < g.start + g.len)
                .then(|| out_start + slot - g.start)
        };
        spec.func_info.extend(ext.func_info.iter().filter_map(|r| {
            Some(FuncInfo {
                insn_index: place(r.insn_off)?,
                type_id: r.type_id,
            })
        }));
        spec.line_info.extend(ext.line_info.iter().filter_map(|r| {
            Some(LineInfo {
                insn_index: place(r.insn_off)?,
                file: r.file_name.to_owned(),
                line_text: r.line_text.to_owned(),
                line: r.line,
                column: r.column,
            })
        }));
        spec.core_relos
            .extend(ext.core_relos.iter().filter_map(|r| {
                Some(CoreRelo {
                    insn_index: place(r.insn_off)?,
                    type_id: r.type_id,
                    access_str: r.access_str.to_owned(),
                    access_str_off: *access_offsets.get(r.access_str)?,
                    kind: r.kind,
                })
            }));
    }
    spec.insns = asm.insns;
    Ok(spec)
}
