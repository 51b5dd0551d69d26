//! The Rust side of compiled code: the functions its out-of-line paths
//! call. Each one defers to [`apiary_vm::TierRun`] for the decision and
//! for the error it builds, so that both tiers report identically.
//!
//! Functions returning `u64` return 1 to continue and 0 to stop the
//! activation (the reason is left in [`Host::exit`]).

use apiary_vm::{Access, CallOutcome, PureHelperFn};

use crate::ctx::{Ctx, Exit, Host, helper_ran};

/// The operands of a slow memory check, packed into one register.
pub(crate) fn mem_info(op: usize, size: u8, access: Access) -> u64 {
    ((op as u64) << 8) | (u64::from(size) << 1) | u64::from(access == Access::Store)
}

fn unpack_mem(info: u64) -> (usize, u64, Access) {
    let access = if info & 1 == 1 {
        Access::Store
    } else {
        Access::Load
    };
    ((info >> 8) as usize, (info >> 1) & 0x7f, access)
}

/// The operands of `LD_ABS`/`LD_IND`, packed into one register.
pub(crate) fn packet_info(imm: i32, size: u8) -> u64 {
    (u64::from(imm as u32) << 8) | u64::from(size)
}

/// The activation's state and host.
///
/// # Safety
/// `ctx` must be the context compiled code was entered with, whose `host`
/// points to a live [`Host`] for `E` that nothing else borrows meanwhile.
unsafe fn parts<'x, E>(ctx: *mut Ctx) -> (&'x mut Ctx, &'x mut Host<'x, 'x, E>) {
    // SAFETY: per the caller, both pointers are valid and unaliased for the call.
    unsafe {
        let ctx = &mut *ctx;
        let host = &mut *ctx.host.cast::<Host<'x, 'x, E>>();
        (ctx, host)
    }
}

fn stop<E>(host: &mut Host<'_, '_, E>, exit: Exit<E>) -> u64 {
    host.exit = Some(exit);
    0
}

/// An access the inline checks could not allow: the stack or any region
/// may; remembers the region for the next access.
pub(crate) unsafe extern "sysv64" fn translate<E>(ctx: *mut Ctx, addr: u64, info: u64) -> u64 {
    // SAFETY: called from compiled code with its own context.
    let (ctx, host) = unsafe { parts::<E>(ctx) };
    let (op, size, access) = unpack_mem(info);
    if host.run.in_stack(addr, size, ctx.depth as usize) {
        return 1;
    }
    match host.run.region_for(addr, size, access) {
        Some((start, len)) => {
            (ctx.load_start, ctx.load_len) = (start, len);
            if access == Access::Store {
                (ctx.store_start, ctx.store_len) = (start, len);
            }
            1
        }
        None => {
            let error = host.run.fault(op, addr, size, access, ctx.depth as usize);
            stop(host, Exit::Failed(error))
        }
    }
}

/// An atomic access that is not aligned to its size.
pub(crate) unsafe extern "sysv64" fn misaligned<E>(ctx: *mut Ctx, addr: u64, info: u64) -> u64 {
    // SAFETY: called from compiled code with its own context.
    let (_, host) = unsafe { parts::<E>(ctx) };
    let (op, size, _) = unpack_mem(info);
    let error = host.run.misaligned(op, addr, size);
    stop(host, Exit::Failed(error))
}

/// The budget, `remaining`, is short of the group starting at op `op`
/// (registers saved in the context): the interpreter runs the group's ops
/// until it runs out, so stores and faults before that point happen as
/// they would there.
pub(crate) unsafe extern "sysv64" fn budget<E>(ctx: *mut Ctx, op: u64, remaining: u64) -> u64 {
    // SAFETY: called from compiled code with its own context.
    let (ctx, host) = unsafe { parts::<E>(ctx) };
    let outcome =
        host.run
            .interpret_until_exhausted(op as usize, ctx.regs, ctx.depth as usize, remaining);
    match outcome {
        Ok(value) => stop(host, Exit::Stop(value)),
        Err(error) => stop(host, Exit::Failed(error)),
    }
}

