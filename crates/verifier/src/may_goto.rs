//! `may_goto` (`BPF_JCOND`): a jump the program takes once its hidden
//! budget of 8,388,608 passes runs out. The walk goes to the jump's target
//! (the budget spent) and queues the fall-through one level deeper
//! (`may_goto_depth`), with the scalars that changed since the same
//! instruction's previous visit on this path forgotten, unless some path
//! needed them precisely (`widen_imprecise_scalars`). A later visit at
//! another depth whose state lies within a saved one's ranges is covered
//! by it (see [`crate::checkpoint`]): a loop that only counts converges in
//! a few rounds instead of running the budget down.

use crate::precision::Marks;
use crate::regs::RegState;
use crate::state::State;

/// Forgets, in `cur`, each scalar register or spilled scalar that differs
/// from the one in `old` (the state of the previous visit), unless `old`'s
/// marks say it was needed precisely (`maybe_widen_reg`).
pub(crate) fn widen(old: &State, precise: &[Marks], cur: &mut State) {
    let mut ids = Vec::new();
    for (k, (o, c)) in old.frames.iter().zip(cur.frames.iter_mut()).enumerate() {
        let marks = precise.get(k).copied().unwrap_or_default();
        for (r, (o, c)) in o.regs.iter().zip(c.regs.iter_mut()).enumerate() {
            widen_reg(o, c, marks.reg(r), &mut ids);
        }
        for (spi, (o, c)) in o
            .stack
            .slots
            .iter()
            .zip(c.stack.slots.iter_mut())
            .enumerate()
        {
            if o.is_spill() && c.is_spill() {
                widen_reg(&o.spilled, &mut c.spilled, marks.slot(spi), &mut ids);
            }
        }
    }
}

fn widen_reg(old: &RegState, cur: &mut RegState, precise: bool, ids: &mut Vec<(u32, u32)>) {
    if !old.is_scalar() || !cur.is_scalar() || precise {
        return;
    }
    if old.value == cur.value && same_id(old.id, cur.id, ids) {
        return;
    }
    *cur = RegState::unknown();
}

/// Whether ids `old` and `cur` correspond, given the pairs met so far
/// (`check_ids` on a fresh map).
fn same_id(old: u32, cur: u32, ids: &mut Vec<(u32, u32)>) -> bool {
    if old == 0 || cur == 0 {
        return old == cur;
    }
    match ids.iter().find(|&&(o, c)| o == old || c == cur) {
        Some(&pair) => pair == (old, cur),
        None => {
            ids.push((old, cur));
            true
        }
    }
}
