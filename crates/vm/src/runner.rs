//! The interpreter loop.

use std::sync::Arc;

use crate::error::{Access, RunError};
use crate::helpers::{HelperContext, HelperFn, HelperImpl};
use crate::memory::{
    HeaderSpans, MAX_CALL_FRAMES, Memory, Region, atomic_rmw, load_acquire, read_host,
    store_release, write_host,
};
use crate::op::{Op, Rmw};
use crate::program::Program;
use crate::semantics::{alu32, alu64, cond32, cond64, endian, neg, sign_extend};
use crate::tier::{CallOutcome, EntryRegs, TierRun};
use apiary_isa::{AluOp, EndianOp, JmpCond, Width};

/// The kernel's `BPF_MAX_LOOPS`: `may_goto` falls through this many times per frame.
pub const MAY_GOTO_LOOPS: u32 = 8 * 1024 * 1024;

/// The instruction budget a [`Runner`] starts with: 2^30 (about 1.07
/// billion) executed instructions per run.
///
/// The kernel never runs a program forever: the verifier walks at most
/// 1,000,000 instructions (`BPF_COMPLEXITY_LIMIT_INSNS`) and admits loops
/// only when they end, the longest by the run-time bounds of `bpf_loop` and
/// `may_goto`, 8,388,608 iterations each (`BPF_MAX_LOOPS`). 2^30 covers
/// one such loop running to its bound with a body of 128 instructions,
/// far more than the programs the kernel accepts execute in practice,
/// while a program that never ends (which the verifier would have
/// refused) stops after a few seconds of interpretation (2.6 s for a
/// two-instruction loop, measured on a release build) instead of hanging. [`Runner::set_budget`] raises or removes it.
pub const DEFAULT_BUDGET: u64 = 1 << 30;

/// What a run starts with.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunInput<'a> {
    /// `r1..r5` at entry (`r1` is usually the context's address).
    pub args: [u64; 5],
    /// Memory the program may access besides its stack: the context, map
    /// values, read-only data, the packet and its headroom.
    pub regions: &'a [Region<'a>],
    /// The packet `LD_ABS`/`LD_IND` read (`data..data_end`); it is also
    /// accessible memory. Loads outside it end the program with `r0 = 0`.
    pub packet: Option<Region<'a>>,
    /// Where negative `LD_ABS`/`LD_IND` offsets read (classic BPF's
    /// `SKF_NET_OFF` and `SKF_LL_OFF`); without it they end the program
    /// with `r0 = 0`.
    pub headers: Option<PacketHeaders<'a>>,
}

/// The packet headers classic BPF's negative load offsets name:
/// `SKF_NET_OFF + k` reads at `network + k`, `SKF_LL_OFF + k` at `mac + k`,
/// and only inside `bounds` (the kernel's `skb->head` to the packet's end).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketHeaders<'a> {
    /// The bytes such loads may read; also accessible memory.
    pub bounds: Region<'a>,
    /// Address of the network header.
    pub network: u64,
    /// Address of the MAC header.
    pub mac: u64,
}

impl PacketHeaders<'_> {
    pub(crate) fn spans(&self) -> HeaderSpans {
        HeaderSpans {
            bounds: self.bounds.span(),
            network: self.network,
            mac: self.mac,
        }
    }
}

/// Which tier a [`Runner`] executes programs with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// The native code attached to a program ([`Program::attach_compiled`])
    /// when it has some, otherwise the interpreter.
    #[default]
    Compiled,
    /// Always the interpreter, even for programs with native code.
    Interpreter,
}

/// A request a helper left for the interpreter.
pub(crate) enum Pending<E> {
    Stop(u64),
    Failed(RunError),
    TailCall(Arc<Program<E>>),
}

#[derive(Clone, Copy, Default)]
struct Frame {
    /// Op index to return to in the caller.
    ret: usize,
    /// The caller's `r6..r9`.
    saved: [u64; 4],
    /// This frame's `may_goto` counter.
    may_goto: u32,
}

/// Executes programs. Owns the stacks and scratch state, so a run allocates
/// nothing (unless helpers register more regions than its initial
/// capacity); reuse one runner per thread for many runs.
pub struct Runner<E> {
    pub(crate) memory: Memory,
    frames: [Frame; MAX_CALL_FRAMES],
    pub(crate) pending: Option<Pending<E>>,
    pub(crate) tail_calls: u32,
    budget: Option<u64>,
    pub(crate) remaining: u64,
    engine: Engine,
    /// See [`Runner::set_cpu`].
    cpu: u32,
}

impl<E> Default for Runner<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> std::fmt::Debug for Runner<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// What a faulting access was: where it aimed and its offset from the
/// base register, for naming the region it was meant for.
#[derive(Clone, Copy)]
pub(crate) struct Aim {
    pub(crate) addr: u64,
    pub(crate) off: i64,
    pub(crate) size: u64,
    pub(crate) access: Access,
}

