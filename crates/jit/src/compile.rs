//! The compiler driver: budget groups, labels, one pass over the ops, the
//! out-of-line stubs, and the finished [`JitCode`].
//!
//! # Budget
//! The interpreter counts every op and, when the budget is spent, stops
//! *before* the op that would exceed it. Compiled code counts per group: a
//! run of ops that ends at the first op that can jump, call or stop the
//! run other than by a fault (or before a jump target). A group of `n` ops
//! starts with `sub r9, n; jb stub`. If fewer than `n` remain, the
//! interpreter runs the group from its start until the budget runs out
//! (`TierRun::interpret_until_exhausted`): it meets no jump, call or exit
//! on the way, and its stores, faults and error are the interpreter's
//! because they are its own. A fault inside a group the budget covers is
//! the one the interpreter meets too.
//!
//! # Two bodies
//! With the verifier's proofs the ops may be emitted twice: a fast body
//! with every proof used (packet and context accesses unchecked, and no
//! budget counting at all when the verifier bounds the run), and a slow
//! body that holds only where the fast one's assumptions might not:
//! packet and context accesses checked, the budget counted. [`JitCode`] picks one per
//! activation (see `code`); both use the same registers and context.
//!
//! # Fewer ops than written
//! A conditional jump the verifier saw go one way on every run
//! (`apiary_verifier::JumpSides`) loses its comparison, and one that always
//! jumps over the next op skips that op too. In a body that does not count
//! (entered only at the program's start), `if c goto +1; goto t` becomes
//! `if !c goto t`, a copy followed by an addition to it one `lea`, and
//! with a proven load through the sum one indexed load; proven byte loads
//! assembled with shifts and ors one wide load, and byte-by-byte copies
//! one wide copy (`combine`); sums are reordered so that the operand
//! ready last is added last (`reassoc`), a remainder computed from a
//! quotient is taken from the division (`divmod`), and outermost loop heads start
//! on a 64-byte boundary. The ops left out still have offsets (those of
//! the code after them). A helper call that looks a key up in an array
//! known at the call is the lookup's address arithmetic, one in a hash
//! table or trie a direct call of its search (`emit_lookup`), counted as
//! the call; one that loads packet bytes to the stack is a copy where it
//! surely succeeds (`emit_packet_load`), and a ring buffer reservation a
//! direct call of the ring's own (`emit_reserve`).

use std::cell::Cell;

use apiary_verifier::{Accepted, AccessProof, AccessProofs, CallMaps, JumpSide, JumpSides};
use apiary_vm::{CommitFn, DirectReserve, MapLookup, Op, Program};
use dynasmrt::x64::X64Relocation;
use dynasmrt::{DynamicLabel, DynasmApi, VecAssembler};

use crate::blind::{Keys, blind};
use crate::code::{Body, ContextSpan, FastWhen, JitCode};
use crate::emit_call::{self, Routines};
use crate::exec_mem::ExecMem;
use crate::reassoc::{self, Ready};
use crate::{JitError, Options};
use crate::{
    combine, divmod, emit_alu, emit_commit, emit_jmp, emit_lookup, emit_mem, emit_packet_load,
    emit_reserve,
};

/// Assembles x86-64 into the emitter's buffer.
#[macro_export]
#[doc(hidden)]
macro_rules! x64 {
    ($e:ident; $($t:tt)*) => {{
        #[allow(unused_imports)]
        use dynasmrt::{DynasmApi as _, DynasmLabelApi as _};
        // dynasm converts register numbers with `.into()`, already `u8` here.
        #[allow(clippy::useless_conversion)]
        {
            dynasmrt::dynasm!($e.asm ; .arch x64 ; $($t)*)
        }
    }};
}

/// Scratch registers, never holding eBPF state.
pub(crate) const R10: u8 = 10;
pub(crate) const R11: u8 = 11;

/// x86 register of each eBPF register. `r0` and `r1..r5` sit where the
/// SysV ABI puts the return value and the arguments (pure helpers need no
/// shuffling), `r10` in rbp. r9 holds the remaining budget, r12 the
/// context, r10 and r11 are scratch. Number 11 is r10, the operand of a
/// blinded op ([`crate::blind::BLINDED`]); the vm never gives numbers
/// above 10, and the rest map to scratch so that no index can go wrong.
const REG: [u8; 16] = [0, 7, 6, 2, 1, 8, 3, 13, 14, 15, 5, 10, 11, 11, 11, 11];

