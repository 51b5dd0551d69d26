//! Many threads on one map at once: atomic increments through value
//! pointers must not be lost, values must never be torn, and the host may
//! iterate and update concurrently.

use apiary_maps::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const THREADS: u32 = 4;
const ROUNDS: u64 = 20_000;

fn counter(v: ValueRef) -> &'static AtomicU64 {
    // SAFETY: map values are 8-aligned, 8 bytes here, and stay mapped while
    // the map (kept alive by the test) lives.
    unsafe { AtomicU64::from_ptr(v.as_ptr().cast()) }
}

#[test]
fn concurrent_increments_and_churn() {
    let map = Arc::new(Map::create(MapDef::new(MapType::Hash, 4, 16, 64), THREADS).unwrap());
    // Keys 0..8 are counters that are never deleted; keys 100.. churn.
    for k in 0u32..8 {
        map.sys_update(&k.to_ne_bytes(), &[0; 16], BPF_NOEXIST)
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let host = {
        let (map, stop) = (Arc::clone(&map), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut walks = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut key: Option<Vec<u8>> = None;
                while let Ok(next) = map.sys_get_next_key(key.as_deref()) {
                    if let Ok(v) = map.sys_lookup(&next, 0) {
                        let k = u32::from_ne_bytes(next[..4].try_into().unwrap());
                        if k >= 100 {
                            // Churn values are two copies of one u64: never torn.
                            assert_eq!(v[..8], v[8..], "torn value for key {k}");
                        }
                    }
                    key = Some(next);
                }
                walks += 1;
            }
            walks
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|cpu| {
            let map = Arc::clone(&map);
            std::thread::spawn(move || {
                for i in 0..ROUNDS {
                    let k = (i % 8) as u32;
                    let v = map.lookup(&k.to_ne_bytes(), cpu).unwrap().unwrap();
                    counter(v).fetch_add(1, Ordering::Relaxed);
                    let churn = 100 + cpu * 1000 + (i % 16) as u32;
                    let word = i.to_ne_bytes();
                    let value: Vec<u8> = [word, word].concat();
                    match map.update(&churn.to_ne_bytes(), &value, BPF_ANY, cpu) {
                        Ok(()) | Err(MapError::TooBig(_)) => {}
                        Err(e) => panic!("update failed: {e}"),
                    }
                    if i % 3 == 0 {
                        let _ = map.delete(&churn.to_ne_bytes());
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let walks = host.join().unwrap();
    assert!(walks > 0);
    let total: u64 = (0u32..8)
        .map(|k| {
            u64::from_ne_bytes(
                map.sys_lookup(&k.to_ne_bytes(), 0).unwrap()[..8]
                    .try_into()
                    .unwrap(),
            )
        })
        .sum();
    assert_eq!(total, u64::from(THREADS) * ROUNDS, "lost increments");
    assert!(map.len() <= 64);
}

#[test]
fn concurrent_percpu_and_array_counters() {
    let arr = Arc::new(Map::create(MapDef::new(MapType::Array, 4, 8, 1), THREADS).unwrap());
    let pc = Arc::new(Map::create(MapDef::new(MapType::PercpuArray, 4, 8, 1), THREADS).unwrap());
    let lru = Arc::new(Map::create(MapDef::new(MapType::LruHash, 4, 8, 32), THREADS).unwrap());
    let handles: Vec<_> = (0..THREADS)
        .map(|cpu| {
            let (arr, pc, lru) = (Arc::clone(&arr), Arc::clone(&pc), Arc::clone(&lru));
            std::thread::spawn(move || {
                for i in 0..ROUNDS {
                    counter(arr.lookup(&0u32.to_ne_bytes(), cpu).unwrap().unwrap())
                        .fetch_add(1, Ordering::Relaxed);
                    let v = pc.lookup(&0u32.to_ne_bytes(), cpu).unwrap().unwrap();
                    // Per-CPU slots are private to their runner: a plain add suffices.
                    let c = counter(v);
                    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
                    let k = (cpu * 100 + (i % 50) as u32).to_ne_bytes();
                    lru.update(&k, &i.to_ne_bytes(), BPF_ANY, cpu).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let a = u64::from_ne_bytes(
        arr.sys_lookup(&0u32.to_ne_bytes(), 0)
            .unwrap()
            .try_into()
            .unwrap(),
    );
    assert_eq!(a, u64::from(THREADS) * ROUNDS);
    let all = pc.sys_lookup(&0u32.to_ne_bytes(), 0).unwrap();
    for chunk in all.chunks_exact(8) {
        assert_eq!(u64::from_ne_bytes(chunk.try_into().unwrap()), ROUNDS);
    }
    assert!(lru.len() <= 32);
}

#[test]
fn concurrent_ringbuf_producers() {
    let map = Arc::new(Map::create(MapDef::new(MapType::Ringbuf, 0, 0, 1 << 16), THREADS).unwrap());
    let per_thread = 5_000u64;
    let producers: Vec<_> = (0..THREADS)
        .map(|cpu| {
            let map = Arc::clone(&map);
            std::thread::spawn(move || {
                let mut i = 0;
                while i < per_thread {
                    let rec = [u64::from(cpu).to_ne_bytes(), i.to_ne_bytes()].concat();
                    match map.ringbuf_output(&rec, 0) {
                        Ok(()) => i += 1,
                        Err(MapError::TryAgain) => std::thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                }
            })
        })
        .collect();
    let mut rb = typed::RingBuf::new(&*map).unwrap();
    let mut next = vec![0u64; THREADS as usize];
    let mut got = 0;
    while got < per_thread * u64::from(THREADS) {
        match rb.next() {
            Some(rec) => {
                let cpu = u64::from_ne_bytes(rec[..8].try_into().unwrap()) as usize;
                let i = u64::from_ne_bytes(rec[8..16].try_into().unwrap());
                assert_eq!(i, next[cpu], "records of one producer arrive in order");
                next[cpu] += 1;
                got += 1;
            }
            None => std::thread::yield_now(),
        }
    }
    for p in producers {
        p.join().unwrap();
    }
}
