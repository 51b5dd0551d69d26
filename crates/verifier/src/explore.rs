//! The walk (`do_check`): every path through the program is followed
//! instruction by instruction from the start, one at a time, depth first;
//! a conditional jump whose outcome is open queues its taken side. Paths
//! end at the program's exit, or where a state already verified covers
//! them (pruning). The kernel's limits apply: 1,000,000 processed
//! instructions, 8,192 queued jumps, 8 call frames, 512 bytes of stack.

use std::cell::RefCell;

use apiary_isa::{CallTarget, Insn, LdImm64Kind, Size, Source};
use apiary_kernel::types::{MapType, ProgType};

use crate::call_maps::CallMaps;
use crate::cfg::{self, Cfg};
use crate::checkpoint::{At, Checkpoints, Site, Visit, infinite_loop, live_masks, visit};
use crate::error::{Rejection, Stats};
use crate::funcs::Funcs;
use crate::history::{self, Entry, Loc};
use crate::jump::{Outcome, cond_jump};
use crate::jump_sides::JumpSides;
use crate::liveness::{self, RegSet};
use crate::log::{Log, LogLevel};
use crate::mem::{self, Access};
use crate::program::Program;
use crate::proofs::{AccessProofs, Recorder};
use crate::regs::{RegState, RegType};
use crate::return_code::{check_async_return, check_callback_return, check_return_range};
use crate::stack::Stored;
use crate::state::{Frame, State};
use crate::{arith, call, precision};

/// The kernel's `BPF_COMPLEXITY_LIMIT_INSNS`.
pub const INSN_LIMIT: u64 = 1_000_000;
/// The kernel's `BPF_COMPLEXITY_LIMIT_JMP_SEQ`.
pub const JMP_SEQ_LIMIT: usize = 8192;

/// What the walk needs to know about the program.
pub(crate) struct Env<'p> {
    pub prog: &'p Program<'p>,
    pub cfg: Cfg,
    pub live: Vec<RegSet>,
    pub funcs: Funcs,
    /// A BTF-typed tracing program's context (`None` for other types).
    pub btf_ctx: Option<crate::btf_ctx::BtfCtx>,
    /// Scalars the instruction being checked used in a way that needs
    /// their exact value (see [`crate::precision`]).
    wants: RefCell<Vec<Loc>>,
}

impl Env<'_> {
    /// The instruction being checked relies on the value of register `r`
    /// of the innermost frame (`mark_chain_precision`); pointers need no
    /// precision.
    pub fn need_precise(&self, state: &State, r: u8) {
        if state.frame().regs[usize::from(r)].is_scalar() {
            self.wants.borrow_mut().push(Loc::Reg {
                frame: (state.frames.len() - 1) as u8,
                reg: r,
            });
        }
    }
}

/// Where an instruction sends the path.
enum Flow {
    Next(usize),
    /// A helper call that also runs a callback: the caller goes on at
    /// `next`, the callback's path starts at `target` with `state`.
    Callback {
        next: usize,
        target: usize,
        state: Box<State>,
    },
    Fork {
        fall: usize,
        taken: usize,
        state: Box<State>,
    },
    /// `may_goto`: the path goes on at `target`, the fall-through is
    /// queued one level deeper (see `may_goto`).
    MayGoto {
        target: usize,
        fall: usize,
    },
    /// An iterator's `next`: the path goes on at `next` with the iterator
    /// drained, and `active` (one iteration deeper) waits there too (see
    /// `iter`).
    IterNext {
        next: usize,
        active: Box<State>,
    },
    /// The path goes on at `next`; the same instruction is checked again
    /// in `state`, another case of its operands (see `sign_mask`).
    Again {
        next: usize,
        state: Box<State>,
    },
    Exit,
}

struct Path {
    state: State,
    pc: usize,
    checkpoint: Option<usize>,
    /// The instructions since `checkpoint`.
    hist: Vec<Entry>,
    /// How many instructions that was (for the run's bound).
    steps: u64,
}

