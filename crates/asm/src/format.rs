//! Instructions to text, in LLVM/kernel syntax and in ubpf syntax.

use apiary_isa::{
    AluOp, AtomicOp, CallTarget, EndianOp, Insn, JmpCond, LdImm64Kind, PacketMode, Reg, Size,
    Source, Width,
};

/// Which textual syntax to read or write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Syntax {
    /// The syntax `llvm-objdump -d` and the kernel verifier log print:
    /// `r0 = *(u32 *)(r1 + 0x4)`, `if w1 s< 0x5 goto -0x3`.
    #[default]
    Llvm,
    /// The `mnemonic operands` syntax of uBPF and the bpf_conformance suite:
    /// `ldxw %r0, [%r1+4]`, `jslt32 %r1, 5, -3`.
    Ubpf,
}

/// How [`crate::disassemble_with`] and [`format_insn_with`] write instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FormatOptions {
    /// The syntax.
    pub syntax: Syntax,
    /// Print exactly what `llvm-objdump-19 -d` prints (LLVM syntax only),
    /// even where its text loses information: local calls and kfunc calls
    /// print as `call <imm>` like helper calls, `ld_pseudo` drops the high
    /// half of its immediate, `skb[rN]` drops the offset and 32-bit
    /// non-fetch `lock +=` names 64-bit registers. When false, those print
    /// in forms the assembler reads back unchanged (`call pc+0x3`,
    /// `call kfunc(0x12)`).
    pub objdump_compat: bool,
    /// Print jump and local-call targets as labels (`L12`) and emit label
    /// lines, instead of relative offsets (program disassembly only).
    pub labels: bool,
}

impl Default for FormatOptions {
    fn default() -> Self {
        FormatOptions {
            syntax: Syntax::Llvm,
            objdump_compat: true,
            labels: false,
        }
    }
}

impl FormatOptions {
    /// Lossless text in `syntax` with relative offsets: the assembler turns
    /// it back into the same instructions.
    pub fn lossless(syntax: Syntax) -> Self {
        FormatOptions {
            syntax,
            objdump_compat: false,
            labels: false,
        }
    }
}

/// Formats one instruction losslessly in `syntax`, with relative branch
/// offsets (`goto +0x3`, `call pc-0x5`): the form verifier logs and program
/// dumps use, and that [`crate::assemble`] reads back to the same `Insn`.
pub fn format_insn(insn: &Insn, syntax: Syntax) -> String {
    format_insn_with(insn, &FormatOptions::lossless(syntax), None)
}

/// Formats one instruction with `options`; `target_label`, when given,
/// replaces the relative offset of a jump, local call or function address.
pub fn format_insn_with(
    insn: &Insn,
    options: &FormatOptions,
    target_label: Option<&str>,
) -> String {
    match options.syntax {
        Syntax::Llvm => llvm(insn, options.objdump_compat, target_label),
        Syntax::Ubpf => ubpf(insn, target_label),
    }
}

/// Signed hexadecimal as LLVM prints immediates: `0x1b`, `-0x3`.
pub(crate) fn hex(value: i64) -> String {
    if value < 0 {
        format!("-{:#x}", value.unsigned_abs())
    } else {
        format!("{value:#x}")
    }
}

/// A relative offset with an explicit sign: `+0x1b`, `-0x3`.
fn rel_hex(value: i64) -> String {
    if value < 0 {
        hex(value)
    } else {
        format!("+{value:#x}")
    }
}

fn reg_name(reg: Reg, width: Width) -> String {
    match width {
        Width::W64 => format!("r{}", reg.index()),
        Width::W32 => format!("w{}", reg.index()),
    }
}

fn size_name(size: Size, signed: bool) -> &'static str {
    match (size, signed) {
        (Size::B, false) => "u8",
        (Size::H, false) => "u16",
        (Size::W, false) => "u32",
        (Size::DW, false) => "u64",
        (Size::B, true) => "s8",
        (Size::H, true) => "s16",
        (Size::W, true) => "s32",
        (Size::DW, true) => "s64",
    }
}

/// `(r1 + 0x4)`-style address without the parentheses.
fn llvm_addr(base: Reg, off: i16) -> String {
    let off = i64::from(off);
    if off < 0 {
        format!("r{} - {:#x}", base.index(), off.unsigned_abs())
    } else {
        format!("r{} + {off:#x}", base.index())
    }
}

pub(crate) fn alu_llvm_op(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "+=",
        AluOp::Sub => "-=",
        AluOp::Mul => "*=",
        AluOp::Div => "/=",
        AluOp::SDiv => "s/=",
        AluOp::Or => "|=",
        AluOp::And => "&=",
        AluOp::Lsh => "<<=",
        AluOp::Rsh => ">>=",
        AluOp::Mod => "%=",
        AluOp::SMod => "s%=",
        AluOp::Xor => "^=",
        AluOp::Mov => "=",
        AluOp::Arsh => "s>>=",
    }
}

