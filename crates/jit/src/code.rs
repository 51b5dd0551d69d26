//! A compiled program and how an activation runs it.

use std::marker::PhantomData;

use apiary_verifier::AccessProof;
use apiary_vm::{Access, CompiledCode, EntryRegs, FRAME_STRIDE, Op, RegionKind, RunError, TierRun};

use crate::ctx::{Ctx, Exit, Host};
use crate::exec_mem::ExecMem;

/// The entry at offset 0 of the code (see `emit_call::prologue`).
type Entry = unsafe extern "sysv64" fn(*mut Ctx) -> u64;

/// Where each op of one body of code starts.
pub(crate) struct Body {
    /// Code offset of each op (its group's budget check included).
    starts: Box<[u32]>,
    /// Code offset of each op's body (after its group's budget check).
    bodies: Box<[u32]>,
    /// One past the last op of each op's budget group; `None` when the
    /// body does not count the budget.
    ends: Option<Box<[u32]>>,
}

impl Body {
    pub(crate) fn new(starts: Vec<u32>, bodies: Vec<u32>, ends: Option<Vec<u32>>) -> Self {
        Body {
            starts: starts.into_boxed_slice(),
            bodies: bodies.into_boxed_slice(),
            ends: ends.map(Vec::into_boxed_slice),
        }
    }
}

/// What the fast body assumes of an activation, when there is a slow one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastWhen {
    /// Its packet accesses are unchecked: the embedder must vouch for the
    /// context's packet pointers (a [`RegionKind::PacketBuffer`] region).
    pub(crate) packet_trusted: bool,
    /// It does not count the budget: the activation must start at op 0
    /// with at least this much budget left.
    pub(crate) run_bound: Option<u64>,
    /// Its context accesses are unchecked: the activation must start at
    /// op 0 with `r1` pointing to a region that allows them all.
    pub(crate) context: Option<ContextSpan>,
}

/// Where a program's proven context accesses reach from the context
/// pointer the run starts with, and whether they write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ContextSpan {
    len: u64,
    access: Access,
}

impl ContextSpan {
    /// The span of the context accesses `proofs` prove (by op), if any;
    /// `None` as well when one lies below the pointer (tracepoint
    /// contexts), which the fast body then checks like the others.
    pub(crate) fn of(ops: &[Op], proofs: &[Option<AccessProof>]) -> Option<ContextSpan> {
        let mut span: Option<ContextSpan> = None;
        for (op, proof) in ops.iter().zip(proofs) {
            if *proof != Some(AccessProof::Context) {
                continue;
            }
            let (off, size, access) = op.memory_access()?;
            let end = u64::try_from(off).ok()? + u64::from(size);
            let widest = span.get_or_insert(ContextSpan { len: end, access });
            widest.len = widest.len.max(end);
            if access == Access::Store {
                widest.access = Access::Store;
            }
        }
        span
    }

    /// Whether a run whose `r1` is `ctx` may take the unchecked accesses.
    fn holds<E>(&self, run: &TierRun<'_, E>, ctx: u64) -> bool {
        run.region_for(ctx, self.len, self.access).is_some()
    }
}

/// Native code for one program, attached to it by [`crate::compile`].
pub struct JitCode<E> {
    mem: ExecMem,
    /// The code every activation runs unless `slow` exists and `when`
    /// does not hold.
    fast: Body,
    /// The code with every check the proofs cannot replace in every run.
    slow: Option<Body>,
    when: FastWhen,
    len: usize,
    _env: PhantomData<fn(&mut E)>,
}

impl<E> std::fmt::Debug for JitCode<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitCode")
            .field("ops", &self.fast.bodies.len())
            .field("bytes", &self.len)
            .field("two_bodies", &self.slow.is_some())
            .finish_non_exhaustive()
    }
}

impl<E> JitCode<E> {
    pub(crate) fn new(
        mem: ExecMem,
        fast: Body,
        slow: Option<Body>,
        when: FastWhen,
        len: usize,
    ) -> Self {
        JitCode {
            mem,
            fast,
            slow,
            when,
            len,
            _env: PhantomData,
        }
    }

    /// Bytes of machine code (without the page padding).
    pub fn code_len(&self) -> usize {
        self.len
    }

    /// The body an activation starting at op `start` with `r1 = ctx` runs.
    fn body_for(&self, run: &TierRun<'_, E>, start: usize, ctx: u64) -> &Body {
        let Some(slow) = &self.slow else {
            return &self.fast;
        };
        let trusted = !self.when.packet_trusted || run.has_region_kind(RegionKind::PacketBuffer);
        let bounded = self
            .when
            .run_bound
            .is_none_or(|bound| start == 0 && run.remaining() >= bound);
        let context = self
            .when
            .context
            .is_none_or(|span| start == 0 && span.holds(run, ctx));
        if trusted && bounded && context {
            &self.fast
        } else {
            slow
        }
    }
}

impl<E> CompiledCode<E> for JitCode<E> {
    fn machine_code(&self) -> &[u8] {
        self.mem.code(self.len)
    }

    fn op_offsets(&self) -> &[u32] {
        &self.fast.starts
    }

    fn checked_op_offsets(&self) -> Option<&[u32]> {
        self.slow.as_ref().map(|slow| &*slow.starts)
    }