/// Leaves a second path (a branch's other side, a callback's body) waiting
/// at `pc`, counted as one more branch of the checkpoint both came from;
/// more than [`JMP_SEQ_LIMIT`] waiting is refused, as the kernel's
/// `push_stack` does for both.
fn wait(
    queue: &mut Vec<Path>,
    cps: &mut Checkpoints,
    from: &Path,
    state: State,
    pc: usize,
    log: &mut Log,
) -> Result<(), Rejection> {
    cps.branch(from.checkpoint);
    log.queued(from.pc, pc);
    // Room for the instructions the path will add before its next
    // checkpoint, so that it does not grow one doubling at a time.
    let mut hist = Vec::with_capacity(from.hist.len() + 32);
    hist.extend_from_slice(&from.hist);
    queue.push(Path {
        state,
        pc,
        checkpoint: from.checkpoint,
        hist,
        steps: from.steps,
    });
    if queue.len() > JMP_SEQ_LIMIT {
        log.queue_full();
        return Err(Rejection::new(
            from.pc,
            format!("The sequence of {} jumps is too complex.", queue.len()),
        )
        .cause("too many branches are waiting to be verified at once")
        .help("reduce the number of conditions in a row, or split the program"));
    }
    Ok(())
}

/// A program the kernel would load: what the walk did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The statistics line's figures.
    pub stats: Stats,
    /// The deepest stack any path used, in bytes, over all frames.
    pub stack_depth: u32,
    /// Which memory accesses are in bounds on every run, and of what.
    pub proofs: AccessProofs,
    /// Which map each helper call is given in `r1` on every run.
    pub call_maps: CallMaps,
    /// Which conditional jumps go the same way on every run.
    pub jump_sides: JumpSides,
    /// The most instructions one run can execute (callees included), when
    /// the code or the walk bounds it: no callbacks, tail calls, `may_goto`
    /// or global functions, and no loops unless the walk followed them (see
    /// `run_bound`).
    pub run_bound: Option<u64>,
}

/// Verifies `prog` as the kernel would for a privileged loader.
pub fn verify(prog: &Program) -> Result<Accepted, Box<Rejection>> {
    verify_with_log(prog, LogLevel::Off).0
}

/// [`verify`], with the kernel-style log of the verification at `level`
/// (empty when [`LogLevel::Off`]).
pub fn verify_with_log(
    prog: &Program,
    level: LogLevel,
) -> (Result<Accepted, Box<Rejection>>, String) {
    let mut stats = Stats::default();
    let mut log = Log::new(level, prog);
    let result = walk(prog, &mut stats, &mut log);
    if let Err(r) = &result {
        log.rejected(r);
    }
    let result = result.map_err(|r| {
        let mut r = Box::new(r);
        r.source = prog.line_of(r.insn).cloned();
        crate::diagnostic::refine(&mut r, prog);
        r
    });
    (result, log.finish(&stats))
}

/// Checks the program's type and functions, walks the program, then each
/// global function it calls (`do_check_main`, `do_check_subprogs`), and
/// checks the call graph with the stack each function used.
fn walk(prog: &Program, stats: &mut Stats, log: &mut Log) -> Result<Accepted, Rejection> {
    crate::load_checks::check(prog)?;
    crate::kfunc::check(prog)?;
    let mut cfg = cfg::check(prog.insns)?;
    for insn in crate::kfunc::iter_next_calls(prog) {
        cfg.prune[insn] = true;
        cfg.iter_next[insn] = true;
    }
    let funcs = Funcs::new(prog, &cfg)?;
    let live = liveness::live_in(&cfg.insns);
    let env = Env {
        btf_ctx: crate::btf_ctx::BtfCtx::resolve(prog)?,
        prog,
        cfg,
        live,
        funcs,
        wants: RefCell::default(),
    };
    if let Some(ctx) = &env.btf_ctx {
        log.typed_ctx(ctx);
    }
    let mut recorder = Recorder::new(prog.insns.len(), prog.maps);
    let mut sides = JumpSides::new(prog.insns.len());
    let (mut stack_depth, longest) = explore(
        &env,
        State::entry(),
        0,
        stats,
        &mut recorder,
        &mut sides,
        log,
    )?;
    log.walked();
    // The walk of the program counted a global function's call as one
    // instruction: its bound holds only without them.
    let mut walked = Some(longest);
    while let Some((start, state)) = env.funcs.next_global() {
        walked = None;
        log.global_start(start);
        let walked_global = explore(&env, state, start, stats, &mut recorder, &mut sides, log)?;
        stack_depth = stack_depth.max(walked_global.0);
        log.walked();
        log.global_safe(start);
    }
    // The kernel checks the call graph before it walks anything.
    env.funcs
        .check_call_graph(&env)
        .inspect_err(|_| log.forget_walks())?;
    let (proofs, call_maps) = recorder.finish();
    Ok(Accepted {
        stats: *stats,
        stack_depth,
        proofs,
        call_maps,
        jump_sides: sides
            .finish(walked.is_some() && crate::run_bound::walk_is_whole(&env.cfg.insns)),
        run_bound: crate::run_bound::run_bound(&env.cfg.insns, walked),
    })
}

