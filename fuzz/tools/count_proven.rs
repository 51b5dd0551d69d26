//! Counts the proven accesses the inputs of a `verified_vs_interp` corpus
//! execute, per kind: each accepted program's runs are traced in the
//! interpreter by stepping the budget (a run given budget `n` stops at
//! the instruction that would exceed it and says which), and every
//! traced instruction with a proof counts once per execution.
//!
//! Usage: `cargo run --release --bin count_proven -- corpus/verified_vs_interp`.

use std::error::Error;
use std::fs;

use apiary_difftest::{XdpFailure, XdpInput, verify_xdp, xdp_outcome};
use apiary_verifier::AccessProof;
use apiary_vm::Engine;

#[path = "../fuzz_targets/verified_input.rs"]
mod verified_input;

/// Instructions traced per run at most (the trace costs their square).
const MAX_TRACE: u64 = 2000;

fn main() -> Result<(), Box<dyn Error>> {
    let kinds = [
        AccessProof::Stack,
        AccessProof::Packet,
        AccessProof::MapValue,
    ];
    let (mut files, mut accepted, mut runs, mut executed) = (0, 0, 0, 0u64);
    let mut proven = [0u64; 3];
    for dir in std::env::args().skip(1) {
        for entry in fs::read_dir(&dir)? {
            files += 1;
            let Some((case, inputs)) = verified_input::decode(&fs::read(entry?.path())?) else {
                continue;
            };
            let Ok(verdict) = verify_xdp(&case) else {
                continue;
            };
            accepted += 1;
            for input in &inputs {
                runs += 1;
                let limit = input.budget.unwrap_or(u64::MAX).min(MAX_TRACE);
                for step in 1..=limit {
                    let stepped = XdpInput {
                        budget: Some(step),
                        ..input.clone()
                    };
                    let Err(XdpFailure::Run {
                        out_of_budget_at: Some(pc),
                        ..
                    }) = xdp_outcome(&case, &stepped, Engine::Interpreter, None)
                    else {
                        break;
                    };
                    executed += 1;
                    if let Some(at) = kinds
                        .iter()
                        .position(|&k| verdict.proofs.get(pc) == Some(k))
                    {
                        proven[at] += 1;
                    }
                }
            }
        }
    }
    println!(
        "{files} inputs, {accepted} accepted programs, {runs} runs, {executed} instructions \
         executed; proven accesses executed: {} stack, {} packet, {} map value",
        proven[0], proven[1], proven[2]
    );
    Ok(())
}
