//! A scalar's abstract value: the kernel's `bpf_reg_state` value tracking.
//!
//! A [`Scalar`] is a tnum plus signed and unsigned bounds on the 64-bit
//! value and on its low 32 bits. The five views are kept consistent by
//! [`Scalar::sync`] (the kernel's `reg_bounds_sync`), which lets each view
//! tighten the others. A concrete value is a member when it satisfies all
//! five at once ([`Scalar::contains`]).

use std::fmt;
use std::sync::OnceLock;

use crate::bounds::Bounds;
use crate::tnum::{CHex, Tnum};

/// What the verifier knows about a scalar value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Scalar {
    /// Known bits.
    pub var_off: Tnum,
    /// Signed 64-bit minimum.
    pub smin: i64,
    /// Signed 64-bit maximum.
    pub smax: i64,
    /// Unsigned 64-bit minimum.
    pub umin: u64,
    /// Unsigned 64-bit maximum.
    pub umax: u64,
    /// Signed minimum of the low 32 bits.
    pub s32_min: i32,
    /// Signed maximum of the low 32 bits.
    pub s32_max: i32,
    /// Unsigned minimum of the low 32 bits.
    pub u32_min: u32,
    /// Unsigned maximum of the low 32 bits.
    pub u32_max: u32,
}

/// Which of the kernel's invariants a [`Scalar`] breaks
/// (`reg_bounds_sanity_check`): a state that breaks one has no member.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ViolationKind {
    /// A minimum exceeds its maximum.
    RangeBounds,
    /// The tnum is a constant the 64-bit bounds do not equal.
    ConstTnum,
    /// The low 32 bits of the tnum are a constant the 32-bit bounds do not equal.
    ConstSubregTnum,
}

/// A broken invariant, printed as the kernel's `REG INVARIANTS VIOLATION` line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct InvariantViolation {
    /// What is broken.
    pub kind: ViolationKind,
    /// The offending state.
    pub scalar: Scalar,
}

impl fmt::Display for InvariantViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ViolationKind::RangeBounds => "range bounds violation",
            ViolationKind::ConstTnum => "const tnum out of sync with range bounds",
            ViolationKind::ConstSubregTnum => "const subreg tnum out of sync with range bounds",
        };
        let s = &self.scalar;
        write!(
            f,
            "{what} u64=[{}, {}] s64=[{}, {}] u32=[{}, {}] s32=[{}, {}] var_off=({}, {})",
            CHex(s.umin),
            CHex(s.umax),
            CHex(s.smin as u64),
            CHex(s.smax as u64),
            CHex(s.u32_min.into()),
            CHex(s.u32_max.into()),
            CHex(u64::from(s.s32_min as u32)),
            CHex(u64::from(s.s32_max as u32)),
            CHex(s.var_off.value),
            CHex(s.var_off.mask),
        )
    }
}

impl Scalar {
    /// Any value.
    pub const UNKNOWN: Scalar = Scalar {
        var_off: Tnum::UNKNOWN,
        smin: i64::MIN,
        smax: i64::MAX,
        umin: 0,
        umax: u64::MAX,
        s32_min: i32::MIN,
        s32_max: i32::MAX,
        u32_min: 0,
        u32_max: u32::MAX,
    };

    /// Exactly `value` (the kernel's `__mark_reg_known`).
    pub const fn constant(value: u64) -> Scalar {
        Scalar {
            var_off: Tnum::constant(value),
            smin: value as i64,
            smax: value as i64,
            umin: value,
            umax: value,
            s32_min: value as i32,
            s32_max: value as i32,
            u32_min: value as u32,
            u32_max: value as u32,
        }
    }

    /// Every value `[min, max]` (unsigned), synced.
    pub fn unsigned_range(min: u64, max: u64) -> Scalar {
        let mut s = Scalar::UNKNOWN;
        s.umin = min;
        s.umax = max;
        s.sync();
        s
    }

    /// Whether `x` is one of the values this state stands for.
    pub fn contains(&self, x: u64) -> bool {
        let (lo, slo) = (x as u32, x as i32);
        self.var_off.contains(x)
            && (self.umin..=self.umax).contains(&x)
            && (self.smin..=self.smax).contains(&(x as i64))
            && (self.u32_min..=self.u32_max).contains(&lo)
            && (self.s32_min..=self.s32_max).contains(&slo)
    }