/// Follows every path from `state` at `start`, telling `recorder` what each
/// memory access met and `sides` which way each conditional jump went;
/// returns the deepest stack any used and the most instructions a run
/// from `start` executes (see `run_bound`).
fn explore(
    env: &Env,
    state: State,
    start: usize,
    stats: &mut Stats,
    recorder: &mut Recorder,
    sides: &mut JumpSides,
    log: &mut Log,
) -> Result<(u32, u64), Rejection> {
    let mut cps = Checkpoints::new(env.cfg.insns.len());
    let mut queue = vec![Path {
        state,
        pc: start,
        checkpoint: None,
        hist: Vec::new(),
        steps: 0,
    }];
    let mut stack_depth = 0u32;
    while let Some(mut path) = queue.pop() {
        log.path();
        loop {
            stats.insns_processed += 1;
            if stats.insns_processed > INSN_LIMIT {
                return Err(Rejection::new(
                    path.pc,
                    format!(
                        "BPF program is too large. Processed {} insn",
                        stats.insns_processed
                    ),
                )
                .cause("verifying every path would take more than 1,000,000 instructions")
                .help("bound loops more tightly, or split the program with tail calls"));
            }
            if env.cfg.prune[path.pc] {
                let masks = live_masks(env, &path.state, path.pc);
                let live = &masks[..path.state.frames.len()];
                let at = At {
                    state: &path.state,
                    pc: path.pc,
                    checkpoint: path.checkpoint,
                    hist: &mut path.hist,
                    steps: path.steps,
                };
                let site = match &env.cfg.insns[path.pc] {
                    Some(Insn::MayGoto { .. }) => Site::MayGoto,
                    _ if env.cfg.iter_next[path.pc] => Site::IterNext,
                    Some(i) if crate::callbacks::calls_callback(i) => Site::CallsCallback,
                    _ => Site::Plain,
                };
                match visit(&mut cps, at, live, stats, site)? {
                    Visit::Pruned(old) => {
                        log.pruned(path.pc);
                        // The path's safety now rests on what the old state
                        // needed precisely (`propagate_precision`).
                        let c = &cps.all[old];
                        let wants = precision::inherited(&c.state, &c.precise, live);
                        let frame = (path.state.frames.len() - 1) as u8;
                        let insns = &env.cfg.insns;
                        precision::mark(
                            &mut cps,
                            insns,
                            &path.hist,
                            path.checkpoint,
                            frame,
                            &wants,
                        );
                        // Runs covered by the old state go on as its runs do.
                        let tail = path.steps.saturating_add(cps.longest.from(old));
                        cps.finish(path.checkpoint, tail);
                        break;
                    }
                    Visit::Looping(old) => {
                        let c = &cps.all[old];
                        log.looping(&path.state, &c.state, &c.precise);
                        return Err(infinite_loop(path.pc));
                    }
                    Visit::Saved(cp) => {
                        path.checkpoint = Some(cp);
                        path.steps = 0;
                    }
                    Visit::Continue => {}
                }
            }
            let insn = env.cfg.insns[path.pc];
            if matches!(
                insn,
                Some(
                    Insn::Jump { .. }
                        | Insn::Ja { .. }
                        | Insn::Ja32 { .. }
                        | Insn::MayGoto { .. }
                        | Insn::Call(_)
                        | Insn::Exit
                )
            ) {
                cps.jumps += 1;
            }
            let depth: i32 = path.state.frames.iter().map(|f| f.stack.depth()).sum();
            stack_depth = stack_depth.max(depth as u32);
            env.funcs
                .note_depth(path.pc, path.state.frame().stack.depth());
            if let Some(insn) = &insn {
                recorder.visit(&path.state, path.pc, insn);
            }
            let entry = insn.map(|i| history::entry(&i, &path.state, path.pc));
            let frame = (path.state.frames.len() - 1) as u8;
            log.insn(&path.state, path.pc);
            let numbers = insn.is_some_and(|i| compares_numbers(&path.state, &i));
            let mut flow = step(env, &mut path.state, path.pc)?;
            if matches!(flow, Flow::Next(_))
                && insn == Some(Insn::Call(CallTarget::Helper(crate::callbacks::LOOP)))
            {
                // A `bpf_loop` call that queues no iteration: its count ran out.
                log.loop_limit(usize::from(frame));
            }
            if let Some(Insn::Jump { .. }) = insn {
                match flow {
                    Flow::Next(to) if numbers => sides.went(path.pc, path.pc + 1, to),
                    _ => sides.both(path.pc),
                }
            }
            let mut ended = false;
            if let Flow::Exit = flow {
                let from_callback = path.state.frame().callback;
                match return_from(env, &mut path.state, path.pc)? {
                    Some(pc) => {
                        if from_callback {
                            // Back at the helper's call for the next
                            // iteration: what changed since the last one
                            // and mattered to nothing is forgotten.
                            let prev = cps.last_visit(path.checkpoint, &path.state, pc);
                            if let Some(prev) = prev {
                                let c = &cps.all[prev];
                                crate::may_goto::widen(&c.state, &c.precise, &mut path.state);
                            }
                        }
                        flow = Flow::Next(pc);
                    }
                    None => ended = true,
                }
            }
            log.after(&path.state, path.pc);
            // Taken out and put back emptied, so that its buffer is reused.
            let mut wants = std::mem::take(&mut *env.wants.borrow_mut());
            precision::mark(
                &mut cps,
                &env.cfg.insns,
                &path.hist,
                path.checkpoint,
                frame,
                &wants,
            );
            wants.clear();
            *env.wants.borrow_mut() = wants;
            if let Flow::Again { next, state } = flow {
                // Queued before the instruction joins the history: the
                // other case checks it from its start.
                wait(&mut queue, &mut cps, &path, *state, path.pc, log)?;
                flow = Flow::Next(next);
            }
            path.hist.extend(entry);
            path.steps += 1;
            if ended {
                cps.finish(path.checkpoint, path.steps);
                break;
            }
            match flow {
                Flow::Next(pc) => path.pc = pc,
                Flow::Fork { fall, taken, state } => {
                    wait(&mut queue, &mut cps, &path, *state, taken, log)?;
                    path.pc = fall;
                }
                Flow::Callback {
                    next,
                    target,
                    state,
                } => {
                    wait(&mut queue, &mut cps, &path, *state, target, log)?;
                    path.pc = next;
                }
                Flow::MayGoto { target, fall } => {
                    let mut deeper = path.state.clone();
                    deeper.may_goto_depth += 1;
                    widen_since_last_visit(&cps, &path, &mut deeper);
                    wait(&mut queue, &mut cps, &path, deeper, fall, log)?;
                    path.pc = target;
                }
                Flow::IterNext { next, active } => {
                    let mut active = *active;
                    widen_since_last_visit(&cps, &path, &mut active);
                    wait(&mut queue, &mut cps, &path, active, next, log)?;
                    path.pc = next;
                }
                Flow::Exit | Flow::Again { .. } => unreachable!("handled above"),
            }
        }
    }
    Ok((stack_depth, cps.longest.bound()))
}

