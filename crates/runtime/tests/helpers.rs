//! Programs that exercise each helper, checked against the kernel's
//! documented behaviour (helper man page, kernel/bpf/helpers.c).

use std::sync::Arc;

use apiary_isa::{RawInsn, encode_program};
use apiary_kernel::types::ProgType;
use apiary_loader::{BPF_F_MMAPABLE, BPF_F_RDONLY_PROG};
use apiary_maps::{MapDef, MapType};
use apiary_runtime::{Event, MapId, ProgId, Runtime, RuntimeError, TaskInfo};
use apiary_vm::{RunError, Runner};

fn code(text: &str) -> Vec<RawInsn> {
    encode_program(&apiary_asm::assemble(text).expect("test program assembles"))
}

fn load(rt: &Runtime, text: &str, maps: &[MapId]) -> ProgId {
    rt.load_program("test", ProgType::SYSCALL, &code(text), maps)
        .expect("program loads")
}

fn run(rt: &Arc<Runtime>, prog: ProgId, ctx: &mut [u8]) -> Result<u64, RunError> {
    rt.run(&mut Runner::new(), prog, ctx, 0, &TaskInfo::current())
}

fn hash_u32(rt: &Runtime, entries: u32) -> MapId {
    rt.create_map(MapDef::new(MapType::Hash, 4, 8, entries).with_name("h"))
        .unwrap()
}

/// A global-data map as libbpf makes it: a one-entry mmapable array
/// holding `contents` (`BPF_F_RDONLY_PROG` too for `.rodata`).
fn global_data(rt: &Runtime, name: &str, contents: &[u8], read_only: bool) -> MapId {
    let flags = BPF_F_MMAPABLE | if read_only { BPF_F_RDONLY_PROG } else { 0 };
    let def = MapDef::new(MapType::Array, 4, contents.len() as u32, 1)
        .with_flags(flags)
        .with_name(name);
    let id = rt.create_map(def).unwrap();
    rt.map(id)
        .unwrap()
        .sys_update(&0u32.to_ne_bytes(), contents, 0)
        .unwrap();
    id
}

#[test]
fn global_data_is_addressable_and_rodata_read_only() {
    let rt = Runtime::new(1);
    let data = global_data(&rt, "o.data", &[0; 8], false);
    let rodata = global_data(&rt, "o.rodata", &[1, 0, 0, 0, 7, 0, 0, 0], true);
    // .data[0] = .rodata[4] + 1; return .data[0]
    let prog = load(
        &rt,
        "ld_pseudo r1, 6, 0x400000001\n r0 = *(u32 *)(r1 + 0)\n r0 += 1\n ld_pseudo r2, 6, 0\n *(u32 *)(r2 + 0) = r0\n exit",
        &[data, rodata],
    );
    assert_eq!(run(&rt, prog, &mut []), Ok(8));
    let stored = rt
        .map(data)
        .unwrap()
        .sys_lookup(&0u32.to_ne_bytes(), 0)
        .unwrap();
    assert_eq!(&stored[..4], &8u32.to_ne_bytes());
    let write_ro = load(
        &rt,
        "ld_pseudo r1, 6, 0x1\n *(u32 *)(r1 + 0) = 1\n r0 = 0\n exit",
        &[data, rodata],
    );
    assert!(matches!(
        run(&rt, write_ro, &mut []),
        Err(RunError::MemoryFault { .. })
    ));
    // A map handle is not memory.
    let deref = load(
        &rt,
        "ld_pseudo r1, 5, 0\n r0 = *(u64 *)(r1 + 0)\n exit",
        &[data],
    );
    assert!(matches!(
        run(&rt, deref, &mut []),
        Err(RunError::MemoryFault { .. })
    ));
    let bad_offset = rt.load_program(
        "t",
        ProgType::SYSCALL,
        &code("ld_pseudo r1, 6, 0x800000000\n r0 = 0\n exit"),
        &[data],
    );
    assert!(
        matches!(
            bad_offset,
            Err(RuntimeError::BadValueOffset { offset: 8, .. })
        ),
        "{bad_offset:?}"
    );
    let bad_index = rt.load_program(
        "t",
        ProgType::SYSCALL,
        &code("ld_pseudo r1, 5, 3\n r0 = 0\n exit"),
        &[data],
    );
    assert!(matches!(
        bad_index,
        Err(RuntimeError::BadMapIndex { index: 3, .. })
    ));
}