    /// Whether the full value is known.
    pub const fn is_const(&self) -> bool {
        self.var_off.is_const()
    }

    /// Whether the value is known at `width` bits, as the kernel's `is_reg_const`.
    pub const fn is_const_at(&self, wide: bool) -> bool {
        if wide {
            self.var_off.is_const()
        } else {
            self.var_off.subreg_is_const()
        }
    }

    /// The known value at `width` bits (the low 32 bits zero-extended for 32).
    pub const fn const_value_at(&self, wide: bool) -> u64 {
        if wide {
            self.var_off.value
        } else {
            self.var_off.value as u32 as u64
        }
    }

    /// Whether nothing at all is known (`__is_scalar_unbounded`).
    pub fn is_unbounded(&self) -> bool {
        *self == Scalar::UNKNOWN
    }

    /// Sets the low 32 bits to the constant `value` (`__mark_reg32_known`).
    pub fn set_const32(&mut self, value: u32) {
        self.var_off = self.var_off.with_const_subreg(value);
        self.s32_min = value as i32;
        self.s32_max = value as i32;
        self.u32_min = value;
        self.u32_max = value;
    }

    /// Forgets every bound, keeping the tnum (`__mark_reg_unbounded`).
    pub fn mark_unbounded(&mut self) {
        self.mark_unbounded_at(true);
        self.mark_unbounded_at(false);
    }

    /// Forgets the bounds of the full value (`wide`) or of the low half.
    pub fn mark_unbounded_at(&mut self, wide: bool) {
        let mut b = self.bounds(wide);
        b.unbound_signed();
        b.unbound_unsigned();
        self.set_bounds(b);
    }

    /// Tightens the bounds of the full value (`wide`) or of the low half
    /// from the tnum.
    pub fn update_bounds_at(&mut self, wide: bool) {
        let mut b = self.bounds(wide);
        b.update_from_tnum();
        self.set_bounds(b);
    }

    /// Tightens all bounds from the tnum (`__update_reg_bounds`); when the
    /// unsigned 64-bit range and the tnum share one value, the scalar is
    /// that value.
    pub fn update_bounds(&mut self) {
        self.update_bounds_at(false);
        self.update_bounds_at(true);
        if let Some(only) = self.single_common_value() {
            *self = Scalar::constant(only);
        }
    }

    /// The one value of the unsigned 64-bit range the tnum holds, found as
    /// the kernel's `__update_reg64_bounds` does (with `tnum_step`, only
    /// three shapes of overlap: at `umin`, at the tnum's largest member, or
    /// one member strictly inside).
    fn single_common_value(&self) -> Option<u64> {
        let t = self.var_off;
        let tmax = t.value | t.mask;
        let next = t.step(self.umin);
        let umin_in_tnum = t.contains(self.umin);
        if umin_in_tnum && next > self.umax {
            Some(self.umin)
        } else if !umin_in_tnum && next == tmax {
            Some(tmax)
        } else if !umin_in_tnum && next <= self.umax && t.step(next) > self.umax {
            Some(next)
        } else {
            None
        }
    }

    /// Lets the 64-bit bounds and the signed and unsigned 32-bit bounds
    /// inform the 32-bit bounds (`__reg32_deduce_bounds`).
    fn deduce_bounds32(&mut self) {
        // Same upper half throughout: the low halves form a range.
        if self.umin >> 32 == self.umax >> 32 {
            self.u32_min = self.u32_min.max(self.umin as u32);
            self.u32_max = self.u32_max.min(self.umax as u32);
            if (self.umin as i32) <= (self.umax as i32) {
                self.s32_min = self.s32_min.max(self.umin as i32);
                self.s32_max = self.s32_max.min(self.umax as i32);
            }
        }
        if self.smin >> 32 == self.smax >> 32 {
            if (self.smin as u32) <= (self.smax as u32) {
                self.u32_min = self.u32_min.max(self.smin as u32);
                self.u32_max = self.u32_max.min(self.smax as u32);
            }
            if (self.smin as i32) <= (self.smax as i32) {
                self.s32_min = self.s32_min.max(self.smin as i32);
                self.s32_max = self.s32_max.min(self.smax as i32);
            }
        }
        // Upper halves n and n+1 with the low halves going from negative to
        // non-negative: the low halves still form one s32 range.
        if ((self.umin >> 32) as u32).wrapping_add(1) == (self.umax >> 32) as u32
            && (self.umin as i32) < 0
            && (self.umax as i32) >= 0
        {
            self.s32_min = self.s32_min.max(self.umin as i32);
            self.s32_max = self.s32_max.min(self.umax as i32);
        }
        if ((self.smin >> 32) as u32).wrapping_add(1) == (self.smax >> 32) as u32
            && (self.smin as i32) < 0
            && (self.smax as i32) >= 0
        {
            self.s32_min = self.s32_min.max(self.smin as i32);
            self.s32_max = self.s32_max.min(self.smax as i32);
        }
        let mut low = self.bounds(false);
        low.deduce_sign();
        self.set_bounds(low);
    }

