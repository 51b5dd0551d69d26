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
//! Input layout: 8 bytes the generator's seed, 8 bytes the inputs' seed,
//! one byte the number of mutations (its low 2 bits), then per mutation
//! 2 bytes a byte position in the bytecode and one byte xored into it;
//! the rest, if at least an Ethernet header long, is one more packet.
//! Every 4096 programs it prints how many were accepted and the proofs
//! per kind of the accepted programs' runs.

#![no_main]

use std::sync::atomic::{AtomicU64, Ordering};

use apiary_difftest::{
    Program, Rng, XdpCase, XdpInput, generate_xdp, verify_xdp, xdp_input, xdp_tiers_agree,
};
use apiary_verifier::AccessProof;
use libfuzzer_sys::fuzz_target;

/// Inputs each accepted program runs on, besides the fuzz input's packet.
const INPUTS: usize = 2;

/// Programs tried, accepted, runs, and per kind the proven accesses of
/// the programs those runs ran (stack, packet, map value).
static STATS: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

fn take<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = N.min(data.len());
    out[..n].copy_from_slice(&data[..n]);
    *data = &data[n..];
    out
}

/// `case` with `mutations` applied to its bytecode, if it still decodes
/// into a program whose branches land on instructions.
fn mutated(case: XdpCase, mutations: &[[u8; 3]]) -> Option<XdpCase> {
    if mutations.is_empty() {
        return Some(case);
    }
    let mut bytes = case.program.bytecode();
    for [hi, lo, xor] in mutations {
        let at = usize::from(u16::from_be_bytes([*hi, *lo])) % bytes.len();
        bytes[at] ^= xor;
    }
    let slots = apiary_isa::slots_from_bytes(&bytes).ok()?;
    let insns: Vec<_> = apiary_isa::decode_program(&slots)
        .ok()?
        .into_iter()
        .flatten()
        .collect();
    let program = Program::from_insns(&insns).ok()?;
    Some(XdpCase { program, ..case })
}

fn count(index: usize, by: u64) -> u64 {
    STATS[index].fetch_add(by, Ordering::Relaxed) + by
}

fuzz_target!(|input: &[u8]| {
    let mut data = input;
    let seed = u64::from_le_bytes(take(&mut data));
    let input_seed = u64::from_le_bytes(take(&mut data));
    let [mutation_count] = take(&mut data);
    let mutations: Vec<[u8; 3]> = (0..mutation_count & 3).map(|_| take(&mut data)).collect();
    let tried = count(0, 1);
    if tried.is_multiple_of(4096) {
        let s: Vec<u64> = STATS.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        eprintln!(
            "verified_vs_interp: {} programs, {} accepted, {} runs; proven accesses in the \
             programs run: {} stack, {} packet, {} map value",
            s[0], s[1], s[2], s[3], s[4], s[5]
        );
    }
    let Some(case) = mutated(generate_xdp(seed), &mutations) else {
        return;
    };
    let Ok(accepted) = verify_xdp(&case) else {
        return;
    };
    count(1, 1);
    let ready = |program: &apiary_vm::Program<apiary_runtime::Env>| {
        apiary_jit::compile_verified(program, &accepted).map_err(|e| e.to_string())
    };
    let mut rng = Rng::new(input_seed);
    let mut inputs: Vec<XdpInput> = (0..INPUTS).map(|_| xdp_input(&mut rng)).collect();
    if data.len() >= 14 {
        inputs.push(XdpInput {
            packet: data.to_vec(),
            ctx: None,
            budget: None,
        });
    }
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
