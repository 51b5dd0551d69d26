//! Compile time of the JIT on a 10,000-instruction program mixing ALU,
//! division, stack and region accesses, jumps and 64-bit loads (the goal:
//! under 1 ms). Run with `cargo bench -p apiary-jit`. Criterion times the
//! wall clock; the line after it gives the thread's CPU time, which on a
//! loaded machine leaves out the time other processes had the core.

use std::sync::Arc;

use apiary_bench::cpu_clock::cpu_ns_per_run;
use apiary_isa::{AluOp, Insn, JmpCond, LdImm64Kind, Reg, Size, Source, Width, encode_program};
use apiary_vm::{Helpers, Program};
use criterion::{Criterion, criterion_group};

const INSNS: usize = 10_000;

fn program() -> Vec<apiary_isa::RawInsn> {
    let pattern = [
        Insn::mov64(Reg::R2, Source::Imm(7)),
        Insn::alu64(AluOp::Add, Reg::R0, Source::Reg(Reg::R2)),
        Insn::alu64(AluOp::Mul, Reg::R0, Source::Imm(3)),
        Insn::alu64(AluOp::Div, Reg::R0, Source::Reg(Reg::R2)),
        Insn::Store {
            size: Size::DW,
            dst: Reg::R10,
            off: -8,
            src: Source::Reg(Reg::R0),
        },
        Insn::Load {
            size: Size::W,
            sign_extend: false,
            dst: Reg::R3,
            src: Reg::R1,
            off: 4,
        },
        Insn::Jump {
            width: Width::W64,
            cond: JmpCond::Eq,
            dst: Reg::R3,
            src: Source::Imm(1),
            off: 1,
        },
        Insn::alu64(AluOp::Xor, Reg::R0, Source::Reg(Reg::R3)),
        Insn::LoadImm64 {
            dst: Reg::R4,
            kind: LdImm64Kind::Imm,
            imm: 0x1234_5678_9abc_def0,
        },
    ];
    let mut insns = vec![Insn::mov64(Reg::R0, Source::Imm(0))];
    while insns.len() < INSNS - 1 {
        insns.extend_from_slice(&pattern);
    }
    insns.push(Insn::Exit);
    encode_program(&insns)
}

fn compile(c: &mut Criterion) {
    let slots = program();
    let helpers = Arc::new(Helpers::<()>::new());
    c.bench_function("compile 10k insns", |b| {
        // By reference: dropping the program (unmapping its code) is not compiling.
        b.iter_batched_ref(
            || Program::new(&slots, Arc::clone(&helpers)).expect("loads"),
            |program| apiary_jit::compile(program).expect("compiles"),
            criterion::BatchSize::LargeInput,
        )
    });
}

/// Compilations timed for the CPU-time line.
const CPU_SAMPLES: usize = 101;

/// The median thread CPU time of [`CPU_SAMPLES`] compilations.
fn cpu_time_line() {
    let slots = program();
    let helpers = Arc::new(Helpers::<()>::new());
    let mut times: Vec<f64> = (0..CPU_SAMPLES)
        .map(|_| {
            let program = Program::new(&slots, Arc::clone(&helpers)).expect("loads");
            let (result, ns) = cpu_ns_per_run(1, || apiary_jit::compile(&program));
            result.expect("compiles");
            ns
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "compile 10k insns, thread CPU time: median {:.3} ms of {CPU_SAMPLES} (fastest {:.3} ms)",
        times[CPU_SAMPLES / 2] / 1e6,
        times[0] / 1e6
    );
}

criterion_group!(benches, compile);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    cpu_time_line();
}
