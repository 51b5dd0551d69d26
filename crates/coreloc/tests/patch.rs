//! Instruction patching as libbpf's `bpf_core_patch_insn`: which fields
//! change, size adjustment, poisoning, and refusals of unexpected forms.

mod common;

use apiary_btf::{CoreRelo, CoreReloKind as K, TypeId};
use apiary_coreloc::{
    CoreError, CoreRelocator, CoreResolution, OnUnsatisfied, POISON_HELPER_ID, PatchError, apply,
    apply_typed, poison_insn,
};
use apiary_isa::{CallTarget, Insn, RawInsn};

fn resolution(orig: u64, new: u64) -> CoreResolution {
    CoreResolution {
        kind: K::FieldByteOffset,
        orig,
        new,
        poison: false,
        validate: true,
        fail_memsz_adjust: false,
        orig_size: 0,
        new_size: 0,
        target_type: None,
        target_access: Vec::new(),
    }
}

fn raw(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> RawInsn {
    let [o0, o1] = off.to_le_bytes();
    let [i0, i1, i2, i3] = imm.to_le_bytes();
    RawInsn::from_le_bytes([code, dst | (src << 4), o0, o1, i0, i1, i2, i3])
}

const MOV64_IMM: u8 = 0xb7;
const ADD64_REG: u8 = 0x0f;
const LDX_DW: u8 = 0x79;
const LDX_W: u8 = 0x61;
const LDXSX_W: u8 = 0x81;
const LDDW: u8 = 0x18;

#[test]
fn alu_immediate_is_replaced_after_validation() {
    let mut insns = [raw(MOV64_IMM, 2, 0, 0, 20)];
    apply(&mut insns, 0, &resolution(20, 1264), OnUnsatisfied::Poison).unwrap();
    assert_eq!(insns[0], raw(MOV64_IMM, 2, 0, 0, 1264));
    let err = apply(&mut insns, 0, &resolution(20, 1), OnUnsatisfied::Poison).unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::Patch {
                index: 0,
                reason: PatchError::UnexpectedValue {
                    found: 1264,
                    expected: 20,
                    ..
                }
            }
        ),
        "{err}"
    );
    let mut reg = [raw(ADD64_REG, 1, 2, 0, 0)];
    let err = apply(&mut reg, 0, &resolution(0, 1), OnUnsatisfied::Poison).unwrap_err();
    assert!(matches!(
        err,
        CoreError::Patch {
            reason: PatchError::RegisterSource,
            ..
        }
    ));
}

#[test]
fn negative_immediates_compare_sign_extended() {
    let mut insns = [raw(MOV64_IMM, 0, 0, 0, -5)];
    apply(
        &mut insns,
        0,
        &resolution(-5i64 as u64, (-7i64) as u64),
        OnUnsatisfied::Poison,
    )
    .unwrap();
    assert_eq!(insns[0].imm, -7);
}

#[test]
fn load_offset_and_size_follow_the_field() {
    let mut res = resolution(24, 44);
    res.orig_size = 8;
    res.new_size = 4;
    let mut insns = [raw(LDX_DW, 3, 1, 24, 0)];
    apply(&mut insns, 0, &res, OnUnsatisfied::Poison).unwrap();
    assert_eq!(insns[0], raw(LDX_W, 3, 1, 44, 0));

    // The sign-extending mode bits survive a resize.
    let mut insns = [raw(LDXSX_W, 3, 1, 24, 0)];
    res.orig_size = 4;
    res.new_size = 2;
    apply(&mut insns, 0, &res, OnUnsatisfied::Poison).unwrap();
    assert_eq!(insns[0].code, 0x89);

    let mut insns = [raw(LDX_W, 3, 1, 24, 0)];
    res.orig_size = 8;
    let err = apply(&mut insns, 0, &res, OnUnsatisfied::Poison).unwrap_err();
    assert!(matches!(
        err,
        CoreError::Patch {
            reason: PatchError::UnexpectedMemSize {
                found: 4,
                expected: 8
            },
            ..
        }
    ));

    let mut insns = [raw(LDX_DW, 3, 1, 24, 0)];
    res.new_size = 3;
    let err = apply(&mut insns, 0, &res, OnUnsatisfied::Poison).unwrap_err();
    assert!(matches!(
        err,
        CoreError::Patch {
            reason: PatchError::InvalidNewMemSize(3),
            ..
        }
    ));

    let mut insns = [raw(LDX_DW, 3, 1, 24, 0)];
    let err = apply(
        &mut insns,
        0,
        &resolution(24, 40_000),
        OnUnsatisfied::Poison,
    )
    .unwrap_err();
    assert!(matches!(
        err,
        CoreError::Patch {
            reason: PatchError::OffsetTooLarge(40_000),
            ..
        }
    ));
}

