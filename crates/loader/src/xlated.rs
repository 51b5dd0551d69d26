//! `apiary prog dump FILE.o [PROG] [linum]`: a relocated program listed as
//! `bpftool prog dump xlated` lists a loaded one — the kernel's
//! `kernel/bpf/disasm.c` instruction text with bpftool's callbacks for
//! calls and 64-bit immediates, function prototypes from `func_info` and
//! `; source` lines from `line_info` — except that map references name the
//! object's map (`map[counts]`, `map[counts][0]+16`) where the kernel would
//! give a map id, and calls to subprograms name them (`call pc+5#helper`).

use std::fmt::Write as _;

use apiary_btf::{Btf, Kind, TypeId};
use apiary_isa::RawInsn;
use apiary_isa::opcode::*;

use crate::helpers::helper_name;
use crate::{Object, ProgramSpec};

/// `BPF_PSEUDO_CALL`: the call's imm is relative to the next instruction.
const PSEUDO_CALL: u8 = 1;
/// `BPF_PSEUDO_KFUNC_CALL`: the call's imm is a kernel BTF id.
const PSEUDO_KFUNC_CALL: u8 = 2;
/// `BPF_PSEUDO_FUNC`: lddw of a subprogram's address.
const PSEUDO_FUNC: u8 = 4;
/// `BPF_PSEUDO_MAP_IDX`.
const PSEUDO_MAP_IDX: u8 = 5;
/// `BPF_PSEUDO_MAP_IDX_VALUE`.
const PSEUDO_MAP_IDX_VALUE: u8 = 6;
/// `off` of `mov` marking `addr_space_cast`.
const ADDR_SPACE_CAST: i16 = 1;
/// `off` of `mov` marking a per-CPU address conversion.
const ADDR_PERCPU: i16 = -1;
/// The `BPF_NOSPEC` mode of `BPF_ST`, which only the kernel inserts.
const NOSPEC: u8 = 0xc0;

/// disasm.c's `bpf_alu_string`, indexed by `op >> 4`.
const ALU_OPS: [&str; 14] = [
    "+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=", "s>>=", "endian",
];
/// disasm.c's `bpf_jmp_string`, indexed by `op >> 4`.
const JMP_OPS: [&str; 14] = [
    "jmp", "==", ">", ">=", "&", "!=", "s>", "s>=", "call", "exit", "<", "<=", "s<", "s<=",
];
/// `bpf_ldst_string`, indexed by `size >> 3` (W, H, B, DW).
const LDST: [&str; 4] = ["u32", "u16", "u8", "u64"];
/// `bpf_ldsx_string`, indexed like [`LDST`].
const LDSX: [&str; 4] = ["s32", "s16", "s8", "s64"];

/// Options of the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct XlatedOptions {
    /// Add bpftool's `linum` suffix to source lines:
    /// ` [file:F line_num:N line_col:M]`.
    pub linum: bool,
}

/// How names are found while formatting one instruction.
struct Names<'a> {
    object: &'a Object,
    program: &'a ProgramSpec,
}

impl Names<'_> {
    fn map(&self, index: i32) -> String {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.object.maps.get(i))
            .map_or_else(|| format!("idx:{index}"), |m| m.name.clone())
    }

    fn subprogram_at(&self, slot: i64) -> Option<&str> {
        if slot == 0 {
            return Some(&self.program.name);
        }
        self.program
            .subprograms
            .iter()
            .find(|(_, start)| i64::try_from(*start).is_ok_and(|s| s == slot))
            .map(|(name, _)| name.as_str())
    }
}

fn size_index(code: u8) -> usize {
    usize::from((code & 0x18) >> 3)
}

fn reg_prefix(class: u8) -> char {
    if class == BPF_ALU || class == BPF_JMP32 {
        'w'
    } else {
        'r'
    }
}

