//! Program-side lookups racing host-side updates and deletes: every lookup
//! must see the trie (or table) before or after each change, never a
//! half-linked one. Entries that are never deleted must always be found
//! with their own value, and churned entries' values must never be torn.

use apiary_maps::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

const READERS: u32 = 2;
const CHURN_ROUNDS: u32 = 20_000;

/// A value that shows tearing: a tag and its complement.
fn value(tag: u32) -> [u8; 8] {
    let mut v = [0u8; 8];
    v[..4].copy_from_slice(&tag.to_ne_bytes());
    v[4..].copy_from_slice(&(!tag).to_ne_bytes());
    v
}

fn tag_of(v: &[u8]) -> u32 {
    let tag = u32::from_ne_bytes(v[..4].try_into().unwrap());
    let check = u32::from_ne_bytes(v[4..8].try_into().unwrap());
    assert_eq!(tag, !check, "torn or garbage value {v:?}");
    tag
}

fn lpm_key(prefixlen: u32, addr: [u8; 4]) -> Vec<u8> {
    [prefixlen.to_ne_bytes(), addr].concat()
}

/// `READERS` threads, one per CPU, running `pass(map, cpu)` until told to
/// stop; joining them returns how many passes each made.
fn spawn_readers(
    map: &Arc<Map>,
    stop: &Arc<AtomicBool>,
    pass: fn(&Map, u32),
) -> Vec<std::thread::JoinHandle<u64>> {
    (0..READERS)
        .map(|cpu| {
            let (map, stop) = (Arc::clone(map), Arc::clone(stop));
            std::thread::spawn(move || {
                let mut passes = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    pass(&map, cpu);
                    passes += 1;
                }
                passes
            })
        })
        .collect()
}

/// Stops the readers and checks each made at least one pass.
fn join_readers(stop: &AtomicBool, readers: Vec<std::thread::JoinHandle<u64>>) {
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}

/// Stable `/24`s `20.a.b.0` (tag `a << 8 | b`), churned `/25`s and `/26`s
/// inside them (tag `round << 16 | a << 8 | b`, so a walk that strayed into
/// a reused node shows), churned `/24`s `20.a.(b + 8).0` that add and
/// remove the intermediate nodes above the stable ones, and a stable `/8`.
#[test]
fn lpm_lookups_racing_updates_see_old_or_new() {
    let def = MapDef::new(MapType::LpmTrie, 8, 8, 1024).with_flags(BPF_F_NO_PREALLOC);
    let map = Arc::new(Map::create(def, READERS).unwrap());
    map.sys_update(&lpm_key(8, [20, 0, 0, 0]), &value(0xffff), BPF_NOEXIST)
        .unwrap();
    for a in 0..8u8 {
        for b in 0..8u8 {
            let tag = u32::from(a) << 8 | u32::from(b);
            map.sys_update(&lpm_key(24, [20, a, b, 0]), &value(tag), BPF_NOEXIST)
                .unwrap();
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let readers = spawn_readers(&map, &stop, lpm_pass);
    for round in 0..CHURN_ROUNDS {
        // A stride coprime to 64 moves each round to another subtree.
        let cell = round * 37 % 64;
        let (a, b) = ((cell % 8) as u8, (cell / 8) as u8);
        let tag = (round + 1) << 16 | u32::from(a) << 8 | u32::from(b);
        let upper = lpm_key(24, [20, a, b + 8, 0]);
        if round % 4 == 0 {
            map.sys_update(&upper, &value(0xfffe), BPF_ANY).unwrap();
        } else if round % 4 == 2 {
            let _ = map.sys_delete(&upper);
        }
        // Adding the /26 under the /25 and removing them in either order
        // makes and removes intermediate nodes next to the stable /24.
        let k25 = lpm_key(25, [20, a, b, 128]);
        let k26 = lpm_key(26, [20, a, b, 192]);
        map.sys_update(&k26, &value(tag), BPF_ANY).unwrap();
        map.sys_update(&k25, &value(tag), BPF_ANY).unwrap();
        map.sys_update(&k26, &value(tag), BPF_EXIST).unwrap();
        if round % 2 == 0 {
            map.sys_delete(&k25).unwrap();
            map.sys_delete(&k26).unwrap();
        } else {
            map.sys_delete(&k26).unwrap();
            map.sys_delete(&k25).unwrap();
        }
    }
    join_readers(&stop, readers);
    // 1 /8 and 64 /24s are left, and iteration still walks them all.
    for a in 0..8u8 {
        for b in 8..16u8 {
            let _ = map.sys_delete(&lpm_key(24, [20, a, b, 0]));
        }
    }
    let mut key: Option<Vec<u8>> = None;
    let mut seen = 0;
    while let Ok(next) = map.sys_get_next_key(key.as_deref()) {
        seen += 1;
        key = Some(next);
    }
    assert_eq!(seen, 65);
}

/// Stable keys `0..32` and churned keys `1000..1064` in a small table, so
/// chains are long and changed under the readers.
#[test]
fn hash_lookups_racing_updates_see_old_or_new() {
    let map = Arc::new(Map::create(MapDef::new(MapType::Hash, 4, 8, 128), READERS).unwrap());
    for k in 0..32u32 {
        map.sys_update(&k.to_ne_bytes(), &value(k), BPF_NOEXIST)
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let readers = spawn_readers(&map, &stop, hash_pass);
    for round in 0..CHURN_ROUNDS * 4 {
        let k = 1000 + round % 64;
        map.sys_update(&k.to_ne_bytes(), &value(1000 + round), BPF_ANY)
            .unwrap();
        if round % 3 == 0 {
            map.sys_delete(&k.to_ne_bytes()).unwrap();
        }
    }
    join_readers(&stop, readers);
    for k in 0..32u32 {
        assert_eq!(tag_of(&map.sys_lookup(&k.to_ne_bytes(), 0).unwrap()), k);
    }
}

/// One pass of lookups over the LPM test's addresses.
fn lpm_pass(map: &Map, cpu: u32) {
    for a in 0..8u8 {
        for b in 0..8u8 {
            let own = u32::from(a) << 8 | u32::from(b);
            // Outside every churned prefix: always the /24.
            let v = map.lookup(&lpm_key(32, [20, a, b, 1]), cpu).unwrap();
            assert_eq!(tag_of(&v.expect("stable /24 missed").read()), own);
            // Inside the churned ones: the /24 or a churned prefix of it.
            let v = map.lookup(&lpm_key(32, [20, a, b, 200]), cpu).unwrap();
            let tag = tag_of(&v.expect("covering /24 missed").read());
            assert_eq!(tag & 0xffff, own, "foreign value {tag:#x}");
            // Outside every /24: the /8.
            let v = map.lookup(&lpm_key(32, [20, a, 200, b]), cpu).unwrap();
            assert_eq!(tag_of(&v.expect("stable /8 missed").read()), 0xffff);
        }
    }
}

/// One pass of lookups over the hash test's keys.
fn hash_pass(map: &Map, cpu: u32) {
    for k in 0..32u32 {
        let v = map.lookup(&k.to_ne_bytes(), cpu).unwrap();
        assert_eq!(tag_of(&v.expect("stable key missed").read()), k);
        let churned = 1000 + k;
        if let Some(v) = map.lookup(&churned.to_ne_bytes(), cpu).unwrap() {
            assert!(tag_of(&v.read()) >= 1000, "foreign value");
        }
    }
}
