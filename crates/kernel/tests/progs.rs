//! Programs against the running kernel: load, verifier logs, test runs, info.

mod common;

use std::os::fd::{AsFd, AsRawFd};

use apiary_kernel::types::{AttachType, MapType, ProgType, prog_flags};
use apiary_kernel::{
    BtfFd, Error, LoadedProg, MapCreateAttrs, MapFd, ProgFd, ProgLoadAttrs, Records, TestRunAttrs,
    log_level,
};
use common::{insn, program};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

fn load_xdp(insns: &[u8], name: &str) -> LoadedProg {
    ProgFd::load(&ProgLoadAttrs {
        prog_type: ProgType::XDP,
        insns,
        license: "GPL",
        name,
        ..ProgLoadAttrs::default()
    })
    .unwrap_or_else(|e| panic!("load {name}: {e}"))
}

fn packet(len: usize) -> Vec<u8> {
    (0..len).map(|i| 0x11 + i as u8).collect()
}

/// Reads the first packet byte into `counter[0]`, copies it over the second
/// byte and returns XDP_TX; packets shorter than 20 bytes are dropped.
fn packet_and_map_program(map: &MapFd) -> Vec<u8> {
    let [ld_lo, ld_hi] = common::ld_map_fd(1, map.as_fd().as_raw_fd());
    program(&[
        insn(0x61, 6, 1, 0, 0),               // 0: r6 = *(u32 *)(r1 + 0)   data
        insn(0x61, 7, 1, 4, 0),               // 1: r7 = *(u32 *)(r1 + 4)   data_end
        insn(0xbf, 8, 6, 0, 0),               // 2: r8 = r6
        insn(0x07, 8, 0, 0, 20),              // 3: r8 += 20
        insn(0x2d, 8, 7, 12, 0),              // 4: if r8 > r7 goto 17
        insn(0x71, 9, 6, 0, 0),               // 5: r9 = *(u8 *)(r6 + 0)
        insn(0x62, 10, 0, -4, 0),             // 6: *(u32 *)(r10 - 4) = 0
        ld_lo,                                // 7: r1 = map
        ld_hi,                                // 8
        insn(0xbf, 2, 10, 0, 0),              // 9: r2 = r10
        insn(0x07, 2, 0, 0, -4),              // 10: r2 += -4
        insn(0x85, 0, 0, 0, 1),               // 11: call bpf_map_lookup_elem
        insn(0x15, 0, 0, 2, 0),               // 12: if r0 == 0 goto 15
        insn(0x7b, 0, 9, 0, 0),               // 13: *(u64 *)(r0 + 0) = r9
        insn(0x73, 6, 9, 1, 0),               // 14: *(u8 *)(r6 + 1) = r9
        insn(0xb7, 0, 0, 0, XDP_TX as i32),   // 15: r0 = XDP_TX
        insn(0x95, 0, 0, 0, 0),               // 16: exit
        insn(0xb7, 0, 0, 0, XDP_DROP as i32), // 17: r0 = XDP_DROP
        insn(0x95, 0, 0, 0, 0),               // 18: exit
    ])
}

#[test]
fn xdp_return_constant_runs_with_repeat() {
    require_bpf!("xdp_return_constant_runs_with_repeat");
    let loaded = load_xdp(&common::return_imm(XDP_PASS as i32), "xdp_pass");
    assert_eq!(loaded.log, "", "level 0 asks for no log");
    let data = packet(64);
    let out = loaded
        .prog
        .test_run(&TestRunAttrs {
            data_in: &data,
            data_out_capacity: 128,
            repeat: 1000,
            ..TestRunAttrs::default()
        })
        .expect("test run");
    assert_eq!(out.retval, XDP_PASS);
    assert_eq!(out.data_out, data);
    assert_eq!(out.data_size_out, 64);
    assert!(!out.truncated);
    // Kernel facts: XDP rejects packets shorter than an Ethernet header.
    let short = loaded.prog.test_run(&TestRunAttrs {
        data_in: &data[..13],
        ..TestRunAttrs::default()
    });
    assert_eq!(short.unwrap_err().errno().map(|e| e.0), Some(libc::EINVAL));
    let exact = loaded.prog.test_run(&TestRunAttrs {
        data_in: &data[..14],
        ..TestRunAttrs::default()
    });
    assert_eq!(exact.expect("14 bytes is enough").retval, XDP_PASS);
}

