//! Tristate numbers: what the verifier knows about each bit of a value.
//!
//! A [`Tnum`] is a `(value, mask)` pair: a bit set in `mask` is unknown,
//! otherwise the bit equals the one in `value` (and `value & mask == 0`).
//! The operations follow the kernel's `kernel/bpf/tnum.c`: each result
//! contains every concrete result of members of the operands, so that a
//! bit the verifier claims to know is known.

use std::fmt;

/// A value whose bits are each known 0, known 1 or unknown.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Tnum {
    /// The known bits (0 where unknown).
    pub value: u64,
    /// The unknown bits.
    pub mask: u64,
}

impl Tnum {
    /// Nothing known.
    pub const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    /// Builds a tnum, clearing the unknown bits of `value`.
    pub const fn new(value: u64, mask: u64) -> Tnum {
        Tnum {
            value: value & !mask,
            mask,
        }
    }

    /// The low `bits` (16, 32 or 64) with their bytes in reverse order,
    /// zero-extended (`tnum_bswap16`, `tnum_bswap32`, `tnum_bswap64`).
    pub fn swap_bytes(self, bits: u8) -> Tnum {
        // Shifted to the top, the low `bits` land at the bottom, reversed.
        let shift = 64u32.saturating_sub(u32::from(bits));
        let swapped = |x: u64| x.checked_shl(shift).map_or(0, u64::swap_bytes);
        Tnum::new(swapped(self.value), swapped(self.mask))
    }

    /// Exactly `value`.
    pub const fn constant(value: u64) -> Tnum {
        Tnum { value, mask: 0 }
    }

    /// The smallest tnum containing every value of `[min, max]`: the bits
    /// above the highest one in which `min` and `max` differ are known.
    pub fn range(min: u64, max: u64) -> Tnum {
        let chi = min ^ max;
        let bits = 64 - chi.leading_zeros();
        if bits > 63 {
            return Tnum::UNKNOWN;
        }
        let delta = (1u64 << bits) - 1;
        Tnum::new(min & !delta, delta)
    }

    /// The smallest member larger than `z`; the smallest member when `z`
    /// is below it, the largest when `z` is not below that (`tnum_step`).
    pub fn step(self, z: u64) -> u64 {
        let tmax = self.value | self.mask;
        if z >= tmax {
            return tmax;
        }
        if z < self.value {
            return self.value;
        }
        let below = |bits: u32| 1u64.checked_shl(bits).map_or(u64::MAX, |b| b - 1);
        // The smallest member at least `target` (there is one: tmax).
        let target = z + 1;
        let wrong = (target ^ self.value) & !self.mask;
        if wrong == 0 {
            return target;
        }
        // Above the highest fixed bit `target` gets wrong, a member equals
        // it; the member first exceeds it at that bit when the fixed bit is
        // 1, else at the lowest unknown bit above it where `target` has 0.
        let high = 63 - wrong.leading_zeros();
        let at = if target >> high & 1 == 0 {
            high
        } else {
            (self.mask & !target & !below(high + 1)).trailing_zeros()
        };
        (target & !below(at + 1)) | 1u64.checked_shl(at).unwrap_or(0) | (self.value & below(at))
    }

    /// Whether every bit is known.
    pub const fn is_const(self) -> bool {
        self.mask == 0
    }

    /// Whether the tnum is exactly `value`.
    pub const fn equals_const(self, value: u64) -> bool {
        self.is_const() && self.value == value
    }

    /// Whether nothing is known.
    pub const fn is_unknown(self) -> bool {
        self.mask == u64::MAX
    }

    /// Whether `x` is one of the values the tnum stands for.
    pub const fn contains(self, x: u64) -> bool {
        x & !self.mask == self.value
    }

    /// Whether every value of `other` is a value of `self` (the kernel's
    /// `tnum_in(self, other)`, used by state pruning).
    pub const fn includes(self, other: Tnum) -> bool {
        if other.mask & !self.mask != 0 {
            return false;
        }
        other.value & !self.mask == self.value
    }

    /// Whether some value belongs to both.
    pub const fn overlaps(self, other: Tnum) -> bool {
        let known = !self.mask & !other.mask;
        self.value & known == other.value & known
    }

    /// Whether every value is a multiple of `size` (a power of two; 0 means any).
    pub const fn is_aligned(self, size: u64) -> bool {
        size == 0 || (self.value | self.mask) & (size - 1) == 0
    }

    /// `self << shift` (`shift < 64`).
    pub const fn lshift(self, shift: u8) -> Tnum {
        Tnum {
            value: self.value << shift,
            mask: self.mask << shift,
        }
    }

    /// Logical `self >> shift` (`shift < 64`).
    pub const fn rshift(self, shift: u8) -> Tnum {
        Tnum {
            value: self.value >> shift,
            mask: self.mask >> shift,
        }
    }

