//! `Runtime::test_run` against the kernel's `BPF_PROG_TEST_RUN` on this
//! machine: the same program and input through both, comparing the return
//! value, the packet and the context that come back, or that both refuse.
//! Each test skips loudly when `bpf()` is unavailable.

mod common;

use apiary_isa::{RawInsn, encode_program, slots_to_bytes};
use apiary_kernel::types::ProgType;
use apiary_kernel::{ProgFd, ProgLoadAttrs, TestRunAttrs};
use apiary_runtime::{Event, Runtime, TaskInfo, TestRunError, TestRunInput};
use apiary_vm::Runner;
use common::{Outcome, kernel_ok};

fn code(text: &str) -> Vec<RawInsn> {
    encode_program(&apiary_asm::assemble(text).expect("test program assembles"))
}

/// One test-run input.
#[derive(Debug, Clone, Default)]
struct Input {
    data: Option<Vec<u8>>,
    ctx: Option<Vec<u8>>,
    repeat: u32,
    flags: u32,
}

impl Input {
    fn packet(data: &[u8]) -> Input {
        Input {
            data: Some(data.to_vec()),
            ..Input::default()
        }
    }

    fn with_ctx(mut self, ctx: Vec<u8>) -> Input {
        self.ctx = Some(ctx);
        self
    }
}

fn apiary_run(prog_type: ProgType, text: &str, input: &Input) -> Outcome {
    let rt = Runtime::new(1);
    let prog = rt
        .load_program("t", prog_type, &code(text), &[])
        .unwrap_or_else(|e| panic!("apiary refused the program: {e}\n{text}"));
    let run = rt.test_run(
        &mut Runner::new(),
        prog,
        &TestRunInput {
            data_in: input.data.as_deref(),
            ctx_in: input.ctx.as_deref(),
            repeat: input.repeat,
            flags: input.flags,
            task: TaskInfo::current().into(),
            ..TestRunInput::default()
        },
    );
    match run {
        Ok(out) => Outcome::Ran {
            retval: out.retval,
            data_out: out.data_out.unwrap_or_default(),
            ctx_out: out.ctx_out.unwrap_or_default(),
        },
        Err(TestRunError::Invalid { .. } | TestRunError::ChecksumMismatch) => Outcome::Refused,
        Err(e) => panic!("apiary test-run failed: {e}\n{text}"),
    }
}

/// Loads `text` (with `maps`) into `rt` and test-runs it on `frame`.
fn run_frame(
    rt: &std::sync::Arc<Runtime>,
    prog_type: ProgType,
    text: &str,
    maps: &[apiary_runtime::MapId],
    frame: &[u8],
) -> apiary_runtime::TestRunOutput {
    let prog = rt
        .load_program("t", prog_type, &code(text), maps)
        .unwrap_or_else(|e| panic!("apiary refused the program: {e}\n{text}"));
    let input = TestRunInput {
        data_in: Some(frame),
        ..TestRunInput::default()
    };
    rt.test_run(&mut Runner::new(), prog, &input)
        .unwrap_or_else(|e| panic!("apiary test-run failed: {e}\n{text}"))
}

fn kernel_run(prog_type: ProgType, text: &str, input: &Input) -> Outcome {
    let insns = slots_to_bytes(&code(text));
    let loaded = ProgFd::load(&ProgLoadAttrs {
        prog_type,
        insns: &insns,
        license: "GPL",
        name: "t",
        ..ProgLoadAttrs::default()
    })
    .unwrap_or_else(|e| panic!("the kernel refused the program: {e}\n{text}"));
    let attrs = TestRunAttrs {
        data_in: input.data.as_deref().unwrap_or_default(),
        data_out_capacity: if input.data.is_some() { 1 << 18 } else { 0 },
        ctx_in: input.ctx.as_deref().unwrap_or_default(),
        ctx_out_capacity: input.ctx.as_ref().map_or(0, |c| c.len().max(192)),
        repeat: input.repeat,
        flags: input.flags,
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

/// Runs `text` through both and asserts the same outcome; returns it.
fn same(prog_type: ProgType, text: &str, input: &Input) -> Outcome {
    let kernel = kernel_run(prog_type, text, input);
    let apiary = apiary_run(prog_type, text, input);
    assert_eq!(
        apiary, kernel,
        "apiary (left) and the kernel (right) differ for {prog_type} program\n{text}\ninput {input:?}"
    );
    apiary
}

fn ran(outcome: &Outcome) -> (u32, &[u8], &[u8]) {
    match outcome {
        Outcome::Ran {
            retval,
            data_out,
            ctx_out,
        } => (*retval, data_out, ctx_out),
        Outcome::Refused => panic!("expected a run, got a refusal"),
    }
}

/// RFC 1071 Internet checksum over `bytes` (big-endian words).
fn inet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

const IP_PROTO_TCP: u8 = 6;
const IP_PROTO_UDP: u8 = 17;

/// An Ethernet + IPv4 + TCP/UDP frame with valid checksums, to `dst_mac`.
fn ipv4_frame(dst_mac: [u8; 6], proto: u8, payload: &[u8]) -> Vec<u8> {
    let l4_len = if proto == IP_PROTO_TCP { 20 } else { 8 } + payload.len();
    let mut f = Vec::new();
    f.extend_from_slice(&dst_mac);
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + l4_len) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    let sum = inet_checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut l4 = Vec::new();
    l4.extend_from_slice(&1234u16.to_be_bytes());
    l4.extend_from_slice(&80u16.to_be_bytes());
    if proto == IP_PROTO_TCP {
        l4.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0, 0, 0, 0, 0]);
    } else {
        l4.extend_from_slice(&(l4_len as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
    }
    l4.extend_from_slice(payload);
    let csum_at = if proto == IP_PROTO_TCP { 16 } else { 6 };
    let sum = l4_checksum(&ip, &l4);
    l4[csum_at..csum_at + 2].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&l4);
    f
}

/// The TCP/UDP checksum of `l4` under the IPv4 header `ip` (checksum field zeroed or not).
fn l4_checksum(ip: &[u8], l4: &[u8]) -> u16 {
    let mut pseudo = ip[12..20].to_vec();
    pseudo.extend_from_slice(&[0, ip[9]]);
    pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(l4);
    inet_checksum(&pseudo)
}

/// Whether the IPv4 and TCP/UDP checksums of an Ethernet frame verify.
fn checksums_verify(frame: &[u8]) -> bool {
    let ip = &frame[14..34];
    let l4 = &frame[34..];
    inet_checksum(ip) == 0 && l4_checksum(ip, l4) == 0
}

const LOOPBACK_MAC: [u8; 6] = [0; 6];

/// The `xdp_md` a caller passes for `len` bytes with `meta` bytes of metadata.
fn xdp_md(meta: u32, len: u32, ingress: u32, queue: u32, egress: u32) -> Vec<u8> {
    [meta, len, 0, ingress, queue, egress]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect()
}

#[test]
fn xdp_pass_copies_the_packet_and_context_out() {
    if !kernel_ok("xdp_pass_copies_the_packet_and_context_out") {
        return;
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, b"hello");
    let pass = "r0 = 2\n exit";
    let out = same(ProgType::XDP, pass, &Input::packet(&frame));
    assert_eq!(ran(&out).1, frame.as_slice());
    let len = frame.len() as u32;
    same(
        ProgType::XDP,
        pass,
        &Input::packet(&frame).with_ctx(xdp_md(0, len, 0, 0, 0)),
    );
    // The program sees data - data_meta = the metadata length, and
    // data_out starts at the metadata.
    let meta_len = "r2 = *(u32 *)(r1 + 0)\n r3 = *(u32 *)(r1 + 8)\n r0 = r2\n r0 -= r3\n exit";
    let out = same(
        ProgType::XDP,
        meta_len,
        &Input::packet(&frame).with_ctx(xdp_md(8, len, 0, 0, 0)),
    );
    assert_eq!(ran(&out).0, 8);
    let ingress = "r0 = *(u32 *)(r1 + 12)\n exit";
    let out = same(ProgType::XDP, ingress, &Input::packet(&frame));
    assert_eq!(ran(&out).0, 1, "test-run's device is the loopback");
    same(
        ProgType::XDP,
        ingress,
        &Input::packet(&frame).with_ctx(xdp_md(0, len, 1, 0, 0)),
    );
}

#[test]
fn xdp_context_rules_match_the_kernel() {
    if !kernel_ok("xdp_context_rules_match_the_kernel") {
        return;
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_TCP, &[7; 30]);
    let len = frame.len() as u32;
    let pass = "r0 = 2\n exit";
    let mut nonzero_meta = xdp_md(0, len, 0, 0, 0);
    nonzero_meta[8] = 4;
    let mut long_zero = xdp_md(0, len, 0, 0, 0);
    long_zero.extend_from_slice(&[0; 8]);
    let mut long_nonzero = long_zero.clone();
    long_nonzero[27] = 1;
    let cases = [
        (xdp_md(0, len, 0, 0, 0), false),
        (xdp_md(0, len + 1, 0, 0, 0), true),
        (xdp_md((len - 14) & !3, len, 0, 0, 0), false),
        (xdp_md((len - 10) & !3, len, 0, 0, 0), true),
        (xdp_md(216, len, 0, 0, 0), true),
        (nonzero_meta, true),
        (xdp_md(4, len, 0, 0, 0), false),
        (xdp_md(3, len, 0, 0, 0), true),
        (xdp_md(32, len, 0, 0, 0), false),
        (xdp_md(36, len, 0, 0, 0), false),
        (xdp_md(len + 4, len, 0, 0, 0), true),
        (xdp_md(0, len, 0, 0, 1), true),
        (xdp_md(0, len, 0, 1, 0), true),
        (xdp_md(0, len, 1, 1, 0), true),
        (xdp_md(0, len, 1, 0, 0), false),
        (long_zero, false),
        (long_nonzero, true),
        (xdp_md(0, len, 0, 0, 0)[..8].to_vec(), false),
    ];
    for (ctx, refused) in cases {
        let out = same(
            ProgType::XDP,
            pass,
            &Input::packet(&frame).with_ctx(ctx.clone()),
        );
        assert_eq!(out == Outcome::Refused, refused, "ctx {ctx:?}");
    }
    // A data_end below the input makes the rest fragments of a
    // multi-buffer frame.
    let frags = Input::packet(&frame).with_ctx(xdp_md(0, len - 1, 0, 0, 0));
    assert_ne!(same(ProgType::XDP, pass, &frags), Outcome::Refused);
    let big = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, &[0; 400]);
    let big_len = big.len() as u32;
    for meta in [212, 216, 220, 252] {
        let out = same(
            ProgType::XDP,
            pass,
            &Input::packet(&big).with_ctx(xdp_md(meta, big_len, 0, 0, 0)),
        );
        assert_eq!(out == Outcome::Refused, meta > 216, "meta {meta}");
    }
    // Beyond one frame, page-sized fragments, at most 17 of them.
    for size in [
        0,
        13,
        14,
        15,
        3520,
        3521,
        5000,
        9000,
        3520 + 17 * 4096,
        3521 + 17 * 4096,
    ] {
        let data = vec![0u8; size];
        let out = same(ProgType::XDP, pass, &Input::packet(&data));
        assert_eq!(
            out == Outcome::Refused,
            !(14..=3520 + 17 * 4096).contains(&size),
            "size {size}"
        );
    }
}