/// The x86 register holding eBPF register `r`.
pub(crate) fn x(r: u8) -> u8 {
    REG[usize::from(r & 15)]
}

/// `v` as a sign-extended 32-bit immediate, when it is one.
pub(crate) fn simm32(v: u64) -> Option<i32> {
    i32::try_from(v as i64).ok()
}

/// Out-of-line code placed after all ops.
pub(crate) enum Stub {
    /// The out-of-line rest of the check of the address in r11 for `size`
    /// bytes; returns to `back` when allowed.
    Translate {
        at: DynamicLabel,
        back: DynamicLabel,
        size: u8,
        info: u64,
    },
    /// Misaligned atomic at the address in r11.
    Misaligned { at: DynamicLabel, info: u64 },
    /// Budget of a group of `n` ops starting at op `op` exhausted.
    Budget { at: DynamicLabel, op: usize, n: u32 },
    /// bpf-to-bpf call at op `op` from the last frame.
    Depth { at: DynamicLabel, op: usize },
    /// A division by zero of `divmod`'s: quotient 0 in rax, the dividend
    /// (in rax) as the remainder in rdx, then back.
    QuotientByZero {
        at: DynamicLabel,
        back: DynamicLabel,
    },
    /// A division's result by zero (`zero`) or by -1, then back.
    DivEdge {
        at: DynamicLabel,
        back: DynamicLabel,
        div: emit_alu::Div,
        zero: bool,
    },
}

/// Assembler state of one compilation.
pub(crate) struct Emitter {
    pub(crate) asm: VecAssembler<X64Relocation>,
    /// The label of each op something jumps or calls to.
    targets: Vec<Option<DynamicLabel>>,
    pub(crate) stubs: Vec<Stub>,
    pub(crate) routines: Routines,
    /// Blinding keys, when constants are blinded.
    pub(crate) keys: Option<Keys>,
    /// Whether the program makes bpf-to-bpf calls.
    pub(crate) local_calls: bool,
    /// Whether the program has `may_goto`: without one, no frame's counter
    /// is ever read, and runs and calls need not set it.
    pub(crate) may_goto: bool,
    /// The eBPF registers each run starts with that its code may read
    /// before writing them (see [`entry_registers`]).
    pub(crate) entry_registers: &'static [u8],
}

/// Every eBPF register.
const ALL_REGISTERS: [u8; 11] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

/// The eBPF registers a run's code may read before writing them: every
/// one, except in a program the verifier accepted that calls no helper.
/// The verifier starts a program with only `r1` (the context) and `r10`
/// initialised and refuses a read of any other register before a write.
/// Without helpers no register leaves the code before it is written
/// either: no helper reads its arguments, no tail call hands the
/// registers to a program the verifier may not have seen, and no
/// callback starts an activation elsewhere than at the first op. Loading
/// the nine others for every run cost a quarter of an empty program's run.
fn entry_registers(ops: &[Op], verified: bool) -> &'static [u8] {
    let calls_helpers = ops
        .iter()
        .any(|op| matches!(op, Op::CallHelper { .. } | Op::Callx { .. }));
    if verified && !calls_helpers {
        &[1, 10]
    } else {
        &ALL_REGISTERS
    }
}

impl Emitter {
    /// A fresh label.
    pub(crate) fn label(&mut self) -> DynamicLabel {
        self.asm.new_dynamic_label()
    }

    /// The label jumps to op `t` land on.
    pub(crate) fn target(&self, t: u32) -> DynamicLabel {
        // Every target the ops name has a label (`group_ends`); were one missing,
        // stopping as past the end would be the safe answer.
        match self.targets.get(t as usize) {
            Some(&Some(label)) => label,
            _ => self.routines.fell_off,
        }
    }
}

/// Whether `op` ends a budget group: it can jump, call, or stop the run
/// other than by a fault.
fn ends_group(op: Op) -> bool {
    emit_jmp::jump(op).is_some()
        || matches!(
            op,
            Op::LdPacket { .. }
                | Op::CallLocal { .. }
                | Op::CallHelper { .. }
                | Op::Callx { .. }
                | Op::Exit
                | Op::FellOff
        )
}

