//! Apiary's interpreter against rbpf's on the same bytecode, one criterion
//! group per program.

use apiary_bench::programs;
use apiary_bench::rbpf_side::RbpfRunner;
use criterion::{Criterion, black_box, criterion_group, criterion_main};

fn interpreters(c: &mut Criterion) {
    for program in programs::all() {
        let bytecode = program.bytecode();
        let rbpf = RbpfRunner::new(&program, &bytecode).expect("rbpf loads the program");
        let mut memory = program.memory.clone();
        assert_eq!(
            rbpf.run(&mut memory).expect("rbpf runs the program"),
            program.expected,
            "{}: rbpf disagrees with the model",
            program.name
        );
        let mut group = c.benchmark_group(program.name);
        group.bench_function("rbpf", |b| b.iter(|| rbpf.run(black_box(&mut memory))));
        group.finish();
    }
}

criterion_group!(benches, interpreters);
criterion_main!(benches);
