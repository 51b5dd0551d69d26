//! `|` or `&` with a constant on a sign mask, a value that is 0 or -1
//! (`maybe_fork_scalars`): compilers turn `x < 0 ? K : 0` into
//! `(x s>> 63) & K`, and `x < 0 ? -1 : K` into `(x s>> 63) | K`, whose
//! ranges the bounds cannot keep apart (`-1 | 8` and `0 | 8` span every
//! number between). The kernel checks the instruction twice instead, once
//! for each value: the walk goes on with -1, and the instruction is queued
//! again with 0.

use apiary_isa::{AluOp, Insn, Source};

use crate::regs::RegState;
use crate::scalar::Scalar;
use crate::state::State;

/// When `insn` is such an operation in `state`, makes the destination -1
/// in `state` and returns the state in which it is 0, to check `insn`
/// again from. The 64-bit value decides first, then the low half (whose
/// upper half is kept), for 64- and 32-bit operations alike, as the
/// kernel does.
pub(crate) fn split(state: &mut State, insn: &Insn) -> Option<State> {
    let Insn::Alu {
        op: AluOp::And | AluOp::Or,
        dst,
        src,
        ..
    } = *insn
    else {
        return None;
    };
    let regs = &state.frame().regs;
    let d = usize::from(dst.index());
    let constant = match src {
        Source::Imm(_) => true,
        Source::Reg(s) => {
            let s = &regs[usize::from(s.index())];
            s.is_scalar() && s.value.is_const()
        }
    };
    let value = regs[d].value;
    if !constant || !regs[d].is_scalar() {
        return None;
    }
    let wide = if (value.smin, value.smax) == (-1, 0) {
        true
    } else if (value.s32_min, value.s32_max) == (-1, 0) {
        false
    } else {
        return None;
    };
    let mut zero = state.clone();
    set(&mut zero.frame_mut().regs[d], wide, 0);
    set(&mut state.frame_mut().regs[d], wide, u64::MAX);
    Some(zero)
}

/// The register is `x` (`__mark_reg_known`, which also forgets its links),
/// or its low half is (`__mark_reg32_known`).
fn set(reg: &mut RegState, wide: bool, x: u64) {
    if wide {
        *reg = RegState::scalar(Scalar::constant(x));
    } else {
        reg.value.set_const32(x as u32);
    }
}
