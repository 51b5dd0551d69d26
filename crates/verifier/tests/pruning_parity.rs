//! Pruning as the kernel's: on the loop benchmarks of `xdp_bench` (long
//! bounded loops, a switch-based state machine), Apiary's statistics line
//! must match the running kernel's: processed instructions,
//! `max_states_per_insn`, `total_states` and `peak_states` each within 1%
//! (and one, for the instruction the kernel counts twice). These
//! figures follow from where checkpoints are placed, when states are saved
//! and when they are evicted (`is_state_visited`); a change there that
//! leaves the verdicts alone shows here.

use apiary_backend::{LoadOptions, load_object};
use apiary_loader::Object;

/// `processed`, `max_states_per_insn`, `total_states`, `peak_states` of a
/// kernel log's statistics line.
fn kernel_stats(log: &str) -> Option<[u64; 4]> {
    let line = log.lines().rev().find(|l| l.starts_with("processed "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |key: &str| -> Option<u64> {
        let i = words.iter().position(|w| *w == key)?;
        words.get(i + 1)?.parse().ok()
    };
    Some([
        words.get(1)?.parse().ok()?,
        after("max_states_per_insn")?,
        after("total_states")?,
        after("peak_states")?,
    ])
}

#[test]
fn loop_benchmarks_prune_as_the_kernel_does() {
    const TEST: &str = "pruning statistics compared with the kernel's";
    if let Err(reason) = apiary_kernel::probe() {
        apiary_testskip::missing::<()>(TEST, reason);
        return;
    }
    let corpus = match apiary_corpus::object("xdp_bench") {
        Ok(corpus) => corpus,
        Err(reason) => {
            apiary_testskip::missing::<()>(TEST, reason);
            return;
        }
    };
    let bytes = corpus.read().expect("the compiled corpus object reads");
    let object = Object::parse(&bytes, corpus.name).expect("xdp_bench parses");
    let options = LoadOptions {
        elf: Some(&bytes),
        log_level: apiary_kernel::log_level::BASIC,
        keep_going: true,
    };
    let kernel = load_object(&object, &options).expect("the kernel backend loads xdp_bench");
    let mut compared = 0;
    for name in [
        "bench_alu",
        "bench_csum",
        "bench_div",
        "bench_copy",
        "bench_fsm",
    ] {
        let spec = object
            .programs
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .find(|p| p.name == name)
            .expect("xdp_bench has the program");
        let verdict = apiary_verifier::verify_program(&object, spec);
        let ours = verdict.result.expect("apiary accepts the benchmark").stats;
        let theirs = kernel
            .logs
            .get(name)
            .and_then(|log| kernel_stats(log))
            .expect("the kernel accepts the benchmark and prints its statistics");
        eprintln!("{name}: apiary {ours}; kernel {theirs:?}");
        let ours = [
            ours.insns_processed,
            ours.max_states_per_insn.into(),
            ours.total_states.into(),
            ours.peak_states.into(),
        ];
        let what = [
            "insns processed",
            "max_states_per_insn",
            "total_states",
            "peak_states",
        ];
        for ((what, ours), theirs) in what.iter().zip(ours).zip(theirs) {
            assert!(
                ours.abs_diff(theirs) <= theirs / 100 + 1,
                "{name}: {what} {ours}, the kernel's {theirs}"
            );
        }
        compared += 1;
    }
    assert_eq!(compared, 5);
}
