//! The most instructions one run of a program can execute, so that a JIT
//! whose run starts with at least that much budget can stop counting.
//! Two sound bounds, the smaller wins:
//!
//! - from the code ([`run_bound`]), when no jump goes backwards, nothing
//!   calls back into the program (no function pointers), no tail call
//!   hands the run on, and the bpf-to-bpf calls do not recurse. Without
//!   backward jumps an activation's pc only grows (a call returns to the
//!   next instruction), so an activation entered at `t` executes at most
//!   `len - t` of its own instructions and each call instruction after `t`
//!   at most once: `cost(t) = (len - t) + sum of cost(target)` over the
//!   calls at or after `t`. That over-counts (it runs into later
//!   functions) but is sound.
//! - from the walk ([`Longest`]), which also bounds loops. Every run
//!   follows, instruction by instruction, a path the walk followed, until
//!   the walk pruned that path at a checkpoint whose state covers the
//!   run's; from there the run follows a path the walk followed from that
//!   checkpoint (that is what pruning assumes for safety, and what the
//!   kernel's bounded loops rely on to end). The walk prunes only at
//!   checkpoints all of whose paths have ended, so the most instructions a
//!   run from a checkpoint can execute is known when it is pruned at:
//!   `far(c)` = the longest of its paths, each the instructions it
//!   executed plus, if pruned at `p`, `far(p)`, or if it saved a child
//!   checkpoint, the child's `far`. The walk's own bound is `far` of the
//!   start. It holds only for a walk that follows everything the program
//!   can run: not with callbacks (run any number of times per call), tail
//!   calls, `may_goto`, or global functions (walked on their own).

use apiary_isa::{CallTarget, Insn, LdImm64Kind};

/// `bpf_tail_call`.
const TAIL_CALL: i32 = 12;
/// More calls than this: no bound (the memo stays small).
const MAX_CALLS: usize = 64;

/// The smaller of the code's bound over `insns` (by slot, `None` on an
/// `lddw`'s second slot) and `walked`, the walk's ([`Longest::bound`]) when
/// no global function was walked on its own; `None` when neither bounds
/// the run.
pub(crate) fn run_bound(insns: &[Option<Insn>], walked: Option<u64>) -> Option<u64> {
    if !walk_is_whole(insns) {
        return None;
    }
    match (loop_free_bound(insns), walked) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Whether runs of `insns` execute only instructions the walk of the
/// program followed on their paths (global functions aside).
pub(crate) fn walk_is_whole(insns: &[Option<Insn>]) -> bool {
    !insns.iter().flatten().any(hands_on)
}

/// Whether `insn` can make the run execute instructions the walk did not
/// count on its path: a callback's body (per call, any number of times), a
/// tail call's program, an unknown function, or the loops of `may_goto` and
/// of an iterator's `next` (a kfunc), which converge at states whose paths
/// have not ended.
fn hands_on(insn: &Insn) -> bool {
    matches!(
        insn,
        Insn::MayGoto { .. }
            | Insn::Callx { .. }
            | Insn::Call(CallTarget::Kfunc { .. } | CallTarget::Helper(TAIL_CALL))
            | Insn::LoadImm64 {
                kind: LdImm64Kind::Func,
                ..
            }
    )
}

/// The code's bound: `None` when a jump goes backwards or calls recurse.
fn loop_free_bound(insns: &[Option<Insn>]) -> Option<u64> {
    let mut calls = Vec::new();
    for (pc, insn) in insns.iter().enumerate() {
        let Some(insn) = insn else { continue };
        let target = |rel: i64| pc as i64 + rel + 1;
        let backwards = |rel: i64| target(rel) <= pc as i64;
        match *insn {
            Insn::Jump { off, .. } | Insn::Ja { off } if backwards(off.into()) => return None,
            Insn::Ja32 { imm } if backwards(imm.into()) => return None,
            Insn::Call(CallTarget::Local(imm)) => {
                calls.push((pc, usize::try_from(target(imm.into())).ok()?));
            }
            _ => {}
        }
    }
    if calls.len() > MAX_CALLS {
        return None;
    }
    let mut memo = Memo {
        len: insns.len(),
        calls: &calls,
        done: Vec::new(),
        open: Vec::new(),
    };
    memo.cost(0)
}

struct Memo<'a> {
    len: usize,
    calls: &'a [(usize, usize)],
    done: Vec<(usize, u64)>,
    /// Entries being computed: meeting one again is recursion.
    open: Vec<usize>,
}

