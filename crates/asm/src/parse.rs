//! Pieces both syntaxes share: the parse result and small operand parsers.

use crate::cursor::{Cursor, PResult, Target};
use crate::error::AsmErrorKind;
use apiary_isa::{Insn, LdImm64Kind};

/// One parsed instruction whose branch field may still await a label.
#[derive(Clone, Debug)]
pub(crate) struct Parsed {
    /// The instruction; a branch field is 0 until the target is applied.
    pub insn: Insn,
    /// The branch target, for jumps, local calls and function addresses.
    pub target: Option<Target>,
}

pub(crate) fn no_target(insn: Insn) -> Parsed {
    Parsed { insn, target: None }
}

pub(crate) fn with_target(insn: Insn, target: Target) -> Parsed {
    Parsed {
        insn,
        target: Some(target),
    }
}

/// A helper id or call immediate: a signed 32-bit number.
pub(crate) fn call_number(cur: &mut Cursor<'_>) -> PResult<i32> {
    cur.imm32()
}

/// The `src_reg` number of an `ld_pseudo`, 0 to 6.
pub(crate) fn kind_from_src(cur: &mut Cursor<'_>) -> PResult<LdImm64Kind> {
    let col = cur.col();
    let src = cur.ranged("pseudo source", 0, 6)?;
    LdImm64Kind::from_src(src as u8).ok_or((
        col,
        AsmErrorKind::InvalidOperands(format!("no ld_pseudo kind {src}")),
    ))
}

/// Writes a resolved relative offset into the instruction's branch field, or
/// returns the field's range when it does not fit.
pub(crate) fn apply_offset(insn: Insn, rel: i128) -> Result<Insn, (i128, i128)> {
    let short =
        |rel: i128| i16::try_from(rel).map_err(|_| (i128::from(i16::MIN), i128::from(i16::MAX)));
    let long =
        |rel: i128| i32::try_from(rel).map_err(|_| (i128::from(i32::MIN), i128::from(i32::MAX)));
    Ok(match insn {
        Insn::Jump {
            width,
            cond,
            dst,
            src,
            ..
        } => Insn::Jump {
            width,
            cond,
            dst,
            src,
            off: short(rel)?,
        },
        Insn::Ja { .. } => Insn::Ja { off: short(rel)? },
        Insn::MayGoto { .. } => Insn::MayGoto { off: short(rel)? },
        Insn::Ja32 { .. } => Insn::Ja32 { imm: long(rel)? },
        Insn::Call(apiary_isa::CallTarget::Local(_)) => {
            Insn::Call(apiary_isa::CallTarget::Local(long(rel)?))
        }
        Insn::LoadImm64 { dst, kind, .. } => Insn::LoadImm64 {
            dst,
            kind,
            imm: u64::from(long(rel)? as u32),
        },
        other => other,
    })
}
