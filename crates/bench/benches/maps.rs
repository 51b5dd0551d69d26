//! Hash map lookup and update from inside a program: Apiary (timed by
//! criterion) against the kernel (the same program as XDP through
//! `BPF_PROG_TEST_RUN` with `repeat`, timed by the kernel), in one run,
//! then a table of nanoseconds per operation and the ratio.
//!
//! Run with `cargo bench -p apiary-bench --bench maps`. Both sides' r0 and
//! map contents are checked against the model before anything is timed.
//! Without `bpf()` the kernel side is skipped, loudly.

use std::time::{Duration, SystemTime};

use apiary_bench::hash_ops::{ApiaryHash, BENCH, HashOp, KernelHash, expected_r0};
use apiary_bench::report::median_ns;
use criterion::Criterion;

const APIARY: &str = "apiary";
const KERNEL: &str = "kernel";
/// The most runs one `BPF_PROG_TEST_RUN` makes; criterion asks for more in several calls.
const MAX_REPEAT: u64 = 1 << 16;

fn bench_op(c: &mut Criterion, op: HashOp, kernel_available: bool) {
    let mut apiary = ApiaryHash::new(op, BENCH).expect("Apiary loads the program");
    let r0 = apiary.run().expect("Apiary runs the program");
    assert_eq!(
        r0 as u32,
        expected_r0(op, BENCH),
        "{}: Apiary disagrees with the model",
        op.name()
    );
    let kernel =
        kernel_available.then(|| KernelHash::new(op, BENCH).expect("the kernel loads the program"));
    if let Some(kernel) = &kernel {
        let (r0, _) = kernel.run(1).expect("the kernel runs the program");
        assert_eq!(
            r0,
            expected_r0(op, BENCH),
            "{}: the kernel disagrees with the model",
            op.name()
        );
    }

    let mut group = c.benchmark_group(op.name());
    group.bench_function(APIARY, |b| b.iter(|| apiary.run().expect("runs")));
    if let Some(kernel) = &kernel {
        // The kernel times its own loop of runs; criterion gets their total.
        group.bench_function(KERNEL, |b| {
            b.iter_custom(|iters| {
                let mut left = iters;
                let mut total = Duration::ZERO;
                while left > 0 {
                    let repeat = left.min(MAX_REPEAT);
                    let (_, mean_ns) = kernel.run(repeat as u32).expect("runs");
                    total += Duration::from_nanos(u64::from(mean_ns) * repeat);
                    left -= repeat;
                }
                total
            });
        });
    }
    group.finish();
}

fn main() {
    let started = SystemTime::now();
    let kernel_available = match apiary_kernel::probe() {
        Ok(()) => true,
        Err(reason) => {
            eprintln!("SKIPPED: the kernel side because bpf() is unavailable: {reason}");
            false
        }
    };
    let mut criterion = Criterion::default().configure_from_args();
    for op in HashOp::ALL {
        bench_op(&mut criterion, op, kernel_available);
    }
    criterion.final_summary();
    println!(
        "\n{:<12} {:>16} {:>16} {:>16}",
        "operation", "apiary ns/op", "kernel ns/op", "apiary/kernel"
    );
    for op in HashOp::ALL {
        let per_op = |function| {
            median_ns(op.name(), function, started).map(|run| run / f64::from(BENCH.ops))
        };
        match (per_op(APIARY), per_op(KERNEL)) {
            (Some(apiary), Some(kernel)) => println!(
                "{:<12} {:>16.1} {:>16.1} {:>15.2}x",
                op.name(),
                apiary,
                kernel,
                apiary / kernel
            ),
            (Some(apiary), None) => {
                println!("{:<12} {:>16.1} {:>16}", op.name(), apiary, "not measured")
            }
            _ => println!("{:<12} (not measured in this run)", op.name()),
        }
    }
}