/// A bpf-to-bpf call at op `op` from the last frame.
pub(crate) unsafe extern "sysv64" fn call_depth<E>(ctx: *mut Ctx, op: u64, _: u64) -> u64 {
    // SAFETY: called from compiled code with its own context.
    let (_, host) = unsafe { parts::<E>(ctx) };
    let error = host.run.call_depth_exceeded(op as usize);
    stop(host, Exit::Failed(error))
}

/// Execution ran past the last instruction.
pub(crate) unsafe extern "sysv64" fn fell_off<E>(ctx: *mut Ctx, _: u64, _: u64) -> u64 {
    // SAFETY: called from compiled code with its own context.
    let (_, host) = unsafe { parts::<E>(ctx) };
    let error = host.run.fell_off();
    stop(host, Exit::Failed(error))
}

/// `LD_ABS`/`LD_IND`: `r0` = the packet bytes, or the run stops with 0.
pub(crate) unsafe extern "sysv64" fn packet<E>(ctx: *mut Ctx, index: u64, info: u64) -> u64 {
    // SAFETY: called from compiled code with its own context.
    let (ctx, host) = unsafe { parts::<E>(ctx) };
    match host
        .run
        .packet_load(index as u32, (info >> 8) as u32 as i32, info as u8)
    {
        Some(value) => {
            ctx.regs[0] = value;
            1
        }
        None => stop(host, Exit::Stop(0)),
    }
}

/// What a helper left to do; `ran` says whether it may have changed what
/// the next run is given (a [`helper_ran`] bit).
fn after_call<E>(
    ctx: &mut Ctx,
    host: &mut Host<'_, '_, E>,
    outcome: CallOutcome<E>,
    ran: u64,
) -> u64 {
    ctx.helper_ran |= ran;
    ctx.budget = host.run.remaining();
    if ran == helper_ran::INPUT_MAY_CHANGE {
        // The helper may have moved the packet.
        ctx.remember_packet(host.run);
    }
    match outcome {
        CallOutcome::Value(value) => {
            ctx.regs[0] = value;
            1
        }
        CallOutcome::Stop(value) => stop(host, Exit::Stop(value)),
        CallOutcome::Failed(error) => stop(host, Exit::Failed(error)),
        CallOutcome::TailCall(next) => stop(host, Exit::TailCall(next)),
    }
}

fn args(ctx: &Ctx) -> [u64; 5] {
    // One 8-byte load per register: compiled code has just stored each
    // with its own 8-byte store, and the 16-byte loads the compiler merges
    // them into would wait for both stores to retire (a store-forwarding
    // stall that cost more than the rest of a helper call's way here).
    // SAFETY: each pointer is to a field of a live `Ctx`.
    let reg = |i: usize| unsafe { std::ptr::read_volatile(&raw const ctx.regs[i]) };
    [reg(1), reg(2), reg(3), reg(4), reg(5)]
}

/// A call of the program's `index`th helper at op `op`.
pub(crate) unsafe extern "sysv64" fn helper<E>(ctx: *mut Ctx, index: u64, op: u64) -> u64 {
    // SAFETY: called from compiled code with its own context.
    let (ctx, host) = unsafe { parts::<E>(ctx) };
    host.run.set_remaining(ctx.budget);
    let index = index as u32;
    let outcome = host
        .run
        .call_helper(index, args(ctx), ctx.depth as usize, op as usize);
    let ran = if host.run.program().helper_keeps_input(index) {
        helper_ran::INPUT_KEPT
    } else {
        helper_ran::INPUT_MAY_CHANGE
    };
    after_call(ctx, host, outcome, ran)
}

/// A map's search that compiled code called itself at the helper call at
/// op `info as u32`, on map number `info >> 32`, found the value at
/// `value` (see `emit_lookup`): registers it as the helper would have
/// (which may fail as the helper would); `r0` stays the value.
pub(crate) unsafe extern "sysv64" fn lookup_found<E>(ctx: *mut Ctx, value: u64, info: u64) -> u64 {
    // SAFETY: called from compiled code with its own context.
    let (ctx, host) = unsafe { parts::<E>(ctx) };
    host.run.set_remaining(ctx.budget);
    // A region was added, which the next run must not see: as after a
    // helper that keeps the input.
    ctx.helper_ran |= helper_ran::INPUT_KEPT;
    let (op, map) = (info as u32 as usize, (info >> 32) as u32);
    match host.run.register_lookup_value(map, op, value) {
        Ok(()) => 1,
        Err(error) => stop(host, Exit::Failed(error)),
    }
}

