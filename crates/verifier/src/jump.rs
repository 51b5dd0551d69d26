//! Conditional jumps on registers (`check_cond_jmp_op`): decide the
//! outcome when the operands allow it, otherwise split the path and teach
//! each side what the comparison proved: scalar bounds (on every copy of a
//! compared scalar), NULL checks, and packet ranges.

use apiary_isa::{JmpCond, Source, Width};

use crate::branch::{Relation, is_branch_taken, refine};
use crate::pkt;
use crate::program::MapInfo;
use crate::regs::{RegState, RegType};
use crate::scalar::Scalar;
use crate::state::State;

/// Where a conditional jump goes.
pub(crate) enum Outcome {
    /// Always to the target.
    Taken,
    /// Always to the next instruction.
    NotTaken,
    /// Either: `state` became the fall-through side; this is the taken side.
    Both(Box<State>),
}

fn operand(state: &State, src: Source) -> RegState {
    match src {
        Source::Reg(r) => state.frame().regs[r.index() as usize],
        Source::Imm(imm) => RegState::scalar(Scalar::constant(imm as i64 as u64)),
    }
}

/// Whether the jump's outcome is known (`is_branch_taken`).
fn decided(d: &RegState, s: &RegState, cond: JmpCond, width: Width) -> Option<bool> {
    let wide = width == Width::W64;
    if d.kind.is_packet() && s.kind.is_packet() && wide {
        return pkt::branch_taken(d, s, cond);
    }
    if d.kind.is_pointer() || s.kind.is_pointer() {
        let (ptr, other) = if s.is_scalar() { (d, s) } else { (s, d) };
        if !other.is_scalar()
            || !other.value.is_const_at(wide)
            || other.value.const_value_at(wide) != 0
        {
            return None;
        }
        if !ptr.known_not_null() {
            return None;
        }
        return match cond {
            JmpCond::Eq => Some(false),
            JmpCond::Ne => Some(true),
            _ => None,
        };
    }
    is_branch_taken(&d.value, &s.value, cond, width)
}

/// Evaluates `if dst cond src goto` (instruction `insn`) on `state`;
/// `maps` are the program's.
pub(crate) fn cond_jump(
    insn: usize,
    state: &mut State,
    width: Width,
    cond: JmpCond,
    dst: u8,
    src: Source,
    maps: &[MapInfo],
) -> Outcome {
    let d = state.frame().regs[dst as usize];
    let s = operand(state, src);
    match decided(&d, &s, cond, width) {
        Some(true) => return Outcome::Taken,
        Some(false) => return Outcome::NotTaken,
        None => {}
    }
    let mut taken = Box::new(state.clone());
    let wide = width == Width::W64;
    if d.is_scalar() && s.is_scalar() {
        let src_reg = match src {
            Source::Reg(r) => Some(r.index()),
            Source::Imm(_) => None,
        };
        let fall_ok = learn(
            state,
            dst,
            src_reg,
            &d,
            &s,
            Relation::of(cond, false),
            width,
        );
        let taken_ok = learn(
            &mut taken,
            dst,
            src_reg,
            &d,
            &s,
            Relation::of(cond, true),
            width,
        );
        return match (fall_ok, taken_ok) {
            (true, true) => Outcome::Both(taken),
            (true, false) => Outcome::NotTaken,
            (false, _) => {
                *state = *taken;
                Outcome::Taken
            }
        };
    }
    if wide
        && matches!(src, Source::Imm(0))
        && d.maybe_null
        && matches!(cond, JmpCond::Eq | JmpCond::Ne)
    {
        // A value holding a spin lock keeps its id: the lock is known by it.
        let keep_id = d.kind == RegType::MapValue
            && maps
                .get(d.map as usize)
                .is_some_and(|m| m.spin_lock_off.is_some());
        null_check(state, &d, cond == JmpCond::Ne, keep_id);
        null_check(&mut taken, &d, cond == JmpCond::Eq, keep_id);
    } else if let (true, Source::Reg(r)) = (wide, src) {
        pkt::try_match(
            insn,
            cond,
            dst as usize,
            r.index() as usize,
            state,
            &mut taken,
        );
    }
    Outcome::Both(taken)
}

/// Refines both scalar operands on one side and every copy of them; false
/// when that side cannot happen.
fn learn(
    state: &mut State,
    dst: u8,
    src: Option<u8>,
    d: &RegState,
    s: &RegState,
    relation: Relation,
    width: Width,
) -> bool {
    let Ok((dv, sv)) = refine(&d.value, &s.value, relation, width) else {
        return false;
    };
    set_scalar(state, dst, d.id, dv);
    if let Some(src) = src {
        set_scalar(state, src, s.id, sv);
    }
    true
}

/// Gives register `regno`, and every scalar sharing its id, the value `v`
/// (`sync_linked_regs`).
fn set_scalar(state: &mut State, regno: u8, id: u32, v: Scalar) {
    state.frame_mut().regs[regno as usize].value = v;
    if id == 0 {
        return;
    }
    for reg in state.all_regs_mut() {
        if reg.is_scalar() && reg.id == id {
            reg.value = v;
        }
    }
}

/// On the side where `ptr` is NULL (`is_null`), every pointer from the same
/// lookup becomes the number 0 (and a reference it holds is dropped, since
/// nothing was acquired); on the other side they are all non-NULL
/// (`mark_ptr_or_null_regs`).
fn null_check(state: &mut State, ptr: &RegState, is_null: bool, keep_id: bool) {
    let id = ptr.id;
    if id == 0 {
        return;
    }
    if is_null && ptr.ref_obj_id == id {
        state.refs.retain(|r| r.id != id);
    }
    for reg in state.all_regs_mut() {
        if !(reg.maybe_null && reg.id == id) {
            continue;
        }
        if is_null {
            *reg = RegState::scalar(Scalar::constant(0));
        } else {
            reg.maybe_null = false;
            if !keep_id {
                reg.id = 0;
            }
        }
    }
}