/// For each op, the index one past the last op of its group, and whether
/// something jumps or calls to it.
fn group_ends(ops: &[Op]) -> (Vec<u32>, Vec<bool>) {
    let mut starts = vec![false; ops.len() + 1];
    let mut targets = vec![false; ops.len()];
    for (i, &op) in ops.iter().enumerate() {
        let target = match op {
            Op::CallLocal { t } => Some(t),
            _ => emit_jmp::jump(op).map(|j| j.t),
        };
        if let Some(t) = target.map(|t| t as usize)
            && t < ops.len()
        {
            starts[t] = true;
            targets[t] = true;
        }
        if ends_group(op)
            && let Some(next) = starts.get_mut(i + 1)
        {
            *next = true;
        }
    }
    let mut ends = vec![0u32; ops.len()];
    let mut end = ops.len() as u32;
    for i in (0..ops.len()).rev() {
        if starts[i + 1] {
            end = i as u32 + 1;
        }
        ends[i] = end;
    }
    (ends, targets)
}

/// The proof of each op's access, from the verifier's table by slot.
fn proofs_by_op<E>(
    program: &Program<E>,
    proofs: Option<&AccessProofs>,
) -> Result<Vec<Option<AccessProof>>, JitError> {
    let ops = program.ops().len();
    let Some(proofs) = proofs else {
        return Ok(vec![None; ops]);
    };
    if proofs.len() != program.slot_count() {
        return Err(JitError::ProofsMismatch {
            slots: program.slot_count(),
            proofs: proofs.len(),
        });
    }
    Ok((0..ops).map(|op| proofs.get(program.slot_of(op))).collect())
}

/// The side each op's conditional jump always takes, by slot (nothing
/// when the verdict is for a program of another length, which
/// [`proofs_by_op`] refuses).
fn sides_by_op<E>(program: &Program<E>, sides: Option<&JumpSides>) -> Vec<Option<JumpSide>> {
    (0..program.ops().len())
        .map(|op| sides.and_then(|s| s.get(program.slot_of(op))))
        .collect()
}

/// A helper call compiled code does (mostly) itself.
#[derive(Clone, Copy)]
enum DirectCall {
    /// A lookup in map number `.1` (`emit_lookup`).
    Lookup(MapLookup, u32),
    /// A copy of packet bytes (`emit_packet_load`).
    PacketLoad,
    /// A ring buffer reservation in map number `.1` (`emit_reserve`),
    /// recorded for the helpers that release it when `.2`.
    Reserve(DirectReserve, u32, bool),
    /// A ring buffer sample's submit or discard (`emit_commit`).
    Commit(CommitFn),
}

/// The helper calls compiled code does without the helper table, by op,
/// in order: a lookup or reservation where the verifier found its map
/// (number) the same on every path and the embedder described what the
/// helper does in that map ([`Program::map_lookup`],
/// [`Program::ringbuf_reserve`]), or a packet load where the embedder
/// named the helper ([`Program::loads_packet`]); and where every
/// reservation is such a call, the submits and discards, whose samples
/// then need no record ([`releases_samples`]). Few ops are such calls, so
/// only they are listed.
fn direct_calls_by_op<E>(
    program: &Program<E>,
    maps: Option<&CallMaps>,
) -> Vec<(usize, DirectCall)> {
    let mut direct: Vec<(usize, DirectCall)> = program
        .ops()
        .iter()
        .enumerate()
        .filter_map(|(pc, op)| match *op {
            Op::CallHelper { index } if program.loads_packet(index) => {
                Some((pc, DirectCall::PacketLoad))
            }
            Op::CallHelper { index } => {
                let map = maps?.get(program.slot_of(pc))?;
                if let Some(reserve) = program.ringbuf_reserve(index, map) {
                    return emit_reserve::possible(map, pc)
                        .then_some((pc, DirectCall::Reserve(reserve, map, true)));
                }
                let lookup = program.map_lookup(index, map)?;
                emit_lookup::possible(&lookup, map, pc)
                    .then_some((pc, DirectCall::Lookup(lookup, map)))
            }
            _ => None,
        })
        .collect();
    if maps.is_some() && releases_samples(program, &direct) {
        let commits = program
            .ops()
            .iter()
            .enumerate()
            .filter_map(|(pc, op)| match *op {
                Op::CallHelper { index } => {
                    let commit = program.ringbuf_commit(index)?;
                    Some((pc, DirectCall::Commit(commit)))
                }
                _ => None,
            });
        direct.extend(commits);
        direct.sort_unstable_by_key(|&(pc, _)| pc);
        for (_, call) in &mut direct {
            if let DirectCall::Reserve(_, _, record) = call {
                *record = false;
            }
        }
    }
    direct
}

