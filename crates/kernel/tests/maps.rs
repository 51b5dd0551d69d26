//! Maps against the running kernel: creation of every type we can build
//! without attaching anything, element operations and their errno values.

mod common;

use std::os::fd::AsFd;

use apiary_kernel::types::{MapType, elem_flags, map_flags};
use apiary_kernel::{BtfFd, Errno, Error, MapCreateAttrs, MapFd, log_level, possible_cpus};

fn errno_of<T: std::fmt::Debug>(result: apiary_kernel::Result<T>) -> i32 {
    match result {
        Err(error) => {
            error
                .errno()
                .unwrap_or_else(|| panic!("not a kernel error: {error}"))
                .0
        }
        Ok(value) => panic!("expected an errno, got Ok({value:?})"),
    }
}

fn key(i: u32) -> [u8; 4] {
    i.to_ne_bytes()
}

#[test]
fn creates_every_plain_map_type_and_reports_it_like_bpftool() {
    const TEST: &str = "creates_every_plain_map_type_and_reports_it_like_bpftool";
    require_bpf!("creates_every_plain_map_type_and_reports_it_like_bpftool");
    // Arena maps are optional: some hosts (a Firecracker guest among them)
    // answer EPERM even to root. Only arena is allowed to be refused.
    let arena = apiary_kernel::probe_map_type(MapType::ARENA);
    let btf = BtfFd::load(&common::spin_lock_btf(), log_level::NONE)
        .expect("BTF loads")
        .btf;
    let inner = common::create_map(MapType::ARRAY, 4, 4, 1);
    let page = 4096;
    // (type, key, value, max_entries, flags, needs inner map, needs BTF int key/value)
    let cases: &[(MapType, u32, u32, u32, u32, bool, bool)] = &[
        (MapType::HASH, 4, 8, 16, 0, false, false),
        (MapType::ARRAY, 4, 8, 4, 0, false, false),
        (MapType::PROG_ARRAY, 4, 4, 4, 0, false, false),
        (MapType::PERF_EVENT_ARRAY, 4, 4, 2, 0, false, false),
        (MapType::PERCPU_HASH, 4, 8, 16, 0, false, false),
        (MapType::PERCPU_ARRAY, 4, 8, 4, 0, false, false),
        (MapType::STACK_TRACE, 4, 8 * 16, 4, 0, false, false),
        (MapType::CGROUP_ARRAY, 4, 4, 4, 0, false, false),
        (MapType::LRU_HASH, 4, 8, 16, 0, false, false),
        (MapType::LRU_PERCPU_HASH, 4, 8, 16, 0, false, false),
        (
            MapType::LPM_TRIE,
            8,
            8,
            16,
            map_flags::NO_PREALLOC,
            false,
            false,
        ),
        (MapType::ARRAY_OF_MAPS, 4, 4, 4, 0, true, false),
        (MapType::HASH_OF_MAPS, 4, 4, 4, 0, true, false),
        (MapType::DEVMAP, 4, 4, 4, 0, false, false),
        (MapType::SOCKMAP, 4, 4, 4, 0, false, false),
        (MapType::CPUMAP, 4, 4, 2, 0, false, false),
        (MapType::XSKMAP, 4, 4, 4, 0, false, false),
        (MapType::SOCKHASH, 4, 4, 4, 0, false, false),
        (MapType::REUSEPORT_SOCKARRAY, 4, 8, 4, 0, false, false),
        (MapType::QUEUE, 0, 4, 8, 0, false, false),
        (MapType::STACK, 0, 4, 8, 0, false, false),
        (
            MapType::SK_STORAGE,
            4,
            4,
            0,
            map_flags::NO_PREALLOC,
            false,
            true,
        ),
        (MapType::DEVMAP_HASH, 4, 4, 4, 0, false, false),
        (MapType::RINGBUF, 0, 0, page, 0, false, false),
        (
            MapType::INODE_STORAGE,
            4,
            4,
            0,
            map_flags::NO_PREALLOC,
            false,
            true,
        ),
        (
            MapType::TASK_STORAGE,
            4,
            4,
            0,
            map_flags::NO_PREALLOC,
            false,
            true,
        ),
        (MapType::BLOOM_FILTER, 0, 4, 16, 0, false, false),
        (MapType::USER_RINGBUF, 0, 0, page, 0, false, false),
        (
            MapType::CGRP_STORAGE,
            4,
            4,
            0,
            map_flags::NO_PREALLOC,
            false,
            true,
        ),
        (MapType::ARENA, 0, 0, 1, map_flags::MMAPABLE, false, false),
    ];
    let bpftool = match apiary_testskip::tool("bpftool", "version") {
        Ok(()) => true,
        Err(reason) => apiary_testskip::skip(TEST, reason),
    };
    for &(map_type, key_size, value_size, max_entries, flags, needs_inner, needs_btf) in cases {
        if let (MapType::ARENA, Err(refusal)) = (map_type, &arena) {
            apiary_testskip::refused::<()>(
                &format!("{TEST} (arena)"),
                &refusal.probed,
                &refusal.answer,
            );
            continue;
        }
        let map = MapFd::create(&MapCreateAttrs {
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags: flags,
            name: "apiary_t",
            inner_map_fd: needs_inner.then(|| inner.as_fd()),
            btf_fd: needs_btf.then(|| btf.as_fd()),
            btf_key_type_id: if needs_btf { 1 } else { 0 },
            btf_value_type_id: if needs_btf { 1 } else { 0 },
            ..MapCreateAttrs::default()
        })
        .unwrap_or_else(|e| panic!("create {map_type}: {e}"));
        let info = map.info().expect("map info");
        assert_eq!(info.map_type, map_type);
        assert_eq!(
            (info.key_size, info.value_size),
            (key_size, value_size),
            "{map_type}"
        );
        assert_eq!(info.name, "apiary_t");
        // Some types add flags of their own (devmap: BPF_F_RDONLY_PROG).
        assert_eq!(info.map_flags & flags, flags, "{map_type}");
        if !bpftool {
            continue;
        }
        let Some(shown) = common::bpftool_json(TEST, &["map", "show", "id", &info.id.to_string()])
        else {
            continue;
        };
        assert_eq!(shown["id"], info.id);
        assert_eq!(shown["name"], "apiary_t");
        assert_eq!(shown["bytes_key"], key_size, "{map_type}");
        assert_eq!(shown["bytes_value"], value_size, "{map_type}");
        // bpftool 7.1 prints numbers for types newer than its libbpf.
        if let Some(name) = shown["type"].as_str() {
            assert_eq!(
                Some(name),
                map_type.name(),
                "bpftool names map type {}",
                map_type.0
            );
        }
    }
}

