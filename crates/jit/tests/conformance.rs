//! The bpf_conformance suite on the JIT tier, and each file's outcome
//! compared with the interpreter's; the programs the verifier accepts also
//! compiled with its proofs.

use std::path::PathBuf;

use apiary_conformance::{
    CONFORMANCE_BUDGET, TestCase, collect_data_files, conformance_helpers, run_files_on,
    whole_suite_passed,
};
use apiary_kernel::types::ProgType;
use apiary_verifier::{AccessProof, Program as VerifiedProgram};
use apiary_vm::{Engine, Program, Runner};

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

/// The suite's programs the verifier accepts (as kprobe programs: `r1` is
/// read-only memory whose loads give numbers, never pointers the
/// conformance setup would not honour), compiled with its proofs: the same
/// r0 or error (address included) and memory as the interpreter.
#[test]
fn programs_the_verifier_accepts_run_the_same_compiled_with_its_proofs() {
    let Some(files) = suite() else { return };
    let (mut accepted, mut proven) = (0usize, 0usize);
    for path in &files {
        let text = std::fs::read_to_string(path).expect("reading a suite file");
        let Ok(case) = TestCase::parse(&text) else {
            continue;
        };
        let slots = match (&case.raw, &case.asm) {
            (Some(raw), _) => raw.clone(),
            (None, Some(asm)) => match apiary_asm::assemble_slots(&asm.text) {
                Ok(slots) => slots,
                Err(_) => continue,
            },
            (None, None) => continue,
        };
        let program = VerifiedProgram::bare(&slots, ProgType::KPROBE, &[]);
        let Ok(verdict) = apiary_verifier::verify(&program) else {
            continue;
        };
        let helpers = conformance_helpers();
        let (Ok(interpreted), Ok(compiled)) = (
            Program::new(&slots, helpers.clone()),
            Program::new(&slots, helpers),
        ) else {
            continue;
        };
        apiary_jit::compile_verified(&compiled, &verdict).expect("compiling with proofs");
        accepted += 1;
        proven += verdict.proofs.count(AccessProof::Stack);
        // One buffer for both runs, so that fault addresses compare.
        let mut memory = case.memory.clone();
        let mut runner = Runner::new();
        runner.set_budget(Some(CONFORMANCE_BUDGET));
        runner.set_engine(Engine::Interpreter);
        let by_interpreter = runner.run_on_memory(&interpreted, &mut (), &mut memory);
        let after_interpreter = std::mem::replace(&mut memory, case.memory.clone());
        runner.clear_stacks().set_engine(Engine::Compiled);
        let by_jit = runner.run_on_memory(&compiled, &mut (), &mut memory);
        assert_eq!(by_jit, by_interpreter, "{}", path.display());
        assert_eq!(memory, after_interpreter, "{}", path.display());
    }
    eprintln!("{accepted} programs accepted, {proven} stack accesses proven");
    assert!(accepted >= 250, "only {accepted} programs were accepted");
}