/// `r0 = helper(ctx, delta)` then, if the packet still has 4 bytes, the
/// first 4 bytes become `0xdeadbeef`; returns the helper's result.
fn adjust_program(helper: u32, delta: i32) -> String {
    format!(
        "r6 = r1
         r2 = {delta}
         call {helper}
         r7 = r0
         r2 = *(u32 *)(r6 + 0)
         r3 = *(u32 *)(r6 + 4)
         r4 = r2
         r4 += 4
         if r4 > r3 goto out
         r5 = 0xdeadbeef
         *(u32 *)(r2 + 0) = r5
     out:
         r0 = r7
         exit"
    )
}

const XDP_ADJUST_HEAD: u32 = 44;
const XDP_ADJUST_META: u32 = 54;
const XDP_ADJUST_TAIL: u32 = 65;

#[test]
fn xdp_adjust_head_meta_and_tail_match_the_kernel() {
    if !kernel_ok("xdp_adjust_head_meta_and_tail_match_the_kernel") {
        return;
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, &[0x55; 40]);
    let len = frame.len() as i32;
    let plain = Input::packet(&frame);
    let with_meta = Input::packet(&frame).with_ctx(xdp_md(8, frame.len() as u32, 0, 0, 0));
    let mut results = Vec::new();
    for delta in [
        -256,
        -217,
        -216,
        -208,
        -100,
        -4,
        0,
        4,
        len - 14,
        len - 13,
        len,
    ] {
        for input in [&plain, &with_meta] {
            let out = same(
                ProgType::XDP,
                &adjust_program(XDP_ADJUST_HEAD, delta),
                input,
            );
            results.push(ran(&out).0 as i32);
        }
    }
    assert!(
        results.contains(&0) && results.contains(&-22),
        "{results:?}"
    );
    // Some hosts' kernels answer that XDP "cannot use helper
    // bpf_xdp_adjust_meta": probe the smallest call before comparing.
    let meta_call = slots_to_bytes(&code(&format!(
        "r2 = -4\n call {XDP_ADJUST_META}\n r0 = 2\n exit"
    )));
    match apiary_kernel::probe_prog_load(&ProgLoadAttrs {
        prog_type: ProgType::XDP,
        insns: &meta_call,
        license: "GPL",
        log_level: apiary_kernel::log_level::BASIC,
        ..ProgLoadAttrs::default()
    }) {
        Ok(()) => {
            for delta in [-4, -8, -32, -36, -64, -252, -256, -3, -2, 4, -220, -216] {
                for input in [&plain, &with_meta] {
                    same(
                        ProgType::XDP,
                        &adjust_program(XDP_ADJUST_META, delta),
                        input,
                    );
                }
            }
        }
        Err(refusal) => {
            let log = refusal.error.to_string();
            assert!(log.contains("cannot use helper"), "{log}");
            apiary_testskip::refused::<()>(
                "xdp_adjust_head_meta_and_tail_match_the_kernel (bpf_xdp_adjust_meta)",
                format!("{} calling bpf_xdp_adjust_meta", refusal.probed),
                "program of this type cannot use helper bpf_xdp_adjust_meta#54",
            );
        }
    }
    let max_grow = 4096 - 320 - 256 - len;
    for delta in [
        1,
        100,
        max_grow,
        max_grow + 1,
        -1,
        -(len - 14),
        -(len - 13),
        -len,
    ] {
        for input in [&plain, &with_meta] {
            same(
                ProgType::XDP,
                &adjust_program(XDP_ADJUST_TAIL, delta),
                input,
            );
        }
    }
}

#[test]
fn repeat_runs_on_the_same_packet() {
    if !kernel_ok("repeat_runs_on_the_same_packet") {
        return;
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, &[1; 8]);
    // Increments the first byte and moves data 2 bytes back each run.
    let text = "
        r6 = r1
        r2 = *(u32 *)(r6 + 0)
        r3 = *(u32 *)(r6 + 4)
        r4 = r2
        r4 += 1
        if r4 > r3 goto out
        r5 = *(u8 *)(r2 + 0)
        r5 += 1
        *(u8 *)(r2 + 0) = r5
        r1 = r6
        r2 = -2
        call 44
    out:
        r0 = 2
        exit";
    for repeat in [0, 1, 5] {
        let input = Input {
            repeat,
            ..Input::packet(&frame)
        };
        let out = same(ProgType::XDP, text, &input);
        assert_eq!(ran(&out).1.len(), frame.len() + 2 * repeat.max(1) as usize);
    }
}

#[test]
fn xdp_tx_and_redirect_report_their_target() {
    let rt = Runtime::new(1);
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, &[]);
    let out = run_frame(&rt, ProgType::XDP, "r0 = 3\n exit", &[], &frame);
    assert_eq!(out.events, vec![Event::XdpTx { ifindex: 1 }]);
    let redirect = "r1 = 7\n r2 = 0\n call 23\n exit";
    let out = run_frame(&rt, ProgType::XDP, redirect, &[], &frame);
    assert_eq!(out.retval, 4, "XDP_REDIRECT");
    assert_eq!(
        out.events,
        vec![Event::Redirect {
            ifindex: 7,
            flags: 0
        }]
    );
}

#[test]
fn trace_printk_lines_come_back_with_the_run() {
    let rt = Runtime::new(1);
    // bpf_trace_printk("len %d\n", 8, skb->len)
    let text = "
        r3 = *(u32 *)(r1 + 0)
        r1 = 0x0a6425206e656c ll
        *(u64 *)(r10 - 8) = r1
        r1 = r10
        r1 += -8
        r2 = 8
        call 6
        r0 = 0
        exit";
    let prog = rt
        .load_program("p", ProgType::SCHED_CLS, &code(text), &[])
        .unwrap();
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, &[0; 10]);
    let task = TaskInfo {
        comm: "apiary-test".into(),
        pid: 77,
        ..TaskInfo::default()
    };
    let out = rt
        .test_run(
            &mut Runner::new(),
            prog,
            &TestRunInput {
                data_in: Some(&frame),
                task: task.into(),
                ..TestRunInput::default()
            },
        )
        .unwrap();
    assert_eq!(out.trace.len(), 1);
    assert_eq!(out.trace[0].text, format!("len {}\n", frame.len()));
    let line = out.trace[0].to_string();
    assert!(
        line.starts_with("     apiary-test-77      [000] b..11 "),
        "{line}"
    );
    assert!(
        line.ends_with(&format!(": bpf_trace_printk: len {}", frame.len())),
        "{line}"
    );
    assert!(
        rt.take_trace().is_empty(),
        "test-run output stays with the run"
    );
}

/// Returns the 32-bit context field at `off`.
fn field_program(off: u32) -> String {
    format!("r0 = *(u32 *)(r1 + {off})\n exit")
}

#[test]
fn skb_fields_after_eth_type_trans_match_the_kernel() {
    if !kernel_ok("skb_fields_after_eth_type_trans_match_the_kernel") {
        return;
    }
    let other_host = [0x02, 0, 0, 0, 0, 9];
    let broadcast = [0xff; 6];
    let multicast = [0x01, 0, 0x5e, 0, 0, 1];
    let mut frames = Vec::new();
    for mac in [LOOPBACK_MAC, other_host, broadcast, multicast] {
        frames.push(ipv4_frame(mac, IP_PROTO_TCP, b"x"));
    }
    let mut arp = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, &[0; 10]);
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    frames.push(arp.clone());
    let mut llc = arp.clone();
    llc[12..14].copy_from_slice(&60u16.to_be_bytes());
    frames.push(llc.clone());
    llc[14..16].copy_from_slice(&[0xff, 0xff]);
    frames.push(llc);
    frames.push(vec![0; 14]);
    // len, pkt_type, mark, queue_mapping, protocol, vlan_present, vlan_tci,
    // vlan_proto, priority, ingress_ifindex, ifindex, tc_index, cb[0], hash
    let common = [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48, 68];
    for frame in &frames {
        for off in common {
            for prog_type in [ProgType::SCHED_CLS, ProgType::SOCKET_FILTER] {
                same(prog_type, &field_program(off), &Input::packet(frame));
            }
        }
        // tc_classid, napi_id, wire_len, gso_segs, gso_size: tc only.
        for off in [72, 84, 160, 164, 176] {
            same(
                ProgType::SCHED_CLS,
                &field_program(off),
                &Input::packet(frame),
            );
        }
    }
    let out = same(
        ProgType::SCHED_CLS,
        &field_program(4),
        &Input::packet(&frames[1]),
    );
    assert_eq!(ran(&out).0, 3, "PACKET_OTHERHOST");
}

