//! The bpf_conformance suite on the JIT tier, and each file's outcome
//! compared with the interpreter's.

use std::path::PathBuf;

use apiary_conformance::{collect_data_files, run_files_on, whole_suite_passed};
use apiary_vm::Program;

fn jit(program: &Program<()>) -> Result<(), String> {
    apiary_jit::compile(program).map_err(|e| e.to_string())
}

fn jit_blinded(program: &Program<()>) -> Result<(), String> {
    let options = apiary_jit::Options {
        blind_constants: true,
    };
    apiary_jit::compile_with(program, options).map_err(|e| e.to_string())
}

fn suite() -> Option<Vec<PathBuf>> {
    let dir = match apiary_testskip::shared("conformance/bpf_conformance/tests") {
        Ok(dir) => dir,
        Err(reason) => return apiary_testskip::skip("conformance suite on the JIT", reason),
    };
    let mut files = Vec::new();
    collect_data_files(&dir, &mut files).expect("listing the suite");
    Some(files)
}

#[test]
fn bpf_conformance_suite_passes_on_the_jit() {
    let Some(files) = suite() else { return };
    for prepare in [jit, jit_blinded] {
        check_suite(&files, prepare);
    }
}

fn check_suite(files: &[PathBuf], prepare: apiary_conformance::Prepare) {
    let outcomes = run_files_on(files, Some(prepare));
    if let Err(problem) = whole_suite_passed(&outcomes) {
        panic!("{problem}");
    }
}

#[test]
fn every_conformance_file_gives_the_same_outcome_on_both_tiers() {
    let Some(files) = suite() else { return };
    let jit_outcomes = run_files_on(&files, Some(jit));
    let interp_outcomes = run_files_on(&files, None);
    for (j, i) in jit_outcomes.iter().zip(&interp_outcomes) {
        assert_eq!(j.verdict, i.verdict, "{}", j.path.display());
    }
}