/// Whether a verified program's compiled code may release every sample
/// it reserves itself, so that none needs a record: the embedder said how
/// ([`Program::ringbuf_commits`]), every reservation is a direct call
/// among `direct`, and no `callx` may reach a helper that would look a
/// sample up.
fn releases_samples<E>(program: &Program<E>, direct: &[(usize, DirectCall)]) -> bool {
    program.ringbuf_commits().is_some()
        && program.ops().iter().enumerate().all(|(pc, op)| match *op {
            Op::Callx { .. } => false,
            Op::CallHelper { index } if program.reserves_samples(index) => {
                matches!(direct_call_at(direct, pc), Some(DirectCall::Reserve(..)))
            }
            _ => true,
        })
}

/// The direct call of the helper call at op `pc` (see [`direct_calls_by_op`]).
fn direct_call_at(direct: &[(usize, DirectCall)], pc: usize) -> Option<DirectCall> {
    let i = direct.binary_search_by_key(&pc, |&(at, _)| at).ok()?;
    direct.get(i).map(|&(_, call)| call)
}

/// The buffers of a compilation that the next one on the same thread
/// takes over, emptied: the assembler (with its label and relocation
/// tables), the stubs and the jump targets' labels. Fresh ones for a large
/// program come from new pages of memory each time, and faulting those in
/// cost more than emitting the code.
#[derive(Default)]
struct Reused {
    asm: Option<VecAssembler<X64Relocation>>,
    stubs: Vec<Stub>,
    targets: Vec<Option<DynamicLabel>>,
}

thread_local! {
    /// What this thread's last compilation left (see [`Reused`]).
    static REUSED: Cell<Reused> = Cell::new(Reused::default());
}

