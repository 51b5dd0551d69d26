//! The kernel's transfer functions for arithmetic on scalars
//! (`adjust_scalar_min_max_vals` and the scalar cases of `check_alu_op`).
//!
//! Each function takes the abstract operands and returns the abstract
//! result, which contains the concrete result of every pair of members.
//! Where the kernel gives up (division, modulo, shifts by an
//! unknown or too large amount) the result is [`Scalar::UNKNOWN`], exactly as
//! the kernel's, so that verdicts match.

use apiary_isa::{AluOp, EndianOp, Size, Width};

use crate::scalar::Scalar;

/// `dst op src` at `width` for the two-operand operations other than `Mov`
/// (see [`mov`]). `src` of an immediate operand is
/// `Scalar::constant(imm as i64 as u64)`, as the kernel sign-extends it.
pub fn alu(width: Width, op: AluOp, dst: &Scalar, src: &Scalar) -> Scalar {
    let wide = width == Width::W64;
    if op == AluOp::Mov {
        return mov(width, src);
    }
    if !safe_to_compute(wide, op, src) {
        return Scalar::UNKNOWN;
    }
    let mut d = *dst;
    let s = src;
    match op {
        AluOp::Add => {
            add(&mut d, s, false);
            add(&mut d, s, true);
            d.var_off = d.var_off.add(s.var_off);
        }
        AluOp::Sub => {
            sub(&mut d, s, false);
            sub(&mut d, s, true);
            d.var_off = d.var_off.sub(s.var_off);
        }
        AluOp::Mul => {
            d.var_off = d.var_off.mul(s.var_off);
            mul(&mut d, s, false);
            mul(&mut d, s, true);
        }
        AluOp::And | AluOp::Or | AluOp::Xor => {
            d.var_off = match op {
                AluOp::And => d.var_off.and(s.var_off),
                AluOp::Or => d.var_off.or(s.var_off),
                _ => d.var_off.xor(s.var_off),
            };
            bitwise(&mut d, s, op, false);
            bitwise(&mut d, s, op, true);
        }
        AluOp::Lsh => lsh(&mut d, s, wide),
        AluOp::Rsh => rsh(&mut d, s, wide),
        AluOp::Arsh => arsh(&mut d, s, wide),
        AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod | AluOp::Mov => {
            unreachable!("refused by safe_to_compute or handled above")
        }
    }
    finish(width, d)
}

/// `dst = -dst`, tracked as `0 - dst`.
pub fn neg(width: Width, dst: &Scalar) -> Scalar {
    alu(width, AluOp::Sub, &Scalar::constant(0), dst)
}

/// `dst = src` (a register or a sign-extended immediate). A 32-bit move
/// keeps the low half and zero-extends it.
pub fn mov(width: Width, src: &Scalar) -> Scalar {
    match width {
        Width::W64 => *src,
        Width::W32 => finish(width, *src),
    }
}

/// `movsx`: the low `from` bytes of `src` sign-extended to the width.
pub fn movsx(width: Width, from: Size, src: &Scalar) -> Scalar {
    let mut d = *src;
    let bytes = from.bytes() as u8;
    match width {
        Width::W64 => {
            d.coerce_to_size_sx(bytes);
            d
        }
        Width::W32 => {
            d.coerce_subreg_to_size_sx(bytes);
            finish(width, d)
        }
    }
}

/// Byte-order conversion and byte swaps on a little-endian machine
/// (`scalar_byte_swap`): `to_be` and `bswap` reverse the bytes of the tnum
/// and re-derive the bounds from it; a 16- or 32-bit conversion (`le16`,
/// `le32` included) then truncates as a narrow load does; `le64` changes
/// nothing. Never zero-extended as other 32-bit operations are: `be64` is
/// encoded as one.
pub fn endian(op: EndianOp, bits: u8, dst: &Scalar) -> Scalar {
    let mut d = *dst;
    if op != EndianOp::ToLe {
        d.var_off = d.var_off.swap_bytes(bits);
        d.mark_unbounded();
    }
    if bits == 16 || bits == 32 {
        d.coerce_to_size(bits / 8);
    }
    d.sync();
    d
}

