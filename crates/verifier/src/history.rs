//! The instruction history of a path (the kernel's jump history,
//! `push_insn_history`): what precision backtracking needs to walk a path
//! backwards. Each processed instruction is remembered with the frame it
//! ran in, the stack slot it spilled to or filled from, and, for a
//! conditional jump, the scalars linked by id to its operands (they all
//! learnt from the comparison, `collect_linked_regs`).
//!
//! A path keeps its history since its last checkpoint; the checkpoint keeps
//! the history that led to it, so the chain of checkpoints holds a path's
//! whole past.

use apiary_isa::{Insn, Source};

use crate::regs::RegType;
use crate::state::State;

/// A register or a spilled stack slot of one frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Loc {
    /// Register `reg` of frame `frame`.
    Reg { frame: u8, reg: u8 },
    /// The 8-byte slot `spi` (`fp-8*(spi+1)`) of frame `frame`.
    Slot { frame: u8, spi: u8 },
}

/// One processed instruction.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// Its index.
    pub pc: u32,
    /// The frame it ran in (0 for the program's own).
    pub frame: u8,
    /// A load or store at a fixed stack offset: the slot it touched
    /// (`INSN_F_STACK_ACCESS`), as `Loc::Slot`.
    pub slot: Option<Loc>,
    /// A conditional jump's operands and the scalars sharing their ids.
    pub linked: Option<Box<[Loc]>>,
    /// An exit from a callback, back to the helper call that called it.
    pub callback_exit: bool,
}

/// The history entry of the instruction at `pc`, taken from the state
/// before it runs.
pub(crate) fn entry(insn: &Insn, state: &State, pc: usize) -> Entry {
    let frame = (state.frames.len() - 1) as u8;
    let regs = &state.frame().regs;
    let base = match *insn {
        Insn::Load { src, off, .. } | Insn::LoadAcquire { src, off, .. } => Some((src, off)),
        Insn::Store { dst, off, .. }
        | Insn::StoreRelease { dst, off, .. }
        | Insn::Atomic { dst, off, .. } => Some((dst, off)),
        _ => None,
    };
    let slot = base.and_then(|(r, off)| {
        let reg = regs[r.index() as usize];
        if reg.kind != RegType::Stack || !reg.value.is_const() {
            return None;
        }
        let total = reg.off + i32::from(off);
        (-512..0).contains(&total).then(|| Loc::Slot {
            frame: reg.frameno,
            spi: ((-total - 1) / 8) as u8,
        })
    });
    let linked = match *insn {
        Insn::Jump { dst, src, .. } => {
            // The operands' ids, 0 for none (this runs at every jump: no
            // allocation unless something is linked).
            let id = |r: apiary_isa::Reg| {
                let reg = &regs[r.index() as usize];
                if reg.is_scalar() { reg.id } else { 0 }
            };
            let ids = [
                id(dst),
                match src {
                    Source::Reg(s) => id(s),
                    Source::Imm(_) => 0,
                },
            ];
            sharing(state, ids)
        }
        _ => None,
    };
    Entry {
        pc: pc as u32,
        frame,
        slot,
        linked,
        callback_exit: matches!(insn, Insn::Exit) && state.frame().callback,
    }
}

/// Every scalar register and spilled scalar of `state` whose id is one of
/// the non-zero `ids`; `None` when there is none (nothing to keep in step).
fn sharing(state: &State, ids: [u32; 2]) -> Option<Box<[Loc]>> {
    if ids == [0, 0] {
        return None;
    }
    let ids: &[u32] = match ids {
        [0, b] => &[b],
        [a, 0] => &[a],
        _ => &ids,
    };
    let mut found = Vec::new();
    for (k, f) in state.frames.iter().enumerate() {
        let frame = k as u8;
        for (r, reg) in f.regs.iter().enumerate() {
            if reg.is_scalar() && ids.contains(&reg.id) {
                found.push(Loc::Reg {
                    frame,
                    reg: r as u8,
                });
            }
        }
        for (spi, slot) in f.stack.slots.iter().enumerate() {
            if slot.is_spill() && slot.spilled.is_scalar() && ids.contains(&slot.spilled.id) {
                found.push(Loc::Slot {
                    frame,
                    spi: spi as u8,
                });
            }
        }
    }
    Some(found.into_boxed_slice())
}