pub(crate) fn cond_llvm_op(cond: JmpCond) -> &'static str {
    match cond {
        JmpCond::Eq => "==",
        JmpCond::Gt => ">",
        JmpCond::Ge => ">=",
        JmpCond::Set => "&",
        JmpCond::Ne => "!=",
        JmpCond::Sgt => "s>",
        JmpCond::Sge => "s>=",
        JmpCond::Lt => "<",
        JmpCond::Le => "<=",
        JmpCond::Slt => "s<",
        JmpCond::Sle => "s<=",
    }
}

pub(crate) fn endian_name(op: EndianOp) -> &'static str {
    match op {
        EndianOp::ToLe => "le",
        EndianOp::ToBe => "be",
        EndianOp::Swap => "bswap",
    }
}

fn atomic_width(size: Size) -> Width {
    if size == Size::DW {
        Width::W64
    } else {
        Width::W32
    }
}

fn llvm(insn: &Insn, compat: bool, label: Option<&str>) -> String {
    let target = |off: i64| label.map_or_else(|| rel_hex(off), str::to_owned);
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let src = match src {
                Source::Reg(r) => reg_name(r, width),
                Source::Imm(imm) => hex(imm.into()),
            };
            format!("{} {} {src}", reg_name(dst, width), alu_llvm_op(op))
        }
        Insn::Neg { width, dst } => {
            let r = reg_name(dst, width);
            format!("{r} = -{r}")
        }
        Insn::MovSx {
            width,
            dst,
            src,
            from,
        } => format!(
            "{} = ({}){}",
            reg_name(dst, width),
            size_name(from, true),
            reg_name(src, width)
        ),
        Insn::AddrSpaceCast {
            dst,
            src,
            dst_as,
            src_as,
        } => format!(
            "{dst} = addr_space_cast({src}, {}, {})",
            hex(dst_as.into()),
            hex(src_as.into())
        ),
        Insn::Endian { op, bits, dst } => format!("{dst} = {}{bits} {dst}", endian_name(op)),
        Insn::Load {
            size,
            sign_extend,
            dst,
            src,
            off,
        } => format!(
            "{dst} = *({} *)({})",
            size_name(size, sign_extend),
            llvm_addr(src, off)
        ),
        Insn::Store {
            size,
            dst,
            off,
            src,
        } => {
            let value = match src {
                Source::Reg(r) => r.to_string(),
                Source::Imm(imm) => hex(imm.into()),
            };
            format!(
                "*({} *)({}) = {value}",
                size_name(size, false),
                llvm_addr(dst, off)
            )
        }
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => llvm_atomic(size, op, dst, src, off, compat),
        Insn::LoadAcquire {
            size,
            dst,
            src,
            off,
        } => format!(
            "{} = load_acquire(({} *)({}))",
            reg_name(dst, atomic_width(size)),
            size_name(size, false),
            llvm_addr(src, off)
        ),
        Insn::StoreRelease {
            size,
            dst,
            src,
            off,
        } => format!(
            "store_release(({} *)({}), {})",
            size_name(size, false),
            llvm_addr(dst, off),
            reg_name(src, atomic_width(size))
        ),
        Insn::LoadImm64 { dst, kind, imm } => {
            if kind == LdImm64Kind::Imm {
                format!("{dst} = {} ll", hex(imm as i64))
            } else if kind == LdImm64Kind::Func && label.is_some() {
                format!("ld_pseudo {dst}, {}, {}", kind.src(), target(0))
            } else if compat {
                // llvm-objdump prints only the first slot's immediate.
                format!("ld_pseudo\t{dst}, {:#x}, {:#x}", kind.src(), imm as u32)
            } else {
                format!("ld_pseudo {dst}, {:#x}, {imm:#x}", kind.src())
            }
        }
        Insn::LoadPacket {
            mode,
            size,
            src,
            imm,
        } => match mode {
            PacketMode::Abs => format!(
                "r0 = *({} *)skb[{}]",
                size_name(size, false),
                hex(imm.into())
            ),
            PacketMode::Ind if imm == 0 || compat => {
                format!("r0 = *({} *)skb[{src}]", size_name(size, false))
            }
            PacketMode::Ind => {
                let imm = i64::from(imm);
                let sign = if imm < 0 { '-' } else { '+' };
                format!(
                    "r0 = *({} *)skb[{src} {sign} {:#x}]",
                    size_name(size, false),
                    imm.unsigned_abs()
                )
            }
        },
        Insn::Jump {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            let src = match src {
                Source::Reg(r) => reg_name(r, width),
                Source::Imm(imm) => hex(imm.into()),
            };
            format!(
                "if {} {} {src} goto {}",
                reg_name(dst, width),
                cond_llvm_op(cond),
                target(off.into())
            )
        }
        Insn::Ja { off } => format!("goto {}", target(off.into())),
        Insn::Ja32 { imm } => format!("gotol {}", target(imm.into())),
        Insn::MayGoto { off } => format!("may_goto {}", target(off.into())),
        Insn::Call(CallTarget::Helper(id)) => format!("call {}", hex(id.into())),
        Insn::Call(CallTarget::Local(imm)) => match label {
            Some(label) => format!("call {label}"),
            None if compat => format!("call {}", hex(imm.into())),
            None => format!("call pc{}", rel_hex(imm.into())),
        },
        Insn::Call(CallTarget::Kfunc { btf_id, module }) => {
            if compat {
                format!("call {}", hex(btf_id.into()))
            } else if module == 0 {
                format!("call kfunc({})", hex(btf_id.into()))
            } else {
                format!("call kfunc({}, {})", hex(btf_id.into()), hex(module.into()))
            }
        }
        Insn::Callx { reg } => format!("callx {reg}"),
        Insn::Exit => "exit".to_owned(),
    }
}

