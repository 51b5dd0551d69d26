//! Helpers over kernel state Apiary does not have (stacks, sockets, perf
//! events) and over the sysctl and seq_file images, run by small programs
//! and by the corpus programs that need them. Expectations come from the
//! kernel sources named beside each helper (kernel/bpf/stackmap.c,
//! net/core/sock_map.c, net/core/filter.c, kernel/bpf/cgroup.c,
//! kernel/trace/bpf_trace.c) and from the corpus sources' header comments.

use std::sync::Arc;

use apiary_isa::{RawInsn, encode_program};
use apiary_kernel::types::ProgType;
use apiary_maps::{MapDef, MapType};
use apiary_runtime::{
    BPF_F_SYSCTL_BASE_NAME, BPF_F_USER_BUILD_ID, BPF_F_USER_STACK, MapId, ProgId, Runtime,
    RuntimeError, SeqFile, SysctlContext, SysctlError, TaskInfo,
};
use apiary_vm::{RunError, Runner};

const EINVAL: u64 = (-22i64) as u64;
const EFAULT: u64 = (-14i64) as u64;
const E2BIG: u64 = (-7i64) as u64;
const ENOENT: u64 = (-2i64) as u64;
const EOPNOTSUPP: u64 = (-95i64) as u64;
const EOVERFLOW: u64 = (-75i64) as u64;

fn code(text: &str) -> Vec<RawInsn> {
    encode_program(&apiary_asm::assemble(text).expect("test program assembles"))
}

fn load(rt: &Runtime, prog_type: ProgType, text: &str, maps: &[MapId]) -> ProgId {
    rt.load_program("test", prog_type, &code(text), maps)
        .expect("program loads")
}

fn run(rt: &Arc<Runtime>, prog: ProgId, ctx: &mut [u8]) -> Result<u64, RunError> {
    rt.run(&mut Runner::new(), prog, ctx, 0, &TaskInfo::current())
}

fn map(rt: &Runtime, def: MapDef) -> MapId {
    rt.create_map(def).expect("map is created")
}

fn open(name: &'static str) -> Option<apiary_loader::Object> {
    match apiary_corpus::object(name) {
        Ok(obj) => Some(apiary_loader::Object::open(obj.path()).expect("corpus object opens")),
        Err(e) => apiary_testskip::missing(&format!("corpus object {name}"), e),
    }
}

/// The corpus programs that lacked a map type or helper now load.
#[test]
fn corpus_programs_with_stacks_sockets_sysctl_and_iterators_load() {
    let wanted: [(&str, &[&str]); 6] = [
        ("perf_event", &["profile_sample"]),
        ("sk_lookup", &["steer_ports"]),
        (
            "sockmap_redirect",
            &[
                "track_established",
                "parse_whole_buffer",
                "redirect_to_slot0",
                "redirect_to_peer",
            ],
        ),
        ("cgroup_sockopt_sysctl_dev", &["protect_ip_forward"]),
        ("iter_task", &["dump_tasks"]),
        ("lsm", &["deny_listed_inodes", "veto_prog_type"]),
    ];
    for (object_name, programs) in wanted {
        let Some(object) = open(object_name) else {
            return;
        };
        let rt = Runtime::new(2);
        let loaded = rt
            .load_object(&object)
            .unwrap_or_else(|e| panic!("{object_name}: {e}"));
        for name in programs {
            let result = loaded
                .programs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, r)| r)
                .unwrap_or_else(|| panic!("{object_name} has no program {name}"));
            assert!(result.is_ok(), "{object_name}/{name}: {result:?}");
        }
    }
}

