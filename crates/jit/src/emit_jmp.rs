//! Conditional and unconditional jumps and `may_goto`.
//!
//! Every jump lands on its target's label, which is the target group's
//! budget check (targets always start a group, see `compile`).

use apiary_vm::{MAY_GOTO_LOOPS, Op};
use dynasmrt::{DynamicLabel, DynasmApi};

use crate::compile::{Emitter, R10, simm32, x};
use crate::ctx::off;
use crate::x64;

#[derive(Clone, Copy)]
enum Cond {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Sgt,
    Sge,
    Slt,
    Sle,
    Set,
    /// No bit in common (the negation of `Set`).
    Clear,
}

impl Cond {
    /// The x86 condition code `jcc` takes for it.
    fn code(self) -> u8 {
        use Cond::*;
        match self {
            Eq | Clear => 0x4,
            Ne | Set => 0x5,
            Gt => 0x7,
            Ge => 0x3,
            Lt => 0x2,
            Le => 0x6,
            Sgt => 0xf,
            Sge => 0xd,
            Slt => 0xc,
            Sle => 0xe,
        }
    }

    fn negated(self) -> Cond {
        use Cond::*;
        match self {
            Eq => Ne,
            Ne => Eq,
            Gt => Le,
            Le => Gt,
            Ge => Lt,
            Lt => Ge,
            Sgt => Sle,
            Sle => Sgt,
            Sge => Slt,
            Slt => Sge,
            Set => Clear,
            Clear => Set,
        }
    }
}

#[derive(Clone, Copy)]
enum Rhs {
    Reg(u8),
    Imm(u64),
}

#[derive(Clone, Copy)]
enum Kind {
    Always,
    MayGoto,
    If {
        cond: Cond,
        wide: bool,
        d: u8,
        rhs: Rhs,
    },
}

/// A jump op: what decides it, and its target op.
#[derive(Clone, Copy)]
pub(crate) struct Jump {
    kind: Kind,
    pub(crate) t: u32,
}

