//! Arbitrary bytecode never makes `prepare` panic, loop or change the
//! program's length, and it rewrites nothing but context loads and stores.

use apiary_context::{ContextError, is_covered, prepare_for};
use apiary_isa::{
    AluOp, AtomicOp, CallTarget, Insn, JmpCond, RawInsn, Reg, Size, Source, Width, encode_program,
};
use apiary_kernel::types::{AttachType, ProgType};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

/// Opcodes that decode with zero registers, offset and immediate, so that
/// random programs get past decoding often enough to exercise the analysis.
fn decodable_opcodes() -> Vec<u8> {
    (0..=255u8)
        .filter(|&code| {
            let slot = RawInsn {
                code,
                ..RawInsn::default()
            };
            Insn::decode(&[slot, RawInsn::default()]).is_ok()
        })
        .collect()
}

fn slot(codes: Vec<u8>) -> impl Strategy<Value = RawInsn> {
    (
        prop::sample::select(codes),
        0u8..=10,
        0u8..=10,
        prop_oneof![-12i16..12, any::<i16>()],
        prop_oneof![-4i32..4, Just(16), Just(32), Just(64), any::<i32>()],
    )
        .prop_map(|(code, dst, src, off, imm)| RawInsn {
            code,
            dst,
            src,
            off,
            imm,
        })
}

fn covered_types() -> Vec<ProgType> {
    ProgType::ALL
        .iter()
        .copied()
        .filter(|&t| is_covered(t))
        .collect()
}

fn check(prog_type: ProgType, insns: &[RawInsn]) {
    if let Ok(prepared) = prepare_for(prog_type, AttachType::default(), insns) {
        assert_eq!(prepared.insns.len(), insns.len());
        for (index, (before, after)) in insns.iter().zip(&prepared.insns).enumerate() {
            if before != after {
                assert!(
                    prepared
                        .accesses
                        .iter()
                        .any(|a| a.insn == index && a.rewritten),
                    "insn {index} changed without being a rewritten context access"
                );
                assert_eq!(
                    (before.dst, before.src, before.imm),
                    (after.dst, after.src, after.imm)
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_never_panic(
        insns in prop::collection::vec(slot(decodable_opcodes()), 1..48),
        type_index in any::<prop::sample::Index>(),
    ) {
        let types = covered_types();
        check(*type_index.get(&types), &insns);
    }

    #[test]
    fn random_bytes_never_panic(words in prop::collection::vec(any::<u64>(), 0..32)) {
        let insns: Vec<RawInsn> = words.into_iter().map(RawInsn::from_u64).collect();
        for prog_type in covered_types() {
            check(prog_type, &insns);
        }
    }
}

#[test]
fn a_long_branchy_program_finishes() {
    // 60,000 diamonds that each move the context between r1 and r2 and
    // spill it: every join does work, and the analysis must still end.
    let diamond = apiary_asm::assemble_slots(
        "if r3 == 0 goto +2
         r2 = r1
         goto +1
         r1 = r2
         *(u64 *)(r10 - 8) = r1
         r1 = *(u64 *)(r10 - 8)",
    )
    .expect("assemble");
    let mut insns = apiary_asm::assemble_slots("r2 = r1\nr3 = *(u32 *)(r1 + 0)").expect("assemble");
    for _ in 0..60_000 {
        insns.extend_from_slice(&diamond);
    }
    insns.extend(apiary_asm::assemble_slots("r0 = *(u32 *)(r1 + 0)\nexit").expect("assemble"));
    let prepared =
        prepare_for(ProgType::SOCKET_FILTER, AttachType::default(), &insns).expect("accepted");
    assert_eq!(prepared.accesses.len(), 2);
}

#[test]
fn programs_over_the_kernel_limit_are_refused_before_analysis() {
    let insns = vec![RawInsn::default(); apiary_context::MAX_PROGRAM_SLOTS + 1];
    let err = prepare_for(ProgType::XDP, AttachType::default(), &insns).expect_err("too large");
    assert!(err.to_string().contains("1000000"), "{err}");
}

/// A program of typed instructions that decode by construction: moves and
/// arithmetic, loads, stores and atomics through any register, short jumps,
/// local and helper calls, exits.
fn typed_program() -> impl Strategy<Value = Vec<RawInsn>> {
    let reg = (0u8..=10).prop_map(|r| Reg::new(r).expect("r0..r10"));
    let size = prop::sample::select(Size::ALL.to_vec());
    let off = -24i16..24;
    let insn = prop_oneof![
        (
            prop::sample::select(AluOp::ALL.to_vec()),
            reg.clone(),
            reg.clone(),
            -16i32..16,
            any::<bool>()
        )
            .prop_map(|(op, dst, src, imm, by_reg)| Insn::Alu {
                width: Width::W64,
                op,
                dst,
                src: if by_reg {
                    Source::Reg(src)
                } else {
                    Source::Imm(imm)
                },
            }),
        (size.clone(), reg.clone(), reg.clone(), off.clone()).prop_map(|(size, dst, src, off)| {
            Insn::Load {
                size,
                sign_extend: false,
                dst,
                src,
                off,
            }
        }),
        (
            size.clone(),
            reg.clone(),
            reg.clone(),
            off.clone(),
            any::<bool>()
        )
            .prop_map(|(size, dst, src, off, imm)| Insn::Store {
                size,
                dst,
                off,
                src: if imm {
                    Source::Imm(1)
                } else {
                    Source::Reg(src)
                },
            }),
        (reg.clone(), reg.clone(), off.clone()).prop_map(|(dst, src, off)| Insn::Atomic {
            size: Size::DW,
            op: AtomicOp::Add { fetch: true },
            dst,
            src,
            off,
        }),
        (reg.clone(), -4i16..6).prop_map(|(dst, off)| Insn::Jump {
            width: Width::W64,
            cond: JmpCond::Eq,
            dst,
            src: Source::Imm(0),
            off,
        }),
        (-4i16..6).prop_map(|off| Insn::Ja { off }),
        (-6i32..6).prop_map(|imm| Insn::Call(CallTarget::Local(imm))),
        Just(Insn::Call(CallTarget::Helper(7))),
        Just(Insn::Exit),
    ];
    prop::collection::vec(insn, 1..40).prop_map(|insns| encode_program(&insns))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn typed_random_programs_never_panic(
        insns in typed_program(),
        type_index in any::<prop::sample::Index>(),
    ) {
        let types = covered_types();
        check(*type_index.get(&types), &insns);
    }
}

#[test]
fn typed_random_programs_mostly_reach_the_checks() {
    // Guards the property test above against exercising only the decoder
    // and the control-flow checks.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = typed_program();
    let mut checked = 0;
    for _ in 0..2000 {
        let insns = strategy.new_tree(&mut runner).expect("generate").current();
        match prepare_for(ProgType::SCHED_CLS, AttachType::default(), &insns) {
            Ok(_) | Err(ContextError::Access { .. }) => checked += 1,
            Err(_) => {}
        }
    }
    eprintln!("{checked} of 2000 random programs reached the access checks");
    assert!(
        checked > 200,
        "only {checked} of 2000 random programs reached the access checks"
    );
}

#[test]
fn a_program_at_the_kernel_limit_is_analyzed() {
    let mut insns = apiary_asm::assemble_slots("r0 = 0")
        .expect("assemble")
        .repeat(999_999);
    insns.extend(apiary_asm::assemble_slots("exit").expect("assemble"));
    let prepared = prepare_for(ProgType::SOCKET_FILTER, AttachType::default(), &insns).expect("ok");
    assert!(prepared.accesses.is_empty());
}
