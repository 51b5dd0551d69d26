//! Scenarios replayed on the running kernel and on apiary's maps, step by
//! step: every result (bytes or errno) and the final `get_next_key` walk
//! must be identical. Hash maps use `BPF_F_ZERO_SEED` so bucket order is
//! deterministic on both sides (apiary hashes with the kernel's jhash).

mod common;

use apiary_maps::*;
use common::*;
use proptest::prelude::*;

fn k32(k: u32) -> Vec<u8> {
    k.to_ne_bytes().to_vec()
}
fn v64(v: u64) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}
fn upd(k: u32, v: u64, f: u64) -> Op {
    Op::Update(k32(k), v64(v), f)
}

#[test]
fn creation_errors_match_kernel() {
    if !kernel_available("creation_errors_match_kernel") {
        return;
    }
    use MapType::*;
    let d = |t, k, v, m, f| MapDef::new(t, k, v, m).with_flags(f);
    let mut cases = vec![
        d(Array, 8, 4, 4, 0),
        d(Array, 4, 0, 4, 0),
        d(Array, 4, 4, 0, 0),
        d(Array, 4, 4, 4, BPF_F_NO_PREALLOC),
        d(Array, 4, 4, 4, BPF_F_MMAPABLE),
        d(PercpuArray, 4, 4, 4, BPF_F_MMAPABLE),
        d(PercpuArray, 4, 32768, 4, 0),
        d(PercpuArray, 4, 32769, 4, 0),
        d(Array, 4, 4, 4, BPF_F_RDONLY | BPF_F_WRONLY),
        d(Array, 4, 4, 4, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG),
        d(Hash, 0, 4, 4, 0),
        d(Hash, 4, 0, 4, 0),
        d(Hash, 4, 4, 0, 0),
        d(Hash, 4, 4, 4, BPF_F_NO_COMMON_LRU),
        d(LruHash, 4, 4, 4, BPF_F_NO_PREALLOC),
        d(Hash, (1 << 22) - 48 - 4, 4, 4, 0),
        d(Hash, (1 << 22) - 49 - 4, 4, 4, 0),
        d(Hash, 513, 4, 4, 0),
        d(PercpuHash, 4, 32769, 4, 0),
        d(Hash, 4, 4, 4, BPF_F_MMAPABLE),
        d(LpmTrie, 8, 4, 4, 0),
        d(LpmTrie, 4, 4, 4, BPF_F_NO_PREALLOC),
        d(LpmTrie, 5, 4, 4, BPF_F_NO_PREALLOC),
        d(LpmTrie, 260, 4, 4, BPF_F_NO_PREALLOC),
        d(LpmTrie, 261, 4, 4, BPF_F_NO_PREALLOC),
        d(LpmTrie, 8, 0, 4, BPF_F_NO_PREALLOC),
        d(Queue, 4, 4, 4, 0),
        d(Queue, 0, 0, 4, 0),
        d(Queue, 0, 4, 4, 0),
        d(Stack, 0, 4, 4, BPF_F_NO_PREALLOC),
        d(BloomFilter, 4, 4, 4, 0),
        d(Ringbuf, 0, 0, 4096, 0),
        d(Ringbuf, 0, 0, 12288, 0),
        d(Ringbuf, 0, 0, 2048, 0),
        d(Ringbuf, 0, 4, 4096, 0),
        d(Devmap, 4, 6, 4, 0),
        d(Devmap, 4, 8, 4, 0),
        d(DevmapHash, 4, 4, 4, 0),
        d(Cpumap, 4, 4, 256, 0),
        d(Cpumap, 4, 4, 257, 0),
        d(Cpumap, 4, 12, 4, 0),
        d(Xskmap, 4, 8, 4, 0),
        d(Xskmap, 4, 4, 4, 0),
        d(ProgArray, 4, 8, 4, 0),
        d(ProgArray, 4, 4, 4, 0),
        d(PerfEventArray, 4, 4, 4, 0),
        d(PerfEventArray, 4, 4, 4, BPF_F_PRESERVE_ELEMS),
        d(Array, 4, 4, 4, BPF_F_PRESERVE_ELEMS),
        MapDef {
            map_type: 34,
            ..d(Array, 4, 4, 4, 0)
        },
        MapDef {
            map_type: 0,
            ..d(Array, 4, 4, 4, 0)
        },
        d(Array, 4, 4, 4, 0).with_name("bad-name"),
        d(Array, 4, 4, 4, 0).with_name("sixteen_chars_xx"),
        d(Array, 4, 4, 4, 0).with_name("ok.name_1"),
    ];
    for extra in [0u64, 15, 16] {
        cases.push(MapDef {
            map_extra: extra,
            ..d(BloomFilter, 0, 4, 4, 0)
        });
    }
    cases.push(MapDef {
        map_extra: 1,
        ..d(Array, 4, 4, 4, 0)
    });
    assert_creation_matches_kernel(&cases);
}

