//! Random xdp programs (the differential tester's generator with packet
//! checks of every shape, variable offsets, xdp helpers and map helpers)
//! that the verifier accepts, compiled with its proofs and run through
//! test-run on random packets, contexts and budgets: everything must be
//! as in the interpreter, and the interpreter must never fault (an
//! accepted program that touches memory outside its regions is a
//! verifier bug the proofs would turn into an escape). The same check as
//! the `verified_vs_interp` fuzz target, on fixed seeds.

use apiary_difftest::{Rng, generate_xdp, verify_xdp, xdp_input, xdp_tiers_agree};
use apiary_verifier::AccessProof;
use apiary_vm::Program;

/// Runs of each accepted program, on different inputs.
const INPUTS: usize = 4;

#[test]
fn accepted_xdp_programs_compiled_with_their_proofs_agree_with_the_interpreter() {
    let (mut accepted, mut runs, mut finished) = (0, 0, 0);
    let mut proven = [0usize; 3];
    let kinds = [
        AccessProof::Stack,
        AccessProof::Packet,
        AccessProof::MapValue,
    ];
    for seed in 0..300 {
        let case = generate_xdp(seed);
        let Ok(verdict) = verify_xdp(&case) else {
            continue;
        };
        accepted += 1;
        for (count, kind) in proven.iter_mut().zip(kinds) {
            *count += verdict.proofs.count(kind);
        }
        let ready = |program: &Program<apiary_runtime::Env>| {
            apiary_jit::compile_verified(program, &verdict).map_err(|e| e.to_string())
        };
        let mut rng = Rng::new(seed ^ 0x7864_7069);
        for _ in 0..INPUTS {
            let input = xdp_input(&mut rng);
            match xdp_tiers_agree(&case, &input, &ready) {
                Ok(outcome) => finished += usize::from(outcome.is_ok()),
                Err(divergence) => panic!(
                    "seed {seed}, input {input:?}:\n{divergence}\n{}",
                    case.program.to_asm()
                ),
            }
            runs += 1;
        }
    }
    eprintln!(
        "{accepted} of 300 accepted, {runs} runs ({finished} to the end); proven accesses: \
         {} stack, {} packet, {} map value",
        proven[0], proven[1], proven[2]
    );
    assert!(accepted >= 150, "only {accepted} programs were accepted");
    assert!(
        proven[1] >= 300,
        "only {} packet accesses were proven",
        proven[1]
    );
    assert!(
        finished >= runs / 2,
        "only {finished} of {runs} runs finished"
    );
}
