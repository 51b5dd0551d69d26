//! What the kernel-comparing test files share: the loud skip and the shape
//! of one side's test-run result.

/// Whether `bpf()` works; says loudly that `test` is skipped when not.
pub fn kernel_ok(test: &str) -> bool {
    match apiary_kernel::probe() {
        Ok(()) => true,
        Err(reason) => {
            eprintln!("SKIPPED: {test} because bpf() is unavailable: {reason}");
            false
        }
    }
}

/// A test run's result on one side, or its refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ran {
        retval: u32,
        data_out: Vec<u8>,
        ctx_out: Vec<u8>,
    },
    Refused,
}