/// Forgets in `next`, the state a loop's next round starts in, the
/// imprecise scalars that changed since the path's previous visit of its
/// instruction (`widen_imprecise_scalars` against `find_prev_entry`).
fn widen_since_last_visit(cps: &Checkpoints, path: &Path, next: &mut State) {
    let prev = path.checkpoint.and_then(|cp| cps.prev_entry(cp, path.pc));
    if let Some(prev) = prev {
        let c = &cps.all[prev];
        crate::may_goto::widen(&c.state, &c.precise, next);
    }
}

/// Whether `insn` is a conditional jump on numbers only: pointers compare
/// by addresses the embedder chose (a packet's `data_end` below `data`,
/// in a run on plain memory), which the walk's decisions do not cover.
fn compares_numbers(state: &State, insn: &Insn) -> bool {
    let scalar = |r: apiary_isa::Reg| state.frame().regs[r.index() as usize].is_scalar();
    match *insn {
        Insn::Jump { dst, src, .. } => {
            scalar(dst)
                && match src {
                    Source::Reg(s) => scalar(s),
                    Source::Imm(_) => true,
                }
        }
        _ => false,
    }
}

/// Reads register `r` as an operand (`check_reg_arg(SRC_OP)`).
fn read(state: &State, insn: usize, r: apiary_isa::Reg) -> Result<RegState, Rejection> {
    let reg = state.frame().regs[r.index() as usize];
    if reg.kind == RegType::NotInit {
        return Err(Rejection::new(insn, format!("R{} !read_ok", r.index()))
            .cause(format!(
                "r{} is read before anything is written to it",
                r.index()
            ))
            .help(format!(
                "set r{} on every path that reaches this instruction",
                r.index()
            )));
    }
    Ok(reg)
}

