//! Mutations at the edge of what the verifier can prove: each inserts a
//! map lookup and an access through the value pointer that is safe or
//! unsafe by a hair, chosen at random, so that the kernel accepts many of
//! them and refuses many. They probe the parts of a verifier where an
//! unsound accept hides: a map value indexed by a scalar after a chain of
//! arithmetic and a bounds check of any comparison form (the scalar
//! transfer functions and branch refinement), NULL checks of other forms
//! than `if r0 == 0` (null-check propagation by id), and pointers spilled
//! to the stack and filled back, whole or in part (spill tracking).
//!
//! Each block is `key = k; r0 = lookup(map, &key); if r0 == 0 goto out;
//! body; out:` followed by new values for the registers the call
//! clobbered; branch targets count from the block's start.

use apiary_isa::{AluOp, AtomicOp, Insn, JmpCond, Reg, Size, Source, Width};

use crate::backend::VALUE_SIZE;
use crate::generate::{COUNTER, CTX, CTX_INPUT_LEN, PRESERVED};
use crate::program::Node;
use crate::rng::Rng;
use crate::unsafe_mutation::{lookup_call, refill_clobbered};

/// `lookup; [if r0 == 0 goto out;] body; out: refill`, `body` built with
/// its own targets relative to its first node (`None` for `out`).
fn around_lookup(rng: &mut Rng, null_check: bool, body: Vec<(Insn, Option<usize>)>) -> Vec<Node> {
    let mut block: Vec<Node> = lookup_call(rng).into_iter().map(Node::plain).collect();
    let body_start = block.len() + usize::from(null_check);
    let out = body_start + body.len();
    if null_check {
        block.push(jump_to(
            Width::W64,
            JmpCond::Eq,
            Reg::R0,
            Source::Imm(0),
            out,
        ));
    }
    block.extend(body.into_iter().map(|(insn, target)| Node {
        insn,
        target: Some(target.map_or(out, |t| body_start + t)).filter(|_| branches(&insn)),
    }));
    block.extend(refill_clobbered(rng).into_iter().map(Node::plain));
    block
}

/// Whether `insn` is a branch whose target [`Node::target`] sets.
fn branches(insn: &Insn) -> bool {
    matches!(insn, Insn::Jump { .. } | Insn::Ja { .. })
}

fn jump_to(width: Width, cond: JmpCond, dst: Reg, src: Source, target: usize) -> Node {
    Node {
        insn: Insn::Jump {
            width,
            cond,
            dst,
            src,
            off: 0,
        },
        target: Some(target),
    }
}

/// A conditional jump to `out` (a body item for [`around_lookup`]).
fn exit_if(width: Width, cond: JmpCond, dst: Reg, src: Source) -> (Insn, Option<usize>) {
    let insn = Insn::Jump {
        width,
        cond,
        dst,
        src,
        off: 0,
    };
    (insn, None)
}

fn plain(insn: Insn) -> (Insn, Option<usize>) {
    (insn, None)
}

/// A load through `base` at `off` into a data register the call preserved.
fn load_through(base: Reg, size: Size, off: i16, rng: &mut Rng) -> Insn {
    Insn::Load {
        size,
        sign_extend: false,
        dst: rng.pick(&PRESERVED),
        src: base,
        off,
    }
}

/// `r1 = index; arithmetic; [bounds check]; r0 += r1; access r0`: the
/// index from a context field (unknown), a data register or a constant,
/// then up to four ALU operations with small operands, then now and then a
/// comparison that bounds it near the value's end (off by one either
/// way), and an access of 1 to 8 bytes.
pub(crate) fn index_arithmetic(rng: &mut Rng) -> Vec<Node> {
    let size = rng.pick(&Size::ALL);
    let mut body = vec![plain(index_source(rng))];
    for _ in 0..rng.below(5) {
        body.push(plain(index_step(rng)));
    }
    if rng.below(3) != 0 {
        body.extend(bounds_check(rng, size));
    }
    body.push(plain(Insn::Alu {
        width: Width::W64,
        op: if rng.below(8) == 0 {
            AluOp::Sub
        } else {
            AluOp::Add
        },
        dst: Reg::R0,
        src: Source::Reg(COUNTER),
    }));
    let off = rng.pick(&[0, 0, 0, 1, -1, 8]);
    body.push(plain(match rng.below(3) {
        0 => load_through(Reg::R0, size, off, rng),
        1 => Insn::Store {
            size,
            dst: Reg::R0,
            off,
            src: Source::Reg(rng.pick(&PRESERVED)),
        },
        _ => Insn::Atomic {
            size: if size == Size::DW { Size::DW } else { Size::W },
            op: AtomicOp::Add { fetch: false },
            dst: Reg::R0,
            src: rng.pick(&PRESERVED),
            off,
        },
    }));
    around_lookup(rng, true, body)
}

