//! The seam between the interpreter and a compiling tier.
//!
//! A second tier (`apiary-jit`) compiles a [`Program`]'s [`crate::Op`]s to
//! native code and attaches it with [`Program::attach_compiled`]; a
//! [`crate::Runner`] whose engine is [`crate::Engine::Compiled`] then calls
//! [`CompiledCode::run`] wherever it would have interpreted (the entry,
//! callbacks, tail calls). Everything that decides a result stays here and
//! is shared by both tiers through [`TierRun`]: the stacks and regions and
//! their checks, the helper table and what a helper leaves pending (stop,
//! failure, tail call), `LD_ABS`/`LD_IND`, the budget, and the construction
//! of every [`RunError`]. A tier only decides how fast it gets there.

use std::sync::Arc;

use crate::error::{Access, HelperError, RunError};
use crate::fault::RegionKind;
use crate::helpers::HelperImpl;
use crate::memory::{MAX_REGIONS, Span};
use crate::op::Op;
use crate::program::Program;
use crate::runner::{Aim, Runner, fault, misaligned, unknown_helper};

/// Native code for one program, made by a compiling tier.
pub trait CompiledCode<E>: Send + Sync {
    /// Runs from op `start` in frame [`TierRun::base`] with registers
    /// `regs` (`r10` excepted: it is the frame's stack top) until that
    /// frame exits, with exactly the interpreter's semantics.
    fn run(
        &self,
        run: &mut TierRun<'_, E>,
        start: usize,
        regs: EntryRegs<'_>,
    ) -> Result<u64, RunError>;

    /// Up to `times` runs from op 0 in frame 0 with `r1..r5 = args` and
    /// `r0`, `r6..r9` zero, the first set up by the runner, each of the
    /// others starting as [`crate::Runner::run`] would start it on the
    /// same input: the whole budget (the runner's `remaining` now), a
    /// fresh `may_goto` counter, nothing pending. Stops after the run that
    /// makes `times`, after a run that called a helper other than a pure
    /// one unless [`TierRun::next_run`] set the next one up in full (else
    /// the runner does), or at an error. Returns how many runs finished
    /// (at least 1) and the last one's `r0`.
    fn run_repeated(
        &self,
        run: &mut TierRun<'_, E>,
        args: [u64; 5],
        times: u64,
    ) -> Result<(u64, u64), RunError>;

    /// The machine code (for dumps such as `prog dump jited`).
    fn machine_code(&self) -> &[u8];

    /// For each op of [`Program::ops`], the offset in [`Self::machine_code`]
    /// where its code starts.
    fn op_offsets(&self) -> &[u32];

    /// For a tier that compiled a second, fully checked copy of the program
    /// (run when the first one's assumptions do not hold), where each op's
    /// code starts in that copy; `None` when there is one copy.
    fn checked_op_offsets(&self) -> Option<&[u32]> {
        None
    }
}

/// The registers an activation starts with. A run or a callback starts
/// with arguments only, which a tier can put where it keeps registers
/// without first building (and copying) a whole register file.
#[derive(Clone, Copy, Debug)]
pub enum EntryRegs<'a> {
    /// `r1..r5`; `r0` and `r6..r9` are zero.
    Args([u64; 5]),
    /// `r0..r9` (`r10` is ignored): a tail call continues its caller's frame.
    All(&'a [u64; 11]),
}

impl EntryRegs<'_> {
    /// `r1`.
    pub fn r1(&self) -> u64 {
        match *self {
            EntryRegs::Args([a1, ..]) => a1,
            EntryRegs::All(regs) => regs[1],
        }
    }

    /// The register file `r0..r10` (`r10` zero).
    pub fn file(&self) -> [u64; 11] {
        match *self {
            EntryRegs::Args([a1, a2, a3, a4, a5]) => [0, a1, a2, a3, a4, a5, 0, 0, 0, 0, 0],
            EntryRegs::All(regs) => *regs,
        }
    }
}

/// What a helper call leaves the calling code to do next.
pub enum CallOutcome<E> {
    /// Continue with `r0` = the value.
    Value(u64),
    /// End the whole run with `r0` = the value (a helper stopped it, or an
    /// enclosing callback level did).
    Stop(u64),
    /// End the run with this error.
    Failed(RunError),
    /// Replace the running program by this one (same frame and registers),
    /// through [`TierRun::tail_call`].
    TailCall(Arc<Program<E>>),
}

