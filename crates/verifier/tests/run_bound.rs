//! The verifier's run bound (`Accepted::run_bound`) is an upper bound: a
//! JIT stops counting the budget of runs that start with that much, so a
//! run that executed more than the bound would run past its budget. Every
//! accepted generated program (counted loops with branches on the input
//! inside, which the walk prunes) runs in the interpreter with exactly its
//! bound as the budget on random contexts and must never exhaust it; a
//! loop the walk never prunes is bounded exactly (a loop it prunes: the
//! JIT's `verified_hostile` test, which runs it at every budget).

use apiary_asm::assemble_slots;
use apiary_difftest::{
    CTX_LEN, Rng, RunFailure, apiary_outcome, apiary_verify, generate, verifier_maps,
};
use apiary_isa::{Insn, decode_program, encode_program};
use apiary_kernel::types::ProgType;
use apiary_verifier::{Program, verify};
use apiary_vm::RunError;

const PROGRAMS: u64 = 300;
const INPUTS: usize = 4;

/// Whether some jump goes backwards.
fn has_loop(insns: &[Option<Insn>]) -> bool {
    insns.iter().flatten().any(|insn| match *insn {
        Insn::Jump { off, .. } | Insn::Ja { off } => off < 0,
        Insn::Ja32 { imm } => imm < 0,
        _ => false,
    })
}

#[test]
fn no_run_of_a_generated_program_exceeds_its_bound() {
    let mut rng = Rng::new(0x0062_6f75_6e64);
    let (mut bounded, mut looping) = (0, 0);
    for seed in 0..PROGRAMS {
        let case = generate(seed);
        let slots = encode_program(&case.program.insns());
        let Ok(accepted) = apiary_verify(&slots, &verifier_maps()) else {
            continue;
        };
        let Some(bound) = accepted.run_bound else {
            continue;
        };
        bounded += 1;
        looping += usize::from(has_loop(&decode_program(&slots).expect("decoding")));
        let bytecode = apiary_isa::slots_to_bytes(&slots);
        for input in 0..INPUTS {
            let ctx: Vec<u8> = match input {
                0 => case.ctx.clone(),
                _ => (0..CTX_LEN).map(|_| rng.next_u64() as u8).collect(),
            };
            if let Err(RunFailure::ApiaryRun(error @ RunError::BudgetExhausted { .. })) =
                apiary_outcome(&bytecode, &ctx, &case.maps, Some(bound))
            {
                panic!(
                    "seed {seed}: a run exceeded the bound {bound}: {error}\n{}",
                    case.program.to_asm()
                );
            }
        }
    }
    eprintln!("{bounded} bounded programs, {looping} with loops");
    assert!(looping >= 50, "only {looping} bounded programs had loops");
}

#[test]
fn a_loop_the_walk_never_prunes_is_bounded_by_its_exact_length() {
    // 1 + 3 iterations of 2 + 2: every iteration's state differs (r1 is
    // precise: the exit test decides on it), so nothing is pruned.
    let slots = assemble_slots(
        "r1 = 3
        r1 += -1
        if r1 != 0 goto -2
        r0 = 0
        exit",
    )
    .expect("assembling");
    let accepted = verify(&Program::bare(&slots, ProgType::XDP, &[])).expect("accepted");
    assert_eq!(accepted.run_bound, Some(9));
}