#[cold]
#[inline(never)]
pub(crate) fn fault<E>(
    prog: &Program<E>,
    pc: usize,
    memory: &Memory,
    aim: Aim,
    depth: usize,
) -> RunError {
    RunError::MemoryFault {
        pc: prog.slot_of(pc),
        addr: aim.addr,
        size: aim.size,
        access: aim.access,
        // The base register's value, recomputed here so that the access
        // path keeps nothing alive for the error path.
        location: memory.locate(aim.addr, Some(aim.addr.wrapping_sub(aim.off as u64)), depth),
        read_only: memory.read_only(aim.addr, aim.size, aim.access),
    }
}

#[cold]
#[inline(never)]
pub(crate) fn budget_exhausted<E>(runner: &Runner<E>, prog: &Program<E>, pc: usize) -> RunError {
    RunError::BudgetExhausted {
        pc: prog.slot_of(pc),
        limit: runner.budget.unwrap_or(u64::MAX),
    }
}

#[cold]
#[inline(never)]
pub(crate) fn call_depth_exceeded<E>(prog: &Program<E>, pc: usize) -> RunError {
    RunError::CallDepthExceeded {
        pc: prog.slot_of(pc),
        max: MAX_CALL_FRAMES,
    }
}

#[cold]
#[inline(never)]
pub(crate) fn unknown_helper<E>(prog: &Program<E>, pc: usize, id: u64) -> RunError {
    RunError::UnknownHelper {
        pc: prog.slot_of(pc),
        id,
    }
}

#[cold]
#[inline(never)]
pub(crate) fn misaligned<E>(prog: &Program<E>, pc: usize, addr: u64, size: u64) -> RunError {
    RunError::MisalignedAtomic {
        pc: prog.slot_of(pc),
        addr,
        size,
    }
}

impl<E> Runner<E> {
    /// A runner with the [`DEFAULT_BUDGET`] of instructions per run.
    pub fn new() -> Self {
        Runner {
            memory: Memory::new(),
            frames: [Frame::default(); MAX_CALL_FRAMES],
            pending: None,
            tail_calls: 0,
            budget: Some(DEFAULT_BUDGET),
            remaining: u64::MAX,
            engine: Engine::default(),
            cpu: 0,
        }
    }

    /// Chooses the tier of every following run (callbacks and tail calls
    /// included); both give the same results, errors and budget.
    pub fn set_engine(&mut self, engine: Engine) -> &mut Self {
        self.engine = engine;
        self
    }

    /// Zeroes the stacks, which runs otherwise leave as they were (like
    /// the kernel's uninitialised stack): before a run whose program must
    /// not see what an earlier one left, or to make two runs comparable.
    pub fn clear_stacks(&mut self) -> &mut Self {
        self.memory.clear_stacks();
        self
    }

    /// The CPU following runs are on, as the embedder numbers CPUs: the
    /// copy of a per-CPU array value that lookups a tier does itself find
    /// ([`crate::ArrayLookup`]); the embedder's lookup helper must find the
    /// same one. 0 until set.
    pub fn set_cpu(&mut self, cpu: u32) -> &mut Self {
        self.cpu = cpu;
        self
    }

    /// The CPU of following runs ([`Runner::set_cpu`]).
    pub fn cpu(&self) -> u32 {
        self.cpu
    }

    /// The tier runs use.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Limits every following run to `budget` executed instructions
    /// (callbacks and tail-called programs included); `None` = unlimited
    /// (a program that never ends then never returns).
    pub fn set_budget(&mut self, budget: Option<u64>) -> &mut Self {
        self.budget = budget;
        self
    }

    /// The instruction budget of each run.
    pub fn budget(&self) -> Option<u64> {
        self.budget
    }

    /// Runs `program` to completion; returns `r0`.
    pub fn run(
        &mut self,
        program: &Program<E>,
        env: &mut E,
        input: &RunInput<'_>,
    ) -> Result<u64, RunError> {
        self.start(input);
        // Nothing follows: the result goes straight to the caller, not
        // through a copy (the previous run's leftovers were cleared above).
        self.exec(program, env, 0, input.args, 0)
    }

    /// What every run starts with: `input`'s regions and packet, nothing
    /// pending, no tail call made, the whole budget.
    #[inline]
    pub(crate) fn start(&mut self, input: &RunInput<'_>) {
        let bounds = input.headers.as_ref().map(|h| &h.bounds);
        self.memory
            .set_given(input.regions, [input.packet.as_ref(), bounds]);
        self.memory.packet = input.packet.map(|p| p.span());
        self.memory.headers = input.headers.map(|h| h.spans());
        self.restart();
    }

    /// [`Runner::start`] for a run given what the last one was given.
    #[inline]
    pub(crate) fn restart(&mut self) {
        self.memory.forget_registered();
        self.pending = None;
        self.tail_calls = 0;
        self.remaining = self.budget.unwrap_or(u64::MAX);
    }