fn llvm_atomic(size: Size, op: AtomicOp, dst: Reg, src: Reg, off: i16, compat: bool) -> String {
    let width = atomic_width(size);
    let sz = size_name(size, false);
    let addr = llvm_addr(dst, off);
    let s = reg_name(src, width);
    let plain = |sym: &str| format!("lock *({sz} *)({addr}) {sym} {s}");
    let fetch = |name: &str| format!("{s} = atomic_fetch_{name}(({sz} *)({addr}), {s})");
    let suffix = if width == Width::W64 { "_64" } else { "32_32" };
    match op {
        // Without the alu32 feature llvm-objdump-19 prints the one 32-bit
        // atomic it knows with 64-bit register names.
        AtomicOp::Add { fetch: false } if compat && width == Width::W32 => {
            format!("lock *({sz} *)({addr}) += {src}")
        }
        AtomicOp::Add { fetch: false } => plain("+="),
        AtomicOp::Or { fetch: false } => plain("|="),
        AtomicOp::And { fetch: false } => plain("&="),
        AtomicOp::Xor { fetch: false } => plain("^="),
        AtomicOp::Add { fetch: true } => fetch("add"),
        AtomicOp::Or { fetch: true } => fetch("or"),
        AtomicOp::And { fetch: true } => fetch("and"),
        AtomicOp::Xor { fetch: true } => fetch("xor"),
        AtomicOp::Xchg => format!("{s} = xchg{suffix}({addr}, {s})"),
        AtomicOp::CmpXchg => {
            let r0 = reg_name(Reg::R0, width);
            format!("{r0} = cmpxchg{suffix}({addr}, {r0}, {s})")
        }
    }
}

pub(crate) fn alu_ubpf_name(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "add",
        AluOp::Sub => "sub",
        AluOp::Mul => "mul",
        AluOp::Div => "div",
        AluOp::SDiv => "sdiv",
        AluOp::Or => "or",
        AluOp::And => "and",
        AluOp::Lsh => "lsh",
        AluOp::Rsh => "rsh",
        AluOp::Mod => "mod",
        AluOp::SMod => "smod",
        AluOp::Xor => "xor",
        AluOp::Mov => "mov",
        AluOp::Arsh => "arsh",
    }
}

pub(crate) fn cond_ubpf_name(cond: JmpCond) -> &'static str {
    match cond {
        JmpCond::Eq => "jeq",
        JmpCond::Gt => "jgt",
        JmpCond::Ge => "jge",
        JmpCond::Set => "jset",
        JmpCond::Ne => "jne",
        JmpCond::Sgt => "jsgt",
        JmpCond::Sge => "jsge",
        JmpCond::Lt => "jlt",
        JmpCond::Le => "jle",
        JmpCond::Slt => "jslt",
        JmpCond::Sle => "jsle",
    }
}

pub(crate) fn size_suffix(size: Size) -> &'static str {
    match size {
        Size::B => "b",
        Size::H => "h",
        Size::W => "w",
        Size::DW => "dw",
    }
}

fn width_suffix(width: Width) -> &'static str {
    match width {
        Width::W32 => "32",
        Width::W64 => "",
    }
}

fn ubpf_addr(base: Reg, off: i16) -> String {
    if off < 0 {
        format!("[%r{}{off}]", base.index())
    } else {
        format!("[%r{}+{off}]", base.index())
    }
}

