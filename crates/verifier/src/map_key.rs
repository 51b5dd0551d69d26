//! A map key known before the call (`get_constant_map_key`): the key on
//! the stack is all zero bytes, or a spilled constant of the key's size.
//! A lookup in an array by a key inside it cannot fail, so its result is
//! never NULL (`can_elide_value_nullness`).

use apiary_kernel::types::MapType;

use crate::program::MapInfo;
use crate::regs::{RegState, RegType};
use crate::stack::SlotType;
use crate::state::State;

/// `bpf_map_lookup_elem`.
const MAP_LOOKUP_ELEM: i32 = 1;

/// The constant the key pointer `key` points to, `key_size` bytes, if the
/// stack says it.
pub(crate) fn constant_key(state: &State, key: &RegState, key_size: u32) -> Option<u64> {
    if key.kind != RegType::Stack || !key.value.is_const() {
        return None;
    }
    let at = i64::from(key.off) + key.value.var_off.value as i64;
    let slot = usize::try_from(-at - 1).ok()?;
    let (spi, index) = (slot / 8, slot % 8);
    let stored = state
        .frames
        .get(usize::from(key.frameno))?
        .stack
        .slots
        .get(spi)?;
    let run = |kind: SlotType| {
        stored.bytes[..=index]
            .iter()
            .rev()
            .take_while(|&&b| b == kind)
            .count() as u32
    };
    if run(SlotType::Zero) >= key_size {
        return Some(0);
    }
    let spilled = &stored.spilled;
    let spill_ok = stored.is_spill() && spilled.is_scalar() && run(SlotType::Spill) == key_size;
    (spill_ok && spilled.value.is_const()).then_some(spilled.value.var_off.value)
}

/// Whether helper `id`'s lookup in `map` by `key` surely finds a value.
pub(crate) fn lookup_never_null(id: i32, map: &MapInfo, key: Option<u64>) -> bool {
    id == MAP_LOOKUP_ELEM
        && matches!(map.map_type, MapType::ARRAY | MapType::PERCPU_ARRAY)
        && key.is_some_and(|k| (k as i64) >= 0 && k < u64::from(map.max_entries))
}
