//! Timers (`bpf_timer_init`, `bpf_timer_set_callback`, `bpf_timer_start`,
//! `bpf_timer_cancel`): the timer is a `struct bpf_timer` that the map
//! value's BTF places at a known offset (`process_timer_func`), it is
//! initialised with its own map, and its callback runs later, on its own:
//! a chain of states starting in a fresh frame with the map, the key and
//! the value, which must return 0 (`push_async_cb`,
//! `set_timer_callback_state`).
//!
//! The verifier checks these helpers as the kernel does; Apiary's runtime
//! does not implement them (they are not in [`crate::helpers`]'s table, so
//! the runtime refuses a program calling them when it loads it, naming the
//! helper).

use crate::error::Rejection;
use crate::explore::Env;
use crate::helpers::{ArgKind, HelperProto, RetKind};
use crate::map_fields::Field;
use crate::regs::{RegState, RegType};
use crate::state::{Frame, State};

/// `bpf_timer_set_callback`.
const TIMER_SET_CALLBACK: i32 = 170;

/// The kernel's prototypes of the timer helpers (all GPL-only, all
/// program types).
static TIMER_PROTOS: [HelperProto; 4] = [
    HelperProto {
        id: 169,
        name: "timer_init",
        args: &[ArgKind::PtrToTimer, ArgKind::ConstMapPtr, ArgKind::Anything],
        ret: RetKind::Integer,
    },
    HelperProto {
        id: TIMER_SET_CALLBACK,
        name: "timer_set_callback",
        args: &[ArgKind::PtrToTimer, ArgKind::PtrToFunc],
        ret: RetKind::Integer,
    },
    HelperProto {
        id: 171,
        name: "timer_start",
        args: &[ArgKind::PtrToTimer, ArgKind::Anything, ArgKind::Anything],
        ret: RetKind::Integer,
    },
    HelperProto {
        id: 172,
        name: "timer_cancel",
        args: &[ArgKind::PtrToTimer],
        ret: RetKind::Integer,
    },
];

/// The prototype of timer helper `id`.
pub(crate) fn proto(id: i32) -> Option<&'static HelperProto> {
    TIMER_PROTOS.iter().find(|p| p.id == id)
}

/// Refuses a timer helper in a program that is not GPL-compatible.
pub(crate) fn check_license(env: &Env, insn: usize, proto: &HelperProto) -> Result<(), Rejection> {
    if env.prog.gpl {
        return Ok(());
    }
    Err(Rejection::new(
        insn,
        "cannot call GPL-restricted function from non-GPL compatible program",
    )
    .cause(format!(
        "bpf_{} is only for GPL-compatible programs",
        proto.name
    )))
}

/// The timer argument `reg` (in `regno`): a map value pointer at the
/// value's `struct bpf_timer`; returns its map.
pub(crate) fn timer_arg(
    env: &Env,
    insn: usize,
    regno: u8,
    reg: &RegState,
) -> Result<u32, Rejection> {
    crate::map_fields::field_arg(env, insn, regno, reg, Field::Timer)?;
    Ok(reg.map)
}

/// The map argument of `bpf_timer_init`, which must be the timer's own.
pub(crate) fn same_map(insn: usize, timer_map: u32, map: u32) -> Result<(), Rejection> {
    if timer_map == map {
        return Ok(());
    }
    // Only inner maps have a `map_uid`; the kernel prints both anyway.
    Err(Rejection::new(
        insn,
        "timer pointer in R1 map_uid=0 doesn't match map pointer in R2 map_uid=0",
    )
    .cause("bpf_timer_init is given another map than the one holding the timer")
    .help("pass the map the timer's value was looked up in"))
}

/// For `bpf_timer_set_callback`, the callback's first state: a chain of
/// its own, in a fresh frame with the timer's map, key and value.
pub(crate) fn async_callback(
    env: &Env,
    id: i32,
    caller: &mut State,
) -> Option<(usize, Box<State>)> {
    if id != TIMER_SET_CALLBACK {
        return None;
    }
    let regs = &caller.frame().regs;
    let (timer, func) = (regs[1], regs[2]);
    let target = func.subprog as usize;
    env.funcs.mark_async(target);
    let mut state = State::entry();
    let mut frame = Frame::new(0, None);
    frame.async_cb = true;
    let map = timer.map;
    frame.regs[1] = RegState {
        map,
        ..RegState::pointer(RegType::MapPtr)
    };
    // Ids count on from the caller's, as the kernel's are one counter.
    let value_id = caller.new_id();
    crate::call::set_element_args(&mut frame, map, value_id);
    state.frames = vec![frame];
    state.next_id = caller.next_id;
    Some((target, Box::new(state)))
}
