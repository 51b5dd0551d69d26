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
