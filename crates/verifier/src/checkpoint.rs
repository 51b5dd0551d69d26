//! Checkpoints (`is_state_visited`): the states saved at prune points, the
//! chain of them each path came through, and the decision at a prune
//! point: stop the path because a finished state covers it, refuse it as a
//! loop that repeats itself exactly, or save it.
//!
//! A checkpoint also keeps the precision marks later paths found its
//! scalars need ([`crate::precision`]) and the history of instructions
//! that led to it from its parent ([`crate::history`]).

use crate::error::{Rejection, Stats};
use crate::explore::Env;
use crate::history::Entry;
use crate::liveness::RegSet;
use crate::precision::{ALL_PRECISE, Marks};
use crate::prune;
use crate::regs::RegState;
use crate::run_bound::Longest;
use crate::state::{MAX_CALL_FRAMES, State};

/// A saved state at a prune point, with the number of paths from it still
/// being explored (`branches`): it can prune others once that is 0.
pub(crate) struct Checkpoint {
    pub state: State,
    pub parent: Option<usize>,
    /// The instructions from the parent checkpoint to this one.
    pub hist: Vec<Entry>,
    /// Per frame, the scalars whose value some path from here relied on.
    pub precise: Vec<Marks>,
    /// No longer in its instruction's list.
    evicted: bool,
    branches: u32,
    hits: u32,
    misses: u32,
}

/// The saved states, by instruction, newest last: each list holds the
/// states still compared there, finished (which may prune) or not (which
/// may only reveal a loop that repeats itself exactly), as the kernel's
/// `explored_states` lists.
#[derive(Default)]
pub(crate) struct Checkpoints {
    pub all: Vec<Checkpoint>,
    at: Vec<Vec<u32>>,
    /// Jumps, calls and exits processed, for the saving heuristic.
    pub jumps: u64,
    last_jumps: u64,
    last_insns: u64,
    /// Checkpoints kept (saved and not yet freed), for `peak_states`.
    kept: u32,
    /// The longest runs from each checkpoint, for the run's bound.
    pub longest: Longest,
}

impl Checkpoints {
    /// No checkpoint yet, for a program of `len` slots.
    pub fn new(len: usize) -> Checkpoints {
        Checkpoints {
            at: vec![Vec::new(); len],
            ..Checkpoints::default()
        }
    }

    /// A path from `cp` ended, `tail` instructions of a run after `cp`
    /// (see [`Longest::ended`]): it and its ancestors may be finished.
    pub fn finish(&mut self, mut cp: Option<usize>, tail: u64) {
        self.longest.ended(cp, tail);
        while let Some(i) = cp {
            let c = &mut self.all[i];
            c.branches -= 1;
            if c.branches > 0 {
                break;
            }
            // No path goes back through a finished checkpoint any more:
            // its history is not needed, nor its state once it left the
            // lists (`maybe_free_verifier_state`).
            c.hist = Vec::new();
            if c.evicted {
                c.state.frames = Vec::new();
                self.kept -= 1;
            }
            cp = c.parent;
            self.longest.finished(i, cp);
        }
    }

    /// One more path goes on from `cp` (a branch's other side, a callback).
    pub fn branch(&mut self, cp: Option<usize>) {
        if let Some(cp) = cp {
            self.all[cp].branches += 1;
        }
    }

    /// The checkpoint of the previous visit of `pc` on the path through
    /// checkpoint `cp` (itself saved at `pc`), in the same call frames and
    /// still compared there (`find_prev_entry`).
    pub fn prev_entry(&self, cp: usize, pc: usize) -> Option<usize> {
        self.last_visit(self.all[cp].parent, &self.all[cp].state, pc)
    }

    /// The newest checkpoint of `pc` in the chain from `from` up, in the
    /// call frames of `state` and still compared there.
    pub fn last_visit(&self, from: Option<usize>, state: &State, pc: usize) -> Option<usize> {
        let frames = &state.frames;
        let mut up = from;
        while let Some(a) = up {
            let c = &self.all[a];
            let same_calls = c.state.frames.len() == frames.len()
                && c.state
                    .frames
                    .iter()
                    .zip(frames)
                    .all(|(x, y)| x.callsite == y.callsite);
            if same_calls && self.at[pc].contains(&(a as u32)) {
                return Some(a);
            }
            up = c.parent;
        }
        None
    }
}

