//! Test-runs of the corpus programs whose context is neither a packet nor
//! plain memory (BTF-typed tracing, lsm and struct_ops programs, the cgroup
//! socket, sockopt and device hooks, sk_lookup, the flow dissector,
//! netfilter), checked against what their source headers document and, for
//! the types the kernel test-runs (flow dissector, sk_lookup, netfilter),
//! against the kernel's `BPF_PROG_TEST_RUN` on this machine.

mod common;

use common::{Outcome, kernel_ok};
use std::sync::Arc;

use apiary_isa::{RawInsn, encode_program, slots_to_bytes};
use apiary_kernel::types::{AttachType, ProgType};
use apiary_kernel::{ProgFd, ProgLoadAttrs, TestRunAttrs};
use apiary_runtime::{
    LoadedObject, ProgId, Runtime, TEST_OBJECTS_BASE, TaskInfo, TestRunError, TestRunInput,
    TestRunOutput,
};
use apiary_vm::Runner;

fn vmlinux_bytes() -> Option<Vec<u8>> {
    match apiary_testskip::vmlinux_btf() {
        Ok(bytes) => Some(bytes),
        Err(reason) => apiary_testskip::skip("reading the kernel's layouts", reason),
    }
}

/// Byte offsets in the running kernel's structs, from its BTF: for each
/// `(struct, member)`, the member's offset, or the struct's size when the
/// member is `""`.
fn kernel_layout(queries: &[(&str, &str)]) -> Option<Vec<usize>> {
    let bytes = vmlinux_bytes()?;
    let btf = apiary_loader::btf_from_file_bytes(&bytes).expect("vmlinux BTF parses");
    let answers = queries
        .iter()
        .map(|(strukt, member)| {
            let id = btf
                .find_all_by_name(strukt)
                .into_iter()
                .find(|id| btf.members(*id).is_ok())
                .unwrap_or_else(|| panic!("vmlinux has struct {strukt}"));
            if member.is_empty() {
                return btf.size_of(id).unwrap() as usize;
            }
            let found = btf
                .flat_members(id)
                .unwrap()
                .into_iter()
                .find(|m| m.name == *member)
                .unwrap_or_else(|| panic!("struct {strukt} has {member}"));
            (found.bit_offset / 8) as usize
        })
        .collect();
    Some(answers)
}

/// A corpus object, CO-RE relocated against vmlinux, loaded into a fresh
/// runtime.
fn load(name: &'static str) -> Option<(Arc<Runtime>, apiary_loader::Object, LoadedObject)> {
    let object = match apiary_corpus::object(name) {
        Ok(obj) => obj,
        Err(e) => return apiary_testskip::missing(&format!("corpus object {name}"), e),
    };
    let mut object = apiary_loader::Object::open(object.path()).expect("corpus object loads");
    let needs_core = object.needs_core();
    if needs_core {
        let bytes = vmlinux_bytes()?;
        let target = apiary_loader::btf_from_file_bytes(&bytes).expect("vmlinux BTF parses");
        object.relocate_core(&target).expect("CO-RE relocates");
    }
    let rt = Runtime::new(1);
    let loaded = rt
        .load_object(&object)
        .expect("the object's maps are created");
    Some((rt, object, loaded))
}

fn program(loaded: &LoadedObject, name: &str) -> ProgId {
    match loaded.programs.iter().find(|(n, _)| n == name) {
        Some((_, Ok(id))) => *id,
        Some((_, Err(e))) => panic!("{name} does not load: {e}"),
        None => panic!("no program {name}"),
    }
}

fn run(rt: &Arc<Runtime>, prog: ProgId, input: &TestRunInput<'_>) -> TestRunOutput {
    rt.test_run(&mut Runner::new(), prog, input)
        .unwrap_or_else(|e| panic!("test-run failed: {e}"))
}

fn args(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_ne_bytes()).collect()
}

/// The value of the single-entry global-data map `map`.
fn global(
    rt: &Runtime,
    object: &apiary_loader::Object,
    loaded: &LoadedObject,
    map: &str,
) -> Vec<u8> {
    let index = object
        .maps
        .iter()
        .position(|m| m.name == map)
        .unwrap_or_else(|| panic!("no map {map}"));
    rt.map(loaded.maps[index])
        .unwrap()
        .sys_lookup(&0u32.to_ne_bytes(), 0)
        .unwrap()
}

fn map_named(
    object: &apiary_loader::Object,
    loaded: &LoadedObject,
    rt: &Runtime,
    name: &str,
) -> Arc<apiary_maps::Map> {
    let index = object
        .maps
        .iter()
        .position(|m| m.name == name)
        .unwrap_or_else(|| panic!("no map {name}"));
    rt.map(loaded.maps[index]).unwrap()
}

fn u32_at(bytes: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(bytes[off..off + 4].try_into().unwrap())
}

fn u64_at(bytes: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(bytes[off..off + 8].try_into().unwrap())
}

fn put_u32(bytes: &mut [u8], off: usize, value: u32) {
    bytes[off..off + 4].copy_from_slice(&value.to_ne_bytes());
}

fn put_u64(bytes: &mut [u8], off: usize, value: u64) {
    bytes[off..off + 8].copy_from_slice(&value.to_ne_bytes());
}

// ---------------------------------------------------------------------------
// BTF-typed programs.

/// fentry_fexit.c: entry_arg = 1, exit_arg = 1, exit_ret = 2, calls = 1 per
/// run for bpf_fentry_test1(1) (which returns 2); both programs return 0.
#[test]
fn fentry_and_fexit_see_their_arguments_and_the_return_value() {
    let Some((rt, object, loaded)) = load("fentry_fexit") else {
        return;
    };
    let entry = program(&loaded, "test1_entry");
    let out = run(
        &rt,
        entry,
        &TestRunInput {
            ctx_in: Some(&args(&[1])),
            repeat: 3,
            ..TestRunInput::default()
        },
    );
    assert_eq!(out.retval, 0);
    let exit = program(&loaded, "test1_exit");
    let out = run(
        &rt,
        exit,
        &TestRunInput {
            ctx_in: Some(&args(&[1, 2])),
            ..TestRunInput::default()
        },
    );
    assert_eq!(out.retval, 0);
    let bss = global(&rt, &object, &loaded, "fentry_f.bss");
    assert_eq!(u32_at(&bss, 0), 1, "entry_arg");
    assert_eq!(u32_at(&bss, 4), 1, "exit_arg");
    assert_eq!(u32_at(&bss, 8), 2, "exit_ret");
    assert_eq!(u64_at(&bss, 16), 3, "calls: one per run");
    // The fexit program reads its second slot: a context without it is
    // refused, as the kernel refuses ctx_size_in < max_ctx_offset.
    let short = rt.test_run(
        &mut Runner::new(),
        exit,
        &TestRunInput {
            ctx_in: Some(&args(&[1])),
            ..TestRunInput::default()
        },
    );
    assert!(
        matches!(short, Err(TestRunError::Invalid { .. })),
        "{short:?}"
    );
}