#[test]
fn hash_flags_order_and_full_map() {
    let def = MapDef::new(MapType::Hash, 4, 8, 8).with_flags(BPF_F_ZERO_SEED);
    let mut ops = vec![];
    for k in [7, 3, 11, 100, 5, 42] {
        ops.push(upd(k, u64::from(k) * 10, BPF_ANY));
    }
    ops.extend([
        upd(3, 1, BPF_NOEXIST), // EEXIST
        upd(99, 1, BPF_EXIST),  // ENOENT
        upd(3, 33, BPF_EXIST),  // replace: moves 3 to its bucket head
        upd(3, 1, 8),           // unknown flag: EINVAL
        upd(3, 1, BPF_F_LOCK),  // no spin lock: EINVAL
        Op::Lookup(k32(3), 0),
        Op::Lookup(k32(4), 0),
        Op::NextKey(None),
        Op::NextKey(Some(k32(12345))), // missing key: first key
        upd(1000, 1, BPF_ANY),
        upd(2, 1, BPF_ANY),
        upd(9, 1, BPF_ANY), // full: E2BIG
        upd(2, 7, BPF_ANY), // replace in a full map works
        Op::Delete(k32(9)),
        Op::Delete(k32(7)),
        Op::NextKey(Some(k32(7))), // deleted key: restart from the first
        Op::LookupAndDelete(k32(2), 0),
        Op::LookupAndDelete(k32(2), 0),
        Op::LookupAndDelete(k32(3), 8),
        upd(9, 1, BPF_NOEXIST),
        Op::Lookup(k32(9), 8),
    ]);
    replay("hash_flags_order_and_full_map", &def, &ops);
}

#[test]
fn hash_odd_key_size_uses_byte_jhash() {
    let def = MapDef::new(MapType::Hash, 3, 4, 16).with_flags(BPF_F_ZERO_SEED | BPF_F_NO_PREALLOC);
    let ops: Vec<Op> = (0u8..12)
        .map(|i| Op::Update(vec![i, i.wrapping_mul(7), 1], vec![i; 4], BPF_ANY))
        .collect();
    replay("hash_odd_key_size_uses_byte_jhash", &def, &ops);
}

#[test]
fn array_and_percpu_array() {
    let def = MapDef::new(MapType::Array, 4, 12, 4);
    let v = |b: u8| vec![b; 12];
    let ops = vec![
        Op::Update(k32(1), v(1), BPF_ANY),
        Op::Update(k32(1), v(2), BPF_EXIST),
        Op::Update(k32(1), v(2), BPF_NOEXIST),
        Op::Update(k32(4), v(2), BPF_ANY),
        Op::Update(k32(1), v(2), 3),
        Op::Lookup(k32(1), 0),
        Op::Lookup(k32(3), 0),
        Op::Lookup(k32(4), 0),
        Op::Delete(k32(1)),
        Op::NextKey(Some(k32(2))),
        Op::NextKey(Some(k32(3))),
        Op::NextKey(Some(k32(99))),
        Op::LookupAndDelete(k32(1), 0),
    ];
    replay("array", &def, &ops);
    // Per-CPU values are padded to 8 bytes each (value_size 12 -> 16 per CPU).
    let def = MapDef::new(MapType::PercpuArray, 4, 12, 4);
    let n = possible_cpus() as usize;
    let all: Vec<u8> = (0..n * 16).map(|i| i as u8).collect();
    let ops = vec![
        Op::Update(k32(2), all.clone(), BPF_ANY),
        Op::Lookup(k32(2), 0),
        Op::Lookup(k32(0), 0),
        Op::Update(k32(2), all, BPF_F_LOCK),
    ];
    replay("percpu_array", &def, &ops);
}

