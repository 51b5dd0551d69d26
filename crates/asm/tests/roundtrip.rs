//! Property tests: every valid instruction formats to text that assembles
//! back to the same instruction, in both syntaxes, alone and in programs.

use apiary_asm::{FormatOptions, Syntax, assemble, assemble_with, disassemble_with, format_insn};
use apiary_isa::{
    AluOp, AtomicOp, CallTarget, EndianOp, Insn, JmpCond, LdImm64Kind, PacketMode, Reg, Size,
    Source, Width,
};
use proptest::prelude::*;

fn reg() -> impl Strategy<Value = Reg> {
    (0u8..=10).prop_map(|n| Reg::new(n).expect("0..=10 is a register"))
}

fn width() -> impl Strategy<Value = Width> {
    prop_oneof![Just(Width::W32), Just(Width::W64)]
}

fn size() -> impl Strategy<Value = Size> {
    prop::sample::select(Size::ALL.to_vec())
}

fn source() -> impl Strategy<Value = Source> {
    prop_oneof![
        reg().prop_map(Source::Reg),
        any::<i32>().prop_map(Source::Imm)
    ]
}

fn atomic_op() -> impl Strategy<Value = AtomicOp> {
    prop_oneof![
        any::<bool>().prop_map(|fetch| AtomicOp::Add { fetch }),
        any::<bool>().prop_map(|fetch| AtomicOp::Or { fetch }),
        any::<bool>().prop_map(|fetch| AtomicOp::And { fetch }),
        any::<bool>().prop_map(|fetch| AtomicOp::Xor { fetch }),
        Just(AtomicOp::Xchg),
        Just(AtomicOp::CmpXchg),
    ]
}

