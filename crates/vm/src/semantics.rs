//! The concrete meaning of arithmetic, byte-order and jump instructions
//! (RFC 9669 sections 4 and 5, with Linux's cpu v4 extensions).
//!
//! The interpreter computes every ALU result and every jump decision through
//! these functions, so they are the one statement of what an instruction
//! does to a value. Other crates (the verifier's soundness tests) use them
//! as the ground truth that an abstract domain must over-approximate.

use apiary_isa::{AluOp, EndianOp, JmpCond, Size, Width};

/// `dst op src` on 64 bits. Shift counts are masked to 6 bits; division by
/// zero gives 0 and modulo by zero leaves `dst`, as the kernel's run-time
/// guards make them. `Mov` gives `src`.
#[inline(always)]
pub fn alu64(op: AluOp, dst: u64, src: u64) -> u64 {
    match op {
        AluOp::Add => dst.wrapping_add(src),
        AluOp::Sub => dst.wrapping_sub(src),
        AluOp::Mul => dst.wrapping_mul(src),
        AluOp::Div => dst.checked_div(src).unwrap_or(0),
        AluOp::SDiv => match src {
            0 => 0,
            _ => (dst as i64).wrapping_div(src as i64) as u64,
        },
        AluOp::Or => dst | src,
        AluOp::And => dst & src,
        AluOp::Lsh => dst << (src & 63),
        AluOp::Rsh => dst >> (src & 63),
        AluOp::Mod => dst.checked_rem(src).unwrap_or(dst),
        AluOp::SMod => match src {
            0 => dst,
            _ => (dst as i64).wrapping_rem(src as i64) as u64,
        },
        AluOp::Xor => dst ^ src,
        AluOp::Mov => src,
        AluOp::Arsh => ((dst as i64) >> (src & 63)) as u64,
    }
}

/// `dst op src` on the low 32 bits, with the same conventions as [`alu64`]
/// and shift counts masked to 5 bits: the 64-bit operation on the
/// zero-extended operands (sign-extended for the signed ones), truncated.
#[inline(always)]
pub fn alu32(op: AluOp, dst: u32, src: u32) -> u32 {
    let signed = |v: u32| v as i32 as i64 as u64;
    match op {
        // Unsigned division stays 32-bit: a 64-bit divide is slower.
        AluOp::Div => dst.checked_div(src).unwrap_or(0),
        AluOp::Mod => dst.checked_rem(src).unwrap_or(dst),
        AluOp::SDiv | AluOp::SMod => alu64(op, signed(dst), signed(src)) as u32,
        AluOp::Arsh => alu64(op, signed(dst), u64::from(src & 31)) as u32,
        AluOp::Lsh | AluOp::Rsh => alu64(op, dst.into(), u64::from(src & 31)) as u32,
        _ => alu64(op, dst.into(), src.into()) as u32,
    }
}

/// `dst op src` at `width`, as the register holds it afterwards: a 32-bit
/// operation reads the low halves and zero-extends its result.
#[inline(always)]
pub fn alu(width: Width, op: AluOp, dst: u64, src: u64) -> u64 {
    match width {
        Width::W64 => alu64(op, dst, src),
        Width::W32 => u64::from(alu32(op, dst as u32, src as u32)),
    }
}

/// `-dst` at `width` (32-bit results are zero-extended).
#[inline(always)]
pub fn neg(width: Width, dst: u64) -> u64 {
    match width {
        Width::W64 => dst.wrapping_neg(),
        Width::W32 => u64::from((dst as u32).wrapping_neg()),
    }
}

/// The low `bits` (8, 16 or 32) of `value`, sign-extended to 64 bits.
#[inline(always)]
pub fn sign_extend(value: u64, bits: u8) -> u64 {
    match bits {
        8 => value as i8 as i64 as u64,
        16 => value as i16 as i64 as u64,
        _ => value as i32 as i64 as u64,
    }
}

/// `movsx`: the low `from` bytes of `src` sign-extended to 64 bits, or to 32
/// bits and then zero-extended for the 32-bit form.
#[inline(always)]
pub fn movsx(width: Width, from: Size, src: u64) -> u64 {
    let wide = sign_extend(src, from.bits() as u8);
    match width {
        Width::W64 => wide,
        Width::W32 => u64::from(wide as u32),
    }
}

/// `le`/`be`/`bswap` of the low `bits` (16, 32 or 64) of `value`; the result
/// is zero-extended from `bits`.
#[inline(always)]
pub fn endian(op: EndianOp, bits: u8, value: u64) -> u64 {
    let swap = match op {
        EndianOp::Swap => true,
        EndianOp::ToLe => cfg!(target_endian = "big"),
        EndianOp::ToBe => cfg!(target_endian = "little"),
    };
    match (bits, swap) {
        (16, true) => u64::from((value as u16).swap_bytes()),
        (16, false) => u64::from(value as u16),
        (32, true) => u64::from((value as u32).swap_bytes()),
        (32, false) => u64::from(value as u32),
        (_, true) => value.swap_bytes(),
        (_, false) => value,
    }
}

/// Whether `a cond b` holds on 64 bits.
#[inline(always)]
pub fn cond64(cond: JmpCond, a: u64, b: u64) -> bool {
    match cond {
        JmpCond::Eq => a == b,
        JmpCond::Ne => a != b,
        JmpCond::Set => a & b != 0,
        JmpCond::Gt => a > b,
        JmpCond::Ge => a >= b,
        JmpCond::Lt => a < b,
        JmpCond::Le => a <= b,
        JmpCond::Sgt => (a as i64) > b as i64,
        JmpCond::Sge => (a as i64) >= b as i64,
        JmpCond::Slt => (a as i64) < (b as i64),
        JmpCond::Sle => (a as i64) <= b as i64,
    }
}

/// Whether `a cond b` holds on 32 bits: the 64-bit comparison of the
/// operands zero-extended, or sign-extended for the signed conditions.
#[inline(always)]
pub fn cond32(cond: JmpCond, a: u32, b: u32) -> bool {
    let signed = matches!(
        cond,
        JmpCond::Sgt | JmpCond::Sge | JmpCond::Slt | JmpCond::Sle
    );
    let widen = |v: u32| {
        if signed {
            v as i32 as i64 as u64
        } else {
            u64::from(v)
        }
    };
    cond64(cond, widen(a), widen(b))
}

/// Whether a jump on `dst cond src` at `width` is taken.
#[inline(always)]
pub fn condition(width: Width, cond: JmpCond, dst: u64, src: u64) -> bool {
    match width {
        Width::W64 => cond64(cond, dst, src),
        Width::W32 => cond32(cond, dst as u32, src as u32),
    }
}