#[test]
fn hash_map_operations_and_errnos() {
    require_bpf!("hash_map_operations_and_errnos");
    let map = common::create_map(MapType::HASH, 4, 8, 4);
    let value = |v: u64| v.to_ne_bytes();
    assert_eq!(map.next_key(None).expect("empty map"), None);
    map.update(&key(1), &value(10), elem_flags::NOEXIST)
        .expect("insert");
    assert_eq!(
        errno_of(map.update(&key(1), &value(11), elem_flags::NOEXIST)),
        libc::EEXIST
    );
    assert_eq!(
        errno_of(map.update(&key(2), &value(20), elem_flags::EXIST)),
        libc::ENOENT
    );
    map.update(&key(1), &value(12), elem_flags::EXIST)
        .expect("update existing");
    assert_eq!(
        map.lookup(&key(1), 0).expect("lookup"),
        Some(value(12).to_vec())
    );
    assert_eq!(map.lookup(&key(9), 0).expect("lookup missing"), None);
    for k in 2..=4 {
        map.update(&key(k), &value(u64::from(k) * 10), elem_flags::ANY)
            .expect("fill");
    }
    assert_eq!(
        errno_of(map.update(&key(5), &value(50), elem_flags::ANY)),
        libc::E2BIG
    );
    let mut keys: Vec<Vec<u8>> = map.keys().collect::<Result<_, _>>().expect("iterate");
    keys.sort();
    let mut expected: Vec<Vec<u8>> = (1..=4).map(|k| key(k).to_vec()).collect();
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(
        map.lookup_and_delete(&key(3), 0).expect("pop"),
        Some(value(30).to_vec())
    );
    assert_eq!(map.lookup(&key(3), 0).expect("gone"), None);
    map.delete(&key(4)).expect("delete");
    assert_eq!(errno_of(map.delete(&key(4))), libc::ENOENT);
    // Our own checks refuse wrongly sized buffers before the kernel sees them.
    assert!(matches!(
        map.update(&[0; 3], &value(0), 0),
        Err(Error::BufferSize {
            what: "key",
            expected: 4,
            actual: 3
        })
    ));
    assert!(matches!(
        map.lookup(&[0; 8], 0),
        Err(Error::BufferSize { .. })
    ));
}

