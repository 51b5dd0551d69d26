//! A quotient and the remainder derived from it, from one division.
//!
//! eBPF computes a quotient and a remainder with two divisions, so when a
//! program needs both clang divides once and multiplies back:
//! `r0 = x; r0 /= d; ...; t = r0; t *= d; x -= t`. x86's `div` leaves the
//! remainder in rdx anyway: kept in r11, `x -= t` becomes a copy of it,
//! which the next iteration of a loop no longer waits for the
//! multiplication to produce (`t` is still computed, as written).
//!
//! The zero check goes when the divisor was just or-ed with a nonzero
//! number (`d | 1`).
//!
//! Only for the quotient in `r0` (rax, where `div` puts it) of an unsigned
//! 64-bit division by a register that `div` leaves alone, with nothing
//! between the division and the remainder that writes `x`, `d` or the
//! quotient or could use r11 (a few kinds of ALU op, emitted here one by
//! one), no jump landing in between, in the body that does not count the
//! budget (as every fusion).
//!
//! `bench_div` (`tests/progs/xdp_bench.c`) then waits on the division and
//! three ops per iteration on both of its chains: the next dividend
//! (`x ^ (q << 7)`, plus the remainder) and the next divisor
//! (`(d >> 3) ^ (q & 0xffff)`, or-ed with 1 at the loop's head), as
//! gcc's code of the same C does, in the same time. The kernel adds the
//! multiplication and subtraction to the first. A cycle less would need
//! the `| 1` moved from the head across the back edge before the xor, as
//! `(a | 1) ^ (b & !1)` (the register carried round keeps `d` without the
//! 1, and only its shift reads it): 5% faster in a hand-written copy of
//! the loop, but a rewrite of the loop, not of a window of ops.

use apiary_vm::Op;

use crate::compile::{Emitter, R10, R11, Stub, x};
use crate::reassoc::alu;
use crate::{emit_alu, x64};

/// The most ops between the division and the remainder.
const GAP: usize = 16;

const RAX: u8 = 0;
const RDX: u8 = 2;

/// Whether `op` is emitted without r11 (by [`emit_alu::emit`]) and writes
/// none of `keep`.
fn harmless(op: Op, keep: [u8; 3]) -> bool {
    let d = match op {
        Op::Mov64R { d, .. }
        | Op::Mov32R { d, .. }
        | Op::Mov64I { d, .. }
        | Op::Mov32I { d, .. } => d,
        _ => match alu(op) {
            Some(alu) => alu.d,
            None => return false,
        },
    };
    !keep.contains(&d)
}

/// `r0 = x; r0 /= d`, then harmless ops, then `t = r0; t *= d; x -= t`,
/// at op `pc`: emitted with the remainder of the one division; the number
/// of ops emitted (0: not that shape).
pub(crate) fn quotient_and_remainder(
    e: &mut Emitter,
    ops: &[Op],
    is_target: &[bool],
    pc: usize,
) -> usize {
    let (Some(&Op::Mov64R { d: q, s: dividend }), Some(&Op::Div64R { d: q2, s: divisor })) =
        (ops.get(pc), ops.get(pc + 1))
    else {
        return 0;
    };
    let divisor_reg = x(divisor);
    if q != RAX
        || q2 != q
        || dividend == q
        || divisor == q
        || divisor == dividend
        || [RAX, RDX, R10, R11].contains(&divisor_reg)
        || dividend > 10
        || divisor > 10
    {
        return 0;
    }
    let keep = [q, dividend, divisor];
    let inner = |i: usize| is_target.get(i) == Some(&false);
    let mut at = pc + 2;
    let (triple, t) = loop {
        if at >= pc + 2 + GAP || !inner(at) {
            return 0;
        }
        if let Some(
            &[
                Op::Mov64R { d: t, s: q3 },
                Op::Mul64R { d: t2, s: divisor2 },
                Op::Sub64R { d: x2, s: t3 },
            ],
        ) = ops.get(at..at + 3)
            && q3 == q
            && t2 == t
            && t3 == t
            && divisor2 == divisor
            && x2 == dividend
            && !keep.contains(&t)
            && inner(at + 1)
            && inner(at + 2)
        {
            break (at, t);
        }
        match ops.get(at) {
            Some(&op) if harmless(op, keep) => at += 1,
            _ => return 0,
        }
    };
    // The division, rdx (eBPF r3) kept in r10 around it, the remainder to r11.
    x64!(e
        ; mov rax, Rq(x(dividend))
        ; mov Rq(R10), rdx
    );
    let back = e.label();
    if !or_nonzero_before(ops, is_target, pc, divisor) {
        let by_zero = e.label();
        x64!(e; test Rq(divisor_reg), Rq(divisor_reg); jz =>by_zero);
        e.stubs.push(Stub::QuotientByZero { at: by_zero, back });
    }
    x64!(e
        ; xor edx, edx
        ; div Rq(divisor_reg)
        ; =>back
        ; mov Rq(R11), rdx
        ; mov rdx, Rq(R10)
    );
    for &op in &ops[pc + 2..triple] {
        emit_alu::emit(e, op);
    }
    let t = x(t);
    x64!(e
        ; mov Rq(t), rax
        ; imul Rq(t), Rq(divisor_reg)
        ; mov Rq(x(dividend)), Rq(R11)
    );
    triple + 3 - pc
}

/// Whether register `r` is nonzero at op `pc` because the last op before
/// it that writes `r` ors in a nonzero number (`d |= 1`, how clang keeps
/// a divisor from zero), in straight-line code: no jump lands on that op's
/// successors up to `pc` (one could bring another value).
fn or_nonzero_before(ops: &[Op], is_target: &[bool], pc: usize, r: u8) -> bool {
    let mut i = pc;
    while i > 0 && is_target.get(i) == Some(&false) {
        i -= 1;
        let Some(&op) = ops.get(i) else { return false };
        match op {
            Op::Or64I { d, v } if d == r => return v != 0,
            // The low half nonzero, and the upper half zero: nonzero.
            Op::Or32I { d, v } if d == r => return v != 0,
            op if writes(op, r) => return false,
            _ => {}
        }
    }
    false
}

/// Whether `op`, one of the ops [`or_nonzero_before`] looks back over,
/// may write `r`: a copy or ALU op into it, or anything else (a load,
/// call or jump: the look back stops).
fn writes(op: Op, r: u8) -> bool {
    match op {
        Op::Mov64R { d, .. }
        | Op::Mov32R { d, .. }
        | Op::Mov64I { d, .. }
        | Op::Mov32I { d, .. } => d == r,
        _ => alu(op).is_none_or(|alu| alu.d == r),
    }
}
