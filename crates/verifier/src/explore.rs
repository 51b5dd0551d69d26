//! The walk (`do_check`): every path through the program is followed
//! instruction by instruction from the start, one at a time, depth first;
//! a conditional jump whose outcome is open queues its taken side. Paths
//! end at the program's exit, or where a state already verified covers
//! them (pruning). The kernel's limits apply: 1,000,000 processed
//! instructions, 8,192 queued jumps, 8 call frames, 512 bytes of stack.

use std::collections::HashMap;

use apiary_isa::{CallTarget, Insn, LdImm64Kind, Size, Source};
use apiary_kernel::types::{AttachType, MapType, ProgType};

use crate::cfg::{self, Cfg};
use crate::error::{Rejection, Stats};
use crate::jump::{Outcome, cond_jump};
use crate::liveness::{self, RegSet};
use crate::mem::{self, Access};
use crate::program::Program;
use crate::prune;
use crate::regs::{RegState, RegType};
use crate::stack::{MAX_STACK, Stored};
use crate::state::{Frame, MAX_CALL_FRAMES, State};
use crate::{arith, call};

/// The kernel's `BPF_COMPLEXITY_LIMIT_INSNS`.
pub const INSN_LIMIT: u64 = 1_000_000;
/// The kernel's `BPF_COMPLEXITY_LIMIT_JMP_SEQ`.
pub const JMP_SEQ_LIMIT: usize = 8192;

/// What the walk needs to know about the program.
pub(crate) struct Env<'p> {
    pub prog: &'p Program<'p>,
    pub cfg: Cfg,
    pub live: Vec<RegSet>,
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
    Exit,
}

/// A saved state at a prune point, with the number of paths from it still
/// being explored (`branches`): it can prune others once that is 0.
struct Checkpoint {
    state: State,
    pc: usize,
    parent: Option<usize>,
    branches: u32,
    hits: u32,
    misses: u32,
}

/// The saved states, by instruction: the finished ones (which may prune),
/// and the unfinished ones by a fingerprint of their registers (which may
/// only reveal a loop that repeats itself exactly).
#[derive(Default)]
struct Checkpoints {
    all: Vec<Checkpoint>,
    finished: HashMap<usize, Vec<usize>>,
    open: HashMap<(usize, u64), Vec<usize>>,
    open_count: HashMap<usize, u32>,
    jumps: u64,
    last_jumps: u64,
    last_insns: u64,
}

impl Checkpoints {
    /// A path from `cp` ended: it and its ancestors may be finished.
    fn finish(&mut self, mut cp: Option<usize>) {
        while let Some(i) = cp {
            let c = &mut self.all[i];
            c.branches -= 1;
            if c.branches > 0 {
                break;
            }
            self.finished.entry(c.pc).or_default().push(i);
            if let Some(n) = self.open_count.get_mut(&c.pc) {
                *n -= 1;
            }
            cp = c.parent;
        }
    }
}

/// A hash of what the innermost frame's live registers hold, ids aside:
/// states that repeat exactly have the same one.
fn fingerprint(state: &State, live: RegSet) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    state.frames.len().hash(&mut h);
    for (r, reg) in state.frame().regs.iter().enumerate() {
        if live & (1 << r) != 0 {
            (
                reg.kind,
                reg.maybe_null,
                reg.value,
                reg.off,
                reg.range,
                reg.map,
            )
                .hash(&mut h);
        }
    }
    h.finish()
}

struct Path {
    state: State,
    pc: usize,
    checkpoint: Option<usize>,
}

/// Leaves a second path (a branch's other side, a callback's body) waiting
/// at `pc`, counted as one more branch of the checkpoint both came from.
fn wait(
    queue: &mut Vec<Path>,
    cps: &mut Checkpoints,
    checkpoint: Option<usize>,
    state: State,
    pc: usize,
) {
    if let Some(cp) = checkpoint {
        cps.all[cp].branches += 1;
    }
    queue.push(Path {
        state,
        pc,
        checkpoint,
    });
}

/// A program the kernel would load: what the walk did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The statistics line's figures.
    pub stats: Stats,
    /// The deepest stack any path used, in bytes, over all frames.
    pub stack_depth: u32,
}

/// Verifies `prog` as the kernel would for a privileged loader.
pub fn verify(prog: &Program) -> Result<Accepted, Box<Rejection>> {
    let mut stats = Stats::default();
    let result = walk(prog, &mut stats);
    result.map_err(|r| {
        let mut r = Box::new(r);
        r.source = prog.line_of(r.insn).cloned();
        crate::diagnostic::refine(&mut r, prog);
        r
    })
}