/// Zero-extends a 32-bit result and syncs the views.
fn finish(width: Width, mut d: Scalar) -> Scalar {
    if width == Width::W32 {
        d.zext_32_to_64();
    }
    d.sync();
    d
}

/// Whether the kernel computes a range for `op` with this source
/// (`is_safe_to_compute_dst_reg_range`): shifts need a constant count below
/// the width (checked against the 64-bit maximum even for 32-bit shifts, as
/// the kernel does); division and modulo are never tracked.
fn safe_to_compute(wide: bool, op: AluOp, src: &Scalar) -> bool {
    match op {
        AluOp::Add | AluOp::Sub | AluOp::And | AluOp::Xor | AluOp::Or | AluOp::Mul => true,
        AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => {
            let constant = if wide {
                src.var_off.is_const() && src.smin == src.smax && src.umin == src.umax
            } else {
                src.var_off.subreg_is_const()
                    && src.s32_min == src.s32_max
                    && src.u32_min == src.u32_max
            };
            constant && src.umax < if wide { 64 } else { 32 }
        }
        AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod | AluOp::Mov => false,
    }
}

/// `dst + src` on one half: signed bounds survive unless an end overflows;
/// unsigned bounds survive if every sum wraps or none does.
fn add(d: &mut Scalar, s: &Scalar, wide: bool) {
    let (mut b, t) = (d.bounds(wide), s.bounds(wide));
    let (lo, hi) = (b.smin + t.smin, b.smax + t.smax);
    if lo < b.signed_min() || hi > b.signed_max() {
        b.unbound_signed();
    } else {
        (b.smin, b.smax) = (lo, hi);
    }
    let (lo, hi) = (b.umin + t.umin, b.umax + t.umax);
    if lo <= b.unsigned_max() && hi > b.unsigned_max() {
        b.unbound_unsigned();
    } else {
        (b.umin, b.umax) = (b.wrap_unsigned(lo), b.wrap_unsigned(hi));
    }
    d.set_bounds(b);
}

/// `dst - src` on one half, with the same rules as [`add`].
fn sub(d: &mut Scalar, s: &Scalar, wide: bool) {
    let (mut b, t) = (d.bounds(wide), s.bounds(wide));
    let (lo, hi) = (b.smin - t.smax, b.smax - t.smin);
    if lo < b.signed_min() || hi > b.signed_max() {
        b.unbound_signed();
    } else {
        (b.smin, b.smax) = (lo, hi);
    }
    let (lo, hi) = (b.umin - t.umax, b.umax - t.umin);
    if lo < 0 && hi >= 0 {
        b.unbound_unsigned();
    } else {
        (b.umin, b.umax) = (b.wrap_unsigned(lo), b.wrap_unsigned(hi));
    }
    d.set_bounds(b);
}

/// `dst * src` on one half: unsigned bounds survive if the largest product
/// fits; signed bounds are the extremes of the four corner products if all fit.
fn mul(d: &mut Scalar, s: &Scalar, wide: bool) {
    let (mut b, t) = (d.bounds(wide), s.bounds(wide));
    match b.umax.checked_mul(t.umax) {
        Some(hi) if hi <= b.unsigned_max() => (b.umin, b.umax) = (b.umin * t.umin, hi),
        _ => b.unbound_unsigned(),
    }
    let corners = [
        b.smin.checked_mul(t.smin),
        b.smin.checked_mul(t.smax),
        b.smax.checked_mul(t.smin),
        b.smax.checked_mul(t.smax),
    ];
    let fits = |p: &Option<i128>| p.is_some_and(|p| (b.signed_min()..=b.signed_max()).contains(&p));
    if corners.iter().all(fits) {
        let products = corners.map(|p| p.unwrap_or_default());
        b.smin = products.into_iter().min().unwrap_or_default();
        b.smax = products.into_iter().max().unwrap_or_default();
    } else {
        b.unbound_signed();
    }
    d.set_bounds(b);
}