/// Compiles `program` for environment type `E`, dropping the checks that
/// the proofs of `accepted` (the verifier's verdict on this very program)
/// make redundant, the comparisons of jumps that always go one way, and
/// the budget's counting when its run bound bounds a run.
pub(crate) fn compile<E>(
    program: &Program<E>,
    options: Options,
    accepted: Option<&Accepted>,
) -> Result<JitCode<E>, JitError> {
    let ops = program.ops();
    let mut proofs = proofs_by_op(program, accepted.map(|a| &a.proofs))?;
    // Context proofs need the span of the accesses to check per activation.
    let context = ContextSpan::of(ops, &proofs);
    if context.is_none() {
        for p in &mut proofs {
            *p = p.filter(|&p| p != AccessProof::Context);
        }
    }
    let sides = sides_by_op(program, accepted.map(|a| &a.jump_sides));
    let direct = direct_calls_by_op(program, accepted.map(|a| &a.call_maps));
    let run_bound = accepted.and_then(|a| a.run_bound);
    // The thread's assembler from its last compilation, with the capacity
    // of its label and relocation tables: growing them (copying, faulting
    // in fresh pages) cost more than emitting the code.
    let labels = ops.len() * 3;
    let reused = REUSED.take();
    let mut asm = reused
        .asm
        .unwrap_or_else(|| VecAssembler::new_with_capacity(0, 0, 0, 0, labels, 0, labels));
    // More than ops need on average (divisions and checked accesses with
    // their stubs take the most): reallocating the buffer copies it, while
    // bytes never written cost nothing.
    asm.reserve_ops(ops.len() * 96);
    let routines = Routines {
        exit: asm.new_dynamic_label(),
        abort: asm.new_dynamic_label(),
        translate: asm.new_dynamic_label(),
        packet: asm.new_dynamic_label(),
        helper: asm.new_dynamic_label(),
        callx: asm.new_dynamic_label(),
        misaligned: asm.new_dynamic_label(),
        budget: asm.new_dynamic_label(),
        depth: asm.new_dynamic_label(),
        fell_off: asm.new_dynamic_label(),
        lookup_found: asm.new_dynamic_label(),
        reserved: asm.new_dynamic_label(),
        reserved_unrecorded: asm.new_dynamic_label(),
    };
    let mut e = Emitter {
        asm,
        targets: reused.targets,
        stubs: reused.stubs,
        routines,
        keys: options.blind_constants.then(Keys::new),
        local_calls: ops.iter().any(|op| matches!(op, Op::CallLocal { .. })),
        may_goto: ops.iter().any(|op| matches!(op, Op::MayGoto { .. })),
        entry_registers: entry_registers(ops, accepted.is_some()),
    };
    emit_call::prologue::<E>(&mut e);
    let fast = body(&mut e, ops, &proofs, &sides, &direct, run_bound.is_none())?;
    let packet_proofs = proofs.contains(&Some(AccessProof::Packet));
    let slow = if packet_proofs || run_bound.is_some() || context.is_some() {
        let robust: Vec<Option<AccessProof>> = proofs
            .iter()
            .map(|p| p.filter(|&p| p != AccessProof::Packet && p != AccessProof::Context))
            .collect();
        Some(body(&mut e, ops, &robust, &sides, &direct, true)?)
    } else {
        None
    };
    emit_stubs(&mut e);
    emit_call::routines::<E>(&mut e);
    let mut asm = e.asm;
    let len = asm.offset().0;
    // Drained, not taken: the buffer stays with the assembler for the next
    // compilation, whose code then lands on pages already faulted in.
    let code = asm
        .drain()
        .map_err(|err| JitError::Assemble(err.to_string()))?;
    let mem = ExecMem::new(len, code).map_err(JitError::Map);
    let mut targets = e.targets;
    targets.clear();
    REUSED.set(Reused {
        asm: Some(asm),
        stubs: e.stubs,
        targets,
    });
    let mem = mem?;
    let when = FastWhen {
        packet_trusted: packet_proofs,
        run_bound,
        context,
    };
    Ok(JitCode::new(mem, fast, slow, when, len))
}

