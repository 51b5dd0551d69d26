//! What several tests share: a program without memory run on both tiers.

use apiary_isa::RawInsn;
use apiary_vm::{Engine, Program, Runner};

/// Runs `slots` with no memory in the interpreter and, compiled by
/// `compile`, natively; asserts that both give the same result (`what`
/// names the program in the failure).
pub fn tiers_agree(slots: &[RawInsn], compile: impl FnOnce(&Program<()>), what: &str) {
    let helpers = apiary_conformance::conformance_helpers();
    let interpreted = Program::new(slots, helpers.clone()).expect("preparing");
    let compiled = Program::new(slots, helpers).expect("preparing");
    compile(&compiled);
    let mut runner = Runner::new();
    runner.set_engine(Engine::Interpreter);
    let want = runner.run_on_memory(&interpreted, &mut (), &mut []);
    runner.set_engine(Engine::Compiled);
    let got = runner.run_on_memory(&compiled, &mut (), &mut []);
    assert_eq!(got, want, "{what}");
}

/// `text` verified as xdp (loop-free or bounded, so that the compiled run
/// takes the body that does not count the budget, where the JIT fuses
/// ops), compiled with the verdict, on both tiers.
#[allow(dead_code)] // Not every test file that shares this module uses it.
pub fn verified_tiers_agree(text: &str) {
    use apiary_kernel::types::ProgType;
    use apiary_verifier::{Program as Verified, verify};
    let slots = apiary_asm::assemble_slots(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let accepted = verify(&Verified::bare(&slots, ProgType::XDP, &[]))
        .unwrap_or_else(|r| panic!("refused: {}\n{text}", r.kernel));
    assert!(accepted.run_bound.is_some(), "{text}");
    tiers_agree(
        &slots,
        |program| apiary_jit::compile_verified(program, &accepted).expect("compiling"),
        text,
    );
}