#[test]
fn skb_data_in_sizes_match_the_kernel() {
    if !kernel_ok("skb_data_in_sizes_match_the_kernel") {
        return;
    }
    for (ethertype, sizes) in [
        (0x0800u16, &[13usize, 14, 15, 33, 34, 100][..]),
        (0x86dd, &[14, 15, 53, 54, 60]),
        (0x0806, &[14, 15, 20]),
    ] {
        for &size in sizes {
            let mut data = vec![0u8; size];
            if size >= 14 {
                data[12..14].copy_from_slice(&ethertype.to_be_bytes());
            }
            for prog_type in [ProgType::SCHED_CLS, ProgType::SOCKET_FILTER] {
                same(
                    prog_type,
                    "r0 = *(u32 *)(r1 + 0)\n exit",
                    &Input::packet(&data),
                );
            }
        }
    }
}

#[test]
fn socket_filters_see_the_network_header_and_get_a_zeroed_ethernet_header_back() {
    if !kernel_ok("socket_filters_see_the_network_header") {
        return;
    }
    let frame = ipv4_frame([0x02, 1, 2, 3, 4, 5], IP_PROTO_UDP, b"abc");
    // LD_ABS byte 9 is the IPv4 protocol for a socket filter, the source
    // MAC's byte for tc.
    let text = "r6 = r1\n r0 = *(u8 *)skb[9]\n exit";
    let out = same(ProgType::SOCKET_FILTER, text, &Input::packet(&frame));
    assert_eq!(ran(&out).0, u32::from(IP_PROTO_UDP));
    assert_eq!(&ran(&out).1[..14], &[0; 14]);
    assert_eq!(&ran(&out).1[14..], &frame[14..]);
    let out = same(ProgType::SCHED_CLS, text, &Input::packet(&frame));
    assert_eq!(ran(&out).1, frame.as_slice());
    // LD_ABS past the end ends the program with 0.
    same(
        ProgType::SOCKET_FILTER,
        "r6 = r1\n r0 = *(u32 *)skb[200]\n r0 = 5\n exit",
        &Input::packet(&frame),
    );
}

/// Offsets and sizes of every `__sk_buff` field.
const SKB_FIELDS: &[(usize, usize)] = &[
    (0, 4),
    (4, 4),
    (8, 4),
    (12, 4),
    (16, 4),
    (20, 4),
    (24, 4),
    (28, 4),
    (32, 4),
    (36, 4),
    (40, 4),
    (44, 4),
    (48, 4),
    (64, 4),
    (68, 4),
    (72, 4),
    (76, 4),
    (80, 4),
    (84, 4),
    (88, 4),
    (92, 4),
    (96, 4),
    (100, 16),
    (116, 16),
    (132, 4),
    (136, 4),
    (140, 4),
    (144, 8),
    (152, 8),
    (160, 4),
    (164, 4),
    (168, 8),
    (176, 4),
    (180, 4),
    (184, 8),
];

#[test]
fn skb_context_in_and_out_match_the_kernel() {
    if !kernel_ok("skb_context_in_and_out_match_the_kernel") {
        return;
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_TCP, &[3; 20]);
    // Writes mark, priority, cb[1] and tc_index; returns wire_len.
    let text = "
        r2 = 77
        *(u32 *)(r1 + 8) = r2
        *(u32 *)(r1 + 32) = r2
        *(u32 *)(r1 + 52) = r2
        *(u32 *)(r1 + 44) = r2
        r0 = *(u32 *)(r1 + 160)
        exit";
    for &(off, size) in SKB_FIELDS {
        for value in [1u8, 0x40] {
            let mut ctx = vec![0u8; 192];
            ctx[off..off + size].fill(0);
            ctx[off] = value;
            for prog_type in [ProgType::SCHED_CLS, ProgType::SOCKET_FILTER] {
                let program = if prog_type == ProgType::SCHED_CLS {
                    text
                } else {
                    "r0 = *(u32 *)(r1 + 0)\n exit"
                };
                same(
                    prog_type,
                    program,
                    &Input::packet(&frame).with_ctx(ctx.clone()),
                );
            }
        }
    }
    let len = frame.len() as u32;
    for wire_len in [len - 1, len, len + 100, 65536, 65537] {
        let mut ctx = vec![0u8; 192];
        ctx[160..164].copy_from_slice(&wire_len.to_ne_bytes());
        same(
            ProgType::SCHED_CLS,
            text,
            &Input::packet(&frame).with_ctx(ctx),
        );
    }
    for gso_segs in [1u32, 65535, 65536] {
        let mut ctx = vec![0u8; 192];
        ctx[164..168].copy_from_slice(&gso_segs.to_ne_bytes());
        same(
            ProgType::SCHED_CLS,
            text,
            &Input::packet(&frame).with_ctx(ctx),
        );
    }
    let mut long = vec![0u8; 200];
    same(
        ProgType::SCHED_CLS,
        text,
        &Input::packet(&frame).with_ctx(long.clone()),
    );
    long[199] = 1;
    same(
        ProgType::SCHED_CLS,
        text,
        &Input::packet(&frame).with_ctx(long),
    );
    // Writes to the other writable fields: queue_mapping, tc_classid, tstamp.
    let more = "
        r2 = 3
        *(u32 *)(r1 + 12) = r2
        *(u32 *)(r1 + 72) = r2
        r2 = 123456789 ll
        *(u64 *)(r1 + 152) = r2
        r0 = *(u32 *)(r1 + 12)
        exit";
    let mut ctx = vec![0u8; 192];
    ctx[152] = 5;
    for input in [Input::packet(&frame), Input::packet(&frame).with_ctx(ctx)] {
        same(ProgType::SCHED_CLS, more, &input);
    }
    // The program's writes to mark and priority and cb come back.
    let out = same(
        ProgType::SCHED_CLS,
        text,
        &Input::packet(&frame).with_ctx(vec![0; 192]),
    );
    assert_eq!(ran(&out).2[8..12], 77u32.to_ne_bytes());
}

/// `r0 = helper(ctx, args...)`, with `setup` run first (it may put data
/// on the stack) and `after` run with the result in `r0`.
fn call_program(setup: &str, helper: u32, args: &[u64], after: &str) -> String {
    let mut text = format!("r6 = r1\n{setup}\n r1 = r6\n");
    for (i, arg) in args.iter().enumerate() {
        text.push_str(&format!(" r{} = {:#x} ll\n", i + 2, arg));
    }
    text.push_str(&format!(" call {helper}\n{after}\n exit"));
    text
}

/// The stack address `r10 - 8` as an argument placeholder: programs built
/// by [`stack_call`] pass it in the register of the argument marked `STACK`.
const STACK: u64 = u64::MAX - 0x5eed;

/// Like [`call_program`] with `bytes` (at most 8) stored at `r10 - 8` and
/// the argument equal to [`STACK`] pointing there.
fn stack_call(bytes: u64, helper: u32, args: &[u64], after: &str) -> String {
    let mut text = format!("r6 = r1\n r2 = {bytes:#x} ll\n *(u64 *)(r10 - 8) = r2\n r1 = r6\n");
    for (i, arg) in args.iter().enumerate() {
        if *arg == STACK {
            text.push_str(&format!(" r{} = r10\n r{} += -8\n", i + 2, i + 2));
        } else {
            text.push_str(&format!(" r{} = {:#x} ll\n", i + 2, arg));
        }
    }
    text.push_str(&format!(" call {helper}\n{after}\n exit"));
    text
}

const SKB_STORE_BYTES: u32 = 9;
const L3_CSUM_REPLACE: u32 = 10;
const L4_CSUM_REPLACE: u32 = 11;
const SKB_LOAD_BYTES: u32 = 26;
const SKB_LOAD_BYTES_RELATIVE: u32 = 68;
const CSUM_DIFF: u32 = 28;

#[test]
fn skb_store_and_load_bytes_match_the_kernel() {
    if !kernel_ok("skb_store_and_load_bytes_match_the_kernel") {
        return;
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_TCP, &[9; 16]);
    let len = frame.len() as u64;
    for (offset, flags) in [
        (30, 0),
        (30, 1),
        (30, 2),
        (30, 3),
        (30, 4),
        (len - 4, 0),
        (len - 3, 0),
        (0x8000_0000, 0),
    ] {
        let text = stack_call(0x1122_3344, SKB_STORE_BYTES, &[offset, STACK, 4, flags], "");
        same(ProgType::SCHED_CLS, &text, &Input::packet(&frame));
    }
    let load = "if r0 != 0 goto +1\n r0 = *(u32 *)(r10 - 8)";
    for offset in [0, 12, len - 18, len - 14, len - 4, len - 3, 0x8000_0000] {
        let text = stack_call(0, SKB_LOAD_BYTES, &[offset, STACK, 4], load);
        for prog_type in [ProgType::SCHED_CLS, ProgType::SOCKET_FILTER] {
            same(prog_type, &text, &Input::packet(&frame));
        }
        for base in [0, 1, 2] {
            let text = stack_call(0, SKB_LOAD_BYTES_RELATIVE, &[offset, STACK, 4, base], load);
            for prog_type in [ProgType::SCHED_CLS, ProgType::SOCKET_FILTER] {
                same(prog_type, &text, &Input::packet(&frame));
            }
        }
    }
}

const BPF_F_PSEUDO_HDR: u64 = 1 << 4;
const BPF_F_MARK_MANGLED_0: u64 = 1 << 5;

/// A native-endian load of `bytes`, as a program's `*(u32 *)` gives it.
fn ne32(bytes: [u8; 4]) -> u64 {
    u64::from(u32::from_ne_bytes(bytes))
}

