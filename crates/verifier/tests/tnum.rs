//! Tnum operations against concrete arithmetic: every result contains the
//! concrete result of every pair of members (soundness), checked on random
//! tnums and exhaustively on all tnums of the low 4 bits; the bitwise
//! operations are also checked to be exact there.

use apiary_verifier::Tnum;
use proptest::prelude::*;

fn tnum() -> impl Strategy<Value = Tnum> {
    (any::<u64>(), any::<u64>(), 0u32..4).prop_map(|(v, m, shape)| match shape {
        0 => Tnum::new(v, m),
        1 => Tnum::new(v, m & 0xff),
        2 => Tnum::constant(v),
        _ => Tnum::new(v, m & 0xffff_ffff_0000_0000),
    })
}

/// A member of `t` chosen by `fill`.
fn member(t: Tnum, fill: u64) -> u64 {
    t.value | (fill & t.mask)
}

type Op = (&'static str, fn(Tnum, Tnum) -> Tnum, fn(u64, u64) -> u64);

const BINARY: [Op; 6] = [
    ("add", Tnum::add, u64::wrapping_add),
    ("sub", Tnum::sub, u64::wrapping_sub),
    ("mul", Tnum::mul, u64::wrapping_mul),
    ("and", Tnum::and, |a, b| a & b),
    ("or", Tnum::or, |a, b| a | b),
    ("xor", Tnum::xor, |a, b| a ^ b),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn binary_operations_are_sound(a in tnum(), b in tnum(), fa in any::<u64>(), fb in any::<u64>()) {
        let (x, y) = (member(a, fa), member(b, fb));
        for (name, abs, conc) in BINARY {
            let r = abs(a, b);
            prop_assert_eq!(r.value & r.mask, 0, "{} gave a malformed tnum", name);
            prop_assert!(r.contains(conc(x, y)), "{name}: {x:#x}, {y:#x} -> {:#x} not in {r}", conc(x, y));
        }
    }

    #[test]
    fn unary_operations_are_sound(a in tnum(), fa in any::<u64>(), shift in 0u8..64, bytes in prop::sample::select(vec![1u8, 2, 4, 8])) {
        let x = member(a, fa);
        prop_assert!(a.neg().contains(x.wrapping_neg()));
        prop_assert!(a.lshift(shift).contains(x << shift));
        prop_assert!(a.rshift(shift).contains(x >> shift));
        prop_assert!(a.arshift(shift, 64).contains(((x as i64) >> shift) as u64));
        prop_assert!(a.arshift(shift % 32, 32).contains(u64::from(((x as i32) >> (shift % 32)) as u32)));
        let keep = if bytes == 8 { u64::MAX } else { (1u64 << (bytes * 8)) - 1 };
        prop_assert!(a.cast(bytes).contains(x & keep));
        prop_assert!(a.subreg().contains(x & 0xffff_ffff));
        prop_assert!(a.clear_subreg().contains(x & !0xffff_ffff));
    }

    #[test]
    fn range_contains_its_interval(lo in any::<u64>(), len in prop_oneof![0u64..100, any::<u64>()], pick in any::<u64>()) {
        let hi = lo.saturating_add(len);
        let t = Tnum::range(lo, hi);
        prop_assert!(t.contains(lo) && t.contains(hi));
        let inside = lo + pick % (hi - lo).saturating_add(1).max(1);
        prop_assert!(t.contains(inside.min(hi)));
    }

    #[test]
    fn intersect_keeps_common_members(a in tnum(), b in tnum(), fill in any::<u64>()) {
        let x = member(a, fill);
        if b.contains(x) {
            prop_assert!(a.intersect(b).contains(x));
            prop_assert!(a.overlaps(b));
        }
    }

    #[test]
    fn includes_means_every_member_is_included(a in tnum(), b in tnum(), fill in any::<u64>()) {
        if a.includes(b) {
            prop_assert!(a.contains(member(b, fill)));
        }
        prop_assert!(a.includes(a));
        prop_assert!(Tnum::UNKNOWN.includes(a));
    }

    #[test]
    fn with_subreg_combines_halves(a in tnum(), b in tnum(), fa in any::<u64>(), fb in any::<u64>()) {
        let (x, y) = (member(a, fa), member(b, fb));
        let combined = (x & !0xffff_ffff) | (y & 0xffff_ffff);
        prop_assert!(a.with_subreg(b).contains(combined));
    }
}

/// Every tnum over the low `bits` bits (the rest known zero).
fn all_tnums(bits: u32) -> Vec<Tnum> {
    let n = 1u64 << bits;
    let mut out = Vec::new();
    for mask in 0..n {
        for value in 0..n {
            if value & mask == 0 {
                out.push(Tnum::new(value, mask));
            }
        }
    }
    out
}

fn members(t: Tnum) -> Vec<u64> {
    (0..16u64).filter(|&x| t.contains(x)).collect()
}

#[test]
fn binary_operations_are_sound_on_every_4_bit_tnum() {
    let all = all_tnums(4);
    for &a in &all {
        for &b in &all {
            for (name, abs, conc) in BINARY {
                let r = abs(a, b);
                for x in members(a) {
                    for y in members(b) {
                        assert!(r.contains(conc(x, y)), "{name} {a} {b}: {x} {y}");
                    }
                }
            }
        }
    }
}

#[test]
fn bitwise_operations_are_exact_on_every_4_bit_tnum() {
    let all = all_tnums(4);
    for &a in &all {
        for &b in &all {
            for (name, abs, conc) in &BINARY[3..] {
                let r = abs(a, b);
                let results: Vec<u64> = members(a)
                    .into_iter()
                    .flat_map(|x| members(b).into_iter().map(move |y| conc(x, y)))
                    .collect();
                // The smallest tnum holding every result: bits that vary are unknown.
                let varying = results.iter().fold(0, |m, &v| m | (v ^ results[0]));
                assert_eq!(r, Tnum::new(results[0], varying), "{name} {a} {b}");
            }
        }
    }
}

#[test]
fn documented_results() {
    assert_eq!(Tnum::range(0, 255), Tnum::new(0, 0xff));
    assert_eq!(Tnum::range(16, 31), Tnum::new(16, 0xf));
    assert_eq!(Tnum::range(5, 5), Tnum::constant(5));
    assert_eq!(Tnum::range(0, u64::MAX), Tnum::UNKNOWN);
    assert_eq!(Tnum::constant(3).add(Tnum::constant(4)), Tnum::constant(7));
    assert_eq!(Tnum::constant(6).mul(Tnum::constant(7)), Tnum::constant(42));
    assert_eq!(Tnum::UNKNOWN.and(Tnum::constant(0xff)), Tnum::new(0, 0xff));
    assert_eq!(Tnum::new(0, 0xff).lshift(2), Tnum::new(0, 0x3fc));
    assert_eq!(Tnum::new(0x80, 0x7f).arshift(4, 64), Tnum::new(0x8, 0x7));
    assert_eq!(
        Tnum::constant(0x8000_0000).arshift(4, 32),
        Tnum::constant(0xf800_0000)
    );
    assert!(Tnum::new(0, 0xf0).is_aligned(16));
    assert!(!Tnum::new(0, 0xf8).is_aligned(16));
    assert_eq!(Tnum::new(0x10, 0x3).to_string(), "(0x10; 0x3)");
    assert_eq!(Tnum::constant(0).to_string(), "0");
    assert_eq!(Tnum::new(0, 0xff).to_string(), "(0x0; 0xff)");
}

#[test]
fn step_finds_the_next_member_on_every_small_tnum() {
    for value in 0u64..64 {
        for mask in 0u64..64 {
            if value & mask != 0 {
                continue;
            }
            let t = Tnum::new(value, mask);
            let members: Vec<u64> = (0u64..64).filter(|&x| t.contains(x)).collect();
            let tmax = value | mask;
            for z in 0u64..70 {
                let expected = if z >= tmax {
                    tmax
                } else if z < value {
                    value
                } else {
                    members.iter().copied().find(|&m| m > z).unwrap_or(tmax)
                };
                assert_eq!(t.step(z), expected, "{t:?} after {z}");
            }
        }
    }
    // Far bits: the member past a fixed 1 and past unknown high bits.
    let t = Tnum::new(0x8000_0000_0000_0004, 0x0000_0000_ffff_0000);
    assert_eq!(t.step(0x8000_0000_0000_0004), 0x8000_0000_0001_0004);
    assert_eq!(t.step(u64::MAX - 1), 0x8000_0000_ffff_0004);
}