/// Every corpus and example object's maps are created, and none of its
/// programs calls a helper Apiary lacks.
#[test]
fn no_corpus_program_misses_a_helper() {
    let (objects, examples) = match (apiary_corpus::objects(), apiary_corpus::examples()) {
        (Ok(objects), Ok(examples)) => (objects, examples),
        (Err(e), _) | (_, Err(e)) => {
            return apiary_testskip::missing("no_corpus_program_misses_a_helper", e);
        }
    };
    for obj in objects.iter().chain(examples) {
        let object = apiary_loader::Object::open(obj.path()).expect("corpus object opens");
        let rt = Runtime::new(2);
        // Every map of every object is created (no unsupported map type).
        let loaded = rt
            .load_object(&object)
            .unwrap_or_else(|e| panic!("{}: {e}", obj.name));
        for (name, result) in &loaded.programs {
            let id = format!("{}/{name}", obj.name);
            let listed = KNOWN_MISSING.iter().any(|(known, _)| *known == id);
            match result {
                Err(e @ RuntimeError::MissingHelper { .. }) if !listed => panic!("{id}: {e}"),
                Err(RuntimeError::MissingHelper { .. }) => {}
                _ if listed => panic!("{id} is listed in KNOWN_MISSING but loads"),
                _ => {}
            }
        }
    }
}

/// Corpus programs that call a helper the runtime does not provide yet,
/// and which. The verifier checks them; they are not run.
const KNOWN_MISSING: &[(&str, &str)] = &[(
    "xdp_policer_callbacks/police",
    "bpf_timer_init, bpf_timer_set_callback, bpf_timer_start",
)];

fn sysctl_ctx(write: bool, name: &str, current: &[u8], new: &[u8]) -> Vec<u8> {
    SysctlContext {
        write,
        file_pos: 0,
        name: name.to_owned(),
        current_value: Some(current.to_vec()),
        new_value: write.then(|| new.to_vec()),
    }
    .image()
    .expect("a valid sysctl image")
}

/// protect_ip_forward's header: writing net/ipv4/ip_forward returns 0,
/// other writes and every read return 1.
#[test]
fn protect_ip_forward_matches_its_header() {
    let Some(object) = open("cgroup_sockopt_sysctl_dev") else {
        return;
    };
    let rt = Runtime::new(1);
    let loaded = rt.load_object(&object).unwrap();
    let prog = loaded.program("protect_ip_forward").expect("loads");
    let cases = [
        (true, "net/ipv4/ip_forward", 0),
        (false, "net/ipv4/ip_forward", 1),
        (true, "net/ipv4/tcp_syncookies", 1),
        (true, "net/ipv4/ip_forward_update_priority", 1),
        (true, "kernel/ip_forward", 1),
    ];
    for (write, name, expected) in cases {
        let mut ctx = sysctl_ctx(write, name, b"0\n", b"1\n");
        assert_eq!(
            run(&rt, prog, &mut ctx),
            Ok(expected),
            "{name} write={write}"
        );
    }
}

/// Runs `body` as a `cgroup/sysctl` program on `ctx` with 64 zeroed
/// stack bytes at r10-64 (r7 points at them), and returns r0 and them.
fn sysctl_run(ctx: &mut [u8], body: &str) -> (u64, Vec<u8>) {
    let rt = Runtime::new(1);
    let mut text = String::from("r6 = r1\n r7 = r10\n r7 += -64\n r0 = 0\n");
    for off in (8..=64).step_by(8) {
        text.push_str(&format!(" *(u64 *)(r10 - {off}) = r0\n"));
    }
    text.push_str(body);
    // The stack buffer goes out through a map value.
    let out = map(&rt, MapDef::new(MapType::Array, 4, 64, 1));
    text.push_str(
        "\n r8 = r0\n r1 = 0\n *(u32 *)(r10 - 72) = r1\n ld_pseudo r1, 5, 0\n r2 = r10\n r2 += -72\n \
         r3 = r7\n r4 = 0\n call 2\n r0 = r8\n exit",
    );
    let prog = load(&rt, ProgType::CGROUP_SYSCTL, &text, &[out]);
    let r0 = run(&rt, prog, ctx).expect("runs");
    let bytes = rt
        .map(out)
        .unwrap()
        .sys_lookup(&0u32.to_ne_bytes(), 0)
        .unwrap();
    (r0, bytes)
}