fn walk(prog: &Program, stats: &mut Stats) -> Result<Accepted, Rejection> {
    let cfg = cfg::check(prog.insns)?;
    let live = liveness::live_in(&cfg.insns);
    let env = Env { prog, cfg, live };
    let mut cps = Checkpoints::default();
    let mut queue = vec![Path {
        state: State::entry(),
        pc: 0,
        checkpoint: None,
    }];
    let mut stack_depth = 0u32;
    while let Some(mut path) = queue.pop() {
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
            if is_prune_point(&env, path.pc) {
                match visit(&env, &mut cps, &path, stats)? {
                    Visit::Pruned => {
                        cps.finish(path.checkpoint);
                        break;
                    }
                    Visit::Saved(cp) => path.checkpoint = Some(cp),
                    Visit::Continue => {}
                }
            }
            if matches!(
                env.cfg.insns[path.pc],
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
            match step(&env, &mut path.state, path.pc)? {
                Flow::Next(pc) => path.pc = pc,
                Flow::Fork { fall, taken, state } => {
                    wait(&mut queue, &mut cps, path.checkpoint, *state, taken);
                    if queue.len() > JMP_SEQ_LIMIT {
                        return Err(Rejection::new(
                            path.pc,
                            format!("The sequence of {} jumps is too complex.", queue.len()),
                        )
                        .cause("too many branches are waiting to be verified at once")
                        .help("reduce the number of conditions in a row, or split the program"));
                    }
                    path.pc = fall;
                }
                Flow::Callback {
                    next,
                    target,
                    state,
                } => {
                    wait(&mut queue, &mut cps, path.checkpoint, *state, target);
                    path.pc = next;
                }
                Flow::Exit => match return_from(&env, &mut path.state, path.pc)? {
                    Some(pc) => path.pc = pc,
                    None => {
                        cps.finish(path.checkpoint);
                        break;
                    }
                },
            }
        }
    }
    Ok(Accepted {
        stats: *stats,
        stack_depth,
    })
}

/// Where states are saved and compared (`is_prune_point`).
fn is_prune_point(env: &Env, pc: usize) -> bool {
    env.cfg.prune[pc]
}

enum Visit {
    Pruned,
    Saved(usize),
    Continue,
}

/// The live registers of each frame of `state` at `pc`.
fn live_masks(env: &Env, state: &State, pc: usize) -> Vec<RegSet> {
    let n = state.frames.len();
    (0..n)
        .map(|k| {
            if k + 1 == n {
                env.live[pc]
            } else {
                // A caller's registers after the return: r0-r5 are rewritten.
                let ret = state.frames[k + 1].callsite.map_or(pc, |c| c + 1);
                env.live.get(ret).copied().unwrap_or(RegSet::MAX) & !0b11_1111
            }
        })
        .collect()
}

