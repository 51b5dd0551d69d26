//! Benchmark programs and the rbpf side of the interpreter benchmarks.
//!
//! This crate owns the bytecode that `benches/interp.rs` runs on Apiary's
//! interpreter and on rbpf's, the Rust reference computation each program
//! must agree with, and the glue that loads a program into rbpf. It must not
//! contain interpreter logic of its own or timing assertions: speed is only
//! measured by `cargo bench -p apiary-bench`, never asserted by `cargo test`.

pub mod programs;
pub mod rbpf_side;

pub use programs::{BenchProgram, MIX_HELPER_ID, mix};
