//! How `verified_vs_interp` reads its input, shared with the tool that
//! counts the proven accesses a corpus executes: 8 bytes the generator's
//! seed, 8 bytes the inputs' seed, one byte the number of mutations (its
//! low 2 bits), then per mutation 2 bytes a byte position in the bytecode
//! and one byte xored into it; the rest, if at least an Ethernet header
//! long, is one more packet.

use apiary_difftest::{Program, Rng, XdpCase, XdpInput, generate_xdp, xdp_input};

/// Inputs each program runs on, besides the fuzz input's packet.
const INPUTS: usize = 2;

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

/// The program and the inputs to run it on, or `None` when the
/// mutations left no program.
pub fn decode(input: &[u8]) -> Option<(XdpCase, Vec<XdpInput>)> {
    let mut data = input;
    let seed = u64::from_le_bytes(take(&mut data));
    let input_seed = u64::from_le_bytes(take(&mut data));
    let [mutation_count] = take(&mut data);
    let mutations: Vec<[u8; 3]> = (0..mutation_count & 3).map(|_| take(&mut data)).collect();
    let case = mutated(generate_xdp(seed), &mutations)?;
    let mut rng = Rng::new(input_seed);
    let mut inputs: Vec<XdpInput> = (0..INPUTS).map(|_| xdp_input(&mut rng)).collect();
    if data.len() >= 14 {
        inputs.push(XdpInput {
            packet: data.to_vec(),
            ctx: None,
            budget: None,
        });
    }
    Some((case, inputs))
}
