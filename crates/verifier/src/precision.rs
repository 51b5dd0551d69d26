//! Precision tracking (`mark_chain_precision`, `backtrack_insn`): which
//! scalars a verified path's safety depended on.
//!
//! A scalar is imprecise until the walk uses its value in a way that
//! decides safety: as a pointer offset, as a helper's size, as the
//! condition of a branch it decided, as a return value the program type
//! restricts. Then the walk goes back along the path's history and marks,
//! in every checkpoint the value came through, the registers and spilled
//! stack slots it was computed from. Pruning compares only marked scalars
//! (an unmarked one decided nothing, so any value will do, see
//! [`crate::prune`]); a pruned path inherits the marks of the state that
//! covered it, since its safety now rests on them.
//!
//! Where backtracking cannot follow a value (a store through a scalar, a
//! register the history cannot explain), it gives up and marks every
//! scalar of the chain precise, as the kernel does
//! (`mark_all_scalars_precise`): pruning less is always safe.

use apiary_isa::{AluOp, CallTarget, Insn, Reg, Source};

use crate::checkpoint::Checkpoints;
use crate::history::{Entry, Loc};
use crate::liveness::RegSet;
use crate::state::{MAX_CALL_FRAMES, State};

/// `r1`-`r5`.
const ARGS: u16 = 0b11_1110;

/// The precise registers and spilled slots of one frame of a checkpoint
/// (the kernel's `precise` flag on each register state).
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct Marks {
    /// Bit `n` for `rN`.
    pub regs: u16,
    /// Bit `spi` for the slot at `fp-8*(spi+1)`.
    pub slots: u64,
}

impl Marks {
    /// Every scalar precise: what exact comparisons use.
    pub const ALL: Marks = Marks {
        regs: u16::MAX,
        slots: u64::MAX,
    };

    fn is_empty(&self) -> bool {
        self.regs == 0 && self.slots == 0
    }

    /// Whether register `r` is precise.
    pub fn reg(&self, r: usize) -> bool {
        self.regs & (1 << r) != 0
    }

    /// Whether the scalar spilled in slot `spi` is precise.
    pub fn slot(&self, spi: usize) -> bool {
        spi < 64 && self.slots & (1 << spi) != 0
    }
}

/// Every frame precise.
pub(crate) const ALL_PRECISE: [Marks; MAX_CALL_FRAMES] = [Marks::ALL; MAX_CALL_FRAMES];

/// What backtracking still looks for, per frame (`struct backtrack_state`).
#[derive(Default)]
struct Wanted {
    frames: [Marks; MAX_CALL_FRAMES],
}

impl Wanted {
    fn bit(loc: Loc) -> (usize, bool, u64) {
        match loc {
            Loc::Reg { frame, reg } => (frame.into(), true, 1 << reg),
            Loc::Slot { frame, spi } => (frame.into(), false, 1 << spi),
        }
    }

    fn set(&mut self, loc: Loc) {
        let (f, is_reg, bit) = Wanted::bit(loc);
        let m = &mut self.frames[f.min(MAX_CALL_FRAMES - 1)];
        if is_reg {
            m.regs |= bit as u16;
        } else {
            m.slots |= bit;
        }
    }

    fn has(&self, loc: Loc) -> bool {
        let (f, is_reg, bit) = Wanted::bit(loc);
        let m = &self.frames[f.min(MAX_CALL_FRAMES - 1)];
        if is_reg {
            m.regs & bit as u16 != 0
        } else {
            m.slots & bit != 0
        }
    }

    /// Clears `loc`; whether it was wanted.
    fn take(&mut self, loc: Loc) -> bool {
        let had = self.has(loc);
        let (f, is_reg, bit) = Wanted::bit(loc);
        let m = &mut self.frames[f.min(MAX_CALL_FRAMES - 1)];
        if is_reg {
            m.regs &= !(bit as u16);
        } else {
            m.slots &= !bit;
        }
        had
    }