#[test]
fn percpu_hash() {
    let def = MapDef::new(MapType::PercpuHash, 4, 4, 4).with_flags(BPF_F_ZERO_SEED);
    let n = possible_cpus() as usize;
    let all = |b: u8| vec![b; n * 8];
    let ops = vec![
        Op::Update(k32(1), all(1), BPF_ANY),
        Op::Update(k32(2), all(2), BPF_ANY),
        Op::Lookup(k32(1), 0),
        Op::Update(k32(1), all(3), BPF_EXIST),
        Op::Update(k32(1), all(3), BPF_F_LOCK),
        Op::Lookup(k32(1), 0),
        Op::LookupAndDelete(k32(2), 0),
    ];
    replay("percpu_hash", &def, &ops);
}

/// Inserting more keys than fit: the kernel evicts in batches
/// (`clamp(max_entries / cpus / 2, 1, 128)` for the common list, 4 per CPU
/// list), so 200 inserts into 128 entries on 2 CPUs leave 104 keys, all
/// the most recent ones; with `BPF_F_NO_COMMON_LRU` a single CPU only ever
/// uses its own share (`max_entries / cpus`).
#[test]
fn lru_eviction_matches_kernel() {
    pin_cpu0();
    for (max, inserts, flags) in [
        (16u32, 40u32, 0u32),
        (16, 40, BPF_F_NO_COMMON_LRU),
        (128, 200, 0),
        (20, 23, 0),
        (30, 31, BPF_F_NO_COMMON_LRU),
    ] {
        let def = MapDef::new(MapType::LruHash, 4, 8, max).with_flags(flags | BPF_F_ZERO_SEED);
        let ops: Vec<Op> = (0..inserts)
            .map(|k| upd(k, u64::from(k), BPF_ANY))
            .collect();
        if !replay(
            &format!("lru max {max} inserts {inserts} flags {flags}"),
            &def,
            &ops,
        ) {
            return;
        }
    }
}

/// The 4-node example from the top of kernel/bpf/lpm_trie.c plus more:
/// get_next_key walks post-order, most specific prefixes first.
#[test]
fn lpm_trie_matches_kernel() {
    let def = MapDef::new(MapType::LpmTrie, 8, 4, 8).with_flags(BPF_F_NO_PREALLOC);
    let key = |p: u32, d: [u8; 4]| {
        let mut k = p.to_ne_bytes().to_vec();
        k.extend_from_slice(&d);
        k
    };
    let mut ops = vec![];
    let prefixes = [
        (16, [192, 168, 0, 0]),
        (24, [192, 168, 0, 0]),
        (24, [192, 168, 1, 0]),
        (24, [192, 168, 128, 0]),
        (8, [10, 0, 0, 0]),
        (32, [10, 1, 2, 3]),
        (0, [0, 0, 0, 0]),
    ];
    for (i, (p, d)) in prefixes.iter().enumerate() {
        ops.push(Op::Update(key(*p, *d), vec![i as u8; 4], BPF_ANY));
    }
    ops.extend([
        Op::Lookup(key(32, [192, 168, 1, 77]), 0),
        Op::Lookup(key(32, [192, 168, 7, 7]), 0),
        Op::Lookup(key(32, [11, 0, 0, 1]), 0),
        Op::Lookup(key(12, [10, 255, 0, 0]), 0),
        Op::Update(key(33, [1, 2, 3, 4]), vec![0; 4], BPF_ANY),
        Op::Update(key(24, [192, 168, 1, 0]), vec![9; 4], BPF_NOEXIST),
        Op::Update(key(24, [192, 168, 2, 0]), vec![9; 4], BPF_EXIST),
        Op::Update(key(24, [192, 168, 1, 0]), vec![9; 4], 4),
        Op::NextKey(Some(key(24, [192, 168, 1, 0]))),
        Op::NextKey(Some(key(20, [1, 2, 3, 0]))),
        Op::Delete(key(24, [1, 2, 3, 0])),
        Op::Delete(key(16, [192, 168, 0, 0])), // two children: becomes intermediate
        Op::Lookup(key(32, [192, 168, 77, 1]), 0),
        Op::Delete(key(24, [192, 168, 1, 0])),
        Op::Update(key(16, [192, 168, 0, 0]), vec![5; 4], BPF_NOEXIST),
        Op::Update(key(30, [10, 1, 2, 0]), vec![6; 4], BPF_ANY),
        Op::Update(key(31, [10, 1, 2, 2]), vec![7; 4], BPF_ANY), // 8 entries: ENOSPC next
        Op::Update(key(28, [172, 16, 0, 0]), vec![7; 4], BPF_ANY),
        Op::Lookup(key(32, [10, 1, 2, 3]), 0),
        Op::Lookup(key(32, [10, 1, 2, 2]), 0),
        Op::Lookup(key(32, [10, 1, 2, 1]), 0),
    ]);
    replay("lpm_trie", &def, &ops);
}

