//! Open-coded numeric iterators (`bpf_iter_num_new`, `_next`, `_destroy`),
//! as the kernel's `process_iter_arg` and `process_iter_next_call` check
//! them.
//!
//! An iterator is 8 bytes of the stack (`struct bpf_iter_num`) whose slot
//! becomes `STACK_ITER` when `new` initialises it, holding a reference the
//! program must give back with `destroy` before it exits. Each `next` forks
//! the walk: the path goes on with the iterator drained and `r0` NULL, and
//! a path with the iterator active one level deeper and `r0` a read-only
//! pointer to the current number waits. The loop body's states converge
//! because a `next` is always a checkpoint where an unfinished state whose
//! ranges contain the path's covers it (see [`crate::checkpoint`]), and
//! the scalars that changed since the previous visit and no path needed
//! precisely are forgotten on the active side ([`crate::may_goto::widen`]).

use crate::error::Rejection;
use crate::regs::{RegState, RegType};
use crate::scalar::Scalar;
use crate::stack::{Slot, SlotType};
use crate::state::{Reference, State};

/// The state of an iterator slot (the kernel's `reg->iter` of the slot's
/// `spilled_ptr`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct IterSlot {
    /// The reference `new` acquired, which `destroy` releases.
    pub ref_id: u32,
    /// Whether `next` may still return an element (`ACTIVE`) or returned
    /// NULL (`DRAINED`).
    pub active: bool,
    /// How many `next` calls returned an element on this path: two states
    /// at different depths are different loop iterations, never a loop
    /// that repeats itself.
    pub depth: u32,
}

impl IterSlot {
    /// As the kernel's log prints the slot: `iter_num(ref_id=1,state=active,depth=0)`.
    pub fn text(&self) -> String {
        let state = if self.active { "active" } else { "drained" };
        format!(
            "iter_num(ref_id={},state={state},depth={})",
            self.ref_id, self.depth
        )
    }
}

/// The three numeric iterator kfuncs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum IterKfunc {
    /// `int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end)`.
    New,
    /// `int *bpf_iter_num_next(struct bpf_iter_num *it)`.
    Next,
    /// `void bpf_iter_num_destroy(struct bpf_iter_num *it)`.
    Destroy,
}

impl IterKfunc {
    /// The kfunc of this kernel function name, if it is one of the three.
    pub(crate) fn by_name(name: &str) -> Option<IterKfunc> {
        match name {
            "bpf_iter_num_new" => Some(IterKfunc::New),
            "bpf_iter_num_next" => Some(IterKfunc::Next),
            "bpf_iter_num_destroy" => Some(IterKfunc::Destroy),
            _ => None,
        }
    }
}

/// Where `r1` points: the frame and slot of the iterator and whether
/// the slot is tracked yet (the kernel's `-ERANGE`, which an uninitialised
/// iterator may be). A misplaced iterator is refused with `expected`, the
/// kernel's line for the argument, after its reason (`iter_get_spi`).
fn iter_slot(
    state: &State,
    insn: usize,
    expected: &str,
) -> Result<(usize, usize, bool), Rejection> {
    let reg = state.frame().regs[1];
    if reg.kind != RegType::Stack {
        return Err(
            Rejection::new(insn, "arg#0 expected pointer to an iterator on stack")
                .reg(1, reg)
                .cause(format!(
                    "the iterator argument is {}, not a pointer to the stack",
                    reg.type_name()
                ))
                .help("declare the `struct bpf_iter_num` as a local variable and pass its address"),
        );
    }
    let misplaced = |reason: String| {
        Rejection::new(insn, expected)
            .context(reason)
            .reg(1, reg)
            .cause("an iterator takes a whole, aligned 8-byte stack slot at a constant offset")
    };
    if !reg.value.is_const() {
        return Err(misplaced("iter has to be at a constant offset".to_owned()));
    }
    let off = i64::from(reg.off) + reg.value.var_off.value as i64;
    if off % 8 != 0 || off >= 0 {
        return Err(misplaced(format!("cannot pass in iter at an offset={off}")));
    }
    let spi = ((-off - 1) / 8) as usize;
    let frame = reg.frameno as usize;
    let tracked = state
        .frames
        .get(frame)
        .is_some_and(|f| spi < f.stack.slots.len());
    Ok((frame, spi, tracked))
}

/// The kernel's refusal of an iterator argument that is not initialised.
const EXPECTED_INIT: &str = "expected an initialized iter_num as arg #0";
/// The kernel's refusal of an iterator argument still in use.
const EXPECTED_UNINIT: &str = "expected uninitialized iter_num as arg #0";

/// The initialised iterator `r1` points to, or the kernel's refusal
/// (`is_iter_reg_valid_init`).
fn initialized(state: &State, insn: usize) -> Result<(usize, usize, IterSlot), Rejection> {
    let (frame, spi, tracked) = iter_slot(state, insn, EXPECTED_INIT)?;
    let slot = tracked.then(|| &state.frames[frame].stack.slots[spi]);
    match slot.and_then(|s| s.iter) {
        Some(iter) => Ok((frame, spi, iter)),
        None => Err(Rejection::new(insn, EXPECTED_INIT)
            .reg(1, state.frame().regs[1])
            .cause("the iterator was not set up by bpf_iter_num_new on this path, or was destroyed")
            .help("call bpf_iter_num_new on the iterator first (bpf_for and bpf_repeat do)")),
    }
}