/// Whether the innermost frames' registers are the same, dead ones too,
/// ids as they are (the kernel compares their bytes), at the same
/// `may_goto` depth and in the same iteration of callbacks. The type, known bits and unsigned range of each
/// register are compared first, all of them: successive iterations of a
/// loop differ there, and this runs at every prune point where such a
/// state waits.
fn same_regs(old: &State, cur: &State) -> bool {
    if old.frames.len() != cur.frames.len()
        || old.may_goto_depth != cur.may_goto_depth
        || old.callback_unroll_depth != cur.callback_unroll_depth
    {
        return false;
    }
    let (old, cur) = (&old.frame().regs, &cur.frame().regs);
    old.iter().zip(cur).all(|(o, c)| {
        o.kind == c.kind
            && o.value.var_off == c.value.var_off
            && o.value.umin == c.value.umin
            && o.value.umax == c.value.umax
    }) && old.iter().zip(cur).all(|(o, c)| {
        RegState {
            range_from: c.range_from,
            ..*o
        } == *c
    })
}

/// The kind of prune point, for the rules that differ at loops the walk
/// goes round itself (`is_force_checkpoint`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// A jump, a jump target, the instruction after a call.
    Plain,
    /// A `may_goto` (see [`crate::may_goto`]).
    MayGoto,
    /// A call of a helper that calls a callback (see [`crate::callbacks`]).
    CallsCallback,
    /// An iterator `next` call (see [`crate::iter`]).
    IterNext,
}

impl Site {
    /// The state is always saved there.
    fn forced(self) -> bool {
        self != Site::Plain
    }
}

/// What happened at a prune point.
pub(crate) enum Visit {
    /// The finished checkpoint at this index covers the path.
    Pruned(usize),
    /// The path's state was saved as this checkpoint.
    Saved(usize),
    /// The unfinished checkpoint at this index is the path's state
    /// exactly: a loop that never ends ([`infinite_loop`]).
    Looping(usize),
    /// Neither.
    Continue,
}

/// The refusal of a path that came back to `pc` in a state it had there.
pub(crate) fn infinite_loop(pc: usize) -> Rejection {
    Rejection::new(pc, format!("infinite loop detected at insn {pc}"))
        .cause("the loop comes back to this instruction in the same state, so it never ends")
        .help("make sure the loop variable changes on every iteration and is bounded")
}

/// The live registers of each frame of `state` at `pc`: the first
/// `state.frames.len()` entries count (an array: this runs at every
/// prune point).
pub(crate) fn live_masks(env: &Env, state: &State, pc: usize) -> [RegSet; MAX_CALL_FRAMES] {
    let mut masks = [RegSet::MAX; MAX_CALL_FRAMES];
    let n = state.frames.len();
    for (k, mask) in masks.iter_mut().enumerate().take(n) {
        *mask = if k + 1 == n {
            env.live[pc]
        } else {
            let callee = &state.frames[k + 1];
            match callee.callsite {
                // A callback goes back to the helper call, which reads
                // its arguments again.
                Some(call) if callee.callback => env.live[call],
                // A caller's registers after the return: r0-r5 are rewritten.
                Some(call) => env.live.get(call + 1).copied().unwrap_or(RegSet::MAX) & !0b11_1111,
                None => env.live[pc] & !0b11_1111,
            }
        };
    }
    masks
}

/// A path at a prune point: its state, where it is, the checkpoint it
/// came from, its history since and how many instructions that was.
pub(crate) struct At<'a> {
    pub state: &'a State,
    pub pc: usize,
    pub checkpoint: Option<usize>,
    pub hist: &'a mut Vec<Entry>,
    pub steps: u64,
}