    /// A jump taught all its linked scalars at once: wanting one wants all.
    fn sync(&mut self, linked: &[Loc]) {
        if linked.iter().any(|&l| self.has(l)) {
            for &l in linked {
                self.set(l);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.frames.iter().all(Marks::is_empty)
    }
}

/// Backtracking cannot explain a wanted value (the kernel's `-ENOTSUPP`).
struct GiveUp;

/// Marks `wants` (values of the path's current state, in the instruction
/// about to run) precise in every checkpoint of the path's chain they
/// came through. `hist` is the path's history since `checkpoint`; `frame`
/// the frame the path is in.
pub(crate) fn mark(
    cps: &mut Checkpoints,
    insns: &[Option<Insn>],
    hist: &[Entry],
    checkpoint: Option<usize>,
    frame: u8,
    wants: &[Loc],
) {
    if wants.is_empty() {
        return;
    }
    let mut wanted = Wanted::default();
    for &w in wants {
        wanted.set(w);
    }
    if follow(&mut wanted, cps, insns, hist, checkpoint, frame).is_err() {
        let mut cp = checkpoint;
        while let Some(i) = cp {
            let c = &mut cps.all[i];
            c.precise.fill(Marks::ALL);
            cp = c.parent;
        }
    }
}

/// The scalars a pruned path must now keep precise: those the covering
/// checkpoint `old` has precise among the live registers (`propagate_precision`).
pub(crate) fn inherited(old: &State, precise: &[Marks], live: &[RegSet]) -> Vec<Loc> {
    let mut wants = Vec::with_capacity(16);
    for (k, frame) in old.frames.iter().enumerate() {
        let marks = precise.get(k).copied().unwrap_or(Marks::ALL);
        let live = live.get(k).copied().unwrap_or(RegSet::MAX);
        for (r, reg) in frame.regs.iter().enumerate() {
            if marks.reg(r) && live & (1 << r) != 0 && reg.is_scalar() {
                wants.push(Loc::Reg {
                    frame: k as u8,
                    reg: r as u8,
                });
            }
        }
        for (spi, slot) in frame.stack.slots.iter().enumerate() {
            if marks.slot(spi) && slot.is_spill() && slot.spilled.is_scalar() {
                wants.push(Loc::Slot {
                    frame: k as u8,
                    spi: spi as u8,
                });
            }
        }
    }
    wants
}

fn follow(
    wanted: &mut Wanted,
    cps: &mut Checkpoints,
    insns: &[Option<Insn>],
    hist: &[Entry],
    checkpoint: Option<usize>,
    frame: u8,
) -> Result<(), GiveUp> {
    let mut next = frame;
    walk(wanted, insns, hist, &mut next)?;
    let mut cp = checkpoint;
    while let Some(i) = cp {
        if wanted.is_empty() {
            return Ok(());
        }
        let c = &mut cps.all[i];
        settle(wanted, &c.state, &mut c.precise)?;
        if wanted.is_empty() {
            return Ok(());
        }
        next = (c.state.frames.len() - 1) as u8;
        walk(wanted, insns, &c.hist, &mut next)?;
        cp = c.parent;
    }
    // Still wanted at the program's start: something was missed.
    if wanted.is_empty() {
        Ok(())
    } else {
        Err(GiveUp)
    }
}

/// Marks what is wanted precise in a checkpoint's state; what already was
/// precise there was followed further back before, and what is not a
/// scalar needs no precision.
fn settle(wanted: &mut Wanted, state: &State, precise: &mut [Marks]) -> Result<(), GiveUp> {
    for (f, want) in wanted.frames.iter_mut().enumerate() {
        if want.is_empty() {
            continue;
        }
        let (Some(frame), Some(marks)) = (state.frames.get(f), precise.get_mut(f)) else {
            return Err(GiveUp);
        };
        for r in bits(u64::from(want.regs)) {
            if frame.regs.get(r).is_some_and(|reg| reg.is_scalar()) && !marks.reg(r) {
                marks.regs |= 1 << r;
            } else {
                want.regs &= !(1 << r);
            }
        }
        for spi in bits(want.slots) {
            let spilled = frame
                .stack
                .slots
                .get(spi)
                .is_some_and(|s| s.is_spill() && s.spilled.is_scalar());
            if spilled && !marks.slot(spi) {
                marks.slots |= 1 << spi;
            } else {
                want.slots &= !(1 << spi);
            }
        }
    }
    Ok(())
}

/// The indices of the bits set in `set`, lowest first.
fn bits(mut set: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (set != 0).then(|| {
            let i = set.trailing_zeros() as usize;
            set &= set - 1;
            i
        })
    })
}

/// Walks `hist` backwards; `next` is the frame of the instruction that ran
/// after the last entry.
fn walk(
    wanted: &mut Wanted,
    insns: &[Option<Insn>],
    hist: &[Entry],
    next: &mut u8,
) -> Result<(), GiveUp> {
    for e in hist.iter().rev() {
        if wanted.is_empty() {
            return Ok(());
        }
        let Some(Some(insn)) = insns.get(e.pc as usize) else {
            return Err(GiveUp);
        };
        if let Some(linked) = &e.linked {
            wanted.sync(linked);
        }
        back(wanted, insn, e, *next)?;
        if let Some(linked) = &e.linked {
            wanted.sync(linked);
        }
        *next = e.frame;
    }
    Ok(())
}

