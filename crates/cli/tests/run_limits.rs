//! The bounds `apiary prog run` keeps where the kernel's verifier would
//! have refused the program or the input: the instruction budget, frame
//! sizes and broken captures, and memory faults named by region.

use std::process::Output;
use std::sync::OnceLock;

mod common;
use common::{apiary, assert_one_line_error, compile_c, scratch, text};

/// `tests/data/run_limits.c` compiled (once: tests run in parallel), or
/// `None` after a loud skip line.
fn limits_object(test: &str) -> Option<String> {
    static OBJECT: OnceLock<Option<String>> = OnceLock::new();
    let object = OBJECT.get_or_init(|| {
        let object = compile_c("run_limits", include_str!("data/run_limits.c"), test)?;
        Some(object.to_str().expect("UTF-8 scratch path").to_owned())
    });
    if object.is_none() {
        eprintln!("SKIPPED: {test} because clang-19 cannot be run");
    }
    object.clone()
}

/// An Ethernet frame of `len` bytes (IPv4 ethertype, zeroes after it).
fn frame(len: usize) -> Vec<u8> {
    let mut frame = vec![0u8; len];
    frame[..6].fill(0xff);
    frame[12] = 0x08;
    frame
}

/// A pcap file (microsecond timestamps, Ethernet) holding `frames`, with
/// every record header written by hand as libpcap lays it out.
fn pcap_bytes(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend(0xa1b2_c3d4u32.to_le_bytes());
    bytes.extend(2u16.to_le_bytes());
    bytes.extend(4u16.to_le_bytes());
    bytes.extend([0; 8]); // thiszone, sigfigs
    bytes.extend(262_144u32.to_le_bytes()); // snaplen
    bytes.extend(1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (index, frame) in frames.iter().enumerate() {
        bytes.extend((index as u32 + 1).to_le_bytes());
        bytes.extend(0u32.to_le_bytes());
        bytes.extend((frame.len() as u32).to_le_bytes());
        bytes.extend((frame.len() as u32).to_le_bytes());
        bytes.extend(frame);
    }
    bytes
}

fn write_scratch(name: &str, bytes: &[u8]) -> String {
    let path = scratch(name);
    std::fs::write(&path, bytes).expect("writing a scratch file");
    path.to_str().expect("UTF-8 scratch path").to_owned()
}

fn stderr_lines(output: &Output) -> Vec<String> {
    text(&output.stderr).lines().map(str::to_owned).collect()
}

/// A loop that never ends stops at the budget, on one frame, with
/// `repeat` and on every frame of a capture, and the error names the
/// budget and the option that raises it.
#[test]
fn a_program_that_never_ends_stops_at_the_budget() {
    let Some(object) = limits_object("budget test") else {
        return;
    };
    let data = write_scratch("budget.bin", &frame(74));
    let single = apiary(&[
        "prog", "run", &object, "--prog", "spin", "data_in", &data, "--budget", "100000",
    ]);
    assert_one_line_error(
        &single,
        "ran its budget of 100000 instructions without ending",
    );
    assert_one_line_error(&single, "--budget N (or --budget unlimited)");
    let repeated = apiary(&[
        "prog", "run", &object, "--prog", "spin", "data_in", &data, "repeat", "3", "--budget",
        "0x10000",
    ]);
    assert_one_line_error(&repeated, "budget of 65536 instructions");

    let capture = write_scratch("budget.pcap", &pcap_bytes(&[frame(60), frame(74)]));
    let replay = apiary(&[
        "prog", "run", &object, "--prog", "spin", "--pcap", &capture, "--budget", "5000",
    ]);
    assert!(!replay.status.success());
    assert!(
        text(&replay.stdout).starts_with("packets: 2, written: 0, failed: 2\n"),
        "{}",
        text(&replay.stdout)
    );
    let lines = stderr_lines(&replay);
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (number, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("apiary: packet {}: ", number + 1))
                && line.contains("budget of 5000 instructions")
                && line.contains("--budget"),
            "{line}"
        );
    }
}

#[test]
fn budget_values_are_checked() {
    let Some(object) = limits_object("budget values test") else {
        return;
    };
    let data = write_scratch("values.bin", &frame(74));
    let zero = apiary(&[
        "prog", "run", &object, "--prog", "spin", "data_in", &data, "--budget", "0",
    ]);
    assert_one_line_error(&zero, "use 'unlimited' for no limit");
    let word = apiary(&[
        "prog", "run", &object, "--prog", "spin", "data_in", &data, "--budget", "lots",
    ]);
    assert_one_line_error(&word, "expected a number of instructions or 'unlimited'");
    // `unlimited` is accepted: this program ends (with a fault), so the
    // run returns.
    let unlimited = apiary(&[
        "prog",
        "run",
        &object,
        "--prog",
        "wild_pointer",
        "data_in",
        &data,
        "--budget",
        "unlimited",
    ]);
    assert_one_line_error(&unlimited, "memory fault");
}
