//! Apiary's interpreter against rbpf's on the same bytecode, one criterion
//! group per program, then a table of rbpf time / Apiary time.
//!
//! Run with `cargo bench -p apiary-bench`. Each program's result is checked
//! against its Rust model on both interpreters before anything is timed.

use std::time::SystemTime;

use apiary_bench::apiary_side::ApiaryRunner;
use apiary_bench::programs::{self, BenchProgram};
use apiary_bench::rbpf_side::RbpfRunner;
use apiary_bench::report::median_ns;
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
