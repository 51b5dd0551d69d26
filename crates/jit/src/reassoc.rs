//! Sums reordered so that the operand computed last is added last.
//!
//! A loop's speed is often the length of the chain of operations that
//! each iteration waits on. eBPF's two-operand additions fix an order: in
//! `a = b; a += c; e = d; e += a` the sum `e` waits for `b` through two
//! additions, and in `x -= p; x += q; x += r` for `p` through three. Both
//! compute the same in any order (addition wraps, so it is associative
//! and commutative), so the operand that is ready last is added last.
//!
//! Which one that is comes from [`Ready`]: the cycles each register's
//! value takes to compute from the start of the straight-line code it is
//! in (a jump target or a call starts afresh). A guess, since the code
//! runs out of order; it only ever changes the order, never the result.
//!
//! Only in the body that does not count the budget, over ops nothing
//! jumps into (as every fusion).
//!
//! # Where this stops paying
//! `bench_alu` (`tests/progs/xdp_bench.c`) runs at the bound of its
//! multiply chain, `x = x * C1 + C2`, in most batches: an `imul` and an
//! `add`, 4 cycles an iteration on AMD's Zen 3, what a loop of those two
//! alone takes (1,270 ns for 1,000 at this host's 3.15 GHz; some batches
//! of the same code take 5). The kernel's code waits 5 on its `y` chain of
//! five ops. Shorter code for `y` made a hand-written copy of the loop
//! slower, not faster, every other op the same: `rol` or `rorx` for
//! clang's rotate (its shifts and or), `movzx` for the mask of
//! `x & 0xffff`, the dead copy (`r8`) dropped: 5 to 6 cycles an iteration
//! instead of 4 (the kernel's code, run the same way: 5). `imul` runs on
//! one ALU, and which ops the scheduler queues beside it decides; no fusion
//! here rewrites rotates or drops dead ops for that loop's sake.

use apiary_vm::Op;

use crate::compile::{Emitter, R11, simm32, x};
use crate::emit_alu::lea_sum;
use crate::x64;

/// Estimated cycles until each of `r0..r10` holds its value, counted from
/// the start of the straight-line code.
#[derive(Clone, Copy, Default)]
pub(crate) struct Ready([u32; 11]);

/// Cycles of a multiplication, and of a division (the divider's latency
/// depends on the operands; this is the order of magnitude).
const MUL: u32 = 3;
const DIV: u32 = 20;
/// Cycles of a load that hits the cache.
const LOAD: u32 = 4;

impl Ready {
    fn at(&self, r: u8) -> u32 {
        self.0.get(usize::from(r)).copied().unwrap_or(0)
    }

    fn set(&mut self, d: u8, v: u32) {
        if let Some(slot) = self.0.get_mut(usize::from(d)) {
            *slot = v;
        }
    }

    /// Starts afresh (a jump target: the values come from elsewhere).
    pub(crate) fn reset(&mut self) {
        self.0 = [0; 11];
    }

    /// The estimate after `op`. Ops it does not model (calls, atomics,
    /// and anything else that may write registers) start afresh.
    pub(crate) fn step(&mut self, op: Op) {
        use Op::*;
        match op {
            Mov64R { d, s } | Mov32R { d, s } => self.set(d, self.at(s)),
            Mov64I { d, .. } | Mov32I { d, .. } => self.set(d, 0),
            Div64R { d, s }
            | Mod64R { d, s }
            | SDiv64R { d, s }
            | SMod64R { d, s }
            | Div32R { d, s }
            | Mod32R { d, s }
            | SDiv32R { d, s }
            | SMod32R { d, s } => self.set(d, self.at(d).max(self.at(s)) + DIV),
            LdB { d, s, .. }
            | LdH { d, s, .. }
            | LdW { d, s, .. }
            | LdDw { d, s, .. }
            | LdSxB { d, s, .. }
            | LdSxH { d, s, .. }
            | LdSxW { d, s, .. } => self.set(d, self.at(s) + LOAD),
            StB { .. }
            | StH { .. }
            | StW { .. }
            | StDw { .. }
            | StBI { .. }
            | StHI { .. }
            | StWI { .. }
            | StDwI { .. }
            | Nop => {}
            _ => match alu(op) {
                Some(Alu { d, s, cycles }) => {
                    let inputs = s.map_or(self.at(d), |s| self.at(d).max(self.at(s)));
                    self.set(d, inputs + cycles);
                }
                None => self.reset(),
            },
        }
    }
}

/// An ALU op other than a copy or a division, as `emit_alu` emits it
/// without r11: the register it writes (and reads), the other register
/// it reads, and its cycles.
pub(crate) struct Alu {
    pub(crate) d: u8,
    pub(crate) s: Option<u8>,
    cycles: u32,
}