fn write_fp(insn: usize, r: apiary_isa::Reg) -> Result<(), Rejection> {
    if r.index() == 10 {
        return Err(Rejection::new(insn, "frame pointer is read only")
            .cause("r10, the frame pointer, cannot be written"));
    }
    Ok(())
}

/// Executes the instruction at `pc` on `state`.
fn step(env: &Env, state: &mut State, pc: usize) -> Result<Flow, Rejection> {
    // Most programs have no such instruction: skip hashing the slot.
    if !env.cfg.invalid.is_empty()
        && let Some(refusal) = env.cfg.invalid.get(&pc)
    {
        return Err(refusal.clone());
    }
    let Some(insn) = env.cfg.insns[pc] else {
        unreachable!("the walk only reaches decoded instructions");
    };
    let next = pc + insn.slots();
    let target = |rel: i64| (pc as i64 + rel + 1) as usize;
    match insn {
        Insn::Alu { dst, src, op, .. } => {
            if op != apiary_isa::AluOp::Mov {
                read(state, pc, dst)?;
            }
            if let Source::Reg(s) = src {
                read(state, pc, s)?;
                link_copy(state, insn, s);
                // The number added to (or taken from) a pointer must be
                // the one the walk assumed (`adjust_reg_min_max_vals`).
                // (A copy, by contrast, forgets the destination's old value.)
                let regs = &state.frame().regs;
                let (d, v) = (regs[dst.index() as usize], regs[s.index() as usize]);
                let arithmetic = op != apiary_isa::AluOp::Mov;
                if arithmetic && d.kind.is_pointer() && v.is_scalar() {
                    env.need_precise(state, s.index());
                } else if arithmetic && d.is_scalar() && v.kind.is_pointer() {
                    env.need_precise(state, dst.index());
                }
            }
            write_fp(pc, dst)?;
            let zero = crate::sign_mask::split(state, &insn);
            let (regs, next_id) = state.regs_and_ids();
            arith::execute(pc, &insn, regs, next_id)?;
            if let Some(zero) = zero {
                return Ok(Flow::Again {
                    next,
                    state: Box::new(zero),
                });
            }
        }
        Insn::Neg { dst, .. } | Insn::Endian { dst, .. } => {
            read(state, pc, dst)?;
            write_fp(pc, dst)?;
            let (regs, next_id) = state.regs_and_ids();
            arith::execute(pc, &insn, regs, next_id)?;
        }
        Insn::MovSx { dst, src, from, .. } => {
            read(state, pc, src)?;
            write_fp(pc, dst)?;
            // A number below the narrow type's sign bit is copied as it is:
            // the copy stays linked to its source, as a plain copy does.
            let s = &state.frame().regs[src.index() as usize];
            let unchanged = s.is_scalar() && s.value.umax < 1 << (from.bytes() * 8 - 1);
            if unchanged {
                link_copy(state, insn, src);
            }
            let (regs, next_id) = state.regs_and_ids();
            arith::execute(pc, &insn, regs, next_id)?;
            if unchanged {
                let id = state.frame().regs[src.index() as usize].id;
                state.frame_mut().regs[dst.index() as usize].id = id;
            }
        }
        Insn::AddrSpaceCast { .. } => {
            return Err(Rejection::new(
                pc,
                "addr_space_cast insn can only be used in a program that has an associated arena",
            ));
        }
        Insn::Load {
            size,
            sign_extend,
            dst,
            src,
            off,
        } => load(env, state, pc, size, sign_extend, dst, src, off)?,
        Insn::LoadAcquire {
            size,
            dst,
            src,
            off,
        } => load(env, state, pc, size, false, dst, src, off)?,
        Insn::Store {
            size,
            dst,
            off,
            src,
        } => {
            read(state, pc, dst)?;
            let stored = match src {
                Source::Reg(s) => {
                    let mut value = read(state, pc, s)?;
                    let target = state.frame().regs[dst.index() as usize];
                    let aligned = (target.off + i32::from(off)) % 8 == 0;
                    if target.kind == RegType::Stack && value.is_null() && !aligned {
                        // Zero bytes on the stack read back as the number 0
                        // without history: the stored 0 must stay 0.
                        env.need_precise(state, s.index());
                    }
                    let fits = 64 - value.value.umax.leading_zeros() <= 8 * size.bytes() as u32;
                    if target.kind == RegType::Stack
                        && target.value.is_const()
                        && aligned
                        && fits
                        && value.is_scalar()
                        && value.id == 0
                        && !value.value.is_const()
                    {
                        // A spill to a stack slot stays linked to the
                        // register when the value fits the store
                        // (`check_stack_write_fixed_off`'s
                        // `assign_scalar_id_before_mov`: a constant needs no
                        // link and takes no id, nor does a store elsewhere).
                        value.id = state.new_id();
                        state.frame_mut().regs[s.index() as usize].id = value.id;
                    }
                    Stored::Reg(value)
                }
                Source::Imm(imm) => Stored::Imm(imm.into()),
            };
            mem::access(
                env,
                state,
                pc,
                dst.index(),
                off,
                size,
                Access::Write(stored),
            )?;
        }
        Insn::Atomic {
            size,
            dst,
            src,
            off,
            op,
        } => {
            read(state, pc, dst)?;
            read(state, pc, src)?;
            if op == apiary_isa::AtomicOp::CmpXchg {
                read(state, pc, apiary_isa::Reg::R0)?;
            }
            let old = mem::access(env, state, pc, dst.index(), off, size, Access::Atomic)?;
            let fetched = if size == Size::W {
                mem::narrow(old, 4, false)
            } else {
                old
            };
            match op {
                apiary_isa::AtomicOp::CmpXchg => state.frame_mut().regs[0] = fetched,
                apiary_isa::AtomicOp::Xchg
                | apiary_isa::AtomicOp::Add { fetch: true }
                | apiary_isa::AtomicOp::Or { fetch: true }
                | apiary_isa::AtomicOp::And { fetch: true }
                | apiary_isa::AtomicOp::Xor { fetch: true } => {
                    state.frame_mut().regs[src.index() as usize] = fetched;
                }
                _ => {}
            }
        }
        Insn::StoreRelease {
            size,
            dst,
            src,
            off,
        } => {
            let target = read(state, pc, dst)?;
            mem::atomic_store_target(pc, dst.index(), &target)?;
            let value = read(state, pc, src)?;
            mem::access(
                env,
                state,
                pc,
                dst.index(),
                off,
                size,
                Access::Write(Stored::Reg(value)),
            )?;
        }
        Insn::LoadImm64 { dst, kind, imm } => {
            write_fp(pc, dst)?;
            let reg = load_imm64(env, pc, kind, imm)?;
            state.frame_mut().regs[dst.index() as usize] = reg;
        }
        Insn::LoadPacket { mode, src, .. } => {
            legacy_packet_load(env, state, pc, mode, src)?;
        }
        Insn::Jump {
            width,
            cond,
            dst,
            src,
            off,
        } => {
            read(state, pc, dst)?;
            if let Source::Reg(s) = src {
                read(state, pc, s)?;
            }
            let outcome = cond_jump(pc, state, width, cond, dst.index(), src, env.prog.maps);
            if matches!(outcome, Outcome::Taken | Outcome::NotTaken) {
                // A decided branch explored one side only: the compared
                // numbers decided it (`is_branch_taken`).
                env.need_precise(state, dst.index());
                if let Source::Reg(s) = src {
                    env.need_precise(state, s.index());
                }
            }
            return Ok(match outcome {
                Outcome::Taken => Flow::Next(target(off.into())),
                Outcome::NotTaken => Flow::Next(next),
                Outcome::Both(taken) => Flow::Fork {
                    fall: next,
                    taken: target(off.into()),
                    state: taken,
                },
            });
        }
        Insn::Ja { off } => return Ok(Flow::Next(target(off.into()))),
        Insn::Ja32 { imm } => return Ok(Flow::Next(target(imm.into()))),
        Insn::MayGoto { off } => {
            return Ok(Flow::MayGoto {
                target: target(off.into()),
                fall: next,
            });
        }
        Insn::Call(CallTarget::Helper(id)) => {
            crate::spin_lock::check_call(state, pc, id)?;
            if let Some(callback) = call::helper(env, state, pc, id)? {
                return Ok(Flow::Callback {
                    next,
                    target: callback.target,
                    state: callback.state,
                });
            }
        }
        Insn::Call(CallTarget::Local(imm)) => {
            if env.funcs.global_call(env, state, pc, target(imm.into()))? {
                return Ok(Flow::Next(next));
            }
            return enter(state, pc, target(imm.into()));
        }
        Insn::Call(CallTarget::Kfunc { btf_id, module }) => {
            crate::spin_lock::check_call(state, pc, -1)?;
            let kfunc = crate::kfunc::supported(env.prog, pc, btf_id, module)?;
            if let Some(active) = crate::iter::call(state, pc, kfunc)? {
                return Ok(Flow::IterNext { next, active });
            }
        }
        Insn::Callx { .. } => {
            return Err(Rejection::new(pc, format!("unknown opcode {:02x}", 0x8d)));
        }
        Insn::Exit => return Ok(Flow::Exit),
    }
    Ok(Flow::Next(next))
}