/// One instruction (`slots[0]`, with `slots[1]` for lddw) in disasm.c's
/// text after the `(%02x) ` opcode, without the line end.
fn format_one(slots: &[RawInsn], at: usize, names: &Names<'_>) -> String {
    let Some(insn) = slots.get(at).copied() else {
        return String::new();
    };
    let code = insn.code;
    let class = code & 0x07;
    let op = code & 0xf0;
    let (dst, src, off, imm) = (insn.dst, insn.src, insn.off, insn.imm);
    let ldst = LDST[size_index(code)];
    let alu = |o: u8| {
        ALU_OPS
            .get(usize::from(o >> 4))
            .copied()
            .unwrap_or("(null)")
    };
    let body = match class {
        BPF_ALU | BPF_ALU64 => {
            let r = reg_prefix(class);
            if op == BPF_END {
                let order = if code & BPF_X == BPF_TO_BE {
                    "be"
                } else {
                    "le"
                };
                if class == BPF_ALU64 {
                    format!("r{dst} = bswap{imm} r{dst}")
                } else {
                    format!("r{dst} = {order}{imm} r{dst}")
                }
            } else if op == BPF_NEG {
                format!("{r}{dst} = -{r}{dst}")
            } else if code == BPF_ALU64 | BPF_MOV | BPF_X && off == ADDR_SPACE_CAST {
                let imm = imm as u32;
                format!(
                    "r{dst} = addr_space_cast(r{src}, {}, {})",
                    imm >> 16,
                    imm & 0xffff
                )
            } else if code == BPF_ALU64 | BPF_MOV | BPF_X && off == ADDR_PERCPU {
                format!("r{dst} = &(void __percpu *)(r{src})")
            } else {
                let signed = (op == BPF_DIV || op == BPF_MOD) && off == 1;
                let text = match (signed, op) {
                    (true, BPF_DIV) => "s/=",
                    (true, _) => "s%=",
                    _ => alu(op),
                };
                if code & BPF_X == BPF_X {
                    let movsx = match (op, off) {
                        (BPF_MOV, 8) => "(s8)",
                        (BPF_MOV, 16) => "(s16)",
                        (BPF_MOV, 32) => "(s32)",
                        _ => "",
                    };
                    format!("{r}{dst} {text} {movsx}{r}{src}")
                } else {
                    format!("{r}{dst} {text} {imm}")
                }
            }
        }
        BPF_STX => {
            let mode = code & 0xe0;
            let fetch_op = imm & !BPF_FETCH;
            let wide = if code & 0x18 == BPF_DW { "64" } else { "" };
            let simple = [BPF_ADD, BPF_AND, BPF_OR, BPF_XOR].map(i32::from);
            if mode == BPF_MEM {
                format!("*({ldst} *)(r{dst} {off:+}) = r{src}")
            } else if mode != BPF_ATOMIC {
                format!("BUG_{code:02x}")
            } else if simple.contains(&imm) {
                format!("lock *({ldst} *)(r{dst} {off:+}) {} r{src}", alu(imm as u8))
            } else if imm & BPF_FETCH != 0 && simple.contains(&fetch_op) {
                let name = match fetch_op as u8 {
                    BPF_ADD => "add",
                    BPF_AND => "and",
                    BPF_OR => "or",
                    _ => "xor",
                };
                format!("r{src} = atomic{wide}_fetch_{name}(({ldst} *)(r{dst} {off:+}), r{src})")
            } else if imm == BPF_CMPXCHG {
                format!("r0 = atomic{wide}_cmpxchg(({ldst} *)(r{dst} {off:+}), r0, r{src})")
            } else if imm == BPF_XCHG {
                format!("r{src} = atomic{wide}_xchg(({ldst} *)(r{dst} {off:+}), r{src})")
            } else if imm == BPF_LOAD_ACQ {
                format!("r{dst} = load_acquire(({ldst} *)(r{src} {off:+}))")
            } else if imm == BPF_STORE_REL {
                format!("store_release(({ldst} *)(r{dst} {off:+}), r{src})")
            } else {
                format!("BUG_{code:02x}")
            }
        }
        BPF_ST => match code & 0xe0 {
            BPF_MEM => format!("*({ldst} *)(r{dst} {off:+}) = {imm}"),
            NOSPEC => "nospec".to_owned(),
            _ => format!("BUG_st_{code:02x}"),
        },
        BPF_LDX => match code & 0xe0 {
            BPF_MEM => format!("r{dst} = *({ldst} *)(r{src} {off:+})"),
            BPF_MEMSX => format!("r{dst} = *({} *)(r{src} {off:+})", LDSX[size_index(code)]),
            _ => format!("BUG_ldx_{code:02x}"),
        },
        BPF_LD => match code & 0xe0 {
            BPF_ABS => format!("r0 = *({ldst} *)skb[{imm}]"),
            BPF_IND => format!("r0 = *({ldst} *)skb[r{src} + {imm}]"),
            BPF_IMM if code & 0x18 == BPF_DW => {
                let high = slots.get(at + 1).map_or(0, |s| s.imm);
                format!("r{dst} = {}", format_imm64(insn, high, names))
            }
            _ => format!("BUG_ld_{code:02x}"),
        },
        _ => {
            let r = reg_prefix(class);
            if op == BPF_CALL {
                match src {
                    PSEUDO_CALL => {
                        let target = i64::try_from(at).unwrap_or(0) + i64::from(imm) + 1;
                        match names.subprogram_at(target) {
                            Some(name) => format!("call pc{imm:+}#{name}"),
                            None => format!("call pc{imm:+}"),
                        }
                    }
                    PSEUDO_KFUNC_CALL => format!("call kernel-function#{imm}"),
                    _ => format!(
                        "call {}#{imm}",
                        helper_name(imm).unwrap_or_else(|| "unknown".to_owned())
                    ),
                }
            } else if code == BPF_JMP | BPF_JA {
                format!("goto pc{off:+}")
            } else if code == BPF_JMP | BPF_JCOND && src == BPF_MAY_GOTO {
                format!("may_goto pc{off:+}")
            } else if code == BPF_JMP32 | BPF_JA {
                format!("gotol pc{imm:+}")
            } else if code == BPF_JMP | BPF_EXIT {
                "exit".to_owned()
            } else {
                let cond = JMP_OPS
                    .get(usize::from(op >> 4))
                    .copied()
                    .unwrap_or("(null)");
                if code & BPF_X == BPF_X {
                    format!("if {r}{dst} {cond} {r}{src} goto pc{off:+}")
                } else {
                    format!("if {r}{dst} {cond} {:#x} goto pc{off:+}", imm as u32)
                }
            }
        }
    };
    if body.starts_with("BUG_") {
        body
    } else {
        format!("({code:02x}) {body}")
    }
}