/// And, or and xor on one half; `d.var_off` already holds the result's tnum.
fn bitwise(d: &mut Scalar, s: &Scalar, op: AluOp, wide: bool) {
    let (mut b, t) = (d.bounds(wide), s.bounds(wide));
    if t.tnum.is_const() && b.tnum.is_const() {
        if wide {
            *d = Scalar::constant(b.tnum.value);
        } else {
            d.set_const32(b.tnum.value as u32);
        }
        return;
    }
    let (v, m) = (i128::from(b.tnum.value), i128::from(b.tnum.mask));
    (b.umin, b.umax) = match op {
        // The minimum comes from the known bits; the maximum is the
        // smaller of the operands' maxima.
        AluOp::And => (v, b.umax.min(t.umax)),
        // The maximum comes from the bits; the minimum is the larger minimum.
        AluOp::Or => (b.umin.max(t.umin), v | m),
        _ => (v, v | m),
    };
    b.signed_from_unsigned();
    d.set_bounds(b);
    if wide {
        d.update_bounds();
    }
}

/// The unsigned bounds of a left shift by `[lo, hi]` on one half; the
/// signed ones are lost.
fn lsh_bounds(d: &mut Scalar, wide: bool, lo: u64, hi: u64) {
    let mut b = d.bounds(wide);
    b.unbound_signed();
    let top = u64::from(b.bits - 1);
    if hi > top || b.umax > 1i128 << (top - hi) {
        b.unbound_unsigned();
    } else {
        b.umin <<= lo;
        b.umax <<= hi;
    }
    d.set_bounds(b);
}

/// The shift counts `[lo, hi]` at the width.
fn counts(s: &Scalar, wide: bool) -> (u64, u64) {
    let t = s.bounds(wide);
    (t.umin as u64, t.umax as u64)
}

/// Recomputes the bounds a shift left to the tnum: both halves after a
/// 64-bit shift, the low half after a 32-bit one (the other half is
/// unbounded and comes from the zero extension).
fn after_shift(d: &mut Scalar, wide: bool) {
    d.mark_unbounded_at(!wide);
    if wide {
        d.update_bounds();
    } else {
        d.update_bounds_at(false);
    }
}

fn lsh(d: &mut Scalar, s: &Scalar, wide: bool) {
    let (lo, hi) = counts(s, wide);
    if !wide {
        let low = d.var_off.subreg();
        lsh_bounds(d, false, lo, hi);
        d.var_off = low.lshift(lo as u8).subreg();
        return after_shift(d, false);
    }
    // `x << 32` of a non-negative 32-bit value keeps its sign: the common
    // `<<32 s>>32` sign-extension idiom stays bounded.
    let by_32 = lo == 32 && hi == 32;
    let smax = if by_32 && d.s32_max >= 0 {
        i64::from(d.s32_max) << 32
    } else {
        i64::MAX
    };
    let smin = if by_32 && d.s32_min >= 0 {
        i64::from(d.s32_min) << 32
    } else {
        i64::MIN
    };
    lsh_bounds(d, true, lo, hi);
    (d.smin, d.smax) = (smin, smax);
    lsh_bounds(d, false, lo, hi);
    d.var_off = d.var_off.lshift(lo as u8);
    d.update_bounds();
}

fn rsh(d: &mut Scalar, s: &Scalar, wide: bool) {
    let (lo, hi) = counts(s, wide);
    let mut b = d.bounds(wide);
    b.unbound_signed();
    b.umin >>= hi;
    b.umax >>= lo;
    d.set_bounds(b);
    d.var_off = b.tnum.rshift(lo as u8);
    after_shift(d, wide);
}

fn arsh(d: &mut Scalar, s: &Scalar, wide: bool) {
    let (shift, _) = counts(s, wide);
    let mut b = d.bounds(wide);
    b.smin >>= shift;
    b.smax >>= shift;
    b.unbound_unsigned();
    d.set_bounds(b);
    d.var_off = b.tnum.arshift(shift as u8, b.bits as u8);
    after_shift(d, wide);
}
