//! `bpf_get_current_task_btf`, `bpf_task_storage_get` and
//! `bpf_task_storage_delete` over a `task_storage` map, with the kernel's
//! semantics (`kernel/bpf/bpf_task_storage.c`, `kernel/bpf/helpers.c`):
//! the value belongs to the run's task and is seen from the host through
//! a pidfd of that task; NULL tasks and unknown flags answer as the
//! kernel's helpers do. `bpf_sk_storage_get` in a `cgroup_sock` program
//! (`net/core/bpf_sk_storage.c`): the value belongs to the socket the
//! run's context stands for; socket pointers no run hands out stop it.
//! The cgroup helpers take NULL and stop at any cgroup pointer, as no
//! run hands one out.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use apiary_isa::encode_program;
use apiary_kernel::types::ProgType;
use apiary_maps::{BPF_F_NO_PREALLOC, MapDef, MapType};
use apiary_runtime::{MapId, ProgId, Runtime, TaskInfo};
use apiary_vm::Runner;

const EINVAL: u64 = (-22i64) as u64;
const ENOENT: u64 = (-2i64) as u64;

fn setup(text: &str) -> (Arc<Runtime>, MapId, ProgId) {
    setup_storage(MapType::TaskStorage, ProgType::SYSCALL, text)
}

fn setup_storage(
    map_type: MapType,
    prog_type: ProgType,
    text: &str,
) -> (Arc<Runtime>, MapId, ProgId) {
    let rt = Runtime::new(1);
    let def = MapDef::new(map_type, 4, 8, 0).with_flags(BPF_F_NO_PREALLOC);
    let map = rt.create_map(def).expect("local storage map");
    let code = encode_program(&apiary_asm::assemble(text).expect("assembles"));
    let prog = rt
        .load_program("test", prog_type, &code, &[map])
        .expect("loads");
    (rt, map, prog)
}

/// The task the runs happen in: this process's main thread, which a
/// pidfd of the process names.
fn main_thread() -> TaskInfo {
    TaskInfo {
        pid: std::process::id(),
        ..TaskInfo::current()
    }
}

fn run(rt: &Arc<Runtime>, prog: ProgId) -> u64 {
    try_run(rt, prog).expect("runs")
}

fn try_run(rt: &Arc<Runtime>, prog: ProgId) -> Result<u64, apiary_vm::RunError> {
    // Large enough for any context these programs are given (struct bpf_sock: 80 bytes).
    let mut ctx = [0u8; 80];
    rt.run(&mut Runner::new(), prog, &mut ctx, 0, &main_thread())
}

fn pidfd() -> OwnedFd {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id(), 0) };
    assert!(fd >= 0, "pidfd_open failed");
    // SAFETY: the fd was just returned to us and nobody else owns it.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// Counts runs in the current task's value, created on first use.
const COUNT: &str = "call 158\n r2 = r0\n ld_pseudo r1, 5, 0\n r3 = 0\n r4 = 1\n call 156\n \
     if r0 == 0 goto +5\n r1 = *(u64 *)(r0 + 0)\n r1 += 1\n *(u64 *)(r0 + 0) = r1\n r0 = r1\n exit\n \
     r0 = 99\n exit";

#[test]
fn a_value_per_task_created_on_first_get() {
    let (rt, map, prog) = setup(COUNT);
    assert_eq!(run(&rt, prog), 1);
    assert_eq!(run(&rt, prog), 2);
    let fd = pidfd();
    let seen = rt
        .map(map)
        .expect("map")
        .sys_lookup(&fd.as_raw_fd().to_ne_bytes(), 0)
        .expect("the host sees the task's value");
    assert_eq!(seen, 2u64.to_ne_bytes());
}

#[test]
fn get_without_create_finds_nothing_and_null_or_bad_flags_are_null() {
    // Without BPF_LOCAL_STORAGE_GET_F_CREATE.
    let (rt, _, prog) =
        setup("call 158\n r2 = r0\n ld_pseudo r1, 5, 0\n r3 = 0\n r4 = 0\n call 156\n exit");
    assert_eq!(run(&rt, prog), 0);
    // A NULL task.
    let (rt, _, prog) = setup("ld_pseudo r1, 5, 0\n r2 = 0\n r3 = 0\n r4 = 1\n call 156\n exit");
    assert_eq!(run(&rt, prog), 0);
    // A flag besides BPF_LOCAL_STORAGE_GET_F_CREATE.
    let (rt, _, prog) =
        setup("call 158\n r2 = r0\n ld_pseudo r1, 5, 0\n r3 = 0\n r4 = 3\n call 156\n exit");
    assert_eq!(run(&rt, prog), 0);
}