/// fmod_ret.c: with a == 1 the program returns override_ret (121), seen_a =
/// 1 and seen_b holds *b at entry; a previous verdict passes through.
#[test]
fn fmod_ret_reads_through_its_pointer_argument() {
    let Some((rt, object, loaded)) = load("fmod_ret") else {
        return;
    };
    let prog = program(&loaded, "override_modify_return");
    // int *b points at the first 4 bytes of data_in, holding 2.
    let objects = args(&[2]);
    let out = run(
        &rt,
        prog,
        &TestRunInput {
            ctx_in: Some(&args(&[1, TEST_OBJECTS_BASE, 0])),
            data_in: Some(&objects),
            ..TestRunInput::default()
        },
    );
    assert_eq!(out.retval, 121);
    assert_eq!(
        out.data_out.as_deref(),
        Some(&objects[..]),
        "objects unchanged"
    );
    let bss = global(&rt, &object, &loaded, "fmod_ret.bss");
    assert_eq!((u32_at(&bss, 0), u32_at(&bss, 4)), (1, 2), "seen_a, seen_b");
    let out = run(
        &rt,
        prog,
        &TestRunInput {
            ctx_in: Some(&args(&[3, TEST_OBJECTS_BASE + 8, 7])),
            data_in: Some(&args(&[0, 9])),
            ..TestRunInput::default()
        },
    );
    assert_eq!(out.retval, 7, "an earlier verdict is kept");
    let bss = global(&rt, &object, &loaded, "fmod_ret.bss");
    assert_eq!((u32_at(&bss, 0), u32_at(&bss, 4)), (3, 9), "seen_a, seen_b");
}

/// lsm.c: file_open on an inode listed in denied_inodes returns -EPERM and
/// counts a denial; other opens return 0; an earlier verdict passes
/// through. `file->f_inode->i_ino` is read with CO-RE (vmlinux offsets)
/// through pointers inside data_in.
#[test]
fn lsm_file_open_denies_listed_inodes() {
    let Some(offsets) = kernel_layout(&[("file", "f_inode"), ("inode", "i_ino")]) else {
        return;
    };
    let Some((rt, object, loaded)) = load("lsm") else {
        return;
    };
    let prog = program(&loaded, "deny_listed_inodes");
    let (f_inode, i_ino) = (offsets[0], offsets[1]);
    let inode_at = 1024;
    let mut objects = vec![0u8; 2048];
    put_u64(&mut objects, f_inode, TEST_OBJECTS_BASE + inode_at as u64);
    put_u64(&mut objects, inode_at + i_ino, 4242);
    let denied = map_named(&object, &loaded, &rt, "denied_inodes");
    denied.sys_update(&4242u64.to_ne_bytes(), &[1], 0).unwrap();
    let open = |ret: u64, objects: &[u8]| {
        run(
            &rt,
            prog,
            &TestRunInput {
                ctx_in: Some(&args(&[TEST_OBJECTS_BASE, ret])),
                data_in: Some(objects),
                ..TestRunInput::default()
            },
        )
    };
    let out = open(0, &objects);
    assert_eq!(out.retval as i32, -1, "-EPERM");
    assert_eq!(
        out.data_out.as_deref(),
        Some(&objects[..]),
        "pointers inside data_in come back as given"
    );
    put_u64(&mut objects, inode_at + i_ino, 7);
    assert_eq!(open(0, &objects).retval, 0, "not listed");
    assert_eq!(
        open(-13i64 as u64, &objects).retval as i32,
        -13,
        "earlier verdict"
    );
    let bss = global(&rt, &object, &loaded, "lsm.bss");
    assert_eq!(u64_at(&bss, 0), 1, "denials");
    // lsm/bpf with the default deny_prog_type (-1) vetoes nothing.
    let veto = program(&loaded, "veto_prog_type");
    let out = run(
        &rt,
        veto,
        &TestRunInput {
            ctx_in: Some(&args(&[5, TEST_OBJECTS_BASE, 128, 0])),
            data_in: Some(&[0u8; 128]),
            ..TestRunInput::default()
        },
    );
    assert_eq!(out.retval, 0);
}

/// tp_btf.c: switches{next pid} counts switches, last_prev_comm holds the
/// previous task's comm; both tasks are vmlinux-laid-out task_structs in
/// data_in, read directly (next->pid) and with bpf_probe_read_kernel_str.
#[test]
fn tp_btf_sched_switch_counts_the_next_pid() {
    let Some(offsets) = kernel_layout(&[
        ("task_struct", "pid"),
        ("task_struct", "comm"),
        ("task_struct", ""),
    ]) else {
        return;
    };
    let Some((rt, object, loaded)) = load("tp_btf") else {
        return;
    };
    let prog = program(&loaded, "on_switch");
    let (pid, comm, size) = (offsets[0], offsets[1], offsets[2]);
    let mut objects = vec![0u8; 2 * size];
    put_u32(&mut objects, pid, 100);
    objects[comm..comm + 6].copy_from_slice(b"worker");
    put_u32(&mut objects, size + pid, 200);
    let ctx = args(&[0, TEST_OBJECTS_BASE, TEST_OBJECTS_BASE + size as u64]);
    for _ in 0..2 {
        let out = run(
            &rt,
            prog,
            &TestRunInput {
                ctx_in: Some(&ctx),
                data_in: Some(&objects),
                ..TestRunInput::default()
            },
        );
        assert_eq!(out.retval, 0);
    }
    let switches = map_named(&object, &loaded, &rt, "switches");
    assert_eq!(
        switches.sys_lookup(&200i32.to_ne_bytes(), 0).unwrap(),
        2u64.to_ne_bytes()
    );
    assert!(
        switches.sys_lookup(&100i32.to_ne_bytes(), 0).is_err(),
        "prev is not counted"
    );
    let bss = global(&rt, &object, &loaded, "tp_btf.bss");
    assert_eq!(&bss[..7], b"worker\0");
}

