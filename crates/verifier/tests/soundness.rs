//! Soundness without the kernel: generated programs, made unsafe by a
//! mutation or with one slot overwritten by random bits, are verified, and
//! every accepted one runs in Apiary's checked interpreter on random
//! contexts. A memory fault there is a verifier bug.

use apiary_difftest::{PROLOGUE_LEN, Rng, check_accepted, generate, mutate};

const PROGRAMS: u64 = 250;
const INPUTS: usize = 3;

#[test]
fn accepted_programs_never_fault_in_the_interpreter() {
    let mut rng = Rng::new(12);
    let (mut accepted, mut faults) = (0, Vec::new());
    for seed in 0..PROGRAMS {
        let case = generate(seed);
        let (program, mutation) = mutate(&case, &mut rng);
        let mut edited = apiary_isa::encode_program(&case.program.insns());
        let at = PROLOGUE_LEN + rng.below(edited.len() - PROLOGUE_LEN);
        let bits = rng.next_u64();
        let slot = &mut edited[at];
        match bits % 4 {
            0 => slot.off = (bits >> 8) as i16,
            1 => slot.imm = (bits >> 8) as i32,
            2 => slot.code = (bits >> 8) as u8,
            _ => (slot.dst, slot.src) = ((bits >> 8) as u8 % 11, (bits >> 16) as u8 % 11),
        }
        let mutated = apiary_isa::encode_program(&program.insns());
        for (what, slots) in [(mutation.name(), mutated), ("slot edited", edited)] {
            match check_accepted(&slots, &case, INPUTS, &mut rng) {
                Ok(true) => accepted += 1,
                Ok(false) => {}
                Err(unsound) => faults.push(format!(
                    "seed {seed} ({what}): {}\n{}",
                    unsound.error,
                    listing(&slots)
                )),
            }
        }
    }
    eprintln!(
        "{} programs, {accepted} accepted and run, {} faults",
        2 * PROGRAMS,
        faults.len()
    );
    // Most unchanged and safely edited programs verify: the run tests something.
    assert!(accepted >= PROGRAMS / 4, "only {accepted} accepted");
    assert!(
        faults.is_empty(),
        "accepted programs that fault: {faults:#?}"
    );
}

/// The program, one instruction a line with its slot.
fn listing(slots: &[apiary_isa::RawInsn]) -> String {
    apiary_isa::decode_slots(slots)
        .unwrap_or_default()
        .iter()
        .map(|(slot, insn)| {
            format!(
                "{slot:4}: {}\n",
                apiary_asm::format_insn(insn, apiary_asm::Syntax::Llvm)
            )
        })
        .collect()
}
