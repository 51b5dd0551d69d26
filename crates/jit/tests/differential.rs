//! Random programs from the differential tester's generator, run on both
//! tiers through the runtime (maps and helpers included): r0, the context,
//! every map, and the error (kind, pc and wording) must be the same, with
//! and without a budget small enough to run out mid-program; and those the
//! verifier accepts, compiled with its proofs.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use apiary_difftest::{
    Case, Outcome, PrepareProgram, RunFailure, apiary_outcome_on, generate, without_addresses,
};
use apiary_runtime::Env;
use apiary_verifier::{Accepted, AccessProof};
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

/// Every other program with blinded constants.
fn checked(seed: u64, _: &Case) -> Option<PrepareProgram> {
    Some(if seed.is_multiple_of(2) {
        jit
    } else {
        jit_blinded
    })
}

thread_local! {
    /// The verifier's verdict on the program [`jit_verified`] compiles next.
    static ACCEPTED: RefCell<Option<Accepted>> = const { RefCell::new(None) };
}

fn jit_verified(program: &Program<Env>) -> Result<(), String> {
    ACCEPTED
        .with_borrow(|accepted| match accepted {
            Some(accepted) => apiary_jit::compile_verified(program, accepted),
            None => Err(apiary_jit::JitError::ProofsMismatch {
                slots: program.slot_count(),
                proofs: 0,
            }),
        })
        .map_err(|e| e.to_string())
}

/// Map-value accesses proven in the programs [`verified`] saw.
static MAP_VALUE_PROOFS: AtomicUsize = AtomicUsize::new(0);

/// The verified compile for the programs the verifier accepts (as the
/// runtime loads them: syscall programs), none for the others.
fn verified(_: u64, case: &Case) -> Option<PrepareProgram> {
    let slots = apiary_isa::slots_from_bytes(&case.program.bytecode()).ok()?;
    let accepted =
        apiary_difftest::apiary_verify(&slots, &apiary_difftest::verifier_maps()).ok()?;
    MAP_VALUE_PROOFS.fetch_add(
        accepted.proofs.count(AccessProof::MapValue),
        Ordering::Relaxed,
    );
    ACCEPTED.set(Some(accepted));
    Some(jit_verified)
}

/// Compares the interpreter with the tier `tier` picks for each program it
/// gives one (`None`: not compared); returns the failed runs and the
/// programs compared.
fn compare(
    seeds: std::ops::Range<u64>,
    budget: impl Fn(u64) -> Option<u64>,
    tier: fn(u64, &Case) -> Option<PrepareProgram>,
) -> (usize, usize) {
    let (mut errors, mut compared) = (0, 0);
    for seed in seeds {
        let case = generate(seed);
        let Some(prepare) = tier(seed, &case) else {
            continue;
        };
        compared += 1;
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
        let compiled = run(Some(prepare));
        assert_eq!(
            interpreted,
            compiled,
            "seed {seed}, budget {:?}:\n{}",
            budget(seed),
            case.program.to_asm()
        );
        errors += usize::from(interpreted.is_err());
    }
    (errors, compared)
}

#[test]
fn random_programs_agree_on_both_tiers() {
    compare(0..400, |_| None, checked);
}

#[test]
fn random_programs_the_verifier_accepts_agree_compiled_with_its_proofs() {
    let (_, compared) = compare(2000..2600, |_| None, verified);
    assert!(compared >= 500, "only {compared} programs were accepted");
    let proven = MAP_VALUE_PROOFS.load(Ordering::Relaxed);
    assert!(
        proven >= 100,
        "only {proven} map-value accesses were proven"
    );
    let (errors, budgeted) = compare(3000..3600, |seed| Some(seed % 97), verified);
    eprintln!(
        "{compared} + {budgeted} accepted programs compared, {errors} stopped early, {} map-value accesses proven",
        MAP_VALUE_PROOFS.load(Ordering::Relaxed)
    );
    assert!(errors > 100, "only {errors} runs ran out of budget");
}

#[test]
fn random_programs_agree_when_the_budget_runs_out() {
    let (errors, _) = compare(1000..1400, |seed| Some(seed % 97), checked);
    // Most runs must stop on the budget, or the test would not test it.
    assert!(errors > 200, "only {errors} runs failed");
}
