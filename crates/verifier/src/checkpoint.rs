//! Checkpoints (`is_state_visited`): the states saved at prune points, the
//! chain of them each path came through, and the decision at a prune
//! point: stop the path because a finished state covers it, refuse it as a
//! loop that repeats itself exactly, or save it.
//!
//! A checkpoint also keeps the precision marks later paths found its
//! scalars need ([`crate::precision`]) and the history of instructions
//! that led to it from its parent ([`crate::history`]).

use std::collections::HashMap;

use crate::error::{Rejection, Stats};
use crate::explore::Env;
use crate::history::Entry;
use crate::liveness::RegSet;
use crate::precision::{ALL_PRECISE, Marks};
use crate::prune;
use crate::run_bound::Longest;
use crate::state::State;

/// A saved state at a prune point, with the number of paths from it still
/// being explored (`branches`): it can prune others once that is 0.
pub(crate) struct Checkpoint {
    pub state: State,
    pub pc: usize,
    pub parent: Option<usize>,
    /// The instructions from the parent checkpoint to this one.
    pub hist: Vec<Entry>,
    /// Per frame, the scalars whose value some path from here relied on.
    pub precise: Vec<Marks>,
    branches: u32,
    hits: u32,
    misses: u32,
}

/// The saved states, by instruction: the finished ones (which may prune),
/// and the unfinished ones by a fingerprint of their registers (which may
/// only reveal a loop that repeats itself exactly).
#[derive(Default)]
pub(crate) struct Checkpoints {
    pub all: Vec<Checkpoint>,
    finished: HashMap<usize, Vec<usize>>,
    open: HashMap<(usize, u64), Vec<usize>>,
    open_count: HashMap<usize, u32>,
    /// Jumps, calls and exits processed, for the saving heuristic.
    pub jumps: u64,
    last_jumps: u64,
    last_insns: u64,
    /// Checkpoints kept (saved and not dropped), for `peak_states`.
    kept: u32,
    /// The longest runs from each checkpoint, for the run's bound.
    pub longest: Longest,
}

impl Checkpoints {
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
            self.finished.entry(c.pc).or_default().push(i);
            if let Some(n) = self.open_count.get_mut(&c.pc) {
                *n -= 1;
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

/// What happened at a prune point.
pub(crate) enum Visit {
    /// The finished checkpoint at this index covers the path.
    Pruned(usize),
    /// The path's state was saved as this checkpoint.
    Saved(usize),
    /// Neither.
    Continue,
}

/// The live registers of each frame of `state` at `pc`.
pub(crate) fn live_masks(env: &Env, state: &State, pc: usize) -> Vec<RegSet> {
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

/// A path at a prune point: its state, where it is, the checkpoint it
/// came from, its history since and how many instructions that was.
pub(crate) struct At<'a> {
    pub state: &'a State,
    pub pc: usize,
    pub checkpoint: Option<usize>,
    pub hist: &'a mut Vec<Entry>,
    pub steps: u64,
}

/// Compares the path with the states saved at its instruction: prunes it
/// when a finished one covers it, refuses an exact repeat of an unfinished
/// one (a loop that cannot end), and saves it when enough happened since
/// the last save (`is_state_visited`: at least 2 jumps and 8 instructions,
/// 20 jumps or 100 instructions inside a loop). Finished states that keep
/// failing to prune are dropped.
pub(crate) fn visit(
    cps: &mut Checkpoints,
    at: At,
    live: &[RegSet],
    stats: &mut Stats,
) -> Result<Visit, Rejection> {
    let pc = at.pc;
    let print = fingerprint(at.state, live.last().copied().unwrap_or(RegSet::MAX));
    for &cp in cps.open.get(&(pc, print)).into_iter().flatten() {
        let old = &cps.all[cp];
        if old.branches > 0
            && prune::covers(&old.state, &ALL_PRECISE, at.state, live)
            && prune::covers(at.state, &ALL_PRECISE, &old.state, live)
        {
            return Err(
                Rejection::new(pc, format!("infinite loop detected at insn {pc}"))
                    .cause(
                        "the loop comes back to this instruction in the same state, so it never ends",
                    )
                    .help("make sure the loop variable changes on every iteration and is bounded"),
            );
        }
    }
    // Save a checkpoint after at least 2 jumps and 8 instructions, or 20
    // jumps or 100 instructions inside a loop (an unfinished state here).
    let open = cps.open_count.get(&pc).copied().unwrap_or(0);
    let (jumps, insns) = (
        cps.jumps - cps.last_jumps,
        stats.insns_processed - cps.last_insns,
    );
    let add = if open > 0 {
        jumps >= 20 || insns >= 100
    } else {
        jumps >= 2 && insns >= 8
    };
    let finished = cps.finished.entry(pc).or_default();
    let mut pruned = None;
    let mut dropped = 0;
    let all = &mut cps.all;
    finished.retain(|&cp| {
        let old = &mut all[cp];
        if pruned.is_some() {
            return true;
        }
        if prune::covers(&old.state, &old.precise, at.state, live) {
            old.hits += 1;
            pruned = Some(cp);
            return true;
        }
        // A miss counts only when a state is saved instead, so that loop
        // iterations that save nothing do not evict the states of earlier
        // ones (`miss_cnt`).
        if add {
            old.misses += 1;
        }
        let keep = old.misses <= old.hits * 3 + 3;
        if !keep {
            dropped += 1;
        }
        keep
    });
    cps.kept -= dropped;
    if let Some(cp) = pruned {
        return Ok(Visit::Pruned(cp));
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
        pc,
        parent: at.checkpoint,
        hist: std::mem::take(at.hist),
        precise: vec![Marks::default(); at.state.frames.len()],
        branches: 1,
        hits: 0,
        misses: 0,
    });
    cps.open.entry((pc, print)).or_default().push(cp);
    *cps.open_count.entry(pc).or_default() += 1;
    cps.kept += 1;
    stats.total_states += 1;
    stats.peak_states = stats.peak_states.max(cps.kept);
    let here = cps.finished.get(&pc).map_or(0, Vec::len) as u32 + open + 1;
    stats.max_states_per_insn = stats.max_states_per_insn.max(here);
    Ok(Visit::Saved(cp))
}
