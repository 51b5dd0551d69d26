//! Conditional jumps on scalars: whether the outcome is already decided
//! (`is_scalar_branch_taken`) and what each outcome teaches about both
//! operands (`regs_refine_cond_op` and `reg_set_min_max`).
//!
//! An immediate operand is `Scalar::constant(imm as i64 as u64)`, for
//! `JMP32` too, as the kernel builds it.

use apiary_isa::{JmpCond, Width};

use crate::scalar::{InvariantViolation, Scalar};
use crate::tnum::Tnum;

/// A condition as it holds on one side of a jump: the jump's own condition
/// on the taken side, its negation on the other. JSET has no negated opcode,
/// so its negation gets a variant of its own (the kernel's `BPF_JSET | BPF_X`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Relation {
    /// The condition holds.
    Cond(JmpCond),
    /// `a & b == 0`.
    NotSet,
}

impl Relation {
    /// What holds on the side of a jump on `cond` that `taken` selects.
    pub fn of(cond: JmpCond, taken: bool) -> Relation {
        if taken {
            return Relation::Cond(cond);
        }
        Relation::Cond(match cond {
            JmpCond::Eq => JmpCond::Ne,
            JmpCond::Ne => JmpCond::Eq,
            JmpCond::Set => return Relation::NotSet,
            JmpCond::Ge => JmpCond::Lt,
            JmpCond::Gt => JmpCond::Le,
            JmpCond::Le => JmpCond::Gt,
            JmpCond::Lt => JmpCond::Ge,
            JmpCond::Sge => JmpCond::Slt,
            JmpCond::Sgt => JmpCond::Sle,
            JmpCond::Sle => JmpCond::Sgt,
            JmpCond::Slt => JmpCond::Sge,
        })
    }
}

/// The condition that holds for `b ? a` when `cond` holds for `a ? b`.
pub fn flip(cond: JmpCond) -> JmpCond {
    match cond {
        JmpCond::Eq | JmpCond::Ne | JmpCond::Set => cond,
        JmpCond::Ge => JmpCond::Le,
        JmpCond::Gt => JmpCond::Lt,
        JmpCond::Le => JmpCond::Ge,
        JmpCond::Lt => JmpCond::Gt,
        JmpCond::Sge => JmpCond::Sle,
        JmpCond::Sgt => JmpCond::Slt,
        JmpCond::Sle => JmpCond::Sge,
        JmpCond::Slt => JmpCond::Sgt,
    }
}

/// `Some(true)` if the jump on `a cond b` is taken for every pair of
/// members, `Some(false)` if it never is, `None` if it depends.
pub fn is_branch_taken(a: &Scalar, b: &Scalar, cond: JmpCond, width: Width) -> Option<bool> {
    let wide = width == Width::W64;
    let (x, y) = (a.bounds(wide), b.bounds(wide));
    let disjoint = || {
        x.umin > y.umax
            || x.umax < y.umin
            || x.smin > y.smax
            || x.smax < y.smin
            || !x.tnum.overlaps(y.tnum)
            || (wide
                && (a.u32_min > b.u32_max
                    || a.u32_max < b.u32_min
                    || a.s32_min > b.s32_max
                    || a.s32_max < b.s32_min))
    };
    match cond {
        JmpCond::Eq | JmpCond::Ne => {
            let equal = if x.tnum.is_const() && y.tnum.is_const() {
                x.tnum.value == y.tnum.value
            } else if disjoint() {
                false
            } else {
                return None;
            };
            Some(equal == (cond == JmpCond::Eq))
        }
        JmpCond::Set => {
            let (x, y) = if b.is_const_at(wide) {
                (x, y)
            } else if a.is_const_at(wide) {
                (y, x)
            } else {
                return None;
            };
            if x.tnum.value & y.tnum.value != 0 {
                Some(true)
            } else if (x.tnum.value | x.tnum.mask) & y.tnum.value == 0 {
                Some(false)
            } else {
                None
            }
        }
        JmpCond::Gt => decide(x.umin > y.umax, x.umax <= y.umin),
        JmpCond::Sgt => decide(x.smin > y.smax, x.smax <= y.smin),
        JmpCond::Lt => decide(x.umax < y.umin, x.umin >= y.umax),
        JmpCond::Slt => decide(x.smax < y.smin, x.smin >= y.smax),
        JmpCond::Ge => decide(x.umin >= y.umax, x.umax < y.umin),
        JmpCond::Sge => decide(x.smin >= y.smax, x.smax < y.smin),
        JmpCond::Le => decide(x.umax <= y.umin, x.umin > y.umax),
        JmpCond::Sle => decide(x.smax <= y.smin, x.smin > y.smax),
    }
}

fn decide(always: bool, never: bool) -> Option<bool> {
    if always {
        Some(true)
    } else if never {
        Some(false)
    } else {
        None
    }
}

/// Both operands narrowed to the pairs for which `relation` holds, synced
/// (the kernel's `regs_refine_cond_op` plus `reg_bounds_sync`).
///
/// The kernel only refines when [`is_branch_taken`] left the outcome open;
/// an error means the refined state has no member, i.e. this side of the
/// jump cannot happen.
pub fn refine(
    a: &Scalar,
    b: &Scalar,
    relation: Relation,
    width: Width,
) -> Result<(Scalar, Scalar), InvariantViolation> {
    let (mut a, mut b) = (*a, *b);
    refine_cond(&mut a, &mut b, relation, width == Width::W64);
    a.sync();
    b.sync();
    a.check_invariants()?;
    b.check_invariants()?;
    Ok((a, b))
}