    /// Arithmetic `self >> shift` on `width` (32 or 64) bits; a 32-bit
    /// result is zero-extended.
    pub const fn arshift(self, shift: u8, width: u8) -> Tnum {
        if width == 32 {
            Tnum {
                value: ((self.value as u32 as i32) >> shift) as u32 as u64,
                mask: ((self.mask as u32 as i32) >> shift) as u32 as u64,
            }
        } else {
            Tnum {
                value: ((self.value as i64) >> shift) as u64,
                mask: ((self.mask as i64) >> shift) as u64,
            }
        }
    }

    /// `self + other`: carries out of unknown bits are unknown.
    pub const fn add(self, other: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(other.mask);
        let sv = self.value.wrapping_add(other.value);
        let sigma = sm.wrapping_add(sv);
        let chi = sigma ^ sv;
        let mu = chi | self.mask | other.mask;
        Tnum {
            value: sv & !mu,
            mask: mu,
        }
    }

    /// `self - other`: borrows into unknown bits are unknown.
    pub const fn sub(self, other: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(other.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(other.mask);
        let chi = alpha ^ beta;
        let mu = chi | self.mask | other.mask;
        Tnum {
            value: dv & !mu,
            mask: mu,
        }
    }

    /// `-self`, as `0 - self`.
    pub const fn neg(self) -> Tnum {
        Tnum::constant(0).sub(self)
    }

    /// `self & other`.
    pub const fn and(self, other: Tnum) -> Tnum {
        let alpha = self.value | self.mask;
        let beta = other.value | other.mask;
        let v = self.value & other.value;
        Tnum {
            value: v,
            mask: alpha & beta & !v,
        }
    }

    /// `self | other`.
    pub const fn or(self, other: Tnum) -> Tnum {
        let v = self.value | other.value;
        let mu = self.mask | other.mask;
        Tnum {
            value: v,
            mask: mu & !v,
        }
    }

    /// `self ^ other`.
    pub const fn xor(self, other: Tnum) -> Tnum {
        let v = self.value ^ other.value;
        let mu = self.mask | other.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    /// `self * other`: the known product plus, for every bit of `self` that
    /// is 1 or unknown, the correspondingly shifted unknown part of `other`.
    pub const fn mul(self, other: Tnum) -> Tnum {
        let known = self.value.wrapping_mul(other.value);
        let mut a = self;
        let mut b = other;
        let mut acc = Tnum::constant(0);
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc = acc.add(Tnum {
                    value: 0,
                    mask: b.mask,
                });
            } else if a.mask & 1 != 0 {
                acc = acc.add(Tnum {
                    value: 0,
                    mask: b.value | b.mask,
                });
            }
            a = a.rshift(1);
            b = b.lshift(1);
        }
        Tnum::constant(known).add(acc)
    }

    /// The values both tnums allow. If they contradict (no common value) the
    /// result has a known 1 where either has one, as the kernel's.
    pub const fn intersect(self, other: Tnum) -> Tnum {
        let v = self.value | other.value;
        let mu = self.mask & other.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    /// The low `bytes` bytes (1, 2, 4 or 8).
    pub const fn cast(self, bytes: u8) -> Tnum {
        if bytes >= 8 {
            return self;
        }
        let keep = (1u64 << (bytes as u32 * 8)) - 1;
        Tnum {
            value: self.value & keep,
            mask: self.mask & keep,
        }
    }

    /// The low 32 bits, zero-extended.
    pub const fn subreg(self) -> Tnum {
        self.cast(4)
    }

    /// The high 32 bits, with the low 32 known zero.
    pub const fn clear_subreg(self) -> Tnum {
        self.rshift(32).lshift(32)
    }

    /// The high 32 bits of `self` with the low 32 bits of `low`.
    pub const fn with_subreg(self, low: Tnum) -> Tnum {
        self.clear_subreg().or(low.subreg())
    }

    /// The high 32 bits of `self` with the low 32 bits exactly `value`'s.
    pub const fn with_const_subreg(self, value: u32) -> Tnum {
        self.with_subreg(Tnum::constant(value as u64))
    }

    /// Whether the low 32 bits are all known.
    pub const fn subreg_is_const(self) -> bool {
        self.subreg().is_const()
    }
}

/// As the kernel's log prints a tnum (`tnum_strn`): a constant as a
/// number, anything else as `(value; mask)` in hex.
impl fmt::Display for Tnum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_const() {
            return write!(f, "{}", self.value as i64);
        }
        write!(f, "({}; {})", CHex(self.value), CHex(self.mask))
    }
}

/// A number as the kernel's `%#llx` prints it: `0x..`, zero included
/// (`var_off=(0x0; 0x4)`; C's printf would print a bare `0`).
pub(crate) struct CHex(pub u64);

impl fmt::Display for CHex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}