#[test]
fn checksum_replacement_matches_the_kernel_and_verifies() {
    if !kernel_ok("checksum_replacement_matches_the_kernel_and_verifies") {
        return;
    }
    let (old, new) = (ne32([10, 0, 0, 2]), ne32([10, 0, 0, 99]));
    // Rewrite the destination address, then fix the IP and L4 checksums.
    for (proto, l4_csum) in [(IP_PROTO_TCP, 50u64), (IP_PROTO_UDP, 40)] {
        let frame = ipv4_frame(LOOPBACK_MAC, proto, b"payload!");
        let fix = format!(
            " r1 = r6\n r2 = 24\n r3 = {old:#x} ll\n r4 = {new:#x} ll\n r5 = 4\n call {L3_CSUM_REPLACE}
              r1 = r6\n r2 = {l4_csum}\n r3 = {old:#x} ll\n r4 = {new:#x} ll\n r5 = {flags}\n call {L4_CSUM_REPLACE}",
            flags = BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4
        );
        let text = stack_call(new, SKB_STORE_BYTES, &[30, STACK, 4, 0], &fix);
        let out = same(ProgType::SCHED_CLS, &text, &Input::packet(&frame));
        let data = ran(&out).1;
        assert_eq!(&data[30..34], &[10, 0, 0, 99]);
        assert!(checksums_verify(data), "checksums verify after the fix-up");
        // The same through bpf_csum_diff and from = 0.
        let by_diff = format!(
            " r1 = r10\n r1 += -8\n r2 = 4\n r3 = r10\n r3 += -16\n r4 = 4\n r5 = 0\n call {CSUM_DIFF}
              r7 = r0
              r1 = r6\n r2 = 24\n r3 = 0\n r4 = r7\n r5 = 0\n call {L3_CSUM_REPLACE}
              r1 = r6\n r2 = {l4_csum}\n r3 = 0\n r4 = r7\n r5 = {BPF_F_PSEUDO_HDR}\n call {L4_CSUM_REPLACE}"
        );
        let text = format!(
            "r6 = r1\n r2 = {old:#x} ll\n *(u64 *)(r10 - 8) = r2\n r2 = {new:#x} ll\n *(u64 *)(r10 - 16) = r2
             r1 = r6\n r2 = 30\n r3 = r10\n r3 += -16\n r4 = 4\n r5 = 0\n call {SKB_STORE_BYTES}
             {by_diff}\n exit"
        );
        let out = same(ProgType::SCHED_CLS, &text, &Input::packet(&frame));
        assert!(
            checksums_verify(ran(&out).1),
            "checksums verify after csum_diff"
        );
        // A 16-bit field: the source port.
        let (old_port, new_port) = (
            u64::from(u16::from_ne_bytes(1234u16.to_be_bytes())),
            u64::from(u16::from_ne_bytes(4321u16.to_be_bytes())),
        );
        let fix = format!(
            " r1 = r6\n r2 = {l4_csum}\n r3 = {old_port:#x}\n r4 = {new_port:#x}\n r5 = 2\n call {L4_CSUM_REPLACE}"
        );
        let text = stack_call(new_port, SKB_STORE_BYTES, &[34, STACK, 2, 0], &fix);
        let out = same(ProgType::SCHED_CLS, &text, &Input::packet(&frame));
        assert!(
            checksums_verify(ran(&out).1),
            "checksums verify after the port change"
        );
    }
    // Refusals: odd or out-of-packet offsets, bad sizes and flags.
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, &[]);
    let len = frame.len() as u64;
    for (helper, offset, from, flags) in [
        (L3_CSUM_REPLACE, 25, old, 4),
        (L3_CSUM_REPLACE, len - 1, old, 4),
        (L3_CSUM_REPLACE, len - 2, old, 4),
        (L3_CSUM_REPLACE, 0x10000, old, 4),
        (L3_CSUM_REPLACE, 24, old, 3),
        (L3_CSUM_REPLACE, 24, old, 0),
        (L3_CSUM_REPLACE, 24, old, BPF_F_PSEUDO_HDR | 4),
        (L4_CSUM_REPLACE, 40, old, 0x100 | 4),
        (L4_CSUM_REPLACE, 40, old, 0x80 | 4),
        (L4_CSUM_REPLACE, 40, 0, 0x40 | BPF_F_MARK_MANGLED_0),
        (L4_CSUM_REPLACE, 41, old, 4),
    ] {
        let text = call_program("", helper, &[offset, from, new, flags], "");
        same(ProgType::SCHED_CLS, &text, &Input::packet(&frame));
    }
    // csum_update: test-run skbs carry no CHECKSUM_COMPLETE sum.
    let out = same(
        ProgType::SCHED_CLS,
        &call_program("", 40, &[7], ""),
        &Input::packet(&frame),
    );
    assert_eq!(ran(&out).0 as i32, -524);
}

const SKB_VLAN_PUSH: u32 = 18;
const SKB_VLAN_POP: u32 = 19;

/// `vlan_present << 16 | vlan_tci`, then `protocol << 32`... as one u32:
/// `present << 31 | proto_low_byte << 16 | tci`.
const VLAN_STATE: &str = "
    if r0 != 0 goto +8
    r0 = *(u32 *)(r6 + 20)
    r0 <<= 31
    r2 = *(u32 *)(r6 + 24)
    r0 |= r2
    r2 = *(u32 *)(r6 + 16)
    r2 &= 0xff00
    r2 <<= 8
    r0 |= r2";

/// `frame` with an 802.1Q tag (TCI `tci`) after the MAC addresses.
fn tagged(frame: &[u8], tpid: u16, tci: u16) -> Vec<u8> {
    let mut out = frame[..12].to_vec();
    out.extend_from_slice(&tpid.to_be_bytes());
    out.extend_from_slice(&tci.to_be_bytes());
    out.extend_from_slice(&frame[12..]);
    out
}

fn be16_arg(value: u16) -> u64 {
    u64::from(u16::from_ne_bytes(value.to_be_bytes()))
}

#[test]
fn vlan_push_and_pop_match_the_kernel() {
    if !kernel_ok("vlan_push_and_pop_match_the_kernel") {
        return;
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, b"vlan");
    let single = tagged(&frame, 0x8100, 0x0123);
    let double = tagged(&single, 0x88a8, 0x0456);
    for proto in [0x8100u16, 0x88a8, 0x1234] {
        let push = call_program("", SKB_VLAN_PUSH, &[be16_arg(proto), 5], VLAN_STATE);
        let out = same(ProgType::SCHED_CLS, &push, &Input::packet(&frame));
        assert_eq!(ran(&out).0 & 0x8000_0fff, 0x8000_0005);
        // A second push moves the first tag into the packet.
        let twice = format!(
            "r6 = r1\n r2 = {:#x}\n r3 = 5\n call {SKB_VLAN_PUSH}\n r1 = r6\n r2 = {:#x}\n r3 = 7\n call {SKB_VLAN_PUSH}\n{VLAN_STATE}\n exit",
            be16_arg(0x8100),
            be16_arg(proto)
        );
        let out = same(ProgType::SCHED_CLS, &twice, &Input::packet(&frame));
        assert_eq!(ran(&out).1.len(), frame.len() + 4);
    }
    let pop = call_program("", SKB_VLAN_POP, &[], VLAN_STATE);
    for input in [&frame, &single, &double] {
        same(ProgType::SCHED_CLS, &pop, &Input::packet(input));
    }
    let out = same(ProgType::SCHED_CLS, &pop, &Input::packet(&single));
    assert_eq!(ran(&out).1, frame.as_slice(), "the tag is gone");
    // Push then pop restores the packet's out-of-band state only.
    let push_pop = format!(
        "r6 = r1\n r2 = {:#x}\n r3 = 9\n call {SKB_VLAN_PUSH}\n r1 = r6\n call {SKB_VLAN_POP}\n{VLAN_STATE}\n exit",
        be16_arg(0x8100)
    );
    same(ProgType::SCHED_CLS, &push_pop, &Input::packet(&single));
}

const SKB_CHANGE_PROTO: u32 = 31;
const SKB_CHANGE_TYPE: u32 = 32;
const GET_HASH_RECALC: u32 = 34;
const SKB_CHANGE_TAIL: u32 = 38;
const SKB_PULL_DATA: u32 = 39;
const SKB_CHANGE_HEAD: u32 = 43;
const SET_HASH: u32 = 48;
const SKB_ADJUST_ROOM: u32 = 50;
const CLONE_REDIRECT: u32 = 13;
const REDIRECT: u32 = 23;

/// Returns `r0` if non-zero, else `skb->len`.
const LEN_AFTER: &str = "if r0 != 0 goto +1\n r0 = *(u32 *)(r6 + 0)";

/// An Ethernet + IPv6 + UDP frame (checksum left zero).
fn ipv6_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    let udp_len = (8 + payload.len()) as u16;
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[17, 64]);
    f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    f.extend_from_slice(&[0x04, 0xd2, 0, 80]);
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

#[test]
fn skb_room_and_length_changes_match_the_kernel() {
    if !kernel_ok("skb_room_and_length_changes_match_the_kernel") {
        return;
    }
    let v4 = ipv4_frame(LOOPBACK_MAC, IP_PROTO_TCP, &[0xab; 24]);
    let v6 = ipv6_frame(&[0xcd; 24]);
    let mut arp = v4.clone();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    let len = v4.len() as u64;
    for (new_len, flags) in [
        (len + 10, 0),
        (len - 10, 0),
        (14, 0),
        (13, 0),
        (16064, 0),
        (16065, 0),
        (len, 1),
    ] {
        let text = call_program("", SKB_CHANGE_TAIL, &[new_len, flags], LEN_AFTER);
        same(ProgType::SCHED_CLS, &text, &Input::packet(&v4));
    }
    // Shrinking then growing uncovers the bytes cut off.
    let text = format!(
        "r6 = r1\n r2 = {}\n r3 = 0\n call {SKB_CHANGE_TAIL}\n r1 = r6\n r2 = {len}\n r3 = 0\n call {SKB_CHANGE_TAIL}\n exit",
        len - 10
    );
    same(ProgType::SCHED_CLS, &text, &Input::packet(&v4));
    for (proto, flags) in [(0x86ddu16, 0), (0x0800, 0), (0x86dd, 1), (0x8100, 0)] {
        let text = call_program("", SKB_CHANGE_PROTO, &[be16_arg(proto), flags], LEN_AFTER);
        for frame in [&v4, &v6, &arp] {
            same(ProgType::SCHED_CLS, &text, &Input::packet(frame));
        }
    }
    for (diff, mode, flags) in [
        (8i64, 0u64, 0u64),
        (4, 1, 0),
        (-8, 0, 0),
        (-4, 1, 0),
        (8, 0, 32),
        (8, 0, 1),
        (0x1000, 0, 0),
        (0xfff, 0, 0),
        (8, 2, 0),
        (8, 0, 1 << 20),
        (-30, 0, 0),
        (-(len as i64), 1, 0),
    ] {
        let text = call_program("", SKB_ADJUST_ROOM, &[diff as u64, mode, flags], LEN_AFTER);
        for frame in [&v4, &v6, &arp] {
            same(ProgType::SCHED_CLS, &text, &Input::packet(frame));
        }
    }
    for pull in [0, 20, len, len + 1] {
        let text = call_program("", SKB_PULL_DATA, &[pull], LEN_AFTER);
        same(ProgType::SCHED_CLS, &text, &Input::packet(&v4));
    }
    for head in [0, 14, 100, 16064] {
        let text = call_program("", SKB_CHANGE_HEAD, &[head, 0], LEN_AFTER);
        same(ProgType::SCHED_CLS, &text, &Input::packet(&v4));
    }
}

