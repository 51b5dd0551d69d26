//! Arithmetic instructions on registers (`check_alu_op`,
//! `adjust_reg_min_max_vals`, `adjust_ptr_min_max_vals`): scalars go
//! through the transfer functions of [`crate::alu`]; pointers may only move
//! by a scalar, within the kernel's rules for each pointer type.

use apiary_isa::{AluOp, Insn, Source, Width};

use crate::alu;
use crate::error::Rejection;
use crate::regs::{RegState, RegType};
use crate::scalar::Scalar;

/// The kernel's `BPF_MAX_VAR_OFF`: pointer offsets stay within ±2^29.
pub(crate) const MAX_VAR_OFF: i64 = 1 << 29;

/// The kernel's name of an ALU operation in messages (`bpf_alu_string`).
fn op_name(op: AluOp) -> &'static str {
    match op {
        AluOp::Add => "+=",
        AluOp::Sub => "-=",
        AluOp::Mul => "*=",
        AluOp::Div | AluOp::SDiv => "/=",
        AluOp::Or => "|=",
        AluOp::And => "&=",
        AluOp::Lsh => "<<=",
        AluOp::Rsh => ">>=",
        AluOp::Mod | AluOp::SMod => "%=",
        AluOp::Xor => "^=",
        AluOp::Mov => "=",
        AluOp::Arsh => "s>>=",
    }
}

/// Applies an arithmetic instruction to `regs`; the caller checked that
/// the operands are initialised.
pub(crate) fn execute(
    insn: usize,
    op: &Insn,
    regs: &mut [RegState; 11],
    next_id: &mut u32,
) -> Result<(), Rejection> {
    match *op {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let d = dst.index() as usize;
            let (src_reg, src_no) = match src {
                Source::Reg(r) => (regs[r.index() as usize], Some(r.index())),
                Source::Imm(imm) => (RegState::scalar(Scalar::constant(imm as i64 as u64)), None),
            };
            if let (AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod, Source::Imm(0)) = (op, src)
            {
                return Err(Rejection::new(insn, "div by zero")
                    .cause("division or modulo by the constant 0"));
            }
            if let (AluOp::Lsh | AluOp::Rsh | AluOp::Arsh, Source::Imm(n)) = (op, src) {
                let bits = if width == Width::W64 { 64 } else { 32 };
                if n < 0 || n >= bits {
                    return Err(Rejection::new(insn, format!("invalid shift {n}"))
                        .cause(format!("a shift by {n} on a {bits}-bit value is undefined")));
                }
            }
            regs[d] = binary(insn, width, op, dst.index(), regs[d], src_reg, src_no)?;
            if regs[d].kind.is_packet() && regs[d].id == 0 && !regs[d].value.is_const() {
                // A new variable offset links only the copies made from here on.
                *next_id += 1;
                regs[d].id = *next_id;
            }
        }
        Insn::Neg { width, dst } => {
            let d = dst.index() as usize;
            regs[d] = RegState::scalar(alu::neg(width, &scalar_view(&regs[d])));
        }
        Insn::Endian { op, bits, dst } => {
            let d = dst.index() as usize;
            // `le64` leaves a scalar as it is, linked copies included: the
            // kernel breaks the link only for a change.
            if !(op == apiary_isa::EndianOp::ToLe && bits == 64 && regs[d].is_scalar()) {
                regs[d] = RegState::scalar(alu::endian(op, bits, &scalar_view(&regs[d])));
            }
        }
        Insn::MovSx {
            width,
            dst,
            src,
            from,
        } => {
            let s = regs[src.index() as usize];
            regs[dst.index() as usize] =
                RegState::scalar(alu::movsx(width, from, &scalar_view(&s)));
        }
        _ => unreachable!("execute is called for arithmetic only"),
    }
    Ok(())
}

/// A register as a number: a pointer, which a privileged loader may turn
/// into a number (`is_pointer_value` is false with `CAP_PERFMON`), is any
/// number.
fn scalar_view(reg: &RegState) -> Scalar {
    if reg.is_scalar() {
        reg.value
    } else {
        Scalar::UNKNOWN
    }
}

/// `dst op src` for two register states.
fn binary(
    insn: usize,
    width: Width,
    op: AluOp,
    dno: u8,
    dst: RegState,
    src: RegState,
    sno: Option<u8>,
) -> Result<RegState, Rejection> {
    if op == AluOp::Mov {
        return match width {
            Width::W64 => Ok(src),
            Width::W32 if src.is_scalar() => Ok(RegState::scalar(alu::mov(width, &src.value))),
            // A privileged loader may copy the low half of a pointer: a number.
            Width::W32 => Ok(RegState::scalar(alu::mov(width, &Scalar::UNKNOWN))),
        };
    }
    if width == Width::W32 && !(dst.is_scalar() && src.is_scalar()) {
        // A privileged loader may subtract with a pointer on 32 bits: the
        // result is a meaningless number; anything else is refused.
        if op == AluOp::Sub {
            return Ok(RegState::unknown());
        }
        return Err(
            Rejection::new(insn, format!("R{dno} 32-bit pointer arithmetic prohibited"))
                .reg(dno, dst)
                .cause("32-bit arithmetic on a pointer"),
        );
    }
    match (dst.is_scalar(), src.is_scalar()) {
        (true, true) => {
            let mut out = RegState::scalar(alu::alu(width, op, &dst.value, &src.value));
            out.id = 0;
            Ok(out)
        }
        // A privileged loader may subtract two pointers: the result is a number.
        (false, false) if op == AluOp::Sub => Ok(RegState::unknown()),
        (false, false) => Err(Rejection::new(
            insn,
            format!("R{dno} pointer {} pointer prohibited", op_name(op)),
        )
        .reg(dno, dst)
        .cause("arithmetic between two pointers other than subtraction")),
        (false, true) => pointer_math(insn, op, dno, dst, src),
        (true, false) => {
            if op == AluOp::Sub {
                return Err(Rejection::new(
                    insn,
                    format!("R{dno} tried to subtract pointer from scalar"),
                )
                .reg(dno, dst));
            }
            let sno = sno.unwrap_or(dno);
            pointer_math(insn, op, sno, src, dst).map_err(|mut r| {
                r.insn = insn;
                r
            })
        }
    }
}