/// The index's first value, in r1.
fn index_source(rng: &mut Rng) -> Insn {
    match rng.below(4) {
        0 | 1 => {
            let size = rng.pick(&Size::ALL);
            let slots = CTX_INPUT_LEN / size.bytes();
            Insn::Load {
                size,
                sign_extend: size != Size::DW && rng.below(4) == 0,
                dst: COUNTER,
                src: CTX,
                off: (rng.below(slots) * size.bytes()) as i16,
            }
        }
        2 => Insn::mov64(COUNTER, Source::Reg(rng.pick(&PRESERVED))),
        _ => Insn::mov64(COUNTER, Source::Imm(rng.below(20) as i32 - 2)),
    }
}

/// One ALU operation on the index, with the operands that keep it small.
fn index_step(rng: &mut Rng) -> Insn {
    let width = if rng.below(4) == 0 {
        Width::W32
    } else {
        Width::W64
    };
    let (op, operands): (AluOp, &[i32]) = match rng.below(12) {
        0 | 1 => (AluOp::And, &[1, 3, 7, 8, 15, 0x7f, -8, 0xf0]),
        2 => (AluOp::Rsh, &[1, 2, 4, 8, 31, 32, 56, 60]),
        3 => (AluOp::Lsh, &[1, 2, 3]),
        4 => (AluOp::Add, &[-8, -1, 1, 2, 7, 8]),
        5 => (AluOp::Sub, &[-1, 1, 4, 8]),
        6 => (AluOp::Mul, &[0, 1, 2, 3]),
        7 => (AluOp::Or, &[1, 8]),
        8 => (AluOp::Mod, &[3, 8, 9, 16]),
        9 => (AluOp::Div, &[1, 2, 16]),
        10 => (AluOp::Arsh, &[1, 4, 63]),
        _ => {
            return if rng.coin() {
                Insn::Neg {
                    width,
                    dst: COUNTER,
                }
            } else {
                Insn::MovSx {
                    width: Width::W64,
                    dst: COUNTER,
                    src: COUNTER,
                    from: rng.pick(&[Size::B, Size::H, Size::W]),
                }
            };
        }
    };
    // Shifts by the width or more are refused for their own reason.
    let amount = rng.pick(operands);
    let amount = if width == Width::W32 && matches!(op, AluOp::Rsh | AluOp::Lsh | AluOp::Arsh) {
        amount.min(31)
    } else {
        amount
    };
    Insn::Alu {
        width,
        op,
        dst: COUNTER,
        src: Source::Imm(amount),
    }
}

/// Jumps to `out` when the index may not leave room for `size` bytes in
/// the value: an upper bound by an unsigned or signed comparison (64 or 32
/// bits, with an immediate or a register), exact or off by one, and now
/// and then a lower bound for the signed ones.
fn bounds_check(rng: &mut Rng, size: Size) -> Vec<(Insn, Option<usize>)> {
    let last = VALUE_SIZE as i32 - size.bytes() as i32 + rng.pick(&[-1, 0, 0, 1]);
    let width = if rng.below(4) == 0 {
        Width::W32
    } else {
        Width::W64
    };
    let (cond, limit) = rng.pick(&[
        (JmpCond::Gt, last),
        (JmpCond::Ge, last + 1),
        (JmpCond::Sgt, last),
        (JmpCond::Sge, last + 1),
    ]);
    let mut checks = Vec::new();
    let src = if rng.coin() {
        Source::Imm(limit)
    } else {
        checks.push(plain(Insn::mov64(Reg::R2, Source::Imm(limit))));
        Source::Reg(Reg::R2)
    };
    checks.push(exit_if(width, cond, COUNTER, src));
    if matches!(cond, JmpCond::Sgt | JmpCond::Sge) && rng.coin() {
        checks.push(exit_if(width, JmpCond::Slt, COUNTER, Source::Imm(0)));
    }
    checks
}