fn get_name(ctx: &mut [u8], len: u32, flags: u64) -> (u64, Vec<u8>) {
    sysctl_run(
        ctx,
        &format!("r1 = r6\n r2 = r7\n r3 = {len}\n r4 = {flags}\n call 101"),
    )
}

#[test]
fn sysctl_get_name_copies_like_strscpy() {
    let mut ctx = sysctl_ctx(false, "net/ipv4/ip_forward", b"1\n", b"");
    let (r0, buf) = get_name(&mut ctx, 64, 0);
    assert_eq!(r0, 19);
    assert_eq!(&buf[..20], b"net/ipv4/ip_forward\0");
    let (r0, buf) = get_name(&mut ctx, 64, BPF_F_SYSCTL_BASE_NAME);
    assert_eq!(r0, 10);
    assert_eq!(&buf[..11], b"ip_forward\0");
    // Cut: 7 bytes and a NUL, -E2BIG.
    let (r0, buf) = get_name(&mut ctx, 8, 0);
    assert_eq!(r0, E2BIG);
    assert_eq!(&buf[..9], b"net/ipv\0\0");
    // Exactly the name without room for its NUL is cut too.
    let (r0, buf) = get_name(&mut ctx, 10, BPF_F_SYSCTL_BASE_NAME);
    assert_eq!(r0, E2BIG);
    assert_eq!(&buf[..10], b"ip_forwar\0");
    // The kernel ignores unknown flag bits.
    let (r0, _) = get_name(&mut ctx, 64, 0x100);
    assert_eq!(r0, 19);
}

fn value_call(ctx: &mut [u8], id: u32, len: u32) -> (u64, Vec<u8>) {
    // Fill the buffer with 0xaa first so zeroing is visible.
    let fill = "r1 = 0xaaaaaaaaaaaaaaaa ll\n *(u64 *)(r10 - 64) = r1\n *(u64 *)(r10 - 56) = r1\n";
    sysctl_run(
        ctx,
        &format!("{fill} r1 = r6\n r2 = r7\n r3 = {len}\n call {id}"),
    )
}

#[test]
fn sysctl_values_copy_like_copy_sysctl_value() {
    let mut ctx = sysctl_ctx(true, "net/ipv4/ip_forward", b"1\n", b"0\n");
    let (r0, buf) = value_call(&mut ctx, 102, 16);
    assert_eq!(r0, 2);
    assert_eq!(&buf[..16], b"1\n\0\0\0\0\0\0\0\0\0\0\0\0\0\0");
    let (r0, buf) = value_call(&mut ctx, 103, 16);
    assert_eq!(r0, 2);
    assert_eq!(&buf[..3], b"0\n\0");
    // Too short: the last byte becomes NUL, -E2BIG.
    let (r0, buf) = value_call(&mut ctx, 102, 2);
    assert_eq!(r0, E2BIG);
    assert_eq!(&buf[..3], b"1\0\xaa");
    // A read has no new value: buffer zeroed, -EINVAL.
    let mut read = sysctl_ctx(false, "net/ipv4/ip_forward", b"1\n", b"");
    let (r0, buf) = value_call(&mut read, 103, 16);
    assert_eq!(r0, EINVAL);
    assert_eq!(&buf[..16], &[0u8; 16]);
    // No current value (the kernel's cur_val == NULL): zeroed, -EINVAL.
    let mut unreadable = SysctlContext {
        write: false,
        name: "kernel/x".into(),
        ..SysctlContext::default()
    }
    .image()
    .unwrap();
    let (r0, buf) = value_call(&mut unreadable, 102, 8);
    assert_eq!(r0, EINVAL);
    assert_eq!(&buf[..9], b"\0\0\0\0\0\0\0\0\xaa");
}

