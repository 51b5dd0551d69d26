//! `bpf_map_lookup_elem` on arrays and per-CPU arrays, which compiled code
//! does inline where the verifier found the map the same on every path
//! (`emit_lookup`): the same results and map contents as the interpreter's
//! helper for keys below, at and past `max_entries` and on every CPU (and
//! past the last, which finds the last one's copy); the helper where the
//! map varies by path or the key does not lie on the stack.

mod lookup_tiers;

use apiary_kernel::types::MapType as KernelMapType;
use apiary_maps::{MapDef, MapType};
use apiary_runtime::{MapId, Runtime};
use apiary_verifier::{Accepted, MapInfo};
use apiary_vm::Engine;
use lookup_tiers::{
    BUMP, CPUS, Check, Maps, Tier, call_slots, first_helper, key_in_value, varying_map,
};

const ARRAY_ENTRIES: u32 = 4;
const PERCPU_ENTRIES: u32 = 3;
/// Not a multiple of 8: per-CPU copies are padded to 16 bytes.
const PERCPU_VALUE: u32 = 12;

/// Map 0: an array of `u64`; map 1: a per-CPU array of 12-byte values.
fn map_defs() -> Vec<(MapDef, MapInfo)> {
    let info = |map_type, value_size, max_entries| MapInfo {
        map_type,
        key_size: 4,
        value_size,
        max_entries,
        ..MapInfo::default()
    };
    vec![
        (
            MapDef::new(MapType::Array, 4, 8, ARRAY_ENTRIES),
            info(KernelMapType::ARRAY, 8, ARRAY_ENTRIES),
        ),
        (
            MapDef::new(MapType::PercpuArray, 4, PERCPU_VALUE, PERCPU_ENTRIES),
            info(KernelMapType::PERCPU_ARRAY, PERCPU_VALUE, PERCPU_ENTRIES),
        ),
    ]
}

/// Arrays start zeroed.
fn no_fill(_: &Runtime, _: &[MapId]) {}

const MAPS: Maps = Maps {
    defs: map_defs,
    fill: no_fill,
};

/// Every value of both maps, every CPU's.
fn contents(tier: &Tier) -> Vec<String> {
    tier.maps
        .iter()
        .flat_map(|&id| {
            let map = tier.runtime.map(id).expect("map");
            (0..map.max_entries())
                .map(move |k| format!("{:?}", map.sys_lookup(&k.to_ne_bytes(), 0)))
        })
        .collect()
}

/// Runs `source` in both tiers on keys below, at and past both maps'
/// `max_entries`, and huge ones, on every selector and CPU, and compares
/// results and map contents.
fn tiers_agree(source: &str) -> Accepted {
    let keys: Vec<u32> = (0..=ARRAY_ENTRIES + 1)
        .chain([0x8000_0000, u32::MAX])
        .collect();
    let check = Check {
        keys: &keys,
        contents,
        between: &|_, _| {},
    };
    lookup_tiers::tiers_agree(source, &MAPS, &check)
}

/// The key from the context on the stack at `r10 - 4`, its address in `r2`,
/// the selector in `r7`.
const KEY: &str = "r6 = *(u32 *)(r1 + 0)\nr7 = *(u32 *)(r1 + 8)\n\
                   *(u32 *)(r10 - 4) = r6\nr2 = r10\nr2 += -4\n";

#[test]
fn array_lookups_agree_below_at_and_past_max_entries() {
    let accepted = tiers_agree(&format!("{KEY}ld_pseudo r1, 5, 0\ncall 1\n{BUMP}"));
    assert_eq!(
        call_slots(&accepted).len(),
        1,
        "the map is known at the call"
    );
}

#[test]
fn percpu_array_lookups_agree_on_every_cpu() {
    let accepted = tiers_agree(&format!("{KEY}ld_pseudo r1, 5, 1\ncall 1\n{BUMP}"));
    assert_eq!(
        call_slots(&accepted).len(),
        1,
        "the map is known at the call"
    );
}

#[test]
fn a_map_that_varies_by_path_takes_the_helper() {
    let accepted = tiers_agree(&varying_map(KEY, 1, 0));
    assert!(
        call_slots(&accepted).is_empty(),
        "the map varies at the call"
    );
}

#[test]
fn a_key_in_a_map_value_takes_the_helper() {
    // The array's value at the context's key holds the key of the per-CPU
    // array's lookup (the first run stores it there, through the stack).
    let accepted = tiers_agree(&key_in_value(KEY, 0, 1));
    assert_eq!(call_slots(&accepted).len(), 2, "both maps are known");
}

#[test]
fn the_lookup_helper_is_called_directly_where_inlined() {
    // What the tests above rely on: the inlined call is a helper call op.
    let (tier, _) = Tier::new(
        &format!("{KEY}ld_pseudo r1, 5, 0\ncall 1\n{BUMP}"),
        Engine::Compiled,
        &MAPS,
    );
    let (program, index) = first_helper(&tier);
    let lookup = program.array_lookup(index, 0).expect("array 0 described");
    assert_eq!(lookup.max_entries, ARRAY_ENTRIES);
    assert_eq!(
        program.array_lookup(index, 1).map(|l| l.last_cpu),
        Some(CPUS - 1)
    );
}