#[test]
fn array_map_semantics() {
    require_bpf!("array_map_semantics");
    let map = common::create_map(MapType::ARRAY, 4, 4, 3);
    assert_eq!(map.lookup(&key(0), 0).expect("zeroed"), Some(vec![0; 4]));
    assert_eq!(map.lookup(&key(3), 0).expect("out of range"), None);
    assert_eq!(errno_of(map.update(&key(3), &[1; 4], 0)), libc::E2BIG);
    assert_eq!(
        errno_of(map.update(&key(0), &[1; 4], elem_flags::NOEXIST)),
        libc::EEXIST
    );
    assert_eq!(errno_of(map.delete(&key(0))), libc::EINVAL);
    map.update(&key(2), &7u32.to_ne_bytes(), 0).expect("update");
    let keys: Vec<Vec<u8>> = map.keys().collect::<Result<_, _>>().expect("iterate");
    assert_eq!(
        keys,
        vec![key(0).to_vec(), key(1).to_vec(), key(2).to_vec()]
    );
    assert_eq!(map.next_key(Some(&key(2))).expect("last"), None);
    map.freeze().expect("freeze");
    assert_eq!(errno_of(map.update(&key(1), &[2; 4], 0)), libc::EPERM);
    assert_eq!(
        map.lookup(&key(2), 0).expect("still readable"),
        Some(7u32.to_ne_bytes().to_vec())
    );
}

#[test]
fn bad_shapes_are_rejected_by_the_kernel() {
    require_bpf!("bad_shapes_are_rejected_by_the_kernel");
    // Per-CPU values are limited to PCPU_MIN_UNIT_SIZE (32 KiB).
    let result = MapFd::create(&MapCreateAttrs {
        map_type: MapType::PERCPU_ARRAY,
        key_size: 4,
        value_size: 64 * 1024,
        max_entries: 1,
        ..MapCreateAttrs::default()
    });
    assert_eq!(errno_of(result), libc::E2BIG);
    let result = MapFd::create(&common::map_attrs(MapType::HASH, 4, 4, 0));
    assert_eq!(errno_of(result), libc::EINVAL);
    let unknown = MapFd::create(&common::map_attrs(MapType(4000), 4, 4, 1));
    assert_eq!(errno_of(unknown), libc::EINVAL);
    assert!(matches!(
        MapFd::create(&MapCreateAttrs {
            name: "sixteen_chars_xx",
            ..MapCreateAttrs::default()
        }),
        Err(Error::NameTooLong { .. })
    ));
}

#[test]
fn per_cpu_values_span_every_possible_cpu() {
    require_bpf!("per_cpu_values_span_every_possible_cpu");
    let cpus = possible_cpus().expect("cpu count");
    let map = common::create_map(MapType::PERCPU_ARRAY, 4, 4, 2);
    // value_size 4 is rounded up to 8 per CPU.
    assert_eq!(map.syscall_value_size().expect("size"), 8 * cpus);
    let mut value = vec![0u8; 8 * cpus];
    for (cpu, slot) in value.chunks_exact_mut(8).enumerate() {
        slot[..4].copy_from_slice(&(100 + cpu as u32).to_ne_bytes());
    }
    map.update(&key(1), &value, 0).expect("update all CPUs");
    assert_eq!(map.lookup(&key(1), 0).expect("lookup"), Some(value));
    assert!(matches!(
        map.update(&key(1), &[0; 4], 0),
        Err(Error::BufferSize { .. })
    ));

    let hash = common::create_map(MapType::PERCPU_HASH, 4, 8, 4);
    let value: Vec<u8> = (0..cpus as u64)
        .flat_map(|c| (c * 3).to_ne_bytes())
        .collect();
    hash.update(&key(5), &value, 0).expect("update");
    assert_eq!(hash.lookup(&key(5), 0).expect("lookup"), Some(value));
}