#[test]
fn create_copies_the_initial_value() {
    let (rt, _, prog) = setup(
        "r1 = 40\n *(u64 *)(r10 - 8) = r1\n call 158\n r2 = r0\n ld_pseudo r1, 5, 0\n \
         r3 = r10\n r3 += -8\n r4 = 1\n call 156\n if r0 == 0 goto +2\n r0 = *(u64 *)(r0 + 0)\n exit\n \
         r0 = 99\n exit",
    );
    assert_eq!(run(&rt, prog), 40);
}

#[test]
fn delete_removes_the_value_once() {
    let (rt, map, count) = setup(COUNT);
    assert_eq!(run(&rt, count), 1);
    let delete = "call 158\n r2 = r0\n ld_pseudo r1, 5, 0\n call 157\n exit";
    let code = encode_program(&apiary_asm::assemble(delete).expect("assembles"));
    let prog = rt
        .load_program("delete", ProgType::SYSCALL, &code, &[map])
        .expect("loads");
    assert_eq!(run(&rt, prog), 0);
    assert_eq!(run(&rt, prog), ENOENT);
    // The next count starts again from a fresh value.
    assert_eq!(run(&rt, count), 1);
    let null = "ld_pseudo r1, 5, 0\n r2 = 0\n call 157\n exit";
    let code = encode_program(&apiary_asm::assemble(null).expect("assembles"));
    let prog = rt
        .load_program("null", ProgType::SYSCALL, &code, &[map])
        .expect("loads");
    assert_eq!(run(&rt, prog), EINVAL);
}

/// Counts, in the run's socket's value, the runs that saw it: each run's
/// context is a socket of its own.
const SOCKET_COUNT: &str = "r2 = r1\n ld_pseudo r1, 5, 0\n r3 = 0\n r4 = 1\n call 107\n \
     if r0 == 0 goto +5\n r1 = *(u64 *)(r0 + 0)\n r1 += 1\n *(u64 *)(r0 + 0) = r1\n r0 = r1\n exit\n \
     r0 = 99\n exit";

#[test]
fn cgroup_sock_storage_belongs_to_the_runs_socket() {
    let (rt, map, prog) = setup_storage(MapType::SkStorage, ProgType::CGROUP_SOCK, SOCKET_COUNT);
    assert_eq!(run(&rt, prog), 1);
    assert_eq!(run(&rt, prog), 1);
    assert_eq!(rt.map(map).expect("map").len(), 2);
}

#[test]
fn socket_helpers_refuse_sockets_no_run_hands_out() {
    for (id, text) in [
        (
            107,
            "r2 = r1\n ld_pseudo r1, 5, 0\n r3 = 0\n r4 = 0\n call 107\n exit",
        ),
        (108, "r2 = r1\n ld_pseudo r1, 5, 0\n call 108\n exit"),
        (95, "call 95\n exit"),
        (96, "call 96\n exit"),
        (98, "call 98\n exit"),
    ] {
        let (rt, _, prog) = setup_storage(MapType::SkStorage, ProgType::SCHED_CLS, text);
        let error = try_run(&rt, prog).expect_err("a made-up socket stops the run");
        assert!(
            error.to_string().contains("no socket this run handed out"),
            "helper {id}: {error}"
        );
    }
}

#[test]
fn cgroup_storage_takes_only_null_in_a_run() {
    let null_get = "ld_pseudo r1, 5, 0\n r2 = 0\n r3 = 0\n r4 = 1\n call 210\n exit";
    let (rt, _, prog) = setup_storage(MapType::CgrpStorage, ProgType::SYSCALL, null_get);
    assert_eq!(run(&rt, prog), 0);
    let null_delete = "ld_pseudo r1, 5, 0\n r2 = 0\n call 211\n exit";
    let (rt, _, prog) = setup_storage(MapType::CgrpStorage, ProgType::SYSCALL, null_delete);
    assert_eq!(run(&rt, prog), EINVAL);
    let made_up = "ld_pseudo r1, 5, 0\n r2 = r10\n r3 = 0\n r4 = 1\n call 210\n exit";
    let (rt, _, prog) = setup_storage(MapType::CgrpStorage, ProgType::SYSCALL, made_up);
    let error = try_run(&rt, prog).expect_err("a made-up cgroup stops the run");
    assert!(
        error.to_string().contains("no cgroup this run handed out"),
        "{error}"
    );
}
