//! One width's view of a scalar's bounds.
//!
//! The kernel keeps the same four bounds for the 64-bit value and for its
//! low 32 bits and writes most rules twice. Here a rule is written once over
//! [`Bounds`], whose numbers are widened to `i128` so that the overflow of a
//! 32- or 64-bit operation is a plain comparison, and applied to either
//! half with [`Scalar::bounds`] and [`Scalar::set_bounds`].

use crate::scalar::Scalar;
use crate::tnum::Tnum;

/// Signed and unsigned bounds at one width, and that width's tnum.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Bounds {
    /// 32 or 64.
    pub bits: u32,
    /// Signed minimum.
    pub smin: i128,
    /// Signed maximum.
    pub smax: i128,
    /// Unsigned minimum.
    pub umin: i128,
    /// Unsigned maximum.
    pub umax: i128,
    /// The known bits at this width (the low half, zero-extended, for 32).
    pub tnum: Tnum,
}

impl Bounds {
    /// The smallest signed value of the width.
    pub fn signed_min(&self) -> i128 {
        -(1 << (self.bits - 1))
    }

    /// The largest signed value of the width.
    pub fn signed_max(&self) -> i128 {
        (1 << (self.bits - 1)) - 1
    }

    /// The largest unsigned value of the width.
    pub fn unsigned_max(&self) -> i128 {
        (1 << self.bits) - 1
    }

    /// `x` reduced modulo 2^bits into the unsigned range: what the width's
    /// wrapping arithmetic gives.
    pub fn wrap_unsigned(&self, x: i128) -> i128 {
        x.rem_euclid(1 << self.bits)
    }

    /// `x` reduced modulo 2^bits into the signed range.
    pub fn wrap_signed(&self, x: i128) -> i128 {
        self.as_signed(self.wrap_unsigned(x))
    }

    /// The signed reading of an unsigned value of the width.
    pub fn as_signed(&self, u: i128) -> i128 {
        if u > self.signed_max() {
            u - (1 << self.bits)
        } else {
            u
        }
    }

    /// The unsigned reading of a signed value of the width.
    pub fn as_unsigned(&self, s: i128) -> i128 {
        if s < 0 { s + (1 << self.bits) } else { s }
    }

    /// Forgets the signed bounds.
    pub fn unbound_signed(&mut self) {
        self.smin = self.signed_min();
        self.smax = self.signed_max();
    }

    /// Forgets the unsigned bounds.
    pub fn unbound_unsigned(&mut self) {
        self.umin = 0;
        self.umax = self.unsigned_max();
    }

    /// Sets the signed bounds to the unsigned ones when the unsigned range
    /// stays on one side of the sign boundary, else forgets them.
    pub fn signed_from_unsigned(&mut self) {
        if self.as_signed(self.umin) <= self.as_signed(self.umax) {
            self.smin = self.as_signed(self.umin);
            self.smax = self.as_signed(self.umax);
        } else {
            self.unbound_signed();
        }
    }

    /// Tightens the bounds from the known bits (`__update_reg{32,64}_bounds`):
    /// the smallest signed value has the sign bit set if it may be, the
    /// largest has it clear if it may be.
    pub fn update_from_tnum(&mut self) {
        let sign = 1u64 << (self.bits - 1);
        let (v, m) = (self.tnum.value, self.tnum.mask);
        self.smin = self.smin.max(self.as_signed((v | (m & sign)).into()));
        self.smax = self.smax.min(self.as_signed((v | (m & (sign - 1))).into()));
        self.umin = self.umin.max(v.into());
        self.umax = self.umax.min((v | m).into());
    }

    /// Lets the signed and unsigned bounds inform each other
    /// (`__reg{32,64}_deduce_bounds`, sign-boundary cases included).
    pub fn deduce_sign(&mut self) {
        let (umin_s, umax_s) = (self.as_signed(self.umin), self.as_signed(self.umax));
        if umin_s <= umax_s {
            self.smin = self.smin.max(umin_s);
            self.smax = self.smax.min(umax_s);
        }
        let (smin_u, smax_u) = (self.as_unsigned(self.smin), self.as_unsigned(self.smax));
        if smin_u <= smax_u {
            self.umin = self.umin.max(smin_u);
            self.umax = self.umax.min(smax_u);
        } else if self.umax < smin_u {
            // The signed range wraps through the sign boundary and the
            // unsigned range meets only its non-negative end.
            self.smin = self.as_signed(self.umin);
            self.umax = self.umax.min(smax_u);
        } else if smax_u < self.umin {
            // ... or only its negative end.
            self.smax = self.as_signed(self.umax);
            self.umin = self.umin.max(smin_u);
        }
    }
}

impl Scalar {
    /// The bounds of the full value (`wide`) or of the low 32 bits.
    pub(crate) fn bounds(&self, wide: bool) -> Bounds {
        if wide {
            Bounds {
                bits: 64,
                smin: self.smin.into(),
                smax: self.smax.into(),
                umin: self.umin.into(),
                umax: self.umax.into(),
                tnum: self.var_off,
            }
        } else {
            Bounds {
                bits: 32,
                smin: self.s32_min.into(),
                smax: self.s32_max.into(),
                umin: self.u32_min.into(),
                umax: self.u32_max.into(),
                tnum: self.var_off.subreg(),
            }
        }
    }

    /// Stores `b`'s numbers (each within its width's range) into the half it
    /// was taken from; the tnum is left alone.
    pub(crate) fn set_bounds(&mut self, b: Bounds) {
        if b.bits == 64 {
            self.smin = b.smin as i64;
            self.smax = b.smax as i64;
            self.umin = b.umin as u64;
            self.umax = b.umax as u64;
        } else {
            self.s32_min = b.smin as i32;
            self.s32_max = b.smax as i32;
            self.u32_min = b.umin as u32;
            self.u32_max = b.umax as u32;
        }
    }
}
