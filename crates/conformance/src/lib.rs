//! Conformance tests for Apiary: the `.data` format of bpf_conformance and
//! uBPF, and a runner that executes them on Apiary's interpreter.
//!
//! This crate owns the test file format ([`TestCase::parse`]), the
//! conformance execution setup (r1 = memory, r2 = its length, uBPF's test
//! helpers) and the comparison of outcomes, including the mapping from
//! uBPF's error wording to Apiary's error kinds ([`ErrorClass`]). It must not
//! implement instruction semantics or syntax itself: it drives `apiary-asm`
//! and `apiary-vm`.

mod data;
mod expect;
mod helpers;
mod run;

pub use data::{
    AsmText, ExpectedErrorText, MAX_MEMORY_BYTES, ParseError, ParseErrorKind, TestCase,
};
pub use expect::{ErrorClass, classify_decode_error, classify_ubpf_message};
pub use helpers::conformance_helpers;
pub use run::{
    BPF_CONFORMANCE_SUITE_SIZE, CONFORMANCE_BUDGET, ExecError, Execution, FileOutcome, Prepare,
    Verdict, collect_data_files, execute, execute_on, failures, run_case, run_case_on, run_file,
    run_file_on, run_files, run_files_on, whole_suite_passed,
};
