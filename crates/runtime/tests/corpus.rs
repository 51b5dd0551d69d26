//! Corpus objects (clang-compiled C, loaded with apiary-loader) run with
//! the runtime's helpers, checked against their source header comments.

use apiary_runtime::{Runtime, TaskInfo};
use apiary_vm::Runner;

fn open(name: &'static str) -> Option<apiary_loader::Object> {
    match apiary_corpus::object(name) {
        Ok(obj) => Some(apiary_loader::Object::open(obj.path()).expect("corpus object loads")),
        Err(e) => apiary_testskip::missing(&format!("corpus object {name}"), e),
    }
}

#[test]
fn callbacks_matches_its_header() {
    let Some(object) = open("callbacks") else {
        return;
    };
    let rt = Runtime::new(1);
    let loaded = rt.load_object(&object).unwrap();
    let prog = loaded
        .program("run_callbacks")
        .expect("run_callbacks loads");
    // struct loop_args { u32 n; u32 iterations; u64 sum; u64 map_total; u32 elems_visited; s32 first_big_key; }
    let mut ctx = [0u8; 32];
    ctx[..4].copy_from_slice(&10u32.to_ne_bytes());
    let r0 = rt
        .run(&mut Runner::new(), prog, &mut ctx, 0, &TaskInfo::current())
        .unwrap();
    assert_eq!(r0, 0);
    let u32_at = |o: usize| u32::from_ne_bytes(ctx[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_ne_bytes(ctx[o..o + 8].try_into().unwrap());
    assert_eq!(u32_at(0), 10, "n");
    assert_eq!(u32_at(4), 10, "iterations");
    assert_eq!(u64_at(8), 45, "sum");
    assert_eq!(u64_at(16), 60, "map_total");
    assert_eq!(u32_at(24), 3, "elems_visited");
    assert_eq!(u32_at(28) as i32, 2, "first_big_key");
}

/// A map whose value holds a `struct bpf_spin_lock` gets the lock's offset
/// from BTF, so `bpf_spin_lock` on that value is accepted (the kernel's
/// `btf_find_spin_lock`); `buckets` in spin_lock.c has the lock first.
#[test]
fn spin_lock_offset_comes_from_btf() {
    let Some(object) = open("spin_lock") else {
        return;
    };
    let rt = Runtime::new(1);
    let loaded = rt.load_object(&object).unwrap();
    let index = object
        .maps
        .iter()
        .position(|m| m.name == "buckets")
        .expect("spin_lock.c defines buckets");
    let map = rt.map(loaded.maps[index]).expect("buckets was created");
    assert_eq!(map.def().spin_lock_off, Some(0));
}

/// An unverified program that exits holding a `bpf_spin_lock` (the
/// verifier refuses it: `bpf_spin_unlock is missing`) leaves no lock held
/// for the next run, which would otherwise wait forever; repeated runs
/// each take and leave it.
#[test]
fn a_lock_left_held_is_released_when_the_run_ends() {
    let Some(object) = open("wild_rejects") else {
        return;
    };
    let rt = Runtime::new(1);
    let loaded = rt.load_object(&object).unwrap();
    let prog = loaded
        .program("lock_held_at_exit")
        .expect("lock_held_at_exit loads unverified");
    let frame = [0u8; 64];
    let input = apiary_runtime::TestRunInput {
        data_in: Some(&frame),
        ctx_in: None,
        data_size_out: None,
        skip_data_out: false,
        repeat: 3,
        cpu: 0,
        flags: 0,
        task: TaskInfo::current().into(),
    };
    let mut runner = Runner::new();
    for _ in 0..2 {
        // Its buckets hold no tokens: it returns 2 with the lock held.
        let out = rt.test_run(&mut runner, prog, &input).unwrap();
        assert_eq!(out.retval, 2);
    }
}

/// iter_num.c's open-coded iterator loops, run unrelocated (each kfunc
/// call is dispatched by the name the loader recorded): the sums, counts
/// and `bpf_iter_num_new` results its header promises, computed here from
/// the packet and from kernel/bpf/bpf_iter.c's rules.
#[test]
fn iter_num_matches_its_header() {
    let Some(object) = open("iter_num") else {
        return;
    };
    let rt = Runtime::new(1);
    let loaded = rt.load_object(&object).unwrap();
    let bss = object
        .maps
        .iter()
        .position(|m| m.name.ends_with(".bss"))
        .and_then(|i| rt.map(loaded.maps[i]))
        .expect("iter_num has a .bss");
    let globals = || {
        bss.lookup(&0u32.to_ne_bytes(), 0)
            .unwrap()
            .expect(".bss has its value")
            .read()
    };
    let mut runner = Runner::new();
    let mut run = |name: &str, frame: &[u8]| {
        let prog = loaded
            .program(name)
            .unwrap_or_else(|| panic!("{name} loads"));
        let input = apiary_runtime::TestRunInput {
            data_in: Some(frame),
            ctx_in: None,
            data_size_out: None,
            skip_data_out: false,
            repeat: 1,
            cpu: 0,
            flags: 0,
            task: TaskInfo::current().into(),
        };
        rt.test_run(&mut runner, prog, &input).unwrap().retval
    };
    // Globals in declaration order: last_sum u64, last_len u32, (pad),
    // repeats u64, empty_iterations u32, (pad), edge_results[2] s64,
    // edge_sums[6] s64.
    let u64_at = |g: &[u8], o: usize| u64::from_ne_bytes(g[o..o + 8].try_into().unwrap());
    let u32_at = |g: &[u8], o: usize| u32::from_ne_bytes(g[o..o + 4].try_into().unwrap());
    for len in [20usize, 64, 100] {
        let frame: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        assert_eq!(run("sum_bytes", &frame), 2);
        let read = len.min(64);
        let sum: u64 = frame[..read].iter().map(|&b| u64::from(b)).sum();
        let g = globals();
        assert_eq!(
            (u64_at(&g, 0), u32_at(&g, 8)),
            (sum, read as u32),
            "{len} bytes"
        );
    }
    let frame = [0u8; 64];
    for round in 1..=2 {
        assert_eq!(run("repeat_count", &frame), 2);
        assert_eq!(u64_at(&globals(), 16), 5 * round);
    }
    assert_eq!(run("empty_ranges", &frame), 2);
    assert_eq!(u32_at(&globals(), 24), 0);
    assert_eq!(run("range_edges", &frame), 2);
    let g = globals();
    let s64_at = |o: usize| u64_at(&g, o) as i64;
    assert_eq!([s64_at(32), s64_at(40)], [-22, -7], "-EINVAL, -E2BIG");
    let max = i64::from(i32::MAX);
    let min = i64::from(i32::MIN);
    assert_eq!(
        (48..96).step_by(8).map(s64_at).collect::<Vec<_>>(),
        [
            (max - 3) + (max - 2) + (max - 1),
            3,
            min + (min + 1) + (min + 2),
            3,
            -5 - 4 - 3,
            3
        ]
    );
}
