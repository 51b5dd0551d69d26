//! Which registers may still be read: a backward dataflow over each
//! function's instructions, so that state pruning ignores registers whose
//! value cannot matter any more (the kernel's liveness marks, computed
//! ahead of the walk).

use apiary_isa::{AtomicOp, CallTarget, Insn, PacketMode, Source};

use crate::cfg::successors;
use crate::helpers::helper_proto;

/// Registers as bits (bit `n` for `rN`).
pub(crate) type RegSet = u16;

const R0: RegSet = 1;
const ARGS: RegSet = 0b11_1110;
const CALLER_SAVED: RegSet = R0 | ARGS;

fn bit(reg: apiary_isa::Reg) -> RegSet {
    1 << reg.index()
}

fn source(src: Source) -> RegSet {
    match src {
        Source::Reg(r) => bit(r),
        Source::Imm(_) => 0,
    }
}

/// The registers `insn` reads and writes.
fn uses_defs(insn: &Insn) -> (RegSet, RegSet) {
    match *insn {
        Insn::Alu {
            op: apiary_isa::AluOp::Mov,
            dst,
            src,
            ..
        } => (source(src), bit(dst)),
        Insn::Alu { dst, src, .. } => (bit(dst) | source(src), bit(dst)),
        Insn::Neg { dst, .. } | Insn::Endian { dst, .. } => (bit(dst), bit(dst)),
        Insn::MovSx { dst, src, .. } | Insn::AddrSpaceCast { dst, src, .. } => (bit(src), bit(dst)),
        Insn::Load { dst, src, .. } | Insn::LoadAcquire { dst, src, .. } => (bit(src), bit(dst)),
        Insn::Store { dst, src, .. } => (bit(dst) | source(src), 0),
        Insn::StoreRelease { dst, src, .. } => (bit(dst) | bit(src), 0),
        Insn::Atomic { dst, src, op, .. } => match op {
            AtomicOp::CmpXchg => (bit(dst) | bit(src) | R0, R0),
            AtomicOp::Xchg
            | AtomicOp::Add { fetch: true }
            | AtomicOp::Or { fetch: true }
            | AtomicOp::And { fetch: true }
            | AtomicOp::Xor { fetch: true } => (bit(dst) | bit(src), bit(src)),
            _ => (bit(dst) | bit(src), 0),
        },
        Insn::LoadImm64 { dst, .. } => (0, bit(dst)),
        Insn::LoadPacket { mode, src, .. } => {
            let index = if mode == PacketMode::Ind { bit(src) } else { 0 };
            (1 << 6 | index, CALLER_SAVED)
        }
        Insn::Jump { dst, src, .. } => (bit(dst) | source(src), 0),
        Insn::Ja { .. } | Insn::Ja32 { .. } | Insn::MayGoto { .. } => (0, 0),
        Insn::Call(CallTarget::Helper(id)) => {
            let args = helper_proto(id).map_or(ARGS, |p| ((1 << p.args.len()) - 1) << 1);
            (args, CALLER_SAVED)
        }
        Insn::Call(_) => (ARGS, CALLER_SAVED),
        Insn::Callx { reg } => (ARGS | bit(reg), CALLER_SAVED),
        Insn::Exit => (R0, 0),
    }
}

/// `live[slot]`: the registers that may be read at or after `slot` before
/// being written, within the function.
pub(crate) fn live_in(insns: &[Option<Insn>]) -> Vec<RegSet> {
    let mut live = vec![0 as RegSet; insns.len()];
    let mut changed = true;
    while changed {
        changed = false;
        for slot in (0..insns.len()).rev() {
            let Some(insn) = insns[slot] else {
                continue;
            };
            let out = successors(insns, slot)
                .into_iter()
                .filter_map(|s| live.get(s))
                .fold(0, |acc, l| acc | l);
            let (uses, defs) = uses_defs(&insn);
            let new = uses | (out & !defs);
            if new != live[slot] {
                live[slot] = new;
                changed = true;
            }
        }
    }
    live
}
