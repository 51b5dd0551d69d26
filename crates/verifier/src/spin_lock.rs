//! `bpf_spin_lock` and `bpf_spin_unlock` (`process_spin_lock`): the lock
//! is a `struct bpf_spin_lock` that the map value's BTF places at a known
//! offset; a path holds at most one, calls no other function while it
//! holds it, unlocks the one it locked, and does not leave the program
//! holding it (`check_resource_leak`).

use crate::error::Rejection;
use crate::explore::Env;
use crate::map_fields::Field;
use crate::regs::{RegState, RegType};
use crate::state::{Lock, State};

/// `bpf_spin_lock`.
const SPIN_LOCK: i32 = 93;
/// `bpf_spin_unlock`.
const SPIN_UNLOCK: i32 = 94;

/// Refuses a call (helper `id`, or -1 for a kfunc) while a lock is held:
/// only the unlock may be called.
pub(crate) fn check_call(state: &State, insn: usize, id: i32) -> Result<(), Rejection> {
    if state.lock.is_none() || id == SPIN_UNLOCK {
        return Ok(());
    }
    Err(
        Rejection::new(insn, "function calls are not allowed while holding a lock")
            .cause(format!(
                "a function is called between bpf_spin_lock (insn {}) and bpf_spin_unlock",
                state.lock.map_or(0, |l| l.insn)
            ))
            .help("keep the locked region to plain loads and stores; call helpers after bpf_spin_unlock"),
    )
}

/// Refuses leaving the program (by `what`) while a lock is held.
pub(crate) fn check_exit(state: &State, insn: usize, what: &str) -> Result<(), Rejection> {
    let Some(lock) = state.lock else {
        return Ok(());
    };
    Err(Rejection::new(
        insn,
        format!("{what} cannot be used inside bpf_spin_lock-ed region"),
    )
    .cause(format!(
        "the lock taken at insn {} is still held when the program leaves",
        lock.insn
    ))
    .help("call bpf_spin_unlock on every path before returning"))
}

/// The lock argument `reg` (in `regno`) of helper `id`: locks or unlocks it.
pub(crate) fn lock_arg(
    env: &Env,
    state: &mut State,
    insn: usize,
    id: i32,
    regno: u8,
    reg: &RegState,
) -> Result<(), Rejection> {
    if reg.kind != RegType::MapValue || !(id == SPIN_LOCK || id == SPIN_UNLOCK) {
        return Ok(());
    }
    crate::map_fields::field_arg(env, insn, regno, reg, Field::SpinLock)?;
    if id == SPIN_LOCK {
        if state.lock.is_some() {
            return Err(
                Rejection::new(insn, "Locking two bpf_spin_locks are not allowed")
                    .cause("a second lock is taken while one is held"),
            );
        }
        state.lock = Some(Lock {
            id: reg.id,
            map: reg.map,
            insn,
        });
        return Ok(());
    }
    match state.lock {
        None => Err(
            Rejection::new(insn, "bpf_spin_unlock without taking a lock")
                .cause("no path reaching this unlock holds a lock")
                .help("call bpf_spin_lock on the same map value first"),
        ),
        Some(lock) if lock.id != reg.id || lock.map != reg.map => {
            Err(
                Rejection::new(insn, "bpf_spin_unlock of different lock").cause(format!(
                    "the lock taken at insn {} is in another map value",
                    lock.insn
                )),
            )
        }
        Some(_) => {
            state.lock = None;
            Ok(())
        }
    }
}