/// bpftool's `print_imm` for a lddw, with map indices named.
fn format_imm64(insn: RawInsn, high: i32, names: &Names<'_>) -> String {
    match insn.src {
        PSEUDO_MAP_IDX => format!("map[{}]", names.map(insn.imm)),
        PSEUDO_MAP_IDX_VALUE => format!("map[{}][0]+{}", names.map(insn.imm), high as u32),
        BPF_PSEUDO_MAP_FD => format!("map[id:{}]", insn.imm as u32),
        BPF_PSEUDO_MAP_VALUE => format!("map[id:{}][0]+{}", insn.imm as u32, high as u32),
        PSEUDO_FUNC => format!("subprog[{:+}]", insn.imm),
        _ => {
            let full = (u64::from(high as u32) << 32) | u64::from(insn.imm as u32);
            format!("{full:#x}")
        }
    }
}

/// bpftool's `btf_dumper_type_only` text of a type, appended to `out`;
/// `None` for kinds bpftool cannot print (it then prints no prototype).
fn type_only(btf: &Btf, id: TypeId, out: &mut String, depth: usize) -> Option<()> {
    if depth > apiary_btf::MAX_RESOLVE_DEPTH {
        return None;
    }
    let t = btf.type_by_id(id).ok()?;
    let name = btf.str_at(t.name_off).ok()?;
    match &t.kind {
        Kind::Void => out.push_str("void "),
        Kind::Int(_) | Kind::Typedef(_) | Kind::Float { .. } => {
            let _ = write!(out, "{name} ");
        }
        Kind::Struct(_) => {
            let _ = write!(out, "struct {name} ");
        }
        Kind::Union(_) => {
            let _ = write!(out, "union {name} ");
        }
        Kind::Enum(_) | Kind::Enum64(_) => {
            let _ = write!(out, "enum {name} ");
        }
        Kind::Array(a) => {
            type_only(btf, a.elem_type, out, depth + 1)?;
            let _ = write!(out, "[{}]", a.nelems);
        }
        Kind::Ptr(to) => {
            type_only(btf, *to, out, depth + 1)?;
            out.push_str("* ");
        }
        Kind::Fwd(kind) => {
            let which = if *kind == apiary_btf::FwdKind::Union {
                "union"
            } else {
                "struct"
            };
            let _ = write!(out, "{which} {name} ");
        }
        Kind::Volatile(to) | Kind::Const(to) | Kind::Restrict(to) => {
            out.push_str(match &t.kind {
                Kind::Volatile(_) => "volatile ",
                Kind::Const(_) => "const ",
                _ => "restrict ",
            });
            type_only(btf, *to, out, depth + 1)?;
        }
        Kind::FuncProto(_) => function(btf, id, None, out, depth + 1)?,
        Kind::Func { proto, .. } => function(btf, *proto, Some(name), out, depth + 1)?,
        Kind::Var { .. } | Kind::Datasec(_) | Kind::DeclTag { .. } | Kind::TypeTag(_) => {
            return None;
        }
    }
    Some(())
}

