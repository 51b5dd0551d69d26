//! Which registers and stack slots hold the context pointer: a forward
//! dataflow analysis over the control-flow graph, run to a fixpoint.
//!
//! Each register and each 8-byte slot of a function's stack gets a value of
//! a small lattice (see [`Value`]); each instruction that is reached gets the
//! join of the states flowing into it. Every value can only climb a lattice
//! of height three, so each instruction's state changes a bounded number of
//! times and the worklist empties whatever the bytecode.

use apiary_isa::{AluOp, AtomicOp, CallTarget, Insn, LdImm64Kind, Reg, Size, Source, Width};

use apiary_vm::semantics::condition;

use crate::error::ContextError;

/// What a register or stack slot holds, as far as the context is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// Not the context: a scalar, another pointer, or nothing yet.
    Other,
    /// A scalar known to be this constant (the kernel lets `ctx += reg`
    /// keep a clean context pointer when `reg` is a known constant).
    /// Constants outside `i32` are `Other`: no context offset is that far,
    /// and a small value keeps a state at 104 bytes for million-slot programs.
    Const(i32),
    /// This function's frame pointer plus a constant.
    Stack(i32),
    /// The context plus a constant.
    Ctx(i32),
    /// Derived from the context by arithmetic the analysis does not follow
    /// (a register operand, a bitwise operation, an overflow).
    CtxModified,
    /// The context on one path, something else on another.
    Conflict,
}

impl Value {
    fn is_ctx(self) -> bool {
        matches!(self, Value::Ctx(_) | Value::CtxModified)
    }

    fn join(self, other: Value) -> Value {
        use Value::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Conflict, _) | (_, Conflict) => Conflict,
            (a, b) if a.is_ctx() && b.is_ctx() => CtxModified,
            (a, b) if a.is_ctx() || b.is_ctx() => Conflict,
            // Two different non-context values: an untracked pointer or scalar.
            _ => Other,
        }
    }

    /// The value after an operation the analysis does not model: still
    /// context-derived (so a dereference is refused) or plainly not context.
    fn tainted(self) -> Value {
        match self {
            Value::Conflict => Value::Conflict,
            v if v.is_ctx() => Value::CtxModified,
            _ => Value::Other,
        }
    }

    /// The value as seen from another function's frame.
    fn outside_frame(self) -> Value {
        match self {
            Value::Stack(_) => Value::Other,
            v => v,
        }
    }

    /// The result of an unmodelled operation on two values.
    fn combine(self, other: Value) -> Value {
        match (self, other) {
            (Value::Conflict, _) | (_, Value::Conflict) => Value::Conflict,
            (a, b) if a.is_ctx() || b.is_ctx() => Value::CtxModified,
            _ => Value::Other,
        }
    }

    /// A known scalar, if it fits the lattice.
    fn constant(value: i64) -> Value {
        i32::try_from(value).map_or(Value::Other, Value::Const)
    }

    fn add(self, delta: i64) -> Value {
        let moved = |base: i32| i32::try_from(i64::from(base).checked_add(delta)?).ok();
        match self {
            Value::Ctx(off) => moved(off).map_or(Value::CtxModified, Value::Ctx),
            Value::Stack(off) => moved(off).map_or(Value::Other, Value::Stack),
            Value::Const(k) => Value::constant(i64::from(k).wrapping_add(delta)),
            v => v,
        }
    }

    /// `self += operand` (64-bit) where the operand is a register.
    fn add_register(self, operand: Value) -> Value {
        match (self, operand) {
            (base, Value::Const(k)) => base.add(k.into()),
            (Value::Const(k), base @ (Value::Ctx(_) | Value::Stack(_))) => base.add(k.into()),
            // Pointer plus pointer: the kernel refuses it at the addition.
            (a, b) => a.combine(b),
        }
    }

    /// `self -= operand` (64-bit) where the operand is a register.
    fn sub_register(self, operand: Value) -> Value {
        match (self, operand) {
            (base, Value::Const(k)) => base.add(-i64::from(k)),
            // Pointer minus pointer is a scalar.
            (a, b) if a.is_ctx() && b.is_ctx() => Value::Other,
            (a, b) => a.combine(b),
        }
    }
}

/// Size of a function's stack frame.
const STACK_SIZE: i64 = 512;
/// 8-byte slots in a frame.
const SLOTS: usize = 64;

/// Registers r0..r9 and the non-`Other` stack slots of one program point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct State {
    regs: [Value; 10],
    /// `(slot, value)` sorted by slot; absent slots hold `Other`.
    stack: Vec<(u8, Value)>,
}

