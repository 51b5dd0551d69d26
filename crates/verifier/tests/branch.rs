//! Conditional jumps against the interpreter's concrete conditions
//! (`apiary_vm::semantics::condition`, RFC 9669): `is_branch_taken` never
//! claims a direction a pair of members contradicts, and the refined states
//! of each side contain every pair of members that takes that side.

mod common;

use apiary_isa::{JmpCond, Width};
use apiary_verifier::branch::{Relation, is_branch_taken, refine};
use apiary_verifier::{Scalar, Tnum};
use apiary_vm::semantics;
use common::{operand, small_ranges};
use proptest::prelude::*;

const WIDTHS: [Width; 2] = [Width::W64, Width::W32];

fn check(a: &Scalar, ma: &[u64], b: &Scalar, mb: &[u64], cond: JmpCond, width: Width) {
    let decided = is_branch_taken(a, b, cond, width);
    for taken in [true, false] {
        let refined = refine(a, b, Relation::of(cond, taken), width);
        for &x in ma {
            for &y in mb {
                let actual = semantics::condition(width, cond, x, y);
                if let Some(claim) = decided {
                    assert_eq!(
                        claim, actual,
                        "{width:?} {cond:?}: {x:#x} {y:#x} decided wrongly\n  {a:?}\n  {b:?}"
                    );
                }
                if actual != taken {
                    continue;
                }
                let (ra, rb) = refined.unwrap_or_else(|e| {
                    panic!("{width:?} {cond:?} taken={taken}: {x:#x} {y:#x} takes it but refinement says impossible: {e}\n  {a:?}\n  {b:?}")
                });
                assert!(
                    ra.contains(x) && rb.contains(y),
                    "{width:?} {cond:?} taken={taken}: {x:#x} {y:#x} lost\n  {a:?}\n  {b:?}\n  -> {ra:?}\n  -> {rb:?}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn decisions_and_refinements_are_sound(a in operand(), b in operand()) {
        for width in WIDTHS {
            for cond in JmpCond::ALL {
                check(&a.abs, &a.members, &b.abs, &b.members, cond, width);
            }
        }
    }

    #[test]
    fn comparing_with_an_equal_copy(a in operand()) {
        // r1 == r1 style comparisons: both operands share every member.
        for width in WIDTHS {
            for cond in JmpCond::ALL {
                check(&a.abs, &a.members, &a.abs, &a.members, cond, width);
            }
        }
    }
}

#[test]
fn decisions_and_refinements_are_sound_on_small_ranges() {
    let ranges = small_ranges();
    for (a, ma) in &ranges {
        for (b, mb) in &ranges {
            for width in WIDTHS {
                for cond in JmpCond::ALL {
                    check(a, ma, b, mb, cond, width);
                }
            }
        }
    }
}

fn k(v: i64) -> Scalar {
    Scalar::constant(v as u64)
}

#[test]
fn bounds_check_against_a_constant() {
    let x = Scalar::UNKNOWN;
    assert_eq!(is_branch_taken(&x, &k(10), JmpCond::Lt, Width::W64), None);
    let (below, _) = refine(&x, &k(10), Relation::of(JmpCond::Lt, true), Width::W64).unwrap();
    assert_eq!((below.umin, below.umax), (0, 9));
    assert_eq!(below.var_off, Tnum::new(0, 0xf));
    let (above, _) = refine(&x, &k(10), Relation::of(JmpCond::Lt, false), Width::W64).unwrap();
    assert_eq!(above.umin, 10);
    // Signed: x s> -1 means x is non-negative.
    let (nonneg, _) = refine(&x, &k(-1), Relation::of(JmpCond::Sgt, true), Width::W64).unwrap();
    assert_eq!((nonneg.smin, nonneg.umax), (0, i64::MAX as u64));
}

#[test]
fn decided_jumps() {
    let small = Scalar::unsigned_range(0, 9);
    assert_eq!(
        is_branch_taken(&small, &k(10), JmpCond::Lt, Width::W64),
        Some(true)
    );
    assert_eq!(
        is_branch_taken(&small, &k(10), JmpCond::Ge, Width::W64),
        Some(false)
    );
    assert_eq!(
        is_branch_taken(&small, &k(10), JmpCond::Eq, Width::W64),
        Some(false)
    );
    assert_eq!(
        is_branch_taken(&small, &k(10), JmpCond::Ne, Width::W64),
        Some(true)
    );
    assert_eq!(
        is_branch_taken(&k(4), &k(4), JmpCond::Eq, Width::W64),
        Some(true)
    );
    // JSET: bit 4 is never set in 0..9? 8 = 0b1000, so bit 8 may be; bit 16 never.
    assert_eq!(
        is_branch_taken(&small, &k(16), JmpCond::Set, Width::W64),
        Some(false)
    );
    assert_eq!(
        is_branch_taken(&small, &k(8), JmpCond::Set, Width::W64),
        None
    );
    // 32-bit compares look only at the low half.
    assert_eq!(
        is_branch_taken(&k(0x1_0000_0005), &k(5), JmpCond::Eq, Width::W32),
        Some(true)
    );
    assert_eq!(
        is_branch_taken(&k(0x1_0000_0005), &k(5), JmpCond::Eq, Width::W64),
        Some(false)
    );
}

#[test]
fn register_register_refinement() {
    let a = Scalar::unsigned_range(0, 100);
    let b = Scalar::unsigned_range(50, 200);
    let (a_eq, b_eq) = refine(&a, &b, Relation::of(JmpCond::Eq, true), Width::W64).unwrap();
    assert_eq!((a_eq.umin, a_eq.umax), (50, 100));
    assert_eq!((b_eq.umin, b_eq.umax), (50, 100));
    let (a_gt, b_gt) = refine(&a, &b, Relation::of(JmpCond::Gt, true), Width::W64).unwrap();
    assert_eq!((a_gt.umin, a_gt.umax), (51, 100));
    assert_eq!((b_gt.umin, b_gt.umax), (50, 99));
}

#[test]
fn jset_refinement() {
    let x = Scalar::UNKNOWN;
    let (set, _) = refine(&x, &k(4), Relation::of(JmpCond::Set, true), Width::W64).unwrap();
    assert_eq!(set.var_off, Tnum::new(4, !4));
    let (clear, _) = refine(&x, &k(0xf0), Relation::of(JmpCond::Set, false), Width::W64).unwrap();
    assert_eq!(clear.var_off, Tnum::new(0, !0xf0));
    // More than one bit tested: the taken side learns nothing.
    let (some, _) = refine(&x, &k(3), Relation::of(JmpCond::Set, true), Width::W64).unwrap();
    assert_eq!(some, x);
}

#[test]
fn not_equal_trims_an_end() {
    let r = Scalar::unsigned_range(0, 10);
    let (ne, _) = refine(&r, &k(0), Relation::of(JmpCond::Ne, true), Width::W64).unwrap();
    assert_eq!((ne.umin, ne.umax), (1, 10));
    let (ne32, _) = refine(&r, &k(10), Relation::of(JmpCond::Ne, true), Width::W32).unwrap();
    assert_eq!((ne32.u32_min, ne32.u32_max), (0, 9));
}

#[test]
fn an_impossible_side_takes_the_value_the_kernel_gives_it() {
    // The bounds update makes an empty range the tnum's value next to it
    // (`__update_reg64_bounds` with `tnum_step`), as the kernel's does; the
    // kernel decides such branches (`is_branch_taken`) before refining them.
    let (c, five) = (k(5), k(5));
    for cond in [JmpCond::Lt, JmpCond::Gt, JmpCond::Slt] {
        let (side, _) = refine(&c, &five, Relation::of(cond, true), Width::W64).unwrap();
        assert_eq!(side, c, "{cond:?}");
    }
    // Multiples of 16 above 0 and below 16: none, and the state becomes 0.
    let sixteens = Scalar {
        var_off: Tnum::new(0, 0xf0),
        ..Scalar::unsigned_range(0, 0xf0)
    };
    let (above, _) = refine(
        &sixteens,
        &k(0),
        Relation::of(JmpCond::Gt, true),
        Width::W64,
    )
    .unwrap();
    let (below, _) = refine(&above, &k(16), Relation::of(JmpCond::Lt, true), Width::W64).unwrap();
    assert_eq!(below, k(0));
}