const LOOKUP_OR_INSERT: &str = "
    *(u32 *)(r10 - 4) = 5
    ld_pseudo r1, 5, 0
    r2 = r10
    r2 += -4
    call 1
    if r0 != 0 goto found
    *(u64 *)(r10 - 16) = 100
    ld_pseudo r1, 5, 0
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 1
    call 2
    r0 += 1000
    exit
found:
    r1 = *(u64 *)(r0 + 0)
    r1 += 1
    *(u64 *)(r0 + 0) = r1
    r0 = r1
    exit";

#[test]
fn lookup_update_delete_follow_the_kernel() {
    let rt = Runtime::new(1);
    let map = hash_u32(&rt, 4);
    let prog = load(&rt, LOOKUP_OR_INSERT, &[map]);
    // First run: miss, update with BPF_NOEXIST succeeds (0) -> 1000.
    assert_eq!(run(&rt, prog, &mut []), Ok(1000));
    // Then the value pointer is writable map memory.
    assert_eq!(run(&rt, prog, &mut []), Ok(101));
    assert_eq!(run(&rt, prog, &mut []), Ok(102));
    // BPF_NOEXIST on an existing key: -EEXIST.
    let again = load(
        &rt,
        "*(u32 *)(r10 - 4) = 5\n *(u64 *)(r10 - 16) = 0\n ld_pseudo r1, 5, 0\n r2 = r10\n r2 += -4\n r3 = r10\n r3 += -16\n r4 = 1\n call 2\n exit",
        &[map],
    );
    assert_eq!(run(&rt, again, &mut []), Ok((-17i64) as u64));
    let delete = load(
        &rt,
        "*(u32 *)(r10 - 4) = 5\n ld_pseudo r1, 5, 0\n r2 = r10\n r2 += -4\n call 3\n exit",
        &[map],
    );
    assert_eq!(run(&rt, delete, &mut []), Ok(0));
    assert_eq!(
        run(&rt, delete, &mut []),
        Ok((-2i64) as u64),
        "second delete: -ENOENT"
    );
}

#[test]
fn missing_helper_fails_at_load_with_its_name() {
    let rt = Runtime::new(1);
    let err = rt
        .load_program("t", ProgType::SCHED_CLS, &code("call 90\n exit"), &[])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "program calls helper bpf_msg_push_data#90, which Apiary does not provide yet"
    );
}

#[test]
fn tail_calls_jump_fall_through_and_stop_at_33() {
    let rt = Runtime::new(1);
    let progs = rt
        .create_map(MapDef::new(MapType::ProgArray, 4, 4, 4).with_name("jmp"))
        .unwrap();
    let counter = global_data(&rt, "c.bss", &[0; 8], false);
    let target = load(&rt, "r0 = 42\n exit", &[]);
    // Tail call slot r6; if it returns, the slot was empty: return 7.
    let caller = load(
        &rt,
        "r6 = *(u32 *)(r1 + 0)\n ld_pseudo r2, 5, 0\n r3 = r6\n call 12\n r0 = 7\n exit",
        &[progs],
    );
    rt.set_tail_call(progs, 1, target).unwrap();
    assert_eq!(run(&rt, caller, &mut 1u32.to_ne_bytes()), Ok(42));
    assert_eq!(
        run(&rt, caller, &mut 2u32.to_ne_bytes()),
        Ok(7),
        "empty slot falls through"
    );
    assert_eq!(
        run(&rt, caller, &mut 9u32.to_ne_bytes()),
        Ok(7),
        "index past max_entries"
    );
    // A program that counts its runs and tail-calls itself: the first run
    // plus MAX_TAIL_CALL_CNT (33) tail calls, then the call falls through.
    let selfcall = load(
        &rt,
        "ld_pseudo r2, 6, 0\n r3 = *(u64 *)(r2 + 0)\n r3 += 1\n *(u64 *)(r2 + 0) = r3\n ld_pseudo r2, 5, 1\n r3 = 3\n call 12\n r0 = 1\n exit",
        &[counter, progs],
    );
    rt.set_tail_call(progs, 3, selfcall).unwrap();
    assert_eq!(run(&rt, selfcall, &mut []), Ok(1));
    let count = rt
        .map(counter)
        .unwrap()
        .sys_lookup(&0u32.to_ne_bytes(), 0)
        .unwrap();
    assert_eq!(u64::from_ne_bytes(count[..8].try_into().unwrap()), 34);
}