/// A ring buffer's reservation that compiled code called itself at the
/// helper call at op `info as u32`, on map number `info >> 32`, reserved
/// `r2` bytes at `sample` (see `emit_reserve`): recorded (when `RECORD`:
/// compiled code releases it through the helpers) and registered as the
/// helper would have (which may fail as the helper would); `r0` stays the
/// sample.
pub(crate) unsafe extern "sysv64" fn reserved<E, const RECORD: bool>(
    ctx: *mut Ctx,
    sample: u64,
    info: u64,
) -> u64 {
    // SAFETY: called from compiled code with its own context.
    let (ctx, host) = unsafe { parts::<E>(ctx) };
    host.run.set_remaining(ctx.budget);
    // A region was added, which the next run must not see: as after a
    // helper that keeps the input.
    ctx.helper_ran |= helper_ran::INPUT_KEPT;
    let (op, map) = (info as u32 as usize, (info >> 32) as u32);
    let size = ctx.regs[2];
    match host.run.register_reservation(map, op, sample, size, RECORD) {
        Ok(()) => {
            // A program fills the sample it reserved first: its stores
            // then find the region without asking Rust (as `translate`
            // would have remembered it).
            (ctx.store_start, ctx.store_len) = (sample, size);
            1
        }
        Err(error) => stop(host, Exit::Failed(error)),
    }
}

/// `callx` of helper `id` at op `op`.
pub(crate) unsafe extern "sysv64" fn callx<E>(ctx: *mut Ctx, id: u64, op: u64) -> u64 {
    // SAFETY: called from compiled code with its own context.
    let (ctx, host) = unsafe { parts::<E>(ctx) };
    host.run.set_remaining(ctx.budget);
    let outcome = host
        .run
        .callx(id, args(ctx), ctx.depth as usize, op as usize);
    after_call(ctx, host, outcome, helper_ran::INPUT_MAY_CHANGE)
}

/// Between two runs of one activation, after a run that called a helper:
/// the vm sets the next run up, in full unless every helper called keeps
/// the input, with the arguments it may have changed; 1 when it starts in
/// this activation as the first did (same code, same budget), 0 to leave it.
pub(crate) unsafe extern "sysv64" fn between<E>(ctx: *mut Ctx) -> u64 {
    // SAFETY: called from compiled code with its own context.
    let (ctx, host) = unsafe { parts::<E>(ctx) };
    if ctx.helper_ran == helper_ran::INPUT_KEPT {
        // Given what the run before was given: it starts at that run's
        // code, and the context lies where it did.
        ctx.helper_ran = 0;
        ctx.remember_context_again();
        return u64::from(host.run.next_run_same_input());
    }
    let Some(next) = host.run.next_run() else {
        return 0;
    };
    ctx.helper_ran = 0;
    // Where the packet lies now, wherever the run before moved it.
    ctx.remember_packet(host.run);
    let [a1, a2, a3, a4, a5] = next.args;
    // The regions helpers added are gone: so are those remembered.
    if next.same_input && ctx.init[1..6] == next.args {
        // Given what the first run was given, with the same budget: it
        // starts at the same code, and the context lies where it did.
        ctx.remember_context_again();
        return 1;
    }
    (ctx.init[1], ctx.init[2], ctx.init[3]) = (a1, a2, a3);
    (ctx.init[4], ctx.init[5]) = (a4, a5);
    ctx.remember_context(host.run);
    u64::from(host.code.continues(host.run, ctx))
}

/// A pure helper, called with `r1..r5` where they already are (the SysV
/// argument registers) and the function as the sixth argument.
// Only compiled code calls this, passing the pointer through unchanged.
#[allow(improper_ctypes_definitions)]
pub(crate) extern "sysv64" fn pure(
    a1: u64,
    a2: u64,
    a3: u64,
    a4: u64,
    a5: u64,
    f: PureHelperFn,
) -> u64 {
    f(a1, a2, a3, a4, a5)
}