/// Emits one body of every op, using `proofs`, `sides` and `direct` and
/// counting the budget unless `counted` is false.
fn body(
    e: &mut Emitter,
    ops: &[Op],
    proofs: &[Option<AccessProof>],
    sides: &[Option<JumpSide>],
    direct: &[(usize, DirectCall)],
    counted: bool,
) -> Result<Body, JitError> {
    let (ends, is_target) = group_ends(ops);
    // Labels only where jumps land: most ops are never a target.
    e.targets.clear();
    e.targets.extend(
        is_target
            .iter()
            .map(|&target| target.then(|| e.asm.new_dynamic_label())),
    );
    let mut starts = Vec::with_capacity(ops.len());
    let mut bodies = Vec::with_capacity(ops.len());
    let mut group_start = true;
    // Ops after this one whose code it emitted (or that never run).
    let mut skip = 0;
    // How long each register's value takes to compute (see `reassoc`),
    // before this op and after it.
    let mut ready = Ready::default();
    let heads = if counted { Vec::new() } else { loop_heads(ops) };
    for (pc, &op) in ops.iter().enumerate() {
        if heads.get(pc) == Some(&true) {
            align_loop_head(e);
        }
        starts.push(e.asm.offset().0 as u32);
        if is_target[pc] {
            ready.reset();
        }
        let before = ready;
        // Only the body that does not count reorders sums.
        if !counted {
            ready.step(op);
        }
        if skip > 0 {
            // Its jump is folded into the conditional jump before it, that one
            // always jumps over it, or it was fused with the ops before it: no
            // code, not even its group's budget check (nothing jumps to it,
            // so it has no label either).
            bodies.push(e.asm.offset().0 as u32);
            skip -= 1;
            continue;
        }
        if let Some(Some(label)) = e.targets.get(pc).copied() {
            x64!(e; =>label);
        }
        if group_start && counted {
            let n = ends[pc] - pc as u32;
            let stub = e.label();
            match i8::try_from(n) {
                Ok(b) => x64!(e; sub r9, BYTE b; jb =>stub),
                Err(_) => x64!(e; sub r9, n as i32; jb =>stub),
            }
            e.stubs.push(Stub::Budget {
                at: stub,
                op: pc,
                n,
            });
        }
        bodies.push(e.asm.offset().0 as u32);
        // A copy, an addition to it and a proven load through the sum as one
        // load, or the first two as one `lea`, where nothing can start at the
        // ops folded in (as for `fold`).
        let free = |n: usize| (1..=n).all(|k| is_target.get(pc + k) == Some(&false));
        if !counted && e.keys.is_none() {
            // Byte accesses combined into wide ones (see `combine`).
            let combined = combine::combine(e, ops, proofs, &is_target, pc);
            // Sums in the order their operands become ready (see `reassoc`).
            let fused = match combined {
                0 => divmod::quotient_and_remainder(e, ops, &is_target, pc),
                n => n,
            };
            let fused = match fused {
                0 => reassoc::reassociate(e, ops, &is_target, &before, pc),
                n => n,
            };
            if fused > 0 {
                skip = fused - 1;
                continue;
            }
        }
        if !counted && e.keys.is_none() && free(2) {
            let three = ops
                .get(pc..pc + 3)
                .and_then(|o| <[Op; 3]>::try_from(o).ok());
            let proof = proofs.get(pc + 2).copied().flatten();
            if three.is_some_and(|three| emit_mem::indexed_load(e, three, proof)) {
                skip = 2;
                continue;
            }
        }
        if !counted
            && e.keys.is_none()
            && free(1)
            && ops
                .get(pc + 1)
                .is_some_and(|&next| emit_alu::fused(e, op, next))
        {
            skip = 1;
            continue;
        }
        let op = blind(e, op);
        if let Some(jump) = emit_jmp::jump(op) {
            match sides.get(pc).copied().flatten() {
                // The other side is never run: the op stays (and counts), its
                // comparison goes.
                Some(JumpSide::FallThrough) if jump.is_conditional() => {}
                // Over the next op, which nothing else reaches: neither runs.
                Some(JumpSide::Taken)
                    if jump.is_conditional()
                        && jump.t as usize == pc + 2
                        && is_target.get(pc + 1) == Some(&false) =>
                {
                    skip = 1;
                }
                Some(JumpSide::Taken) if jump.is_conditional() => {
                    emit_jmp::emit(e, jump.always());
                }
                _ => {
                    let folded = (!counted)
                        .then(|| fold(ops, &is_target, pc, jump))
                        .flatten();
                    skip = usize::from(folded.is_some());
                    emit_jmp::emit(e, folded.unwrap_or(jump));
                }
            }
        } else if let Some(call) = matches!(op, Op::CallHelper { .. })
            .then(|| direct_call_at(direct, pc))
            .flatten()
        {
            let helper = |e: &mut Emitter| {
                emit_call::emit(e, op, pc);
            };
            match call {
                DirectCall::Lookup(lookup, map) => emit_lookup::emit(e, lookup, map, pc, helper),
                DirectCall::PacketLoad => emit_packet_load::emit(e, helper),
                DirectCall::Reserve(reserve, map, record) => {
                    emit_reserve::emit(e, reserve, map, pc, record);
                }
                DirectCall::Commit(commit) => emit_commit::emit(e, commit, helper),
            }
        } else if !emit_alu::emit(e, op)
            && !emit_mem::emit(e, op, pc, proofs[pc])
            && !emit_call::emit(e, op, pc)
        {
            return Err(JitError::Unsupported { op: pc });
        }
        group_start = ends[pc] == pc as u32 + 1;
    }
    Ok(Body::new(starts, bodies, counted.then_some(ends)))
}