/// What sets the next of repeated runs up: the input brought up to date,
/// the runner's per-run state reset.
pub(crate) type NextRun<'r, E> = dyn FnMut(&mut Runner<E>, &mut E) -> NextInput + 'r;

/// How the next of repeated runs starts ([`TierRun::next_run`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextInput {
    /// Its `r1..r5`.
    pub args: [u64; 5],
    /// It is given the very regions, packet and headers the run before
    /// it was given: whatever a tier derived from those alone (which
    /// body of code runs, the region `r1` points into) holds still.
    pub same_input: bool,
}

/// One compiled-code activation inside a run: the runner's state, the
/// embedder's environment and the program, with the operations compiled
/// code calls back into. Op indices (`op`) are those of [`Program::ops`].
pub struct TierRun<'r, E> {
    runner: &'r mut Runner<E>,
    env: &'r mut E,
    program: &'r Program<E>,
    base: usize,
    /// In [`crate::Runner::run_repeat`]: sets the next run up in full.
    next_run: Option<&'r mut NextRun<'r, E>>,
}

impl<'r, E> TierRun<'r, E> {
    pub(crate) fn new(
        runner: &'r mut Runner<E>,
        env: &'r mut E,
        program: &'r Program<E>,
        base: usize,
    ) -> Self {
        TierRun {
            runner,
            env,
            program,
            base,
            next_run: None,
        }
    }

    /// The activation of [`CompiledCode::run_repeated`], whose
    /// [`TierRun::next_run`] calls `next_run`.
    pub(crate) fn repeating(
        runner: &'r mut Runner<E>,
        env: &'r mut E,
        program: &'r Program<E>,
        next_run: &'r mut NextRun<'r, E>,
    ) -> Self {
        TierRun {
            next_run: Some(next_run),
            ..TierRun::new(runner, env, program, 0)
        }
    }

    /// In [`CompiledCode::run_repeated`], after a run that called a
    /// helper: sets the next run up as the runner would between two
    /// activations (the input brought up to date with the environment,
    /// the regions helpers added gone, the whole budget, nothing pending),
    /// so that the tier may go on without returning. Returns how that run
    /// starts; `None` (and nothing done) in other activations.
    pub fn next_run(&mut self) -> Option<NextInput> {
        let next_run = self.next_run.as_mut()?;
        Some(next_run(self.runner, self.env))
    }

    /// In [`CompiledCode::run_repeated`], after a run whose helpers all
    /// keep the input ([`Program::helper_keeps_input`]): sets the next run
    /// up as [`TierRun::next_run`] does when the input stays the same,
    /// without asking the embedder (its `r1..r5` are the last run's);
    /// `false` (and nothing done) in other activations.
    pub fn next_run_same_input(&mut self) -> bool {
        if self.next_run.is_none() {
            return false;
        }
        self.runner.restart();
        true
    }

    /// The CPU of the run ([`crate::Runner::set_cpu`]).
    pub fn cpu(&self) -> u32 {
        self.runner.cpu()
    }

    /// The running program.
    pub fn program(&self) -> &Program<E> {
        self.program
    }

    /// The frame this activation starts in and returns from (0, or the
    /// frame of a callback).
    pub fn base(&self) -> usize {
        self.base
    }

    /// Address of frame 0's stack. Frame `d`'s 512 bytes start
    /// `d * FRAME_STRIDE` above it, and its `r10` is their end.
    pub fn stack_base(&self) -> u64 {
        self.runner.memory.stack_base()
    }

    /// `r10` of frame `depth`.
    pub fn frame_pointer(&self, depth: usize) -> u64 {
        self.runner.memory.frame_pointer(depth)
    }

    /// Instructions the run may still execute (`u64::MAX` when unlimited).
    pub fn remaining(&self) -> u64 {
        self.runner.remaining
    }

    /// Records what is left of the budget, before anything that reads it
    /// (helpers, callbacks, tail calls) and when the activation ends.
    pub fn set_remaining(&mut self, remaining: u64) {
        self.runner.remaining = remaining;
    }

    /// Whether `addr..addr + size` lies in the stack of frames `0..=depth`.
    pub fn in_stack(&self, addr: u64, size: u64, depth: usize) -> bool {
        self.runner.memory.in_stack(addr, size, depth)
    }