#[test]
fn trace_printk_formats_like_the_kernel() {
    let rt = Runtime::new(1);
    let fmt = b"v=%d x=%lx s=%s\n\0";
    let mut value = fmt.to_vec();
    value.resize(32, 0);
    value[24..27].copy_from_slice(b"ab\0");
    let rodata = global_data(&rt, "p.rodata", &value, true);
    let prog = load(
        &rt,
        &format!(
            "ld_pseudo r1, 6, 0\n r2 = {}\n r3 = -5\n r4 = -1\n ld_pseudo r5, 6, 0x1800000000\n call 6\n exit",
            fmt.len()
        ),
        &[rodata],
    );
    let expected = format!("v=-5 x={:x} s=ab\n", u64::MAX);
    assert_eq!(run(&rt, prog, &mut []), Ok(expected.len() as u64));
    assert_eq!(rt.take_trace(), expected);
    // A format without its NUL inside fmt_size: -EINVAL, nothing printed.
    let unterminated = load(
        &rt,
        "ld_pseudo r1, 6, 0\n r2 = 4\n call 6\n exit",
        &[rodata],
    );
    assert_eq!(run(&rt, unterminated, &mut []), Ok((-22i64) as u64));
    assert_eq!(rt.take_trace(), "");
}

#[test]
fn probe_read_faults_zero_the_destination() {
    let rt = Runtime::new(1);
    // Read 8 bytes from address 8 (never accessible): -EFAULT, dst zeroed.
    let prog = load(
        &rt,
        "r6 = r1\n *(u64 *)(r6 + 0) = -1\n r1 = r6\n r2 = 8\n r3 = 8\n call 113\n exit",
        &[],
    );
    let mut ctx = [0xaau8; 8];
    assert_eq!(run(&rt, prog, &mut ctx), Ok((-14i64) as u64));
    assert_eq!(ctx, [0; 8]);
    // probe_read_str copies up to the NUL and returns the length with it.
    let copy = load(
        &rt,
        "*(u64 *)(r10 - 8) = 0x6968\n r2 = 8\n r3 = r10\n r3 += -8\n call 115\n exit",
        &[],
    );
    let mut ctx = [0xaau8; 8];
    assert_eq!(run(&rt, copy, &mut ctx), Ok(3));
    assert_eq!(&ctx[..3], b"hi\0");
}

#[test]
fn loop_runs_the_callback_until_it_returns_nonzero() {
    let rt = Runtime::new(1);
    // Callback: ctx[0] += index; stop when index == 9.
    let prog = load(
        &rt,
        "r3 = r1\n r1 = 100\n ld_pseudo r2, 4, cb\n r4 = 0\n call 181\n exit\n
         cb:\n r3 = *(u64 *)(r2 + 0)\n r3 += r1\n *(u64 *)(r2 + 0) = r3\n r0 = 0\n if r1 != 9 goto out\n r0 = 1\n out:\n exit",
        &[],
    );
    let mut ctx = [0u8; 8];
    assert_eq!(run(&rt, prog, &mut ctx), Ok(10));
    assert_eq!(u64::from_ne_bytes(ctx), 45);
    let too_many = load(
        &rt,
        "r1 = 0x800001\n ld_pseudo r2, 4, cb\n r3 = 0\n r4 = 0\n call 181\n exit\n cb:\n r0 = 0\n exit",
        &[],
    );
    assert_eq!(run(&rt, too_many, &mut []), Ok((-7i64) as u64));
}

#[test]
fn concurrent_atomic_adds_lose_no_update() {
    let rt = Runtime::new(4);
    let map = hash_u32(&rt, 4);
    rt.map(map)
        .unwrap()
        .sys_update(&0u32.to_ne_bytes(), &0u64.to_ne_bytes(), 0)
        .unwrap();
    let prog = load(
        &rt,
        "*(u32 *)(r10 - 4) = 0\n ld_pseudo r1, 5, 0\n r2 = r10\n r2 += -4\n call 1\n if r0 == 0 goto out\n r1 = 1\n lock *(u64 *)(r0 + 0) += r1\n out:\n r0 = 0\n exit",
        &[map],
    );
    const RUNS: u64 = 20_000;
    std::thread::scope(|s| {
        for cpu in 0..4u32 {
            let rt = Arc::clone(&rt);
            s.spawn(move || {
                let mut runner = Runner::new();
                let task = TaskInfo::current();
                for _ in 0..RUNS {
                    rt.run(&mut runner, prog, &mut [], cpu, &task).unwrap();
                }
            });
        }
        // The host iterates meanwhile.
        for _ in 0..200 {
            let key = rt.map(map).unwrap().sys_get_next_key(None).unwrap();
            assert_eq!(key, 0u32.to_ne_bytes());
        }
    });
    let value = rt
        .map(map)
        .unwrap()
        .sys_lookup(&0u32.to_ne_bytes(), 0)
        .unwrap();
    assert_eq!(u64::from_ne_bytes(value[..8].try_into().unwrap()), 4 * RUNS);
}