/// `dst = *(size *)(src + off)`.
#[allow(clippy::too_many_arguments)]
fn load(
    env: &Env,
    state: &mut State,
    pc: usize,
    size: Size,
    sign_extend: bool,
    dst: apiary_isa::Reg,
    src: apiary_isa::Reg,
    off: i16,
) -> Result<(), Rejection> {
    read(state, pc, src)?;
    write_fp(pc, dst)?;
    let access = Access::Read { sign_extend };
    let value = mem::access(env, state, pc, src.index(), off, size, access)?;
    state.frame_mut().regs[dst.index() as usize] = value;
    Ok(())
}

/// A 64-bit register copy of a scalar (or a sign extension that changes
/// nothing) links the two, so that a comparison
/// of one refines the other (`assign_scalar_id_before_mov`).
fn link_copy(state: &mut State, insn: Insn, src: apiary_isa::Reg) {
    let is_copy = matches!(
        insn,
        Insn::Alu {
            width: apiary_isa::Width::W64,
            op: apiary_isa::AluOp::Mov,
            ..
        } | Insn::MovSx { .. }
    );
    let regs = &state.frame().regs;
    let s = src.index() as usize;
    if is_copy && regs[s].is_scalar() && regs[s].id == 0 && !regs[s].value.is_const() {
        let id = state.new_id();
        state.frame_mut().regs[s].id = id;
    }
}