fn refine_cond(r1: &mut Scalar, r2: &mut Scalar, relation: Relation, wide: bool) {
    // GT/GE/SGT/SGE are LT/LE/SLT/SLE with the operands swapped.
    if let Relation::Cond(c @ (JmpCond::Gt | JmpCond::Ge | JmpCond::Sgt | JmpCond::Sge)) = relation
    {
        return refine_cond(r2, r1, Relation::Cond(flip(c)), wide);
    }
    match relation {
        Relation::Cond(JmpCond::Eq) => refine_eq(r1, r2, wide),
        Relation::Cond(JmpCond::Ne) => {
            if let Some((r1, value)) = with_constant(r1, r2, wide) {
                refine_ne(r1, value, wide);
            }
        }
        Relation::Cond(JmpCond::Set) => {
            if let Some((r1, value)) = with_constant(r1, r2, wide) {
                // Only a single tested bit tells which bit is set.
                if value.is_power_of_two() {
                    set_low_or_full(r1, wide, |t| t.or(Tnum::constant(value)));
                }
            }
        }
        Relation::NotSet => {
            if let Some((r1, value)) = with_constant(r1, r2, wide) {
                set_low_or_full(r1, wide, |t| t.and(Tnum::constant(!value)));
            }
        }
        Relation::Cond(c @ (JmpCond::Le | JmpCond::Lt | JmpCond::Sle | JmpCond::Slt)) => {
            refine_less(r1, r2, c, wide)
        }
        Relation::Cond(JmpCond::Gt | JmpCond::Ge | JmpCond::Sgt | JmpCond::Sge) => {
            unreachable!("swapped above")
        }
    }
}

/// The non-constant operand and the constant's value, if one is constant.
fn with_constant<'a>(
    r1: &'a mut Scalar,
    r2: &'a mut Scalar,
    wide: bool,
) -> Option<(&'a mut Scalar, u64)> {
    if r2.is_const_at(wide) {
        let value = r2.const_value_at(wide);
        Some((r1, value))
    } else if r1.is_const_at(wide) {
        let value = r1.const_value_at(wide);
        Some((r2, value))
    } else {
        None
    }
}

fn set_low_or_full(r: &mut Scalar, wide: bool, f: impl Fn(Tnum) -> Tnum) {
    r.var_off = if wide {
        f(r.var_off)
    } else {
        r.var_off.with_subreg(f(r.var_off.subreg()))
    };
}

/// `r1 < r2` or `r1 <= r2`, signed or unsigned: r1's maximum drops to
/// r2's (minus one, wrapping as the kernel's does), r2's minimum rises to r1's.
fn refine_less(r1: &mut Scalar, r2: &mut Scalar, cond: JmpCond, wide: bool) {
    let (mut x, mut y) = (r1.bounds(wide), r2.bounds(wide));
    let strict = matches!(cond, JmpCond::Lt | JmpCond::Slt);
    let gap = i128::from(strict);
    if matches!(cond, JmpCond::Le | JmpCond::Lt) {
        x.umax = x.umax.min(x.wrap_unsigned(y.umax - gap));
        y.umin = y.umin.max(y.wrap_unsigned(x.umin + gap));
    } else {
        x.smax = x.smax.min(x.wrap_signed(y.smax - gap));
        y.smin = y.smin.max(y.wrap_signed(x.smin + gap));
    }
    r1.set_bounds(x);
    r2.set_bounds(y);
}

/// `r1 == r2`: both get the intersection of their bounds and known bits.
fn refine_eq(r1: &mut Scalar, r2: &mut Scalar, wide: bool) {
    let (mut x, y) = (r1.bounds(wide), r2.bounds(wide));
    x.umin = x.umin.max(y.umin);
    x.umax = x.umax.min(y.umax);
    x.smin = x.smin.max(y.smin);
    x.smax = x.smax.min(y.smax);
    r1.set_bounds(x);
    r2.set_bounds(x);
    let common = x.tnum.intersect(y.tnum);
    if wide {
        r1.var_off = common;
        r2.var_off = common;
    } else {
        r1.var_off = r1.var_off.with_subreg(common);
        r2.var_off = r2.var_off.with_subreg(common);
    }
}

/// `r != value`: an end of a range equal to the constant moves inward.
fn refine_ne(r: &mut Scalar, value: u64, wide: bool) {
    let mut b = r.bounds(wide);
    let u = b.wrap_unsigned(value.into());
    let s = b.as_signed(u);
    if b.umin == u {
        b.umin = b.wrap_unsigned(b.umin + 1);
    }
    if b.umax == u {
        b.umax = b.wrap_unsigned(b.umax - 1);
    }
    if b.smin == s {
        b.smin = b.wrap_signed(b.smin + 1);
    }
    if b.smax == s {
        b.smax = b.wrap_signed(b.smax - 1);
    }
    r.set_bounds(b);
}