    /// The region (start, length) allowing `access` to `addr..addr + size`,
    /// stacks not included. Regions are never removed during a run, so a
    /// tier may remember the answer until the run ends.
    pub fn region_for(&self, addr: u64, size: u64, access: Access) -> Option<(u64, u64)> {
        self.runner
            .memory
            .region_for(addr, size, access)
            .map(|s| (s.start, s.len))
    }

    /// The packet span (start, length) of the run as it stands: the one
    /// `LD_ABS` reads and the packet-load helper copies from (see
    /// [`crate::packet_load`]). It moves only when a helper that does not
    /// keep the input runs, or between runs.
    pub fn packet_span(&self) -> Option<(u64, u64)> {
        self.runner.memory.packet.map(|s| (s.start, s.len))
    }

    /// Whether the embedder gave the run a region of `kind` (not counting
    /// those helpers add). A [`RegionKind::PacketBuffer`] also vouches for
    /// the context's packet pointers (see there).
    pub fn has_region_kind(&self, kind: RegionKind) -> bool {
        self.runner.memory.region_kinds.contains(&kind)
    }

    /// The error of an access at op `op` in frame `depth` that no stack or
    /// region allows, naming the region the base register pointed into.
    pub fn fault(&self, op: usize, addr: u64, size: u64, access: Access, depth: usize) -> RunError {
        let off = self.program.ops().get(op).map_or(0, Op::access_offset);
        let aim = Aim {
            addr,
            off: i64::from(off),
            size,
            access,
        };
        fault(self.program, op, &self.runner.memory, aim, depth)
    }

    /// The error of an atomic access at op `op` not aligned to its size.
    pub fn misaligned(&self, op: usize, addr: u64, size: u64) -> RunError {
        misaligned(self.program, op, addr, size)
    }

    /// What the interpreter does from op `start` in frame `depth` with
    /// `regs` and `remaining` budget, for a tier that found the budget
    /// short of a straight run of ops it had counted at once: the ops run
    /// one by one until the budget runs out, so the error (or an earlier
    /// access's fault) and the memory are the interpreter's own.
    pub fn interpret_until_exhausted(
        &mut self,
        start: usize,
        regs: [u64; 11],
        depth: usize,
        remaining: u64,
    ) -> Result<u64, RunError> {
        self.runner.remaining = remaining;
        self.runner
            .interpret(self.program, self.env, start, regs, depth)
    }

    /// The error of running out of budget before op `op`.
    pub fn budget_exhausted(&self, op: usize) -> RunError {
        crate::runner::budget_exhausted(self.runner, self.program, op)
    }

    /// The error of a call at op `op` from the last frame.
    pub fn call_depth_exceeded(&self, op: usize) -> RunError {
        crate::runner::call_depth_exceeded(self.program, op)
    }

    /// The error of running past the last instruction.
    pub fn fell_off(&self) -> RunError {
        RunError::FellOffEnd {
            pc: self.program.slot_count(),
        }
    }

    /// Calls the program's `index`th directly called helper (the operand
    /// of [`crate::Op::CallHelper`]) from frame `depth` at op `op`.
    #[inline]
    pub fn call_helper(
        &mut self,
        index: u32,
        args: [u64; 5],
        depth: usize,
        op: usize,
    ) -> CallOutcome<E> {
        let Some(c) = self.program.called.get(index as usize) else {
            return CallOutcome::Failed(unknown_helper(self.program, op, u64::MAX));
        };
        let helper = (c.id, c.name, c.func);
        self.runner
            .helper_outcome(self.program, self.env, helper, args, depth, op)
    }

    /// What the helper call at op `op`, given map number `map`, leaves
    /// besides its result when a tier called the map's search itself
    /// ([`crate::DirectLookup`]) and it found the value at `addr`: the
    /// value registered as the helper registers it, or the helper's error
    /// when the run has no room left.
    pub fn register_lookup_value(
        &mut self,
        map: u32,
        op: usize,
        addr: u64,
    ) -> Result<(), RunError> {
        let program = self.program;
        let (site, direct) =
            DirectSite::of(program, op, |index| program.direct_lookup(index, map))?;
        let Some(direct) = direct else {
            return Err(site.failed(HelperError::Other(format!(
                "map {map} has no direct lookup"
            ))));
        };
        let span = Span {
            start: addr,
            len: u64::from(direct.value_size),
            writable: direct.writable,
        };
        self.register(&site, span, direct.kind)
    }

