//! The fuzzer's watch on the kernel log, on the kernel bug `apiary fuzz
//! diff --count 20000 --seed 7` found: seed 2660 makes the 6.18 verifier
//! compare a register with itself (`if w8 s> w8`) and trip its own bounds
//! check, `verifier bug: REG INVARIANTS VIOLATION (true_reg1)`, a
//! `WARN_ONCE` in `reg_bounds_sanity_check`.
//!
//! `WARN_ONCE` prints once per boot, so the live check can see the warning
//! only on the first load since boot; after that the verifier still writes
//! the inconsistency into its own log on every load, but the kernel log
//! stays silent. The test says which checks ran.

use std::io::Write;
use std::path::Path;

use apiary_difftest::{
    Harness, KernelReport, LogWatch, Verdict, parse_reproducer, write_kernel_warning,
};
use apiary_kernel::{KernelLog, LogRecord, parse_record};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const BUG: &str = "verifier bug: REG INVARIANTS VIOLATION (true_reg1)";

/// The records `/dev/kmsg` gave while seed 2660's program loaded for the
/// first time on this machine, one per line as read.
fn recorded_records() -> Vec<LogRecord> {
    let text =
        std::fs::read_to_string(Path::new(MANIFEST_DIR).join("tests/data/kmsg-verifier-bug.txt"))
            .expect("the recorded kernel log");
    text.lines()
        .map(|line| parse_record(format!("{line}\n").as_bytes()).expect("a kmsg record"))
        .collect()
}

fn reproducer_text() -> String {
    std::fs::read_to_string(Path::new(MANIFEST_DIR).join("reproducers/kernel-warning-2660.s"))
        .expect("the reproducer")
}

#[test]
fn the_recorded_warning_is_one_report_naming_the_verifier_bug() {
    let records = recorded_records();
    assert_eq!(records.len(), 59);
    assert!(
        records
            .windows(2)
            .all(|pair| pair[1].sequence == pair[0].sequence + 1),
        "the records are consecutive"
    );
    assert!(records.iter().all(|r| r.level == 4 && r.facility == 0));
    let report = KernelReport::from_records(&records, false).expect("a report");
    assert_eq!(report.headlines.len(), 2, "{:?}", report.headlines);
    assert!(report.headlines[0].starts_with(&format!(
        "{BUG}: range bounds violation u64=[0x7fffffff, 0xffffffff7ffffffe]"
    )));
    assert!(report.headlines[1].starts_with("WARNING: CPU: "));
    assert!(report.headlines[1].contains(" at kernel/bpf/verifier.c:"));
    assert!(report.headlines[1].ends_with("reg_bounds_sanity_check+0x17b/0x230"));
    assert_eq!(report.verifier_bug(), Some(BUG));
    assert_eq!(report.lines.len(), 59);
}

/// The stored reproducer is what the fuzzer writes for that report and
/// the shrunk program, and reads back.
#[test]
fn the_reproducer_is_the_fuzzers_file_for_the_recorded_report() {
    let text = reproducer_text();
    let case = parse_reproducer(&text).expect("the reproducer parses");
    let report = KernelReport::from_records(&recorded_records(), false).expect("a report");
    let dir = std::env::temp_dir().join(format!("apiary-kernel-warning-{}", std::process::id()));
    let written =
        write_kernel_warning(&dir, 2660, &case, &report, Some(BUG)).expect("writable temp dir");
    let rewritten = std::fs::read_to_string(&written).expect("written");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        written.file_name().and_then(|n| n.to_str()),
        Some("kernel-warning-2660.s")
    );
    assert_eq!(rewritten, text);
}

/// Loading the reproducer is attributed the warning when the kernel prints
/// it; when it has already warned since boot, the verifier's log still
/// shows the inconsistency and the watcher is shown to read live records.
#[test]
fn loading_the_reproducer_is_attributed_its_warning() {
    const TEST: &str = "loading_the_reproducer_is_attributed_its_warning";
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(TEST, format!("bpf() is unavailable: {reason}"));
    }
    let mut watch = match LogWatch::start() {
        Ok(watch) => watch,
        Err(why) => return apiary_testskip::refused(TEST, "reading /dev/kmsg", why),
    };
    let case = parse_reproducer(&reproducer_text()).expect("the reproducer parses");
    let harness = Harness::recognising(Vec::new()).expect("the kernel maps");
    // Loaded and run as `fuzz diff` does; the verifier accepts it.
    let verdict = harness.check(&case);
    assert!(!matches!(verdict, Verdict::Rejected(_)), "{verdict:?}");
    let report = watch.new_report().expect("the kernel log reads");
    // Every load writes the inconsistency into the verifier's own log.
    let log = harness.verifier_log(&case.program);
    assert!(
        log.contains(BUG),
        "the verifier no longer reports {BUG}:\n{log}"
    );

    match report {
        Some(report) => {
            assert_eq!(report.verifier_bug(), Some(BUG), "{:?}", report.headlines);
            assert!(report.headlines.iter().any(|l| l.starts_with("WARNING: ")));
            eprintln!(
                "RAN live: the kernel warned and the watch put the warning down to the program"
            );
        }
        None => {
            let earlier = earlier_warning();
            eprintln!(
                "RAN the fallback: the kernel logged nothing this time, as WARN_ONCE prints once per boot \
                 ({earlier}); checked the recorded report (the other tests) and that the watch reads live records"
            );
            watch_reads_a_live_record();
        }
    }
}

/// Where the kernel log shows the warning printed earlier this boot.
fn earlier_warning() -> String {
    let mut log = KernelLog::open_at_start().expect("the kernel log opens");
    let new = log.read_new().expect("the kernel log reads");
    match new.records.iter().find(|r| r.text.starts_with(BUG)) {
        Some(record) => format!(
            "it printed it at record {}, {} s after boot",
            record.sequence,
            record.timestamp_us / 1_000_000
        ),
        None => "its earlier warning is no longer in the kernel's buffer".to_owned(),
    }
}

/// A line written to `/dev/kmsg` (root may) comes back through the same
/// reader the watch uses, and names no kernel bug.
fn watch_reads_a_live_record() {
    let mut reader = KernelLog::open_at_end().expect("the kernel log opens");
    let marker = format!("apiary difftest: kernel log check {}", std::process::id());
    let mut kmsg = std::fs::OpenOptions::new()
        .write(true)
        .open(apiary_kernel::KMSG_PATH)
        .expect("root writes /dev/kmsg");
    kmsg.write_all(format!("{marker}\n").as_bytes())
        .expect("writing the marker");
    let new = reader.read_new().expect("the kernel log reads");
    assert!(
        new.records.iter().any(|r| r.text == marker),
        "the marker did not come back: {:?}",
        new.records
    );
    assert_eq!(KernelReport::from_records(&new.records, new.overrun), None);
}
