//! What a `bpf_loop` or `bpf_for_each_map_elem` callback and its caller
//! may assume about the caller's stack that the callback's context
//! pointer reaches.
//!
//! The kernel walks the callback again and again until its states
//! converge. Apiary walks it once, from a state that must hold at the
//! start of every iteration and after the call: the numbers there become
//! unknown bytes (the callback may write any), while the pointers spilled
//! there stay pointers (a callback reading `ctx->map_value` or
//! `ctx->data_end` is common). That is sound only if no iteration changes
//! those pointers, which every exit of the callback checks; a callback
//! that does is refused as not modelled.

use crate::error::Rejection;
use crate::regs::{RegState, RegType};
use crate::state::State;

/// A pointer the caller keeps on its stack across the callback: frame,
/// slot (0 for `fp-8`) and the register spilled there.
pub(crate) type Kept = (u8, usize, RegState);

/// Makes the stack of frame `frameno` of `state` what every iteration of
/// a callback may start from: spilled pointers stay (except stack
/// pointers, through which the callback could reach other frames), every
/// other byte becomes an unknown number. Returns the pointers kept.
pub(crate) fn forget_numbers(state: &mut State, frameno: u8) -> Vec<Kept> {
    let Some(frame) = state.frames.get_mut(usize::from(frameno)) else {
        return Vec::new();
    };
    let depth = frame.stack.depth();
    let mut kept = Vec::new();
    for (spi, slot) in frame.stack.slots.iter().enumerate() {
        let reg = slot.spilled;
        if slot.is_spill() && !reg.is_scalar() && reg.kind != RegType::Stack {
            kept.push((frameno, spi, reg));
        }
    }
    frame.stack.clobber(-depth, depth);
    for &(_, spi, reg) in &kept {
        frame.stack.spill(spi, reg);
    }
    kept
}

/// At a callback's exit: the caller's kept pointers are still there, the
/// same pointers (a packet pointer may have gained range).
pub(crate) fn check_exit(state: &State, pc: usize, kept: &[Kept]) -> Result<(), Rejection> {
    for &(frameno, spi, entry) in kept {
        let now = state
            .frames
            .get(usize::from(frameno))
            .and_then(|f| f.stack.slots.get(spi))
            .filter(|s| s.is_spill())
            .map(|s| s.spilled);
        let unchanged = now.is_some_and(|reg| {
            reg.range >= entry.range
                && RegState {
                    range: entry.range,
                    range_from: entry.range_from,
                    ..reg
                } == entry
        });
        if !unchanged {
            let off = -8 * (spi as i32 + 1);
            return Err(Rejection::new(
                pc,
                format!(
                    "callback changes the pointer its caller keeps at fp{off}, \
                     which apiary's verifier does not model yet"
                ),
            )
            .cause(format!(
                "the callback leaves fp{off} of frame {frameno} other than the {} it found; \
                 Apiary walks a callback once and needs the pointers its caller keeps \
                 to stay as they were",
                entry.type_name()
            )));
        }
    }
    Ok(())
}