/// struct_ops_tcp_ca.c: ssthresh = max(snd_cwnd / 2, 2); cong_avoid grows
/// snd_cwnd by acked below ssthresh, else by one per snd_cwnd acks;
/// undo_cwnd = max(snd_cwnd, prior_cwnd). The tcp_sock is data_in, laid out
/// as vmlinux's; cong_avoid's writes come back in data_out.
#[test]
fn struct_ops_congestion_control_follows_reno() {
    let Some(offsets) = kernel_layout(&[
        ("tcp_sock", "snd_cwnd"),
        ("tcp_sock", "snd_cwnd_cnt"),
        ("tcp_sock", "snd_ssthresh"),
        ("tcp_sock", "prior_cwnd"),
    ]) else {
        return;
    };
    let Some((rt, _, loaded)) = load("struct_ops_tcp_ca") else {
        return;
    };
    let [cwnd, cwnd_cnt, ssthresh, prior] = offsets[..] else {
        panic!("four offsets");
    };
    let end = [cwnd, cwnd_cnt, ssthresh, prior].into_iter().max().unwrap() + 4;
    let tcp_sock = |snd_cwnd: u32, cnt: u32, thresh: u32, prior_cwnd: u32| {
        let mut sock = vec![0u8; end];
        put_u32(&mut sock, cwnd, snd_cwnd);
        put_u32(&mut sock, cwnd_cnt, cnt);
        put_u32(&mut sock, ssthresh, thresh);
        put_u32(&mut sock, prior, prior_cwnd);
        sock
    };
    let call = |name: &str, extra: &[u64], sock: &[u8]| {
        let mut words = vec![TEST_OBJECTS_BASE];
        words.extend_from_slice(extra);
        run(
            &rt,
            program(&loaded, name),
            &TestRunInput {
                ctx_in: Some(&args(&words)),
                data_in: Some(sock),
                ..TestRunInput::default()
            },
        )
    };
    assert_eq!(
        call("apiary_ssthresh", &[], &tcp_sock(10, 0, 0, 0)).retval,
        5
    );
    assert_eq!(
        call("apiary_ssthresh", &[], &tcp_sock(3, 0, 0, 0)).retval,
        2
    );
    assert_eq!(
        call("apiary_undo_cwnd", &[], &tcp_sock(4, 0, 0, 9)).retval,
        9
    );
    assert_eq!(
        call("apiary_undo_cwnd", &[], &tcp_sock(12, 0, 0, 9)).retval,
        12
    );
    // Slow start: 4 < 8, grows by acked (3).
    let out = call("apiary_cong_avoid", &[0, 3], &tcp_sock(4, 0, 8, 0));
    assert_eq!(out.data_out.unwrap(), tcp_sock(7, 0, 8, 0));
    // Congestion avoidance: the 10th ack of a window of 10 grows it by one.
    let out = call("apiary_cong_avoid", &[0, 1], &tcp_sock(10, 9, 8, 0));
    assert_eq!(out.data_out.unwrap(), tcp_sock(11, 0, 8, 0));
    let out = call("apiary_cong_avoid", &[0, 1], &tcp_sock(10, 3, 8, 0));
    assert_eq!(out.data_out.unwrap(), tcp_sock(10, 4, 8, 0));
    assert_eq!(call("apiary_init", &[], &tcp_sock(1, 0, 0, 0)).retval, 0);
}

#[test]
fn btf_argument_contexts_are_whole_slots() {
    let Some((rt, _, loaded)) = load("fentry_fexit") else {
        return;
    };
    let entry = program(&loaded, "test1_entry");
    for bad in [vec![0u8; 7], vec![0u8; 104]] {
        let refused = rt.test_run(
            &mut Runner::new(),
            entry,
            &TestRunInput {
                ctx_in: Some(&bad),
                ..TestRunInput::default()
            },
        );
        assert!(
            matches!(refused, Err(TestRunError::Invalid { .. })),
            "{refused:?}"
        );
    }
    let refused = rt.test_run(
        &mut Runner::new(),
        entry,
        &TestRunInput {
            ctx_in: Some(&args(&[1])),
            flags: 1,
            ..TestRunInput::default()
        },
    );
    assert!(
        matches!(refused, Err(TestRunError::Invalid { .. })),
        "{refused:?}"
    );
}

// ---------------------------------------------------------------------------
// cgroup hooks (no kernel test-run).

/// cgroup_sock_addr.c: raw sockets refused (0) while deny_raw is set,
/// others allowed (1).
#[test]
fn sock_create_refuses_raw_sockets() {
    let Some((rt, _, loaded)) = load("cgroup_sock_addr") else {
        return;
    };
    let prog = program(&loaded, "refuse_raw_sockets");
    let sock = |ty: u32| {
        let mut ctx = vec![0u8; 80];
        put_u32(&mut ctx, 4, 2); // family AF_INET
        put_u32(&mut ctx, 8, ty);
        ctx
    };
    let verdict = |ty| {
        run(
            &rt,
            prog,
            &TestRunInput {
                ctx_in: Some(&sock(ty)),
                ..TestRunInput::default()
            },
        )
        .retval
    };
    assert_eq!(verdict(3), 0, "SOCK_RAW");
    assert_eq!(verdict(1), 1, "SOCK_STREAM");
}

