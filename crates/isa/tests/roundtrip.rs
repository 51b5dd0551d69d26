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

/// Every opcode byte either decodes (with some field values) or is refused as
/// unknown; the set of known opcodes is the kernel's.
#[test]
fn known_opcodes_match_the_kernel_table() {
    let mut known = Vec::new();
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
            known.push(code);
        }
    }
    // 12 ALU ops x 2 sources + neg + end(le, be) for each of ALU and ALU64
    // (ALU64 end has no BE form): 27 + 26; JMP: 11 conditions x 2 + ja + call +
    // callx + exit + jcond = 27; JMP32: 11 x 2 + ja = 23; LDX MEM 4 + MEMSX 3;
    // ST 4; STX MEM 4 + ATOMIC 4 (b/h only for acquire/release); LD: lddw + 3 abs + 3 ind.
    assert_eq!(
        known.len(),
        27 + 26 + 27 + 23 + 7 + 4 + 8 + 7,
        "{known:02x?}"
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