#[test]
fn xdp_reads_packet_writes_map_and_packet() {
    require_bpf!("xdp_reads_packet_writes_map_and_packet");
    let map = MapFd::create(&MapCreateAttrs {
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: 8,
        max_entries: 1,
        name: "counter",
        ..MapCreateAttrs::default()
    })
    .expect("map");
    let loaded = load_xdp(&packet_and_map_program(&map), "xdp_pkt_map");
    let data = packet(32);
    let out = loaded
        .prog
        .test_run(&TestRunAttrs {
            data_in: &data,
            data_out_capacity: 32,
            repeat: 3,
            ..TestRunAttrs::default()
        })
        .expect("run");
    assert_eq!(out.retval, XDP_TX);
    let mut expected = data.clone();
    expected[1] = data[0];
    assert_eq!(out.data_out, expected);
    let value = map
        .lookup(&0u32.to_ne_bytes(), 0)
        .expect("lookup")
        .expect("present");
    assert_eq!(value, u64::from(data[0]).to_ne_bytes());

    let short = packet(16);
    let out = loaded
        .prog
        .test_run(&TestRunAttrs {
            data_in: &short,
            ..TestRunAttrs::default()
        })
        .expect("run");
    assert_eq!(out.retval, XDP_DROP);
    assert_eq!(
        out.data_size_out, 16,
        "size is reported even without data_out"
    );
    assert!(out.data_out.is_empty());

    let info = loaded.prog.info(false).expect("info");
    assert_eq!(info.map_ids, vec![map.info().expect("map info").id]);
}

#[test]
fn small_data_out_is_truncated_with_full_size_reported() {
    require_bpf!("small_data_out_is_truncated_with_full_size_reported");
    let loaded = load_xdp(&common::return_imm(XDP_PASS as i32), "xdp_trunc");
    let data = packet(40);
    let out = loaded
        .prog
        .test_run(&TestRunAttrs {
            data_in: &data,
            data_out_capacity: 4,
            ..TestRunAttrs::default()
        })
        .expect("ENOSPC still reports the run");
    assert!(out.truncated);
    assert_eq!(out.retval, XDP_PASS);
    assert_eq!(out.data_size_out, 40);
    assert_eq!(out.data_out, data[..4]);
}

#[test]
fn xdp_context_round_trips() {
    require_bpf!("xdp_context_round_trips");
    let loaded = load_xdp(&common::return_imm(XDP_PASS as i32), "xdp_ctx");
    let data = packet(20);
    // struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex }
    let ctx: Vec<u8> = [0u32, 20, 0, 0, 0, 0]
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .collect();
    let out = loaded
        .prog
        .test_run(&TestRunAttrs {
            data_in: &data,
            ctx_in: &ctx,
            ctx_out_capacity: 64,
            ..TestRunAttrs::default()
        })
        .expect("run with ctx");
    assert_eq!(out.ctx_size_out, 24);
    assert_eq!(out.ctx_out, ctx);
}

#[test]
fn rejected_program_carries_verifier_log() {
    require_bpf!("rejected_program_carries_verifier_log");
    let exit_only = program(&[insn(0x95, 0, 0, 0, 0)]);
    for level in [log_level::NONE, log_level::BASIC, log_level::VERBOSE] {
        let error = ProgFd::load(&ProgLoadAttrs {
            prog_type: ProgType::XDP,
            insns: &exit_only,
            license: "GPL",
            log_level: level,
            ..ProgLoadAttrs::default()
        })
        .expect_err("r0 is never written");
        match error {
            Error::ProgLoad { errno, log } => {
                assert_eq!(errno.0, libc::EACCES, "level {level}");
                assert!(log.contains("R0 !read_ok"), "level {level} log: {log}");
            }
            other => panic!("unexpected error {other}"),
        }
    }
}

#[test]
fn stats_and_growing_verbose_logs() {
    require_bpf!("stats_and_growing_verbose_logs");
    let insns = common::return_imm(XDP_PASS as i32);
    let stats = ProgFd::load(&ProgLoadAttrs {
        prog_type: ProgType::XDP,
        insns: &insns,
        license: "GPL",
        log_level: log_level::STATS,
        ..ProgLoadAttrs::default()
    })
    .expect("load with stats");
    assert!(
        stats.log.contains("processed 2 insns"),
        "stats log: {}",
        stats.log
    );
    // A 128-byte first buffer cannot hold the verbose log: the kernel
    // answers ENOSPC and the buffer must grow until the whole log fits.
    let verbose = ProgFd::load(&ProgLoadAttrs {
        prog_type: ProgType::XDP,
        insns: &insns,
        license: "GPL",
        log_level: log_level::VERBOSE | log_level::STATS,
        log_size: 128,
        ..ProgLoadAttrs::default()
    })
    .expect("load with a growing log");
    assert!(verbose.log.len() > 128, "{}", verbose.log);
    assert!(verbose.log.starts_with("func#0 @0"), "{}", verbose.log);
    assert!(verbose.log.contains("processed 2 insns"), "{}", verbose.log);
}

