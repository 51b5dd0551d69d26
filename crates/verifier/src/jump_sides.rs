//! Which sides of each conditional jump the walk followed, so that a JIT
//! can drop the comparison of a jump that goes the same way on every run
//! (as the kernel's `opt_hard_wire_dead_code_branches` does with the
//! sides its walk never saw).
//!
//! Every run follows paths the walk followed (the argument of
//! `run_bound`), so a side the walk never took is taken by no run. Only
//! comparisons of numbers count: pointers compare by addresses the
//! embedder chose, which may break what the walk assumed (a packet's
//! `data_end` below `data` in a run on plain memory). That
//! holds only for a walk that followed everything the program runs: the
//! record is kept only when the walk's run bound is (no callbacks, which
//! the walk enters once where runs may enter them with other states, no
//! tail calls, `may_goto` or global functions).

/// How a conditional jump goes on every run, when always the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JumpSide {
    /// It always jumps.
    Taken,
    /// It never jumps.
    FallThrough,
}

/// Per instruction slot, the side each conditional jump always takes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JumpSides {
    /// Bit 0: the walk fell through; bit 1: it jumped.
    seen: Vec<u8>,
}

const FELL: u8 = 1;
const JUMPED: u8 = 2;

impl JumpSides {
    /// A record for `slots` instructions, nothing seen yet.
    pub(crate) fn new(slots: usize) -> Self {
        JumpSides {
            seen: vec![0; slots],
        }
    }

    /// The walk left the conditional jump at `pc` for `to`, its instruction
    /// after being `next`.
    pub(crate) fn went(&mut self, pc: usize, next: usize, to: usize) {
        if let Some(seen) = self.seen.get_mut(pc) {
            *seen |= if to == next { FELL } else { JUMPED };
        }
    }

    /// The walk followed both sides of the jump at `pc`.
    pub(crate) fn both(&mut self, pc: usize) {
        if let Some(seen) = self.seen.get_mut(pc) {
            *seen |= FELL | JUMPED;
        }
    }

    /// The record, or an empty one when the walk does not cover every run.
    pub(crate) fn finish(self, whole: bool) -> JumpSides {
        if whole { self } else { JumpSides::default() }
    }

    /// The side the conditional jump at instruction slot `insn` takes on
    /// every run, if it always takes the same (and the walk reached it).
    pub fn get(&self, insn: usize) -> Option<JumpSide> {
        match *self.seen.get(insn)? {
            FELL => Some(JumpSide::FallThrough),
            JUMPED => Some(JumpSide::Taken),
            _ => None,
        }
    }

    /// How many jumps always go one way.
    pub fn count(&self) -> usize {
        self.seen
            .iter()
            .filter(|&&s| s == FELL || s == JUMPED)
            .count()
    }
}
