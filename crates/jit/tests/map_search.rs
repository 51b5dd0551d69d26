//! `bpf_map_lookup_elem` on hash tables (plain, LRU, per-CPU) and LPM
//! tries, whose search compiled code calls directly where the verifier
//! found the map the same on every path (`emit_lookup`): the same results
//! and map contents as the interpreter's helper on hits and misses, on
//! every CPU, when the program deletes the element it holds, when the
//! host changes the map between runs, and where the map varies by path or
//! the key is not on the stack (the helper then).

mod lookup_tiers;

use apiary_kernel::types::MapType as KernelMapType;
use apiary_maps::{BPF_F_NO_PREALLOC, MapDef, MapType};
use apiary_runtime::{MapId, Runtime};
use apiary_verifier::{Accepted, MapInfo};
use apiary_vm::Engine;
use lookup_tiers::{
    BUMP, CPUS, Check, Maps, Tier, call_slots, first_helper, key_in_value, varying_map,
};

/// Bytes of every value: the programs write the first 8.
const VALUE: u32 = 16;

/// Map numbers, as the programs name them.
const HASH: u32 = 0;
const LRU: u32 = 1;
const PERCPU: u32 = 2;
const TRIE: u32 = 3;

/// A hash, an LRU hash and a per-CPU hash with `u32` keys, and an LPM
/// trie with IPv4-sized keys.
fn map_defs() -> Vec<(MapDef, MapInfo)> {
    let made = |ty, kernel, key_size, max_entries, flags| {
        let mut def = MapDef::new(ty, key_size, VALUE, max_entries);
        def.map_flags = flags;
        let info = MapInfo {
            map_type: kernel,
            key_size,
            value_size: VALUE,
            max_entries,
            flags,
            ..MapInfo::default()
        };
        (def, info)
    };
    vec![
        made(MapType::Hash, KernelMapType::HASH, 4, 8, 0),
        made(MapType::LruHash, KernelMapType::LRU_HASH, 4, 4, 0),
        made(MapType::PercpuHash, KernelMapType::PERCPU_HASH, 4, 8, 0),
        made(
            MapType::LpmTrie,
            KernelMapType::LPM_TRIE,
            8,
            8,
            BPF_F_NO_PREALLOC,
        ),
    ]
}

/// An LPM key: prefix length, then `addr`'s bytes as the programs store it.
fn trie_key(prefixlen: u32, addr: u32) -> Vec<u8> {
    [prefixlen.to_ne_bytes(), addr.to_ne_bytes()].concat()
}

/// The entries every runtime starts with: some keys of each hash, and
/// nested prefixes in the trie (a /4 holding every small key, a /8 for
/// key 1, a /32 for key 2).
fn fill(runtime: &Runtime, maps: &[MapId]) {
    let value = |tag: u8| vec![tag; VALUE as usize];
    let per_cpu = |tag: u8| vec![tag; (VALUE * CPUS) as usize];
    let map = |n: u32| runtime.map(maps[n as usize]).expect("map");
    // Key 0's value starts at zero: its first word, bumped, is a key of
    // the LRU hash (`a_key_in_a_map_value_takes_the_helper`).
    for (k, tag) in [(0u32, 0), (1, 11), (2, 12)] {
        map(HASH)
            .sys_update(&k.to_ne_bytes(), &value(tag), 0)
            .expect("hash");
    }
    for k in [0u32, 1] {
        map(LRU)
            .sys_update(&k.to_ne_bytes(), &value(20 + k as u8), 0)
            .expect("lru");
    }
    map(PERCPU)
        .sys_update(&1u32.to_ne_bytes(), &per_cpu(30), 0)
        .expect("percpu");
    for (prefixlen, addr, tag) in [(4, 0, 40), (8, 1, 41), (32, 2, 42)] {
        map(TRIE)
            .sys_update(&trie_key(prefixlen, addr), &value(tag), 0)
            .expect("trie");
    }
}

const MAPS: Maps = Maps {
    defs: map_defs,
    fill,
};

/// What the host finds for every key the runs use, in every map.
fn contents(tier: &Tier) -> Vec<String> {
    let mut found = Vec::new();
    for (n, &id) in tier.maps.iter().enumerate() {
        let map = tier.runtime.map(id).expect("map");
        for key in KEYS {
            let key = if n as u32 == TRIE {
                trie_key(32, key)
            } else {
                key.to_ne_bytes().to_vec()
            };
            found.push(format!("{:?}", map.sys_lookup(&key, 0)));
        }
    }
    found
}

/// The host's update of `key` in map `n` of `tier` to a value of bytes `tag`.
fn update(tier: &Tier, n: u32, key: u32, tag: u8) {
    let map = tier.runtime.map(tier.maps[n as usize]).expect("map");
    let size = if n == PERCPU { VALUE * CPUS } else { VALUE };
    let key = if n == TRIE {
        trie_key(32, key)
    } else {
        key.to_ne_bytes().to_vec()
    };
    map.sys_update(&key, &vec![tag; size as usize], 0)
        .expect("update");
}