    fn run(
        &self,
        run: &mut TierRun<'_, E>,
        start: usize,
        regs: EntryRegs<'_>,
    ) -> Result<u64, RunError> {
        self.activate(run, start, regs, 1).map(|(_, r0)| r0)
    }

    fn run_repeated(
        &self,
        run: &mut TierRun<'_, E>,
        args: [u64; 5],
        times: u64,
    ) -> Result<(u64, u64), RunError> {
        self.activate(run, 0, EntryRegs::Args(args), times.max(1))
    }
}

impl<E> JitCode<E> {
    /// The code address an activation from op `start` enters at, and the
    /// budget to charge on entry for the rest of the group it enters
    /// (whose check it skips; nothing in a body that does not count).
    fn entry_of(&self, run: &TierRun<'_, E>, start: usize, ctx: u64) -> Option<(u64, u64)> {
        let code = self.body_for(run, start, ctx);
        let body = *code.bodies.get(start)?;
        let charged = code
            .ends
            .as_ref()
            .and_then(|ends| ends.get(start))
            .map_or(0, |&end| u64::from(end) - start as u64);
        Some(((self.mem.addr() + body as usize) as u64, charged))
    }

    /// Whether the run the vm just set up in a repeating activation
    /// starts as its first did: at the same code, with the same budget.
    pub(crate) fn continues(&self, run: &TierRun<'_, E>, ctx: &Ctx) -> bool {
        self.entry_of(run, 0, ctx.init[1])
            .is_some_and(|(body, charged)| {
                body == ctx.body && run.remaining().checked_sub(charged) == Some(ctx.run_budget)
            })
    }

    /// One activation: up to `times` runs from op `start`, each with
    /// `regs` and the runner's remaining budget, ended early by a run that
    /// called a helper unless the vm set the next one up in full
    /// (`slow::between`). Returns the runs finished and the last one's `r0`.
    fn activate(
        &self,
        run: &mut TierRun<'_, E>,
        start: usize,
        regs: EntryRegs<'_>,
        times: u64,
    ) -> Result<(u64, u64), RunError> {
        let Some((body, charged)) = self.entry_of(run, start, regs.r1()) else {
            // The vm only starts at op indices of this program.
            return Err(run.fell_off());
        };
        let remaining = run.remaining();
        let base = run.base();
        if remaining < charged {
            let r0 = run.interpret_until_exhausted(start, regs.file(), base, remaining)?;
            return Ok((1, r0));
        }
        if base >= apiary_vm::MAX_CALL_FRAMES {
            // The vm starts activations only in frames it has stacks for.
            return Err(run.call_depth_exceeded(start));
        }
        let mut ctx = Ctx {
            init: [0; 11],
            regs: [0; 11],
            run_budget: remaining - charged,
            budget: remaining - charged,
            left: times,
            helper_ran: 0,
            body,
            stack_base: run.stack_base(),
            stack_limit: (base as u64 + 1) * FRAME_STRIDE,
            depth: base as u64,
            base: base as u64,
            load_start: 0,
            load_len: 0,
            store_start: 0,
            store_len: 0,
            context_start: 0,
            context_len: 0,
            entry_rsp: 0,
            may_goto: [0; apiary_vm::MAX_CALL_FRAMES],
            cpu: u64::from(run.cpu()),
            packet_start: 0,
            packet_limit: 0,
            host: std::ptr::null_mut(),
        };
        ctx.remember_packet(run);
        // Argument by argument: copying whole register files between
        // layers cost more than the rest of an empty program's run.
        match regs {
            EntryRegs::Args([a1, a2, a3, a4, a5]) => {
                (ctx.init[1], ctx.init[2], ctx.init[3]) = (a1, a2, a3);
                (ctx.init[4], ctx.init[5]) = (a4, a5);
            }
            EntryRegs::All(all) => ctx.init = *all,
        }
        ctx.init[10] = run.frame_pointer(base);
        // Callbacks (which start elsewhere) get no context in r1.
        if start == 0 {
            ctx.remember_context(run);
        }
        let mut host = Host {
            run,
            code: self,
            exit: None,
        };
        ctx.host = (&raw mut host).cast();
        // SAFETY: offset 0 is the entry emitted by `emit_call::prologue`
        // with this signature, and the mapping lives as long as `self`.
        let entry: Entry = unsafe { std::mem::transmute(self.mem.addr()) };
        // SAFETY: the context is complete (`body` is an op's code in this
        // mapping, `base` a frame the context has a `may_goto` counter
        // for) and outlives the call; `host` is only reached through
        // `ctx.host` until the call returns. The code touches guest memory
        // only after the vm's checks allowed it.
        let status = unsafe { entry(&raw mut ctx) };
        host.run.set_remaining(ctx.budget);
        let done = times - ctx.left;
        if status == 0 {
            return Ok((done, ctx.regs[0]));
        }
        // The run under way stopped early: it ends here.
        let r0 = match host.exit.take() {
            Some(Exit::Stop(value)) => value,
            Some(Exit::Failed(error)) => return Err(error),
            Some(Exit::TailCall(next)) => host.run.tail_call(&next, &ctx.regs)?,
            None => return Err(host.run.fell_off()),
        };
        Ok((done + 1, r0))
    }
}