#[test]
fn queue_and_stack_match_kernel() {
    for ty in [MapType::Queue, MapType::Stack] {
        let def = MapDef::new(ty, 0, 4, 3);
        let push = |v: u32, f| Op::Update(vec![], k32(v), f);
        let ops = vec![
            Op::Lookup(vec![], 0),
            Op::LookupAndDelete(vec![], 0),
            push(1, BPF_ANY),
            push(2, BPF_ANY),
            push(3, BPF_ANY),
            push(4, BPF_ANY),     // full: E2BIG
            push(4, BPF_NOEXIST), // EINVAL
            push(4, BPF_EXIST),   // drops the oldest
            Op::Lookup(vec![], 0),
            Op::LookupAndDelete(vec![], 0),
            Op::LookupAndDelete(vec![], 0),
            Op::Delete(vec![]),
            Op::NextKey(None),
            Op::LookupAndDelete(vec![], 0),
            Op::LookupAndDelete(vec![], 0),
        ];
        if !replay(&format!("{ty:?}"), &def, &ops) {
            return;
        }
    }
}

#[test]
fn redirect_maps_match_kernel() {
    // devmap: ifindex 1 (lo) exists everywhere; ifindex 0 empties a slot.
    let def = MapDef::new(MapType::Devmap, 4, 4, 4);
    let ops = vec![
        Op::Update(k32(0), k32(1), BPF_ANY),
        Op::Lookup(k32(0), 0),
        Op::Update(k32(0), k32(1), BPF_NOEXIST),
        Op::Update(k32(9), k32(1), BPF_ANY),
        Op::Update(k32(0), k32(0), BPF_ANY),
        Op::Lookup(k32(0), 0),
        Op::Delete(k32(1)),
        Op::Delete(k32(9)),
        Op::NextKey(Some(k32(1))),
    ];
    replay("devmap", &def, &ops);
    let def = MapDef::new(MapType::Cpumap, 4, 4, 4);
    let ops = vec![
        Op::Update(k32(0), k32(20000), BPF_ANY),
        Op::Update(k32(3), k32(100), BPF_ANY),
        Op::Update(k32(0), k32(0), BPF_ANY),
        Op::Update(k32(5), k32(64), BPF_ANY),
        Op::Update(k32(0), k32(64), BPF_NOEXIST),
        Op::Update(k32(0), k32(64), 7),
        Op::Lookup(k32(0), 0),
        Op::Delete(k32(7)),
        Op::Delete(k32(0)),
    ];
    replay("cpumap", &def, &ops);
}

#[test]
fn access_flags_match_kernel() {
    for flags in [BPF_F_RDONLY, BPF_F_WRONLY] {
        let def = MapDef::new(MapType::Array, 4, 4, 2).with_flags(flags);
        let ops = vec![
            Op::Update(k32(0), k32(5), BPF_ANY),
            Op::Lookup(k32(0), 0),
            Op::NextKey(None),
            Op::Lookup(k32(0), 2),
        ];
        if !replay(&format!("access flags {flags}"), &def, &ops) {
            return;
        }
    }
}

fn hash_op() -> impl Strategy<Value = Op> {
    let key = (0u32..24).prop_map(k32);
    prop_oneof![
        4 => (key.clone(), any::<u64>(), 0u64..4).prop_map(|(k, v, f)| Op::Update(k, v64(v), f)),
        2 => key.clone().prop_map(|k| Op::Lookup(k, 0)),
        2 => key.clone().prop_map(Op::Delete),
        1 => proptest::option::of(key.clone()).prop_map(Op::NextKey),
        1 => key.prop_map(|k| Op::LookupAndDelete(k, 0)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random operation sequences on a small hash map (so it is often full)
    /// give the kernel's results and the kernel's iteration order.
    #[test]
    fn random_hash_ops_match_kernel(ops in proptest::collection::vec(hash_op(), 1..80), prealloc in any::<bool>()) {
        let flags = BPF_F_ZERO_SEED | if prealloc { 0 } else { BPF_F_NO_PREALLOC };
        let def = MapDef::new(MapType::Hash, 4, 8, 10).with_flags(flags);
        replay("random_hash_ops_match_kernel", &def, &ops);
    }
}
