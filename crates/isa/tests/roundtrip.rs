//! Decoding is lossless: every slot pair that decodes encodes back to the same
//! bytes, and every typed instruction survives encode then decode.

use apiary_isa::*;
use proptest::prelude::*;

fn raw_slot() -> impl Strategy<Value = RawInsn> {
    // Small values make valid encodings likely; the full ranges make invalid ones.
    let field_i16 = prop_oneof![Just(0i16), -2i16..=33, any::<i16>()];
    let field_i32 = prop_oneof![Just(0i32), -2i32..=0x111, any::<i32>()];
    (any::<u8>(), 0u8..16, 0u8..16, field_i16, field_i32).prop_map(|(code, dst, src, off, imm)| {
        RawInsn {
            code,
            dst,
            src,
            off,
            imm,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]
    #[test]
    fn decode_then_encode_gives_back_the_bytes(a in raw_slot(), b_imm in any::<i32>(), b_zero in any::<bool>(), b in raw_slot()) {
        let second = if b_zero { RawInsn { imm: b_imm, ..RawInsn::default() } } else { b };
        let slots = [a, second];
        if let Ok(insn) = Insn::decode(&slots) {
            let encoded = insn.encode();
            prop_assert_eq!(&encoded[..], &slots[..insn.slots()]);
            prop_assert_eq!(Insn::decode(&encoded), Ok(insn));
        }
    }
}

/// The opcodes the kernel's verifier accepts, built from the field values of
/// `include/uapi/linux/bpf.h` and `bpf_common.h` (written out here, not taken
/// from this crate) and the rules of `check_alu_op`, `check_cond_jmp_op` and
/// `do_check` on which combinations exist.
fn kernel_opcodes() -> std::collections::BTreeSet<u8> {
    const LD: u8 = 0x00;
    const LDX: u8 = 0x01;
    const ST: u8 = 0x02;
    const STX: u8 = 0x03;
    const ALU: u8 = 0x04;
    const JMP: u8 = 0x05;
    const JMP32: u8 = 0x06;
    const ALU64: u8 = 0x07;
    const K: u8 = 0x00;
    const X: u8 = 0x08;
    const SIZES: [u8; 4] = [0x00, 0x08, 0x10, 0x18]; // W, H, B, DW
    const IMM: u8 = 0x00;
    const ABS: u8 = 0x20;
    const IND: u8 = 0x40;
    const MEM: u8 = 0x60;
    const MEMSX: u8 = 0x80;
    const ATOMIC: u8 = 0xc0;
    // ADD SUB MUL DIV OR AND LSH RSH MOD XOR MOV ARSH; NEG 0x80, END 0xd0.
    const ALU_OPS: [u8; 12] = [
        0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0,
    ];
    const NEG: u8 = 0x80;
    const END: u8 = 0xd0;
    // JEQ JGT JGE JSET JNE JSGT JSGE JLT JLE JSLT JSLE.
    const CONDITIONS: [u8; 11] = [
        0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0,
    ];
    const JA: u8 = 0x00;
    const CALL: u8 = 0x80;
    const EXIT: u8 = 0x90;
    const JCOND: u8 = 0xe0;
    let mut set = std::collections::BTreeSet::new();
    for class in [ALU, ALU64] {
        for op in ALU_OPS {
            set.extend([class | op | K, class | op | X]);
        }
        set.insert(class | NEG | K);
        set.insert(class | END | K); // to_le; in ALU64 bswap
    }
    set.insert(ALU | END | X); // to_be (ALU64 has no X form)
    for class in [JMP, JMP32] {
        for op in CONDITIONS {
            set.extend([class | op | K, class | op | X]);
        }
        set.insert(class | JA | K); // JMP32: gotol
    }
    set.extend([
        JMP | CALL | K,
        JMP | CALL | X,
        JMP | EXIT | K,
        JMP | JCOND | K,
    ]);
    for size in SIZES {
        set.extend([LDX | MEM | size, ST | MEM | size, STX | MEM | size]);
        if size != 0x18 {
            set.insert(LDX | MEMSX | size);
        }
        // Word and double word atomics; byte and half word only for
        // load-acquire and store-release, which share the mode.
        set.insert(STX | ATOMIC | size);
    }
    set.insert(LD | IMM | 0x18);
    for size in [0x00, 0x08, 0x10] {
        set.extend([LD | ABS | size, LD | IND | size]);
    }
    set
}

/// Every opcode byte either decodes (with some field values) or is refused as
/// unknown; the set of known opcodes is the kernel's.
#[test]
fn known_opcodes_match_the_kernel_table() {
    let mut known = std::collections::BTreeSet::new();
    for code in 0..=255u8 {
        let ok = (0..2u8).any(|dst| {
            (0..16u8)
                .flat_map(|src| [0i16, 1, 8, 16, 32].map(move |off| (src, off)))
                .any(|(src, off)| {
                    [0i32, 1, 16, 0xe1, 0xf1, 0x100].iter().any(|&imm| {
                        Insn::decode(&[
                            RawInsn {
                                code,
                                dst,
                                src,
                                off,
                                imm,
                            },
                            RawInsn::default(),
                        ])
                        .is_ok()
                    })
                })
        });
        if ok {
            known.insert(code);
        }
    }
    let kernel = kernel_opcodes();
    // 12 ALU ops x 2 sources + neg + end(le, be) for each of ALU and ALU64
    // (ALU64 end has no BE form): 27 + 26; JMP: 11 conditions x 2 + ja + call +
    // callx + exit + jcond = 27; JMP32: 11 x 2 + ja = 23; LDX MEM 4 + MEMSX 3;
    // ST 4; STX MEM 4 + ATOMIC 4 (b/h only for acquire/release); LD: lddw + 3 abs + 3 ind.
    assert_eq!(kernel.len(), 27 + 26 + 27 + 23 + 7 + 4 + 8 + 7);
    let only_ours: Vec<String> = known
        .difference(&kernel)
        .map(|c| format!("{c:#04x}"))
        .collect();
    let only_kernels: Vec<String> = kernel
        .difference(&known)
        .map(|c| format!("{c:#04x}"))
        .collect();
    assert!(
        only_ours.is_empty() && only_kernels.is_empty(),
        "opcodes Apiary decodes but the kernel does not: {only_ours:?}; \
         opcodes the kernel accepts but Apiary does not decode: {only_kernels:?}"
    );
}

#[test]
fn errors_name_the_instruction_and_field() {
    let exit = RawInsn {
        code: 0x95,
        ..RawInsn::default()
    };
    let bad_reg = RawInsn {
        code: 0xb7,
        dst: 11,
        ..RawInsn::default()
    };
    let err = decode_program(&[exit, bad_reg]).unwrap_err();
    assert_eq!(err.index, 1);
    assert_eq!(
        err.to_string(),
        "instruction 1: invalid destination register r11"
    );

    let unknown = RawInsn {
        code: 0xff,
        ..RawInsn::default()
    };
    assert_eq!(
        decode_program(&[unknown]).unwrap_err().to_string(),
        "instruction 0: unknown opcode 0xff"
    );

    let reserved = RawInsn {
        code: 0x95,
        off: 3,
        ..RawInsn::default()
    };
    assert!(matches!(
        decode_program(&[reserved]).unwrap_err().kind,
        DecodeErrorKind::ReservedField {
            field: "off",
            value: 3,
            ..
        }
    ));

    let lddw = RawInsn {
        code: 0x18,
        dst: 1,
        imm: 5,
        ..RawInsn::default()
    };
    assert_eq!(
        decode_program(&[lddw]).unwrap_err().kind,
        DecodeErrorKind::TruncatedLdImm64
    );

    let jump_out = RawInsn {
        code: 0x05,
        off: 1,
        ..RawInsn::default()
    };
    assert!(matches!(
        decode_program(&[jump_out, exit]).unwrap_err().kind,
        DecodeErrorKind::JumpOutOfRange { target: 2, len: 2 }
    ));
    // A jump into the second half of an lddw is refused too.
    let into_lddw = RawInsn {
        code: 0x05,
        off: 1,
        ..RawInsn::default()
    };
    let lddw2 = RawInsn {
        imm: 7,
        ..RawInsn::default()
    };
    assert!(decode_program(&[into_lddw, lddw, lddw2, exit]).is_err());

    assert!(matches!(
        slots_from_bytes(&[0; 9]).unwrap_err().kind,
        DecodeErrorKind::TrailingBytes { len: 9 }
    ));
}

#[test]
fn raw_words_are_little_endian() {
    // `mov r0, 1` as the conformance suite's `-- raw` sections write it.
    let raw = RawInsn::from_u64(0x0000_0001_0000_00b7);
    assert_eq!(
        Insn::decode(&[raw]),
        Ok(Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: Reg::R0,
            src: Source::Imm(1)
        })
    );
    assert_eq!(raw.to_u64(), 0x0000_0001_0000_00b7);
}