fn load_imm64(env: &Env, pc: usize, kind: LdImm64Kind, imm: u64) -> Result<RegState, Rejection> {
    let maps = env.prog.maps;
    let by_index = matches!(kind, LdImm64Kind::MapIdx | LdImm64Kind::MapIdxValue);
    let map_index = |index: u64| -> Result<u32, Rejection> {
        let index = index as u32;
        if (index as usize) < maps.len() {
            Ok(index)
        } else if by_index && maps.is_empty() {
            // A program given no maps is loaded without an `fd_array`.
            Err(
                Rejection::new(pc, "fd_idx without fd_array is invalid").cause(format!(
                    "the program refers to map index {index} but was given no maps"
                )),
            )
        } else {
            Err(Rejection::new(
                pc,
                format!("fd {} is not pointing to valid bpf_map", index as i32),
            )
            .cause(format!(
                "the program refers to map {index}, which it was not given"
            )))
        }
    };
    Ok(match kind {
        LdImm64Kind::Imm => RegState::scalar(crate::scalar::Scalar::constant(imm)),
        LdImm64Kind::MapFd | LdImm64Kind::MapIdx => RegState {
            map: map_index(imm & 0xffff_ffff)?,
            ..RegState::pointer(RegType::MapPtr)
        },
        LdImm64Kind::MapValue | LdImm64Kind::MapIdxValue => {
            let map = map_index(imm & 0xffff_ffff)?;
            let off = (imm >> 32) as u32;
            let info = &maps[map as usize];
            let size = info.value_size;
            // Only arrays give their value's address (`map_direct_value_addr`),
            // and only single-entry ones succeed.
            if info.map_type != MapType::ARRAY {
                return Err(Rejection::new(
                    pc,
                    "no direct value access support for this map type",
                )
                .cause(format!(
                    "the address of a value can only be taken in an array map, not a {} map",
                    info.map_type
                )));
            }
            if off >= size || info.max_entries != 1 {
                return Err(Rejection::new(
                    pc,
                    format!("invalid access to map value pointer, value_size={size} off={off}"),
                ));
            }
            RegState {
                map,
                off: off as i32,
                ..RegState::pointer(RegType::MapValue)
            }
        }
        LdImm64Kind::Func => {
            let subprog = (pc as i64 + 1 + i64::from(imm as u32 as i32)) as u32;
            env.funcs.callback_ref(pc, subprog as usize)?;
            RegState {
                subprog,
                ..RegState::pointer(RegType::Func)
            }
        }
        LdImm64Kind::BtfId => RegState::pointer(RegType::BtfId),
    })
}