/// Compares the path with the states saved at its instruction, newest
/// first (`is_state_visited`): prunes it when a finished one covers it,
/// refuses an exact repeat of an unfinished one (a loop that cannot end),
/// and saves it when enough happened since the last save (at least 2
/// jumps and 8 instructions; 20 jumps or 100 instructions inside a loop,
/// where an unfinished state waits here). States that keep failing to
/// prune, finished or not, stop being compared (`miss_cnt`, `hit_cnt`).
///
/// At a `may_goto`, a call of a callback or an iterator `next` (`site`)
/// the state is always saved, and an unfinished state covers the path
/// when its ranges contain the path's, precise or not: one of another
/// `may_goto` depth (see [`crate::may_goto`]), any at the call of a
/// callback (see [`crate::callbacks`]), any while the iterator is active
/// (see [`crate::iter`]); at the last two no state is refused as an
/// infinite loop.
pub(crate) fn visit(
    cps: &mut Checkpoints,
    at: At,
    live: &[RegSet],
    stats: &mut Stats,
    site: Site,
) -> Result<Visit, Rejection> {
    let forced = site.forced();
    let pc = at.pc;
    let (jumps, insns) = (
        cps.jumps - cps.last_jumps,
        stats.insns_processed - cps.last_insns,
    );
    let mut add = forced || (jumps >= 2 && insns >= 8);
    let list = &mut cps.at[pc];
    stats.max_states_per_insn = stats.max_states_per_insn.max(list.len() as u32);
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        let old = &mut cps.all[list[i] as usize];
        if old.branches > 0 {
            let loop_hit = match site {
                Site::MayGoto => old.state.may_goto_depth != at.state.may_goto_depth,
                Site::CallsCallback => true,
                Site::IterNext => crate::iter::next_arg_active(at.state),
                Site::Plain => false,
            };
            if loop_hit && prune::covers(&old.state, &ALL_PRECISE, at.state, live) {
                old.hits += 1;
                return Ok(Visit::Pruned(list[i] as usize));
            }
            if !matches!(site, Site::CallsCallback | Site::IterNext)
                && same_regs(&old.state, at.state)
                && !crate::iter::active_depths_differ(&old.state, at.state)
                && prune::covers(&old.state, &ALL_PRECISE, at.state, live)
                && prune::covers(at.state, &ALL_PRECISE, &old.state, live)
            {
                return Ok(Visit::Looping(list[i] as usize));
            }
            // Inside a loop, states of successive iterations differ:
            // save fewer of them.
            if !forced && jumps < 20 && insns < 100 {
                add = false;
            }
        } else if prune::covers(&old.state, &old.precise, at.state, live) {
            old.hits += 1;
            return Ok(Visit::Pruned(list[i] as usize));
        }
        // A miss counts only when a state is saved instead, so that loop
        // iterations that save nothing do not evict the states of earlier
        // ones.
        if add {
            old.misses += 1;
        }
        // At a `may_goto`, a callback's call or an iterator `next`, the states of the loop's
        // earlier rounds are what a later round converges to: kept far
        // longer.
        let n = if forced && old.branches > 0 { 64 } else { 3 };
        if old.misses > old.hits * n + n {
            list.remove(i);
            old.evicted = true;
            // An unfinished state stays kept (for the paths still below
            // it) until they end.
            if old.branches == 0 {
                old.state.frames = Vec::new();
                cps.kept -= 1;
            }
        }
    }
    if !add {
        return Ok(Visit::Continue);
    }
    cps.last_jumps = cps.jumps;
    cps.last_insns = stats.insns_processed;
    let cp = cps.all.len();
    cps.longest.saved(cp, at.steps);
    cps.all.push(Checkpoint {
        state: at.state.clone(),
        parent: at.checkpoint,
        // A copy of the exact size; the path keeps its buffer for what
        // comes next.
        hist: at.hist.clone(),
        precise: vec![Marks::default(); at.state.frames.len()],
        evicted: false,
        branches: 1,
        hits: 0,
        misses: 0,
    });
    at.hist.clear();
    cps.at[pc].push(cp as u32);
    cps.kept += 1;
    stats.total_states += 1;
    stats.peak_states = stats.peak_states.max(cps.kept);
    Ok(Visit::Saved(cp))
}