/// `op` as an [`Alu`], if it is one. (A 64-bit immediate beyond 32 bits,
/// which only the runtime's rewrites produce, goes through r11: not one.)
pub(crate) fn alu(op: Op) -> Option<Alu> {
    use Op::*;
    let (d, s, cycles) = match op {
        Add64R { d, s }
        | Sub64R { d, s }
        | Or64R { d, s }
        | And64R { d, s }
        | Xor64R { d, s }
        | Add32R { d, s }
        | Sub32R { d, s }
        | Or32R { d, s }
        | And32R { d, s }
        | Xor32R { d, s }
        | Lsh64R { d, s }
        | Rsh64R { d, s }
        | Arsh64R { d, s }
        | Lsh32R { d, s }
        | Rsh32R { d, s }
        | Arsh32R { d, s } => (d, Some(s), 1),
        Mul64R { d, s } | Mul32R { d, s } => (d, Some(s), MUL),
        Add64I { d, v } | Sub64I { d, v } | Or64I { d, v } | And64I { d, v } | Xor64I { d, v }
            if simm32(v).is_some() =>
        {
            (d, None, 1)
        }
        Mul64I { d, v } if simm32(v).is_some() => (d, None, MUL),
        Add32I { d, .. }
        | Sub32I { d, .. }
        | Or32I { d, .. }
        | And32I { d, .. }
        | Xor32I { d, .. }
        | Lsh64I { d, .. }
        | Rsh64I { d, .. }
        | Arsh64I { d, .. }
        | Lsh32I { d, .. }
        | Rsh32I { d, .. }
        | Arsh32I { d, .. }
        | Neg64 { d }
        | Neg32 { d } => (d, None, 1),
        Mul32I { d, .. } => (d, None, MUL),
        _ => return None,
    };
    Some(Alu { d, s, cycles })
}

/// Tries the reorderings at op `pc` (`ready`: the estimate before it);
/// the number of ops emitted (0: none).
pub(crate) fn reassociate(
    e: &mut Emitter,
    ops: &[Op],
    is_target: &[bool],
    ready: &Ready,
    pc: usize,
) -> usize {
    let inner = |i: usize| is_target.get(i) == Some(&false);
    let two_sums = ops
        .get(pc..pc + 4)
        .and_then(|o| <[Op; 4]>::try_from(o).ok());
    if (1..4).all(|k| inner(pc + k))
        && let Some(ops) = two_sums
        && two_sums_into_one(e, ops, ready)
    {
        return 4;
    }
    additions(e, ops, &inner, ready, pc)
}

/// `a = b; a += c; e = d; e += a` (`a` other than `b`, `c`, `d`, `e`):
/// `a` as one `lea`, and `e` as `b + c + d` with the operand ready last
/// added last, when that is `b` or `c` (with `d` last, the order as
/// written is already the best); `false` otherwise.
fn two_sums_into_one(e: &mut Emitter, ops: [Op; 4], ready: &Ready) -> bool {
    let [
        Op::Mov64R { d: a, s: b },
        Op::Add64R { d: a2, s: c },
        Op::Mov64R { d: e2, s: d },
        Op::Add64R { d: e3, s: a3 },
    ] = ops
    else {
        return false;
    };
    if a2 != a || a3 != a || e3 != e2 || [b, c, d, e2].contains(&a) {
        return false;
    }
    let mut terms = [d, b, c];
    // Stable: of equally ready operands, the order as written.
    terms.sort_by_key(|&r| ready.at(r));
    let [p, q, last] = terms;
    if last == d || ready.at(last) <= ready.at(d) {
        return false;
    }
    let (a, b, c, sum, p, q, last) = (x(a), x(b), x(c), x(e2), x(p), x(q), x(last));
    lea_sum(e, a, b, c);
    if sum == last {
        lea_sum(e, R11, p, q);
        x64!(e; add Rq(sum), Rq(R11));
    } else {
        lea_sum(e, sum, p, q);
        x64!(e; add Rq(sum), Rq(last));
    }
    true
}

/// A run of additions and subtractions of registers into one other
/// register, `x += p; x -= q; ...`, in the order their operands become
/// ready; the number of ops emitted (0: the order as written is that
/// order already).
fn additions(
    e: &mut Emitter,
    ops: &[Op],
    inner: &dyn Fn(usize) -> bool,
    ready: &Ready,
    pc: usize,
) -> usize {
    // (operand, whether subtracted)
    let term = |op: Op, into: u8| match op {
        Op::Add64R { d, s } if d == into && s != into => Some((s, false)),
        Op::Sub64R { d, s } if d == into && s != into => Some((s, true)),
        _ => None,
    };
    let into = match ops.get(pc) {
        Some(&Op::Add64R { d, .. } | &Op::Sub64R { d, .. }) => d,
        _ => return 0,
    };
    let mut terms = Vec::new();
    let mut i = pc;
    while let Some(t) = ops.get(i).and_then(|&op| term(op, into)) {
        if i > pc && !inner(i) {
            break;
        }
        terms.push(t);
        i += 1;
    }
    let mut sorted = terms.clone();
    sorted.sort_by_key(|&(s, _)| ready.at(s));
    if terms.len() < 2 || sorted == terms {
        return 0;
    }
    let d = x(into);
    for (s, minus) in sorted {
        if minus {
            x64!(e; sub Rq(d), Rq(x(s)));
        } else {
            x64!(e; add Rq(d), Rq(x(s)));
        }
    }
    terms.len()
}