#[test]
fn argument_errors_are_typed() {
    let seven = [0u8; 7];
    let error = ProgFd::load(&ProgLoadAttrs {
        insns: &seven,
        ..ProgLoadAttrs::default()
    })
    .unwrap_err();
    assert!(matches!(error, Error::InsnsLength(7)), "{error}");
    let insns = common::return_imm(0);
    let error = ProgFd::load(&ProgLoadAttrs {
        insns: &insns,
        license: "G\0PL",
        ..ProgLoadAttrs::default()
    })
    .unwrap_err();
    assert!(
        matches!(error, Error::InteriorNul { what: "license" }),
        "{error}"
    );
    let error = ProgFd::load(&ProgLoadAttrs {
        insns: &insns,
        func_info: Records {
            bytes: &[0; 12],
            rec_size: 8,
        },
        ..ProgLoadAttrs::default()
    })
    .unwrap_err();
    assert!(
        matches!(
            error,
            Error::RecordLength {
                what: "func_info",
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn info_matches_bpftool() {
    require_bpf!("info_matches_bpftool");
    let loaded = load_xdp(&common::return_imm(XDP_PASS as i32), "xdp_info");
    let info = loaded.prog.info(true).expect("info");
    assert_eq!(info.prog_type, ProgType::XDP);
    assert_eq!(info.name, "xdp_info");
    assert!(info.gpl_compatible);
    assert_eq!(info.xlated_prog_len, 16);
    assert_eq!(
        info.xlated_insns.as_deref(),
        Some(&common::return_imm(XDP_PASS as i32)[..])
    );
    assert!(info.verified_insns >= 2);
    let Some(shown) = common::bpftool_json(
        "info_matches_bpftool",
        &["prog", "show", "id", &info.id.to_string()],
    ) else {
        return;
    };
    let tag: String = info.tag.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(shown["tag"], tag);
    assert_eq!(shown["type"], info.prog_type.name().expect("known"));
    assert_eq!(shown["name"], "xdp_info");
    assert_eq!(shown["bytes_xlated"], info.xlated_prog_len);
    assert_eq!(shown["bytes_jited"], info.jited_prog_len);
    assert_eq!(shown["gpl_compatible"], true);

    let mut cursor = 0;
    let mut listed = false;
    while let Some(id) = apiary_kernel::next_prog_id(cursor).expect("next prog id") {
        listed |= id == info.id;
        cursor = id;
    }
    assert!(listed);
    let reopened = ProgFd::from_id(info.id).expect("by id");
    assert_eq!(reopened.info(false).expect("info").tag, info.tag);
}

#[test]
fn func_and_line_info_reach_the_kernel() {
    require_bpf!("func_and_line_info_reach_the_kernel");
    let strings = b"\0int\0prog\0prog.c\0return 2;\0";
    let name = |s| common::str_off(strings, s);
    let types = [
        name("int"),
        common::btf_info(1, 0),
        4,
        (1 << 24) | 32, // [1] int
        0,
        common::btf_info(13, 0),
        1, // [2] int (void)
        name("prog"),
        common::btf_info(12, 0),
        2, // [3] static func prog
    ];
    let btf = BtfFd::load(&common::btf_blob(&types, strings), log_level::BASIC)
        .expect("BTF")
        .btf;
    let words = |ws: &[u32]| -> Vec<u8> { ws.iter().flat_map(|w| w.to_ne_bytes()).collect() };
    let func_info = words(&[0, 3]);
    let line_info = words(&[0, name("prog.c"), name("return 2;"), (7 << 10) | 5]);
    let insns = common::return_imm(XDP_PASS as i32);
    let loaded = ProgFd::load(&ProgLoadAttrs {
        prog_type: ProgType::XDP,
        insns: &insns,
        license: "GPL",
        prog_btf_fd: Some(btf.as_fd()),
        func_info: Records {
            bytes: &func_info,
            rec_size: 8,
        },
        line_info: Records {
            bytes: &line_info,
            rec_size: 16,
        },
        ..ProgLoadAttrs::default()
    })
    .expect("load with BTF info");
    let info = loaded.prog.info(false).expect("info");
    assert_ne!(info.btf_id, 0);
    assert_eq!((info.nr_func_info, info.nr_line_info), (1, 1));
    if let Some(shown) = common::bpftool_json(
        "func_and_line_info_reach_the_kernel",
        &["prog", "show", "id", &info.id.to_string()],
    ) {
        assert_eq!(shown["btf_id"], info.btf_id);
    }
}

#[test]
fn broken_btf_carries_its_log() {
    require_bpf!("broken_btf_carries_its_log");
    let mut blob = common::spin_lock_btf();
    blob[0] ^= 0xff; // break the magic
    match BtfFd::load(&blob, log_level::NONE) {
        Err(Error::BtfLoad { errno, log }) => {
            assert_eq!(errno.0, libc::EINVAL);
            assert!(log.contains("magic"), "BTF log: {log}");
        }
        other => panic!("expected a BTF load error, got {other:?}"),
    }
}

#[test]
fn fd_array_binds_maps_by_index() {
    require_bpf!("fd_array_binds_maps_by_index");
    let first = common::create_map(MapType::ARRAY, 4, 4, 1);
    let second = common::create_map(MapType::ARRAY, 4, 4, 1);
    // r1 = map at fd_array[1] (BPF_PSEUDO_MAP_IDX); r0 = XDP_PASS; exit.
    let insns = program(&[
        insn(0x18, 1, 5, 0, 1),
        insn(0, 0, 0, 0, 0),
        insn(0xb7, 0, 0, 0, XDP_PASS as i32),
        insn(0x95, 0, 0, 0, 0),
    ]);
    let fds = [first.as_fd(), second.as_fd()];
    let loaded = ProgFd::load(&ProgLoadAttrs {
        prog_type: ProgType::XDP,
        insns: &insns,
        license: "GPL",
        fd_array: &fds,
        ..ProgLoadAttrs::default()
    })
    .expect("load with fd_array");
    let map_ids = loaded.prog.info(false).expect("info").map_ids;
    assert_eq!(map_ids, vec![second.info().expect("info").id]);
}

#[test]
fn expected_attach_type_is_sent() {
    require_bpf!("expected_attach_type_is_sent");
    let insns = common::return_imm(1);
    let attrs = |expected_attach_type| ProgLoadAttrs {
        prog_type: ProgType::CGROUP_SOCK_ADDR,
        expected_attach_type,
        insns: &insns,
        license: "GPL",
        ..ProgLoadAttrs::default()
    };
    ProgFd::load(&attrs(Some(AttachType::CGROUP_INET4_CONNECT))).expect("connect4 program");
    // Attach type 0 (cgroup_inet_ingress) is not a sock_addr hook.
    let error = ProgFd::load(&attrs(None)).expect_err("needs an attach type");
    assert_eq!(error.errno().map(|e| e.0), Some(libc::EINVAL), "{error}");
}

#[test]
fn sleepable_syscall_program_reads_ctx_in() {
    require_bpf!("sleepable_syscall_program_reads_ctx_in");
    // r0 = *(u32 *)(r1 + 0); exit
    let insns = program(&[insn(0x61, 0, 1, 0, 0), insn(0x95, 0, 0, 0, 0)]);
    let prog = ProgFd::load(&ProgLoadAttrs {
        prog_type: ProgType::SYSCALL,
        prog_flags: prog_flags::SLEEPABLE,
        insns: &insns,
        license: "GPL",
        ..ProgLoadAttrs::default()
    })
    .expect("syscall program")
    .prog;
    let ctx = 0x1234_5678u32.to_ne_bytes();
    let out = prog
        .test_run(&TestRunAttrs {
            ctx_in: &ctx,
            ..TestRunAttrs::default()
        })
        .expect("run");
    assert_eq!(out.retval, 0x1234_5678);
    // Kernel facts: syscall programs take only ctx_in.
    let error = prog
        .test_run(&TestRunAttrs {
            ctx_in: &ctx,
            repeat: 2,
            ..TestRunAttrs::default()
        })
        .expect_err("repeat is refused");
    assert_eq!(error.errno().map(|e| e.0), Some(libc::EINVAL));
}
