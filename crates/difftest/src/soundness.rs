//! Soundness without the kernel: a program Apiary's verifier accepts must
//! never fault in Apiary's checked interpreter. Generated programs (made
//! unsafe or not by a [`crate::Mutation`], or edited slot by slot by a
//! fuzzer) are verified, and each accepted one runs on several random
//! contexts; a memory fault, a misaligned atomic, a fall off the end or too
//! deep a call in an accepted program is a verifier bug.

use apiary_isa::RawInsn;
use apiary_vm::{FaultLocation, RunError};

use crate::backend::{RunFailure, apiary_outcome};
use crate::generate::{CTX_LEN, Case};
use crate::rng::Rng;
use crate::verdicts::{apiary_verify, verifier_maps};

/// Instructions one run may execute: generated loops are short, and an
/// accepted program that runs longer is no memory-safety question.
const BUDGET: u64 = 1_000_000;

/// An accepted program that faulted.
#[derive(Debug, Clone)]
pub struct Unsound {
    /// The context it ran on.
    pub ctx: Vec<u8>,
    /// How the interpreter stopped.
    pub error: RunError,
}

/// Whether the verifier should have made `error` impossible. A `syscall`
/// program's context is the caller's buffer: reading past its end is
/// refused by the test run (the kernel checks the buffer against the
/// largest offset the verifier saw), not by the verifier.
pub fn verifier_prevents(error: &RunError) -> bool {
    match error {
        RunError::MemoryFault {
            location: FaultLocation::Context { offset, .. },
            ..
        } => *offset < 0,
        RunError::MemoryFault { .. }
        | RunError::MisalignedAtomic { .. }
        | RunError::FellOffEnd { .. }
        | RunError::CallDepthExceeded { .. } => true,
        _ => false,
    }
}

/// Verifies `slots` as a generated program with `case`'s maps and, when
/// Apiary accepts it, runs it from `case`'s maps on `inputs` random
/// contexts drawn from `rng`. `Ok(true)` when it was accepted and ran
/// without a fault the verifier should prevent, `Ok(false)` when refused.
pub fn check_accepted(
    slots: &[RawInsn],
    case: &Case,
    inputs: usize,
    rng: &mut Rng,
) -> Result<bool, Box<Unsound>> {
    if apiary_verify(slots, &verifier_maps()).is_err() {
        return Ok(false);
    }
    let bytecode = apiary_isa::slots_to_bytes(slots);
    for _ in 0..inputs {
        let ctx: Vec<u8> = (0..CTX_LEN).map(|_| rng.next_u64() as u8).collect();
        match apiary_outcome(&bytecode, &ctx, &case.maps, Some(BUDGET)) {
            Err(RunFailure::ApiaryRun(error)) if verifier_prevents(&error) => {
                return Err(Box::new(Unsound { ctx, error }));
            }
            _ => {}
        }
    }
    Ok(true)
}
