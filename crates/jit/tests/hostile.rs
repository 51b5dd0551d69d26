//! Hostile programs: random instruction words that decode, compiled and
//! run on both tiers with the same runner (stacks cleared before each
//! run), memory and budget. Neither may crash the host; both must give the
//! same r0 or error (addresses included) and leave the same memory.

use std::sync::Arc;

use apiary_conformance::conformance_helpers;
use apiary_difftest::Rng;
use apiary_isa::{Insn, RawInsn, decode_program, encode_program};
use apiary_vm::{Engine, Program, Runner};

/// Immediates and offsets that make instructions decode (atomic and
/// `movsx`/`sdiv` selectors, endian widths) or hit memory, plus noise.
const IMMS: [i32; 20] = [
    0, 1, -1, 2, 8, 16, 32, 63, 64, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x100,
    0x110,
];
const OFFS: [i16; 14] = [0, 1, 2, 3, -1, -2, -8, -16, -512, -513, 8, 16, 32, 60];

fn random_word(rng: &mut Rng) -> RawInsn {
    RawInsn {
        code: rng.next_u64() as u8,
        dst: rng.below(11) as u8,
        src: rng.below(11) as u8,
        off: if rng.coin() {
            rng.pick(&OFFS)
        } else {
            rng.below(9) as i16 - 4
        },
        imm: if rng.coin() {
            rng.pick(&IMMS)
        } else {
            rng.next_u64() as i32
        },
    }
}

/// A random word that decodes (with its second slot, for `lddw`).
fn decodable_word(rng: &mut Rng) -> Vec<RawInsn> {
    let exit = encode_program(&[Insn::Exit]);
    loop {
        let word = random_word(rng);
        let mut words = vec![word];
        if word.code == 0x18 {
            words.push(RawInsn {
                imm: rng.next_u64() as i32,
                ..RawInsn::default()
            });
        }
        let mut probe = words.clone();
        probe.extend(&exit);
        if decode_program(&probe).is_ok() {
            return words;
        }
    }
}

#[test]
fn random_decodable_programs_behave_the_same_on_both_tiers() {
    let helpers = conformance_helpers();
    let mut runner = Runner::new();
    runner.set_budget(Some(10_000));
    let mut rng = Rng::new(0x006a_6974);
    let (mut compiled, mut faults) = (0, 0);
    while compiled < 3000 {
        let len = 2 + rng.below(30);
        let mut words = Vec::with_capacity(len + 2);
        while words.len() < len {
            words.extend(decodable_word(&mut rng));
        }
        words.extend(encode_program(&[Insn::Exit]));
        let Ok(program) = Program::new(&words, Arc::clone(&helpers)) else {
            continue;
        };
        // Every other program with blinded constants.
        let options = apiary_jit::Options {
            blind_constants: compiled % 2 == 1,
        };
        apiary_jit::compile_with(&program, options).expect("every program that loads compiles");
        compiled += 1;
        let initial: Vec<u8> = (0..64).map(|_| rng.next_u64() as u8).collect();
        let mut memory = initial.clone();
        let mut run = |engine| {
            memory.copy_from_slice(&initial);
            runner.clear_stacks().set_engine(engine);
            let result = runner.run_on_memory(&program, &mut (), &mut memory);
            (result, memory.clone())
        };
        let interpreted = run(Engine::Interpreter);
        let native = run(Engine::Compiled);
        faults += usize::from(interpreted.0.is_err());
        assert_eq!(interpreted, native, "program {words:?}");
    }
    // The programs must reach memory and error paths, not just exit early.
    assert!(faults > 300, "only {faults} runs failed");
}