#[test]
fn queue_is_fifo_and_stack_is_lifo() {
    require_bpf!("queue_is_fifo_and_stack_is_lifo");
    for (map_type, expected) in [(MapType::QUEUE, [1u32, 2, 3]), (MapType::STACK, [3, 2, 1])] {
        let map = common::create_map(map_type, 0, 4, 3);
        assert_eq!(map.lookup_and_delete(&[], 0).expect("pop empty"), None);
        for v in 1u32..=3 {
            map.update(&[], &v.to_ne_bytes(), 0).expect("push");
        }
        assert_eq!(
            errno_of(map.update(&[], &4u32.to_ne_bytes(), 0)),
            libc::E2BIG
        );
        assert_eq!(
            map.lookup(&[], 0).expect("peek"),
            Some(expected[0].to_ne_bytes().to_vec())
        );
        for v in expected {
            assert_eq!(
                map.lookup_and_delete(&[], 0).expect("pop"),
                Some(v.to_ne_bytes().to_vec())
            );
        }
        assert_eq!(errno_of(map.next_key(None)), libc::EINVAL);
    }
}

#[test]
fn lpm_trie_matches_longest_prefix() {
    require_bpf!("lpm_trie_matches_longest_prefix");
    let map = MapFd::create(&MapCreateAttrs {
        map_type: MapType::LPM_TRIE,
        key_size: 8,
        value_size: 4,
        max_entries: 8,
        map_flags: map_flags::NO_PREALLOC,
        ..MapCreateAttrs::default()
    })
    .expect("lpm trie");
    let prefix = |len: u32, addr: [u8; 4]| -> Vec<u8> { [len.to_ne_bytes(), addr].concat() };
    map.update(&prefix(8, [10, 0, 0, 0]), &8u32.to_ne_bytes(), 0)
        .expect("/8");
    map.update(&prefix(16, [10, 1, 0, 0]), &16u32.to_ne_bytes(), 0)
        .expect("/16");
    let hit = |addr| map.lookup(&prefix(32, addr), 0).expect("lookup");
    assert_eq!(hit([10, 1, 2, 3]), Some(16u32.to_ne_bytes().to_vec()));
    assert_eq!(hit([10, 2, 2, 3]), Some(8u32.to_ne_bytes().to_vec()));
    assert_eq!(hit([11, 0, 0, 1]), None);
}

#[test]
fn bloom_filter_answers_membership() {
    require_bpf!("bloom_filter_answers_membership");
    let map = common::create_map(MapType::BLOOM_FILTER, 0, 4, 64);
    assert!(
        !map.bloom_contains(&42u32.to_ne_bytes())
            .expect("query empty")
    );
    map.update(&[], &42u32.to_ne_bytes(), 0).expect("add");
    assert!(
        map.bloom_contains(&42u32.to_ne_bytes())
            .expect("query present")
    );
    // One element in 64 slots with 5 hashes: a false positive is ~1e-9 likely.
    assert!(
        !map.bloom_contains(&43u32.to_ne_bytes())
            .expect("query absent")
    );
    assert_eq!(errno_of(map.delete(&[])), libc::EOPNOTSUPP);
}

#[test]
fn map_in_map_stores_fds_and_returns_ids() {
    require_bpf!("map_in_map_stores_fds_and_returns_ids");
    let inner = common::create_map(MapType::ARRAY, 4, 4, 1);
    let outer = MapFd::create(&MapCreateAttrs {
        map_type: MapType::ARRAY_OF_MAPS,
        key_size: 4,
        value_size: 4,
        max_entries: 2,
        inner_map_fd: Some(inner.as_fd()),
        ..MapCreateAttrs::default()
    })
    .expect("array of maps");
    use std::os::fd::AsRawFd;
    let fd = inner.as_fd().as_raw_fd() as u32;
    outer
        .update(&key(0), &fd.to_ne_bytes(), 0)
        .expect("store inner fd");
    let stored = outer.lookup(&key(0), 0).expect("lookup").expect("present");
    let inner_id = inner.info().expect("info").id;
    assert_eq!(
        stored,
        inner_id.to_ne_bytes().to_vec(),
        "lookup returns the inner map id"
    );
    // A value that is not a map fd is refused.
    assert_eq!(
        errno_of(outer.update(&key(1), &u32::MAX.to_ne_bytes(), 0)),
        libc::EBADF
    );
}

