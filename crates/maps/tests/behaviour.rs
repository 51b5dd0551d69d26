//! Kernel-documented behaviour that needs no kernel round trip: program-side
//! pointers, per-CPU views, ring buffer layout and wakeups, perf output,
//! spin locks, fd maps, typed views, and a model check of hash sizing.

use apiary_maps::typed::*;
use apiary_maps::*;
use proptest::prelude::*;
use std::sync::Arc;

fn k32(k: u32) -> [u8; 4] {
    k.to_ne_bytes()
}

#[test]
fn value_pointer_stays_valid_after_delete_and_replace_sees_new_element() {
    let map = Map::create(MapDef::new(MapType::Hash, 4, 8, 4), 2).unwrap();
    map.update(&k32(1), &7u64.to_ne_bytes(), BPF_ANY, 0)
        .unwrap();
    let old = map.lookup(&k32(1), 0).unwrap().unwrap();
    assert_eq!(old.len(), 8);
    // Replacing allocates a fresh element (hashtab.c): the old pointer keeps the old value.
    map.update(&k32(1), &9u64.to_ne_bytes(), BPF_ANY, 0)
        .unwrap();
    assert_eq!(old.read(), 7u64.to_ne_bytes());
    let new = map.lookup(&k32(1), 0).unwrap().unwrap();
    assert_ne!(new.addr(), old.addr());
    map.delete(&k32(1)).unwrap();
    // Memory is still mapped: reading through the stale pointer is fine.
    assert_eq!(new.read(), 9u64.to_ne_bytes());
    assert_eq!(map.lookup(&k32(1), 0).unwrap(), None);
}

#[test]
fn percpu_program_updates_touch_one_cpu() {
    let map = Map::create(MapDef::new(MapType::PercpuHash, 4, 4, 4), 3).unwrap();
    map.update(&k32(5), &11u32.to_ne_bytes(), BPF_ANY, 1)
        .unwrap();
    let all = map.sys_lookup(&k32(5), 0).unwrap();
    assert_eq!(all.len(), 24, "3 CPUs x round_up(4, 8)");
    assert_eq!(&all[8..12], &11u32.to_ne_bytes());
    assert_eq!(&all[0..4], &[0; 4], "other CPUs of a new element read zero");
    map.update(&k32(5), &12u32.to_ne_bytes(), BPF_EXIST, 2)
        .unwrap();
    let v2 = map.lookup_percpu(&k32(5), 2).unwrap().unwrap();
    assert_eq!(v2.read(), 12u32.to_ne_bytes());
    assert_eq!(
        map.lookup_percpu(&k32(5), 3).unwrap(),
        None,
        "CPU 3 is not possible"
    );
    let arr = Map::create(MapDef::new(MapType::PercpuArray, 4, 8, 2), 2).unwrap();
    let view = PerCpuArray::<_, u64>::new(&arr).unwrap();
    view.set(1, &PerCpuValues::new(vec![3, 4]), BPF_ANY)
        .unwrap();
    assert_eq!(
        arr.lookup(&k32(1), 1).unwrap().unwrap().read(),
        4u64.to_ne_bytes()
    );
    assert_eq!(view.get(1, 0).unwrap().as_slice(), &[3, 4]);
}

#[test]
fn spin_lock_and_f_lock() {
    let mut def = MapDef::new(MapType::Array, 4, 16, 2);
    def.spin_lock_off = Some(0);
    let map = Map::create(def, 1).unwrap();
    let v = map.lookup(&k32(1), 0).unwrap().unwrap();
    let mut value = [0xffu8; 16];
    map.sys_update(&k32(1), &value, BPF_F_LOCK).unwrap();
    let out = map.sys_lookup(&k32(1), BPF_F_LOCK).unwrap();
    assert_eq!(
        &out[0..4],
        &[0; 4],
        "the lock word is never copied in or out"
    );
    assert_eq!(&out[4..], &value[4..]);
    map.spin_lock(v.addr()).unwrap();
    assert!(map.spin_lock(v.addr() + 4).is_err(), "not a lock word");
    // A BPF_F_LOCK update must wait for the holder; run it on another thread.
    let map = Arc::new(map);
    let m2 = Arc::clone(&map);
    value[8] = 1;
    let t = std::thread::spawn(move || m2.sys_update(&k32(1), &value, BPF_F_LOCK));
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(
        map.sys_lookup(&k32(1), 0).unwrap()[8],
        0xff,
        "update blocked by the lock"
    );
    map.spin_unlock(v.addr()).unwrap();
    t.join().unwrap().unwrap();
    assert_eq!(map.sys_lookup(&k32(1), BPF_F_LOCK).unwrap()[8], 1);
    let nolock = Map::create(MapDef::new(MapType::PercpuArray, 4, 8, 1).with_flags(0), 1).unwrap();
    assert_eq!(
        nolock
            .sys_update(&k32(0), &[0; 8], BPF_F_LOCK)
            .unwrap_err()
            .errno(),
        -libc::EINVAL
    );
    let mut bad = MapDef::new(MapType::LruHash, 4, 8, 4);
    bad.spin_lock_off = Some(0);
    assert_eq!(Map::create(bad, 1).unwrap_err().errno(), -libc::EOPNOTSUPP);
}