/// A register's type as messages name it, formatted when printed.
struct TypeName<'a>(&'a RegState);

impl std::fmt::Display for TypeName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.type_name())
    }
}

/// `ptr op scalar` (`adjust_ptr_min_max_vals`).
fn pointer_math(
    insn: usize,
    op: AluOp,
    pno: u8,
    ptr: RegState,
    off: RegState,
) -> Result<RegState, Rejection> {
    // Named only when refused: formatting it costs more than the checks.
    let name = TypeName(&ptr);
    let refuse =
        |line: String, cause: String| Err(Rejection::new(insn, line).reg(pno, ptr).cause(cause));
    if ptr.maybe_null {
        return Err(Rejection::new(
            insn,
            format!("R{pno} pointer arithmetic on {name} prohibited, null-check it first"),
        )
        .reg(pno, ptr)
        .cause(format!(
            "R{pno} may be NULL ({name}) and is moved before the NULL check"
        ))
        .help("compare the pointer with NULL first, then do the arithmetic"));
    }
    let allowed = match ptr.kind {
        RegType::Ctx
        | RegType::MapValue
        | RegType::MapKey
        | RegType::Stack
        | RegType::PacketMeta
        | RegType::Packet
        | RegType::BtfId
        | RegType::Mem
        | RegType::RingbufMem
        | RegType::Func => true,
        RegType::FlowKeys => off.value.is_const(),
        RegType::MapPtr => off.value.var_off.equals_const(0),
        _ => false,
    };
    if !allowed {
        return refuse(
            format!("R{pno} pointer arithmetic on {name} prohibited"),
            format!("{name} pointers may not be moved"),
        );
    }
    match op {
        AluOp::Add | AluOp::Sub => {}
        AluOp::And | AluOp::Or | AluOp::Xor => {
            return refuse(
                format!(
                    "R{pno} bitwise operator {} on pointer prohibited",
                    op_name(op)
                ),
                "bit operations on a pointer".into(),
            );
        }
        _ => {
            return refuse(
                format!(
                    "R{pno} pointer arithmetic with {} operator prohibited",
                    op_name(op)
                ),
                format!("the operator {} on a pointer", op_name(op)),
            );
        }
    }
    let v = off.value;
    if v.smin == i64::MIN && !v.is_const() {
        return refuse(
            format!(
                "math between {name} pointer and register with unbounded min value is not allowed"
            ),
            "the offset added to the pointer has no lower bound".into(),
        );
    }
    // The kernel refuses any subtraction from a stack pointer, constant
    // or not (`r2 -= 8`; compilers emit `r2 += -8`).
    if op == AluOp::Sub && ptr.kind == RegType::Stack {
        return refuse(
            format!("R{pno} subtraction from stack pointer prohibited"),
            "a value subtracted from a stack pointer".into(),
        );
    }
    let mut out = ptr;
    if v.is_const() {
        let c = v.var_off.value as i64;
        let delta = if op == AluOp::Add {
            c
        } else {
            c.wrapping_neg()
        };
        if !(-MAX_VAR_OFF..MAX_VAR_OFF).contains(&delta) {
            return refuse(
                format!("math between {name} pointer and {c} is not allowed"),
                format!("the constant {c} moves the pointer too far"),
            );
        }
        let new_off = i64::from(ptr.off) + delta;
        if !(-MAX_VAR_OFF..MAX_VAR_OFF).contains(&new_off) {
            return refuse(
                format!("{name} pointer offset {new_off} is not allowed"),
                format!("the pointer's offset {new_off} is too far from its base"),
            );
        }
        out.off = new_off as i32;
        return Ok(out);
    }
    out.value = alu::alu(Width::W64, op, &ptr.value, &v);
    // A pointer's 32-bit bounds are not tracked: only what the 64-bit ones
    // and the tnum say of the low half (`__mark_reg32_unbounded`, then
    // `reg_bounds_sync`).
    out.value.mark_unbounded_at(false);
    out.value.sync();
    if ptr.kind.is_packet() {
        // A new variable offset: ranges proven for the old one do not
        // apply, and the caller gives it a new id.
        out.id = 0;
        out.range = 0;
    }
    Ok(out)
}
