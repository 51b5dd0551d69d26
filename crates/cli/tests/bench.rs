//! `apiary bench`: every engine's row is there, the engines agree with a
//! Rust model of the program, and an engine that cannot run the program
//! says why. Correctness only: no time is ever asserted.

use std::path::Path;

use serde_json::Value;

mod common;
use common::{apiary, kernel_usable, scratch, text};

const ENGINES: [&str; 4] = ["apiary-jit", "apiary-interp", "kernel", "rbpf-jit"];

/// The compiled corpus object, or `None` after skipping `test`.
fn corpus(name: &'static str, test: &str) -> Option<&'static Path> {
    match apiary_corpus::object(name) {
        Ok(object) => Some(object.path()),
        Err(reason) => apiary_testskip::missing(test, reason),
    }
}

/// A 1,514-byte Ethernet frame with varied bytes (as `xdp_bench.c` needs).
fn frame() -> Vec<u8> {
    (0..1514u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

/// `bench_alu` of `tests/progs/xdp_bench.c`, in Rust: its verdict.
fn alu_model(frame: &[u8]) -> u64 {
    let mut x = u64::from_le_bytes(frame[8..16].try_into().unwrap());
    let mut y: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..1000u64 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        y ^= x >> 17;
        y = y.rotate_left(5);
        y = y.wrapping_add((x & 0xffff).wrapping_sub(i));
    }
    // XDP_PASS (2) when the low bit is set, else XDP_DROP (1).
    if y & 1 == 1 { 2 } else { 1 }
}

fn bench_json(object: &Path, program: &str, packet: &Path) -> Value {
    let object = object.display().to_string();
    let mut args = vec!["bench", &object];
    if !program.is_empty() {
        args.extend(["--prog", program]);
    }
    let packet = packet.display().to_string();
    args.extend(["data_in", &packet, "repeat", "20", "--batches", "2", "-j"]);
    let output = apiary(&args);
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&output.stdout)))
}

fn engine<'v>(report: &'v Value, name: &str) -> &'v Value {
    report["engines"]
        .as_array()
        .expect("engines is an array")
        .iter()
        .find(|e| e["engine"] == name)
        .unwrap_or_else(|| panic!("no row for {name}: {report}"))
}

#[test]
fn every_engine_agrees_with_the_model_and_has_a_row() {
    let test = "every_engine_agrees_with_the_model_and_has_a_row";
    let Some(object) = corpus("xdp_bench", test) else {
        return;
    };
    let packet = frame();
    let path = scratch("bench-frame.bin");
    std::fs::write(&path, &packet).unwrap();
    let report = bench_json(object, "bench_alu", &path);
    assert_eq!(report["retval"], alu_model(&packet), "{report}");
    assert_eq!(report["packet_compared"], true, "{report}");
    // bench_alu reads its seed and writes its result byte by byte, after a
    // `data_end` check.
    assert_eq!(
        report["jit_compile"],
        "verified: 0 stack, 16 packet, 0 map-value, 2 context accesses unchecked",
        "{report}"
    );
    for name in ["apiary-jit", "apiary-interp"] {
        let row = engine(&report, name);
        assert_eq!(row["repeat"], 20, "{row}");
        assert_eq!(row["batches_ns_per_run"].as_array().map(Vec::len), Some(2));
    }
    if kernel_usable(test) {
        for name in ["kernel", "rbpf-jit"] {
            assert!(engine(&report, name)["ns_per_run"].is_number(), "{report}");
        }
        assert!(engine(&report, "apiary-jit")["ratio_to_kernel"].is_number());
    }

    let output = apiary(&[
        "bench",
        &object.display().to_string(),
        "--prog",
        "bench_alu",
        "data_in",
        &path.display().to_string(),
        "repeat",
        "20",
        "--batches",
        "1",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let table = text(&output.stdout);
    assert!(
        table.starts_with(&format!(
            "bench_alu: every engine gives retval {} and the same packet",
            alu_model(&packet)
        )),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|line| line.starts_with("apiary-jit code: verified")),
        "{table}"
    );
    for name in ENGINES {
        assert!(
            table.lines().any(|line| line.starts_with(name)),
            "no row for {name}: {table}"
        );
    }
}

#[test]
fn rbpf_says_why_it_cannot_run_a_program_with_maps() {
    let test = "rbpf_says_why_it_cannot_run_a_program_with_maps";
    let Some(object) = corpus("xdp_firewall", test) else {
        return;
    };
    if !kernel_usable(test) {
        return;
    }
    let path = scratch("bench-firewall-frame.bin");
    std::fs::write(&path, frame()).unwrap();
    // The object's only program.
    let report = bench_json(object, "", &path);
    let why = engine(&report, "rbpf-jit")["not_measured"]
        .as_str()
        .unwrap_or_else(|| panic!("rbpf measured a program with maps: {report}"))
        .to_owned();
    assert!(why.contains("maps") || why.contains("calls"), "{why}");
    assert!(engine(&report, "apiary-jit")["ns_per_run"].is_number());
}