    /// Lets the signed and unsigned 64-bit bounds inform each other
    /// (`__reg64_deduce_bounds`).
    fn deduce_bounds64(&mut self) {
        let mut full = self.bounds(true);
        full.deduce_sign();
        self.set_bounds(full);
    }

    /// Lets the 32-bit bounds inform the 64-bit ones
    /// (`__reg_deduce_mixed_bounds`).
    fn deduce_mixed_bounds(&mut self) {
        const HIGH: u64 = !0xffff_ffff;
        let (u32_min, u32_max) = (u64::from(self.u32_min), u64::from(self.u32_max));
        self.umin = self.umin.max((self.umin & HIGH) | u32_min);
        self.umax = self.umax.min((self.umax & HIGH) | u32_max);
        self.smin = self.smin.max(((self.smin as u64 & HIGH) | u32_min) as i64);
        self.smax = self.smax.min(((self.smax as u64 & HIGH) | u32_max) as i64);
        if (self.s32_min as u32) <= (self.s32_max as u32) {
            let (lo, hi) = (
                u64::from(self.s32_min as u32),
                u64::from(self.s32_max as u32),
            );
            self.umin = self.umin.max((self.umin & HIGH) | lo);
            self.umax = self.umax.min((self.umax & HIGH) | hi);
            self.smin = self.smin.max(((self.smin as u64 & HIGH) | lo) as i64);
            self.smax = self.smax.min(((self.smax as u64 & HIGH) | hi) as i64);
        }
        // After a sign-extending load the upper half is all ones or all
        // zeros; non-negative low halves rule the all-ones case out.
        if self.s32_min >= 0 && self.smin >= i64::from(i32::MIN) && self.smax <= i64::from(i32::MAX)
        {
            self.smin = self.s32_min.into();
            self.smax = self.s32_max.into();
            self.umin = self.s32_min as u64;
            self.umax = self.s32_max as u64;
            self.var_off = self
                .var_off
                .intersect(Tnum::range(self.smin as u64, self.smax as u64));
        }
    }

    /// All the cross-view deductions (`__reg_deduce_bounds`).
    pub fn deduce_bounds(&mut self) {
        self.deduce_bounds32();
        self.deduce_bounds64();
        self.deduce_mixed_bounds();
    }

    /// Tightens the tnum from the unsigned bounds (`__reg_bound_offset`).
    pub fn bound_offset(&mut self) {
        let var64 = self.var_off.intersect(Tnum::range(self.umin, self.umax));
        let var32 = var64
            .subreg()
            .intersect(Tnum::range(self.u32_min.into(), self.u32_max.into()));
        self.var_off = var64.clear_subreg().or(var32);
    }

    /// Makes the five views agree as far as each can inform the others
    /// (`reg_bounds_sync`); runs after every operation and refinement.
    /// It gives what [`Scalar::derive_views`] gives, skipping the steps
    /// that cannot change anything (each step is a function of the
    /// scalar alone, and a repeated step of one that changed nothing
    /// changes nothing): a known number and a value nothing is known of
    /// are left as they are, the second deduction runs only when the
    /// first changed something, the final tightening from the tnum only
    /// when the scalar changed since the first.
    pub fn sync(&mut self) {
        if self.var_off.mask == 0 && *self == Scalar::constant(self.var_off.value)
            || *self == Scalar::UNKNOWN
        {
            return;
        }
        self.update_bounds();
        let updated = *self;
        self.deduce_bounds();
        if *self != updated {
            self.deduce_bounds();
        }
        self.bound_offset();
        if *self != updated {
            self.update_bounds();
        }
    }