/// Keys that hit and miss in every map, and large ones.
const KEYS: [u32; 8] = [0, 1, 2, 3, 4, 5, 0x8000_0000, u32::MAX];

/// Runs `source` in both tiers on every key, selector and CPU (one past
/// the last included), with `between(tier, key)` after each key's runs,
/// and compares results and map contents after each key.
fn tiers_agree_with(source: &str, between: &dyn Fn(&Tier, u32)) -> Accepted {
    let check = Check {
        keys: &KEYS,
        contents,
        between,
    };
    lookup_tiers::tiers_agree(source, &MAPS, &check)
}

fn tiers_agree(source: &str) -> Accepted {
    tiers_agree_with(source, &|_, _| {})
}

/// The key from the context on the stack at `r10 - 4` (after a /32 prefix
/// length at `r10 - 8` for the trie), its address in `r2`, the selector in
/// `r7`.
fn key(map: u32) -> String {
    let setup = "r6 = *(u32 *)(r1 + 0)\nr7 = *(u32 *)(r1 + 8)\n*(u32 *)(r10 - 4) = r6\n";
    if map == TRIE {
        format!("{setup}r1 = 32\n*(u32 *)(r10 - 8) = r1\nr2 = r10\nr2 += -8\n")
    } else {
        format!("{setup}r2 = r10\nr2 += -4\n")
    }
}

/// A lookup in map `map` whose value the program bumps.
fn bump(map: u32) -> String {
    format!("{}ld_pseudo r1, 5, {map}\ncall 1\n{BUMP}", key(map))
}

#[test]
fn hash_lookups_agree_on_hits_and_misses() {
    let accepted = tiers_agree(&bump(HASH));
    assert_eq!(call_slots(&accepted).len(), 1, "the map is known");
}

#[test]
fn lru_hash_lookups_agree() {
    tiers_agree(&bump(LRU));
}

#[test]
fn percpu_hash_lookups_agree_on_every_cpu() {
    tiers_agree(&bump(PERCPU));
}

#[test]
fn trie_lookups_find_the_same_longest_prefix() {
    tiers_agree(&bump(TRIE));
}

#[test]
fn a_value_deleted_during_the_run_stays_readable() {
    // The value's first word read after the program deleted its element.
    for map in [HASH, LRU, PERCPU, TRIE] {
        // The key again (the call clobbered `r2`), then the delete.
        let whole = key(map);
        let rekey = whole.lines().skip(2).collect::<Vec<_>>().join("\n");
        // Slots to skip when nothing was found: `r8 = r0`, the key, the
        // map (two slots), the call, the load and the exit.
        let skip = 1 + rekey.lines().count() + 2 + 3;
        tiers_agree(&format!(
            "{}ld_pseudo r1, 5, {map}\ncall 1\nif r0 == 0 goto +{skip}\nr8 = r0\n\
             {rekey}\nld_pseudo r1, 5, {map}\ncall 3\nr0 = *(u32 *)(r8 + 0)\nexit\nr0 = 0\nexit",
            key(map),
        ));
    }
}

#[test]
fn host_updates_between_runs_are_seen() {
    for map in [HASH, LRU, PERCPU, TRIE] {
        // Keys present and one absent: the trie has room for no more.
        tiers_agree_with(&bump(map), &|tier, key| {
            if key < 4 {
                update(tier, map, key, 50 + key as u8);
            }
        });
    }
}

#[test]
fn a_map_that_varies_by_path_takes_the_helper() {
    let accepted = tiers_agree(&varying_map(&key(HASH), LRU, HASH));
    assert!(
        call_slots(&accepted).is_empty(),
        "the map varies at the call"
    );
}

#[test]
fn a_key_in_a_map_value_takes_the_helper() {
    // The hash's value at the context's key holds the key of the LRU
    // hash's lookup (its first word, which the runs bump).
    let accepted = tiers_agree(&key_in_value(&key(HASH), HASH, LRU));
    assert_eq!(call_slots(&accepted).len(), 2, "both maps are known");
}

#[test]
fn every_hash_and_trie_is_searched_directly() {
    // What the tests above rely on: the loader describes each map's search.
    let (tier, _) = Tier::new(&bump(HASH), Engine::Compiled, &MAPS);
    let (program, index) = first_helper(&tier);
    for (map, key_size) in [(HASH, 4), (LRU, 4), (PERCPU, 4), (TRIE, 8)] {
        let direct = program.direct_lookup(index, map).expect("described");
        assert_eq!((direct.key_size, direct.value_size), (key_size, VALUE));
        assert!(program.array_lookup(index, map).is_none());
    }
}