/// The loop heads to align: ops a later jump (or the op itself) goes back
/// to, unless they lie inside the range of another such jump that starts
/// before them. Code inside a loop may fall into such an op on every
/// iteration, through up to 63 bytes of `nop`s: a switch-based state
/// machine jumps back to several of its cases, which were each aligned
/// (`bench_fsm` ran up to five `nop`s per byte it read). Only the
/// outermost loop's head is then aligned, which is entered once per run.
fn loop_heads(ops: &[Op]) -> Vec<bool> {
    let mut back_edges: Vec<(usize, usize)> = ops
        .iter()
        .enumerate()
        .filter_map(|(pc, &op)| {
            let t = emit_jmp::jump(op)?.t as usize;
            (t <= pc && t < ops.len()).then_some((t, pc))
        })
        .collect();
    back_edges.sort_unstable();
    let mut heads = vec![false; ops.len()];
    // The furthest op the back jumps to earlier heads come from.
    let mut reach: Option<usize> = None;
    for group in back_edges.chunk_by(|a, b| a.0 == b.0) {
        let t = group[0].0;
        if reach.is_none_or(|last| last < t) {
            heads[t] = true;
        }
        let last = group.iter().map(|&(_, pc)| pc).max();
        reach = reach.max(last);
    }
    heads
}

/// Multi-byte `nop`s up to the next 64-byte boundary, where a loop starts.
/// AMD's Zen cores fetch decoded instructions by 64-byte window: a small
/// loop that straddles a boundary takes two fetches per iteration (a
/// checksum loop ran twice as long), one inside a window a single one.
/// Only in the body that does not count the budget, the one made for
/// speed; the `nop`s run once per entry into the loop.
fn align_loop_head(e: &mut Emitter) {
    /// The recommended `nop` of each length up to 9 bytes.
    const NOPS: [&[u8]; 9] = [
        &[0x90],
        &[0x66, 0x90],
        &[0x0f, 0x1f, 0x00],
        &[0x0f, 0x1f, 0x40, 0x00],
        &[0x0f, 0x1f, 0x44, 0x00, 0x00],
        &[0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00],
        &[0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00],
        &[0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
        &[0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00],
    ];
    let mut pad = e.asm.offset().0.wrapping_neg() % 64;
    while pad > 0 {
        let n = pad.min(NOPS.len());
        e.asm.extend(NOPS[n - 1].iter().copied());
        pad -= n;
    }
}

/// `if c goto +1; goto t` as `if !c goto t`, when nothing else reaches
/// the `goto` (no jump or call lands on it). Only in a body that does not
/// count the budget (where the `goto` starts a group of its own): such a
/// body is entered only at the program's start (see `code`), so no
/// activation (a callback's) starts at the `goto` either.
fn fold(ops: &[Op], is_target: &[bool], pc: usize, jump: emit_jmp::Jump) -> Option<emit_jmp::Jump> {
    let next = pc + 1;
    if jump.t as usize != pc + 2 || is_target.get(next) != Some(&false) {
        return None;
    }
    match ops.get(next) {
        Some(&Op::Ja { t }) => jump.negated_to(t),
        _ => None,
    }
}

fn emit_stubs(e: &mut Emitter) {
    let mut stubs = std::mem::take(&mut e.stubs);
    let r = &e.routines;
    let (misaligned, budget, depth) = (r.misaligned, r.budget, r.depth);
    for stub in stubs.drain(..) {
        match stub {
            Stub::Translate {
                at,
                back,
                size,
                info,
            } => emit_mem::translate_stub(e, at, back, size, info),
            Stub::Misaligned { at, info } => x64!(e
                ; =>at
                ; mov Rq(R10), QWORD info as i64
                ; jmp =>misaligned
            ),
            Stub::Budget { at, op, n } => x64!(e
                ; =>at
                ; add r9, n as i32
                ; mov Rq(R11), QWORD op as i64
                ; mov Rq(R10), r9
                ; jmp =>budget
            ),
            Stub::Depth { at, op } => x64!(e
                ; =>at
                ; mov Rq(R11), QWORD op as i64
                ; jmp =>depth
            ),
            Stub::QuotientByZero { at, back } => x64!(e
                ; =>at
                ; mov rdx, rax
                ; xor eax, eax
                ; jmp =>back
            ),
            Stub::DivEdge {
                at,
                back,
                div,
                zero,
            } => {
                x64!(e; =>at);
                emit_alu::div_edge(e, div, zero);
                x64!(e; jmp =>back);
            }
        }
    }
    // Emptied, kept for the next compilation (see `Reused`).
    e.stubs = stubs;
}