    /// The kernel's `reg_bounds_sync` step by step, every step run: what
    /// [`Scalar::sync`] must give.
    pub fn derive_views(&mut self) {
        self.update_bounds();
        self.deduce_bounds();
        self.deduce_bounds();
        self.bound_offset();
        self.update_bounds();
    }

    /// The kernel's `reg_bounds_sanity_check`: a state that fails it has no
    /// member (the path that produced it cannot happen).
    pub fn check_invariants(&self) -> Result<(), InvariantViolation> {
        let fail = |kind| {
            Err(InvariantViolation {
                kind,
                scalar: *self,
            })
        };
        let (full, low) = (self.bounds(true), self.bounds(false));
        if [full, low]
            .iter()
            .any(|b| b.umin > b.umax || b.smin > b.smax)
        {
            return fail(ViolationKind::RangeBounds);
        }
        for (b, kind) in [
            (full, ViolationKind::ConstTnum),
            (low, ViolationKind::ConstSubregTnum),
        ] {
            let v = i128::from(b.tnum.value);
            let s = b.as_signed(v);
            if b.tnum.is_const() && (b.umin != v || b.umax != v || b.smin != s || b.smax != s) {
                return fail(kind);
            }
        }
        Ok(())
    }

    /// Takes the 32-bit bounds as the 64-bit ones (`__reg_assign_32_into_64`).
    fn assign_32_into_64(&mut self) {
        self.umin = self.u32_min.into();
        self.umax = self.u32_max.into();
        if self.s32_min >= 0 && self.s32_max >= 0 {
            self.smin = self.s32_min.into();
            self.smax = self.s32_max.into();
        } else {
            self.smin = 0;
            self.smax = u32::MAX.into();
        }
    }

    /// The result of a 32-bit operation: the low half zero-extended
    /// (`zext_32_to_64`). Call [`Scalar::sync`] afterwards.
    pub fn zext_32_to_64(&mut self) {
        self.var_off = self.var_off.subreg();
        self.assign_32_into_64();
    }

    /// Truncation to the low `bytes` (1, 2 or 4) after a narrow load
    /// (`coerce_reg_to_size`). Loads of unknown numbers (packet bytes,
    /// context fields) truncate the same value at one of three sizes: its
    /// result is derived once per size.
    pub fn coerce_to_size(&mut self, bytes: u8) {
        static UNKNOWN_LOW_BYTES: OnceLock<[Scalar; 3]> = OnceLock::new();
        if *self == Scalar::UNKNOWN && matches!(bytes, 1 | 2 | 4) {
            let truncated = UNKNOWN_LOW_BYTES.get_or_init(|| {
                [1, 2, 4].map(|bytes| {
                    let mut s = Scalar::UNKNOWN;
                    s.truncate(bytes);
                    s
                })
            });
            *self = truncated[usize::from(bytes / 2)];
            return;
        }
        self.truncate(bytes);
    }

    /// [`Scalar::coerce_to_size`] derived.
    fn truncate(&mut self, bytes: u8) {
        self.var_off = self.var_off.cast(bytes);
        let mask = (1u64 << (u32::from(bytes) * 8)) - 1;
        if self.umin & !mask == self.umax & !mask {
            self.umin &= mask;
            self.umax &= mask;
        } else {
            self.umin = 0;
            self.umax = mask;
        }
        self.smin = self.umin as i64;
        self.smax = self.umax as i64;
        if bytes < 4 {
            self.mark_unbounded_at(false);
        }
        self.sync();
    }