#[test]
fn pkt_type_hash_and_redirect_helpers_match_the_kernel() {
    if !kernel_ok("pkt_type_hash_and_redirect_helpers_match_the_kernel") {
        return;
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, b"h");
    let pkt_type = "if r0 != 0 goto +1\n r0 = *(u32 *)(r6 + 4)";
    for value in [0, 1, 3, 4, 7] {
        let text = call_program("", SKB_CHANGE_TYPE, &[value], pkt_type);
        same(ProgType::SCHED_CLS, &text, &Input::packet(&frame));
    }
    // set_hash, then both the field and get_hash_recalc give it back.
    let text = format!(
        "r6 = r1\n r2 = 0x1234\n call {SET_HASH}\n r1 = r6\n call {GET_HASH_RECALC}\n r7 = *(u32 *)(r6 + 68)\n if r0 != r7 goto +1\n r0 = r7\n exit"
    );
    let out = same(ProgType::SCHED_CLS, &text, &Input::packet(&frame));
    assert_eq!(ran(&out).0, 0x1234);
    // The flow hash is keyed randomly in both; it is stable and non-zero.
    let recalc = format!(
        "r6 = r1\n call {GET_HASH_RECALC}\n r7 = r0\n r1 = r6\n call {GET_HASH_RECALC}\n r0 = 0\n if r7 == 0 goto +3\n r8 = *(u32 *)(r6 + 68)\n if r7 != r8 goto +1\n r0 = 1\n exit"
    );
    let out = same(ProgType::SCHED_CLS, &recalc, &Input::packet(&frame));
    assert_eq!(ran(&out).0, 1);
    for (ifindex, flags) in [(1, 0), (1, 1), (1, 2), (0, 0)] {
        for helper in [CLONE_REDIRECT, REDIRECT] {
            let text = call_program("", helper, &[ifindex, flags], "");
            same(ProgType::SCHED_CLS, &text, &Input::packet(&frame));
        }
    }
}

/// Runs a context-only program (raw tracepoint, syscall) in the kernel
/// without asking for `ctx_out`, which those types refuse.
fn kernel_context_run(prog_type: ProgType, text: &str, input: &Input) -> Outcome {
    let insns = slots_to_bytes(&code(text));
    let loaded = ProgFd::load(&ProgLoadAttrs {
        prog_type,
        insns: &insns,
        license: "GPL",
        name: "t",
        // Syscall programs must be sleepable.
        prog_flags: if prog_type == ProgType::SYSCALL {
            apiary_kernel::types::prog_flags::SLEEPABLE
        } else {
            0
        },
        ..ProgLoadAttrs::default()
    })
    .unwrap_or_else(|e| panic!("the kernel refused the program: {e}\n{text}"));
    let attrs = TestRunAttrs {
        data_in: input.data.as_deref().unwrap_or_default(),
        ctx_in: input.ctx.as_deref().unwrap_or_default(),
        repeat: input.repeat,
        ..TestRunAttrs::default()
    };
    match loaded.prog.test_run(&attrs) {
        Ok(out) => Outcome::Ran {
            retval: out.retval,
            data_out: Vec::new(),
            ctx_out: Vec::new(),
        },
        Err(e) if e.errno().is_some() => Outcome::Refused,
        Err(e) => panic!("kernel test-run failed: {e}"),
    }
}

#[test]
fn raw_tracepoint_and_syscall_rules_match_the_kernel() {
    if !kernel_ok("raw_tracepoint_and_syscall_rules_match_the_kernel") {
        return;
    }
    // Reads argument 1 (bytes 8..16): the context must cover it.
    let text = "r0 = *(u64 *)(r1 + 8)\n exit";
    let args: Vec<u8> = [5u64, 42, 7].iter().flat_map(|v| v.to_ne_bytes()).collect();
    let cases = [
        Input::default().with_ctx(args.clone()),
        Input::default().with_ctx(args[..16].to_vec()),
        Input::default().with_ctx(args[..8].to_vec()),
        Input::default().with_ctx(vec![0; 96]),
        Input::default().with_ctx(vec![0; 104]),
        Input {
            repeat: 2,
            ..Input::default().with_ctx(args.clone())
        },
        Input {
            data: Some(vec![0; 20]),
            ..Input::default().with_ctx(args.clone())
        },
    ];
    for input in &cases {
        for prog_type in [ProgType::RAW_TRACEPOINT, ProgType::SYSCALL] {
            let apiary = apiary_run(prog_type, text, input);
            let apiary = match apiary {
                Outcome::Ran { retval, .. } => Outcome::Ran {
                    retval,
                    data_out: Vec::new(),
                    ctx_out: Vec::new(),
                },
                refused => refused,
            };
            assert_eq!(
                apiary,
                kernel_context_run(prog_type, text, input),
                "{prog_type} {input:?}"
            );
        }
    }
    assert_eq!(
        ran(&apiary_run(ProgType::RAW_TRACEPOINT, text, &cases[0])).0,
        42
    );
}

#[test]
fn syscall_programs_write_their_context_back() {
    let rt = Runtime::new(1);
    let prog = rt
        .load_program(
            "s",
            ProgType::SYSCALL,
            &code("r2 = *(u32 *)(r1 + 0)\n r2 += 1\n *(u32 *)(r1 + 4) = r2\n r0 = 3\n exit"),
            &[],
        )
        .unwrap();
    let ctx = [9u8, 0, 0, 0, 0, 0, 0, 0];
    let out = rt
        .test_run(
            &mut Runner::new(),
            prog,
            &TestRunInput {
                ctx_in: Some(&ctx),
                ..TestRunInput::default()
            },
        )
        .unwrap();
    assert_eq!(out.retval, 3);
    assert_eq!(out.ctx_out, Some(vec![9, 0, 0, 0, 10, 0, 0, 0]));
}

#[test]
fn kprobe_contexts_are_accepted_read_only() {
    let rt = Runtime::new(1);
    // pt_regs->di (offset 112 on x86-64) is the first argument.
    let read = rt
        .load_program(
            "k",
            ProgType::KPROBE,
            &code("r0 = *(u64 *)(r1 + 112)\n exit"),
            &[],
        )
        .unwrap();
    let mut regs = vec![0u8; 168];
    regs[112..120].copy_from_slice(&1234u64.to_ne_bytes());
    let input = TestRunInput {
        ctx_in: Some(&regs),
        ..TestRunInput::default()
    };
    let out = rt.test_run(&mut Runner::new(), read, &input).unwrap();
    assert_eq!(out.retval, 1234);
    assert_eq!(out.ctx_out.as_deref(), Some(regs.as_slice()));
    let packet = TestRunInput {
        data_in: Some(&[0; 20]),
        ..input.clone()
    };
    assert!(matches!(
        rt.test_run(&mut Runner::new(), read, &packet),
        Err(TestRunError::Invalid { .. })
    ));
}

#[test]
fn perf_event_output_appends_packet_bytes() {
    use apiary_maps::{MapDef, MapType};
    let rt = Runtime::new(1);
    let perf = rt
        .create_map(MapDef::new(MapType::PerfEventArray, 4, 4, 1).with_name("events"))
        .unwrap();
    rt.map(perf).unwrap().perf_open(0, 0, 4096).unwrap();
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, b"perf");
    let output = |ctx_len: u64| {
        let flags = 0xffff_ffff | (ctx_len << 32);
        let text = format!(
            "r6 = r1
             r2 = 0x0807060504030201 ll
             *(u64 *)(r10 - 8) = r2
             r1 = r6
             ld_pseudo r2, 5, 0
             r3 = {flags:#x} ll
             r4 = r10
             r4 += -8
             r5 = 8
             call 25
             exit"
        );
        run_frame(&rt, ProgType::SCHED_CLS, &text, &[perf], &frame).retval as i32
    };
    assert_eq!(output(20), 0);
    let record = rt.map(perf).unwrap().perf_read(0).unwrap();
    let mut expected = vec![1, 2, 3, 4, 5, 6, 7, 8];
    expected.extend_from_slice(&frame[..20]);
    assert_eq!(record, Some(apiary_maps::PerfRecord::Sample(expected)));
    assert_eq!(
        output(frame.len() as u64 + 1),
        -14,
        "EFAULT past the packet"
    );
}

#[test]
fn map_in_map_lookup_gives_a_usable_inner_map() {
    use apiary_maps::{MapDef, MapType};
    let rt = Runtime::new(1);
    let inner = rt
        .create_map(MapDef::new(MapType::Array, 4, 8, 1).with_name("inner"))
        .unwrap();
    rt.map(inner)
        .unwrap()
        .sys_update(&0u32.to_ne_bytes(), &99u64.to_ne_bytes(), 0)
        .unwrap();
    let mut outer_def = MapDef::new(MapType::ArrayOfMaps, 4, 4, 1).with_name("outer");
    outer_def.inner = Some(Box::new(MapDef::new(MapType::Array, 4, 8, 1)));
    let outer = rt.create_map(outer_def).unwrap();
    rt.map(outer)
        .unwrap()
        .sys_update(&0u32.to_ne_bytes(), &inner.0.to_ne_bytes(), 0)
        .unwrap();
    let text = "
        r2 = 0
        *(u32 *)(r10 - 4) = r2
        ld_pseudo r1, 5, 0
        r2 = r10
        r2 += -4
        call 1
        if r0 == 0 goto out
        r1 = r0
        r2 = r10
        r2 += -4
        call 1
        if r0 == 0 goto out
        r0 = *(u64 *)(r0 + 0)
    out:
        exit";
    let prog = rt
        .load_program("m", ProgType::SYSCALL, &code(text), &[outer])
        .unwrap();
    let out = rt
        .test_run(&mut Runner::new(), prog, &TestRunInput::default())
        .unwrap();
    assert_eq!(out.retval, 99);
}