fn ubpf_rel(off: i64) -> String {
    if off < 0 {
        off.to_string()
    } else {
        format!("+{off}")
    }
}

fn ubpf(insn: &Insn, label: Option<&str>) -> String {
    let target = |off: i64| label.map_or_else(|| ubpf_rel(off), str::to_owned);
    let src_text = |src: Source| match src {
        Source::Reg(r) => format!("%{r}"),
        Source::Imm(imm) => imm.to_string(),
    };
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => format!(
            "{}{} %{dst}, {}",
            alu_ubpf_name(op),
            width_suffix(width),
            src_text(src)
        ),
        Insn::Neg { width, dst } => format!("neg{} %{dst}", width_suffix(width)),
        Insn::MovSx {
            width,
            dst,
            src,
            from,
        } => {
            let to = if width == Width::W64 { 64 } else { 32 };
            format!("movsx{}{to} %{dst}, %{src}", from.bits())
        }
        Insn::AddrSpaceCast {
            dst,
            src,
            dst_as,
            src_as,
        } => format!("addr_space_cast %{dst}, %{src}, {dst_as}, {src_as}"),
        Insn::Endian { op, bits, dst } => format!("{}{bits} %{dst}", endian_name(op)),
        Insn::Load {
            size,
            sign_extend,
            dst,
            src,
            off,
        } => format!(
            "ldx{}{} %{dst}, {}",
            if sign_extend { "s" } else { "" },
            size_suffix(size),
            ubpf_addr(src, off)
        ),
        Insn::Store {
            size,
            dst,
            off,
            src,
        } => {
            let x = if matches!(src, Source::Reg(_)) {
                "x"
            } else {
                ""
            };
            format!(
                "st{x}{} {}, {}",
                size_suffix(size),
                ubpf_addr(dst, off),
                src_text(src)
            )
        }
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => {
            let (fetch, name) = match op {
                AtomicOp::Add { fetch } => (fetch, "add"),
                AtomicOp::Or { fetch } => (fetch, "or"),
                AtomicOp::And { fetch } => (fetch, "and"),
                AtomicOp::Xor { fetch } => (fetch, "xor"),
                AtomicOp::Xchg => (false, "xchg"),
                AtomicOp::CmpXchg => (false, "cmpxchg"),
            };
            format!(
                "lock {}{name}{} {}, %{src}",
                if fetch { "fetch " } else { "" },
                width_suffix(atomic_width(size)),
                ubpf_addr(dst, off)
            )
        }
        Insn::LoadAcquire {
            size,
            dst,
            src,
            off,
        } => format!("ldacq{} %{dst}, {}", size_suffix(size), ubpf_addr(src, off)),
        Insn::StoreRelease {
            size,
            dst,
            src,
            off,
        } => format!("strel{} {}, %{src}", size_suffix(size), ubpf_addr(dst, off)),
        Insn::LoadImm64 { dst, kind, imm } => match kind {
            LdImm64Kind::Imm => format!("lddw %{dst}, {imm:#x}"),
            LdImm64Kind::Func if label.is_some() => {
                format!("ld_pseudo %{dst}, {}, {}", kind.src(), target(0))
            }
            _ => format!("ld_pseudo %{dst}, {}, {imm:#x}", kind.src()),
        },
        Insn::LoadPacket {
            mode,
            size,
            src,
            imm,
        } => match mode {
            PacketMode::Abs => format!("ldabs{} {imm}", size_suffix(size)),
            PacketMode::Ind => format!("ldind{} %{src}, {imm}", size_suffix(size)),
        },
        Insn::Jump {
            width,
            cond,
            dst,
            src,
            off,
        } => format!(
            "{}{} %{dst}, {}, {}",
            cond_ubpf_name(cond),
            width_suffix(width),
            src_text(src),
            target(off.into())
        ),
        Insn::Ja { off } => format!("ja {}", target(off.into())),
        Insn::Ja32 { imm } => format!("ja32 {}", target(imm.into())),
        Insn::MayGoto { off } => format!("may_goto {}", target(off.into())),
        Insn::Call(CallTarget::Helper(id)) => format!("call {id}"),
        Insn::Call(CallTarget::Local(imm)) => format!("call local {}", target(imm.into())),
        Insn::Call(CallTarget::Kfunc { btf_id, module: 0 }) => format!("call runtime {btf_id}"),
        Insn::Call(CallTarget::Kfunc { btf_id, module }) => {
            format!("call runtime {btf_id}, {module}")
        }
        Insn::Callx { reg } => format!("call %{reg}"),
        Insn::Exit => "exit".to_owned(),
    }
}