    /// Sign extension of the low `bytes` (1, 2 or 4) to 64 bits, for
    /// sign-extending loads and `movsx` (`coerce_reg_to_size_sx`).
    pub fn coerce_to_size_sx(&mut self, bytes: u8) {
        let bits = u32::from(bytes) * 8;
        if self.var_off.is_const() {
            *self = Scalar::constant(sign_extend(self.var_off.value.into(), bits) as u64);
            return;
        }
        // The low half already a value of the narrow type (always, for 32
        // bits): the extension keeps it and copies its sign bit over the
        // upper half, so the 64-bit value is the 32-bit one sign-extended.
        // (Observed on 6.18: `w1 -= 1` on 0 or 1, then `r1 = (s16)r1`, is
        // -1 or 0.) The tnum is rebuilt from the range, as below.
        let half = 1i64 << (bits - 1);
        if i64::from(self.s32_min) >= -half && i64::from(self.s32_max) < half {
            (self.smin, self.smax) = (self.s32_min.into(), self.s32_max.into());
            self.var_off = Tnum::range(self.smin as u64, self.smax as u64);
            (self.umin, self.umax) = (0, u64::MAX);
            self.sync();
            return;
        }
        match sign_extended_range(&self.bounds(true), bits) {
            Some((lo, hi)) => {
                for wide in [true, false] {
                    let mut b = self.bounds(wide);
                    (b.smin, b.smax) = (lo, hi);
                    (b.umin, b.umax) = (b.wrap_unsigned(lo), b.wrap_unsigned(hi));
                    self.set_bounds(b);
                }
                self.var_off = Tnum::range(lo as u64, hi as u64);
            }
            None => {
                *self = Scalar::UNKNOWN;
                let (lo, hi) = (-half, half - 1);
                (self.smin, self.smax) = (lo, hi);
                (self.s32_min, self.s32_max) = (lo as i32, hi as i32);
            }
        }
    }

    /// Sign extension of the low `bytes` (1 or 2) to 32 bits, for the 32-bit
    /// `movsx` (`coerce_subreg_to_size_sx`); the upper half is left for the
    /// caller's zero extension.
    pub fn coerce_subreg_to_size_sx(&mut self, bytes: u8) {
        let bits = u32::from(bytes) * 8;
        if self.var_off.is_const() {
            let v = sign_extend(self.var_off.value.into(), bits);
            self.var_off = Tnum::constant(v as u64);
            self.set_const32(v as u32);
            return;
        }
        // Unlike the 64-bit extension, a low half that already fits the
        // narrow type is not kept: ends of both signs lose the range.
        let mut low = self.bounds(false);
        match sign_extended_range(&low, bits) {
            Some((lo, hi)) => {
                (low.smin, low.smax) = (lo, hi);
                (low.umin, low.umax) = (low.wrap_unsigned(lo), low.wrap_unsigned(hi));
                self.var_off = Tnum::range(lo as u64, hi as u64).subreg();
            }
            None => {
                (low.smin, low.smax) = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1);
                low.unbound_unsigned();
                self.var_off = Tnum::UNKNOWN.subreg();
            }
        }
        self.set_bounds(low);
    }
}

/// The low `bits` of `v`, sign-extended.
fn sign_extend(v: i128, bits: u32) -> i128 {
    let sign = 1i128 << (bits - 1);
    ((v & ((1 << bits) - 1)) ^ sign) - sign
}

/// The signed range after sign-extending the low `bits` of every value of
/// `b`, when the kernel can tell: the signed ends share the bits above and
/// their extensions have the same sign.
fn sign_extended_range(b: &Bounds, bits: u32) -> Option<(i128, i128)> {
    let above = |v: i128| b.as_unsigned(v) >> bits;
    if above(b.smax) != above(b.smin) {
        return None;
    }
    let (x, y) = (sign_extend(b.smax, bits), sign_extend(b.smin, bits));
    let (lo, hi) = (x.min(y), x.max(y));
    ((lo >= 0) == (hi >= 0)).then_some((lo, hi))
}

/// A constant as its signed value, otherwise `scalar(...)` with the bounds
/// that say something and `var_off`, in the names the kernel's log uses.
impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_const() {
            return write!(f, "{}", self.var_off.value as i64);
        }
        let mut parts = Vec::new();
        if self.smin != i64::MIN {
            parts.push(format!("smin={}", self.smin));
        }
        if self.smax != i64::MAX {
            parts.push(format!("smax={}", self.smax));
        }
        if self.umin != 0 {
            parts.push(format!("umin={}", self.umin));
        }
        if self.umax != u64::MAX {
            parts.push(format!("umax={}", self.umax));
        }
        if self.s32_min != i32::MIN {
            parts.push(format!("smin32={}", self.s32_min));
        }
        if self.s32_max != i32::MAX {
            parts.push(format!("smax32={}", self.s32_max));
        }
        if self.u32_min != 0 {
            parts.push(format!("umin32={}", self.u32_min));
        }
        if self.u32_max != u32::MAX {
            parts.push(format!("umax32={}", self.u32_max));
        }
        if !self.var_off.is_unknown() {
            parts.push(format!("var_off={}", self.var_off));
        }
        write!(f, "scalar({})", parts.join(","))
    }
}