/// The value pointer checked for NULL in another form than `if r0 == 0`
/// (on a copy, inverted, 32-bit, against 1, with `>`), then read through
/// it or its copy.
pub(crate) fn null_check_form(rng: &mut Rng) -> Vec<Node> {
    let off = rng.pick(&[0, 8]);
    let copy = Insn::mov64(COUNTER, Source::Reg(Reg::R0));
    let through = rng.pick(&[Reg::R0, COUNTER]);
    let body = match rng.below(6) {
        // r1 = r0; if r1 == 0 goto out; *(r0 or r1)
        0 => vec![
            plain(copy),
            exit_if(Width::W64, JmpCond::Eq, COUNTER, Source::Imm(0)),
            plain(load_through(through, Size::DW, off, rng)),
        ],
        // if r0 != 0 goto access; goto out; access
        1 => vec![
            (
                Insn::Jump {
                    width: Width::W64,
                    cond: JmpCond::Ne,
                    dst: Reg::R0,
                    src: Source::Imm(0),
                    off: 0,
                },
                Some(2),
            ),
            (Insn::Ja { off: 0 }, None),
            plain(load_through(Reg::R0, Size::DW, off, rng)),
        ],
        // if w0 == 0 goto out: a 32-bit check
        2 => vec![
            exit_if(Width::W32, JmpCond::Eq, Reg::R0, Source::Imm(0)),
            plain(load_through(Reg::R0, Size::DW, off, rng)),
        ],
        // if r0 == 1 goto out, or if r0 <= 0 goto out: no check the kernel knows
        3 => vec![
            exit_if(
                Width::W64,
                rng.pick(&[JmpCond::Eq, JmpCond::Le]),
                Reg::R0,
                Source::Imm(rng.pick(&[0, 1])),
            ),
            plain(load_through(Reg::R0, Size::DW, off, rng)),
        ],
        // r1 = r0; if r1 == 0 goto out; r0 = other; *(r1): the copy alone keeps it
        4 => vec![
            plain(copy),
            exit_if(Width::W64, JmpCond::Eq, COUNTER, Source::Imm(0)),
            plain(Insn::mov64(Reg::R0, Source::Imm(0))),
            plain(load_through(through, Size::DW, off, rng)),
        ],
        // r1 = r0; r1 += 8 before the check: arithmetic on a maybe-NULL pointer
        _ => vec![
            plain(copy),
            plain(Insn::alu64(AluOp::Add, COUNTER, Source::Imm(8))),
            exit_if(Width::W64, JmpCond::Eq, Reg::R0, Source::Imm(0)),
            plain(load_through(COUNTER, Size::DW, 0, rng)),
        ],
    };
    around_lookup(rng, false, body)
}

/// The value pointer (or the context pointer) spilled below the stack the
/// generated body uses and filled back into r1, then read through: whole,
/// filled as 4 bytes, the slot partly overwritten in between, spilled
/// misaligned, or moved by arithmetic after the fill.
pub(crate) fn spill_fill(rng: &mut Rng) -> Vec<Node> {
    let slot = rng.pick(&[-104, -112, -128, -256, -512]);
    let pointer = rng.pick(&[Reg::R0, Reg::R0, CTX]);
    let spill = |off: i16| {
        plain(Insn::Store {
            size: Size::DW,
            dst: Reg::R10,
            off,
            src: Source::Reg(pointer),
        })
    };
    let fill = |size: Size| {
        plain(Insn::Load {
            size,
            sign_extend: false,
            dst: COUNTER,
            src: Reg::R10,
            off: slot,
        })
    };
    let mut body = match rng.below(5) {
        0 | 1 => vec![spill(slot), fill(Size::DW)],
        2 => vec![spill(slot), fill(rng.pick(&[Size::W, Size::B]))],
        3 => vec![
            spill(slot),
            plain(Insn::Store {
                size: Size::B,
                dst: Reg::R10,
                off: slot + rng.below(8) as i16,
                src: Source::Imm(0),
            }),
            fill(Size::DW),
        ],
        _ => vec![spill(slot + 4), fill(Size::DW)],
    };
    let mut off = rng.pick(&[0, 8]);
    if rng.below(4) == 0 {
        body.push(plain(Insn::alu64(AluOp::Add, COUNTER, Source::Imm(8))));
        off -= 8;
    }
    body.push(plain(load_through(COUNTER, Size::DW, off, rng)));
    around_lookup(rng, true, body)
}
