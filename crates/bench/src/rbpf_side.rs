//! Loading the benchmark programs into rbpf's interpreter.

use crate::programs::{BenchProgram, MIX_HELPER_ID, mix};

/// A program ready to run on rbpf's `EbpfVmRaw` interpreter, which passes the
/// memory region's address in `r1` as Apiary's runner does.
pub struct RbpfRunner<'a> {
    vm: rbpf::EbpfVmRaw<'a>,
}

impl<'a> RbpfRunner<'a> {
    /// Verifies `bytecode` with rbpf's verifier and registers [`mix`] if
    /// `program` calls it.
    pub fn new(program: &BenchProgram, bytecode: &'a [u8]) -> Result<Self, std::io::Error> {
        let mut vm = rbpf::EbpfVmRaw::new(Some(bytecode))?;
        if program.calls_helper {
            vm.register_helper(MIX_HELPER_ID, mix)?;
        }
        Ok(RbpfRunner { vm })
    }

    /// Runs the program once on `memory` and returns `r0`.
    pub fn run(&self, memory: &mut [u8]) -> Result<u64, std::io::Error> {
        self.vm.execute_program(memory)
    }
}
