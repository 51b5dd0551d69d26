//! Random programs from the differential tester's generator, run on both
//! tiers through the runtime (maps and helpers included): r0, the context,
//! every map, and the error (kind, pc and wording) must be the same, with
//! and without a budget small enough to run out mid-program.

use apiary_difftest::{Outcome, RunFailure, apiary_outcome_on, generate, without_addresses};
use apiary_runtime::Env;
use apiary_vm::Program;

fn jit(program: &Program<Env>) -> Result<(), String> {
    apiary_jit::compile(program).map_err(|e| e.to_string())
}

fn jit_blinded(program: &Program<Env>) -> Result<(), String> {
    let options = apiary_jit::Options {
        blind_constants: true,
    };
    apiary_jit::compile_with(program, options).map_err(|e| e.to_string())
}

/// The failure without host addresses, which differ between runs (each
/// run has its own stack and context buffer).
fn comparable(result: Result<Outcome, RunFailure>) -> Result<Outcome, String> {
    result.map_err(|failure| without_addresses(&format!("{failure:?}")))
}

fn compare(seeds: std::ops::Range<u64>, budget: impl Fn(u64) -> Option<u64>) -> usize {
    let mut errors = 0;
    for seed in seeds {
        let case = generate(seed);
        let bytecode = case.program.bytecode();
        let run = |prepare| {
            comparable(apiary_outcome_on(
                &bytecode,
                &case.ctx,
                &case.maps,
                budget(seed),
                prepare,
            ))
        };
        let interpreted = run(None);
        // Every other program with blinded constants.
        let compiled = run(Some(if seed % 2 == 0 { jit } else { jit_blinded }));
        assert_eq!(
            interpreted,
            compiled,
            "seed {seed}, budget {:?}:\n{}",
            budget(seed),
            case.program.to_asm()
        );
        errors += usize::from(interpreted.is_err());
    }
    errors
}

#[test]
fn random_programs_agree_on_both_tiers() {
    compare(0..400, |_| None);
}

#[test]
fn random_programs_agree_when_the_budget_runs_out() {
    let errors = compare(1000..1400, |seed| Some(seed % 97));
    // Most runs must stop on the budget, or the test would not test it.
    assert!(errors > 200, "only {errors} runs failed");
}