/// What `insn` needed for what is wanted after it (`backtrack_insn`).
/// Inlined into the walk, which runs it for every step back.
#[inline(always)]
fn back(wanted: &mut Wanted, insn: &Insn, e: &Entry, next: u8) -> Result<(), GiveUp> {
    let f = e.frame;
    let reg = |r: Reg| Loc::Reg {
        frame: f,
        reg: r.index(),
    };
    let r0 = Loc::Reg { frame: f, reg: 0 };
    let args = |w: &Wanted| w.frames[usize::from(f)].regs & ARGS != 0;
    match *insn {
        Insn::Alu {
            op: AluOp::Mov,
            dst,
            src,
            ..
        } => {
            if wanted.take(reg(dst))
                && let Source::Reg(s) = src
            {
                wanted.set(reg(s));
            }
        }
        Insn::Alu {
            dst,
            src: Source::Reg(s),
            ..
        } => {
            if wanted.has(reg(dst)) {
                wanted.set(reg(s));
            }
        }
        Insn::Alu { .. } | Insn::Neg { .. } | Insn::Endian { .. } => {}
        Insn::MovSx { dst, src, .. } | Insn::AddrSpaceCast { dst, src, .. } => {
            if wanted.take(reg(dst)) {
                wanted.set(reg(src));
            }
        }
        Insn::Load { dst, .. } | Insn::LoadAcquire { dst, .. } => {
            // A fill brings the spilled value back; other memory gives
            // values that are as precise as their type makes them.
            if wanted.take(reg(dst))
                && let Some(slot) = e.slot
            {
                wanted.set(slot);
            }
        }
        Insn::Store { dst, src, .. } => {
            if wanted.has(reg(dst)) {
                return Err(GiveUp);
            }
            if let Some(slot) = e.slot
                && wanted.take(slot)
                && let Source::Reg(s) = src
            {
                wanted.set(reg(s));
            }
        }
        Insn::StoreRelease { dst, src, .. } => {
            if wanted.has(reg(dst)) {
                return Err(GiveUp);
            }
            if let Some(slot) = e.slot
                && wanted.take(slot)
            {
                wanted.set(reg(src));
            }
        }
        Insn::Atomic { dst, src, .. } => {
            let touched = e.slot.is_some_and(|s| wanted.has(s));
            if touched || wanted.has(reg(dst)) || wanted.has(reg(src)) || wanted.has(r0) {
                return Err(GiveUp);
            }
        }
        Insn::LoadImm64 { dst, .. } => {
            wanted.take(reg(dst));
        }
        Insn::LoadPacket { .. } => {
            wanted.take(r0);
            if args(wanted) {
                return Err(GiveUp);
            }
        }
        Insn::Jump {
            dst,
            src: Source::Reg(s),
            ..
        } => {
            // Both operands of an undecided comparison taught each other.
            if wanted.has(reg(dst)) || wanted.has(reg(s)) {
                wanted.set(reg(dst));
                wanted.set(reg(s));
            }
        }
        Insn::Jump { .. } | Insn::Ja { .. } | Insn::Ja32 { .. } | Insn::MayGoto { .. } => {}
        Insn::Call(CallTarget::Local(_)) if next == f => {
            // A global function, verified on its own: it sets `r0` and
            // leaves `r1`-`r5` unknown, as a helper does.
            wanted.take(r0);
            if args(wanted) {
                return Err(GiveUp);
            }
        }
        Insn::Call(CallTarget::Local(_)) => {
            // Entering a function backwards: its arguments were the caller's.
            let callee = leave(wanted, f, next)?;
            wanted.frames[usize::from(f)].regs |= callee.regs;
        }
        Insn::Call(CallTarget::Helper(_)) if next == f + 1 => {
            // Entering a callback backwards: its arguments come from the
            // helper (a loop index, a map entry) or are pointers, not
            // numbers of the caller's.
            leave(wanted, f, next)?;
        }
        // A kfunc call sets r0 from its arguments as a helper does.
        Insn::Call(CallTarget::Helper(_) | CallTarget::Kfunc { .. }) => {
            wanted.take(r0);
            if args(wanted) {
                return Err(GiveUp);
            }
        }
        Insn::Callx { .. } => return Err(GiveUp),
        Insn::Exit if e.callback_exit => {
            // Returning backwards into a callback from the helper call it
            // went back to: the caller's `r0`-`r5` there are the call's
            // own (its arguments, unchanged since the first call), not the
            // callback's.
            if next + 1 != f {
                return Err(GiveUp);
            }
            wanted.frames[usize::from(next)].regs &= !(ARGS | 1);
        }
        Insn::Exit => {
            // Returning backwards into the callee: the caller's r0 was its r0.
            if next + 1 != f {
                return Err(GiveUp);
            }
            let caller = Loc::Reg {
                frame: next,
                reg: 0,
            };
            if wanted.take(caller) {
                wanted.set(r0);
            }
            if wanted.frames[usize::from(next)].regs & ARGS != 0 {
                return Err(GiveUp);
            }
        }
    }
    Ok(())
}

/// Leaves frame `f + 1` backwards at the call that entered it: what it
/// still wants must be its arguments (`r1`-`r5`), which are returned.
fn leave(wanted: &mut Wanted, f: u8, next: u8) -> Result<Marks, GiveUp> {
    if next != f + 1 || usize::from(next) >= MAX_CALL_FRAMES {
        return Err(GiveUp);
    }
    let callee = std::mem::take(&mut wanted.frames[usize::from(next)]);
    if callee.slots != 0 || callee.regs & !ARGS != 0 {
        return Err(GiveUp);
    }
    Ok(callee)
}