/// Looks up 10.1.2.3 (tot_len `tot_len`) with `flags`; returns
/// `result | ifindex << 8 | dmac[5] << 16 | dst[3] << 24` from the params.
fn fib_program(tot_len: u16, flags: u32) -> String {
    let dst = u32::from_ne_bytes([10, 1, 2, 3]);
    let mut text = String::from("r6 = r1\n r2 = 0\n");
    for off in (8..=64).step_by(8) {
        text.push_str(&format!(" *(u64 *)(r10 - {off}) = r2\n"));
    }
    text.push_str(&format!(
        " r2 = 2
          *(u8 *)(r10 - 64) = r2
          r2 = {tot_len}
          *(u16 *)(r10 - 58) = r2
          r2 = 1
          *(u32 *)(r10 - 56) = r2
          r2 = {dst:#x} ll
          *(u32 *)(r10 - 32) = r2
          r1 = r6
          r2 = r10
          r2 += -64
          r3 = 64
          r4 = {flags}
          call 69
          r2 = *(u32 *)(r10 - 56)
          r2 <<= 8
          r0 |= r2
          r2 = *(u8 *)(r10 - 1)
          r2 <<= 16
          r0 |= r2
          r2 = *(u8 *)(r10 - 29)
          r2 <<= 24
          r0 |= r2
          exit"
    ));
    text
}

#[test]
fn fib_lookup_uses_the_supplied_routes() {
    use apiary_runtime::{Route, RouteKind};
    use std::net::{IpAddr, Ipv4Addr};
    let rt = Runtime::new(1);
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, &[0; 100]);
    let run = |text: &str| run_frame(&rt, ProgType::XDP, text, &[], &frame).retval;
    // No routes: not forwarded, params untouched.
    assert_eq!(run(&fib_program(0, 0)), 4 | 1 << 8 | 3 << 24);
    let route = |prefix: [u8; 4], len: u8, ifindex: u32| Route {
        destination: IpAddr::V4(Ipv4Addr::from(prefix)),
        prefix_len: len,
        kind: RouteKind::Unicast,
        ifindex,
        gateway: Some(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 254))),
        source: None,
        mtu: 1500,
        smac: [2, 0, 0, 0, 0, 1],
        dmac: Some([2, 0, 0, 0, 0, 0x42]),
    };
    rt.set_routes(vec![
        route([10, 0, 0, 0], 8, 5),
        route([10, 1, 0, 0], 16, 6),
        route([10, 1, 2, 0], 25, 7),
        route([10, 1, 2, 128], 25, 8),
    ]);
    // Longest prefix: 10.1.2.0/25 on ifindex 7, via 10.1.0.254.
    assert_eq!(run(&fib_program(0, 0)), 7 << 8 | 0x42 << 16 | 254 << 24);
    assert_eq!(run(&fib_program(1501, 0)) & 0xff, 8, "FRAG_NEEDED");
    assert_eq!(run(&fib_program(0, 16)) & 0xff, 9, "NO_SRC_ADDR");
    assert_eq!(run(&fib_program(0, 64)) as i32, -22, "unknown flag");
    assert_eq!(run(&fib_program(0, 8)) as i32, -22, "TBID without DIRECT");
    rt.set_routes(vec![Route {
        kind: RouteKind::Blackhole,
        ..route([10, 0, 0, 0], 8, 5)
    }]);
    assert_eq!(run(&fib_program(0, 0)) & 0xff, 1, "BLACKHOLE");
    rt.set_routes(vec![Route {
        dmac: None,
        ..route([10, 0, 0, 0], 8, 5)
    }]);
    assert_eq!(run(&fib_program(0, 0)) & 0xff, 7, "NO_NEIGH");
    assert_eq!(run(&fib_program(0, 4)) & 0xff, 0, "SKIP_NEIGH");
}

#[test]
fn a_run_keeps_a_bounded_number_of_events() {
    let rt = Runtime::new(1);
    // bpf_loop(100000, cb): each callback redirects (an event per call).
    let text = "
        r1 = 100000
        ld_pseudo r2, 4, cb
        r3 = 0
        r4 = 0
        call 181
        r0 = 2
        exit
    cb:
        r1 = 3
        r2 = 0
        call 23
        r0 = 0
        exit";
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, &[]);
    let out = run_frame(&rt, ProgType::XDP, text, &[], &frame);
    assert_eq!(out.events.len(), apiary_runtime::MAX_EVENTS);
}

#[test]
fn redirect_map_reports_the_devmap_and_cpumap_target() {
    use apiary_maps::{MapDef, MapType, RedirectTarget};
    let rt = Runtime::new(2);
    let devmap = rt
        .create_map(MapDef::new(MapType::Devmap, 4, 4, 4).with_name("ports"))
        .unwrap();
    rt.map(devmap)
        .unwrap()
        .sys_update(&2u32.to_ne_bytes(), &9u32.to_ne_bytes(), 0)
        .unwrap();
    let cpumap = rt
        .create_map(MapDef::new(MapType::Cpumap, 4, 4, 2).with_name("cpus"))
        .unwrap();
    rt.map(cpumap)
        .unwrap()
        .sys_update(&1u32.to_ne_bytes(), &64u32.to_ne_bytes(), 0)
        .unwrap();
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, &[]);
    // bpf_redirect_map(map, key, XDP_PASS as the fallback action)
    let redirect = |key: u32| format!("ld_pseudo r1, 5, 0\n r2 = {key}\n r3 = 2\n call 51\n exit");
    let out = run_frame(&rt, ProgType::XDP, &redirect(2), &[devmap], &frame);
    assert_eq!(out.retval, 4, "XDP_REDIRECT");
    assert_eq!(
        out.events,
        vec![Event::RedirectMap {
            map: devmap,
            key: 2,
            target: RedirectTarget::Device {
                ifindex: 9,
                prog_id: 0
            }
        }]
    );
    let out = run_frame(&rt, ProgType::XDP, &redirect(3), &[devmap], &frame);
    assert_eq!(
        (out.retval, out.events.len()),
        (2, 0),
        "empty slot: fallback"
    );
    let out = run_frame(&rt, ProgType::XDP, &redirect(1), &[cpumap], &frame);
    assert_eq!(
        out.events,
        vec![Event::RedirectMap {
            map: cpumap,
            key: 1,
            target: RedirectTarget::Cpu {
                cpu: 1,
                qsize: 64,
                prog_id: 0
            }
        }]
    );
}

/// `frame` (IPv4) with TOS `tos` and a recomputed header checksum.
fn with_tos(frame: &[u8], tos: u8) -> Vec<u8> {
    let mut out = frame.to_vec();
    out[15] = tos;
    out[24..26].fill(0);
    let sum = inet_checksum(&out[14..34]);
    out[24..26].copy_from_slice(&sum.to_be_bytes());
    out
}

#[test]
fn packet_metadata_helpers_match_the_kernel() {
    if !kernel_ok("packet_metadata_helpers_match_the_kernel") {
        return;
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_TCP, b"meta");
    // csum_level: sequences of INC/DEC/RESET, then QUERY.
    for levels in [
        &[][..],
        &[1],
        &[1, 1],
        &[1, 1, 1, 1, 1],
        &[1, 2],
        &[1, 2, 2],
        &[1, 3],
        &[7],
    ] {
        let mut text = String::from("r6 = r1\n r0 = 0\n");
        for level in levels {
            text.push_str(&format!(" r1 = r6\n r2 = {level}\n call 135\n"));
        }
        text.push_str(" if r0 != 0 goto +3\n r1 = r6\n r2 = 0\n call 135\n exit");
        same(ProgType::SCHED_CLS, &text, &Input::packet(&frame));
    }
    // ECN: every IPv4 ECN codepoint (with DSCP bits), and IPv6.
    let ecn = call_program("", 97, &[], "");
    for tos in [0u8, 1, 2, 3, 0xb8, 0xb9, 0xba, 0xbb] {
        let out = same(
            ProgType::SCHED_CLS,
            &ecn,
            &Input::packet(&with_tos(&frame, tos)),
        );
        assert!(checksums_verify(ran(&out).1), "tos {tos:#x}");
    }
    let v6 = ipv6_frame(b"ecn");
    for traffic_class in [0u8, 1, 2, 3] {
        let mut frame = v6.clone();
        frame[15] |= traffic_class << 4;
        same(ProgType::SCHED_CLS, &ecn, &Input::packet(&frame));
    }
    for helper in [17, 24] {
        same(
            ProgType::SCHED_CLS,
            &call_program("", helper, &[], ""),
            &Input::packet(&frame),
        );
    }
    // check_mtu on the loopback: ifindex 0 and 1, given lengths and deltas.
    for (ifindex, mtu_len, diff, flags) in [
        (0u64, 0u32, 0i64, 0u64),
        (1, 0, 0, 0),
        (0, 1500, 0, 0),
        (0, 65536, 0, 0),
        (0, 65537, 0, 0),
        (0, 0, 65536, 0),
        (0, 0, -100, 0),
        (0, 0, 0, 1),
        (0, 100, 0, 1),
        (0, 0, 0, 2),
    ] {
        let text = format!(
            "r6 = r1\n r2 = {mtu_len}\n *(u32 *)(r10 - 4) = r2\n r1 = r6\n r2 = {ifindex}\n r3 = r10\n r3 += -4\n r4 = {:#x} ll\n r5 = {flags}\n call 163\n r2 = *(u32 *)(r10 - 4)\n r2 <<= 4\n r0 |= r2\n exit",
            diff as u64
        );
        for prog_type in [ProgType::SCHED_CLS, ProgType::XDP] {
            same(prog_type, &text, &Input::packet(&frame));
        }
    }
    for (ifindex, plen, flags) in [(1u64, 0u64, 0u64), (1, 0, 1), (1, 8, 0)] {
        let text = format!(
            "r1 = {ifindex}\n r2 = r10\n r2 += -24\n r3 = 0\n *(u64 *)(r10 - 8) = r3\n *(u64 *)(r10 - 16) = r3\n *(u64 *)(r10 - 24) = r3\n r3 = {plen}\n r4 = {flags}\n call 152\n exit"
        );
        same(ProgType::SCHED_CLS, &text, &Input::packet(&frame));
    }
    for flags in [0u64, 1] {
        let text = format!("r1 = 1\n r2 = {flags}\n call 155\n exit");
        same(ProgType::SCHED_CLS, &text, &Input::packet(&frame));
    }
    // set_tstamp, then the tstamp and tstamp_type fields.
    let mut arp = frame.clone();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    for (tstamp, clock) in [
        (1000u64, 0u64),
        (0, 0),
        (5000, 1),
        (0, 1),
        (7000, 2),
        (7000, 3),
    ] {
        let after =
            "if r0 != 0 goto +3\n r0 = *(u64 *)(r6 + 152)\n r2 = *(u8 *)(r6 + 180)\n r0 += r2";
        let text = call_program("", 192, &[tstamp, clock], after);
        for input in [&frame, &arp] {
            same(ProgType::SCHED_CLS, &text, &Input::packet(input));
        }
    }
}