/// bpftool's `btf_dump_func`: `ret name(type arg, ...)`.
fn function(
    btf: &Btf,
    proto: TypeId,
    name: Option<&str>,
    out: &mut String,
    depth: usize,
) -> Option<()> {
    let Kind::FuncProto(p) = &btf.type_by_id(proto).ok()?.kind else {
        return None;
    };
    type_only(btf, p.ret_type, out, depth + 1)?;
    let _ = write!(out, "{}(", name.unwrap_or_default());
    for (i, param) in p.params.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        if param.ty == TypeId::VOID {
            out.push_str("...");
            continue;
        }
        type_only(btf, param.ty, out, depth + 1)?;
        if param.name_off != 0 {
            out.push_str(btf.str_at(param.name_off).ok()?);
        } else if out.ends_with(' ') {
            out.pop();
        }
    }
    out.push(')');
    Some(())
}

/// The prototype bpftool prints above a function's first instruction
/// (`int xdp_prog(struct xdp_md * ctx)`), if it can print one.
pub fn func_signature(btf: &Btf, func: TypeId) -> Option<String> {
    let mut out = String::new();
    type_only(btf, func, &mut out, 0)?;
    (!out.is_empty()).then_some(out)
}

/// One instruction as the kernel's verifier log and bpftool print it
/// (`(b7) r0 = 2`), naming maps and subprograms from `object`/`program`.
/// `at` indexes `program.insns`; lddw reads the following slot too.
pub fn format_xlated_insn(object: &Object, program: &ProgramSpec, at: usize) -> String {
    format_one(&program.insns, at, &Names { object, program })
}

/// The whole listing of `program` as `bpftool prog dump xlated` prints it.
pub fn dump_xlated(object: &Object, program: &ProgramSpec, options: XlatedOptions) -> String {
    let names = Names { object, program };
    let mut out = String::new();
    let mut skip_second_slot = false;
    for (i, insn) in program.insns.iter().enumerate() {
        if skip_second_slot {
            skip_second_slot = false;
            continue;
        }
        for line in annotations(object, program, i, options) {
            let _ = writeln!(out, "{line}");
        }
        skip_second_slot = insn.code == BPF_LD | BPF_IMM | BPF_DW;
        let _ = writeln!(out, "{i:4}: {}", format_one(&program.insns, i, &names));
    }
    out
}

/// The lines a listing prints before instruction `at`: the function's
/// signature (`int f(struct xdp_md * ctx):`) where a function starts, then
/// its source lines (`; C text`, with their place when `options.linum`).
pub fn annotations(
    object: &Object,
    program: &ProgramSpec,
    at: usize,
    options: XlatedOptions,
) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(btf) = &object.btf {
        for f in program.func_info.iter().filter(|f| f.insn_index == at) {
            if let Some(sig) = func_signature(btf, f.type_id) {
                lines.push(format!("{sig}:"));
            }
        }
    }
    for line in program.line_info.iter().filter(|l| l.insn_index == at) {
        let text = line.line_text.trim_start();
        lines.push(if options.linum {
            format!(
                "; {text} [file:{} line_num:{} line_col:{}]",
                line.file, line.line, line.column
            )
        } else {
            format!("; {text}")
        });
    }
    lines
}

/// `apiary prog dump FILE.o [PROG]`: the listing of the program named
/// `program`, or of every program (separated by a blank line, each under
/// a `name:` header) when `None`. A failed program gives its error.
pub fn dump_object_xlated(
    object: &Object,
    program: Option<&str>,
    options: XlatedOptions,
) -> Result<String, crate::ReportError> {
    if let Some(name) = program {
        let found = object
            .programs
            .iter()
            .find(|p| match p {
                Ok(spec) => spec.name == name,
                Err(e) => e.program() == name,
            })
            .ok_or_else(|| crate::ReportError::NoSuchProgram(name.to_owned()))?;
        let spec = found.as_ref().map_err(|e| e.clone())?;
        return Ok(dump_xlated(object, spec, options));
    }
    let mut listings = Vec::new();
    for p in &object.programs {
        let spec = p.as_ref().map_err(|e| e.clone())?;
        listings.push(format!(
            "{}:\n{}",
            spec.name,
            dump_xlated(object, spec, options)
        ));
    }
    Ok(listings.join("\n"))
}