/// `op` as a jump, if it is one.
pub(crate) fn jump(op: Op) -> Option<Jump> {
    use Cond::*;
    use Rhs::{Imm, Reg};
    let (cond, wide, d, rhs, t) = match op {
        Op::Ja { t } => {
            return Some(Jump {
                kind: Kind::Always,
                t,
            });
        }
        Op::MayGoto { t } => {
            return Some(Jump {
                kind: Kind::MayGoto,
                t,
            });
        }
        Op::Jeq64I { d, v, t } => (Eq, true, d, Imm(v), t),
        Op::Jeq64R { d, s, t } => (Eq, true, d, Reg(s), t),
        Op::Jne64I { d, v, t } => (Ne, true, d, Imm(v), t),
        Op::Jne64R { d, s, t } => (Ne, true, d, Reg(s), t),
        Op::Jgt64I { d, v, t } => (Gt, true, d, Imm(v), t),
        Op::Jgt64R { d, s, t } => (Gt, true, d, Reg(s), t),
        Op::Jge64I { d, v, t } => (Ge, true, d, Imm(v), t),
        Op::Jge64R { d, s, t } => (Ge, true, d, Reg(s), t),
        Op::Jlt64I { d, v, t } => (Lt, true, d, Imm(v), t),
        Op::Jlt64R { d, s, t } => (Lt, true, d, Reg(s), t),
        Op::Jle64I { d, v, t } => (Le, true, d, Imm(v), t),
        Op::Jle64R { d, s, t } => (Le, true, d, Reg(s), t),
        Op::Jsgt64I { d, v, t } => (Sgt, true, d, Imm(v), t),
        Op::Jsgt64R { d, s, t } => (Sgt, true, d, Reg(s), t),
        Op::Jsge64I { d, v, t } => (Sge, true, d, Imm(v), t),
        Op::Jsge64R { d, s, t } => (Sge, true, d, Reg(s), t),
        Op::Jslt64I { d, v, t } => (Slt, true, d, Imm(v), t),
        Op::Jslt64R { d, s, t } => (Slt, true, d, Reg(s), t),
        Op::Jsle64I { d, v, t } => (Sle, true, d, Imm(v), t),
        Op::Jsle64R { d, s, t } => (Sle, true, d, Reg(s), t),
        Op::Jset64I { d, v, t } => (Set, true, d, Imm(v), t),
        Op::Jset64R { d, s, t } => (Set, true, d, Reg(s), t),
        Op::Jeq32I { d, v, t } => (Eq, false, d, Imm(v.into()), t),
        Op::Jeq32R { d, s, t } => (Eq, false, d, Reg(s), t),
        Op::Jne32I { d, v, t } => (Ne, false, d, Imm(v.into()), t),
        Op::Jne32R { d, s, t } => (Ne, false, d, Reg(s), t),
        Op::Jgt32I { d, v, t } => (Gt, false, d, Imm(v.into()), t),
        Op::Jgt32R { d, s, t } => (Gt, false, d, Reg(s), t),
        Op::Jge32I { d, v, t } => (Ge, false, d, Imm(v.into()), t),
        Op::Jge32R { d, s, t } => (Ge, false, d, Reg(s), t),
        Op::Jlt32I { d, v, t } => (Lt, false, d, Imm(v.into()), t),
        Op::Jlt32R { d, s, t } => (Lt, false, d, Reg(s), t),
        Op::Jle32I { d, v, t } => (Le, false, d, Imm(v.into()), t),
        Op::Jle32R { d, s, t } => (Le, false, d, Reg(s), t),
        Op::Jsgt32I { d, v, t } => (Sgt, false, d, Imm(v.into()), t),
        Op::Jsgt32R { d, s, t } => (Sgt, false, d, Reg(s), t),
        Op::Jsge32I { d, v, t } => (Sge, false, d, Imm(v.into()), t),
        Op::Jsge32R { d, s, t } => (Sge, false, d, Reg(s), t),
        Op::Jslt32I { d, v, t } => (Slt, false, d, Imm(v.into()), t),
        Op::Jslt32R { d, s, t } => (Slt, false, d, Reg(s), t),
        Op::Jsle32I { d, v, t } => (Sle, false, d, Imm(v.into()), t),
        Op::Jsle32R { d, s, t } => (Sle, false, d, Reg(s), t),
        Op::Jset32I { d, v, t } => (Set, false, d, Imm(v.into()), t),
        Op::Jset32R { d, s, t } => (Set, false, d, Reg(s), t),
        _ => return None,
    };
    Some(Jump {
        kind: Kind::If { cond, wide, d, rhs },
        t,
    })
}

impl Jump {
    /// Whether a comparison decides it.
    pub(crate) fn is_conditional(self) -> bool {
        matches!(self.kind, Kind::If { .. })
    }

    /// The unconditional jump to the same target.
    pub(crate) fn always(self) -> Jump {
        Jump {
            kind: Kind::Always,
            t: self.t,
        }
    }

    /// The conditional jump that goes to `t` exactly when this one does
    /// not jump: `if c goto +1; goto t` as one `if !c goto t`.
    pub(crate) fn negated_to(self, t: u32) -> Option<Jump> {
        match self.kind {
            Kind::If { cond, wide, d, rhs } => Some(Jump {
                kind: Kind::If {
                    cond: cond.negated(),
                    wide,
                    d,
                    rhs,
                },
                t,
            }),
            Kind::Always | Kind::MayGoto => None,
        }
    }
}

/// Emits a jump.
pub(crate) fn emit(e: &mut Emitter, jump: Jump) {
    use Cond::*;
    let target = e.target(jump.t);
    let Kind::If { cond, wide, d, rhs } = jump.kind else {
        match jump.kind {
            Kind::MayGoto => may_goto(e, target),
            _ => match short_to(e, target) {
                Some(rel) => e.asm.extend([0xeb, rel as u8]),
                None => x64!(e; jmp =>target),
            },
        }
        return;
    };
    compare(e, cond, wide, x(d), rhs);
    if let Some(rel) = short_to(e, target) {
        e.asm.extend([0x70 | cond.code(), rel as u8]);
        return;
    }
    match cond {
        Eq | Clear => x64!(e; je =>target),
        Ne | Set => x64!(e; jne =>target),
        Gt => x64!(e; ja =>target),
        Ge => x64!(e; jae =>target),
        Lt => x64!(e; jb =>target),
        Le => x64!(e; jbe =>target),
        Sgt => x64!(e; jg =>target),
        Sge => x64!(e; jge =>target),
        Slt => x64!(e; jl =>target),
        Sle => x64!(e; jle =>target),
    }
}