/// connect4 rewrites a destination found in redirects and allows; bind4
/// refuses ports below 1024 to non-root users.
#[test]
fn connect_is_redirected_and_low_binds_need_root() {
    let Some((rt, object, loaded)) = load("cgroup_sock_addr") else {
        return;
    };
    let from = ([10, 0, 0, 1], 80u16);
    let to = ([10, 0, 0, 9], 8080u16);
    let endpoint = |(addr, port): ([u8; 4], u16)| {
        let mut bytes = addr.to_vec();
        bytes.extend_from_slice(&u32::from(port.to_be()).to_ne_bytes());
        bytes
    };
    map_named(&object, &loaded, &rt, "redirects")
        .sys_update(&endpoint(from), &endpoint(to), 0)
        .unwrap();
    let sock_addr = |(addr, port): ([u8; 4], u16)| {
        let mut ctx = vec![0u8; 72];
        put_u32(&mut ctx, 0, 2);
        ctx[4..8].copy_from_slice(&addr);
        put_u32(&mut ctx, 24, u32::from(port.to_be()));
        put_u32(&mut ctx, 28, 2);
        put_u32(&mut ctx, 32, 1);
        put_u32(&mut ctx, 36, 6);
        ctx
    };
    let connect = program(&loaded, "redirect_connect");
    let ctx_in = sock_addr(from);
    let out = run(
        &rt,
        connect,
        &TestRunInput {
            ctx_in: Some(&ctx_in),
            ..TestRunInput::default()
        },
    );
    assert_eq!(out.retval, 1);
    assert_eq!(out.ctx_out.unwrap(), sock_addr(to), "rewritten destination");
    let elsewhere = sock_addr(([10, 0, 0, 2], 80));
    let out = run(
        &rt,
        connect,
        &TestRunInput {
            ctx_in: Some(&elsewhere),
            ..TestRunInput::default()
        },
    );
    assert_eq!((out.retval, out.ctx_out.unwrap()), (1, elsewhere));

    let bind = program(&loaded, "guard_low_ports");
    let verdict = |port: u16, uid: u32| {
        let task = TaskInfo {
            uid,
            ..TaskInfo::default()
        };
        run(
            &rt,
            bind,
            &TestRunInput {
                ctx_in: Some(&sock_addr(([0, 0, 0, 0], port))),
                task: task.into(),
                ..TestRunInput::default()
            },
        )
        .retval
    };
    assert_eq!(verdict(80, 1000), 0);
    assert_eq!(verdict(80, 0), 1);
    assert_eq!(verdict(8080, 1000), 1);
    assert_eq!(verdict(0, 1000), 1);
    // The socket pointer is Apiary's to fill.
    let mut with_sk = sock_addr(from);
    put_u64(&mut with_sk, 64, 0x1000);
    let refused = rt.test_run(
        &mut Runner::new(),
        bind,
        &TestRunInput {
            ctx_in: Some(&with_sk),
            ..TestRunInput::default()
        },
    );
    assert!(
        matches!(refused, Err(TestRunError::Invalid { .. })),
        "{refused:?}"
    );
}

/// cgroup_sockopt_sysctl_dev.c: getsockopt(SOL_IP, IP_TOS) gets tos 0x10
/// (optlen 1) and 1; other options pass through unchanged with 1.
#[test]
fn getsockopt_rewrites_ip_tos() {
    let Some((rt, _, loaded)) = load("cgroup_sockopt_sysctl_dev") else {
        return;
    };
    let prog = program(&loaded, "rewrite_tos");
    let sockopt = |level: u32, optname: u32, optlen: u32| {
        let mut ctx = vec![0u8; 40];
        put_u32(&mut ctx, 24, level);
        put_u32(&mut ctx, 28, optname);
        put_u32(&mut ctx, 32, optlen);
        ctx
    };
    let optval = [0u8, 0, 0, 0];
    let out = run(
        &rt,
        prog,
        &TestRunInput {
            ctx_in: Some(&sockopt(0, 1, 4)),
            data_in: Some(&optval),
            ..TestRunInput::default()
        },
    );
    assert_eq!(out.retval, 1);
    assert_eq!(out.data_out.unwrap(), [0x10]);
    assert_eq!(
        out.ctx_out.unwrap(),
        sockopt(0, 1, 1),
        "optlen 1, pointers 0"
    );
    let out = run(
        &rt,
        prog,
        &TestRunInput {
            ctx_in: Some(&sockopt(6, 1, 4)),
            data_in: Some(&[1, 2, 3, 4]),
            ..TestRunInput::default()
        },
    );
    assert_eq!(out.retval, 1);
    assert_eq!(out.data_out.unwrap(), [1, 2, 3, 4]);
    // An empty buffer: the bounds check fails, nothing is written.
    let out = run(
        &rt,
        prog,
        &TestRunInput {
            ctx_in: Some(&sockopt(0, 1, 0)),
            data_in: Some(&[]),
            ..TestRunInput::default()
        },
    );
    assert_eq!((out.retval, out.data_out.unwrap()), (1, vec![]));
}

/// /dev/null (char 1:3) is allowed, mknod of a block device refused,
/// everything else allowed.
#[test]
fn device_policy_follows_its_header() {
    let Some((rt, _, loaded)) = load("cgroup_sockopt_sysctl_dev") else {
        return;
    };
    let prog = program(&loaded, "device_policy");
    const BLOCK: u32 = 1;
    const CHAR: u32 = 2;
    const MKNOD: u32 = 1;
    const READ: u32 = 2;
    let verdict = |ty: u32, access: u32, major: u32, minor: u32| {
        let mut ctx = vec![0u8; 12];
        put_u32(&mut ctx, 0, access << 16 | ty);
        put_u32(&mut ctx, 4, major);
        put_u32(&mut ctx, 8, minor);
        run(
            &rt,
            prog,
            &TestRunInput {
                ctx_in: Some(&ctx),
                ..TestRunInput::default()
            },
        )
        .retval
    };
    assert_eq!(verdict(CHAR, READ, 1, 3), 1);
    assert_eq!(verdict(BLOCK, MKNOD, 8, 0), 0);
    assert_eq!(verdict(BLOCK, READ, 8, 0), 1);
    assert_eq!(verdict(CHAR, MKNOD, 4, 1), 1);
}

/// Writing any sysctl under net/ipv4/ip_forward is refused (0), reads and
/// other writes allowed (1); the sysctl comes in data_in as name, NUL,
/// current value, NUL, new value.
#[test]
fn sysctl_writes_to_ip_forward_are_refused() {
    let Some((rt, _, loaded)) = load("cgroup_sockopt_sysctl_dev") else {
        return;
    };
    let prog = program(&loaded, "protect_ip_forward");
    let access = |write: u32, sysctl: &[u8]| {
        let mut ctx = vec![0u8; 8];
        put_u32(&mut ctx, 0, write);
        let out = run(
            &rt,
            prog,
            &TestRunInput {
                ctx_in: Some(&ctx),
                data_in: Some(sysctl),
                ..TestRunInput::default()
            },
        );
        assert_eq!(out.ctx_out.as_deref(), Some(&ctx[..]), "file_pos untouched");
        (out.retval, out.data_out.unwrap())
    };
    let forward = b"net/ipv4/ip_forward\x000\n\x001\n";
    assert_eq!(access(1, forward), (0, b"1\n".to_vec()));
    assert_eq!(access(0, b"net/ipv4/ip_forward\x000\n"), (1, vec![]));
    assert_eq!(access(1, b"kernel/hostname\x00a\x00b"), (1, b"b".to_vec()));
    let refused = rt.test_run(
        &mut Runner::new(),
        prog,
        &TestRunInput {
            ctx_in: Some(&[1, 0, 0, 0, 0, 0, 0, 0]),
            ..TestRunInput::default()
        },
    );
    assert!(
        matches!(refused, Err(TestRunError::Invalid { .. })),
        "no sysctl given: {refused:?}"
    );
}