/// `BPF_F_TEST_SKB_CHECKSUM_COMPLETE`.
const CHECKSUM_COMPLETE: u32 = 4;

#[test]
fn checksum_complete_tracking_matches_the_kernel() {
    if !kernel_ok("checksum_complete_tracking_matches_the_kernel") {
        return;
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, b"complete checksum!");
    let tagged = tagged(&frame, 0x8100, 7);
    let complete = |data: &[u8]| Input {
        flags: CHECKSUM_COMPLETE,
        ..Input::packet(data)
    };
    let (old, new) = (ne32([10, 0, 0, 2]), ne32([10, 0, 0, 99]));
    let mut programs = vec![
        "r0 = 0\n exit".to_string(),
        // Rewrites without and with BPF_F_RECOMPUTE_CSUM, even and odd offsets.
        stack_call(new, SKB_STORE_BYTES, &[30, STACK, 4, 0], ""),
        stack_call(new, SKB_STORE_BYTES, &[30, STACK, 4, 1], ""),
        stack_call(new, SKB_STORE_BYTES, &[31, STACK, 3, 1], ""),
        stack_call(new, SKB_STORE_BYTES, &[2, STACK, 4, 1], ""),
        // csum_update's raw value, undone so the final check passes, or not.
        "r6 = r1\n r2 = 0x12345\n call 40\n r7 = r0\n r1 = r6\n r2 = 0xfffedcba ll\n call 40\n r0 = r7\n exit".to_string(),
        "r6 = r1\n r2 = 0x12345\n call 40\n exit".to_string(),
        // Address rewrite with every fix-up, pseudo-header flag included.
        format!(
            "r6 = r1\n r2 = {new:#x} ll\n *(u64 *)(r10 - 8) = r2
             r1 = r6\n r2 = 30\n r3 = r10\n r3 += -8\n r4 = 4\n r5 = 1\n call {SKB_STORE_BYTES}
             r1 = r6\n r2 = 24\n r3 = {old:#x} ll\n r4 = {new:#x} ll\n r5 = 4\n call {L3_CSUM_REPLACE}
             r1 = r6\n r2 = 40\n r3 = {old:#x} ll\n r4 = {new:#x} ll\n r5 = {}\n call {L4_CSUM_REPLACE}
             exit",
            BPF_F_PSEUDO_HDR | 4
        ),
        call_program("", SKB_VLAN_POP, &[], ""),
        format!(
            "r6 = r1\n r2 = {:#x}\n r3 = 5\n call {SKB_VLAN_PUSH}\n r1 = r6\n r2 = {:#x}\n r3 = 6\n call {SKB_VLAN_PUSH}\n exit",
            be16_arg(0x8100),
            be16_arg(0x8100)
        ),
        call_program("", SKB_ADJUST_ROOM, &[8, 0, 0], ""),
        call_program("", SKB_ADJUST_ROOM, &[(-8i64) as u64, 0, 0], ""),
        call_program("", SKB_ADJUST_ROOM, &[(-8i64) as u64, 1, 0], ""),
        call_program("", SKB_CHANGE_PROTO, &[be16_arg(0x86dd), 0], ""),
        call_program("", SKB_CHANGE_TAIL, &[frame.len() as u64 + 8, 0], ""),
        call_program("", SKB_CHANGE_TAIL, &[frame.len() as u64 - 8, 0], ""),
        call_program("", 97, &[], ""),
        "r6 = r1\n r2 = 1\n call 135\n r1 = r6\n r2 = 0\n call 135\n exit".to_string(),
    ];
    programs.push(call_program("", SKB_PULL_DATA, &[0], ""));
    for text in &programs {
        for data in [&frame, &with_tos(&frame, 2), &tagged] {
            same(ProgType::SCHED_CLS, text, &complete(data));
        }
    }
    for text in ["r0 = 0\n exit", "r0 = *(u32 *)(r1 + 0)\n exit"] {
        same(ProgType::SOCKET_FILTER, text, &complete(&frame));
    }
    let v6 = ipv6_frame(b"v6");
    let mut ect = v6.clone();
    ect[15] |= 2 << 4;
    for data in [&v6, &ect] {
        same(
            ProgType::SCHED_CLS,
            &call_program("", 97, &[], ""),
            &complete(data),
        );
    }
}

const XDP_GET_BUFF_LEN: u32 = 188;
const XDP_LOAD_BYTES: u32 = 189;
const XDP_STORE_BYTES: u32 = 190;

#[test]
fn multi_buffer_xdp_frames_match_the_kernel() {
    if !kernel_ok("multi_buffer_xdp_frames_match_the_kernel") {
        return;
    }
    let frame: Vec<u8> = (0..9000u32).map(|i| (i * 7 + i / 256) as u8).collect();
    let small = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, &[0x77; 200]);
    let inputs = [
        Input::packet(&frame),
        Input::packet(&frame[..5000]),
        Input::packet(&small).with_ctx(xdp_md(0, 100, 0, 0, 0)),
        Input::packet(&small).with_ctx(xdp_md(8, 60, 0, 0, 0)),
        Input::packet(&small),
    ];
    let buff_len = call_program("", XDP_GET_BUFF_LEN, &[], "");
    let load = "if r0 != 0 goto +1\n r0 = *(u32 *)(r10 - 8)";
    let mut programs = vec![buff_len];
    for offset in [
        0u64, 90, 96, 3516, 3518, 3520, 7612, 7614, 8996, 8997, 0x10000,
    ] {
        programs.push(stack_call(0, XDP_LOAD_BYTES, &[offset, STACK, 4], load));
        programs.push(stack_call(
            0xa1b2_c3d4,
            XDP_STORE_BYTES,
            &[offset, STACK, 4],
            "",
        ));
    }
    for delta in [
        1i64, 100, 496, 497, 576, 577, -1, -100, -1480, -1500, -5000, -8986, -8987, -9000,
    ] {
        let after = format!("r1 = r6\n r6 = r0\n call {XDP_GET_BUFF_LEN}\n r0 <<= 8\n r0 |= r6");
        programs.push(call_program("", XDP_ADJUST_TAIL, &[delta as u64], &after));
    }
    for text in &programs {
        for input in &inputs {
            same(ProgType::XDP, text, input);
        }
    }
}

#[test]
fn cgroup_skb_and_lwt_programs_match_the_kernel() {
    if !kernel_ok("cgroup_skb_and_lwt_programs_match_the_kernel") {
        return;
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, b"cg");
    // 1 when byte 9 of the packet (the IPv4 protocol from the network
    // header) is UDP and len is the L3 length.
    let text = "
        r2 = *(u32 *)(r1 + 76)
        r3 = *(u32 *)(r1 + 80)
        r4 = *(u32 *)(r1 + 0)
        r0 = 0
        r5 = r2
        r5 += 10
        if r5 > r3 goto out
        r5 = *(u8 *)(r2 + 9)
        if r5 != 17 goto out
        if r4 != 30 goto out
        r0 = 1
    out:
        exit";
    for prog_type in [
        ProgType::CGROUP_SKB,
        ProgType::LWT_IN,
        ProgType::LWT_OUT,
        ProgType::LWT_XMIT,
    ] {
        let out = same(prog_type, text, &Input::packet(&frame));
        assert_eq!(ran(&out).0, 1, "{prog_type}");
    }
}

/// Classic BPF's `SKF_NET_OFF` and `SKF_LL_OFF`.
const SKF_NET_OFF: i32 = -0x10_0000;
const SKF_LL_OFF: i32 = -0x20_0000;

#[test]
fn negative_ld_abs_offsets_read_the_headers_like_the_kernel() {
    if !kernel_ok("negative_ld_abs_offsets_read_the_headers_like_the_kernel") {
        return;
    }
    let frame = ipv4_frame([0x02, 9, 8, 7, 6, 5], IP_PROTO_TCP, b"headers");
    let len = frame.len() as i32;
    let mut offsets = vec![-1, SKF_LL_OFF - 1];
    for k in [0, 6, 9, 12, 13, 16, len - 15, len - 14, len - 13, len] {
        offsets.push(SKF_NET_OFF + k);
        offsets.push(SKF_LL_OFF + k);
    }
    for off in offsets {
        for size in ["u8", "u16", "u32"] {
            let abs = format!("r6 = r1\n r0 = *({size} *)skb[{off}]\n exit");
            // LD_IND with the offset in a register.
            let ind = format!("r6 = r1\n r7 = {off}\n r0 = *({size} *)skb[r7]\n exit");
            for text in [&abs, &ind] {
                for prog_type in [ProgType::SOCKET_FILTER, ProgType::SCHED_CLS] {
                    same(prog_type, text, &Input::packet(&frame));
                }
            }
        }
    }
    // After a VLAN tag is pulled, the MAC header moves with the packet.
    let tagged = tagged(&frame, 0x8100, 3);
    let text = format!(
        "r6 = r1\n call {SKB_VLAN_POP}\n r0 = *(u16 *)skb[{}]\n exit",
        SKF_LL_OFF + 12
    );
    same(ProgType::SCHED_CLS, &text, &Input::packet(&tagged));
}

#[test]
fn socket_lookups_find_nothing_like_the_kernel_for_unused_tuples() {
    if !kernel_ok("socket_lookups_find_nothing_like_the_kernel_for_unused_tuples") {
        return;
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_TCP, b"sk");
    // 48 zeroed stack bytes, starting with the IPv4 tuple
    // 192.0.2.1:1 -> 192.0.2.2:1 (TEST-NET-1: no socket here).
    let tuple = "
        r2 = 0
        *(u64 *)(r10 - 40) = r2
        *(u64 *)(r10 - 32) = r2
        *(u64 *)(r10 - 24) = r2
        *(u64 *)(r10 - 16) = r2
        *(u64 *)(r10 - 8) = r2
        r2 = 0x020200c0010200c0 ll
        *(u64 *)(r10 - 48) = r2
        r2 = 0x01000100
        *(u32 *)(r10 - 40) = r2";
    for helper in [84, 85, 99] {
        for (size, flags) in [(12u64, 0u64), (36, 0), (5, 0), (12, 1)] {
            let text = format!(
                "r6 = r1\n{tuple}\n r1 = r6\n r2 = r10\n r2 += -48\n r3 = {size}\n r4 = -1 ll\n r5 = {flags}\n call {helper}\n if r0 == 0 goto out\n r1 = r0\n call 86\n r0 = 99\n out:\n exit"
            );
            same(ProgType::SCHED_CLS, &text, &Input::packet(&frame));
        }
    }
    for prog_type in [ProgType::SCHED_CLS, ProgType::SOCKET_FILTER] {
        same(
            prog_type,
            &call_program("", 47, &[], ""),
            &Input::packet(&frame),
        );
    }
}

#[test]
fn socket_cookie_and_classid_match_the_kernel() {
    if !kernel_ok("socket_cookie_and_classid_match_the_kernel") {
        return;
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, b"cookie");
    // 1 when the cookie is non-zero and the same on a second call.
    let text = "r6 = r1\n call 46\n r7 = r0\n r1 = r6\n call 46\n r8 = r0\n r0 = 0\n if r7 == 0 goto +2\n if r7 != r8 goto +1\n r0 = 1\n exit";
    for prog_type in [ProgType::SCHED_CLS, ProgType::SOCKET_FILTER] {
        let out = same(prog_type, text, &Input::packet(&frame));
        assert_eq!(ran(&out).0, 1);
    }
    same(
        ProgType::SCHED_CLS,
        &call_program("", 151, &[], ""),
        &Input::packet(&frame),
    );
}

/// Sets tunnel metadata from a key at `r10 - 48` (`set_size` bytes,
/// `set_flags`), reads it back into `r10 - 96` (`get_size`, `get_flags`),
/// and copies what was read into the packet at offset 14; returns both
/// results' low bytes.
fn tunnel_program(
    v6: bool,
    ext: u16,
    label: u32,
    (set_size, set_flags): (u64, u64),
    (get_size, get_flags): (u64, u64),
) -> String {
    let mut text = String::from("r6 = r1\n r2 = 0\n");
    for off in (8..=96).step_by(8) {
        text.push_str(&format!(" *(u64 *)(r10 - {off}) = r2\n"));
    }
    text.push_str(" r2 = 42\n *(u32 *)(r10 - 48) = r2\n");
    if v6 {
        // remote fd00::9 and local fd00::1, as 32-bit words.
        text.push_str(
            " r2 = 0xfd\n *(u32 *)(r10 - 44) = r2\n r2 = 0x09000000\n *(u32 *)(r10 - 32) = r2\n",
        );
        text.push_str(
            " r2 = 0xfd\n *(u32 *)(r10 - 20) = r2\n r2 = 0x01000000\n *(u32 *)(r10 - 8) = r2\n",
        );
    } else {
        text.push_str(" r2 = 0x0a000009\n *(u32 *)(r10 - 44) = r2\n r2 = 0x0a000001\n *(u32 *)(r10 - 20) = r2\n");
    }
    text.push_str(&format!(
        " r2 = 3\n *(u8 *)(r10 - 28) = r2\n r2 = 64\n *(u8 *)(r10 - 27) = r2
          r2 = {ext}\n *(u16 *)(r10 - 26) = r2\n r2 = {label:#x}\n *(u32 *)(r10 - 24) = r2
          r1 = r6\n r2 = r10\n r2 += -48\n r3 = {set_size}\n r4 = {set_flags}\n call 21\n r7 = r0
          r1 = r6\n r2 = r10\n r2 += -96\n r3 = {get_size}\n r4 = {get_flags}\n call 20\n r8 = r0
          r1 = r6\n r2 = 14\n r3 = r10\n r3 += -96\n r4 = 44\n r5 = 0\n call {SKB_STORE_BYTES}
          r0 = r8\n r0 &= 0xff\n r0 <<= 8\n r7 &= 0xff\n r0 |= r7\n exit"
    ));
    text
}

#[test]
fn tunnel_metadata_helpers_match_the_kernel() {
    if !kernel_ok("tunnel_metadata_helpers_match_the_kernel") {
        return;
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, &[0x33; 60]);
    let input = Input::packet(&frame);
    // Reading without metadata: -EINVAL, the buffer cleared.
    let get_only = "r6 = r1\n r2 = -1\n *(u64 *)(r10 - 8) = r2\n r1 = r6\n r2 = r10\n r2 += -8\n r3 = 8\n r4 = 0\n call 20\n r2 = *(u64 *)(r10 - 8)\n r0 += r2\n exit";
    same(ProgType::SCHED_CLS, get_only, &input);
    let v4_sets = [
        (44, 0),
        (44, 2 | 4 | 8 | 16),
        (28, 0),
        (24, 0),
        (22, 0),
        (8, 0),
        (13, 0),
        (44, 32),
    ];
    let gets = [
        (44, 0),
        (44, 16),
        (44, 1),
        (28, 0),
        (24, 16),
        (22, 0),
        (8, 0),
        (13, 0),
        (44, 2),
    ];
    for set in v4_sets {
        for get in gets {
            same(
                ProgType::SCHED_CLS,
                &tunnel_program(false, 0, 0, set, get),
                &input,
            );
        }
    }
    for (ext, label) in [(1u16, 0u32), (0, 5)] {
        same(
            ProgType::SCHED_CLS,
            &tunnel_program(false, ext, label, (44, 0), (44, 0)),
            &input,
        );
    }
    for get in [(44, 1), (44, 17), (44, 0), (8, 1), (28, 1)] {
        for label in [0, 0x12345, 0xfff12345] {
            same(
                ProgType::SCHED_CLS,
                &tunnel_program(true, 0, label, (44, 1), get),
                &input,
            );
        }
    }
    // Options: only on metadata set_tunnel_key attached, in 4-byte units.
    let set_key = "r2 = 0\n *(u64 *)(r10 - 48) = r2\n *(u64 *)(r10 - 40) = r2\n *(u64 *)(r10 - 32) = r2\n *(u64 *)(r10 - 24) = r2\n *(u64 *)(r10 - 16) = r2\n *(u64 *)(r10 - 8) = r2\n r1 = r6\n r2 = r10\n r2 += -48\n r3 = 44\n r4 = 0\n call 21\n";
    for (with_key, set_size, get_size) in [
        (true, 8u64, 16u64),
        (true, 8, 4),
        (true, 8, 8),
        (true, 6, 16),
        (true, 256, 16),
        (false, 8, 16),
        (true, 252, 256),
    ] {
        let text = format!(
            "r6 = r1\n {}
             r2 = 0\n *(u64 *)(r10 - 256) = r2\n *(u64 *)(r10 - 248) = r2
             r2 = 0x1122334455667788 ll
             *(u64 *)(r10 - 504) = r2\n *(u64 *)(r10 - 496) = r2
             r1 = r6\n r2 = r10\n r2 += -504\n r3 = {set_size}\n call 30\n r7 = r0
             r1 = r6\n r2 = r10\n r2 += -256\n r3 = {get_size}\n call 29\n r8 = r0
             r1 = r6\n r2 = 14\n r3 = r10\n r3 += -256\n r4 = 16\n r5 = 0\n call {SKB_STORE_BYTES}
             r0 = r8\n r0 &= 0xff\n r0 <<= 8\n r7 &= 0xff\n r0 |= r7\n exit",
            if with_key { set_key } else { "" }
        );
        same(ProgType::SCHED_CLS, &text, &input);
    }
}

#[test]
fn cgroup_ids_match_the_kernel() {
    if !kernel_ok("cgroup_ids_match_the_kernel") {
        return;
    }
    let no_ctx = Input::default();
    for level in [0u64, 1, 2, 7] {
        let text =
            format!("r1 = {level}\n call 123\n r7 = r0\n call 80\n r0 <<= 16\n r0 |= r7\n exit");
        let apiary = apiary_run(ProgType::SYSCALL, &text, &no_ctx);
        assert_eq!(
            apiary,
            kernel_context_run(ProgType::SYSCALL, &text, &no_ctx),
            "level {level}"
        );
        assert_ne!(ran(&apiary).0 >> 16, 0, "the task has a cgroup");
    }
    let frame = ipv4_frame(LOOPBACK_MAC, IP_PROTO_UDP, b"cgroup");
    for level in [0u64, 1, 3] {
        let text = format!(
            "r6 = r1\n r2 = {level}\n call 83\n r7 = r0\n r1 = r6\n call 79\n r0 <<= 16\n r0 |= r7\n exit"
        );
        same(ProgType::SCHED_CLS, &text, &Input::packet(&frame));
    }
}