#[test]
fn sysctl_set_new_value_replaces_the_written_text() {
    // "42\n" on the stack, then set_new_value(ctx, buf, 3).
    let body = "r1 = 0x0a3234\n *(u32 *)(r10 - 64) = r1\n r1 = r6\n r2 = r7\n r3 = 3\n call 104";
    let mut ctx = sysctl_ctx(true, "net/ipv4/ip_forward", b"1\n", b"0\n");
    let (r0, _) = sysctl_run(&mut ctx, body);
    assert_eq!(r0, 0);
    let outcome = SysctlContext::outcome(&ctx).unwrap();
    assert_eq!(outcome.new_value.as_deref(), Some(&b"42\n"[..]));
    // On a read, or with an empty buffer: -EINVAL and nothing replaced.
    let mut read = sysctl_ctx(false, "net/ipv4/ip_forward", b"1\n", b"");
    assert_eq!(sysctl_run(&mut read, body).0, EINVAL);
    assert_eq!(SysctlContext::outcome(&read).unwrap().new_value, None);
    // Too long for the page: -E2BIG (the helper reads only what it copies,
    // so 4096 bytes of the context image itself are a valid source).
    let mut big = sysctl_ctx(true, "net/ipv4/ip_forward", b"1\n", b"0\n");
    let (r0, _) = sysctl_run(&mut big, "r1 = r6\n r2 = r6\n r3 = 4096\n call 104");
    assert_eq!(r0, E2BIG);
}

#[test]
fn sysctl_images_refuse_bad_input() {
    let long = SysctlContext {
        name: "x".repeat(257),
        ..SysctlContext::default()
    };
    assert_eq!(long.image(), Err(SysctlError::BadName(257)));
    let huge = SysctlContext {
        name: "a/b".into(),
        new_value: Some(vec![b'1'; 4097]),
        ..SysctlContext::default()
    };
    assert!(matches!(
        huge.image(),
        Err(SysctlError::ValueTooLong { len: 4097, .. })
    ));
    assert!(SysctlContext::outcome(&[0; 12]).is_err());
    // A hostile image whose lengths run past their buffers: a run error.
    let mut image = sysctl_ctx(true, "a/b", b"1", b"2");
    image[8..12].copy_from_slice(&u32::MAX.to_ne_bytes());
    let rt = Runtime::new(1);
    let prog = load(
        &rt,
        ProgType::CGROUP_SYSCTL,
        "r2 = r10\n r2 += -16\n r3 = 16\n r4 = 0\n call 101\n exit",
        &[],
    );
    assert!(run(&rt, prog, &mut image).is_err());
}

