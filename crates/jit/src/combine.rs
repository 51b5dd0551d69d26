//! Byte accesses combined into wide ones.
//!
//! eBPF has no unaligned loads, so clang splits every multi-byte access it
//! cannot prove aligned (a `__builtin_memcpy` of a `u16`/`u32`/`u64` from
//! a packet) into byte loads put back together with shifts and ors, and a
//! copy into byte-by-byte loads and stores. x86 has no alignment rule: one
//! wide access reads or writes the same bytes in one instruction.
//!
//! Only for proven accesses (no check to run between the bytes, no fault
//! that could stop the run half way) in the body that does not count the
//! budget, over ops nothing jumps into. Context accesses are left alone:
//! their offsets are the runtime's layout, checked per activation op by op.

use apiary_verifier::AccessProof;
use apiary_vm::Op;

use crate::compile::{Emitter, x};
use crate::emit_alu::lea_sum;
use crate::emit_mem::{Addr, Value, read, write};
use crate::x64;

/// The most ops one combination looks at.
const WINDOW: usize = 32;

/// The scratch register (x86 r10) in eBPF numbering, as [`x`] maps it.
const SCRATCH: u8 = crate::blind::BLINDED;

/// The ops of a body, with what the verifier proved of their accesses
/// and where jumps land.
struct Ops<'a> {
    ops: &'a [Op],
    proofs: &'a [Option<AccessProof>],
    is_target: &'a [bool],
}

impl Ops<'_> {
    fn get(&self, i: usize) -> Option<Op> {
        self.ops.get(i).copied()
    }

    /// Whether op `i`'s access is proven, outside the context.
    fn proven(&self, i: usize) -> bool {
        matches!(
            self.proofs.get(i).copied().flatten(),
            Some(AccessProof::Stack | AccessProof::Packet | AccessProof::MapValue)
        )
    }

    /// Whether no jump lands on op `i`, so that it may be folded into the
    /// ops before it.
    fn inner(&self, i: usize) -> bool {
        self.is_target.get(i) == Some(&false)
    }
}

/// Tries the combinations at op `pc`; the number of ops emitted (0: none).
pub(crate) fn combine(
    e: &mut Emitter,
    ops: &[Op],
    proofs: &[Option<AccessProof>],
    is_target: &[bool],
    pc: usize,
) -> usize {
    let ops = Ops {
        ops,
        proofs,
        is_target,
    };
    match ops.get(pc) {
        Some(Op::LdB { .. }) => {
            let copied = byte_copy(e, &ops, pc);
            if copied > 0 {
                copied
            } else {
                byte_loads(e, &ops, pc)
            }
        }
        Some(Op::Mov64R { .. }) => byte_loads(e, &ops, pc),
        _ => 0,
    }
}

/// `t = *(u8 *)(b + o); *(u8 *)(b + o + delta) = t`, `n` times (8, 4 or
/// 2) for the `n` bytes from some `o` in any order: `n` bytes copied at
/// once through the scratch register, then `t` loaded with the last byte
/// it held. Both ends use the same base register, `delta` apart by at
/// least `n`, so no byte is stored before it is loaded.
fn byte_copy(e: &mut Emitter, ops: &Ops, pc: usize) -> usize {
    let Some(Op::LdB { d: t, s: b, off }) = ops.get(pc) else {
        return 0;
    };
    let Some(Op::StB {
        d: b2,
        s: t2,
        off: to,
    }) = ops.get(pc + 1)
    else {
        return 0;
    };
    if t == b || b2 != b || t2 != t {
        return 0;
    }
    let delta = i32::from(to) - i32::from(off);
    for n in [8usize, 4, 2] {
        let pair = |k: usize| match (ops.get(pc + 2 * k), ops.get(pc + 2 * k + 1)) {
            (
                Some(Op::LdB { d, s, off }),
                Some(Op::StB {
                    d: d2,
                    s: s2,
                    off: to,
                }),
            ) if d == t && s == b && d2 == b && s2 == t => {
                (i32::from(to) - i32::from(off) == delta).then_some(i32::from(off))
            }
            _ => None,
        };
        let offsets: Option<Vec<i32>> = (0..n).map(pair).collect();
        let Some(offsets) = offsets else { continue };
        let (Some(&low), Some(&last)) = (offsets.iter().min(), offsets.last()) else {
            continue;
        };
        let mut seen = 0u8;
        for &o in &offsets {
            seen |= 1u8.checked_shl((o - low) as u32).unwrap_or(0);
        }
        let all = 2 * n;
        if delta.unsigned_abs() < n as u32
            || u32::from(seen).count_ones() != n as u32
            || !(pc..pc + all).all(|i| ops.proven(i))
            || !(pc + 1..pc + all).all(|i| ops.inner(i))
        {
            continue;
        }
        let base = x(b);
        read(e, SCRATCH, n as u8, false, Addr::Direct(base, low));
        write(
            e,
            n as u8,
            Value::Reg(SCRATCH),
            Addr::Direct(base, low + delta),
        );
        read(e, t, 1, false, Addr::Direct(base, last));
        return all;
    }
    0
}