// ---------------------------------------------------------------------------
// Types the kernel test-runs: compared with it.

struct Case<'a> {
    prog_type: ProgType,
    attach_type: AttachType,
    insns: &'a [RawInsn],
}

fn kernel_side(case: &Case<'_>, data: Option<&[u8]>, ctx: Option<&[u8]>) -> Outcome {
    let bytes = slots_to_bytes(case.insns);
    let loaded = ProgFd::load(&ProgLoadAttrs {
        prog_type: case.prog_type,
        expected_attach_type: Some(case.attach_type),
        insns: &bytes,
        license: "GPL",
        name: "t",
        ..ProgLoadAttrs::default()
    })
    .unwrap_or_else(|e| panic!("the kernel refused the program: {e}"));
    let attrs = TestRunAttrs {
        data_in: data.unwrap_or_default(),
        data_out_capacity: if data.is_some() { 4096 } else { 0 },
        ctx_in: ctx.unwrap_or_default(),
        // bpf_prog_test_run_nf writes no context back (nor its size).
        ctx_out_capacity: match (ctx, case.prog_type) {
            (_, ProgType::NETFILTER) | (None, _) => 0,
            (Some(c), _) => c.len().max(256),
        },
        ..TestRunAttrs::default()
    };
    match loaded.prog.test_run(&attrs) {
        Ok(out) => Outcome::Ran {
            retval: out.retval,
            data_out: out.data_out,
            ctx_out: out.ctx_out,
        },
        Err(e) if e.errno().is_some() => Outcome::Refused,
        Err(e) => panic!("kernel test-run failed: {e}"),
    }
}

fn apiary_side(case: &Case<'_>, data: Option<&[u8]>, ctx: Option<&[u8]>) -> Outcome {
    let rt = Runtime::new(1);
    let prog = rt
        .load_program_for("t", case.prog_type, case.attach_type, case.insns, &[], &[])
        .unwrap_or_else(|e| panic!("apiary refused the program: {e}"));
    let input = TestRunInput {
        data_in: data,
        ctx_in: ctx,
        data_size_out: data.map(|_| 0),
        ..TestRunInput::default()
    };
    match rt.test_run(&mut Runner::new(), prog, &input) {
        Ok(out) => Outcome::Ran {
            retval: out.retval,
            data_out: out.data_out.unwrap_or_default(),
            ctx_out: out.ctx_out.unwrap_or_default(),
        },
        Err(TestRunError::Invalid { .. }) => Outcome::Refused,
        Err(e) => panic!("apiary test-run failed: {e}"),
    }
}

fn same(case: &Case<'_>, data: Option<&[u8]>, ctx: Option<&[u8]>) -> Outcome {
    let kernel = kernel_side(case, data, ctx);
    let apiary = apiary_side(case, data, ctx);
    assert_eq!(
        apiary, kernel,
        "apiary (left) and the kernel (right) differ for {} with data {data:?} ctx {ctx:?}",
        case.prog_type
    );
    apiary
}

fn frame(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8; 12];
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An IPv4 header (ihl 5) for `proto` from 10.0.0.1 to 10.0.0.2, with the
/// given fragment field, followed by `l4`.
fn ipv4(proto: u8, frag_off: u16, l4: &[u8]) -> Vec<u8> {
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 1]);
    ip.extend_from_slice(&frag_off.to_be_bytes());
    ip.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    ip.extend_from_slice(l4);
    ip
}

fn ports(sport: u16, dport: u16) -> Vec<u8> {
    let mut l4 = sport.to_be_bytes().to_vec();
    l4.extend_from_slice(&dport.to_be_bytes());
    l4.extend_from_slice(&[0; 16]);
    l4
}

/// flow_dissector.c against the kernel. Its header documents a dissection
/// with an sk_buff (BPF_OK and the keys of IPv4/TCP 10.0.0.1:1234 ->
/// 10.0.0.2:80); the kernel's test-run has no sk_buff, so the program's
/// first bpf_skb_load_bytes fails and it returns BPF_DROP (2) with the keys
/// as test-run prepared them (nhoff = thoff = 14, n_proto the EtherType).
/// Apiary must do the same on every input, refusals included; data_out is
/// the keys on both sides.
#[test]
fn flow_dissector_matches_the_kernel() {
    let Some((_, object, _)) = load("flow_dissector") else {
        return;
    };
    let spec = object
        .programs
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .find(|p| p.name == "dissect")
        .expect("dissect");
    let case = Case {
        prog_type: ProgType::FLOW_DISSECTOR,
        attach_type: AttachType::FLOW_DISSECTOR,
        insns: &spec.insns,
    };
    let tcp = frame(0x0800, &ipv4(6, 0, &ports(1234, 80)));
    let mut prepared = vec![0u8; 56];
    prepared[0] = 14;
    prepared[2] = 14;
    prepared[10..12].copy_from_slice(&0x0800u16.to_be_bytes());
    assert_eq!(
        apiary_side(&case, Some(&tcp), None),
        Outcome::Ran {
            retval: 2,
            data_out: prepared,
            ctx_out: Vec::new(),
        }
    );
    if !kernel_ok("flow dissector comparison") {
        return;
    }
    let udp6 = {
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 24, 17, 64];
        ip6.extend_from_slice(&[0xfe; 32]);
        ip6.extend_from_slice(&ports(53, 5353));
        frame(0x86dd, &ip6)
    };
    let flags_ctx = {
        let mut ctx = vec![0u8; 56];
        put_u32(&mut ctx, 48, 1);
        ctx
    };
    let mut bad_ctx = vec![0u8; 56];
    bad_ctx[0] = 1;
    let inputs: Vec<(Vec<u8>, Option<Vec<u8>>)> = vec![
        (tcp.clone(), None),
        (tcp.clone(), Some(flags_ctx)),
        (tcp.clone(), Some(bad_ctx)),
        (frame(0x0800, &ipv4(17, 0x2000, &ports(1, 2))), None),
        (frame(0x0800, &ipv4(17, 0x0010, &ports(1, 2))), None),
        (frame(0x0800, &[0x45, 0, 0]), None),
        (frame(0x1234, &[0; 40]), None),
        (udp6, None),
        (vec![0u8; 13], None),
        (vec![0u8; 14], None),
        (frame(0x0800, &vec![0x45; 4096 - 14]), None),
        (frame(0x0800, &vec![0x45; 4097 - 14]), None),
    ];
    for (data, ctx) in &inputs {
        same(&case, Some(data), ctx.as_deref());
    }
}