/// `LD_ABS`/`LD_IND` (`check_ld_abs`): only for socket filters and tc, with
/// the context in `r6`; `r1`-`r5` are clobbered, `r0` gets the loaded value.
fn legacy_packet_load(
    env: &Env,
    state: &mut State,
    pc: usize,
    mode: apiary_isa::PacketMode,
    src: apiary_isa::Reg,
) -> Result<(), Rejection> {
    if !matches!(
        env.prog.prog_type,
        ProgType::SOCKET_FILTER | ProgType::SCHED_CLS | ProgType::SCHED_ACT
    ) {
        return Err(Rejection::new(
            pc,
            "BPF_LD_[ABS|IND] instructions not allowed for this program type",
        ));
    }
    let r6 = read(state, pc, apiary_isa::Reg::R6)?;
    if r6.kind != RegType::Ctx {
        return Err(
            Rejection::new(pc, "at the time of BPF_LD_ABS|IND R6 != pointer to skb").reg(6, r6),
        );
    }
    if mode == apiary_isa::PacketMode::Ind {
        read(state, pc, src)?;
    }
    let regs = &mut state.frame_mut().regs;
    for r in &mut regs[1..=5] {
        *r = RegState::NOT_INIT;
    }
    regs[0] = RegState::unknown();
    Ok(())
}

/// A call to the local function at `target`: a new frame with the
/// arguments, the caller's stack kept (`check_func_call`).
fn enter(state: &mut State, pc: usize, target: usize) -> Result<Flow, Rejection> {
    state.room_for_a_frame(pc)?;
    let frameno = state.frames.len() as u8;
    let mut frame = Frame::new(frameno, Some(pc));
    let caller = state.frame_mut();
    frame.regs[1..=5].copy_from_slice(&caller.regs[1..=5]);
    for r in &mut caller.regs[0..=5] {
        *r = RegState::NOT_INIT;
    }
    state.frames.push(frame);
    Ok(Flow::Next(target))
}

/// `exit`: a callee returns `r0` to its caller (`prepare_func_exit`), the
/// program's own exit checks `r0` and the references still held.
fn return_from(env: &Env, state: &mut State, pc: usize) -> Result<Option<usize>, Rejection> {
    // A callee's `r0` goes back as it is, even unset (`prepare_func_exit`);
    // only the first frame's exit reads it.
    let r0 = state.frame().regs[0];
    if state.frames.len() > 1 && r0.kind == RegType::Stack {
        // Even a pointer into a caller's stack, which stays valid: the
        // kernel is conservative here.
        return Err(
            Rejection::new(pc, "cannot return stack pointer to the caller")
                .reg(0, r0)
                .cause("a function returns a pointer into a stack")
                .help("return a number, and pass results back through a pointer argument"),
        );
    }
    if state.frame().callback {
        env.need_precise(state, 0);
        check_callback_return(pc, &r0)?;
        // Back to the call itself, which may call the callback again; the
        // caller's `r0` is the helper's to set.
        let callee = state.frames.pop().expect("a callback has a caller");
        return Ok(callee.callsite);
    }
    if state.frames.len() > 1 {
        // The stack the frames use together is checked on the call graph
        // after the walk (`Funcs::check_call_graph`).
        let callee = state.frames.pop().expect("more than one frame");
        state.frame_mut().regs[0] = r0;
        return Ok(callee.callsite.map(|c| c + 1));
    }
    crate::spin_lock::check_exit(state, pc, "BPF_EXIT instruction in main prog")?;
    state.check_leak(pc, "BPF_EXIT instruction in main prog")?;
    let r0 = read(state, pc, apiary_isa::Reg::R0)?;
    if state.frame().async_cb {
        env.need_precise(state, 0);
        return check_async_return(pc, &r0).map(|()| None);
    }
    if env.funcs.in_global() {
        if !r0.is_scalar() {
            return Err(Rejection::new(
                pc,
                format!(
                    "At subprogram exit the register R0 is not a scalar value ({})",
                    r0.type_name()
                ),
            )
            .reg(0, r0)
            .cause("a global function returns a number"));
        }
        return Ok(None);
    }
    check_return_range(env, state, pc, &r0)?;
    Ok(None)
}
