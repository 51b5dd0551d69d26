//! Soundness of the verifier without the kernel: bytes pick a generated
//! program (`apiary-difftest`'s generator, seeded by the first 8 bytes)
//! and overwrite some of its body's slots (each further 9 bytes: a
//! position, then the slot's 8 bytes); the result goes through
//! `apiary-verifier`, and when it is accepted it runs in Apiary's checked
//! interpreter on random contexts. A memory fault in an accepted program
//! is a verifier bug (`apiary_difftest::check_accepted`); a panic anywhere
//! is a bug too.

#![no_main]

use apiary_difftest::{PROLOGUE_LEN, Rng, check_accepted, generate};
use apiary_isa::RawInsn;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((seed, edits)) = input.split_first_chunk::<8>() else {
        return;
    };
    let seed = u64::from_le_bytes(*seed);
    let case = generate(seed);
    let mut slots = apiary_isa::encode_program(&case.program.insns());
    let body = slots.len() - PROLOGUE_LEN;
    for edit in edits.chunks_exact(9) {
        let at = PROLOGUE_LEN + usize::from(edit[0]) % body;
        let bytes: [u8; 8] = edit[1..].try_into().expect("8 bytes");
        slots[at] = RawInsn::from_le_bytes(bytes);
    }
    if let Err(unsound) = check_accepted(&slots, &case, 2, &mut Rng::new(seed)) {
        panic!(
            "an accepted program faulted: {} on context {:?}",
            unsound.error, unsound.ctx
        );
    }
});