#[test]
fn ringbuf_layout_wrap_discard_and_wakeup() {
    let page = page_size();
    let map = Map::create(MapDef::new(MapType::Ringbuf, 0, 0, page as u32), 1).unwrap();
    let mut rb = RingBuf::new(&map).unwrap();
    assert_eq!(map.ringbuf_query(BPF_RB_RING_SIZE).unwrap(), page as u64);
    // Flags on reserve are refused; records larger than the ring too.
    assert!(map.ringbuf_reserve(8, 1).is_err());
    assert!(map.ringbuf_reserve(page as u64, 0).is_err());
    let s = map.ringbuf_reserve(5, 0).unwrap();
    // Header: len with BUSY bit, pg_off = pages from the ring start (3 meta pages).
    let hdr = unsafe { std::slice::from_raw_parts((s.addr() - 8) as *const u8, 8) };
    assert_eq!(
        u32::from_ne_bytes(hdr[0..4].try_into().unwrap()),
        5 | BPF_RINGBUF_BUSY_BIT
    );
    assert_eq!(u32::from_ne_bytes(hdr[4..8].try_into().unwrap()), 3);
    assert!(rb.next().is_none(), "busy record blocks the consumer");
    assert_eq!(map.ringbuf_query(BPF_RB_AVAIL_DATA).unwrap(), 16);
    unsafe { std::ptr::copy_nonoverlapping(b"hello".as_ptr(), s.as_ptr(), 5) };
    map.ringbuf_submit(s.addr(), 0).unwrap();
    assert!(map.ringbuf_submit(s.addr(), 0).is_err(), "double submit");
    // Consumer was caught up: a wakeup was signalled on the eventfd.
    let mut pfd = libc::pollfd {
        fd: rb.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    assert_eq!(unsafe { libc::poll(&mut pfd, 1, 0) }, 1);
    rb.clear_ready();
    let d = map.ringbuf_reserve(3, 0).unwrap();
    map.ringbuf_discard(d.addr(), BPF_RB_NO_WAKEUP).unwrap();
    assert_eq!(&*rb.next().unwrap(), b"hello");
    assert!(rb.next().is_none(), "discarded record skipped");
    assert_eq!(map.ringbuf_query(BPF_RB_CONS_POS).unwrap(), 32);
    assert_eq!(
        unsafe { libc::poll(&mut pfd, 1, 0) },
        0,
        "NO_WAKEUP signalled nothing"
    );
    // Fill up to the wrap point, then a record that straddles it stays contiguous.
    let filler = page - 32 - 8 - 16;
    map.ringbuf_output(&vec![7u8; filler], BPF_RB_NO_WAKEUP)
        .unwrap();
    assert_eq!(rb.next().unwrap().len(), filler);
    let data: Vec<u8> = (0..100u8).collect();
    map.ringbuf_output(&data, BPF_RB_FORCE_WAKEUP).unwrap();
    assert_eq!(&*rb.next().unwrap(), &data[..]);
    // Full ring: EAGAIN from output.
    let big = vec![1u8; page - 16];
    map.ringbuf_output(&big, 0).unwrap();
    assert_eq!(
        map.ringbuf_output(&[1], 0).unwrap_err().errno(),
        -libc::EAGAIN
    );
    assert_eq!(
        map.ringbuf_output(&[1], 4).unwrap_err().errno(),
        -libc::EINVAL
    );
}

#[test]
fn perf_event_output() {
    let map = Map::create(MapDef::new(MapType::PerfEventArray, 4, 4, 2), 2).unwrap();
    assert_eq!(
        map.perf_event_output(0, BPF_F_CURRENT_CPU, b"x")
            .unwrap_err()
            .errno(),
        -libc::ENOENT
    );
    map.perf_open(0, 0, 8).unwrap();
    map.sys_update(&k32(1), &1u32.to_ne_bytes(), BPF_ANY)
        .unwrap();
    map.perf_event_output(0, BPF_F_CURRENT_CPU, b"abcd")
        .unwrap();
    map.perf_event_output(1, BPF_F_CURRENT_CPU, b"cpu1")
        .unwrap();
    assert_eq!(
        map.perf_event_output(1, 0, b"x").unwrap_err().errno(),
        -libc::EOPNOTSUPP
    );
    assert_eq!(
        map.perf_event_output(0, 5, b"x").unwrap_err().errno(),
        -libc::E2BIG
    );
    map.perf_event_output(0, 0, b"efgh").unwrap();
    assert_eq!(
        map.perf_event_output(0, 0, b"overflow")
            .unwrap_err()
            .errno(),
        -libc::ENOSPC
    );
    assert_eq!(map.perf_read(0).unwrap(), Some(PerfRecord::Lost(1)));
    assert_eq!(
        map.perf_read(0).unwrap(),
        Some(PerfRecord::Sample(b"abcd".to_vec()))
    );
    assert_eq!(
        map.perf_read(1).unwrap(),
        Some(PerfRecord::Sample(b"cpu1".to_vec()))
    );
    assert_eq!(map.sys_lookup(&k32(0), 0).unwrap_err().errno(), -ENOTSUPP);
}

#[test]
fn fd_maps_and_redirect_targets() {
    let progs = Map::create(MapDef::new(MapType::ProgArray, 4, 4, 4), 1).unwrap();
    let view = ProgramArray::new(&progs).unwrap();
    view.set(2, 42).unwrap();
    assert_eq!(progs.tail_call_target(2), Some(42));
    assert_eq!(progs.tail_call_target(1), None);
    assert_eq!(view.indices().collect::<Vec<_>>(), vec![2]);
    assert_eq!(view.set(0, 0).unwrap_err().errno(), -libc::EBADF);
    assert_eq!(
        progs
            .sys_update(&k32(0), &k32(1), BPF_NOEXIST)
            .unwrap_err()
            .errno(),
        -libc::EINVAL
    );
    view.clear_index(2).unwrap();
    assert_eq!(view.clear_index(2).unwrap_err().errno(), -libc::ENOENT);
    assert!(
        progs.lookup(&k32(0), 0).is_err(),
        "programs cannot look into prog arrays"
    );

    let inner = MapDef::new(MapType::Array, 4, 8, 4);
    let mut outer = MapDef::new(MapType::HashOfMaps, 4, 4, 4);
    assert_eq!(
        Map::create(outer.clone(), 1).unwrap_err().errno(),
        -libc::EBADF,
        "no inner map template"
    );
    outer.inner = Some(Box::new(inner.clone()));
    let hom = Map::create(outer.clone(), 1).unwrap();
    assert!(outer.inner.as_ref().unwrap().accepts_inner(&inner));
    assert!(!inner.accepts_inner(&MapDef::new(MapType::Array, 4, 8, 5)));
    hom.sys_update(&k32(9), &k32(77), BPF_ANY).unwrap();
    assert_eq!(hom.inner_map_id(&k32(9)).unwrap(), Some(77));

    let dev = Map::create(MapDef::new(MapType::Devmap, 4, 8, 4), 1).unwrap();
    let val: Vec<u8> = [1u32.to_ne_bytes(), 5u32.to_ne_bytes()].concat();
    dev.sys_update(&k32(3), &val, BPF_ANY).unwrap();
    assert_eq!(
        dev.redirect_target(3),
        Some(RedirectTarget::Device {
            ifindex: 1,
            prog_id: 5
        })
    );
    assert_eq!(dev.lookup(&k32(3), 0).unwrap().unwrap().read(), val);
    let cpu = Map::create(MapDef::new(MapType::Cpumap, 4, 4, 4), 2).unwrap();
    cpu.sys_update(&k32(1), &k32(192), BPF_ANY).unwrap();
    assert_eq!(
        cpu.redirect_target(1),
        Some(RedirectTarget::Cpu {
            cpu: 1,
            qsize: 192,
            prog_id: 0
        })
    );
    let xsk = Map::create(MapDef::new(MapType::Xskmap, 4, 4, 4), 1).unwrap();
    assert_eq!(
        xsk.sys_update(&k32(0), &k32(3), BPF_EXIST)
            .unwrap_err()
            .errno(),
        -libc::ENOENT
    );
    xsk.sys_update(&k32(0), &k32(3), BPF_NOEXIST).unwrap();
    assert_eq!(
        xsk.redirect_target(0),
        Some(RedirectTarget::XskSocket { socket_id: 3 })
    );
    let dh = Map::create(MapDef::new(MapType::DevmapHash, 4, 4, 1), 1).unwrap();
    dh.sys_update(&k32(100), &k32(2), BPF_ANY).unwrap();
    assert_eq!(
        dh.sys_update(&k32(101), &k32(2), BPF_ANY)
            .unwrap_err()
            .errno(),
        -libc::E2BIG
    );
    assert_eq!(
        dh.redirect_target(100),
        Some(RedirectTarget::Device {
            ifindex: 2,
            prog_id: 0
        })
    );
}

#[test]
fn bloom_filter_has_no_false_negatives() {
    let map = Map::create(
        MapDef {
            map_extra: 3,
            ..MapDef::new(MapType::BloomFilter, 0, 8, 1000)
        },
        1,
    )
    .unwrap();
    for i in 0u64..1000 {
        map.push(&i.to_ne_bytes(), BPF_ANY).unwrap();
    }
    for i in 0u64..1000 {
        map.peek(&mut i.to_ne_bytes()).unwrap();
    }
    let false_positives = (1000u64..11000)
        .filter(|i| map.peek(&mut i.to_ne_bytes()).is_ok())
        .count();
    assert!(
        false_positives < 2000,
        "{false_positives} false positives out of 10000"
    );
    assert_eq!(
        map.push(&[0; 8], BPF_EXIST).unwrap_err().errno(),
        -libc::EINVAL
    );
}

#[test]
fn typed_hash_lpm_queue_views() {
    let map = Map::create(MapDef::new(MapType::Hash, 4, 8, 16), 1).unwrap();
    let h = HashMap::<_, u32, u64>::new(&map).unwrap();
    assert!(
        HashMap::<_, u64, u64>::new(&map).is_err(),
        "key size mismatch"
    );
    for i in 0..10 {
        h.insert(&i, &(u64::from(i) * 3), BPF_ANY).unwrap();
    }
    let mut pairs: Vec<(u32, u64)> = h.iter().map(Result::unwrap).collect();
    pairs.sort();
    assert_eq!(
        pairs,
        (0..10).map(|i| (i, u64::from(i) * 3)).collect::<Vec<_>>()
    );
    h.remove(&3).unwrap();
    assert_eq!(h.get(&3, 0).unwrap_err(), MapError::NotFound);
    assert_eq!(h.keys().count(), 9);

    let lpm = Map::create(
        MapDef::new(MapType::LpmTrie, 8, 4, 8).with_flags(BPF_F_NO_PREALLOC),
        1,
    )
    .unwrap();
    let t = LpmTrie::<_, [u8; 4], u32>::new(&lpm).unwrap();
    t.insert(&Key::new(8, [10, 0, 0, 0]), &1, BPF_ANY).unwrap();
    t.insert(&Key::new(16, [10, 1, 0, 0]), &2, BPF_ANY).unwrap();
    assert_eq!(t.get(&Key::new(32, [10, 1, 9, 9]), 0).unwrap(), 2);
    assert_eq!(t.get(&Key::new(32, [10, 2, 9, 9]), 0).unwrap(), 1);
    let keys: Vec<u32> = t.keys().map(|k| k.unwrap().prefix_len()).collect();
    assert_eq!(keys, vec![16, 8], "post-order: more specific first");

    let q = Map::create(MapDef::new(MapType::Stack, 0, 4, 2), 1).unwrap();
    let s = Stack::<_, u32>::new(&q).unwrap();
    s.push(&1, BPF_ANY).unwrap();
    s.push(&2, BPF_ANY).unwrap();
    assert_eq!(s.peek().unwrap(), 2);
    assert_eq!(s.pop().unwrap(), 2);
    let arr = Map::create(MapDef::new(MapType::Array, 4, 4, 3), 1).unwrap();
    let a = Array::<_, u32>::new(Arc::new(arr)).unwrap();
    a.set(2, &9, BPF_ANY).unwrap();
    assert_eq!(
        a.iter().map(Result::unwrap).collect::<Vec<_>>(),
        vec![0, 0, 9]
    );
}

#[test]
fn hostile_sizes_are_typed_errors() {
    let map = Map::create(MapDef::new(MapType::Hash, 4, 8, 4), 1).unwrap();
    assert!(matches!(
        map.sys_lookup(&[1, 2], 0),
        Err(MapError::BadLength { .. })
    ));
    assert!(matches!(
        map.update(&k32(1), &[0; 3], BPF_ANY, 0),
        Err(MapError::BadLength { .. })
    ));
    let huge = MapDef::new(MapType::Array, 4, 1 << 30, u32::MAX);
    assert_eq!(Map::create(huge, 1).unwrap_err().errno(), -libc::ENOMEM);
    let lpm = Map::create(
        MapDef::new(MapType::LpmTrie, 5, 1, 1).with_flags(BPF_F_NO_PREALLOC),
        1,
    )
    .unwrap();
    assert_eq!(
        lpm.sys_get_next_key(Some(&[0xff, 0xff, 0xff, 0xff, 0]))
            .unwrap_err()
            .errno(),
        -libc::ENOENT
    );
}

#[derive(Debug, Clone)]
enum ModelOp {
    Update(u8, u64, u64),
    Delete(u8),
}

proptest! {
    /// A hash map behaves like a bounded std HashMap: same contents, E2BIG
    /// exactly when a new key meets a full map, flag errors as documented.
    #[test]
    fn hash_matches_bounded_model(ops in proptest::collection::vec(
        prop_oneof![
            (any::<u8>(), any::<u64>(), 0u64..3).prop_map(|(k, v, f)| ModelOp::Update(k % 40, v, f)),
            any::<u8>().prop_map(|k| ModelOp::Delete(k % 40)),
        ], 1..300),
        max in 1u32..32, no_prealloc in any::<bool>())
    {
        let flags = if no_prealloc { BPF_F_NO_PREALLOC } else { 0 };
        let map = Map::create(MapDef::new(MapType::Hash, 1, 8, max).with_flags(flags), 2).unwrap();
        let mut model = std::collections::HashMap::new();
        for op in ops {
            match op {
                ModelOp::Update(k, v, f) => {
                    let exists = model.contains_key(&k);
                    let expect = match (exists, f) {
                        (true, BPF_NOEXIST) => Err(-libc::EEXIST),
                        (false, BPF_EXIST) => Err(-libc::ENOENT),
                        (false, _) if model.len() as u32 >= max => Err(-libc::E2BIG),
                        _ => Ok(()),
                    };
                    let got = map.update(&[k], &v.to_ne_bytes(), f, u32::from(k) % 2).map_err(|e| e.errno());
                    prop_assert_eq!(got, expect);
                    if expect.is_ok() {
                        model.insert(k, v);
                    }
                }
                ModelOp::Delete(k) => {
                    let expect = if model.remove(&k).is_some() { Ok(()) } else { Err(-libc::ENOENT) };
                    prop_assert_eq!(map.delete(&[k]).map_err(|e| e.errno()), expect);
                }
            }
            prop_assert_eq!(map.len() as usize, model.len());
        }
        let mut seen = std::collections::HashMap::new();
        let mut key = None;
        while let Ok(next) = map.sys_get_next_key(key.as_deref()) {
            let v = map.sys_lookup(&next, 0).unwrap();
            seen.insert(next[0], u64::from_ne_bytes(v.try_into().unwrap()));
            key = Some(next);
        }
        prop_assert_eq!(seen, model);
    }

    /// An LRU map never exceeds max_entries, never fails an insert, and
    /// always keeps the key just written.
    #[test]
    fn lru_never_fails_and_keeps_latest(keys in proptest::collection::vec(0u16..500, 1..400), max in 4u32..64, common in any::<bool>()) {
        let flags = if common { 0 } else { BPF_F_NO_COMMON_LRU };
        let map = Map::create(MapDef::new(MapType::LruHash, 2, 4, max).with_flags(flags), 2).unwrap();
        for (i, k) in keys.iter().enumerate() {
            map.update(&k.to_ne_bytes(), &(i as u32).to_ne_bytes(), BPF_ANY, (i % 2) as u32).unwrap();
            let v = map.lookup(&k.to_ne_bytes(), 0).unwrap().expect("latest key present");
            prop_assert_eq!(v.read(), (i as u32).to_ne_bytes().to_vec());
            prop_assert!(map.len() <= map.max_entries());
        }
    }
}
