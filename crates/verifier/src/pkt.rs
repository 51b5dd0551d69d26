//! Packet bounds from comparisons with `data_end` (and of `data_meta` with
//! `data`): after `if (data + N > data_end) goto out;`, every packet pointer
//! derived from the same base knows `N` bytes are readable
//! (`try_match_pkt_pointers`, `find_good_pkt_pointers`, `mark_pkt_end`,
//! `is_pkt_ptr_branch_taken`).

use apiary_isa::JmpCond;

use crate::branch::flip;
use crate::regs::{AT_PKT_END, BEYOND_PKT_END, RegState, RegType};
use crate::state::State;

/// The kernel's `MAX_PACKET_OFF`.
const MAX_PACKET_OFF: u64 = 0xffff;

/// Every packet pointer of `kind` linked to `cmp` (same id) learns that
/// `cmp.off` bytes (one more when the comparison was strict the right way)
/// are inside the packet, and that comparison `insn` proved it.
fn find_good_pkt_pointers(state: &mut State, cmp: &RegState, range_right_open: bool, insn: usize) {
    if cmp.off < 0 || (cmp.off == 0 && range_right_open) {
        return;
    }
    if cmp.value.umax > MAX_PACKET_OFF || cmp.value.umax + cmp.off as u64 > MAX_PACKET_OFF {
        return;
    }
    let new_range = cmp.off + i32::from(range_right_open);
    for reg in state.all_regs_mut() {
        if reg.kind == cmp.kind && reg.id == cmp.id && new_range > reg.range {
            reg.range = new_range;
            reg.range_from = u32::try_from(insn).ok();
        }
    }
}

/// The compared packet pointer is at (or beyond) the end on this side.
fn mark_pkt_end(state: &mut State, regno: usize, beyond: bool) {
    let reg = &mut state.frame_mut().regs[regno];
    if reg.kind == RegType::Packet {
        reg.range = if beyond { BEYOND_PKT_END } else { AT_PKT_END };
    }
}

/// A packet pointer with no offset of any kind from the context field.
fn is_init_pkt_pointer(reg: &RegState, kind: RegType) -> bool {
    reg.kind == kind && reg.id == 0 && reg.off == 0 && reg.value.var_off.equals_const(0)
}

/// Updates both sides of a 64-bit register-register jump on `dst cond src`
/// when it compares a packet pointer with the end (or metadata with the
/// start) at instruction `insn`; false when it is not such a comparison.
pub(crate) fn try_match(
    insn: usize,
    cond: JmpCond,
    dst: usize,
    src: usize,
    fall: &mut State,
    taken: &mut State,
) -> bool {
    let (d, s) = (fall.frame().regs[dst], fall.frame().regs[src]);
    // `dst` is the moved pointer and `src` the limit ...
    let forward = (d.kind == RegType::Packet && s.kind == RegType::PacketEnd)
        || (d.kind == RegType::PacketMeta && is_init_pkt_pointer(&s, RegType::Packet));
    // ... or the other way round.
    let backward = (d.kind == RegType::PacketEnd && s.kind == RegType::Packet)
        || (is_init_pkt_pointer(&d, RegType::Packet) && s.kind == RegType::PacketMeta);
    let (ptr, regno, cond) = match (forward, backward) {
        (true, _) => (d, dst, cond),
        (_, true) => (s, src, flip(cond)),
        _ => return false,
    };
    // With `ptr cond limit`: which side proves the access, and whether the
    // comparison leaves the end itself outside.
    let (good, good_open, end, end_beyond) = match cond {
        JmpCond::Gt => (&mut *fall, false, &mut *taken, true),
        JmpCond::Lt => (&mut *taken, true, &mut *fall, false),
        JmpCond::Ge => (&mut *fall, true, &mut *taken, false),
        JmpCond::Le => (&mut *taken, false, &mut *fall, true),
        _ => return false,
    };
    find_good_pkt_pointers(good, &ptr, good_open, insn);
    mark_pkt_end(end, regno, end_beyond);
    true
}

/// Whether a comparison of a packet pointer known to be at or past the end
/// with `data_end` is decided (`is_pkt_ptr_branch_taken`).
pub(crate) fn branch_taken(dst: &RegState, src: &RegState, cond: JmpCond) -> Option<bool> {
    let (pkt, cond) = if src.kind == RegType::PacketEnd {
        (dst, cond)
    } else if dst.kind == RegType::PacketEnd {
        (src, flip(cond))
    } else {
        return None;
    };
    if pkt.range >= 0 {
        return None;
    }
    match cond {
        JmpCond::Le | JmpCond::Gt if pkt.range == BEYOND_PKT_END => Some(cond == JmpCond::Gt),
        JmpCond::Lt | JmpCond::Ge => Some(cond == JmpCond::Ge),
        _ => None,
    }
}