/// sk_lookup: the context as the kernel builds it from ctx_in (one family's
/// addresses, the ports, the protocol), SK_PASS unless SK_DROP, and its
/// refusals, compared field by field with the kernel.
#[test]
fn sk_lookup_context_matches_the_kernel() {
    if !kernel_ok("sk_lookup comparison") {
        return;
    }
    let mut ctx = vec![0u8; 72];
    put_u32(&mut ctx, 8, 2);
    put_u32(&mut ctx, 12, 6);
    ctx[16..20].copy_from_slice(&[192, 168, 1, 2]);
    ctx[20..36].copy_from_slice(&[7; 16]);
    ctx[36..38].copy_from_slice(&4321u16.to_be_bytes());
    ctx[40..44].copy_from_slice(&[10, 0, 0, 1]);
    ctx[44..60].copy_from_slice(&[9; 16]);
    put_u32(&mut ctx, 60, 80);
    let mut v6 = ctx.clone();
    put_u32(&mut v6, 8, 10);
    let mut bad_family = ctx.clone();
    put_u32(&mut bad_family, 8, 1);
    let mut big_port = ctx.clone();
    put_u32(&mut big_port, 60, 70000);
    let mut ifindex = ctx.clone();
    put_u32(&mut ifindex, 64, 1);
    let mut cookie = ctx.clone();
    put_u64(&mut cookie, 0, 5);
    // Each field (and the 4-byte remote_port, the padding after it, the
    // sk pointer) compared with an expected value: SK_PASS when equal.
    let fields: &[(i16, &str, u32)] = &[
        (8, "u32", 2),
        (12, "u32", 6),
        (16, "u32", u32::from_ne_bytes([192, 168, 1, 2])),
        (20, "u32", u32::from_ne_bytes([7; 4])),
        (
            36,
            "u16",
            u32::from(u16::from_ne_bytes(4321u16.to_be_bytes())),
        ),
        (
            36,
            "u32",
            u32::from(u16::from_ne_bytes(4321u16.to_be_bytes())),
        ),
        (38, "u16", 0),
        (40, "u32", u32::from_ne_bytes([10, 0, 0, 1])),
        (56, "u32", u32::from_ne_bytes([9; 4])),
        (60, "u32", 80),
        (64, "u32", 0),
        (0, "u64", 0),
    ];
    for (off, size, expected) in fields {
        let text = format!(
            "r2 = *({size} *)(r1 + {off})
             r0 = 0
             if r2 != {expected} goto +1
             r0 = 1
             exit"
        );
        let insns = encode_program(&apiary_asm::assemble(&text).unwrap());
        let case = Case {
            prog_type: ProgType::SK_LOOKUP,
            attach_type: AttachType::SK_LOOKUP,
            insns: &insns,
        };
        for input in [&ctx, &v6] {
            same(&case, None, Some(input));
        }
        if *off == 8 {
            for refused in [&bad_family, &big_port, &ifindex, &cookie] {
                assert_eq!(same(&case, None, Some(refused)), Outcome::Refused);
            }
            assert_eq!(same(&case, Some(&[0u8; 14]), Some(&ctx)), Outcome::Refused);
            assert_eq!(same(&case, None, None), Outcome::Refused);
        }
    }
}

/// The corpus sk_lookup program: a port not listed passes (SK_PASS) without
/// an assignment; a listed one with no socket in `target` drops.
#[test]
fn steer_ports_follows_its_header() {
    let Some((rt, object, loaded)) = load("sk_lookup") else {
        return;
    };
    let prog = program(&loaded, "steer_ports");
    map_named(&object, &loaded, &rt, "ports")
        .sys_update(&443u16.to_ne_bytes(), &[1], 0)
        .unwrap();
    let lookup = |port: u32| {
        let mut ctx = vec![0u8; 72];
        put_u32(&mut ctx, 8, 2);
        put_u32(&mut ctx, 12, 6);
        put_u32(&mut ctx, 60, port);
        run(
            &rt,
            prog,
            &TestRunInput {
                ctx_in: Some(&ctx),
                ..TestRunInput::default()
            },
        )
    };
    assert_eq!(lookup(80).retval, 1);
    let listed = lookup(443);
    assert_eq!(listed.retval, 0);
    assert_eq!(u64_at(&listed.ctx_out.unwrap(), 0), 0, "no socket selected");
}