impl State {
    /// A function's first state: `args` in r1..r5 (pointers into the
    /// caller's frame become untracked: the callee's r10 is another frame).
    fn function_entry(args: [Value; 5]) -> State {
        let mut regs = [Value::Other; 10];
        regs[1..6].copy_from_slice(&args.map(Value::outside_frame));
        State {
            regs,
            stack: Vec::new(),
        }
    }

    /// The value of `reg`; `r10` is always the frame pointer.
    pub(crate) fn get(&self, reg: Reg) -> Value {
        self.regs
            .get(usize::from(reg.index()))
            .copied()
            .unwrap_or(Value::Stack(0))
    }

    fn set(&mut self, reg: Reg, value: Value) {
        // Writes to r10 are refused by the verifier; here they change nothing.
        if let Some(slot) = self.regs.get_mut(usize::from(reg.index())) {
            *slot = value;
        }
    }

    fn clobber_caller_saved(&mut self) {
        self.regs[0..6].fill(Value::Other);
    }

    fn slot(&self, slot: u8) -> Value {
        self.stack
            .binary_search_by_key(&slot, |&(s, _)| s)
            .map_or(Value::Other, |i| self.stack[i].1)
    }

    fn set_slot(&mut self, slot: u8, value: Value) {
        match (self.stack.binary_search_by_key(&slot, |&(s, _)| s), value) {
            (Ok(i), Value::Other) => {
                self.stack.remove(i);
            }
            (Ok(i), v) => self.stack[i].1 = v,
            (Err(_), Value::Other) => {}
            (Err(i), v) => self.stack.insert(i, (slot, v)),
        }
    }

    /// The slot an aligned 8-byte access at frame offset `addr` names.
    fn whole_slot(addr: i64) -> Option<u8> {
        if (-STACK_SIZE..0).contains(&addr) && addr % 8 == 0 {
            u8::try_from((addr + STACK_SIZE) / 8).ok()
        } else {
            None
        }
    }

    /// Forgets every slot that `size` bytes at frame offset `addr` touch.
    fn overwrite(&mut self, addr: i64, size: i64) {
        let first = (addr + STACK_SIZE).div_euclid(8).max(0);
        let last = (addr + size - 1 + STACK_SIZE)
            .div_euclid(8)
            .min(SLOTS as i64 - 1);
        for slot in first..=last {
            if let Ok(slot) = u8::try_from(slot) {
                self.set_slot(slot, Value::Other);
            }
        }
    }

    /// A store of `value` (`None`: unknown bytes) through `base + off`.
    fn store(&mut self, base: Value, off: i16, size: Size, value: Option<Value>) {
        let Value::Stack(frame_off) = base else {
            return;
        };
        let addr = i64::from(frame_off) + i64::from(off);
        match (size, Self::whole_slot(addr), value) {
            (Size::DW, Some(slot), Some(value)) => self.set_slot(slot, value),
            _ => self.overwrite(addr, size.bytes() as i64),
        }
    }

    /// What a load through `base + off` puts in its destination.
    fn load(&self, base: Value, off: i16, size: Size) -> Value {
        let Value::Stack(frame_off) = base else {
            return Value::Other;
        };
        let addr = i64::from(frame_off) + i64::from(off);
        match (size, Self::whole_slot(addr)) {
            (Size::DW, Some(slot)) => self.slot(slot),
            _ => Value::Other,
        }
    }

    /// Joins `other` into `self`; returns whether `self` changed.
    fn join_from(&mut self, other: &State) -> bool {
        let mut changed = false;
        for (mine, theirs) in self.regs.iter_mut().zip(other.regs) {
            let joined = mine.join(theirs);
            changed |= joined != *mine;
            *mine = joined;
        }
        let mut merged = Vec::with_capacity(self.stack.len().max(other.stack.len()));
        let slots = self.stack.iter().chain(&other.stack).map(|&(s, _)| s);
        let mut seen: Vec<u8> = slots.collect();
        seen.sort_unstable();
        seen.dedup();
        for slot in seen {
            let joined = self.slot(slot).join(other.slot(slot));
            if joined != Value::Other {
                merged.push((slot, joined));
            }
        }
        changed |= merged != self.stack;
        self.stack = merged;
        changed
    }
}

/// The decoded program with the state at every reached instruction.
pub(crate) struct Flow {
    /// One entry per slot: `Some(insn)` where an instruction starts.
    pub insns: Vec<Option<Insn>>,
    /// The state before each instruction; `None` where never reached.
    pub states: Vec<Option<State>>,
}

/// Where control goes after an instruction, besides calls.
fn successors(index: usize, insn: &Insn) -> (Option<usize>, Option<usize>) {
    let target = insn
        .branch_offset()
        .and_then(|rel| usize::try_from(index as i64 + rel + 1).ok());
    let next = Some(index + insn.slots());
    match insn {
        Insn::Exit => (None, None),
        Insn::Ja { .. } | Insn::Ja32 { .. } => (target, None),
        Insn::Jump { .. } | Insn::MayGoto { .. } => (next, target),
        _ => (next, None),
    }
}