#[test]
fn task_helpers_report_the_given_task() {
    let rt = Runtime::new(2);
    let mut task = TaskInfo::current();
    task.comm = "apiary-runtime-test".into();
    // get_current_comm into ctx (16 bytes), then return pid_tgid.
    let prog = load(&rt, "r6 = r1\n r2 = 16\n call 16\n call 14\n exit", &[]);
    let mut ctx = [0xffu8; 16];
    let got = rt
        .run(&mut Runner::new(), prog, &mut ctx, 1, &task)
        .unwrap();
    assert_eq!(got, u64::from(task.tgid) << 32 | u64::from(task.pid));
    assert_eq!(&ctx, b"apiary-runtime-\0", "strscpy_pad: 15 bytes and NUL");
    let cpu = load(&rt, "call 8\n exit", &[]);
    assert_eq!(rt.run(&mut Runner::new(), cpu, &mut [], 1, &task), Ok(1));
    let signal = load(&rt, "r1 = 10\n call 109\n exit", &[]);
    assert_eq!(run(&rt, signal, &mut []), Ok(0));
    let bad_signal = load(&rt, "r1 = 65\n call 109\n exit", &[]);
    assert_eq!(run(&rt, bad_signal, &mut []), Ok((-22i64) as u64));
    assert_eq!(
        rt.take_events(),
        vec![Event::Signal {
            sig: 10,
            tgid: task.tgid
        }]
    );
}

#[test]
fn queue_and_ringbuf_helpers() {
    let rt = Runtime::new(1);
    let queue = rt
        .create_map(MapDef::new(MapType::Queue, 0, 8, 2).with_name("q"))
        .unwrap();
    // push 11, push 22, push 33 (full: -E2BIG), pop -> 11.
    let prog = load(
        &rt,
        "*(u64 *)(r10 - 8) = 11\n ld_pseudo r1, 5, 0\n r2 = r10\n r2 += -8\n r3 = 0\n call 87\n
         *(u64 *)(r10 - 8) = 22\n ld_pseudo r1, 5, 0\n r2 = r10\n r2 += -8\n r3 = 0\n call 87\n
         *(u64 *)(r10 - 8) = 33\n ld_pseudo r1, 5, 0\n r2 = r10\n r2 += -8\n r3 = 0\n call 87\n
         r6 = r0\n ld_pseudo r1, 5, 0\n r2 = r10\n r2 += -8\n call 88\n r0 = *(u64 *)(r10 - 8)\n r6 <<= 32\n r0 |= r6\n exit",
        &[queue],
    );
    let got = run(&rt, prog, &mut []).unwrap();
    assert_eq!(got & 0xffff_ffff, 11);
    assert_eq!((got >> 32) as i32, -7, "push into a full queue: -E2BIG");
    let ring = rt
        .create_map(MapDef::new(MapType::Ringbuf, 0, 0, 4096).with_name("rb"))
        .unwrap();
    // reserve 8, write, submit; then query available data (8 + 8-byte header).
    let prog = load(
        &rt,
        "ld_pseudo r1, 5, 0\n r2 = 8\n r3 = 0\n call 131\n if r0 == 0 goto out\n *(u64 *)(r0 + 0) = 77\n r1 = r0\n r2 = 0\n call 132\n
         ld_pseudo r1, 5, 0\n r2 = 0\n call 134\n out:\n exit",
        &[ring],
    );
    assert_eq!(run(&rt, prog, &mut []), Ok(16));
}

#[test]
fn strncmp_snprintf_csum_diff() {
    let rt = Runtime::new(1);
    let mut value = b"abd\0n=%d\0".to_vec();
    value.resize(16, 0);
    let rodata = global_data(&rt, "s.rodata", &value, true);
    // strncmp("abc", "abd", 3) = -1 in lib/string.c.
    let cmp = load(
        &rt,
        "*(u32 *)(r10 - 4) = 0x636261\n r1 = r10\n r1 += -4\n r2 = 3\n ld_pseudo r3, 6, 0\n call 182\n exit",
        &[rodata],
    );
    assert_eq!(run(&rt, cmp, &mut []), Ok(u64::MAX));
    // snprintf(ctx, 4, "n=%d", [1234]) = 7 (length + NUL), output "n=1\0".
    let print = load(
        &rt,
        "*(u64 *)(r10 - 8) = 1234\n r2 = 4\n ld_pseudo r3, 6, 0x400000000\n r4 = r10\n r4 += -8\n r5 = 8\n call 165\n exit",
        &[rodata],
    );
    let mut ctx = [0xffu8; 4];
    assert_eq!(run(&rt, print, &mut ctx), Ok(7));
    assert_eq!(&ctx, b"n=1\0");
    // csum_diff with a size that is not a multiple of 4: -EINVAL.
    let bad = load(
        &rt,
        "r1 = 0\n r2 = 0\n r3 = r10\n r3 += -8\n r4 = 3\n r5 = 0\n call 28\n exit",
        &[],
    );
    assert_eq!(run(&rt, bad, &mut []), Ok((-22i64) as u64));
}