/// netfilter against the kernel: `skb->len`, `skb->protocol`,
/// `state->hook` and `state->pf` as the kernel's test-run sets them, read
/// directly through the context's pointers (vmlinux offsets), and the
/// kernel's refusals.
#[test]
fn netfilter_context_matches_the_kernel() {
    let Some(offsets) = kernel_layout(&[
        ("sk_buff", "len"),
        ("sk_buff", "protocol"),
        ("nf_hook_state", "hook"),
        ("nf_hook_state", "pf"),
    ]) else {
        return;
    };
    if !kernel_ok("netfilter comparison") {
        return;
    }
    let [len, protocol, hook, pf] = offsets[..] else {
        panic!("four offsets");
    };
    // r0 = 1 when every read equals the expectation, else 0.
    let program = |want_len: usize, want_proto: u16, want_hook: u8, want_pf: u8| {
        let proto = u16::from_ne_bytes(want_proto.to_be_bytes());
        let text = format!(
            "r6 = r1
             r0 = 0
             r2 = *(u64 *)(r6 + 8)
             r3 = *(u32 *)(r2 + {len})
             if r3 != {want_len} goto +9
             r3 = *(u16 *)(r2 + {protocol})
             if r3 != {proto} goto +7
             r2 = *(u64 *)(r6 + 0)
             r3 = *(u8 *)(r2 + {hook})
             if r3 != {want_hook} goto +4
             r3 = *(u8 *)(r2 + {pf})
             if r3 != {want_pf} goto +2
             r0 = 1
             exit
             r0 = 0
             exit"
        );
        encode_program(&apiary_asm::assemble(&text).unwrap())
    };
    let ip_packet = ipv4(6, 0, &ports(1, 2));
    let eth_packet = frame(0x0800, &ip_packet);
    let state = |hook: u8, pf: u8| {
        let mut ctx = vec![0u8; 48];
        ctx[0] = hook;
        ctx[1] = pf;
        ctx
    };
    let checks: Vec<NfCheck> = vec![
        // Default hook: NF_INET_LOCAL_OUT, IPv4; data_in is the IP packet.
        (
            program(ip_packet.len(), 0x0800, 3, 2),
            ip_packet.clone(),
            None,
            ran(1),
        ),
        (
            program(ip_packet.len(), 0x86dd, 3, 10),
            ip_packet.clone(),
            Some(state(3, 10)),
            ran(1),
        ),
        // Other hooks: an Ethernet frame, pulled by eth_type_trans.
        (
            program(ip_packet.len(), 0x0800, 0, 2),
            eth_packet.clone(),
            Some(state(0, 2)),
            ran(1),
        ),
        (
            program(eth_packet.len(), 0x0800, 0, 2),
            eth_packet.clone(),
            Some(state(0, 2)),
            ran(0),
        ),
        // Refusals: pf, an unknown EtherType, a mismatched family, short data.
        (
            program(0, 0, 0, 0),
            eth_packet.clone(),
            Some(state(0, 7)),
            Outcome::Refused,
        ),
        (
            program(0, 0, 0, 0),
            frame(0x1234, &[0; 30]),
            Some(state(1, 2)),
            Outcome::Refused,
        ),
        (
            program(0, 0, 0, 0),
            eth_packet.clone(),
            Some(state(1, 10)),
            Outcome::Refused,
        ),
        (program(0, 0, 0, 0), vec![0u8; 19], None, Outcome::Refused),
        (program(3712, 0x0800, 3, 2), vec![0x45; 3712], None, ran(1)),
        (
            program(0, 0, 0, 0),
            vec![0x45; 3713],
            None,
            Outcome::Refused,
        ),
        (
            program(0, 0, 0, 0),
            ip_packet.clone(),
            Some(state(0, 2)),
            Outcome::Refused,
        ),
    ];
    for (insns, data, ctx, expected) in &checks {
        let case = Case {
            prog_type: ProgType::NETFILTER,
            attach_type: AttachType::NETFILTER,
            insns,
        };
        assert_eq!(&same(&case, Some(data), ctx.as_deref()), expected);
    }
    // A state with a kernel pointer set is refused by both.
    let mut with_dev = state(0, 2);
    with_dev[8] = 1;
    let insns = program(0, 0, 0, 0);
    let case = Case {
        prog_type: ProgType::NETFILTER,
        attach_type: AttachType::NETFILTER,
        insns: &insns,
    };
    assert_eq!(
        same(&case, Some(&eth_packet), Some(&with_dev)),
        Outcome::Refused
    );
}

/// A netfilter program, its packet, its hook state and the outcome.
type NfCheck = (Vec<RawInsn>, Vec<u8>, Option<Vec<u8>>, Outcome);

fn ran(retval: u32) -> Outcome {
    Outcome::Ran {
        retval,
        data_out: Vec::new(),
        ctx_out: Vec::new(),
    }
}

/// netfilter.c: packets longer than max_len (65000) are dropped, others
/// accepted; per_hook counts invocations per hook.
#[test]
fn nf_size_guard_follows_its_header() {
    let Some((rt, object, loaded)) = load("netfilter") else {
        return;
    };
    let prog = program(&loaded, "nf_size_guard");
    let packet = ipv4(17, 0, &ports(1, 2));
    let out = run(
        &rt,
        prog,
        &TestRunInput {
            data_in: Some(&packet),
            repeat: 2,
            ..TestRunInput::default()
        },
    );
    assert_eq!(out.retval, 1, "NF_ACCEPT");
    let per_hook = map_named(&object, &loaded, &rt, "per_hook");
    assert_eq!(
        per_hook.sys_lookup(&3u32.to_ne_bytes(), 0).unwrap(),
        2u64.to_ne_bytes()
    );
}

/// iter_task.c through the BTF-typed test-run: the context holds
/// `ctx->meta` and `ctx->task`, data_in the `bpf_iter_meta`, the
/// `task_struct` (vmlinux layouts) and the seq_file buffer
/// ([`apiary_runtime::SeqFile`] layout) `meta->seq` points to. The first
/// record prints the header and a "pid tgid comm" line; a NULL task prints
/// nothing and returns 0.
#[test]
fn task_iterator_prints_into_its_seq_file() {
    let Some(offsets) = kernel_layout(&[
        ("bpf_iter_meta", "seq"),
        ("bpf_iter_meta", "seq_num"),
        ("task_struct", "pid"),
        ("task_struct", "tgid"),
        ("task_struct", "comm"),
        ("task_struct", ""),
    ]) else {
        return;
    };
    let Some((rt, object, loaded)) = load("iter_task") else {
        return;
    };
    let [seq, seq_num, pid, tgid, comm, task_size] = offsets[..] else {
        panic!("six offsets");
    };
    let prog = program(&loaded, "dump_tasks");
    let (seq_at, task_at) = (64usize, 4096usize);
    let capacity = 256u32;
    let mut objects = vec![0u8; task_at + task_size];
    put_u64(&mut objects, seq, TEST_OBJECTS_BASE + seq_at as u64);
    put_u64(&mut objects, seq_num, 0);
    let mut seq_file = apiary_runtime::SeqFile::with_capacity(capacity);
    let image = seq_file.image_mut();
    objects[seq_at..seq_at + image.len()].copy_from_slice(image);
    put_u32(&mut objects, task_at + pid, 4242);
    put_u32(&mut objects, task_at + tgid, 4240);
    objects[task_at + comm..task_at + comm + 6].copy_from_slice(b"apiary");
    let iterate = |task: u64| {
        run(
            &rt,
            prog,
            &TestRunInput {
                ctx_in: Some(&args(&[TEST_OBJECTS_BASE, task])),
                data_in: Some(&objects),
                ..TestRunInput::default()
            },
        )
    };
    let out = iterate(TEST_OBJECTS_BASE + task_at as u64);
    assert_eq!(out.retval, 0);
    let after = out.data_out.unwrap();
    let written = u32_at(&after, seq_at + 4) as usize;
    let text = &after[seq_at + 8..seq_at + 8 + written];
    assert_eq!(
        String::from_utf8_lossy(text),
        "    PID    TGID COMM\n   4242    4240 apiary\n"
    );
    let bss = global(&rt, &object, &loaded, "iter_tas.bss");
    assert_eq!(u64_at(&bss, 0), 1, "tasks_seen");
    let out = iterate(0);
    assert_eq!(out.retval, 0);
    assert_eq!(out.data_out.unwrap(), objects, "nothing printed at the end");
}