/// What a register holds during [`byte_loads`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Val {
    /// Its value from before the ops.
    Before,
    /// `a + b`, the indexed base (only the register the ops start with
    /// computing it).
    Sum,
    /// The OR of bytes of memory, lane `k` (bits `8k..8k + 8`) holding the
    /// byte at the base plus the offset given, or zero.
    Bytes([Option<i16>; 8]),
}

/// How a [`Val::Bytes`] comes out as one load: `n` bytes from `off`,
/// shifted left by `lanes` bytes.
struct Wide {
    off: i16,
    n: u8,
    lanes: u8,
}

impl Val {
    fn wide(self) -> Option<Wide> {
        let Val::Bytes(lanes) = self else {
            return None;
        };
        let first = lanes.iter().position(Option::is_some)?;
        let n = lanes[first..].iter().take_while(|l| l.is_some()).count();
        let off = lanes[first]?;
        let contiguous = (0..n).all(|k| lanes[first + k] == off.checked_add(k as i16));
        let rest_zero = lanes[first + n..].iter().all(Option::is_none);
        (contiguous && rest_zero && matches!(n, 1 | 2 | 4 | 8)).then_some(Wide {
            off,
            n: n as u8,
            lanes: first as u8,
        })
    }
}

/// A run of proven byte loads from one base, with the shifts (by whole
/// bytes) and ors that assemble them into little-endian values: each
/// register the run writes loaded with its final value at once (plus a
/// shift if it ends up shifted). The base is a register, or `a + b` when
/// the run starts with `d = a; d += b` and loads through `d`.
/// Combined as far as every register written can be loaded so; the
/// number of ops emitted (0: none, or nothing saved).
fn byte_loads(e: &mut Emitter, ops: &Ops, pc: usize) -> usize {
    let mut regs = [Val::Before; 11];
    // The base register, and the sum's operands when indexed.
    let (base, index, mut i) = match (ops.get(pc), ops.get(pc + 1)) {
        (Some(Op::Mov64R { d, s: a }), Some(Op::Add64R { d: d2, s: b }))
            if d2 == d && a != d && b != d && d < 11 && a < 11 && b < 11 && ops.inner(pc + 1) =>
        {
            regs[usize::from(d)] = Val::Sum;
            (d, Some((a, b)), pc + 2)
        }
        (Some(Op::LdB { s, .. }), _) if s < 11 => (s, None, pc),
        _ => return 0,
    };
    // The best end so far, where every register written is loadable at
    // once, and the registers' values there.
    let mut best: Option<(usize, [Val; 11])> = None;
    let mut base_written = false;
    while i < pc + WINDOW && (i == pc || ops.inner(i)) {
        let Some(op) = ops.get(i) else { break };
        let ok = match op {
            Op::LdB { d, s, off } if s == base && !base_written && ops.proven(i) && d < 11 => {
                let mut lanes = [None; 8];
                lanes[0] = Some(off);
                set(&mut regs, d, Val::Bytes(lanes))
            }
            Op::Lsh64I { d, v } => shifted(&mut regs, d, v, 8),
            Op::Lsh32I { d, v } => shifted(&mut regs, d, u64::from(v), 4),
            Op::Or64R { d, s } => ored(&mut regs, d, s, 8),
            Op::Or32R { d, s } => ored(&mut regs, d, s, 4),
            _ => false,
        };
        let written = match op {
            Op::LdB { d, .. }
            | Op::Lsh64I { d, .. }
            | Op::Lsh32I { d, .. }
            | Op::Or64R { d, .. }
            | Op::Or32R { d, .. } => Some(d),
            _ => None,
        };
        // The sum's operands must hold until the loads are emitted.
        let clobbers = written.is_some_and(|d| index.is_some_and(|(a, b)| d == a || d == b));
        if !ok || clobbers {
            break;
        }
        base_written |= written == Some(base);
        i += 1;
        if regs
            .iter()
            .all(|v| matches!(v, Val::Before | Val::Sum) || v.wide().is_some())
        {
            best = Some((i, regs));
        }
    }
    let Some((end, regs)) = best else { return 0 };
    let emitted: usize = regs
        .iter()
        .map(|v| match v {
            Val::Before => 0,
            Val::Sum => 1,
            Val::Bytes(_) => 1 + usize::from(v.wide().is_some_and(|w| w.lanes > 0)),
        })
        .sum();
    // Single bytes alone are left to the other fusions (`emit_mem::indexed_load`).
    let wide = regs.iter().any(|v| v.wide().is_some_and(|w| w.n > 1));
    if emitted >= end - pc || !wide {
        return 0;
    }
    let addr = |off: i16| match index {
        Some((a, b)) => Addr::Indexed(x(a), x(b), i32::from(off)),
        None => Addr::Direct(x(base), i32::from(off)),
    };
    // The base register last: the loads before it read through it.
    let order = (0..11u8).filter(|&r| r != base).chain([base]);
    for r in order {
        let v = regs[usize::from(r)];
        if v == Val::Sum {
            let (a, b) = index.unwrap_or((base, base));
            lea_sum(e, x(r), x(a), x(b));
        } else if let Some(w) = v.wide() {
            read(e, r, w.n, false, addr(w.off));
            if w.lanes > 0 {
                x64!(e; shl Rq(x(r)), (8 * w.lanes) as i8);
            }
        }
    }
    end - pc
}

