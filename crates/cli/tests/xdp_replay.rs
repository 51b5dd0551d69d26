//! `apiary xdp replay`: a capture held in memory through an XDP program on
//! one worker per CPU counts, per worker, exactly the verdicts that
//! `prog run --pcap` (the test-run path, one run per packet) gives for
//! the capture, times the number of passes; bad input is one line.

mod common;

use std::path::Path;

use common::{apiary, assert_one_line_error, text};
use serde_json::Value;

fn json(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", text(&output.stdout)))
}

/// The firewall of `tests/progs` (it drops one frame of the capture), or
/// `None` after skipping `test`.
fn firewall(test: &str) -> Option<String> {
    match apiary_corpus::object("xdp_firewall") {
        Ok(object) => Some(object.path().to_str().expect("utf-8").to_owned()),
        Err(reason) => apiary_testskip::missing(test, reason),
    }
}

#[test]
fn replay_counts_what_test_runs_of_the_capture_count_per_pass_and_worker() {
    let test = "replay_counts_what_test_runs_of_the_capture_count_per_pass_and_worker";
    let Some(object) = firewall(test) else {
        return;
    };
    let capture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pcap/traffic.pcap");
    let capture = capture.to_str().expect("utf-8");
    let once = json(&apiary(&["-j", "prog", "run", &object, "--pcap", capture]));
    let packets = once["packets"].as_u64().expect("packets");
    let verdicts = &once["verdicts"];
    let count = |name: &str| verdicts[name].as_u64().unwrap_or(0);
    assert!(count("XDP_DROP") > 0 && count("XDP_PASS") > 0, "{once}");
    let usable = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(2);
    for engine in ["jit", "interp"] {
        for cores in 1..=usable {
            let frames = (packets * 10).to_string();
            let replayed = json(&apiary(&[
                "-j",
                "xdp",
                "replay",
                &object,
                "--pcap",
                capture,
                "--frames",
                &frames,
                "--cores",
                &cores.to_string(),
                "--engine",
                engine,
            ]));
            let workers = cores as u64;
            assert_eq!(replayed["frames"], packets * 10 * workers, "{replayed}");
            assert_eq!(replayed["workers"].as_array().map(Vec::len), Some(cores));
            for name in ["XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_ABORTED"] {
                assert_eq!(
                    replayed[name].as_u64(),
                    Some(count(name) * 10 * workers),
                    "{engine}, {cores} core(s), {name}: {replayed}"
                );
            }
        }
    }
}

#[test]
fn a_file_that_is_no_capture_is_one_line() {
    let test = "a_file_that_is_no_capture_is_one_line";
    let Some(object) = firewall(test) else {
        return;
    };
    let not_a_capture = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let output = apiary(&[
        "xdp",
        "replay",
        &object,
        "--pcap",
        not_a_capture.to_str().expect("utf-8"),
    ]);
    assert_one_line_error(&output, "not a pcap or pcapng capture");
}
