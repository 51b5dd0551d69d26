//! Soundness against the kernel on random programs: `apiary-difftest`'s
//! generated programs (which the kernel accepts) with one instruction
//! mutated (offset, immediate, opcode and source, or destination), loaded
//! in the kernel and verified by Apiary. Apiary must never accept a mutant
//! the kernel refuses (that would be a soundness bug); refusals the kernel
//! does not make (usability bugs, mostly paths the kernel prunes with
//! precision tracking) are printed.

use apiary_isa::RawInsn;

/// Opcodes of every class to mutate into.
const CODES: [u8; 40] = [
    0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x77, 0x87, 0x97, 0xa7,
    0xb7, 0xbf, 0xc7, 0x04, 0xbc, 0xb4, 0xdc, 0x61, 0x69, 0x71, 0x79, 0x62, 0x63, 0x7a, 0x7b, 0x05,
    0x15, 0x1d, 0x25, 0x2d, 0xa5, 0x85, 0x95, 0xdb,
];

const MUTANTS: u64 = 250;

fn mutate(slot: &mut RawInsn, r: u64) {
    match r % 4 {
        0 => slot.off = ((r >> 8) as i16) % 64 - 32,
        1 => slot.imm = ((r >> 8) as i32) % 128 - 64,
        2 => {
            slot.code = CODES[((r >> 8) % 40) as usize];
            slot.src = ((r >> 16) % 11) as u8;
        }
        _ => slot.dst = ((r >> 8) % 11) as u8,
    }
    if slot.code == 0x85 {
        // Helper or local calls only: kfuncs need BTF.
        slot.src %= 2;
    }
}

#[test]
fn apiary_never_accepts_a_mutant_the_kernel_refuses() {
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(
            "apiary_never_accepts_a_mutant_the_kernel_refuses",
            reason,
        );
    }
    let kernel_maps = apiary_difftest::KernelMaps::create().expect("kernel maps");
    let fds = kernel_maps.fds();
    let maps = apiary_difftest::verifier_maps();
    let mut rng = apiary_difftest::Rng::new(7);
    let (mut agree, mut unsound, mut strict) = (0, Vec::new(), Vec::new());
    for seed in 0..MUTANTS {
        let case = apiary_difftest::generate(seed);
        let mut slots = apiary_isa::encode_program(&case.program.insns());
        let body = apiary_difftest::PROLOGUE_LEN..slots.len();
        let at = body.start + rng.below(body.len());
        // Map references index the harness's fd_array: keep them valid.
        if slots[at].code == 0x18 || (at > 0 && slots[at - 1].code == 0x18) {
            continue;
        }
        mutate(&mut slots[at], rng.next_u64());
        let ours = apiary_difftest::apiary_verify(&slots, &maps);
        let kernel = apiary_difftest::kernel_load(&apiary_isa::slots_to_bytes(&slots), &fds);
        let line = format!(
            "seed {seed}, slot {at} = {:?}: apiary {}, kernel {}",
            slots[at],
            ours.as_ref().map_or_else(
                |r| format!("refuses at {}: {}", r.insn, r.kernel),
                |_| "accepts".into()
            ),
            kernel
                .as_ref()
                .map_or_else(|e| format!("refuses: {e:?}"), |_| "accepts".into()),
        );
        match (ours.is_ok(), kernel.is_ok()) {
            (a, k) if a == k => agree += 1,
            (true, false) => unsound.push(line),
            _ => strict.push(line),
        }
    }
    eprintln!(
        "{} mutants, {agree} agree, {} accepted by apiary but refused by the kernel, {} refused by apiary but accepted by the kernel",
        agree + unsound.len() + strict.len(),
        unsound.len(),
        strict.len()
    );
    for line in strict.iter().chain(&unsound) {
        eprintln!("  {line}");
    }
    assert!(
        unsound.is_empty(),
        "apiary accepts what the kernel refuses: {unsound:#?}"
    );
}