/// Drops the edge the kernel knows is never taken (is_branch_taken), whose
/// side it then never verifies: a comparison of known constants has one
/// outcome. (The kernel does not count the context pointer as non-NULL
/// there: `reg_not_null` leaves PTR_TO_CTX out, so both sides of
/// `if r1 == 0` are verified.)
fn never_taken(
    insn: &Insn,
    state: &State,
    (next, jump): (Option<usize>, Option<usize>),
) -> (Option<usize>, Option<usize>) {
    let Insn::Jump {
        width,
        cond,
        dst,
        src,
        ..
    } = *insn
    else {
        return (next, jump);
    };
    let right = match src {
        Source::Imm(k) => Value::Const(k),
        Source::Reg(r) => state.get(r),
    };
    let taken = match (width, cond, state.get(dst), right) {
        (_, _, Value::Const(a), Value::Const(b)) => {
            condition(width, cond, i64::from(a) as u64, i64::from(b) as u64)
        }
        _ => return (next, jump),
    };
    if taken { (None, jump) } else { (next, None) }
}

/// The first slot of every function: the program start, the targets of
/// local calls and of function-address loads (callbacks).
fn function_starts(insns: &[Option<Insn>]) -> Vec<usize> {
    let mut starts = vec![0];
    for (index, insn) in insns.iter().enumerate() {
        let Some(insn) = insn else { continue };
        let is_function = matches!(
            insn,
            Insn::Call(CallTarget::Local(_))
                | Insn::LoadImm64 {
                    kind: LdImm64Kind::Func,
                    ..
                }
        );
        if let (true, Some(rel)) = (is_function, insn.branch_offset())
            && let Ok(target) = usize::try_from(index as i64 + rel + 1)
        {
            starts.push(target);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// The value of a register operand; `None` for an immediate.
fn register_operand(state: &State, src: Source) -> Option<Value> {
    match src {
        Source::Reg(r) => Some(state.get(r)),
        Source::Imm(_) => None,
    }
}

/// The state after `insn` for the fall-through and jump edges.
fn transfer(insn: &Insn, state: &State) -> State {
    let mut out = state.clone();
    match *insn {
        Insn::Alu {
            width,
            op,
            dst,
            src,
        } => {
            let current = state.get(dst);
            let operand = register_operand(state, src);
            let result = match (width, op, src, operand) {
                (Width::W64, AluOp::Mov, Source::Reg(_), Some(v)) => v,
                (Width::W64, AluOp::Mov, Source::Imm(k), _) => Value::Const(k),
                (Width::W32, AluOp::Mov, Source::Imm(k), _) => Value::constant((k as u32).into()),
                (_, AluOp::Mov, _, _) => Value::Other,
                (Width::W64, AluOp::Add, Source::Imm(k), _) => current.add(i64::from(k)),
                (Width::W64, AluOp::Sub, Source::Imm(k), _) => current.add(-i64::from(k)),
                (Width::W64, AluOp::Add, _, Some(v)) => current.add_register(v),
                (Width::W64, AluOp::Sub, _, Some(v)) => current.sub_register(v),
                (_, _, _, Some(v)) => current.combine(v),
                _ => current.tainted(),
            };
            out.set(dst, result);
        }
        Insn::Neg { dst, .. } | Insn::Endian { dst, .. } => out.set(dst, state.get(dst).tainted()),
        Insn::LoadImm64 {
            dst,
            kind: LdImm64Kind::Imm,
            imm,
        } => out.set(dst, Value::constant(imm as i64)),
        Insn::MovSx { dst, .. } | Insn::AddrSpaceCast { dst, .. } | Insn::LoadImm64 { dst, .. } => {
            out.set(dst, Value::Other)
        }
        Insn::LoadAcquire { dst, .. } => out.set(dst, Value::Other),
        Insn::Load {
            size,
            sign_extend,
            dst,
            src,
            off,
        } => {
            let loaded = if sign_extend {
                Value::Other
            } else {
                state.load(state.get(src), off, size)
            };
            out.set(dst, loaded);
        }
        Insn::Store {
            size,
            dst,
            off,
            src,
        } => {
            // A spilled immediate reloads as a known constant, as in the kernel.
            let value = match src {
                Source::Reg(r) => state.get(r),
                Source::Imm(k) => Value::Const(k),
            };
            out.store(state.get(dst), off, size, Some(value));
        }
        Insn::StoreRelease {
            size,
            dst,
            src,
            off,
            ..
        } => out.store(state.get(dst), off, size, Some(state.get(src))),
        Insn::Atomic {
            size,
            op,
            dst,
            src,
            off,
        } => {
            out.store(state.get(dst), off, size, None);
            match op {
                AtomicOp::CmpXchg => out.set(Reg::R0, Value::Other),
                AtomicOp::Xchg
                | AtomicOp::Add { fetch: true }
                | AtomicOp::Or { fetch: true }
                | AtomicOp::And { fetch: true }
                | AtomicOp::Xor { fetch: true } => out.set(src, Value::Other),
                _ => {}
            }
        }
        Insn::LoadPacket { .. } | Insn::Call(_) | Insn::Callx { .. } => out.clobber_caller_saved(),
        Insn::Jump { .. }
        | Insn::Ja { .. }
        | Insn::Ja32 { .. }
        | Insn::MayGoto { .. }
        | Insn::Exit => {}
    }
    out
}

/// States per instruction and the instructions whose state changed.
struct Worklist {
    states: Vec<Option<State>>,
    queued: Vec<bool>,
    pending: Vec<usize>,
}

impl Worklist {
    fn merge(&mut self, at: usize, incoming: &State) {
        let changed = match &mut self.states[at] {
            Some(existing) => existing.join_from(incoming),
            empty @ None => {
                *empty = Some(incoming.clone());
                true
            }
        };
        if changed {
            self.requeue(at);
        }
    }

    /// Processes `at` again (its successors depend on more than its state).
    fn requeue(&mut self, at: usize) {
        if !self.queued[at] {
            self.queued[at] = true;
            self.pending.push(at);
        }
    }

    fn pop(&mut self) -> Option<(usize, State)> {
        while let Some(index) = self.pending.pop() {
            self.queued[index] = false;
            if let Some(state) = &self.states[index] {
                return Some((index, state.clone()));
            }
        }
        None
    }
}

/// Runs the analysis from `r1 = ctx` at instruction 0.
pub(crate) fn analyze(insns: Vec<Option<Insn>>) -> Result<Flow, ContextError> {
    let len = insns.len();
    let starts = function_starts(&insns);
    let function_of = |index: usize| starts.partition_point(|&s| s <= index).saturating_sub(1);
    let mut work = Worklist {
        states: vec![None; len],
        queued: vec![false; len],
        pending: Vec::new(),
    };
    // Per function: the join of r0 at its exits (`None` until one is
    // reached) and the calls that wait for it. A static subprogram may
    // return its context argument, and the kernel lets the caller use it.
    let mut returns: Vec<Option<Value>> = vec![None; starts.len()];
    let mut callers: Vec<Vec<usize>> = vec![Vec::new(); starts.len()];
    if len > 0 {
        let mut args = [Value::Other; 5];
        args[0] = Value::Ctx(0);
        work.merge(0, &State::function_entry(args));
    }
    while let Some((index, state)) = work.pop() {
        let Some(insn) = insns[index] else { continue };
        let mut after = transfer(&insn, &state);
        let callee = insn
            .branch_offset()
            .and_then(|rel| usize::try_from(index as i64 + rel + 1).ok())
            .filter(|&callee| callee < len);
        if let Insn::Exit = insn {
            let function = function_of(index);
            let r0 = state.get(Reg::R0).outside_frame();
            let joined = returns[function].map_or(r0, |v| v.join(r0));
            if returns[function] != Some(joined) {
                returns[function] = Some(joined);
                for &call in &callers[function] {
                    work.requeue(call);
                }
            }
        }
        if let (Insn::Call(CallTarget::Local(_)), Some(callee)) = (insn, callee) {
            let function = function_of(callee);
            if !callers[function].contains(&index) {
                callers[function].push(index);
            }
            let args = [1, 2, 3, 4, 5].map(|r| state.regs[r]);
            work.merge(callee, &State::function_entry(args));
            match returns[function] {
                Some(r0) => after.set(Reg::R0, r0),
                // Nothing follows the call until the callee returns.
                None => continue,
            }
        }
        // A callback (a function whose address is taken) starts with
        // whatever the helper passes, never the context.
        if let (
            Insn::LoadImm64 {
                kind: LdImm64Kind::Func,
                ..
            },
            Some(callee),
        ) = (insn, callee)
        {
            work.merge(callee, &State::function_entry([Value::Other; 5]));
        }
        let (next, jump) = never_taken(&insn, &state, successors(index, &insn));
        for (target, is_jump) in [(next, false), (jump, true)] {
            let Some(target) = target else { continue };
            if target >= len || function_of(target) != function_of(index) {
                let reason = if is_jump {
                    format!("jump out of range to insn {target}")
                } else {
                    "falls through past the end of its function".to_string()
                };
                return Err(ContextError::ControlFlow {
                    insn: index,
                    reason,
                });
            }
            work.merge(target, &after);
        }
    }
    Ok(Flow {
        insns,
        states: work.states,
    })
}
