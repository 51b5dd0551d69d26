//! Random abstract values together with concrete members of them.
//!
//! A generated [`Sample`] starts from a concrete witness, builds bounds and a
//! tnum around it, syncs, and then collects further members by filling the
//! unknown bits at random and keeping the values every view admits. Every
//! soundness property is checked on these members against the concrete
//! semantics of `apiary_vm::semantics` (RFC 9669).

#![allow(dead_code)]

use apiary_verifier::{Scalar, Tnum};
use proptest::prelude::*;

/// An abstract value and some of its members (never empty: the witness is one).
#[derive(Clone, Debug)]
pub struct Sample {
    pub abs: Scalar,
    pub members: Vec<u64>,
}

/// Values near the edges that matter: 0, the 32-bit and 64-bit sign and
/// wrap boundaries, small negatives, and anything.
pub fn interesting() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..64,
        (-64i64..64).prop_map(|v| v as u64),
        (0x7fff_ffc0u64..0x8000_0040),
        (0xffff_ffc0u64..0x1_0000_0040),
        (-64i64..64).prop_map(|v| (v as u64).wrapping_add(1 << 63)),
        any::<u32>().prop_map(u64::from),
        any::<i32>().prop_map(|v| v as i64 as u64),
    ]
}

/// A distance to put a bound at: none, small, or large.
fn spread() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        0u64..16,
        0u64..0x1_0000,
        any::<u64>(),
        Just(u64::MAX)
    ]
}

/// Which bits a tnum leaves unknown.
fn mask() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        (0u32..64).prop_map(|k| (1u64 << k) - 1),
        any::<u64>(),
        any::<u32>().prop_map(u64::from),
        (0u32..64).prop_map(|k| !((1u64 << k) - 1)),
    ]
}

/// Builds a synced abstract value around `x` and samples members of it.
pub fn around(x: u64, d: [u64; 8], mask: u64, fills: &[u64]) -> Sample {
    let lo32 = x as u32;
    let abs_unsynced = Scalar {
        var_off: Tnum::new(x, mask),
        umin: x.saturating_sub(d[0]),
        umax: x.saturating_add(d[1]),
        smin: (x as i64).saturating_sub(d[2] as i64 & i64::MAX),
        smax: (x as i64).saturating_add(d[3] as i64 & i64::MAX),
        u32_min: lo32.saturating_sub(d[4] as u32),
        u32_max: lo32.saturating_add(d[5] as u32),
        s32_min: (lo32 as i32).saturating_sub(d[6] as i32 & i32::MAX),
        s32_max: (lo32 as i32).saturating_add(d[7] as i32 & i32::MAX),
    };
    let mut abs = abs_unsynced;
    abs.sync();
    assert!(
        abs.contains(x),
        "sync lost the witness {x:#x}: {abs_unsynced:?} -> {abs:?}"
    );
    let mut members = vec![x];
    let edges = [abs.umin, abs.umax, abs.smin as u64, abs.smax as u64];
    let fill = fills
        .iter()
        .map(|r| abs.var_off.value | (r & abs.var_off.mask));
    for y in edges.into_iter().chain(fill) {
        if abs.contains(y) && !members.contains(&y) {
            members.push(y);
        }
    }
    Sample { abs, members }
}

/// A random abstract value with members.
pub fn sample() -> impl Strategy<Value = Sample> {
    (
        interesting(),
        prop::array::uniform8(spread()),
        mask(),
        prop::collection::vec(any::<u64>(), 6),
    )
        .prop_map(|(x, d, m, fills)| around(x, d, m, &fills))
}

/// A constant, as an immediate operand or a known register.
pub fn constant() -> impl Strategy<Value = Sample> {
    prop_oneof![interesting(), 0u64..70].prop_map(|v| Sample {
        abs: Scalar::constant(v),
        members: vec![v],
    })
}

/// Mostly random abstract values, often constants.
pub fn operand() -> impl Strategy<Value = Sample> {
    prop_oneof![3 => sample(), 1 => constant()]
}

/// Every scalar built from a small window of unsigned and signed ranges,
/// with all its members (for exhaustive checks).
pub fn small_ranges() -> Vec<(Scalar, Vec<u64>)> {
    let mut out = Vec::new();
    let bases: [i64; 4] = [0, -4, (1 << 31) - 4, (1 << 32) - 4];
    for base in bases {
        for lo in 0..6i64 {
            for hi in lo..6 {
                let (l, h) = ((base + lo) as u64, (base + hi) as u64);
                let mut s = Scalar::UNKNOWN;
                if (l as i64) <= (h as i64) {
                    s.smin = l as i64;
                    s.smax = h as i64;
                }
                if l <= h {
                    s.umin = l;
                    s.umax = h;
                }
                s.sync();
                let members: Vec<u64> = (lo..=hi).map(|v| (base + v) as u64).collect();
                assert!(members.iter().all(|&m| s.contains(m)), "{s:?}");
                out.push((s, members));
            }
        }
    }
    out
}