/// libbpf poisons an unsatisfiable CO-RE relocation with `call 0xbad2310`;
/// the kernel accepts it on a dead branch, so Apiary loads it and fails
/// only when it runs.
#[test]
fn poisoned_core_calls_fail_only_when_reached() {
    let rt = Runtime::new(1);
    let prog = load(
        &rt,
        "r0 = *(u64 *)(r1 + 0)\n if r0 == 0 goto out\n call 195896080\n out:\n exit",
        &[],
    );
    let mut ctx = [0u8; 8];
    assert_eq!(run(&rt, prog, &mut ctx), Ok(0));
    ctx[0] = 1;
    let err = run(&rt, prog, &mut ctx).unwrap_err();
    assert!(err.to_string().contains("poisoned"), "{err}");
}

/// The prototype table is sorted by id and names each helper as the
/// kernel's UAPI list (`__BPF_FUNC_MAPPER`, via the loader) does.
#[test]
fn prototypes_are_sorted_and_named_like_the_kernel() {
    let protos: Vec<_> = apiary_runtime::helper_protos().collect();
    assert!(protos.windows(2).all(|w| w[0].id < w[1].id));
    for proto in protos {
        assert_eq!(
            Some(proto.name),
            apiary_runtime::helper_name(proto.id),
            "helper {}",
            proto.id
        );
    }
}

/// The verifier's prototype table and the runtime's implementations list
/// the same helpers: a helper the verifier admits can be called, and a
/// helper the runtime implements can be checked.
#[test]
fn every_prototype_has_an_implementation_and_back() {
    let protos: Vec<i32> = apiary_runtime::helper_protos().map(|p| p.id).collect();
    for &id in &protos {
        assert!(
            apiary_runtime::helper_implemented(id),
            "helper {id} has no implementation"
        );
    }
    for id in 0..300 {
        if apiary_runtime::helper_implemented(id) {
            assert!(protos.contains(&id), "helper {id} has no prototype");
        }
    }
}

/// Context accesses are checked at load with the program type's rules,
/// and the refusal names the program, the instruction and the field.
#[test]
fn context_rules_refuse_at_load_with_the_field_named() {
    let rt = Runtime::new(1);
    let err = rt
        .load_program(
            "writes_len",
            ProgType::SCHED_CLS,
            &code("r2 = 1\n *(u32 *)(r1 + 0) = r2\n r0 = 0\n exit"),
            &[],
        )
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, RuntimeError::Context { .. }), "{message}");
    for part in ["writes_len", "insn 1", "len"] {
        assert!(message.contains(part), "{part:?} missing from {message:?}");
    }
}

/// A run may look up far more distinct map values than a small region
/// table would hold (the kernel has no such limit): 10000 here, each
/// written through its pointer.
#[test]
fn one_run_uses_thousands_of_distinct_map_values() {
    let rt = Runtime::new(1);
    let map = rt
        .create_map(MapDef::new(MapType::Array, 4, 8, 10_000).with_name("many"))
        .unwrap();
    // bpf_loop(10000, cb): cb(i) looks up element i and stores i + 1 in it.
    let prog = load(
        &rt,
        "r1 = 10000\n ld_pseudo r2, 4, cb\n r3 = 0\n r4 = 0\n call 181\n exit\n
         cb:\n *(u32 *)(r10 - 4) = r1\n r6 = r1\n ld_pseudo r1, 5, 0\n r2 = r10\n r2 += -4\n call 1\n
         if r0 == 0 goto out\n r6 += 1\n *(u64 *)(r0 + 0) = r6\n out:\n r0 = 0\n exit",
        &[map],
    );
    assert_eq!(run(&rt, prog, &mut []), Ok(10_000));
    let values = rt.map(map).unwrap();
    for index in [0u32, 4095, 4096, 9999] {
        let value = values.sys_lookup(&index.to_ne_bytes(), 0).unwrap();
        assert_eq!(value, u64::from(index + 1).to_ne_bytes());
    }
}
