//! The state compiled code reads and writes through `r12`, and what it
//! hands back to Rust when it stops early.

use std::mem::offset_of;
use std::sync::Arc;

use apiary_vm::{Access, MAX_CALL_FRAMES, Program, RunError, TierRun};

use crate::code::JitCode;

/// Per-activation state, addressed by compiled code at fixed offsets.
///
/// An activation is one run, or several runs of the same program on the
/// same input (`left`): the entry starts each with the registers in
/// `init`, the budget `run_budget` and a fresh `may_goto` counter.
/// `regs` holds the eBPF registers at exit, and wherever compiled code
/// calls into Rust (so that helpers see their arguments and a tail call
/// sees every register). The two caches remember the last region an
/// access was allowed in (any region for loads, a writable one for
/// stores): regions are never removed during a run, and the runs of one
/// activation are given the same ones and end after a run that called a
/// helper (which may have added some), so a remembered one stays valid
/// until the activation ends.
#[repr(C)]
pub(crate) struct Ctx {
    pub(crate) init: [u64; 11],
    pub(crate) regs: [u64; 11],
    /// The budget each run starts with.
    pub(crate) run_budget: u64,
    /// What is left of it: at exit, and wherever Rust is called.
    pub(crate) budget: u64,
    /// Runs still to finish, the one under way included.
    pub(crate) left: u64,
    /// Non-zero once a run called a helper other than a pure one (the
    /// [`helper_ran`] bits): the next run is then set up in Rust.
    pub(crate) helper_ran: u64,
    /// Where each run starts: the code of its first op.
    pub(crate) body: u64,
    pub(crate) stack_base: u64,
    /// `(depth + 1) * FRAME_STRIDE`: stack offsets below it belong to live frames.
    pub(crate) stack_limit: u64,
    pub(crate) depth: u64,
    pub(crate) base: u64,
    pub(crate) load_start: u64,
    pub(crate) load_len: u64,
    pub(crate) store_start: u64,
    pub(crate) store_len: u64,
    /// The load cache's region when the activation started: the one `r1`
    /// pointed into, given to the run (registered ones come later).
    pub(crate) context_start: u64,
    pub(crate) context_len: u64,
    /// `rsp` after the entry pushed the callee-saved registers, for leaving from any depth.
    pub(crate) entry_rsp: u64,
    pub(crate) may_goto: [u64; MAX_CALL_FRAMES],
    /// The run's CPU ([`apiary_vm::TierRun::cpu`]), for inline per-CPU
    /// array lookups (`emit_lookup`).
    pub(crate) cpu: u64,
    /// The run's packet span ([`apiary_vm::TierRun::packet_span`]), for
    /// inline packet loads (`emit_packet_load`): its start, and its length
    /// plus one, 0 when the run has none (so that no load fits).
    pub(crate) packet_start: u64,
    pub(crate) packet_limit: u64,
    /// The [`Host`] of this activation.
    pub(crate) host: *mut (),
}

/// What [`Ctx::helper_ran`] records.
pub(crate) mod helper_ran {
    /// A helper that keeps the run's input ran
    /// ([`apiary_vm::Program::helper_keeps_input`]).
    pub(crate) const INPUT_KEPT: u64 = 1;
    /// A helper that may change the input ran.
    pub(crate) const INPUT_MAY_CHANGE: u64 = 2;
}

/// Offsets of [`Ctx`] fields, as displacements from `r12`.
pub(crate) mod off {
    use super::*;

    pub(crate) const INIT: i32 = offset_of!(Ctx, init) as i32;
    pub(crate) const REGS: i32 = offset_of!(Ctx, regs) as i32;
    pub(crate) const RUN_BUDGET: i32 = offset_of!(Ctx, run_budget) as i32;
    pub(crate) const BUDGET: i32 = offset_of!(Ctx, budget) as i32;
    pub(crate) const LEFT: i32 = offset_of!(Ctx, left) as i32;
    pub(crate) const HELPER_RAN: i32 = offset_of!(Ctx, helper_ran) as i32;
    pub(crate) const BODY: i32 = offset_of!(Ctx, body) as i32;
    pub(crate) const STACK_BASE: i32 = offset_of!(Ctx, stack_base) as i32;
    pub(crate) const STACK_LIMIT: i32 = offset_of!(Ctx, stack_limit) as i32;
    pub(crate) const DEPTH: i32 = offset_of!(Ctx, depth) as i32;
    pub(crate) const BASE: i32 = offset_of!(Ctx, base) as i32;
    pub(crate) const LOAD_START: i32 = offset_of!(Ctx, load_start) as i32;
    pub(crate) const LOAD_LEN: i32 = offset_of!(Ctx, load_len) as i32;
    pub(crate) const STORE_START: i32 = offset_of!(Ctx, store_start) as i32;
    pub(crate) const STORE_LEN: i32 = offset_of!(Ctx, store_len) as i32;
    pub(crate) const ENTRY_RSP: i32 = offset_of!(Ctx, entry_rsp) as i32;
    pub(crate) const MAY_GOTO: i32 = offset_of!(Ctx, may_goto) as i32;
    pub(crate) const CPU: i32 = offset_of!(Ctx, cpu) as i32;
    pub(crate) const PACKET_START: i32 = offset_of!(Ctx, packet_start) as i32;
    pub(crate) const PACKET_LIMIT: i32 = offset_of!(Ctx, packet_limit) as i32;

    /// Displacement of `regs[i]`.
    pub(crate) const fn reg(i: usize) -> i32 {
        REGS + 8 * i as i32
    }

    /// Displacement of `init[i]`.
    pub(crate) const fn init(i: usize) -> i32 {
        INIT + 8 * i as i32
    }
}

/// Why compiled code stopped before its frame exited.
pub(crate) enum Exit<E> {
    /// The run ends with `r0` = this value.
    Stop(u64),
    /// The run ends with this error.
    Failed(RunError),
    /// The program is replaced by this one.
    TailCall(Arc<Program<E>>),
}

impl Ctx {
    /// Remembers for loads the region `r1` points into when the run
    /// starts (the context, which most programs read first, and would
    /// otherwise look up in Rust), and no region for stores.
    pub(crate) fn remember_context<E>(&mut self, run: &TierRun<'_, E>) {
        (self.context_start, self.context_len) = run
            .region_for(self.init[1], 1, Access::Load)
            .unwrap_or((0, 0));
        self.remember_context_again();
    }

    /// Remembers the run's packet span as it stands, for inline packet
    /// loads: when an activation starts, and after whatever may move it.
    pub(crate) fn remember_packet<E>(&mut self, run: &TierRun<'_, E>) {
        (self.packet_start, self.packet_limit) = match run.packet_span() {
            Some((start, len)) => (start, len.saturating_add(1)),
            None => (0, 0),
        };
    }

    /// [`Ctx::remember_context`] for a run given the same regions and
    /// `r1` as the one that looked the context's region up.
    pub(crate) fn remember_context_again(&mut self) {
        (self.load_start, self.load_len) = (self.context_start, self.context_len);
        (self.store_start, self.store_len) = (0, 0);
    }
}

/// What the Rust side of an activation needs: the run, the code, and the
/// reason for an early stop.
pub(crate) struct Host<'a, 'r, E> {
    pub(crate) run: &'a mut TierRun<'r, E>,
    pub(crate) code: &'a JitCode<E>,
    pub(crate) exit: Option<Exit<E>>,
}