    /// What the helper call at op `op`, given map number `map`, leaves
    /// besides its result when a tier called the ring buffer's reservation
    /// itself ([`crate::DirectReserve`]) and it reserved `size` bytes at
    /// `sample`: the embedder told (unless `record` is false: the tier
    /// releases the sample itself, [`crate::DirectCommits`]), and the
    /// sample registered, as the helper does, or the helper's error when
    /// the run has no room left.
    pub fn register_reservation(
        &mut self,
        map: u32,
        op: usize,
        sample: u64,
        size: u64,
        record: bool,
    ) -> Result<(), RunError> {
        let program = self.program;
        let (site, direct) =
            DirectSite::of(program, op, |index| program.ringbuf_reserve(index, map))?;
        let (Some(direct), Some(record_in)) = (direct, program.record_reservation()) else {
            return Err(site.failed(HelperError::Other(format!(
                "map {map} has no direct reservation"
            ))));
        };
        if record {
            record_in(self.env, sample, direct.tag);
        }
        let span = Span {
            start: sample,
            len: size,
            writable: true,
        };
        self.register(&site, span, RegionKind::Memory)
    }

    /// Registers what a helper call done directly handed the program, as
    /// the helper would, or fails as it would when the run has no room.
    fn register(
        &mut self,
        site: &DirectSite,
        span: Span,
        kind: RegionKind,
    ) -> Result<(), RunError> {
        if self.runner.memory.add(span, kind) {
            Ok(())
        } else {
            Err(site.failed(HelperError::TooManyRegions(MAX_REGIONS)))
        }
    }

    /// `callx` of helper `id` from frame `depth` at op `op`.
    pub fn callx(&mut self, id: u64, args: [u64; 5], depth: usize, op: usize) -> CallOutcome<E> {
        match self.program.helper_by_id(id) {
            Some((id, name, HelperImpl::Full(f))) => {
                self.runner
                    .helper_outcome(self.program, self.env, (id, name, f), args, depth, op)
            }
            Some((_, _, HelperImpl::Pure(f))) => {
                let [a1, a2, a3, a4, a5] = args;
                CallOutcome::Value(f(a1, a2, a3, a4, a5))
            }
            None => CallOutcome::Failed(unknown_helper(self.program, op, id)),
        }
    }

    /// `LD_ABS`/`LD_IND` of `size` bytes at `index + imm`; `None` when
    /// outside the packet, and then the whole run stops with `r0 = 0`.
    pub fn packet_load(&mut self, index: u32, imm: i32, size: u8) -> Option<u64> {
        self.runner.packet_load(index, imm, size)
    }

    /// Runs the tail-called `next` from its first op in this activation's
    /// frame with registers `regs` (on its native code if it has some).
    pub fn tail_call(&mut self, next: &Program<E>, regs: &[u64; 11]) -> Result<u64, RunError> {
        self.runner
            .exec_regs(next, self.env, 0, EntryRegs::All(regs), self.base)
    }
}

/// The helper call a tier did directly: what its errors name.
struct DirectSite {
    pc: usize,
    id: u32,
    name: &'static str,
}

impl DirectSite {
    /// The helper called at op `op` and what `direct` says of it, or the
    /// error of an op that calls no helper.
    fn of<E, T>(
        program: &Program<E>,
        op: usize,
        direct: impl FnOnce(u32) -> Option<T>,
    ) -> Result<(DirectSite, Option<T>), RunError> {
        let Some(&Op::CallHelper { index }) = program.ops().get(op) else {
            return Err(unknown_helper(program, op, u64::MAX));
        };
        let Some(called) = program.called.get(index as usize) else {
            return Err(unknown_helper(program, op, u64::MAX));
        };
        let site = DirectSite {
            pc: program.slot_of(op),
            id: called.id,
            name: called.name,
        };
        Ok((site, direct(index)))
    }

    fn failed(&self, source: HelperError) -> RunError {
        RunError::Helper {
            pc: self.pc,
            id: self.id,
            name: self.name,
            source,
        }
    }
}