#[test]
fn stack_helpers_answer_as_without_a_call_chain() {
    let rt = Runtime::new(1);
    let stacks = map(&rt, MapDef::new(MapType::StackTrace, 4, 64, 8));
    let stackid = |flags: u64| {
        let prog = load(
            &rt,
            ProgType::UNSPEC,
            &format!("ld_pseudo r2, 5, 0\n r3 = {flags:#x} ll\n call 27\n exit"),
            &[stacks],
        );
        run(&rt, prog, &mut [0u8; 8]).unwrap()
    };
    assert_eq!(stackid(0), EFAULT);
    assert_eq!(stackid(BPF_F_USER_STACK | 3), EFAULT);
    assert_eq!(stackid(1 << 11), EINVAL);
    assert_eq!(stackid(1 << 40), EINVAL);
    // Nothing was stored.
    let stored = rt.map(stacks).unwrap();
    assert!(stored.sys_get_next_key(None).is_err());
    // `call` is bpf_get_stack (67) on the context, or bpf_get_task_stack
    // (141) on the current task (r1 from bpf_get_current_task_btf).
    let stack_of = |call: &str, size: u32, flags: u64| {
        let text = format!(
            "r6 = r1\n call 158\n r7 = r0\n r1 = -1\n *(u64 *)(r10 - 8) = r1\n \
             *(u64 *)(r10 - 16) = r1\n *(u64 *)(r10 - 24) = r1\n *(u64 *)(r10 - 32) = r1\n \
             r1 = r6\n {call}\n r2 = r10\n r2 += -32\n r3 = {size}\n r4 = {flags:#x} ll\n \
             call {id}\n r1 = *(u64 *)(r10 - 32)\n r2 = *(u64 *)(r10 - 8)\n r1 |= r2\n \
             if r1 != 0 goto dirty\n exit\n dirty:\n r0 = 1\n exit",
            id = if call.is_empty() { 67 } else { 141 }
        );
        let prog = load(&rt, ProgType::UNSPEC, &text, &[]);
        run(&rt, prog, &mut [0u8; 8]).unwrap()
    };
    let stack = |size: u32, flags: u64| stack_of("", size, flags);
    let task_stack = |size: u32, flags: u64| stack_of("r1 = r7", size, flags);
    assert_eq!(task_stack(32, 0), EFAULT);
    assert_eq!(task_stack(20, 0), 1, "20 bytes zeroed of 32");
    assert_eq!(task_stack(32, 1 << 9), EINVAL);
    // The whole buffer is zeroed on every answer.
    assert_eq!(stack(32, 0), EFAULT);
    assert_eq!(stack(32, BPF_F_USER_STACK), EFAULT);
    assert_eq!(stack(32, BPF_F_USER_STACK | BPF_F_USER_BUILD_ID), EFAULT);
    assert_eq!(
        stack(24, BPF_F_USER_STACK | BPF_F_USER_BUILD_ID),
        1,
        "only 24 zeroed"
    );
    assert_eq!(stack(20, 0), 1, "20 bytes zeroed of 32");
    assert_eq!(stack(32, BPF_F_USER_BUILD_ID), EINVAL);
    assert_eq!(stack(32, 1 << 9), EINVAL);
}

/// `bpf_perf_prog_read_value`: no perf event behind the run to read;
/// `-EINVAL` and the buffer zeroed, for the right size and any other.
#[test]
fn perf_prog_read_value_has_no_event_to_read() {
    let rt = Runtime::new(1);
    for size in [24u32, 16, 32] {
        let text = format!(
            "r2 = -1\n *(u64 *)(r10 - 8) = r2\n *(u64 *)(r10 - 16) = r2\n \
             *(u64 *)(r10 - 24) = r2\n *(u64 *)(r10 - 32) = r2\n r2 = r10\n r2 += -32\n \
             r3 = {size}\n call 56\n r1 = *(u64 *)(r10 - 32)\n if r1 != 0 goto dirty\n exit\n \
             dirty:\n r0 = 1\n exit"
        );
        let prog = load(&rt, ProgType::PERF_EVENT, &text, &[]);
        assert_eq!(run(&rt, prog, &mut [0u8; 8]), Ok(EINVAL), "size {size}");
    }
}

/// An iterator context as the kernel builds it, in one buffer: the
/// `seq_file` pointer first (standing for `ctx->meta->seq`), the seq_file
/// image after it.
fn seq_ctx(seq: &mut SeqFile) -> Vec<u8> {
    let image = seq.image_mut();
    let mut ctx = vec![0u8; 8 + image.len()];
    ctx[8..].copy_from_slice(image);
    let addr = ctx.as_ptr() as u64 + 8;
    ctx[..8].copy_from_slice(&addr.to_ne_bytes());
    ctx
}

fn seq_run(capacity: u32, body: &str) -> (u64, SeqFile) {
    let rt = Runtime::new(1);
    let mut seq = SeqFile::with_capacity(capacity);
    let mut ctx = seq_ctx(&mut seq);
    let prog = load(
        &rt,
        ProgType::UNSPEC,
        &format!("r6 = *(u64 *)(r1 + 0)\n {body}\n exit"),
        &[],
    );
    let r0 = run(&rt, prog, &mut ctx).unwrap();
    seq.image_mut().copy_from_slice(&ctx[8..]);
    (r0, seq)
}

