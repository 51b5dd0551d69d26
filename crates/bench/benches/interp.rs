//! Apiary's JIT and interpreter against rbpf's interpreter on the same
//! bytecode, one criterion group per program, then a table of the times
//! and their ratios.
//!
//! Run with `cargo bench -p apiary-bench --bench interp`. Each program's
//! result is checked against its Rust model on every engine before
//! anything is timed.

use std::time::SystemTime;

use apiary_bench::apiary_side::ApiaryRunner;
use apiary_bench::programs::{self, BenchProgram};
use apiary_bench::rbpf_side::RbpfRunner;
use apiary_bench::report::median_ns;
use criterion::{Criterion, black_box};

const APIARY: &str = "apiary";
const JIT: &str = "apiary-jit";
const RBPF: &str = "rbpf";

fn bench_program(c: &mut Criterion, program: &BenchProgram) {
    let bytecode = program.bytecode();
    let rbpf = RbpfRunner::new(program, &bytecode).expect("rbpf loads the program");
    let mut apiary = ApiaryRunner::new(program).expect("Apiary loads the program");
    let mut jit = ApiaryRunner::jit(program).expect("the JIT compiles the program");
    let mut memory = program.memory.clone();
    let jit_r0 = jit.run(&mut memory).expect("the JIT runs the program");
    assert_eq!(
        jit_r0, program.expected,
        "{}: the JIT disagrees with the model",
        program.name
    );
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
    group.bench_function(JIT, |b| b.iter(|| jit.run(black_box(&mut memory))));
    group.bench_function(APIARY, |b| b.iter(|| apiary.run(black_box(&mut memory))));
    group.bench_function(RBPF, |b| b.iter(|| rbpf.run(black_box(&mut memory))));
    group.finish();
}

fn print_ratios(programs: &[BenchProgram], since: SystemTime) {
    println!(
        "\n{:<18} {:>12} {:>12} {:>12} {:>12} {:>11}",
        "program", "jit", "interpreter", "rbpf", "interp/jit", "rbpf/jit"
    );
    for program in programs {
        let time = |engine| median_ns(program.name, engine, since);
        match (time(JIT), time(APIARY), time(RBPF)) {
            (Some(jit), Some(apiary), Some(rbpf)) => println!(
                "{:<18} {:>9.0} ns {:>9.0} ns {:>9.0} ns {:>11.1}x {:>10.1}x",
                program.name,
                jit,
                apiary,
                rbpf,
                apiary / jit,
                rbpf / jit
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
