//! The program's functions (`struct bpf_subprog_info`): where each
//! starts, what its BTF func info says, and the rules that need them:
//! subprograms without BTF may not tail call or use `LD_ABS`
//! (`check_abnormal_return`), callbacks need BTF and static linkage
//! (`check_ld_imm`), a call to a global function is checked against its
//! signature and not entered, the function being verified later on its own
//! (`btf_check_subprog_call`, `do_check_subprogs`), and after the walk the
//! call graph is checked for depth, recursion and the stack a tail call
//! may leave behind (`check_max_stack_depth`).

use std::cell::RefCell;

use apiary_isa::{CallTarget, Insn, LdImm64Kind};

use crate::cfg::Cfg;
use crate::error::Rejection;
use crate::explore::Env;
use crate::program::{FuncArg, FuncInfo, Program};
use crate::regs::{RegState, RegType};
use crate::stack::MAX_STACK;
use crate::state::{Frame, MAX_CALL_FRAMES, State};

/// `bpf_tail_call`.
const TAIL_CALL: i32 = 12;
/// The caller frames' stack a subprogram that tail calls may be entered
/// with, at most (exclusive).
const TAIL_CALL_STACK_LIMIT: u32 = 256;

/// What the walk learns about each function.
#[derive(Default)]
struct Seen {
    /// The deepest stack each function used, in bytes.
    depth: Vec<u32>,
    /// Global functions some path called, and those already verified.
    called: Vec<bool>,
    verified: Vec<bool>,
    /// Functions a timer calls back (`is_async_cb`).
    async_cb: Vec<bool>,
    /// The function being verified on its own (0: the program).
    current: usize,
}

/// The program's functions.
pub(crate) struct Funcs {
    /// First instruction of each function, ascending; the program is 0.
    starts: Vec<usize>,
    /// BTF func info by function, when the program has it.
    info: Vec<FuncInfo>,
    /// Per function: whether it calls `bpf_tail_call`.
    tail_calls: Vec<bool>,
    seen: RefCell<Seen>,
}

