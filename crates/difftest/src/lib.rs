//! Differential testing of Apiary against the Linux kernel.
//!
//! This crate owns the random program generator ([`generate`], and its
//! xdp flavour [`generate_xdp`] with packet checks and accesses, run in
//! Apiary's two tiers through test-run by [`xdp_tiers_agree`]), the runs of
//! one program in both backends (the kernel as a privileged `syscall`
//! program through `BPF_PROG_TEST_RUN` with its maps, Apiary through
//! `apiary-runtime` with the same maps), their comparison (r0, the context
//! bytes and every map's entries), the recognition of listed kernel bugs
//! (`kernel-divergences.txt`, [`KernelBug`]), the shrinking of other
//! divergent programs into reproducer files ([`fuzz`]), the watch on the
//! kernel log for the verifier's warnings and oopses that loading a
//! generated program causes ([`LogWatch`]: kernel bugs, saved as
//! reproducers too), the run of the
//! bpf_conformance suite inside the kernel ([`conformance`]), and the same
//! comparison for whole objects ([`objects`]: one program of a clang-built
//! object run in Apiary and in the kernel on the same input, then return
//! value, packet, context and every map compared), which
//! `apiary prog run --backend both` prints, and the verifier test cases
//! of `tests/verifier` ([`verifier_cases`]: their format, and the
//! kernel's verdict on each).
//!
//! It must not implement instruction semantics, verification (it asks
//! `apiary-verifier`), maps,
//! helpers or syntax: the kernel, `apiary-runtime` and `apiary-vm`
//! execute, `apiary-asm` prints and reads.

mod backend;
pub mod conformance;
mod diff;
mod edge_mutation;
mod generate;
mod generate_xdp;
mod kernel_log;
mod known;
pub mod objects;
mod program;
mod rng;
mod soundness;
mod unsafe_mutation;
mod verdicts;
pub mod verifier_cases;
mod xdp_run;

pub use backend::{
    Entries, KEY_SIZE, KernelMaps, MAPS, MapKind, MapShape, Outcome, PrepareProgram, RunFailure,
    VALUE_SIZE, apiary_outcome, apiary_outcome_on, inlined_array_lookups, kernel_load,
    kernel_load_runnable, kernel_outcome, kernel_run, kernel_verifier_log, rejection_lines,
    rejection_reason,
};
pub use diff::{
    Harness, HarnessError, KernelWarning, ReproducerError, Summary, Verdict, fuzz,
    parse_reproducer, tiers_agree, without_addresses, write_kernel_warning, write_reproducer,
};
pub use generate::{CTX_INPUT_LEN, CTX_LEN, Case, DATA, KEY_RANGE, PROLOGUE_LEN, generate};
pub use generate_xdp::{
    XDP_MD_LEN, XDP_OUT_MAP, XDP_OUT_VALUE_SIZE, XdpCase, XdpInput, generate_xdp, xdp_input,
};
pub use kernel_log::{KernelReport, LogWatch, is_kernel_bug_line};
pub use known::{KernelBug, KnownDivergence, ListError, known_divergences, parse_known};
pub use program::{BranchError, Node, Program};
pub use rng::Rng;
pub use soundness::{Unsound, check_accepted, verifier_prevents};
pub use unsafe_mutation::{Mutation, apply, mutate};
pub use verdicts::{
    VerdictDisagreement, VerdictSummary, apiary_verify, compare_verdicts, verifier_maps,
};
pub use xdp_run::{
    Ready, XdpDivergence, XdpFailure, XdpOutcome, verify_xdp, xdp_map_infos, xdp_outcome,
    xdp_tiers_agree,
};

/// Whether the kernel side can run here (`bpf()` works); the error says why not.
pub fn kernel_available() -> Result<(), apiary_kernel::Unavailable> {
    apiary_kernel::probe()
}