/// Compares the path with the states saved at its instruction: prunes it
/// when a finished one covers it, refuses an exact repeat of an unfinished
/// one (a loop that cannot end), and saves it when enough happened since
/// the last save (`is_state_visited`: at least 2 jumps and 8 instructions,
/// 20 jumps or 100 instructions inside a loop). Finished states that keep
/// failing to prune are dropped.
fn visit(
    env: &Env,
    cps: &mut Checkpoints,
    path: &Path,
    stats: &mut Stats,
) -> Result<Visit, Rejection> {
    let live = live_masks(env, &path.state, path.pc);
    let print = fingerprint(&path.state, live.last().copied().unwrap_or(RegSet::MAX));
    for &cp in cps.open.get(&(path.pc, print)).into_iter().flatten() {
        let old = &cps.all[cp];
        if old.branches > 0
            && prune::covers(&old.state, &path.state, &live)
            && prune::covers(&path.state, &old.state, &live)
        {
            return Err(Rejection::new(
                path.pc,
                format!("infinite loop detected at insn {}", path.pc),
            )
            .cause("the loop comes back to this instruction in the same state, so it never ends")
            .help("make sure the loop variable changes on every iteration and is bounded"));
        }
    }
    let finished = cps.finished.entry(path.pc).or_default();
    let mut pruned = false;
    let all = &mut cps.all;
    finished.retain(|&cp| {
        let old = &mut all[cp];
        if pruned {
            return true;
        }
        if prune::covers(&old.state, &path.state, &live) {
            old.hits += 1;
            pruned = true;
            return true;
        }
        old.misses += 1;
        old.misses <= old.hits * 3 + 3
    });
    if pruned {
        return Ok(Visit::Pruned);
    }
    let open = cps.open_count.get(&path.pc).copied().unwrap_or(0);
    let (jumps, insns) = (
        cps.jumps - cps.last_jumps,
        stats.insns_processed - cps.last_insns,
    );
    let add = if open > 0 {
        jumps >= 20 || insns >= 100
    } else {
        jumps >= 2 && insns >= 8
    };
    if !add {
        return Ok(Visit::Continue);
    }
    cps.last_jumps = cps.jumps;
    cps.last_insns = stats.insns_processed;
    let cp = cps.all.len();
    cps.all.push(Checkpoint {
        state: path.state.clone(),
        pc: path.pc,
        parent: path.checkpoint,
        branches: 1,
        hits: 0,
        misses: 0,
    });
    cps.open.entry((path.pc, print)).or_default().push(cp);
    *cps.open_count.entry(path.pc).or_default() += 1;
    stats.total_states += 1;
    stats.peak_states = stats.peak_states.max(stats.total_states);
    let here = cps.finished.get(&path.pc).map_or(0, Vec::len) as u32 + open + 1;
    stats.max_states_per_insn = stats.max_states_per_insn.max(here);
    Ok(Visit::Saved(cp))
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
    if let Some(refusal) = env.cfg.invalid.get(&pc) {
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
            }
            write_fp(pc, dst)?;
            let (regs, next_id) = state.regs_and_ids();
            arith::execute(pc, &insn, regs, next_id)?;
        }
        Insn::Neg { dst, .. } | Insn::Endian { dst, .. } => {
            read(state, pc, dst)?;
            write_fp(pc, dst)?;
            let (regs, next_id) = state.regs_and_ids();
            arith::execute(pc, &insn, regs, next_id)?;
        }
        Insn::MovSx { dst, src, .. } => {
            read(state, pc, src)?;
            write_fp(pc, dst)?;
            let (regs, next_id) = state.regs_and_ids();
            arith::execute(pc, &insn, regs, next_id)?;
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
                    if value.is_scalar() && value.id == 0 && size == Size::DW {
                        // A spilled copy stays linked to the register.
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
                let mut v = old.value;
                v.coerce_to_size(4);
                RegState::scalar(v)
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
            return Ok(match cond_jump(pc, state, width, cond, dst.index(), src) {
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
            return Ok(Flow::Fork {
                fall: next,
                taken: target(off.into()),
                state: Box::new(state.clone()),
            });
        }
        Insn::Call(CallTarget::Helper(id)) => {
            if let Some(callback) = call::helper(env, state, pc, id)? {
                return Ok(Flow::Callback {
                    next,
                    target: callback.target,
                    state: callback.state,
                });
            }
        }
        Insn::Call(CallTarget::Local(imm)) => return enter(state, pc, target(imm.into())),
        Insn::Call(CallTarget::Kfunc { .. }) => {
            return Err(Rejection::new(
                pc,
                "calling kernel functions is not supported by apiary's verifier yet",
            )
            .cause("kfunc calls are not verified yet"));
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

/// A 64-bit register copy of a scalar links the two, so that a comparison
/// of one refines the other (`assign_scalar_id_before_mov`).
fn link_copy(state: &mut State, insn: Insn, src: apiary_isa::Reg) {
    let is_copy = matches!(
        insn,
        Insn::Alu {
            width: apiary_isa::Width::W64,
            op: apiary_isa::AluOp::Mov,
            ..
        }
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
        LdImm64Kind::Func => RegState {
            subprog: (pc as i64 + 1 + i64::from(imm as u32 as i32)) as u32,
            ..RegState::pointer(RegType::Func)
        },
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
    if state.frames.len() >= MAX_CALL_FRAMES {
        return Err(Rejection::new(
            pc,
            format!(
                "the call stack of {} frames is too deep",
                state.frames.len() + 1
            ),
        )
        .cause("more than 8 nested function calls"));
    }
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
    let r0 = read(state, pc, apiary_isa::Reg::R0)?;
    if state.frame().callback {
        if !r0.is_scalar() {
            return Err(Rejection::new(pc, "R0 not a scalar value").reg(0, r0));
        }
        if r0.value.smin < 0 || r0.value.smax > 1 {
            return Err(
                Rejection::new(pc, invalid_scalar("At callback return", &r0, (0, 1)))
                    .reg(0, r0)
                    .cause("a loop or map-iteration callback must return 0 (go on) or 1 (stop)"),
            );
        }
        return Ok(None);
    }
    if state.frames.len() > 1 {
        if r0.kind == RegType::Stack && usize::from(r0.frameno) + 1 == state.frames.len() {
            return Err(Rejection::new(pc, "cannot return stack pointer to the caller").reg(0, r0));
        }
        let callee = state.frames.pop().expect("more than one frame");
        // Each frame counts rounded up to 16 bytes, as for the x86-64 JIT
        // (`round_up_stack_depth`).
        let rounded = |depth: i32| (depth + 15) & !15;
        let depth: i32 = state
            .frames
            .iter()
            .map(|f| rounded(f.stack.depth()))
            .sum::<i32>()
            + rounded(callee.stack.depth());
        if depth > MAX_STACK {
            return Err(Rejection::new(
                pc,
                format!(
                    "combined stack size of {} calls is {depth}. Too large",
                    state.frames.len() + 1
                ),
            ));
        }
        state.frame_mut().regs[0] = r0;
        return Ok(callee.callsite.map(|c| c + 1));
    }
    state.check_leak(pc, "BPF_EXIT instruction in main prog")?;
    check_return_range(env, pc, &r0)?;
    Ok(None)
}

/// The kernel's refusal of a scalar outside `range` (`verbose_invalid_scalar`).
fn invalid_scalar(when: &str, reg: &RegState, range: (i64, i64)) -> String {
    let v = reg.value;
    let mut line = format!("{when} the register R0 has");
    if v.smin > i64::MIN {
        line.push_str(&format!(" smin={}", v.smin));
    }
    if v.smax < i64::MAX {
        line.push_str(&format!(" smax={}", v.smax));
    }
    if v.smin == i64::MIN && v.smax == i64::MAX {
        line.push_str(" unknown scalar value");
    }
    line + &format!(" should have been in [{}, {}]", range.0, range.1)
}

/// Program types whose return value the kernel restricts (`check_return_code`).
fn check_return_range(env: &Env, pc: usize, r0: &RegState) -> Result<(), Rejection> {
    let attach = env.prog.attach_type;
    let range = match env.prog.prog_type {
        // Egress programs may also ask for congestion notification (2, 3).
        ProgType::CGROUP_SKB if attach == AttachType::CGROUP_INET_EGRESS => (0, 3),
        ProgType::CGROUP_SOCK_ADDR
            if matches!(
                attach,
                AttachType::CGROUP_UDP4_RECVMSG
                    | AttachType::CGROUP_UDP6_RECVMSG
                    | AttachType::CGROUP_UNIX_RECVMSG
                    | AttachType::CGROUP_INET4_GETPEERNAME
                    | AttachType::CGROUP_INET6_GETPEERNAME
                    | AttachType::CGROUP_UNIX_GETPEERNAME
                    | AttachType::CGROUP_INET4_GETSOCKNAME
                    | AttachType::CGROUP_INET6_GETSOCKNAME
                    | AttachType::CGROUP_UNIX_GETSOCKNAME
            ) =>
        {
            (1, 1)
        }
        ProgType::CGROUP_SOCK_ADDR
            if matches!(
                attach,
                AttachType::CGROUP_INET4_BIND | AttachType::CGROUP_INET6_BIND
            ) =>
        {
            (0, 3)
        }
        ProgType::CGROUP_SKB
        | ProgType::CGROUP_SOCK
        | ProgType::CGROUP_SOCKOPT
        | ProgType::CGROUP_SYSCTL
        | ProgType::CGROUP_DEVICE
        | ProgType::SOCK_OPS
        | ProgType::CGROUP_SOCK_ADDR
        | ProgType::SK_LOOKUP => (0, 1),
        _ => return Ok(()),
    };
    if !r0.is_scalar() {
        return Err(Rejection::new(
            pc,
            format!(
                "At program exit the register R0 is not a known value ({})",
                r0.type_name()
            ),
        )
        .reg(0, r0)
        .cause("the program returns a pointer where its type needs a number"));
    }
    let v = r0.value;
    if v.smin >= range.0 && v.smax <= range.1 {
        return Ok(());
    }
    Err(
        Rejection::new(pc, invalid_scalar("At program exit", r0, range))
            .reg(0, r0)
            .cause(format!(
                "{} programs must return a value in [{}, {}]",
                env.prog.prog_type, range.0, range.1
            )),
    )
}