#[test]
fn seq_write_and_printf_fill_the_seq_file() {
    // "hi\n" then "%d-%s" with 42 and "ab".
    let body = "r1 = 0x0a6968\n *(u32 *)(r10 - 8) = r1\n r1 = r6\n r2 = r10\n r2 += -8\n r3 = 3\n \
         call 127\n r9 = r0\n \
         r1 = 0x73252d6425 ll\n *(u64 *)(r10 - 16) = r1\n r1 = 0x6261\n *(u64 *)(r10 - 24) = r1\n \
         r1 = 42\n *(u64 *)(r10 - 40) = r1\n r1 = r10\n r1 += -24\n *(u64 *)(r10 - 32) = r1\n \
         r1 = r6\n r2 = r10\n r2 += -16\n r3 = 8\n r4 = r10\n r4 += -40\n r5 = 16\n call 126\n \
         r0 |= r9";
    let (r0, seq) = seq_run(64, body);
    assert_eq!(r0, 0);
    assert_eq!(seq.text(), b"hi\n42-ab");
    // 8 bytes of text need 9 bytes of room: an 8-byte buffer holds "hi\n"
    // but overflows on the second write, and then shows nothing.
    let (r0, seq) = seq_run(8, body);
    assert_eq!(r0, EOVERFLOW);
    assert!(seq.overflowed());
    assert_eq!(seq.text(), b"");
    // Argument arrays the kernel refuses: -EINVAL, nothing written.
    let bad = "r1 = 0x6425\n *(u64 *)(r10 - 8) = r1\n r1 = r6\n r2 = r10\n r2 += -8\n r3 = 8\n \
               r4 = r10\n r4 += -16\n r5 = 12\n call 126";
    let (r0, seq) = seq_run(64, bad);
    assert_eq!(r0, EINVAL);
    assert_eq!(seq.text(), b"");
    // A format without its NUL in fmt_size: -EINVAL.
    let unterminated = "r1 = 0x6868686868686868 ll\n *(u64 *)(r10 - 8) = r1\n r1 = r6\n r2 = r10\n \
                        r2 += -8\n r3 = 8\n r4 = 0\n r5 = 0\n call 126";
    assert_eq!(seq_run(64, unterminated).0, EINVAL);
}

#[test]
fn socket_helpers_answer_as_for_empty_maps() {
    let rt = Runtime::new(1);
    let sockmap = map(&rt, MapDef::new(MapType::Sockmap, 4, 8, 2));
    let sockhash = map(&rt, MapDef::new(MapType::Sockhash, 16, 8, 4));
    let reuse = map(&rt, MapDef::new(MapType::ReuseportSockarray, 4, 8, 2));
    let maps = [sockmap, sockhash, reuse];
    let call = |prog_type: ProgType, map_index: u32, id: u32, key: &str, flags: u64| {
        let text = format!(
            "r2 = 0\n *(u64 *)(r10 - 8) = r2\n *(u64 *)(r10 - 16) = r2\n \
             ld_pseudo r2, 5, {map_index}\n {key}\n r4 = {flags:#x} ll\n call {id}\n exit"
        );
        let prog = load(&rt, prog_type, &text, &maps);
        run(&rt, prog, &mut [0u8; 256]).unwrap()
    };
    let index = "r3 = 1";
    let pointer = "r3 = r10\n r3 += -16";
    let ty = ProgType::UNSPEC;
    // sk/msg redirects: SK_DROP for an empty slot, out of range or bad flags.
    assert_eq!(call(ty, 0, 52, index, 0), 0);
    assert_eq!(call(ty, 0, 52, "r3 = 99", 1), 0);
    assert_eq!(call(ty, 0, 60, index, 2), 0);
    assert_eq!(call(ty, 1, 71, pointer, 1), 0);
    assert_eq!(call(ty, 1, 72, pointer, 0), 0);
    // sock_ops updates: no suitable socket behind the context.
    assert_eq!(call(ty, 0, 53, pointer, 0), EOPNOTSUPP);
    assert_eq!(call(ty, 1, 70, pointer, 0), EOPNOTSUPP);
    // sk_select_reuseport: -ENOENT from every supported map, any flags.
    assert_eq!(call(ty, 2, 82, pointer, 0), ENOENT);
    assert_eq!(call(ty, 0, 82, pointer, 7), ENOENT);
    // The wrong map kind is a run error, as the verifier would refuse it.
    let prog = load(
        &rt,
        ty,
        "ld_pseudo r2, 5, 2\n r3 = 0\n r4 = 0\n call 52\n exit",
        &maps,
    );
    assert!(run(&rt, prog, &mut [0u8; 8]).is_err());
    // sk_assign with NULL: selects nothing in sk_lookup, -EINVAL in tc.
    let assign = |prog_type, flags: u64| {
        let text = format!("r2 = 0\n r3 = {flags}\n call 124\n exit");
        let prog = load(&rt, prog_type, &text, &[]);
        run(&rt, prog, &mut [0u8; 256]).unwrap()
    };
    assert_eq!(assign(ProgType::SK_LOOKUP, 0), 0);
    assert_eq!(assign(ProgType::SK_LOOKUP, 3), 0);
    assert_eq!(assign(ProgType::SK_LOOKUP, 4), EINVAL);
    assert_eq!(assign(ProgType::UNSPEC, 0), EINVAL);
    // sock_ops / sk_msg knobs.
    let knob = |id: u32| {
        let prog = load(&rt, ty, &format!("r2 = 5\n call {id}\n exit"), &[]);
        run(&rt, prog, &mut [0u8; 8]).unwrap()
    };
    assert_eq!(knob(59), EINVAL);
    assert_eq!(knob(61), 0);
}

