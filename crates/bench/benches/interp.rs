//! Apiary's interpreter against rbpf's on the same bytecode, one criterion
//! group per program, then a table of rbpf time / Apiary time.
//!
//! Run with `cargo bench -p apiary-bench`. Each program's result is checked
//! against its Rust model on both interpreters before anything is timed.

use std::path::PathBuf;
use std::time::SystemTime;

use apiary_bench::apiary_side::ApiaryRunner;
use apiary_bench::programs::{self, BenchProgram};
use apiary_bench::rbpf_side::RbpfRunner;
use criterion::{Criterion, black_box};

const APIARY: &str = "apiary";
const RBPF: &str = "rbpf";

fn bench_program(c: &mut Criterion, program: &BenchProgram) {
    let bytecode = program.bytecode();
    let rbpf = RbpfRunner::new(program, &bytecode).expect("rbpf loads the program");
    let mut apiary = ApiaryRunner::new(program).expect("Apiary loads the program");
    let mut memory = program.memory.clone();
    let rbpf_r0 = rbpf.run(&mut memory).expect("rbpf runs the program");
    let apiary_r0 = apiary.run(&mut memory).expect("Apiary runs the program");
    assert_eq!(
        rbpf_r0, program.expected,
        "{}: rbpf disagrees with the model",
        program.name
    );
    assert_eq!(
        apiary_r0, program.expected,
        "{}: Apiary disagrees with the model",
        program.name
    );

    let mut group = c.benchmark_group(program.name);
    group.bench_function(APIARY, |b| b.iter(|| apiary.run(black_box(&mut memory))));
    group.bench_function(RBPF, |b| b.iter(|| rbpf.run(black_box(&mut memory))));
    group.finish();
}

/// Where criterion writes its reports: `$CRITERION_HOME`, else
/// `$CARGO_TARGET_DIR/criterion`, else the workspace's `target/criterion`.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("criterion")
}

/// Median time per iteration in nanoseconds, if this process measured it
/// (estimates older than `since` are from an earlier, filtered-out run).
fn median_ns(group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(function)
        .join("new/estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

fn print_ratios(programs: &[BenchProgram], since: SystemTime) {
    println!(
        "\n{:<18} {:>14} {:>14} {:>12}",
        "program", "apiary", "rbpf", "rbpf/apiary"
    );
    for program in programs {
        match (
            median_ns(program.name, APIARY, since),
            median_ns(program.name, RBPF, since),
        ) {
            (Some(apiary), Some(rbpf)) => println!(
                "{:<18} {:>11.1} us {:>11.1} us {:>11.2}x",
                program.name,
                apiary / 1e3,
                rbpf / 1e3,
                rbpf / apiary
            ),
            _ => println!("{:<18} (not measured in this run)", program.name),
        }
    }
}

fn main() {
    let started = SystemTime::now();
    let mut criterion = Criterion::default().configure_from_args();
    let programs = programs::all();
    for program in &programs {
        bench_program(&mut criterion, program);
    }
    criterion.final_summary();
    print_ratios(&programs, started);
}
