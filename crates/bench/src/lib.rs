//! Benchmark programs and the other side of each comparison.
//!
//! This crate owns `apiary bench`'s comparison of one program of an
//! object on Apiary's JIT and interpreter, the kernel and rbpf's JIT
//! ([`object_bench`], [`rbpf_xdp`]), the bytecode that `benches/interp.rs` runs on Apiary's
//! interpreter, Apiary's JIT and rbpf's interpreter, the hash map programs that `benches/maps.rs`
//! runs in Apiary and in the kernel ([`hash_ops`]), the Rust reference
//! computation each program must agree with, and the glue that loads a
//! program into rbpf or the kernel. It must not contain interpreter or map
//! logic of its own or timing assertions: speed is only measured by
//! `cargo bench -p apiary-bench`, never asserted by `cargo test`.

pub mod apiary_side;
pub mod cpu_clock;
pub mod hash_ops;
pub mod object_bench;
pub mod programs;
pub mod rbpf_side;
pub mod rbpf_xdp;
pub mod report;

pub use programs::{BenchProgram, MIX_HELPER_ID, mix};

#[cfg(test)]
mod tests {
    use crate::apiary_side::ApiaryRunner;
    use crate::programs::all;
    use crate::rbpf_side::RbpfRunner;

    #[test]
    fn every_engine_agrees_with_the_rust_model_on_every_program() {
        for program in all() {
            let name = program.name;
            let bytecode = program.bytecode();
            let rbpf = RbpfRunner::new(&program, &bytecode)
                .unwrap_or_else(|e| panic!("{name}: rbpf refused the program: {e}"));
            let mut apiary = ApiaryRunner::new(&program)
                .unwrap_or_else(|e| panic!("{name}: Apiary refused the program: {e}"));
            let mut jit = ApiaryRunner::jit(&program)
                .unwrap_or_else(|e| panic!("{name}: the JIT refused the program: {e}"));
            let mut memory = program.memory.clone();
            let rbpf_r0 = rbpf
                .run(&mut memory)
                .unwrap_or_else(|e| panic!("{name}: rbpf failed: {e}"));
            let apiary_r0 = apiary
                .run(&mut memory)
                .unwrap_or_else(|e| panic!("{name}: Apiary failed: {e}"));
            assert_eq!(rbpf_r0, program.expected, "{name}: rbpf");
            assert_eq!(apiary_r0, program.expected, "{name}: Apiary");
            let jit_r0 = jit
                .run(&mut memory)
                .unwrap_or_else(|e| panic!("{name}: the JIT failed: {e}"));
            assert_eq!(jit_r0, program.expected, "{name}: Apiary's JIT");
        }
    }
}