// ---------------------------------------------------------------------------
// sockmap programs (no kernel test-run).

/// sockmap_redirect.c: the stream parser returns skb->len; the verdict
/// program's redirect to an empty sock_slots[0] gives SK_DROP; sk_msg
/// returns SK_PASS (its redirect finds no peer); sockops returns 1 and,
/// with no socket behind the run, cannot insert into sock_by_tuple.
#[test]
fn sockmap_programs_follow_their_header() {
    let Some((rt, object, loaded)) = load("sockmap_redirect") else {
        return;
    };
    let stream = vec![0x61u8; 100];
    let parse = program(&loaded, "parse_whole_buffer");
    let out = run(
        &rt,
        parse,
        &TestRunInput {
            data_in: Some(&stream),
            ctx_in: Some(&[0u8; 192]),
            ..TestRunInput::default()
        },
    );
    assert_eq!(out.retval, 100, "skb->len");
    assert_eq!(out.data_out.unwrap(), stream);
    assert_eq!(out.ctx_out.unwrap().len(), 192);
    let verdict = program(&loaded, "redirect_to_slot0");
    let out = run(
        &rt,
        verdict,
        &TestRunInput {
            data_in: Some(&stream),
            ..TestRunInput::default()
        },
    );
    assert_eq!(out.retval, 0, "SK_DROP");

    let msg = program(&loaded, "redirect_to_peer");
    let sk_msg_md = |family: u32| {
        let mut ctx = vec![0u8; 80];
        put_u32(&mut ctx, 16, family);
        ctx[20..24].copy_from_slice(&[10, 0, 0, 2]);
        ctx[24..28].copy_from_slice(&[10, 0, 0, 1]);
        put_u32(&mut ctx, 60, u32::from(4321u16.to_be()));
        put_u32(&mut ctx, 64, 80);
        ctx
    };
    for family in [2, 10] {
        let out = run(
            &rt,
            msg,
            &TestRunInput {
                ctx_in: Some(&sk_msg_md(family)),
                data_in: Some(b"hello"),
                ..TestRunInput::default()
            },
        );
        assert_eq!(out.retval, 1, "SK_PASS");
        assert_eq!(out.data_out.as_deref(), Some(&b"hello"[..]));
        let mut expected = sk_msg_md(family);
        put_u32(&mut expected, 68, 5);
        assert_eq!(out.ctx_out.unwrap(), expected, "size is the message length");
    }

    let sockops = program(&loaded, "track_established");
    for op in [4, 5, 1] {
        let mut ctx = vec![0u8; 224];
        put_u32(&mut ctx, 0, op);
        put_u32(&mut ctx, 20, 2);
        let out = run(
            &rt,
            sockops,
            &TestRunInput {
                ctx_in: Some(&ctx),
                ..TestRunInput::default()
            },
        );
        assert_eq!(out.retval, 1);
    }
    let tuples = map_named(&object, &loaded, &rt, "sock_by_tuple");
    assert!(
        tuples.sys_get_next_key(None).is_err(),
        "no socket was inserted"
    );
}

// ---------------------------------------------------------------------------
// Hostile inputs.

/// xorshift64*: reproducible noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Random bytes, with u64 words that point into a data_in of
    /// `objects` bytes now and then.
    fn bytes(&mut self, len: usize, objects: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            let word = match self.below(4) {
                0 => TEST_OBJECTS_BASE + self.below(objects.max(1) as u64 + 16),
                1 => self.below(4),
                _ => self.next(),
            };
            out.extend_from_slice(&word.to_ne_bytes());
        }
        out.truncate(len);
        out
    }
}

/// Every program of the new types on random contexts and data: each run
/// ends in a result or a typed error (a refused input or a run-time
/// fault), never a panic.
#[test]
fn hostile_inputs_get_typed_errors() {
    let programs: &[(&str, &[&str])] = &[
        ("fentry_fexit", &["test1_entry", "test1_exit"]),
        ("fmod_ret", &["override_modify_return"]),
        ("lsm", &["deny_listed_inodes", "veto_prog_type"]),
        ("tp_btf", &["on_switch"]),
        ("iter_task", &["dump_tasks"]),
        (
            "struct_ops_tcp_ca",
            &[
                "apiary_init",
                "apiary_ssthresh",
                "apiary_cong_avoid",
                "apiary_undo_cwnd",
            ],
        ),
        (
            "cgroup_sock_addr",
            &["refuse_raw_sockets", "redirect_connect", "guard_low_ports"],
        ),
        (
            "cgroup_sockopt_sysctl_dev",
            &["rewrite_tos", "protect_ip_forward", "device_policy"],
        ),
        ("sk_lookup", &["steer_ports"]),
        ("flow_dissector", &["dissect"]),
        ("netfilter", &["nf_size_guard"]),
        (
            "sockmap_redirect",
            &[
                "track_established",
                "parse_whole_buffer",
                "redirect_to_slot0",
                "redirect_to_peer",
            ],
        ),
    ];
    let mut noise = Noise(0x5eed_1234_abcd_9876);
    let mut outcomes = [0usize; 3];
    for (object, names) in programs {
        let Some((rt, _, loaded)) = load(object) else {
            return;
        };
        for name in *names {
            let prog = program(&loaded, name);
            for _ in 0..150 {
                let data_len = noise.below(700) as usize;
                let data = noise.bytes(data_len, data_len);
                let ctx_len = noise.below(300) as usize;
                let ctx = noise.bytes(ctx_len, data_len);
                let input = TestRunInput {
                    data_in: (noise.below(4) != 0).then_some(&data[..]),
                    ctx_in: (noise.below(4) != 0).then_some(&ctx[..]),
                    repeat: noise.below(3) as u32,
                    ..TestRunInput::default()
                };
                match rt.test_run(&mut Runner::new(), prog, &input) {
                    Ok(_) => outcomes[0] += 1,
                    Err(TestRunError::Invalid { .. }) => outcomes[1] += 1,
                    Err(TestRunError::Run(_)) => outcomes[2] += 1,
                    Err(other) => panic!("{object}/{name}: unexpected error {other}"),
                }
            }
        }
    }
    eprintln!(
        "ran {}, refused {}, faulted {}",
        outcomes[0], outcomes[1], outcomes[2]
    );
    assert!(outcomes[0] > 100, "too few runs completed: {outcomes:?}");
}
