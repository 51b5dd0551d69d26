//! What the kernel-comparing test files share: the skip when `bpf()` is
//! unusable and the shape of one side's test-run result.

/// Whether `bpf()` works; skips `test` (apiary-testskip) when not.
pub fn kernel_ok(test: &str) -> bool {
    match apiary_kernel::probe() {
        Ok(()) => true,
        Err(reason) => apiary_testskip::missing(test, format!("bpf() is unavailable: {reason}")),
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
