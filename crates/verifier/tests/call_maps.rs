//! `Accepted::call_maps`: the map a helper call is given in `r1` when it
//! is the same on every path, as the kernel's `map_ptr_state` (which
//! decides whether `do_misc_fixups` inlines an array lookup).

use apiary_kernel::types::{MapType, ProgType};
use apiary_verifier::{Accepted, MapInfo, Program, verify};

fn map(map_type: MapType, inner: Option<u32>) -> MapInfo {
    MapInfo {
        map_type,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        inner,
        ..MapInfo::default()
    }
}

fn accepted(source: &str, maps: &[MapInfo]) -> Accepted {
    let insns = apiary_asm::assemble_slots(source).expect("assembles");
    verify(&Program::bare(&insns, ProgType::XDP, maps))
        .unwrap_or_else(|r| panic!("refused: {r}\n{source}"))
}

/// The key on the stack at `r10 - 4`, its address in `r2`.
const KEY: &str = "r1 = *(u32 *)(r1 + 12)\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\n";

#[test]
fn a_call_given_one_map_on_every_path_names_it() {
    // Slots: 4 for the key, 2 for the map (lddw), then the call at 6.
    let a = accepted(
        &format!("{KEY}ld_pseudo r1, 5, 1\ncall 1\nr0 = 0\nexit"),
        &[map(MapType::ARRAY, None), map(MapType::PERCPU_ARRAY, None)],
    );
    assert_eq!(a.call_maps.len(), 9);
    assert_eq!(a.call_maps.get(6), Some(1));
    assert_eq!((0..9).filter(|&i| a.call_maps.get(i).is_some()).count(), 1);
}

/// What the call at slot 10 is found to be given when the input chooses
/// map `first` or map `second` before it.
fn call_map_after_two_paths(first: u32, second: u32) -> Option<u32> {
    let a = accepted(
        &format!(
            "{KEY}if r1 == 0 goto +3\nld_pseudo r1, 5, {first}\ngoto +2\n\
             ld_pseudo r1, 5, {second}\ncall 1\nr0 = 0\nexit"
        ),
        &[map(MapType::ARRAY, None), map(MapType::ARRAY, None)],
    );
    assert_eq!(a.call_maps.len(), 13);
    a.call_maps.get(10)
}

#[test]
fn a_call_given_two_maps_on_two_paths_names_none() {
    assert_eq!(call_map_after_two_paths(0, 1), None);
}

#[test]
fn a_call_given_the_same_map_on_two_paths_names_it() {
    assert_eq!(call_map_after_two_paths(1, 1), Some(1));
}

#[test]
fn an_inner_map_found_at_run_time_is_named_by_no_call() {
    // Map 0 is the template of map 1's inner maps: the lookup in the inner
    // map found (the call at 11) is in whichever map the outer one holds.
    let a = accepted(
        &format!(
            "{KEY}ld_pseudo r1, 5, 1\ncall 1\nif r0 == 0 goto +6\n\
             r1 = r0\nr2 = r10\nr2 += -4\ncall 1\nr0 = 0\nexit\nr0 = 0\nexit"
        ),
        &[
            map(MapType::ARRAY, None),
            map(MapType::ARRAY_OF_MAPS, Some(0)),
        ],
    );
    assert_eq!(a.call_maps.get(6), Some(1));
    assert_eq!(a.call_maps.get(11), None);
}