fn set(regs: &mut [Val; 11], d: u8, v: Val) -> bool {
    match regs.get_mut(usize::from(d)) {
        Some(slot) => {
            *slot = v;
            true
        }
        None => false,
    }
}

/// `d <<= v` at a width of `width` bytes, on assembled bytes, by whole
/// bytes, losing none.
fn shifted(regs: &mut [Val; 11], d: u8, v: u64, width: usize) -> bool {
    let Some(&Val::Bytes(lanes)) = regs.get(usize::from(d)) else {
        return false;
    };
    let by = (v % (8 * width as u64)) as usize;
    if !by.is_multiple_of(8) {
        return false;
    }
    let by = by / 8;
    if lanes[width - by..].iter().any(Option::is_some) {
        return false;
    }
    let mut moved = [None; 8];
    moved[by..width].copy_from_slice(&lanes[..width - by]);
    set(regs, d, Val::Bytes(moved))
}

/// `d |= s` at a width of `width` bytes, on assembled bytes in lanes
/// that do not overlap, none beyond the width.
fn ored(regs: &mut [Val; 11], d: u8, s: u8, width: usize) -> bool {
    let (Some(&Val::Bytes(a)), Some(&Val::Bytes(b))) =
        (regs.get(usize::from(d)), regs.get(usize::from(s)))
    else {
        return false;
    };
    let mut both = [None; 8];
    for k in 0..8 {
        both[k] = match (a[k], b[k]) {
            (Some(_), Some(_)) => return false,
            (Some(o), None) | (None, Some(o)) if k < width => Some(o),
            (None, None) => None,
            _ => return false,
        };
    }
    set(regs, d, Val::Bytes(both))
}
