//! The kernel functions (kfuncs) Apiary runs: the numeric open-coded
//! iterator of `kernel/bpf/bpf_iter.c` (`bpf_iter_num_new`, `_next`,
//! `_destroy`).
//!
//! A kfunc call names its function by BTF id, which only the kernel's BTF
//! (or the loader's record of the extern, [`apiary_loader::KfuncCall`])
//! turns into a name. At load, each call is rewritten into a call of the
//! helper slot reserved for that kfunc ([`slot`]), past the kernel's helper
//! ids: the interpreter and the compiling tier then dispatch it as a
//! helper, with the same checked access to the program's memory.

use apiary_vm::{HelperContext, HelperError, Helpers};

use crate::helpers::errno::{E2BIG, EINVAL};
use crate::helpers::{Ctx, Ret, neg};

/// The kernel's `BPF_MAX_LOOPS`: the most numbers one iterator may give.
const MAX_LOOPS: i64 = 8 * 1024 * 1024;

/// The kfuncs provided, with the helper slot each is dispatched through
/// (above the kernel's helper ids and `POISONED_CALL`, within the VM's
/// table limit).
const KFUNCS: &[(&str, u32, apiary_vm::HelperFn<crate::Env>)] = &[
    ("bpf_iter_num_new", 0x1000, iter_num_new),
    ("bpf_iter_num_next", 0x1001, iter_num_next),
    ("bpf_iter_num_destroy", 0x1002, iter_num_destroy),
];

/// The helper slot a call of kfunc `name` is dispatched through, if
/// Apiary provides it.
pub(crate) fn slot(name: &str) -> Option<u32> {
    KFUNCS
        .iter()
        .find(|(n, ..)| *n == name)
        .map(|&(_, slot, _)| slot)
}

/// Adds the kfuncs to the helper table, at their slots. They touch only
/// the iterator on the program's stack, never the run's input.
pub(crate) fn register(helpers: &mut Helpers<crate::Env>) {
    for &(name, slot, func) in KFUNCS {
        // Every slot is below the VM's limit.
        let _ = helpers.register_keeping_input(slot, name, func);
    }
}

/// The iterator's state (`struct bpf_iter_num_kern`): the number last
/// given and the end of the range, exclusive.
struct IterNum {
    cur: i32,
    end: i32,
}

fn read_iter(ctx: &HelperContext<'_, crate::Env>, it: u64) -> Result<IterNum, HelperError> {
    let bytes = ctx.read(it, 8)?;
    let word =
        |at: usize| i32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    Ok(IterNum {
        cur: word(0),
        end: word(4),
    })
}

fn write_iter(ctx: Ctx<'_, '_>, it: u64, state: IterNum) -> Result<(), HelperError> {
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&state.cur.to_ne_bytes());
    bytes[4..].copy_from_slice(&state.end.to_ne_bytes());
    ctx.write(it, &bytes)
}

/// An `int` result as the kernel's x86-64 code leaves it in `r0`: the
/// 32-bit value, zero-extended.
fn int_result(value: i64) -> u64 {
    u64::from(value as u32)
}

/// `int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end)`:
/// the range `[start, end)`; an empty one is fine, a reversed one is
/// `-EINVAL` and one of more than `BPF_MAX_LOOPS` numbers `-E2BIG`, both
/// leaving an iterator that gives nothing.
fn iter_num_new(ctx: Ctx<'_, '_>, args: [u64; 5]) -> Ret {
    let [it, start, end, ..] = args;
    let (start, end) = (start as i32, end as i32);
    let (state, result) = if start > end {
        (IterNum { cur: 0, end: 0 }, neg(EINVAL))
    } else if i64::from(end) - i64::from(start) > MAX_LOOPS {
        (IterNum { cur: 0, end: 0 }, neg(E2BIG))
    } else {
        // `next` increments first.
        (
            IterNum {
                cur: start.wrapping_sub(1),
                end,
            },
            0,
        )
    };
    write_iter(ctx, it, state)?;
    Ok(int_result(result as i64))
}

/// `int *bpf_iter_num_next(struct bpf_iter_num *it)`: a pointer to the
/// next number (the iterator's own `cur`), or NULL once the range is done,
/// which also resets the iterator.
fn iter_num_next(ctx: Ctx<'_, '_>, args: [u64; 5]) -> Ret {
    let it = args[0];
    let state = read_iter(ctx, it)?;
    // The kernel compares `cur + 1` (wrapping, as it builds with
    // -fno-strict-overflow) with `end`.
    let next = state.cur.wrapping_add(1);
    if next >= state.end {
        write_iter(ctx, it, IterNum { cur: 0, end: 0 })?;
        return Ok(0);
    }
    write_iter(
        ctx,
        it,
        IterNum {
            cur: next,
            end: state.end,
        },
    )?;
    Ok(it)
}

/// `void bpf_iter_num_destroy(struct bpf_iter_num *it)`: resets it.
fn iter_num_destroy(ctx: Ctx<'_, '_>, args: [u64; 5]) -> Ret {
    write_iter(ctx, args[0], IterNum { cur: 0, end: 0 })?;
    Ok(0)
}