/// The first instruction of every function: 0 and each target of a
/// local call or function address (`add_subprog_and_kfunc`).
fn function_starts(cfg: &Cfg) -> Vec<usize> {
    let mut starts = vec![0];
    for (slot, insn) in cfg.insns.iter().enumerate() {
        let Some(insn) = insn else { continue };
        let is_call = matches!(
            insn,
            Insn::Call(CallTarget::Local(_))
                | Insn::LoadImm64 {
                    kind: LdImm64Kind::Func,
                    ..
                }
        );
        if is_call && let Some(rel) = insn.branch_offset() {
            starts.push((slot as i64 + rel + 1) as usize);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

impl Funcs {
    /// The functions of `prog`, checked against its func info.
    pub(crate) fn new(prog: &Program, cfg: &Cfg) -> Result<Funcs, Rejection> {
        let starts = function_starts(cfg);
        let n = starts.len();
        let mut funcs = Funcs {
            starts,
            info: prog.funcs.to_vec(),
            tail_calls: vec![false; n],
            seen: RefCell::new(Seen {
                depth: vec![0; n],
                called: vec![false; n],
                verified: vec![false; n],
                async_cb: vec![false; n],
                current: 0,
            }),
        };
        let mut ld_abs = vec![false; n];
        for (slot, insn) in cfg.insns.iter().enumerate() {
            let index = funcs.index(slot);
            match insn {
                Some(Insn::Call(CallTarget::Helper(TAIL_CALL))) => funcs.tail_calls[index] = true,
                Some(Insn::LoadPacket { .. }) => ld_abs[index] = true,
                _ => {}
            }
        }
        if funcs.info.is_empty() {
            // `check_abnormal_return`: without BTF the kernel cannot check
            // that such a subprogram returns an int.
            for (i, &ld_abs) in ld_abs.iter().enumerate().skip(1) {
                let what = if ld_abs {
                    "LD_ABS"
                } else if funcs.tail_calls[i] {
                    "tail_call"
                } else {
                    continue;
                };
                return Err(Rejection::new(
                    funcs.starts[i],
                    format!("{what} is not allowed in subprogs without BTF"),
                )
                .cause(format!(
                    "the function at insn {} uses {what}, which needs the program's BTF func info",
                    funcs.starts[i]
                ))
                .help("load the program with its BTF (compile with -g)"));
            }
            return Ok(funcs);
        }
        if funcs.info.len() != n {
            return Err(Rejection::new(
                0,
                "number of funcs in func_info doesn't match number of subprogs",
            )
            .cause(format!(
                "BTF func info describes {} functions, the program has {n}",
                funcs.info.len()
            )));
        }
        if let Some(i) = (0..n).find(|&i| funcs.info[i].insn != funcs.starts[i]) {
            return Err(Rejection::new(
                funcs.starts[i],
                "func_info BTF section doesn't match subprog layout in BPF program",
            ));
        }
        funcs.info.sort_by_key(|f| f.insn);
        Ok(funcs)
    }

    /// The function `slot` belongs to.
    fn index(&self, slot: usize) -> usize {
        self.starts
            .partition_point(|&s| s <= slot)
            .saturating_sub(1)
    }

    /// The function starting at `start`.
    fn at(&self, start: usize) -> usize {
        self.index(start)
    }

    fn is_global(&self, index: usize) -> bool {
        self.info.get(index).is_some_and(|f| f.global)
    }

    fn name(&self, index: usize) -> &str {
        self.info.get(index).map_or("", |f| f.name.as_str())
    }

    /// The function, for messages: its name, or where it starts.
    fn describe(&self, index: usize) -> String {
        match self.name(index) {
            "" => format!("the function at insn {}", self.starts[index]),
            name => format!("the function {name}"),
        }
    }

    /// Records that the function running at `slot` uses `depth` bytes of stack.
    pub(crate) fn note_depth(&self, slot: usize, depth: i32) {
        let index = self.index(slot);
        let mut seen = self.seen.borrow_mut();
        seen.depth[index] = seen.depth[index].max(depth.max(0) as u32);
    }

    /// Records that the function at `start` is a timer's callback.
    pub(crate) fn mark_async(&self, start: usize) {
        let index = self.at(start);
        self.seen.borrow_mut().async_cb[index] = true;
    }

    /// Whether the function being verified on its own is a global
    /// function rather than the program.
    pub(crate) fn in_global(&self) -> bool {
        self.seen.borrow().current != 0
    }

    /// The next global function some path called and that is not verified
    /// yet: its start and the state it starts in (`do_check_subprogs`,
    /// `btf_prepare_func_args`).
    pub(crate) fn next_global(&self) -> Option<(usize, State)> {
        let mut seen = self.seen.borrow_mut();
        let index = (1..self.starts.len()).find(|&i| seen.called[i] && !seen.verified[i])?;
        seen.verified[index] = true;
        seen.current = index;
        let mut state = State::entry();
        let frame: &mut Frame = state.frame_mut();
        frame.regs[1] = RegState::NOT_INIT;
        for (i, arg) in self.info[index].args.iter().enumerate().take(5) {
            frame.regs[i + 1] = match *arg {
                FuncArg::Scalar => RegState::unknown(),
                FuncArg::Ctx => RegState::pointer(RegType::Ctx),
                FuncArg::Mem { size, nonnull } => RegState {
                    maybe_null: !nonnull,
                    mem_size: size,
                    ..RegState::pointer(RegType::Mem)
                },
            };
        }
        let ids: Vec<u32> = (0..5).map(|_| state.new_id()).collect();
        for (reg, id) in state.frame_mut().regs[1..=5].iter_mut().zip(ids) {
            if reg.kind == RegType::Mem {
                reg.id = id;
            }
        }
        Some((self.starts[index], state))
    }

    /// The refusal of a reference to the function at `target` as a
    /// callback (`ld_imm64` of a function), if any.
    pub(crate) fn callback_ref(&self, insn: usize, target: usize) -> Result<(), Rejection> {
        if self.info.is_empty() {
            return Err(Rejection::new(insn, "missing btf func_info")
                .cause("a callback needs the program's BTF func info")
                .help("load the program with its BTF (compile with -g)"));
        }
        let index = self.at(target);
        if index == 0 {
            return Err(Rejection::new(
                insn,
                "callback function cannot be the main program",
            ));
        }
        if self.is_global(index) {
            return Err(Rejection::new(insn, "callback function not static")
                .cause(format!(
                    "the callback {} is a global function",
                    self.name(index)
                ))
                .help("declare the callback `static`"));
        }
        Ok(())
    }

    /// A call to the function at `target`: when it is global, checks the
    /// arguments against its signature, gives the caller an unknown `r0`
    /// and returns true (the walk goes on after the call; the function is
    /// verified later on its own). False for a static function, which the
    /// walk enters.
    pub(crate) fn global_call(
        &self,
        env: &Env,
        state: &mut State,
        insn: usize,
        target: usize,
    ) -> Result<bool, Rejection> {
        let index = self.at(target);
        if !self.is_global(index) {
            return Ok(false);
        }
        let name = self.name(index).to_string();
        if state.lock.is_some() {
            return Err(Rejection::new(insn, "use static function instead")
                .context("global function calls are not allowed while holding a lock,")
                .cause(format!(
                    "{name} is a global function, called while a bpf_spin_lock is held"
                ))
                .help("release the lock first, or make the function static"));
        }
        if let Err(lines) = self.check_args(env, state, insn, index) {
            let detail = lines.last().cloned().unwrap_or_default();
            let refusal = Rejection::new(
                insn,
                format!("Caller passes invalid args into func#{index} ('{name}')"),
            );
            return Err(lines
                .into_iter()
                .fold(refusal, Rejection::context)
                .cause(format!(
                "the arguments do not match the signature of the global function {name}: {detail}"
            )));
        }
        self.seen.borrow_mut().called[index] = true;
        if self.changes_packet(&env.cfg.insns, index) {
            for reg in state.all_regs_mut() {
                if reg.kind.is_packet() {
                    *reg = RegState::unknown();
                }
            }
        }
        let regs = &mut state.frame_mut().regs;
        for r in &mut regs[1..=5] {
            *r = RegState::NOT_INIT;
        }
        regs[0] = RegState::unknown();
        Ok(true)
    }

    /// The arguments of a call to global function `index`
    /// (`btf_check_func_arg_match`): the kernel's complaint, if any, as
    /// the lines it logs (the last says what is wrong).
    fn check_args(
        &self,
        env: &Env,
        state: &State,
        insn: usize,
        index: usize,
    ) -> Result<(), Vec<String>> {
        let info = &self.info[index];
        if let Some(refusal) = &info.unsupported {
            return Err(vec![refusal.clone()]);
        }
        for (i, arg) in info.args.iter().enumerate().take(5) {
            let regno = i as u8 + 1;
            let reg = state.frame().regs[usize::from(regno)];
            match *arg {
                FuncArg::Scalar if !reg.is_scalar() => {
                    return Err(vec![format!("R{regno} is not a scalar")]);
                }
                FuncArg::Ctx if reg.kind != RegType::Ctx || reg.off != 0 => {
                    return Err(vec![format!("arg#{i} expects pointer to ctx")]);
                }
                // NULL itself passes, even for `arg:nonnull` (`check_mem_reg`
                // returns early, and a scalar has no maybe-NULL flag).
                FuncArg::Mem { .. } if reg.is_null() => {}
                FuncArg::Mem { size, nonnull } => {
                    // A pointer that may be NULL is checked as if it were
                    // not: the callee checks it (`check_mem_reg`).
                    let assumed = RegState {
                        maybe_null: false,
                        ..reg
                    };
                    mem_arg(env, state, insn, regno, &assumed, size).map_err(|r| {
                        let mut lines = r.kernel_context;
                        lines.push(r.kernel);
                        lines
                    })?;
                    if nonnull && reg.maybe_null {
                        return Err(vec![format!("arg#{i} is expected to be non-NULL")]);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether function `index` or one it calls may move the packet
    /// (`changes_pkt_data`).
    fn changes_packet(&self, insns: &[Option<Insn>], index: usize) -> bool {
        let mut seen = vec![false; self.starts.len()];
        let mut work = vec![index];
        while let Some(f) = work.pop() {
            if std::mem::replace(&mut seen[f], true) {
                continue;
            }
            for slot in self.range(f, insns.len()) {
                match insns[slot] {
                    Some(Insn::Call(CallTarget::Helper(id)))
                        if crate::call::CHANGES_PACKET_DATA.contains(&id) =>
                    {
                        return true;
                    }
                    Some(insn @ Insn::Call(CallTarget::Local(_))) => {
                        if let Some(rel) = insn.branch_offset() {
                            work.push(self.at((slot as i64 + rel + 1) as usize));
                        }
                    }
                    _ => {}
                }
            }
        }
        false
    }

    fn range(&self, index: usize, len: usize) -> std::ops::Range<usize> {
        self.starts[index]..self.starts.get(index + 1).copied().unwrap_or(len)
    }

    /// The call graph's limits, with each function's deepest stack
    /// (`check_max_stack_depth`): 8 frames deep (so no recursion), 512
    /// bytes of stack over the frames of a chain of calls (each rounded
    /// up to 16), and no tail call from a function entered with 256 bytes
    /// or more of callers' stack. Timer callbacks start chains of their
    /// own. (The kernel 6.18 gives no private stacks here: tracing
    /// programs' frames count as every other's.)
    pub(crate) fn check_call_graph(&self, env: &Env) -> Result<(), Rejection> {
        let seen = self.seen.borrow();
        let n = self.starts.len();
        for root in (0..n).rev() {
            if root == 0 || seen.async_cb[root] {
                let chain = Chain {
                    funcs: self,
                    insns: &env.cfg.insns,
                    seen: &seen,
                };
                chain.check(root)?;
            }
        }
        Ok(())
    }
}

/// One walk of the call graph from a root (`check_max_stack_depth_subprog`).
struct Chain<'a> {
    funcs: &'a Funcs,
    insns: &'a [Option<Insn>],
    seen: &'a Seen,
}

impl Chain<'_> {
    fn check(&self, root: usize) -> Result<(), Rejection> {
        let funcs = self.funcs;
        let round = |depth: u32| (depth + 15) & !15;
        // The calls being followed: the function and where to resume in it.
        let mut calls: Vec<(usize, usize)> = Vec::new();
        let mut depth = 0u32;
        let (mut index, mut slot) = (root, funcs.starts[root]);
        let mut entering = true;
        loop {
            let frame_depth = round(self.seen.depth[index]);
            if entering {
                entering = false;
                if index != 0 && funcs.tail_calls[index] && depth >= TAIL_CALL_STACK_LIMIT {
                    return Err(Rejection::new(
                        funcs.starts[index],
                        format!(
                            "tail_calls are not allowed when call stack of previous frames is {depth} bytes. Too large"
                        ),
                    )
                    .cause(format!(
                        "{} tail calls with {depth} bytes of its callers' stack still in use; a chain of tail calls could exhaust the kernel stack",
                        funcs.describe(index)
                    ))
                    .help("use less stack in the callers (at most 256 bytes), or tail call from the program itself"));
                }
                depth += frame_depth;
                if depth > MAX_STACK as u32 {
                    return Err(Rejection::new(
                        funcs.starts[index],
                        format!(
                            "combined stack size of {} calls is {depth}. Too large",
                            calls.len() + 1
                        ),
                    )
                    .cause("the functions of one chain of calls use more than 512 bytes of stack together"));
                }
            }
            let end = funcs.range(index, self.insns.len()).end;
            let mut callee = None;
            while slot < end {
                let here = slot;
                slot += 1;
                let Some(insn) = self.insns[here] else {
                    continue;
                };
                let direct = matches!(insn, Insn::Call(CallTarget::Local(_)));
                let address = matches!(
                    insn,
                    Insn::LoadImm64 {
                        kind: LdImm64Kind::Func,
                        ..
                    }
                );
                if !(direct || address) {
                    continue;
                }
                let Some(rel) = insn.branch_offset() else {
                    continue;
                };
                let target = funcs.at((here as i64 + rel + 1) as usize);
                // A timer's callback runs later, on a stack of its own.
                if self.seen.async_cb[target] && !direct {
                    continue;
                }
                callee = Some(target);
                break;
            }
            if let Some(target) = callee {
                calls.push((index, slot));
                if calls.len() >= MAX_CALL_FRAMES {
                    return Err(Rejection::new(
                        funcs.starts[target],
                        format!("the call stack of {} frames is too deep !", calls.len()),
                    )
                    .cause("the functions call each other more than 8 deep (or recursively)")
                    .help("eBPF has no recursion: turn it into a bounded loop"));
                }
                index = target;
                slot = funcs.starts[target];
                entering = true;
                continue;
            }
            let Some((caller, resume)) = calls.pop() else {
                return Ok(());
            };
            depth -= frame_depth;
            index = caller;
            slot = resume;
        }
    }
}

/// A pointer passed for a global function's memory parameter of `size`
/// bytes (`check_mem_reg`): the bytes must be inside what it points to.
fn mem_arg(
    env: &Env,
    state: &State,
    insn: usize,
    regno: u8,
    reg: &RegState,
    size: u32,
) -> Result<(), Rejection> {
    let size = size as i32;
    match reg.kind {
        RegType::Stack => {
            let (lo, hi) = crate::call::stack_span(reg, size.into());
            let frame_ok = state.frames.len() > usize::from(reg.frameno);
            if lo < -i64::from(MAX_STACK) || hi > 0 || !frame_ok {
                return Err(Rejection::new(
                    insn,
                    format!("invalid read from stack R{regno} off={lo} size={size}"),
                ));
            }
            Ok(())
        }
        kind if kind.is_memory() && !reg.maybe_null => {
            crate::mem::sized_access(env, insn, regno, reg, size, true)
        }
        _ => Err(Rejection::new(
            insn,
            // `check_helper_mem_access` names only the stack as expected.
            format!("R{regno} type={} expected=fp", reg.type_name()),
        )),
    }
}