/// Every helper added for stacks, sockets, sysctl and seq files, called
/// with hostile registers (huge sizes, stray pointers, odd flags, maps of
/// the wrong kind) on a sysctl image context: each call returns or fails
/// the run, never panics or allocates what a size claims.
#[test]
fn new_helpers_survive_hostile_arguments() {
    let rt = Runtime::new(1);
    let maps = [
        map(&rt, MapDef::new(MapType::StackTrace, 4, 64, 4)),
        map(&rt, MapDef::new(MapType::Sockmap, 4, 8, 2)),
        map(&rt, MapDef::new(MapType::Sockhash, 12, 8, 2)),
        map(&rt, MapDef::new(MapType::ReuseportSockarray, 4, 4, 2)),
        map(&rt, MapDef::new(MapType::Array, 4, 8, 2)),
    ];
    let ids = [
        27u32, 52, 53, 56, 59, 60, 61, 67, 70, 71, 72, 82, 101, 102, 103, 104, 124, 126, 127,
    ];
    let values = [
        0u64,
        1,
        3,
        8,
        56,
        4095,
        4096,
        0xffff_ffff,
        u64::MAX,
        1 << 40,
        0xff,
        0x800,
    ];
    let mut state = 0x5eed_1234_abcd_0001u64;
    let mut next = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for round in 0..600 {
        let id = ids[round % ids.len()];
        let mut text = String::from("r6 = r1\n r7 = r10\n r7 += -64\n");
        for reg in 2..=5 {
            let line = match next() % 4 {
                0 => format!("r{reg} = r7"),
                1 => format!("r{reg} = r6"),
                2 => format!("ld_pseudo r{reg}, 5, {}", next() % maps.len() as u64),
                _ => format!("r{reg} = {:#x} ll", values[(next() % 12) as usize]),
            };
            text.push_str(&format!(" {line}\n"));
        }
        text.push_str(&format!(" r1 = r6\n call {id}\n exit"));
        let prog_type = [
            ProgType::CGROUP_SYSCTL,
            ProgType::SK_LOOKUP,
            ProgType::UNSPEC,
        ][(next() % 3) as usize];
        let prog = load(&rt, prog_type, &text, &maps);
        let mut ctx = sysctl_ctx(next() % 2 == 0, "net/core/somaxconn", b"4096\n", b"128\n");
        // Ok or a run error: both fine; a panic fails the test.
        let _ = run(&rt, prog, &mut ctx);
    }
}
