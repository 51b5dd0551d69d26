//! State pruning (`states_equal`, `regsafe`, `stacksafe`, `refsafe`): a
//! path may stop where an earlier, fully verified path was in a state that
//! covers it, because everything the new path can do, the old one could.
//!
//! "Covers" is checked per live register (see [`crate::liveness`]) and per
//! stack byte, with ids compared up to renaming. A scalar the old state
//! never needed precisely ([`crate::precision`]) covers any number: nothing
//! on the old state's paths depended on its value.

use crate::liveness::RegSet;
use crate::precision::Marks;
use crate::regs::{RegState, RegType};
use crate::scalar::Scalar;
use crate::stack::{Slot, SlotType, Stack};
use crate::state::State;

/// Old-to-new id correspondence (`struct bpf_idmap`).
#[derive(Default)]
struct IdMap {
    pairs: Vec<(u32, u32)>,
}

impl IdMap {
    /// Whether `old` may stand for `cur` given the pairs so far (`check_ids`).
    fn check(&mut self, old: u32, cur: u32) -> bool {
        if (old == 0) != (cur == 0) {
            return false;
        }
        if old == 0 {
            return true;
        }
        for &(o, c) in &self.pairs {
            if o == old {
                return c == cur;
            }
            if c == cur {
                return false;
            }
        }
        self.pairs.push((old, cur));
        true
    }

    /// Scalars: an old scalar without an id links nothing, so it covers
    /// any id the new one has (`check_scalar_ids`).
    fn check_scalar(&mut self, old: u32, cur: u32) -> bool {
        old == 0 || self.check(old, cur)
    }
}

/// Whether every value of `cur` is a value of `old` (`range_within` and `tnum_in`).
fn value_within(old: &Scalar, cur: &Scalar) -> bool {
    old.umin <= cur.umin
        && old.umax >= cur.umax
        && old.smin <= cur.smin
        && old.smax >= cur.smax
        && old.u32_min <= cur.u32_min
        && old.u32_max >= cur.u32_max
        && old.s32_min <= cur.s32_min
        && old.s32_max >= cur.s32_max
        && old.var_off.includes(cur.var_off)
}

/// Whether `old` covers `cur` (`regsafe`); `precise` tells whether an old
/// scalar's value mattered. Inlined: it runs for each live register at
/// every comparison of states.
#[inline(always)]
fn reg_covers(old: &RegState, cur: &RegState, precise: bool, ids: &mut IdMap) -> bool {
    if old.kind == RegType::NotInit {
        return true;
    }
    if old.kind != cur.kind || old.maybe_null != cur.maybe_null || old.rdonly != cur.rdonly {
        return false;
    }
    match old.kind {
        RegType::Scalar if !precise => true,
        RegType::Scalar => value_within(&old.value, &cur.value) && ids.check_scalar(old.id, cur.id),
        RegType::Packet | RegType::PacketMeta => {
            old.range <= cur.range
                && old.off == cur.off
                && (old.id == 0 || ids.check(old.id, cur.id))
                && value_within(&old.value, &cur.value)
        }
        RegType::MapValue | RegType::MapKey | RegType::Mem | RegType::RingbufMem => {
            old.off == cur.off
                && old.map == cur.map
                && old.mem_size == cur.mem_size
                && value_within(&old.value, &cur.value)
                && ids.check(old.id, cur.id)
                && ids.check(old.ref_obj_id, cur.ref_obj_id)
        }
        _ => {
            old.off == cur.off
                && old.map == cur.map
                && old.mem_size == cur.mem_size
                && old.frameno == cur.frameno
                && old.range == cur.range
                && (old.btf_id, old.trust) == (cur.btf_id, cur.trust)
                && old.value == cur.value
                && ids.check(old.id, cur.id)
                && ids.check(old.ref_obj_id, cur.ref_obj_id)
        }
    }
}

/// Whether a slot reads back only as numbers: a spilled scalar, or bytes
/// that are misc or never written (`scalar_reg_for_stack`).
fn holds_number(slot: &Slot) -> bool {
    let spilled = slot.bytes.iter().all(|b| *b == SlotType::Spill) && slot.spilled.is_scalar();
    spilled
        || slot
            .bytes
            .iter()
            .all(|b| matches!(b, SlotType::Misc | SlotType::Invalid))
}

/// Whether the old stack covers the new one, byte by byte (`stacksafe`):
/// an old byte never written or holding some number accepts anything (a
/// privileged program may read either), spills must cover spills, and a
/// spilled scalar whose value never mattered covers any number.
fn stack_covers(old: &Stack, cur: &Stack, precise: Marks, ids: &mut IdMap) -> bool {
    for (spi, o) in old.slots.iter().enumerate() {
        let c = cur.slots.get(spi).unwrap_or(&Slot::EMPTY);
        let exact = precise.slot(spi);
        if !exact && o.is_spill() && holds_number(o) && holds_number(c) {
            continue;
        }
        for i in 0..8 {
            let ok = match (o.bytes[i], c.bytes[i]) {
                (SlotType::Invalid | SlotType::Misc, _) => true,
                (a, b) => a == b,
            };
            if !ok {
                return false;
            }
        }
        if o.is_spill() && !reg_covers(&o.spilled, &c.spilled, exact, ids) {
            return false;
        }
        // Iterators: the same state and reference; the depth is ignored,
        // or successive iterations could never cover each other.
        if let Some(oi) = o.iter {
            let same = c
                .iter
                .is_some_and(|ci| ci.active == oi.active && ids.check(oi.ref_id, ci.ref_id));
            if !same {
                return false;
            }
        }
    }
    true
}

/// Whether `old` covers `cur` (`states_equal`); `precise[k]` lists the
/// scalars of frame `k` of `old` whose value mattered, `live[k]` the
/// registers of frame `k` that may still be read.
pub(crate) fn covers(old: &State, precise: &[Marks], cur: &State, live: &[RegSet]) -> bool {
    if old.frames.len() != cur.frames.len() || old.refs.len() != cur.refs.len() {
        return false;
    }
    let mut ids = IdMap::default();
    for (k, (o, c)) in old.frames.iter().zip(&cur.frames).enumerate() {
        // A state that called its callback more times in a row does not
        // cover one that called it fewer: `bpf_loop` may stop sooner
        // after the old one (`func_states_equal`).
        if o.callsite != c.callsite
            || o.async_cb != c.async_cb
            || o.callback_depth > c.callback_depth
        {
            return false;
        }
        let mask = live.get(k).copied().unwrap_or(RegSet::MAX);
        let marks = precise.get(k).copied().unwrap_or(Marks::ALL);
        for r in 0..11 {
            if mask & (1 << r) != 0 && !reg_covers(&o.regs[r], &c.regs[r], marks.reg(r), &mut ids) {
                return false;
            }
        }
        if !stack_covers(&o.stack, &c.stack, marks, &mut ids) {
            return false;
        }
    }
    let locks = match (old.lock, cur.lock) {
        (None, None) => true,
        (Some(o), Some(c)) => o.map == c.map && ids.check(o.id, c.id),
        _ => false,
    };
    locks
        && old
            .refs
            .iter()
            .zip(&cur.refs)
            .all(|(o, c)| ids.check(o.id, c.id))
}