impl Memo<'_> {
    fn cost(&mut self, entry: usize) -> Option<u64> {
        if let Some(&(_, c)) = self.done.iter().find(|(t, _)| *t == entry) {
            return Some(c);
        }
        if self.open.contains(&entry) || self.open.len() > MAX_CALLS {
            return None;
        }
        self.open.push(entry);
        let mut total = self.len.checked_sub(entry)? as u64;
        let calls = self.calls;
        for &(_, target) in calls.iter().filter(|(pc, _)| *pc >= entry) {
            total = total.saturating_add(self.cost(target)?);
        }
        self.open.pop();
        self.done.push((entry, total));
        Some(total)
    }
}

/// The walk's bookkeeping for its bound: per checkpoint, the
/// instructions from its parent's save to its own, and the longest run
/// from its state found so far (`far`).
#[derive(Default)]
pub(crate) struct Longest {
    checkpoints: Vec<Far>,
    /// `far` of the walk's start.
    start: u64,
}

#[derive(Clone, Copy)]
struct Far {
    steps: u64,
    far: u64,
}

impl Longest {
    /// Checkpoint `cp` (the next index) was saved `steps` instructions
    /// after its parent.
    pub(crate) fn saved(&mut self, cp: usize, steps: u64) {
        debug_assert_eq!(cp, self.checkpoints.len());
        self.checkpoints.push(Far { steps, far: 0 });
    }

    /// A path from `cp` (the start when `None`) ended after executing
    /// `tail` instructions, counting those a covering checkpoint's runs
    /// go on for ([`Longest::from`]).
    pub(crate) fn ended(&mut self, cp: Option<usize>, tail: u64) {
        match cp {
            Some(cp) => {
                if let Some(c) = self.checkpoints.get_mut(cp) {
                    c.far = c.far.max(tail);
                }
            }
            None => self.start = self.start.max(tail),
        }
    }

    /// Every path from `cp` ended: its parent's runs may go on through it.
    pub(crate) fn finished(&mut self, cp: usize, parent: Option<usize>) {
        if let Some(&Far { steps, far }) = self.checkpoints.get(cp) {
            self.ended(parent, steps.saturating_add(far));
        }
    }

    /// The most instructions a run from finished checkpoint `cp` executes.
    pub(crate) fn from(&self, cp: usize) -> u64 {
        self.checkpoints.get(cp).map_or(u64::MAX, |c| c.far)
    }

    /// The most instructions a run from the walk's start executes, once
    /// every path ended.
    pub(crate) fn bound(&self) -> u64 {
        self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiary_isa::decode_program;

    fn bound(text: &str) -> Option<u64> {
        let slots = apiary_asm::assemble_slots(text).expect("assembling");
        loop_free_bound(&decode_program(&slots).expect("decoding"))
    }

    #[test]
    fn straight_code_is_bounded_by_its_length() {
        assert_eq!(bound("r0 = 1\nif r0 > 2 goto +1\nr0 = 2\nexit"), Some(4));
    }

    #[test]
    fn a_backward_jump_leaves_no_bound() {
        assert_eq!(bound("r0 = 1\nr0 += 1\nif r0 < 9 goto -2\nexit"), None);
    }

    #[test]
    fn calls_add_their_callees_and_recursion_leaves_no_bound() {
        // Two calls of the 2-instruction function at 4, after `exit`.
        let twice = "call pc+0x3\ncall pc+0x2\nexit\nexit\nr0 = 0\nexit";
        assert_eq!(bound(twice), Some(6 + 2 * 2));
        assert_eq!(bound("call pc-0x1\nexit"), None);
    }
}