/// The displacement of a two-byte jump emitted here to `target`, when
/// `target` is already placed (a backward jump) and that close: dynasm
/// encodes jumps to labels with four-byte displacements, which makes a
/// loop's code up to a third longer.
fn short_to(e: &Emitter, target: DynamicLabel) -> Option<i8> {
    let at = e.asm.labels().resolve_dynamic(target).ok()?.0;
    let next = e.asm.offset().0 + 2;
    i8::try_from(at as i64 - next as i64).ok()
}

/// Sets the flags for `d ? rhs` (`test` for `Set` and `Clear`, `cmp`
/// otherwise, with a one-byte immediate when the value has one).
fn compare(e: &mut Emitter, cond: Cond, wide: bool, d: u8, rhs: Rhs) {
    let test = matches!(cond, Cond::Set | Cond::Clear);
    match rhs {
        Rhs::Reg(s) => {
            let s = x(s);
            match (test, wide) {
                (true, true) => x64!(e; test Rq(d), Rq(s)),
                (true, false) => x64!(e; test Rd(d), Rd(s)),
                (false, true) => x64!(e; cmp Rq(d), Rq(s)),
                (false, false) => x64!(e; cmp Rd(d), Rd(s)),
            }
        }
        Rhs::Imm(v) if !wide => match (test, i8::try_from(v as i32)) {
            (true, _) => x64!(e; test Rd(d), v as i32),
            // `test d, d` sets every flag as `cmp d, 0` does, in fewer bytes.
            (false, Ok(0)) => x64!(e; test Rd(d), Rd(d)),
            (false, Ok(b)) => cmp_imm8(e, false, d, b),
            (false, Err(_)) => x64!(e; cmp Rd(d), v as i32),
        },
        Rhs::Imm(v) => match (test, simm32(v)) {
            (true, Some(i)) => x64!(e; test Rq(d), i),
            (false, Some(i)) => match i8::try_from(i) {
                Ok(0) => x64!(e; test Rq(d), Rq(d)),
                Ok(b) => cmp_imm8(e, true, d, b),
                Err(_) => x64!(e; cmp Rq(d), i),
            },
            (true, None) => x64!(e; mov Rq(R10), QWORD v as i64; test Rq(d), Rq(R10)),
            (false, None) => x64!(e; mov Rq(R10), QWORD v as i64; cmp Rq(d), Rq(R10)),
        },
    }
}

/// `cmp reg, imm8` (sign-extended), encoded here: dynasm picks the imm32
/// form for a register only known at run time whatever the hint.
fn cmp_imm8(e: &mut Emitter, wide: bool, reg: u8, imm: i8) {
    let rex = 0x40 | if wide { 0x08 } else { 0 } | ((reg >> 3) & 1);
    // Opcode 0x83 /7 ib; ModRM: register direct (0b11), /7, the register.
    e.asm.extend([rex, 0x83, 0xf8 | (reg & 7), imm as u8]);
}

/// Falls through [`MAY_GOTO_LOOPS`] times per frame activation, then jumps.
fn may_goto(e: &mut Emitter, target: DynamicLabel) {
    x64!(e
        ; mov Rq(R10), [r12 + off::DEPTH]
        ; cmp QWORD [r12 + Rq(R10) * 8 + off::MAY_GOTO], 0
        ; je =>target
        ; sub QWORD [r12 + Rq(R10) * 8 + off::MAY_GOTO], 1
    );
}

/// The value a frame's `may_goto` counter starts at.
pub(crate) const MAY_GOTO_START: i32 = MAY_GOTO_LOOPS as i32;