#[test]
fn unsafe_size_change_poisons_or_errors() {
    let mut res = resolution(0, 8);
    res.orig_size = 8;
    res.new_size = 4;
    res.fail_memsz_adjust = true;
    let mut insns = [raw(LDX_DW, 3, 1, 0, 0)];
    apply(&mut insns, 0, &res, OnUnsatisfied::Poison).unwrap();
    assert_eq!(insns[0], poison_insn());
    let mut insns = [raw(LDX_DW, 3, 1, 0, 0)];
    let err = apply(&mut insns, 0, &res, OnUnsatisfied::Error).unwrap_err();
    assert!(matches!(err, CoreError::Unsatisfied { .. }));
    assert_eq!(
        insns[0],
        raw(LDX_DW, 3, 1, 0, 0),
        "refused instructions stay untouched"
    );
}

#[test]
fn lddw_gets_64_bits_and_poisons_both_slots() {
    let value = 0xffff_ffff_ffff_f001u64;
    let mut insns = [raw(LDDW, 3, 0, 0, 1), raw(0, 0, 0, 0, 0)];
    let mut res = resolution(1, value);
    apply(&mut insns, 0, &res, OnUnsatisfied::Poison).unwrap();
    assert_eq!(
        (insns[0].imm as u32, insns[1].imm as u32),
        (0xffff_f001, 0xffff_ffff)
    );

    res.poison = true;
    apply(&mut insns, 0, &res, OnUnsatisfied::Poison).unwrap();
    assert_eq!(insns, [poison_insn(), poison_insn()]);
    assert_eq!(poison_insn().imm, 195_896_080);

    let mut map_fd = [raw(LDDW, 1, 1, 0, 7), raw(0, 0, 0, 0, 0)];
    let err = apply(&mut map_fd, 0, &resolution(7, 8), OnUnsatisfied::Poison).unwrap_err();
    assert!(matches!(
        err,
        CoreError::Patch {
            reason: PatchError::BadLdImm64,
            ..
        }
    ));
    let mut truncated = [raw(LDDW, 1, 0, 0, 7)];
    assert!(apply(&mut truncated, 0, &resolution(7, 8), OnUnsatisfied::Poison).is_err());
}

#[test]
fn other_classes_and_bad_indices_are_refused() {
    let mut insns = [raw(0x95, 0, 0, 0, 0)];
    let err = apply(&mut insns, 0, &resolution(0, 1), OnUnsatisfied::Poison).unwrap_err();
    assert!(matches!(
        err,
        CoreError::Patch {
            reason: PatchError::Unrelocatable(0x95),
            ..
        }
    ));
    let err = apply(&mut insns, 5, &resolution(0, 1), OnUnsatisfied::Poison).unwrap_err();
    assert!(matches!(
        err,
        CoreError::Patch {
            index: 5,
            reason: PatchError::OutOfRange { len: 1 }
        }
    ));
}

#[test]
fn typed_instructions_are_patched_and_poisoned_lddw_splits() {
    let mut insns = vec![
        Insn::decode(&[raw(MOV64_IMM, 2, 0, 0, 20)]).unwrap(),
        Insn::decode(&[raw(LDDW, 3, 0, 0, 1), raw(0, 0, 0, 0, 0)]).unwrap(),
        Insn::Exit,
    ];
    apply_typed(&mut insns, 0, &resolution(20, 40), OnUnsatisfied::Poison).unwrap();
    assert_eq!(insns[0].encode(), vec![raw(MOV64_IMM, 2, 0, 0, 40)]);
    let mut res = resolution(1, 0);
    res.poison = true;
    apply_typed(&mut insns, 1, &res, OnUnsatisfied::Poison).unwrap();
    let poison = Insn::Call(CallTarget::Helper(POISON_HELPER_ID));
    assert_eq!(insns, vec![insns[0], poison, poison, Insn::Exit]);
}

#[test]
fn relocate_checks_record_offsets() {
    let mut b = common::BtfBuilder::new();
    b.int("int", 4, true);
    let (local, target) = (b.build(), b.build());
    let mut relocator = CoreRelocator::new(&local, &target);
    let relo = |insn_off| CoreRelo {
        insn_off,
        type_id: TypeId(1),
        access_str_off: 0,
        kind: K::TypeIdLocal,
    };
    let mut insns = [raw(MOV64_IMM, 0, 0, 0, 0)];
    let err = relocator
        .relocate(&[relo(4)], &mut insns, OnUnsatisfied::Poison)
        .unwrap_err();
    assert!(
        matches!(&err, CoreError::Record { record: 0, insn_off: 4, source } if matches!(**source, CoreError::Patch { reason: PatchError::Misaligned(4), .. })),
        "{err}"
    );
    let err = relocator
        .relocate(&[relo(8)], &mut insns, OnUnsatisfied::Poison)
        .unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
}
