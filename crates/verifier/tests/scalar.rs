//! Bound synchronisation and width changes against concrete values: sync
//! never loses a member, every non-empty state passes the kernel's
//! invariants check, and truncation and sign extension contain the
//! concrete results (`apiary_vm::semantics`).

mod common;

use apiary_isa::{Size, Width};
use apiary_verifier::{Scalar, Tnum, ViolationKind};
use apiary_vm::semantics;
use common::{around, interesting, sample};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn sync_keeps_members_and_invariants(s in sample()) {
        let mut again = s.abs;
        again.sync();
        prop_assert!(again.check_invariants().is_ok(), "{again:?}");
        for &x in &s.members {
            prop_assert!(again.contains(x));
        }
    }

    #[test]
    fn sync_gives_what_every_step_of_the_derivation_gives(s in sample(), other in sample()) {
        // `sync` skips the steps that cannot change anything; the states
        // also go through the unsynced shapes operations leave.
        let mut cut = other.abs;
        cut.coerce_to_size(1);
        let mut widened = s.abs;
        widened.zext_32_to_64();
        for state in [s.abs, other.abs, cut, widened, Scalar::constant(s.members[0])] {
            let (mut quick, mut full) = (state, state);
            quick.sync();
            full.derive_views();
            prop_assert_eq!(quick, full, "from {:?}", state);
        }
    }

    #[test]
    fn generated_states_are_consistent(s in sample()) {
        prop_assert!(s.abs.check_invariants().is_ok(), "{:?}", s.abs);
    }

    #[test]
    fn truncation_contains_the_low_bytes(s in sample(), bytes in prop::sample::select(vec![1u8, 2, 4])) {
        let mut t = s.abs;
        t.coerce_to_size(bytes);
        prop_assert!(t.check_invariants().is_ok());
        for &x in &s.members {
            let low = x & ((1u64 << (bytes * 8)) - 1);
            prop_assert!(t.contains(low), "{x:#x} -> {low:#x} not in {t:?}");
        }
    }

    #[test]
    fn sign_extension_contains_the_extended_value(s in sample(), from in prop::sample::select(vec![Size::B, Size::H, Size::W])) {
        let mut t = s.abs;
        t.coerce_to_size_sx(from.bytes() as u8);
        prop_assert!(t.check_invariants().is_ok(), "{t:?}");
        for &x in &s.members {
            let e = semantics::movsx(Width::W64, from, x);
            prop_assert!(t.contains(e), "{x:#x} -> {e:#x} not in {t:?}");
        }
    }

    #[test]
    fn subreg_sign_extension_then_zero_extension(s in sample(), from in prop::sample::select(vec![Size::B, Size::H])) {
        let mut t = s.abs;
        t.coerce_subreg_to_size_sx(from.bytes() as u8);
        t.zext_32_to_64();
        t.sync();
        prop_assert!(t.check_invariants().is_ok(), "{t:?}");
        for &x in &s.members {
            let e = semantics::movsx(Width::W32, from, x);
            prop_assert!(t.contains(e), "{x:#x} -> {e:#x} not in {t:?}");
        }
    }

    #[test]
    fn zero_extension_contains_the_low_half(s in sample()) {
        let mut t = s.abs;
        t.zext_32_to_64();
        t.sync();
        for &x in &s.members {
            prop_assert!(t.contains(x & 0xffff_ffff));
        }
    }

    #[test]
    fn a_constant_is_exactly_itself(x in interesting(), y in interesting()) {
        let c = Scalar::constant(x);
        prop_assert!(c.contains(x));
        prop_assert_eq!(c.contains(y), x == y);
        // `sync` skips the derivation for constants: it must change nothing.
        let mut synced = c;
        synced.derive_views();
        prop_assert_eq!(synced, c);
    }
}

#[test]
fn unknown_is_unchanged_by_sync() {
    // `sync` skips the derivation for it: it must change nothing.
    let mut u = Scalar::UNKNOWN;
    u.derive_views();
    assert_eq!(u, Scalar::UNKNOWN);
    assert!(u.is_unbounded());
}

#[test]
fn bounds_learn_from_each_other() {
    // Unsigned [0, 255] also bounds the signed view, the low half and the bits.
    let s = Scalar::unsigned_range(0, 255);
    assert_eq!((s.smin, s.smax), (0, 255));
    assert_eq!((s.u32_min, s.u32_max), (0, 255));
    assert_eq!((s.s32_min, s.s32_max), (0, 255));
    assert_eq!(s.var_off, Tnum::new(0, 0xff));
    // Known bits bound the value: (0x10; 0x0f) is [16, 31].
    let mut t = Scalar::UNKNOWN;
    t.var_off = Tnum::new(0x10, 0x0f);
    t.sync();
    assert_eq!((t.umin, t.umax, t.smin, t.smax), (16, 31, 16, 31));
    // Signed [-3, -1] is unsigned [2^64-3, 2^64-1].
    let mut n = Scalar::UNKNOWN;
    n.smin = -3;
    n.smax = -1;
    n.sync();
    assert_eq!((n.umin, n.umax), (u64::MAX - 2, u64::MAX));
    assert_eq!((n.s32_min, n.s32_max), (-3, -1));
}

#[test]
fn a_signed_range_crossing_zero_meets_one_end_of_the_unsigned_range() {
    // s64 [-10, 10] with u64 [5, 2^63]: only the non-negative end is possible.
    let mut s = Scalar::UNKNOWN;
    s.smin = -10;
    s.smax = 10;
    s.umin = 5;
    s.umax = 1 << 63;
    s.sync();
    assert_eq!((s.umin, s.umax, s.smin, s.smax), (5, 10, 5, 10));
}

#[test]
fn invariant_violations_name_the_broken_rule() {
    let mut s = Scalar::constant(5);
    s.umax = 4;
    let v = s.check_invariants().unwrap_err();
    assert_eq!(v.kind, ViolationKind::RangeBounds);
    let mut c = Scalar::UNKNOWN;
    c.var_off = Tnum::constant(7);
    assert_eq!(
        c.check_invariants().unwrap_err().kind,
        ViolationKind::ConstTnum
    );
    let mut low = Scalar::UNKNOWN;
    low.var_off = Tnum::new(0x1_0000_0007, 0xffff_ffff_0000_0000);
    assert_eq!(
        low.check_invariants().unwrap_err().kind,
        ViolationKind::ConstSubregTnum
    );
    assert_eq!(
        v.to_string(),
        "range bounds violation u64=[0x5, 0x4] s64=[0x5, 0x5] u32=[0x5, 0x5] s32=[0x5, 0x5] var_off=(0x5, 0x0)"
    );
}

#[test]
fn truncating_a_known_range_keeps_it() {
    let mut s = Scalar::unsigned_range(0x1_0000_0010, 0x1_0000_0020);
    s.coerce_to_size(4);
    assert_eq!((s.umin, s.umax), (0x10, 0x20));
    let mut b = around(0x1ff, [0; 8], 0, &[]).abs;
    b.coerce_to_size(1);
    assert_eq!(b, Scalar::constant(0xff));
}
