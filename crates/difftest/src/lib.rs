//! Differential testing of Apiary's interpreter against the Linux kernel.
//!
//! This crate owns the random program generator ([`generate`]), the runs of
//! one program in both backends (the kernel as a privileged `syscall`
//! program through `BPF_PROG_TEST_RUN`, Apiary's `apiary-vm`), their
//! comparison (r0 and the context bytes), the shrinking of divergent
//! programs into reproducer files ([`fuzz`]), and the run of the
//! bpf_conformance suite inside the kernel ([`conformance`]).
//!
//! It must not implement instruction semantics, verification or syntax:
//! the kernel and `apiary-vm` execute, `apiary-asm` prints. Generated
//! programs touch only registers, the stack and the context (no helper
//! calls or maps yet).

mod backend;
pub mod conformance;
mod diff;
mod generate;
mod program;
mod rng;

pub use backend::{Outcome, RunFailure, apiary_run, kernel_load, kernel_run, rejection_reason};
pub use diff::{Summary, Verdict, check, fuzz, shrink, write_reproducer};
pub use generate::{CTX_INPUT_LEN, CTX_LEN, Case, DATA, PROLOGUE_LEN, generate};
pub use program::{Node, Program};
pub use rng::Rng;

/// Whether the kernel side can run here (`bpf()` works); the error says why not.
pub fn kernel_available() -> Result<(), apiary_kernel::Unavailable> {
    apiary_kernel::probe()
}
