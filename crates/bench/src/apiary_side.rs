//! Loading the benchmark programs into Apiary, on either tier.

use std::sync::Arc;

use apiary_jit::JitError;
use apiary_vm::{Helpers, LoadError, Program, RunError, Runner};
use thiserror::Error;

use crate::programs::{BenchProgram, MIX_HELPER_ID, mix};

const _: () = assert!(MIX_HELPER_ID <= apiary_vm::MAX_HELPER_ID);

/// A prepared program and a reusable runner, as an embedder running one
/// program many times would hold them.
pub struct ApiaryRunner {
    program: Program<()>,
    runner: Runner<()>,
}

/// Why a benchmark program could not be prepared.
#[derive(Debug, Error)]
pub enum SetupError {
    /// The vm refused it.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The JIT refused it.
    #[error(transparent)]
    Jit(#[from] JitError),
}

impl ApiaryRunner {
    /// Prepares `program` for the JIT tier.
    pub fn jit(program: &BenchProgram) -> Result<Self, SetupError> {
        let runner = ApiaryRunner::new(program)?;
        apiary_jit::compile(&runner.program)?;
        Ok(runner)
    }

    /// Prepares `program` for the interpreter, with [`mix`] registered if it calls it.
    pub fn new(program: &BenchProgram) -> Result<Self, LoadError> {
        let mut helpers = Helpers::new();
        if program.calls_helper {
            helpers
                // `mix` needs only its arguments, as in rbpf, where it is a plain function too.
                .register_pure(MIX_HELPER_ID, "mix", mix)
                .expect("MIX_HELPER_ID is checked against MAX_HELPER_ID at compile time");
        }
        Ok(ApiaryRunner {
            program: Program::new(&program.slots(), Arc::new(helpers))?,
            runner: Runner::new(),
        })
    }

    /// Runs the program once with `memory` as its only region (address in
    /// `r1`, as rbpf's `EbpfVmRaw` passes it) and returns `r0`.
    pub fn run(&mut self, memory: &mut [u8]) -> Result<u64, RunError> {
        self.runner.run_on_memory(&self.program, &mut (), memory)
    }
}
