//! Programs from the differential tester's xdp generator (map helpers,
//! stack, context, packet checks of every shape with constant and
//! mask-bounded variable offsets, xdp helpers), now and then with raw
//! byte mutations, verified by apiary-verifier as xdp programs; each one
//! it accepts runs through test-run on random packets, `xdp_md` contexts
//! and budgets, in the interpreter and compiled with the verifier's
//! proofs (proven accesses unchecked): retval, packet, context, events,
//! maps and errors must be identical, and the interpreter must never
//! fault (an accepted program reaching outside its regions is a verifier
//! bug that the proofs turn into an escape). Any difference is a crash.
//!
//! Input layout: see `verified_input.rs`. Every 4096 programs it prints
//! how many were accepted and the proofs per kind of the accepted
//! programs' runs (static counts; `tools/count_proven.rs` counts the
//! proven accesses a corpus executes).

#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};

use apiary_difftest::{verify_xdp, xdp_tiers_agree};
use apiary_verifier::AccessProof;
use libfuzzer_sys::fuzz_target;

#[path = "verified_input.rs"]
mod verified_input;

/// Programs tried, accepted, runs, and per kind the proven accesses of
/// the programs those runs ran (stack, packet, map value).
static STATS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

fn count(index: usize, by: u64) -> u64 {
    STATS[index].fetch_add(by, Ordering::Relaxed) + by
}

fuzz_target!(|input: &[u8]| {
    let tried = count(0, 1);
    if tried.is_multiple_of(4096) {
        let s: Vec<u64> = STATS.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        eprintln!(
            "verified_vs_interp: {} programs, {} accepted, {} runs; proven accesses in the \
             programs run: {} stack, {} packet, {} map value",
            s[0], s[1], s[2], s[3], s[4], s[5]
        );
    }
    let Some((case, inputs)) = verified_input::decode(input) else {
        return;
    };
    let Ok(accepted) = verify_xdp(&case) else {
        return;
    };
    count(1, 1);
    let ready = |program: &apiary_vm::Program<apiary_runtime::Env>| {
        apiary_jit::compile_verified(program, &accepted).map_err(|e| e.to_string())
    };
    for input in &inputs {
        if let Err(divergence) = xdp_tiers_agree(&case, input, &ready) {
            panic!("{divergence}\ninput {input:?}\n{}", case.program.to_asm());
        }
    }
    count(2, inputs.len() as u64);
    let kinds = [
        AccessProof::Stack,
        AccessProof::Packet,
        AccessProof::MapValue,
    ];
    for (index, kind) in (3..).zip(kinds) {
        count(index, (accepted.proofs.count(kind) * inputs.len()) as u64);
    }
});