/// Every `Insn` variant with every field value the encoding allows.
fn insn() -> impl Strategy<Value = Insn> {
    prop_oneof![
        (
            width(),
            prop::sample::select(AluOp::ALL.to_vec()),
            reg(),
            source()
        )
            .prop_map(|(width, op, dst, src)| Insn::Alu {
                width,
                op,
                dst,
                src
            }),
        (width(), reg()).prop_map(|(width, dst)| Insn::Neg { width, dst }),
        (width(), reg(), reg(), size())
            .prop_filter(
                "movsx takes s8, s16, or s32 into 64 bits",
                |(w, _, _, from)| { *from != Size::DW && !(*w == Width::W32 && *from == Size::W) }
            )
            .prop_map(|(width, dst, src, from)| Insn::MovSx {
                width,
                dst,
                src,
                from
            }),
        (reg(), reg(), any::<u16>(), any::<u16>()).prop_map(|(dst, src, dst_as, src_as)| {
            Insn::AddrSpaceCast {
                dst,
                src,
                dst_as,
                src_as,
            }
        }),
        (
            prop::sample::select(vec![EndianOp::ToLe, EndianOp::ToBe, EndianOp::Swap]),
            prop::sample::select(vec![16u8, 32, 64]),
            reg()
        )
            .prop_map(|(op, bits, dst)| Insn::Endian { op, bits, dst }),
        (size(), any::<bool>(), reg(), reg(), any::<i16>()).prop_map(
            |(size, sx, dst, src, off)| Insn::Load {
                size,
                sign_extend: sx && size != Size::DW,
                dst,
                src,
                off
            }
        ),
        (size(), reg(), any::<i16>(), source()).prop_map(|(size, dst, off, src)| Insn::Store {
            size,
            dst,
            off,
            src
        }),
        (any::<bool>(), atomic_op(), reg(), reg(), any::<i16>()).prop_map(
            |(dw, op, dst, src, off)| Insn::Atomic {
                size: if dw { Size::DW } else { Size::W },
                op,
                dst,
                src,
                off
            }
        ),
        (size(), reg(), reg(), any::<i16>()).prop_map(|(size, dst, src, off)| Insn::LoadAcquire {
            size,
            dst,
            src,
            off
        }),
        (size(), reg(), reg(), any::<i16>()).prop_map(|(size, dst, src, off)| Insn::StoreRelease {
            size,
            dst,
            src,
            off
        }),
        (
            reg(),
            prop::sample::select(LdImm64Kind::ALL.to_vec()),
            any::<u64>()
        )
            .prop_map(|(dst, kind, imm)| Insn::LoadImm64 { dst, kind, imm }),
        (
            any::<bool>(),
            prop::sample::select(vec![Size::B, Size::H, Size::W]),
            reg(),
            any::<i32>()
        )
            .prop_map(|(abs, size, src, imm)| Insn::LoadPacket {
                mode: if abs {
                    PacketMode::Abs
                } else {
                    PacketMode::Ind
                },
                size,
                src: if abs { Reg::R0 } else { src },
                imm
            }),
        (
            width(),
            prop::sample::select(JmpCond::ALL.to_vec()),
            reg(),
            source(),
            any::<i16>()
        )
            .prop_map(|(width, cond, dst, src, off)| Insn::Jump {
                width,
                cond,
                dst,
                src,
                off
            }),
        any::<i16>().prop_map(|off| Insn::Ja { off }),
        any::<i32>().prop_map(|imm| Insn::Ja32 { imm }),
        any::<i16>().prop_map(|off| Insn::MayGoto { off }),
        any::<i32>().prop_map(|id| Insn::Call(CallTarget::Helper(id))),
        any::<i32>().prop_map(|imm| Insn::Call(CallTarget::Local(imm))),
        (any::<i32>(), any::<i16>())
            .prop_map(|(btf_id, module)| Insn::Call(CallTarget::Kfunc { btf_id, module })),
        reg().prop_map(|reg| Insn::Callx { reg }),
        Just(Insn::Exit),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn one_instruction_round_trips_in_both_syntaxes(insn in insn()) {
        for syntax in [Syntax::Llvm, Syntax::Ubpf] {
            let text = format_insn(&insn, syntax);
            let back = assemble_with(&text, Some(syntax));
            prop_assert_eq!(back.as_deref(), Ok(&[insn][..]), "{:?} text `{}`", syntax, text);
            // Detection picks the right syntax on its own.
            let detected = assemble(&text);
            prop_assert_eq!(detected.as_deref(), Ok(&[insn][..]), "auto, text `{}`", text);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn programs_round_trip_with_offsets_and_labels(
        program in prop::collection::vec(insn(), 0..40),
        labels in any::<bool>(),
    ) {
        for syntax in [Syntax::Llvm, Syntax::Ubpf] {
            let options = FormatOptions { labels, ..FormatOptions::lossless(syntax) };
            let text = disassemble_with(&program, &options);
            let back = assemble(&text);
            prop_assert_eq!(back.as_deref(), Ok(&program[..]), "{:?}:\n{}", syntax, text);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Hostile text gets a result or an error, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\t\n%é]{0,80}") {
        let _ = assemble(&text);
        let _ = assemble_with(&text, Some(Syntax::Ubpf));
        let _ = assemble_with(&text, Some(Syntax::Llvm));
    }

    /// Text built from the syntaxes' own tokens never panics either.
    #[test]
    fn token_soup_never_panics(
        words in prop::collection::vec(
            prop::sample::select(vec![
                "r1", "w2", "%r3", "%r99", "=", "+=", "s>>=", "*", "(", ")", "[", "]", ",", ":",
                "u32", "s8", "skb", "lock", "call", "local", "runtime", "goto", "if", "ll", "-",
                "+", "0x7fffffffffffffffffff", "5", "exit", "ja", "ld_pseudo", "kfunc", "pc", "<",
                ">", "#", "lddw", "xchg_64", "atomic_fetch_or", "stxdw", "lock", "fetch", "L1",
            ]),
            0..14,
        )
    ) {
        let _ = assemble(&words.join(" "));
    }
}
