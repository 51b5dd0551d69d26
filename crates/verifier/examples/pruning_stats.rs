//! Apiary's verifier statistics next to the kernel's, per program of the
//! corpus and the examples: processed instructions, total states and peak
//! states, from the kernel's log line `processed N insns (limit 1000000)
//! max_states_per_insn M total_states T peak_states P mark_read R` (log
//! level 1). Pruning that works as the kernel's gives counts of the same
//! order.
//!
//! `cargo run -p apiary-verifier --example pruning_stats [FILTER]` (as root,
//! on a kernel with bpf()); FILTER keeps the programs whose
//! `object/program` name contains it.

use apiary_backend::{LoadOptions, load_object};
use apiary_loader::Object;

/// `processed`, `total_states` and `peak_states` of a kernel log.
fn kernel_stats(log: &str) -> Option<(u64, u64, u64)> {
    let line = log.lines().rev().find(|l| l.starts_with("processed "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let after = |key: &str| {
        let i = words.iter().position(|w| *w == key)?;
        words.get(i + 1)?.parse().ok()
    };
    Some((
        words.get(1)?.parse().ok()?,
        after("total_states")?,
        after("peak_states")?,
    ))
}

fn main() {
    let filter = std::env::args().nth(1).unwrap_or_default();
    if let Err(reason) = apiary_kernel::probe() {
        eprintln!("pruning_stats: the kernel cannot be asked: {reason}");
        std::process::exit(1);
    }
    let objects = match (apiary_corpus::objects(), apiary_corpus::examples()) {
        (Ok(objects), Ok(examples)) => objects.iter().chain(examples).copied().collect::<Vec<_>>(),
        (Err(reason), _) | (_, Err(reason)) => {
            eprintln!("pruning_stats: no corpus: {reason}");
            std::process::exit(1);
        }
    };
    println!(
        "{:<40} {:>9} {:>9} {:>7} {:>7} {:>6} {:>6}",
        "program", "insns", "kernel", "states", "kernel", "peak", "kernel"
    );
    for corpus in objects {
        let Ok(bytes) = corpus.read() else { continue };
        let Ok(mut object) = Object::parse(&bytes, corpus.name) else {
            continue;
        };
        if object.needs_core() {
            let Ok(vmlinux) = std::fs::read("/sys/kernel/btf/vmlinux") else {
                continue;
            };
            let Ok(target) = apiary_btf::Btf::parse(&vmlinux) else {
                continue;
            };
            if object.relocate_core(&target).is_err() {
                continue;
            }
        }
        let options = LoadOptions {
            elf: Some(&bytes),
            log_level: apiary_kernel::log_level::BASIC,
            keep_going: true,
        };
        let Ok(kernel) = load_object(&object, &options) else {
            continue;
        };
        for spec in object.programs.iter().filter_map(|p| p.as_ref().ok()) {
            let name = format!("{}/{}", corpus.name, spec.name);
            if !name.contains(&filter) {
                continue;
            }
            let verdict = apiary_verifier::verify_program(&object, spec);
            let Some(theirs) = kernel.logs.get(&verdict.name).and_then(|l| kernel_stats(l)) else {
                continue;
            };
            let ours = match &verdict.result {
                Ok(a) => (
                    a.stats.insns_processed.to_string(),
                    a.stats.total_states.to_string(),
                    a.stats.peak_states.to_string(),
                ),
                Err(r) => (format!("reject@{}", r.insn), "-".into(), "-".into()),
            };
            println!(
                "{name:<40} {:>9} {:>9} {:>7} {:>7} {:>6} {:>6}",
                ours.0, theirs.0, ours.1, theirs.1, ours.2, theirs.2
            );
        }
    }
}
