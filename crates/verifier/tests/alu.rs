//! The ALU transfer functions against the interpreter's concrete semantics
//! (`apiary_vm::semantics`, RFC 9669): for every operation, width and pair
//! of members, the concrete result is a member of the abstract result, and
//! the result passes the kernel's invariants check. Plus exhaustive checks
//! on small ranges and the exact results the kernel documents.

mod common;

use apiary_isa::{AluOp, EndianOp, Size, Width};
use apiary_verifier::{Scalar, Tnum, alu};
use apiary_vm::semantics;
use common::{operand, small_ranges};
use proptest::prelude::*;

const WIDTHS: [Width; 2] = [Width::W64, Width::W32];

fn check_binary(width: Width, op: AluOp, a: &Scalar, ma: &[u64], b: &Scalar, mb: &[u64]) {
    let r = alu::alu(width, op, a, b);
    assert!(
        r.check_invariants().is_ok(),
        "{width:?} {op:?} {a:?} {b:?} -> {r:?}"
    );
    for &x in ma {
        for &y in mb {
            let c = semantics::alu(width, op, x, y);
            assert!(
                r.contains(c),
                "{width:?} {op:?}: {x:#x}, {y:#x} -> {c:#x} not in {r:?}\n  dst {a:?}\n  src {b:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn every_operation_is_sound(a in operand(), b in operand()) {
        for width in WIDTHS {
            for op in AluOp::ALL {
                check_binary(width, op, &a.abs, &a.members, &b.abs, &b.members);
            }
        }
    }

    #[test]
    fn neg_movsx_and_endian_are_sound(a in operand()) {
        for width in WIDTHS {
            let r = alu::neg(width, &a.abs);
            prop_assert!(r.check_invariants().is_ok());
            for &x in &a.members {
                prop_assert!(r.contains(semantics::neg(width, x)));
            }
            let sizes: &[Size] = if width == Width::W64 { &[Size::B, Size::H, Size::W] } else { &[Size::B, Size::H] };
            for &from in sizes {
                let r = alu::movsx(width, from, &a.abs);
                prop_assert!(r.check_invariants().is_ok(), "{r:?}");
                for &x in &a.members {
                    let c = semantics::movsx(width, from, x);
                    prop_assert!(r.contains(c), "movsx {width:?} {from:?} {x:#x} -> {c:#x} not in {r:?}");
                }
            }
        }
        for op in [EndianOp::ToLe, EndianOp::ToBe, EndianOp::Swap] {
            for bits in [16, 32, 64] {
                let r = alu::endian(op, bits, &a.abs);
                prop_assert!(r.check_invariants().is_ok(), "{r:?}");
                for &x in &a.members {
                    prop_assert!(r.contains(semantics::endian(op, bits, x)));
                }
            }
        }
    }

    #[test]
    fn constants_fold_exactly(x in common::interesting(), y in 0u64..80, wide_y in common::interesting()) {
        for width in WIDTHS {
            for op in AluOp::ALL {
                for y in [y, wide_y] {
                    let r = alu::alu(width, op, &Scalar::constant(x), &Scalar::constant(y));
                    let c = semantics::alu(width, op, x, y);
                    let bits = if width == Width::W64 { 64 } else { 32 };
                    let shift = matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh);
                    let untracked = matches!(op, AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod)
                        || (shift && y >= bits);
                    if untracked {
                        prop_assert_eq!(r, Scalar::UNKNOWN, "{:?} {:?}", width, op);
                    } else {
                        prop_assert_eq!(r, Scalar::constant(c), "{:?} {:?} {:#x} {:#x}", width, op, x, y);
                    }
                }
            }
        }
    }
}

#[test]
fn every_operation_is_sound_on_small_ranges() {
    let ranges = small_ranges();
    for (a, ma) in &ranges {
        for (b, mb) in &ranges {
            for width in WIDTHS {
                for op in AluOp::ALL {
                    check_binary(width, op, a, ma, b, mb);
                }
            }
        }
    }
}

fn unknown() -> Scalar {
    Scalar::UNKNOWN
}

fn k(v: i64) -> Scalar {
    Scalar::constant(v as u64)
}

#[test]
fn masking_bounds_the_value() {
    let r = alu::alu(Width::W64, AluOp::And, &unknown(), &k(0xff));
    assert_eq!((r.umin, r.umax, r.smin, r.smax), (0, 255, 0, 255));
    assert_eq!(r.var_off, Tnum::new(0, 0xff));
    let shifted = alu::alu(Width::W64, AluOp::Lsh, &r, &k(2));
    assert_eq!((shifted.umin, shifted.umax), (0, 1020));
    let top = alu::alu(Width::W64, AluOp::Rsh, &unknown(), &k(56));
    assert_eq!(top.umax, 255);
}

#[test]
fn range_arithmetic() {
    let ten = Scalar::unsigned_range(0, 10);
    let sum = alu::alu(Width::W64, AluOp::Add, &ten, &ten);
    assert_eq!((sum.umin, sum.umax, sum.smin, sum.smax), (0, 20, 0, 20));
    let product = alu::alu(Width::W64, AluOp::Mul, &ten, &ten);
    assert_eq!((product.umin, product.umax), (0, 100));
    // 0..10 - 0..10 may wrap below zero: unsigned bounds are lost, signed kept.
    let diff = alu::alu(Width::W64, AluOp::Sub, &ten, &ten);
    assert_eq!((diff.smin, diff.smax), (-10, 10));
    assert_eq!((diff.umin, diff.umax), (0, u64::MAX));
    // Every sum wrapping is as good as none wrapping.
    let high = Scalar::unsigned_range(u64::MAX - 1, u64::MAX);
    let wrapped = alu::alu(Width::W64, AluOp::Add, &high, &k(2));
    assert_eq!((wrapped.umin, wrapped.umax), (0, 1));
}

#[test]
fn untracked_operations_give_unknown() {
    let ten = Scalar::unsigned_range(1, 10);
    for op in [AluOp::Div, AluOp::Mod, AluOp::SDiv, AluOp::SMod] {
        assert_eq!(alu::alu(Width::W64, op, &ten, &k(3)), unknown());
    }
    // Shifts by a register that is not a known constant, or by the width or more.
    assert_eq!(alu::alu(Width::W64, AluOp::Lsh, &ten, &ten), unknown());
    assert_eq!(alu::alu(Width::W64, AluOp::Lsh, &ten, &k(64)), unknown());
    assert_eq!(alu::alu(Width::W32, AluOp::Rsh, &ten, &k(32)), unknown());
    // A 32-bit shift whose count register has upper bits set: the kernel
    // checks the 64-bit maximum and gives up.
    assert_eq!(
        alu::alu(Width::W32, AluOp::Lsh, &ten, &k(0x1_0000_0001)),
        unknown()
    );
}

#[test]
fn byte_swaps_track_the_tnum_and_fold_constants() {
    // A byte below 256 swapped into the second byte of a 16-bit value.
    let byte = Scalar::unsigned_range(0, 0xff);
    let r = alu::endian(EndianOp::ToBe, 16, &byte);
    assert_eq!(
        (r.var_off, r.umin, r.umax),
        (Tnum::new(0, 0xff00), 0, 0xff00)
    );
    let r = alu::endian(EndianOp::Swap, 64, &byte);
    assert_eq!(r.var_off, Tnum::new(0, 0xff << 56));
    // le16 and le32 truncate, le64 changes nothing.
    let wide = Scalar::constant(0x1122_3344_5566_7788);
    assert_eq!(alu::endian(EndianOp::ToLe, 16, &wide), k(0x7788));
    assert_eq!(alu::endian(EndianOp::ToLe, 32, &wide), k(0x5566_7788));
    assert_eq!(alu::endian(EndianOp::ToLe, 64, &wide), wide);
    assert_eq!(alu::endian(EndianOp::ToBe, 32, &wide), k(0x8877_6655));
    // be64 is an ALU (32-bit class) instruction, but not zero-extended.
    assert_eq!(
        alu::endian(EndianOp::ToBe, 64, &wide),
        Scalar::constant(0x8877_6655_4433_2211)
    );
}

#[test]
fn alu32_zero_extends() {
    let r = alu::mov(Width::W32, &unknown());
    assert_eq!(
        (r.umin, r.umax, r.smin, r.smax),
        (0, u32::MAX as u64, 0, u32::MAX as i64)
    );
    assert_eq!(r.var_off, Tnum::new(0, 0xffff_ffff));
    let minus_one = alu::alu(Width::W32, AluOp::Mov, &unknown(), &k(-1));
    assert_eq!(minus_one, Scalar::constant(0xffff_ffff));
    let sum = alu::alu(Width::W32, AluOp::Add, &k(0xffff_ffff), &k(1));
    assert_eq!(sum, Scalar::constant(0));
}

#[test]
fn sign_extension_idiom_stays_bounded() {
    // w1 in [0, 100]; r1 <<= 32; r1 s>>= 32 gives back [0, 100].
    let w = Scalar::unsigned_range(0, 100);
    let up = alu::alu(Width::W64, AluOp::Lsh, &w, &k(32));
    assert_eq!((up.smin, up.smax), (0, 100 << 32));
    let back = alu::alu(Width::W64, AluOp::Arsh, &up, &k(32));
    assert_eq!(
        (back.smin, back.smax, back.umin, back.umax),
        (0, 100, 0, 100)
    );
}

#[test]
fn movsx_of_a_byte() {
    let r = alu::movsx(Width::W64, Size::B, &unknown());
    assert_eq!((r.smin, r.smax), (-128, 127));
    let small = alu::movsx(Width::W64, Size::B, &Scalar::unsigned_range(0, 100));
    assert_eq!(
        (small.smin, small.smax, small.umin, small.umax),
        (0, 100, 0, 100)
    );
    let c = alu::movsx(Width::W32, Size::B, &k(0x80));
    assert_eq!(c, Scalar::constant(0xffff_ff80));
}

#[test]
fn neg_of_a_range() {
    let r = alu::neg(Width::W64, &Scalar::unsigned_range(1, 10));
    assert_eq!((r.smin, r.smax), (-10, -1));
    assert_eq!(alu::neg(Width::W64, &k(5)), k(-5));
}
