//! Compiling the programs of an object by the verifier's verdicts: with
//! their proofs when accepted, with every check when not.

use std::sync::Arc;

use apiary_verifier::{Accepted, AccessProof, ProgramVerdict};
use apiary_vm::Program;

use crate::JitError;

/// How [`compile_each`] compiled one program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compiled {
    /// With the verifier's proofs: this many accesses of each kind run
    /// without a check.
    Verified {
        /// Proven stack accesses.
        stack: usize,
        /// Proven packet accesses (unchecked in runs with a packet buffer).
        packet: usize,
        /// Proven map-value accesses.
        map_value: usize,
        /// Proven context accesses (unchecked in runs whose context holds them).
        context: usize,
    },
    /// With every check, as the verifier refused it (its kernel line).
    Checked(String),
}

impl std::fmt::Display for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compiled::Verified {
                stack,
                packet,
                map_value,
                context,
            } => write!(
                f,
                "verified: {stack} stack, {packet} packet, {map_value} map-value, \
                 {context} context accesses unchecked"
            ),
            Compiled::Checked(refusal) => write!(
                f,
                "unverified (the verifier refused it: {refusal}): every access checked"
            ),
        }
    }
}

/// Compiles `program` with the verifier's proofs when it `accepted` the
/// program, with every access checked when it did not (or was not asked).
pub fn compile_by_verdict<E: 'static>(
    program: &Program<E>,
    accepted: Option<&Accepted>,
) -> Result<(), JitError> {
    match accepted {
        Some(accepted) => crate::compile_verified(program, accepted),
        None => crate::compile(program),
    }
}

/// Compiles each program `verdicts` names that `program` finds (the
/// prepared program of that name, loaded from the same object), with its
/// proofs when the verifier accepted it; says how, by name.
pub fn compile_each<E: 'static>(
    verdicts: &[ProgramVerdict],
    program: impl Fn(&str) -> Option<Arc<Program<E>>>,
) -> Result<Vec<(String, Compiled)>, JitError> {
    let mut done = Vec::with_capacity(verdicts.len());
    for verdict in verdicts {
        let Some(prog) = program(&verdict.name) else {
            continue;
        };
        compile_by_verdict(&prog, verdict.result.as_ref().ok())?;
        let how = match &verdict.result {
            Ok(accepted) => {
                let p = &accepted.proofs;
                Compiled::Verified {
                    stack: p.count(AccessProof::Stack),
                    packet: p.count(AccessProof::Packet),
                    map_value: p.count(AccessProof::MapValue),
                    context: p.count(AccessProof::Context),
                }
            }
            Err(rejection) => Compiled::Checked(rejection.kernel.clone()),
        };
        done.push((verdict.name.clone(), how));
    }
    Ok(done)
}