#[test]
fn spin_lock_values_with_f_lock() {
    require_bpf!("spin_lock_values_with_f_lock");
    let btf = BtfFd::load(&common::spin_lock_btf(), log_level::BASIC)
        .expect("BTF")
        .btf;
    let map = MapFd::create(&MapCreateAttrs {
        map_type: MapType::HASH,
        key_size: 4,
        value_size: 8,
        max_entries: 4,
        btf_fd: Some(btf.as_fd()),
        btf_key_type_id: 1,
        btf_value_type_id: 3,
        ..MapCreateAttrs::default()
    })
    .expect("hash with spin lock value");
    let value = [0u32.to_ne_bytes(), 77u32.to_ne_bytes()].concat();
    map.update(&key(1), &value, elem_flags::LOCK)
        .expect("locked update");
    let read = map
        .lookup(&key(1), elem_flags::LOCK)
        .expect("locked lookup")
        .expect("present");
    assert_eq!(read[4..], 77u32.to_ne_bytes());
    let info = map.info().expect("info");
    assert_ne!(info.btf_id, 0);
    assert_eq!((info.btf_key_type_id, info.btf_value_type_id), (1, 3));
    // Without a spin lock in the value, BPF_F_LOCK is refused.
    let plain = common::create_map(MapType::HASH, 4, 8, 4);
    plain.update(&key(1), &[0; 8], 0).expect("plain update");
    assert_eq!(
        errno_of(plain.lookup(&key(1), elem_flags::LOCK)),
        libc::EINVAL
    );
}

#[test]
fn batch_lookup_reads_everything() {
    require_bpf!("batch_lookup_reads_everything");
    let map = common::create_map(MapType::HASH, 4, 4, 64);
    for k in 0..10u32 {
        map.update(&key(k), &(k * k).to_ne_bytes(), 0)
            .expect("fill");
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    for _ in 0..64 {
        let batch = map.lookup_batch(cursor.as_ref(), 4, 0).expect("batch");
        seen.extend(batch.entries);
        match batch.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    seen.sort();
    let mut expected: Vec<(Vec<u8>, Vec<u8>)> = (0..10u32)
        .map(|k| (key(k).to_vec(), (k * k).to_ne_bytes().to_vec()))
        .collect();
    expected.sort();
    assert_eq!(seen, expected);

    let array = common::create_map(MapType::ARRAY, 4, 4, 5);
    // A huge count is bounded by the map's size, not allocated as asked.
    let batch = array.lookup_batch(None, u32::MAX, 0).expect("array batch");
    assert_eq!(batch.entries.len(), 5);
    assert_eq!(batch.next, None);
}

#[test]
fn map_ids_enumerate_and_reopen() {
    require_bpf!("map_ids_enumerate_and_reopen");
    let map = common::create_map(MapType::HASH, 4, 4, 2);
    map.update(&key(1), &key(2), 0).expect("update");
    let id = map.info().expect("info").id;
    let mut found = false;
    let mut cursor = 0;
    while let Some(next) = apiary_kernel::next_map_id(cursor).expect("next id") {
        assert!(next > cursor, "ids increase");
        found |= next == id;
        cursor = next;
    }
    assert!(found, "our map id {id} is listed");
    let again = MapFd::from_id(id).expect("open by id");
    assert_eq!(again.key_size(), 4);
    assert_eq!(
        again.lookup(&key(1), 0).expect("lookup"),
        Some(key(2).to_vec())
    );
    assert_eq!(errno_of(MapFd::from_id(u32::MAX)), libc::ENOENT);
    assert_eq!(Errno(libc::ENOENT).name(), Some("ENOENT"));
}

#[test]
fn probes_tell_allowed_types_from_refused_ones() {
    require_bpf!("probes_tell_allowed_types_from_refused_ones");
    apiary_kernel::probe_map_type(MapType::ARRAY).expect("root may create an array map");
    let unknown = apiary_kernel::probe_map_type(MapType(9999)).expect_err("no map type 9999");
    assert_eq!(unknown.probed, "BPF_MAP_CREATE of a type 9999 map");
    assert_eq!(unknown.errno(), Some(Errno(libc::EINVAL)), "{unknown}");
    // Arena is allowed or refused with EPERM, never anything else.
    if let Err(refusal) = apiary_kernel::probe_map_type(MapType::ARENA) {
        assert_eq!(refusal.errno(), Some(Errno(libc::EPERM)), "{refusal}");
    }
}