    /// The conformance-suite setup: `mem` is the only region (writable),
    /// `r1` = its address (0 when empty), `r2` = its length.
    pub fn run_on_memory(
        &mut self,
        program: &Program<E>,
        env: &mut E,
        mem: &mut [u8],
    ) -> Result<u64, RunError> {
        let len = mem.len() as u64;
        let region = Region::writable(mem);
        let addr = if len == 0 { 0 } else { region.addr() };
        let regions = [region];
        self.run(
            program,
            env,
            &RunInput {
                args: [addr, len, 0, 0, 0],
                regions: &regions,
                packet: None,
                headers: None,
            },
        )
    }

    #[inline(never)]
    fn call_helper(
        &mut self,
        prog: &Program<E>,
        env: &mut E,
        (id, name, func): (u32, &'static str, HelperFn<E>),
        args: [u64; 5],
        depth: usize,
        pc: usize,
    ) -> u64 {
        let mut ctx = HelperContext {
            env,
            runner: self,
            program: prog,
            depth,
            pc,
        };
        match func(&mut ctx, args) {
            Ok(value) => value,
            // Reported through `pending`, which the caller checks anyway, so
            // that the value comes back in a register.
            Err(source) => {
                self.pending = Some(Pending::Failed(RunError::Helper {
                    pc: prog.slot_of(pc),
                    id,
                    name,
                    source,
                }));
                0
            }
        }
    }

    /// Calls a helper and turns what it left pending into the caller's next step.
    #[inline]
    pub(crate) fn helper_outcome(
        &mut self,
        prog: &Program<E>,
        env: &mut E,
        helper: (u32, &'static str, HelperFn<E>),
        args: [u64; 5],
        depth: usize,
        pc: usize,
    ) -> CallOutcome<E> {
        let value = self.call_helper(prog, env, helper, args, depth, pc);
        if self.pending.is_none() {
            return CallOutcome::Value(value);
        }
        match self.take_pending() {
            Some(Pending::Stop(value)) => CallOutcome::Stop(value),
            Some(Pending::Failed(error)) => CallOutcome::Failed(error),
            Some(Pending::TailCall(next)) => CallOutcome::TailCall(next),
            None => CallOutcome::Value(value),
        }
    }

    /// Runs from op `start` in frame `base` until that frame exits, with
    /// `r1..r5 = args`.
    pub(crate) fn exec(
        &mut self,
        entry: &Program<E>,
        env: &mut E,
        start: usize,
        args: [u64; 5],
        base: usize,
    ) -> Result<u64, RunError> {
        self.exec_regs(entry, env, start, EntryRegs::Args(args), base)
    }

    /// Runs from op `start` in frame `base` with registers `regs` (`r10` is
    /// set here), on the program's native code when the engine allows it.
    #[inline]
    pub(crate) fn exec_regs(
        &mut self,
        entry: &Program<E>,
        env: &mut E,
        start: usize,
        regs: EntryRegs<'_>,
        base: usize,
    ) -> Result<u64, RunError> {
        if self.engine == Engine::Compiled
            && let Some(code) = entry.compiled()
        {
            return code.run(&mut TierRun::new(self, env, entry, base), start, regs);
        }
        self.interpret(entry, env, start, regs.file(), base)
    }

    // Out of line: its frame is large, and the compiled path must not pay for it.
    #[inline(never)]
    pub(crate) fn interpret(
        &mut self,
        entry: &Program<E>,
        env: &mut E,
        start: usize,
        init: [u64; 11],
        base: usize,
    ) -> Result<u64, RunError> {
        let mut tail: Option<Arc<Program<E>>> = None;
        let mut regs = [0u64; 16];
        regs[..11].copy_from_slice(&init);
        let mut depth = base;
        regs[10] = self.memory.frame_pointer(depth);
        self.frames[depth].may_goto = MAY_GOTO_LOOPS;
        let mut pc = start;
        let mut remaining = self.remaining;

        macro_rules! reg {
            ($i:expr) => {
                regs[($i as usize) & 15]
            };
        }

        'program: loop {
            let prog: &Program<E> = tail.as_deref().unwrap_or(entry);
            let ops: &[Op] = &prog.ops;

            // `(host, addr)` of `base + off` when `size` bytes there allow
            // `access`; otherwise the run ends with the fault, named.
            macro_rules! checked {
                ($base:expr, $off:expr, $size:expr, $access:expr) => {{
                    let addr = $base.wrapping_add($off as i64 as u64);
                    let size = $size;
                    match self.memory.translate(addr, size, $access, depth) {
                        Some(host) => (host, addr),
                        None => {
                            let aim = Aim {
                                addr,
                                off: $off as i64,
                                size,
                                access: $access,
                            };
                            return Err(fault(prog, pc - 1, &self.memory, aim, depth));
                        }
                    }
                }};
            }
            macro_rules! load {
                ($t:ty, $d:expr, $s:expr, $off:expr) => {{
                    let (host, _) = checked!(reg!($s), $off, size_of::<$t>() as u64, Access::Load);
                    // SAFETY: `checked!` checked `addr..addr + size`.
                    unsafe { read_host::<$t>(host) }
                }};
            }
            macro_rules! store {
                ($t:ty, $d:expr, $off:expr, $v:expr) => {{
                    let (host, _) = checked!(reg!($d), $off, size_of::<$t>() as u64, Access::Store);
                    // SAFETY: `checked!` checked `addr..addr + size` for writing.
                    unsafe { write_host::<$t>(host, $v as $t) }
                }};
            }
            macro_rules! jump {
                ($cond:expr, $t:expr) => {
                    if $cond {
                        pc = $t as usize;
                    }
                };
            }

            // Calls helper `$id`; a stop request ends this level, a tail call restarts 'program.
            macro_rules! call_helper {
                ($helper:expr) => {{
                    let helper = $helper;
                    self.remaining = remaining;
                    // Registers one by one: a wide copy of just-stored registers stalls store forwarding.
                    let args = [regs[1], regs[2], regs[3], regs[4], regs[5]];
                    let outcome = self.helper_outcome(prog, env, helper, args, depth, pc - 1);
                    remaining = self.remaining;
                    match outcome {
                        CallOutcome::Value(value) => regs[0] = value,
                        CallOutcome::Stop(value) => return Ok(value),
                        CallOutcome::Failed(error) => return Err(error),
                        CallOutcome::TailCall(next) => {
                            tail = Some(next);
                            pc = 0;
                            self.frames[depth].may_goto = MAY_GOTO_LOOPS;
                            continue 'program;
                        }
                    }
                }};
            }

            loop {
                let op = op_at(ops, pc);
                if remaining == 0 {
                    return Err(budget_exhausted(self, prog, pc));
                }
                remaining -= 1;
                pc += 1;
                match op {
                    Op::Add64I { d, v } => reg!(d) = alu64(AluOp::Add, reg!(d), v),
                    Op::Add64R { d, s } => reg!(d) = alu64(AluOp::Add, reg!(d), reg!(s)),
                    Op::Sub64I { d, v } => reg!(d) = alu64(AluOp::Sub, reg!(d), v),
                    Op::Sub64R { d, s } => reg!(d) = alu64(AluOp::Sub, reg!(d), reg!(s)),
                    Op::Mul64I { d, v } => reg!(d) = alu64(AluOp::Mul, reg!(d), v),
                    Op::Mul64R { d, s } => reg!(d) = alu64(AluOp::Mul, reg!(d), reg!(s)),
                    Op::Div64I { d, v } => reg!(d) = alu64(AluOp::Div, reg!(d), v),
                    Op::Div64R { d, s } => reg!(d) = alu64(AluOp::Div, reg!(d), reg!(s)),
                    Op::SDiv64I { d, v } => reg!(d) = alu64(AluOp::SDiv, reg!(d), v),
                    Op::SDiv64R { d, s } => reg!(d) = alu64(AluOp::SDiv, reg!(d), reg!(s)),
                    Op::Or64I { d, v } => reg!(d) = alu64(AluOp::Or, reg!(d), v),
                    Op::Or64R { d, s } => reg!(d) = alu64(AluOp::Or, reg!(d), reg!(s)),
                    Op::And64I { d, v } => reg!(d) = alu64(AluOp::And, reg!(d), v),
                    Op::And64R { d, s } => reg!(d) = alu64(AluOp::And, reg!(d), reg!(s)),
                    Op::Lsh64I { d, v } => reg!(d) = alu64(AluOp::Lsh, reg!(d), v),
                    Op::Lsh64R { d, s } => reg!(d) = alu64(AluOp::Lsh, reg!(d), reg!(s)),
                    Op::Rsh64I { d, v } => reg!(d) = alu64(AluOp::Rsh, reg!(d), v),
                    Op::Rsh64R { d, s } => reg!(d) = alu64(AluOp::Rsh, reg!(d), reg!(s)),
                    Op::Mod64I { d, v } => reg!(d) = alu64(AluOp::Mod, reg!(d), v),
                    Op::Mod64R { d, s } => reg!(d) = alu64(AluOp::Mod, reg!(d), reg!(s)),
                    Op::SMod64I { d, v } => reg!(d) = alu64(AluOp::SMod, reg!(d), v),
                    Op::SMod64R { d, s } => reg!(d) = alu64(AluOp::SMod, reg!(d), reg!(s)),
                    Op::Xor64I { d, v } => reg!(d) = alu64(AluOp::Xor, reg!(d), v),
                    Op::Xor64R { d, s } => reg!(d) = alu64(AluOp::Xor, reg!(d), reg!(s)),
                    Op::Mov64I { d, v } => reg!(d) = alu64(AluOp::Mov, reg!(d), v),
                    Op::Mov64R { d, s } => reg!(d) = alu64(AluOp::Mov, reg!(d), reg!(s)),
                    Op::Arsh64I { d, v } => reg!(d) = alu64(AluOp::Arsh, reg!(d), v),
                    Op::Arsh64R { d, s } => reg!(d) = alu64(AluOp::Arsh, reg!(d), reg!(s)),
                    Op::Add32I { d, v } => {
                        reg!(d) = u64::from(alu32(AluOp::Add, reg!(d) as u32, v))
                    }
                    Op::Add32R { d, s } => {
                        reg!(d) = u64::from(alu32(AluOp::Add, reg!(d) as u32, reg!(s) as u32))
                    }
                    Op::Sub32I { d, v } => {
                        reg!(d) = u64::from(alu32(AluOp::Sub, reg!(d) as u32, v))
                    }
                    Op::Sub32R { d, s } => {
                        reg!(d) = u64::from(alu32(AluOp::Sub, reg!(d) as u32, reg!(s) as u32))
                    }
                    Op::Mul32I { d, v } => {
                        reg!(d) = u64::from(alu32(AluOp::Mul, reg!(d) as u32, v))
                    }
                    Op::Mul32R { d, s } => {
                        reg!(d) = u64::from(alu32(AluOp::Mul, reg!(d) as u32, reg!(s) as u32))
                    }
                    Op::Div32I { d, v } => {
                        reg!(d) = u64::from(alu32(AluOp::Div, reg!(d) as u32, v))
                    }
                    Op::Div32R { d, s } => {
                        reg!(d) = u64::from(alu32(AluOp::Div, reg!(d) as u32, reg!(s) as u32))
                    }
                    Op::SDiv32I { d, v } => {
                        reg!(d) = u64::from(alu32(AluOp::SDiv, reg!(d) as u32, v))
                    }
                    Op::SDiv32R { d, s } => {
                        reg!(d) = u64::from(alu32(AluOp::SDiv, reg!(d) as u32, reg!(s) as u32))
                    }
                    Op::Or32I { d, v } => reg!(d) = u64::from(alu32(AluOp::Or, reg!(d) as u32, v)),
                    Op::Or32R { d, s } => {
                        reg!(d) = u64::from(alu32(AluOp::Or, reg!(d) as u32, reg!(s) as u32))
                    }
                    Op::And32I { d, v } => {
                        reg!(d) = u64::from(alu32(AluOp::And, reg!(d) as u32, v))
                    }
                    Op::And32R { d, s } => {
                        reg!(d) = u64::from(alu32(AluOp::And, reg!(d) as u32, reg!(s) as u32))
                    }
                    Op::Lsh32I { d, v } => {
                        reg!(d) = u64::from(alu32(AluOp::Lsh, reg!(d) as u32, v))
                    }
                    Op::Lsh32R { d, s } => {
                        reg!(d) = u64::from(alu32(AluOp::Lsh, reg!(d) as u32, reg!(s) as u32))
                    }
                    Op::Rsh32I { d, v } => {
                        reg!(d) = u64::from(alu32(AluOp::Rsh, reg!(d) as u32, v))
                    }
                    Op::Rsh32R { d, s } => {
                        reg!(d) = u64::from(alu32(AluOp::Rsh, reg!(d) as u32, reg!(s) as u32))
                    }
                    Op::Mod32I { d, v } => {
                        reg!(d) = u64::from(alu32(AluOp::Mod, reg!(d) as u32, v))
                    }
                    Op::Mod32R { d, s } => {
                        reg!(d) = u64::from(alu32(AluOp::Mod, reg!(d) as u32, reg!(s) as u32))
                    }
                    Op::SMod32I { d, v } => {
                        reg!(d) = u64::from(alu32(AluOp::SMod, reg!(d) as u32, v))
                    }
                    Op::SMod32R { d, s } => {
                        reg!(d) = u64::from(alu32(AluOp::SMod, reg!(d) as u32, reg!(s) as u32))
                    }
                    Op::Xor32I { d, v } => {
                        reg!(d) = u64::from(alu32(AluOp::Xor, reg!(d) as u32, v))
                    }
                    Op::Xor32R { d, s } => {
                        reg!(d) = u64::from(alu32(AluOp::Xor, reg!(d) as u32, reg!(s) as u32))
                    }
                    Op::Mov32I { d, v } => {
                        reg!(d) = u64::from(alu32(AluOp::Mov, reg!(d) as u32, v))
                    }
                    Op::Mov32R { d, s } => {
                        reg!(d) = u64::from(alu32(AluOp::Mov, reg!(d) as u32, reg!(s) as u32))
                    }
                    Op::Arsh32I { d, v } => {
                        reg!(d) = u64::from(alu32(AluOp::Arsh, reg!(d) as u32, v))
                    }
                    Op::Arsh32R { d, s } => {
                        reg!(d) = u64::from(alu32(AluOp::Arsh, reg!(d) as u32, reg!(s) as u32))
                    }
                    Op::Neg64 { d } => reg!(d) = neg(Width::W64, reg!(d)),
                    Op::Neg32 { d } => reg!(d) = neg(Width::W32, reg!(d)),
                    Op::MovSx64 { d, s, bits } => reg!(d) = sign_extend(reg!(s), bits),
                    Op::MovSx32 { d, s, bits } => {
                        reg!(d) = u64::from(sign_extend(reg!(s), bits) as u32)
                    }
                    Op::Trunc { d, bits } => {
                        reg!(d) = if bits == 16 {
                            u64::from(reg!(d) as u16)
                        } else {
                            u64::from(reg!(d) as u32)
                        }
                    }
                    Op::Swap16 { d } => reg!(d) = endian(EndianOp::Swap, 16, reg!(d)),
                    Op::Swap32 { d } => reg!(d) = endian(EndianOp::Swap, 32, reg!(d)),
                    Op::Swap64 { d } => reg!(d) = endian(EndianOp::Swap, 64, reg!(d)),
                    Op::Nop => {}
                    Op::LdB { d, s, off } => reg!(d) = u64::from(load!(u8, d, s, off)),
                    Op::LdH { d, s, off } => reg!(d) = u64::from(load!(u16, d, s, off)),
                    Op::LdW { d, s, off } => reg!(d) = u64::from(load!(u32, d, s, off)),
                    Op::LdDw { d, s, off } => reg!(d) = load!(u64, d, s, off),
                    Op::LdSxB { d, s, off } => reg!(d) = load!(i8, d, s, off) as i64 as u64,
                    Op::LdSxH { d, s, off } => reg!(d) = load!(i16, d, s, off) as i64 as u64,
                    Op::LdSxW { d, s, off } => reg!(d) = load!(i32, d, s, off) as i64 as u64,
                    Op::StB { d, s, off } => store!(u8, d, off, reg!(s)),
                    Op::StH { d, s, off } => store!(u16, d, off, reg!(s)),
                    Op::StW { d, s, off } => store!(u32, d, off, reg!(s)),
                    Op::StDw { d, s, off } => store!(u64, d, off, reg!(s)),
                    Op::StBI { d, off, v } => store!(u8, d, off, v),
                    Op::StHI { d, off, v } => store!(u16, d, off, v),
                    Op::StWI { d, off, v } => store!(u32, d, off, v),
                    Op::StDwI { d, off, v } => store!(u64, d, off, i64::from(v)),
                    Op::Atomic {
                        d,
                        s,
                        off,
                        wide,
                        rmw,
                        fetch,
                    } => {
                        let size = if wide { 8 } else { 4 };
                        let (host, addr) = checked!(reg!(d), off, size, Access::Store);
                        if addr % size != 0 {
                            return Err(misaligned(prog, pc - 1, addr, size));
                        }
                        // SAFETY: checked for writing and aligned just above.
                        let old = unsafe { atomic_rmw(host, wide, rmw, reg!(s), regs[0]) };
                        if rmw == Rmw::CmpXchg {
                            regs[0] = old;
                        } else if fetch {
                            reg!(s) = old;
                        }
                    }
                    Op::LoadAcquire { d, s, off, size } => {
                        let len = u64::from(size);
                        let (host, addr) = checked!(reg!(s), off, len, Access::Load);
                        if addr % len != 0 {
                            return Err(misaligned(prog, pc - 1, addr, len));
                        }
                        // SAFETY: checked and aligned just above.
                        reg!(d) = unsafe { load_acquire(host, size) };
                    }
                    Op::StoreRelease { d, s, off, size } => {
                        let len = u64::from(size);
                        let (host, addr) = checked!(reg!(d), off, len, Access::Store);
                        if addr % len != 0 {
                            return Err(misaligned(prog, pc - 1, addr, len));
                        }
                        // SAFETY: checked for writing and aligned just above.
                        unsafe { store_release(host, size, reg!(s)) };
                    }
                    Op::LdPacket { s, imm, size } => {
                        let index = s.map_or(0, |s| reg!(s) as u32);
                        match self.packet_load(index, imm, size) {
                            Some(v) => regs[0] = v,
                            None => {
                                self.remaining = remaining;
                                return Ok(0);
                            }
                        }
                    }
                    Op::Jeq64I { d, v, t } => {
                        jump!(cond64(JmpCond::Eq, reg!(d), v), t)
                    }
                    Op::Jeq64R { d, s, t } => {
                        jump!(cond64(JmpCond::Eq, reg!(d), reg!(s)), t)
                    }
                    Op::Jgt64I { d, v, t } => {
                        jump!(cond64(JmpCond::Gt, reg!(d), v), t)
                    }
                    Op::Jgt64R { d, s, t } => {
                        jump!(cond64(JmpCond::Gt, reg!(d), reg!(s)), t)
                    }
                    Op::Jge64I { d, v, t } => {
                        jump!(cond64(JmpCond::Ge, reg!(d), v), t)
                    }
                    Op::Jge64R { d, s, t } => {
                        jump!(cond64(JmpCond::Ge, reg!(d), reg!(s)), t)
                    }
                    Op::Jset64I { d, v, t } => {
                        jump!(cond64(JmpCond::Set, reg!(d), v), t)
                    }
                    Op::Jset64R { d, s, t } => {
                        jump!(cond64(JmpCond::Set, reg!(d), reg!(s)), t)
                    }
                    Op::Jne64I { d, v, t } => {
                        jump!(cond64(JmpCond::Ne, reg!(d), v), t)
                    }
                    Op::Jne64R { d, s, t } => {
                        jump!(cond64(JmpCond::Ne, reg!(d), reg!(s)), t)
                    }
                    Op::Jsgt64I { d, v, t } => {
                        jump!(cond64(JmpCond::Sgt, reg!(d), v), t)
                    }
                    Op::Jsgt64R { d, s, t } => {
                        jump!(cond64(JmpCond::Sgt, reg!(d), reg!(s)), t)
                    }
                    Op::Jsge64I { d, v, t } => {
                        jump!(cond64(JmpCond::Sge, reg!(d), v), t)
                    }
                    Op::Jsge64R { d, s, t } => {
                        jump!(cond64(JmpCond::Sge, reg!(d), reg!(s)), t)
                    }
                    Op::Jlt64I { d, v, t } => {
                        jump!(cond64(JmpCond::Lt, reg!(d), v), t)
                    }
                    Op::Jlt64R { d, s, t } => {
                        jump!(cond64(JmpCond::Lt, reg!(d), reg!(s)), t)
                    }
                    Op::Jle64I { d, v, t } => {
                        jump!(cond64(JmpCond::Le, reg!(d), v), t)
                    }
                    Op::Jle64R { d, s, t } => {
                        jump!(cond64(JmpCond::Le, reg!(d), reg!(s)), t)
                    }
                    Op::Jslt64I { d, v, t } => {
                        jump!(cond64(JmpCond::Slt, reg!(d), v), t)
                    }
                    Op::Jslt64R { d, s, t } => {
                        jump!(cond64(JmpCond::Slt, reg!(d), reg!(s)), t)
                    }
                    Op::Jsle64I { d, v, t } => {
                        jump!(cond64(JmpCond::Sle, reg!(d), v), t)
                    }
                    Op::Jsle64R { d, s, t } => {
                        jump!(cond64(JmpCond::Sle, reg!(d), reg!(s)), t)
                    }
                    Op::Jeq32I { d, v, t } => {
                        jump!(cond32(JmpCond::Eq, reg!(d) as u32, v), t)
                    }
                    Op::Jeq32R { d, s, t } => {
                        jump!(cond32(JmpCond::Eq, reg!(d) as u32, reg!(s) as u32), t)
                    }
                    Op::Jgt32I { d, v, t } => {
                        jump!(cond32(JmpCond::Gt, reg!(d) as u32, v), t)
                    }
                    Op::Jgt32R { d, s, t } => {
                        jump!(cond32(JmpCond::Gt, reg!(d) as u32, reg!(s) as u32), t)
                    }
                    Op::Jge32I { d, v, t } => {
                        jump!(cond32(JmpCond::Ge, reg!(d) as u32, v), t)
                    }
                    Op::Jge32R { d, s, t } => {
                        jump!(cond32(JmpCond::Ge, reg!(d) as u32, reg!(s) as u32), t)
                    }
                    Op::Jset32I { d, v, t } => {
                        jump!(cond32(JmpCond::Set, reg!(d) as u32, v), t)
                    }
                    Op::Jset32R { d, s, t } => {
                        jump!(cond32(JmpCond::Set, reg!(d) as u32, reg!(s) as u32), t)
                    }
                    Op::Jne32I { d, v, t } => {
                        jump!(cond32(JmpCond::Ne, reg!(d) as u32, v), t)
                    }
                    Op::Jne32R { d, s, t } => {
                        jump!(cond32(JmpCond::Ne, reg!(d) as u32, reg!(s) as u32), t)
                    }
                    Op::Jsgt32I { d, v, t } => {
                        jump!(cond32(JmpCond::Sgt, reg!(d) as u32, v), t)
                    }
                    Op::Jsgt32R { d, s, t } => {
                        jump!(cond32(JmpCond::Sgt, reg!(d) as u32, reg!(s) as u32), t)
                    }
                    Op::Jsge32I { d, v, t } => {
                        jump!(cond32(JmpCond::Sge, reg!(d) as u32, v), t)
                    }
                    Op::Jsge32R { d, s, t } => {
                        jump!(cond32(JmpCond::Sge, reg!(d) as u32, reg!(s) as u32), t)
                    }
                    Op::Jlt32I { d, v, t } => {
                        jump!(cond32(JmpCond::Lt, reg!(d) as u32, v), t)
                    }
                    Op::Jlt32R { d, s, t } => {
                        jump!(cond32(JmpCond::Lt, reg!(d) as u32, reg!(s) as u32), t)
                    }
                    Op::Jle32I { d, v, t } => {
                        jump!(cond32(JmpCond::Le, reg!(d) as u32, v), t)
                    }
                    Op::Jle32R { d, s, t } => {
                        jump!(cond32(JmpCond::Le, reg!(d) as u32, reg!(s) as u32), t)
                    }
                    Op::Jslt32I { d, v, t } => {
                        jump!(cond32(JmpCond::Slt, reg!(d) as u32, v), t)
                    }
                    Op::Jslt32R { d, s, t } => {
                        jump!(cond32(JmpCond::Slt, reg!(d) as u32, reg!(s) as u32), t)
                    }
                    Op::Jsle32I { d, v, t } => {
                        jump!(cond32(JmpCond::Sle, reg!(d) as u32, v), t)
                    }
                    Op::Jsle32R { d, s, t } => {
                        jump!(cond32(JmpCond::Sle, reg!(d) as u32, reg!(s) as u32), t)
                    }
                    Op::Ja { t } => pc = t as usize,
                    Op::MayGoto { t } => {
                        let counter = &mut self.frames[depth].may_goto;
                        if *counter == 0 {
                            pc = t as usize;
                        } else {
                            *counter -= 1;
                        }
                    }
                    Op::CallLocal { t } => {
                        if depth + 1 >= MAX_CALL_FRAMES {
                            return Err(call_depth_exceeded(prog, pc - 1));
                        }
                        self.frames[depth].ret = pc;
                        self.frames[depth].saved = [regs[6], regs[7], regs[8], regs[9]];
                        depth += 1;
                        self.frames[depth].may_goto = MAY_GOTO_LOOPS;
                        regs[10] = self.memory.frame_pointer(depth);
                        pc = t as usize;
                    }
                    Op::CallHelper { index } => {
                        let Some(c) = prog.called.get(index as usize) else {
                            return Err(unknown_helper(prog, pc - 1, u64::MAX));
                        };
                        call_helper!((c.id, c.name, c.func))
                    }
                    Op::CallPure { f } => regs[0] = f(regs[1], regs[2], regs[3], regs[4], regs[5]),
                    Op::Callx { r } => {
                        let id = reg!(r);
                        match prog.helper_by_id(id) {
                            Some((id, name, HelperImpl::Full(f))) => call_helper!((id, name, f)),
                            Some((_, _, HelperImpl::Pure(f))) => {
                                regs[0] = f(regs[1], regs[2], regs[3], regs[4], regs[5]);
                            }
                            None => return Err(unknown_helper(prog, pc - 1, id)),
                        }
                    }
                    Op::Exit => {
                        if depth == base {
                            self.remaining = remaining;
                            return Ok(regs[0]);
                        }
                        depth -= 1;
                        let frame = self.frames[depth];
                        [regs[6], regs[7], regs[8], regs[9]] = frame.saved;
                        regs[10] = self.memory.frame_pointer(depth);
                        pc = frame.ret;
                    }
                    Op::FellOff => {
                        return Err(RunError::FellOffEnd {
                            pc: prog.slot_count(),
                        });
                    }
                }
            }
        }
    }

    /// `LD_ABS`/`LD_IND` of `size` bytes at `index + imm`; `None` (and the
    /// whole program stopped with `r0 = 0`) when outside the packet.
    pub(crate) fn packet_load(&mut self, index: u32, imm: i32, size: u8) -> Option<u64> {
        let off = index.wrapping_add(imm as u32) as i32;
        let value = self.memory.packet_load(off, size);
        if value.is_none() {
            self.pending = Some(Pending::Stop(0));
        }
        value
    }

    /// Takes a pending tail call; leaves a stop request in place so that
    /// every enclosing callback level stops too.
    fn take_pending(&mut self) -> Option<Pending<E>> {
        match self.pending.take()? {
            Pending::Stop(value) => {
                self.pending = Some(Pending::Stop(value));
                Some(Pending::Stop(value))
            }
            other => Some(other),
        }
    }
}

/// Op `pc` of `ops`, without a bounds check on the hot path.
///
/// Every `pc` the interpreter reaches is in range: runs start at op 0 of a
/// non-empty program or at an op index `Program::op_of_address` returned;
/// jump, call and `lddw` targets were resolved to existing op indices at
/// load time; return addresses are `pc + 1` of a call; and the last op is
/// the `FellOff` sentinel, which never advances `pc`, so `pc + 1` after any
/// other op is still an op index.
#[inline(always)]
fn op_at(ops: &[Op], pc: usize) -> Op {
    debug_assert!(pc < ops.len(), "op index {pc} out of {}", ops.len());
    // SAFETY: `pc < ops.len()` by the invariant above, established in `Program::new`.
    unsafe { *ops.get_unchecked(pc) }
}
