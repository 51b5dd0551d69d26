//! From dataflow facts to verdicts: every dereference of the context is
//! checked against the program type's rules, and accepted accesses that
//! need it are rewritten in place, one instruction for one.

use apiary_isa::{Insn, RawInsn, Reg, Size, Source};
use apiary_kernel::types::ProgType;

use crate::error::{AccessKind, ContextError};
use crate::flow::{Flow, Value};
use crate::layouts;
use crate::rules::{self, Access, Fixup, Target};
use crate::{ContextAccess, Prepared};

/// The base register, offset, size and kind of a memory instruction.
fn memory_access(insn: &Insn) -> Option<(Reg, i16, Size, AccessKind)> {
    Some(match *insn {
        Insn::Load {
            size,
            sign_extend,
            src,
            off,
            ..
        } => {
            let kind = if sign_extend {
                AccessKind::ReadSignExtend
            } else {
                AccessKind::Read
            };
            (src, off, size, kind)
        }
        Insn::Store {
            size,
            dst,
            off,
            src,
        } => {
            let kind = if matches!(src, Source::Imm(_)) {
                AccessKind::WriteImm
            } else {
                AccessKind::Write
            };
            (dst, off, size, kind)
        }
        Insn::Atomic { size, dst, off, .. } | Insn::StoreRelease { size, dst, off, .. } => {
            (dst, off, size, AccessKind::Atomic)
        }
        Insn::LoadAcquire { size, src, off, .. } => (src, off, size, AccessKind::Atomic),
        _ => return None,
    })
}

/// The kernel's `may_access_skb`: the types whose programs may use `LD_ABS`/`LD_IND`.
fn may_use_legacy_packet_loads(prog_type: ProgType) -> bool {
    matches!(
        prog_type,
        ProgType::SOCKET_FILTER | ProgType::SCHED_CLS | ProgType::SCHED_ACT
    )
}

/// The encoding of `size` in an opcode's size bits.
fn size_bits(size: Size) -> u8 {
    match size {
        Size::W => 0x00,
        Size::H => 0x08,
        Size::B => 0x10,
        Size::DW => 0x18,
    }
}

/// The refusal for a dereference through a register that is not a clean
/// context pointer, if it is context-derived at all.
fn dirty_base(insn: usize, reg: Reg, value: Value) -> Option<ContextError> {
    let reg = reg.index();
    match value {
        Value::Ctx(0) | Value::Other | Value::Const(_) | Value::Stack(_) => None,
        Value::Ctx(off) => Some(ContextError::ModifiedCtx {
            insn,
            reg,
            how: format!("off={off}"),
        }),
        Value::CtxModified => Some(ContextError::ModifiedCtx {
            insn,
            reg,
            how: "variable or non-additive offset".to_string(),
        }),
        Value::Conflict => Some(ContextError::MixedPointers { insn, reg }),
    }
}

/// Checks every reached context access of `flow` and rewrites `raw`.
pub(crate) fn check_and_rewrite(
    target: Target,
    flow: &Flow,
    raw: &[RawInsn],
) -> Result<Prepared, ContextError> {
    let shape = layouts::struct_of(target.prog_type).ok_or(ContextError::Unsupported {
        prog_type: target.prog_type,
    })?;
    let mut insns = raw.to_vec();
    let mut accesses = Vec::new();
    let mut max_ctx_offset = 0u32;
    let reached = flow.insns.iter().zip(&flow.states).enumerate();
    for (index, (insn, state)) in reached {
        let (Some(insn), Some(state)) = (insn, state) else {
            continue;
        };
        if let Insn::LoadPacket { .. } = insn {
            if !may_use_legacy_packet_loads(target.prog_type) {
                return Err(ContextError::LegacyPacketLoad {
                    insn: index,
                    reason: "instructions not allowed for this program type",
                });
            }
            let ctx = state.get(Reg::R6);
            if let Some(error) = dirty_base(index, Reg::R6, ctx) {
                return Err(error);
            }
            if ctx != Value::Ctx(0) {
                return Err(ContextError::LegacyPacketLoad {
                    insn: index,
                    reason: "needs the context in r6, which does not hold it here",
                });
            }
            continue;
        }
        let Some((base, off, size, kind)) = memory_access(insn) else {
            continue;
        };
        let value = state.get(base);
        if let Some(error) = dirty_base(index, base, value) {
            return Err(error);
        }
        if value != Value::Ctx(0) {
            continue;
        }
        let access = Access {
            off: off.into(),
            size: size.bytes() as u32,
            kind,
        };
        let fixup = rules::check(target, access).map_err(|rule| ContextError::Access {
            insn: index,
            prog_type: target.prog_type,
            field: shape.describe(access.off),
            access: kind,
            off: access.off,
            size: size.bytes() as u8,
            rule,
        })?;
        // Only tracepoints accept negative offsets; they raise no maximum.
        let end = i64::from(off) + i64::from(access.size);
        max_ctx_offset = max_ctx_offset.max(u32::try_from(end).unwrap_or(0));
        if let Some(Fixup { off, size }) = fixup
            && let Some(slot) = insns.get_mut(index)
        {
            slot.code = (slot.code & !0x18) | size_bits(size);
            // Internal offsets are below 256.
            slot.off = i16::try_from(off).unwrap_or(i16::MAX);
        }
        accesses.push(ContextAccess {
            insn: index,
            kind,
            off,
            size: size.bytes() as u8,
            rewritten: fixup.is_some(),
        });
    }
    Ok(Prepared {
        insns,
        accesses,
        max_ctx_offset,
    })
}