/// Refuses an `int` argument in `r{regno}` that is not a number.
fn scalar_arg(state: &State, insn: usize, regno: usize) -> Result<(), Rejection> {
    let reg = state.frame().regs[regno];
    if reg.is_scalar() {
        return Ok(());
    }
    Err(Rejection::new(insn, format!("R{regno} is not a scalar"))
        .reg(regno as u8, reg)
        .cause(format!("argument {regno} of bpf_iter_num_new is an int")))
}

/// Checks a call of `kfunc` at `insn` and applies it to `state`; for
/// `next`, returns the waiting path where the iterator is active and `r0`
/// points to its number (the path itself goes on drained, `r0` NULL).
pub(crate) fn call(
    state: &mut State,
    insn: usize,
    kfunc: IterKfunc,
) -> Result<Option<Box<State>>, Rejection> {
    let mut r0 = RegState::NOT_INIT;
    let mut active = None;
    match kfunc {
        IterKfunc::New => {
            let (frame, spi, tracked) = iter_slot(state, insn, EXPECTED_UNINIT)?;
            let busy = tracked && state.frames[frame].stack.slots[spi].iter.is_some();
            if busy {
                return Err(Rejection::new(insn, EXPECTED_UNINIT)
                    .reg(1, state.frame().regs[1])
                    .cause("the iterator is still in use: it was set up and not destroyed")
                    .help("call bpf_iter_num_destroy on it before setting it up again"));
            }
            scalar_arg(state, insn, 2)?;
            scalar_arg(state, insn, 3)?;
            let ref_id = state.new_id();
            state.refs.push(Reference { id: ref_id, insn });
            let stack = &mut state.frames[frame].stack;
            stack.track(spi);
            stack.slots[spi] = Slot {
                bytes: [SlotType::Iter; 8],
                spilled: RegState::NOT_INIT,
                iter: Some(IterSlot {
                    ref_id,
                    active: true,
                    depth: 0,
                }),
            };
            r0 = RegState::unknown();
        }
        IterKfunc::Next => {
            let (frame, spi, iter) = initialized(state, insn)?;
            let elem = RegState {
                id: state.new_id(),
                ref_obj_id: iter.ref_id,
                mem_size: 4,
                rdonly: true,
                ..RegState::pointer(RegType::Mem)
            };
            if iter.active {
                let mut waiting = state.clone();
                set_iter(
                    &mut waiting,
                    frame,
                    spi,
                    IterSlot {
                        depth: iter.depth + 1,
                        ..iter
                    },
                );
                clobber(&mut waiting, elem);
                active = Some(Box::new(waiting));
            }
            set_iter(
                state,
                frame,
                spi,
                IterSlot {
                    active: false,
                    ..iter
                },
            );
            r0 = RegState::scalar(Scalar::constant(0));
        }
        IterKfunc::Destroy => {
            let (frame, spi, iter) = initialized(state, insn)?;
            state.frames[frame].stack.slots[spi] = Slot::EMPTY;
            state.release(iter.ref_id);
        }
    }
    clobber(state, r0);
    Ok(active)
}

fn set_iter(state: &mut State, frame: usize, spi: usize, iter: IterSlot) {
    state.frames[frame].stack.slots[spi].iter = Some(iter);
}

/// The registers after a kfunc call: `r1`-`r5` clobbered, `r0` its result.
fn clobber(state: &mut State, r0: RegState) {
    let regs = &mut state.frame_mut().regs;
    for r in &mut regs[1..=5] {
        *r = RegState::NOT_INIT;
    }
    regs[0] = r0;
}

/// Whether the iterator `r1` points to at an iterator `next` is active
/// (the condition for a state of an earlier iteration to cover the path).
pub(crate) fn next_arg_active(state: &State) -> bool {
    let reg = state.frame().regs[1];
    if reg.kind != RegType::Stack || !reg.value.is_const() {
        return false;
    }
    let off = i64::from(reg.off) + reg.value.var_off.value as i64;
    if off >= 0 {
        return false;
    }
    let spi = ((-off - 1) / 8) as usize;
    state
        .frames
        .get(reg.frameno as usize)
        .and_then(|f| f.stack.slots.get(spi))
        .and_then(|s| s.iter)
        .is_some_and(|i| i.active)
}

/// Whether an iterator active in `old` is at another depth in `cur`
/// (`iter_active_depths_differ`): then the two are different iterations
/// of a loop, not a loop repeating itself.
pub(crate) fn active_depths_differ(old: &State, cur: &State) -> bool {
    old.frames.iter().zip(&cur.frames).any(|(o, c)| {
        o.stack.slots.iter().enumerate().any(|(spi, slot)| {
            let Some(old_iter) = slot.iter.filter(|i| i.active) else {
                return false;
            };
            c.stack
                .slots
                .get(spi)
                .and_then(|s| s.iter)
                .is_none_or(|i| i.depth != old_iter.depth)
        })
    })
}
