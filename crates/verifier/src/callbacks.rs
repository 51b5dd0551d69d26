//! Callbacks a helper calls while it runs (`bpf_loop`,
//! `bpf_for_each_map_elem`), verified as the kernel does: by iterating
//! until the states converge (`push_callback_call`).
//!
//! The helper call queues a path into the callback, in a new frame above
//! the caller's, whose registers are the helper's arguments
//! (`set_loop_callback_state`, `set_map_elem_callback_state`), and the
//! caller goes on as if the callback never ran. The callback's exit goes
//! back to the helper call itself (`prepare_func_exit`), with the caller's
//! stack as the callback left it: the call is checked again and queues
//! another iteration, the caller going on from there. The call is a
//! checkpoint the walk always saves; an iteration stops there when a state
//! of an earlier iteration still being walked contains its state, every
//! scalar compared by range (see [`crate::checkpoint`]). Scalars that
//! changed since the previous visit and that nothing needed precisely are
//! forgotten on the way back (`widen_imprecise_scalars`), so that a
//! counter the callback only counts converges in a round or two, while a
//! counter used as an index keeps its value and iterates as many times as
//! the loop may run.
//!
//! `bpf_loop` calls its callback at most as many times as its count may
//! be: the count becomes precise and the call stops queueing iterations
//! once this many came back to it (`callback_depth`).

use apiary_isa::{CallTarget, Insn};

use crate::call::set_element_args;
use crate::error::Rejection;
use crate::regs::RegState;
use crate::state::{Frame, State};

/// `bpf_for_each_map_elem`.
pub(crate) const FOR_EACH_MAP_ELEM: i32 = 164;
/// `bpf_loop`.
pub(crate) const LOOP: i32 = 181;

/// What such a callback may return (`callback_ret_range`): 0 to go on,
/// 1 to stop.
pub(crate) const RETURN_RANGE: (i64, i64) = (0, 1);

/// Whether `insn` calls a helper that calls a callback of the program
/// before it returns (`is_sync_callback_calling_insn`).
pub(crate) fn calls_callback(insn: &Insn) -> bool {
    matches!(insn, Insn::Call(CallTarget::Helper(id)) if *id == LOOP || *id == FOR_EACH_MAP_ELEM)
}

/// A callback to walk: where it starts, and the state it starts in.
pub(crate) struct Callback {
    pub target: usize,
    pub state: Box<State>,
}

/// What the call at `insn` to helper `id`, its arguments checked, queues:
/// the callback's next iteration, if it has one. The caller's frame of
/// `state` starts counting again, while the callback's copy counts one
/// more iteration. `bpf_loop`'s count `r1` becomes precise (the caller
/// marks it through `need_precise`).
pub(crate) fn iteration(
    state: &mut State,
    insn: usize,
    id: i32,
) -> Result<Option<Callback>, Rejection> {
    if id != LOOP && id != FOR_EACH_MAP_ELEM {
        return Ok(None);
    }
    let caller = state.frame().regs;
    if id == LOOP && state.frame().callback_depth >= caller[1].value.umax {
        // As many iterations came back as the loop may run.
        state.frame_mut().callback_depth = 0;
        return Ok(None);
    }
    state.room_for_a_frame(insn)?;
    let value_id = if id == FOR_EACH_MAP_ELEM {
        state.new_id()
    } else {
        0
    };
    let mut next = state.clone();
    next.frame_mut().callback_depth += 1;
    next.callback_unroll_depth += 1;
    state.frame_mut().callback_depth = 0;
    let mut frame = Frame::new(state.frames.len() as u8, Some(insn));
    frame.callback = true;
    if id == LOOP {
        frame.regs[1] = RegState::unknown();
        frame.regs[2] = caller[3];
    } else {
        frame.regs[1] = caller[1];
        set_element_args(&mut frame, caller[1].map, value_id);
        frame.regs[4] = caller[3];
    }
    next.frames.push(frame);
    Ok(Some(Callback {
        target: caller[2].subprog as usize,
        state: Box::new(next),
    }))
}
