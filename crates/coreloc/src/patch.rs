//! Writing a resolution into instructions (libbpf's `bpf_core_patch_insn`
//! and `bpf_core_poison_insn`), and relocating whole programs.

use apiary_btf::CoreRelo;
use apiary_isa::opcode::{
    BPF_ALU, BPF_ALU64, BPF_B, BPF_CALL, BPF_DW, BPF_H, BPF_IMM, BPF_JMP, BPF_K, BPF_LD, BPF_LDX,
    BPF_ST, BPF_STX, BPF_W, class,
};
use apiary_isa::{INSN_SIZE, Insn, RawInsn};

use crate::error::{CoreError, PatchError};
use crate::resolve::{CoreRelocator, CoreResolution};

/// Helper id of the invalid call that replaces an instruction whose
/// relocation failed: `0xbad2310`, "bad relo". If the instruction is
/// reachable, the kernel verifier rejects it with
/// `invalid func unknown#195896080`.
pub const POISON_HELPER_ID: i32 = 0x0bad_2310;

/// What to do with a relocation the target cannot satisfy (no matching
/// field/enumerator, or a load/store whose size cannot follow the field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnUnsatisfied {
    /// Replace the instruction by a call to helper [`POISON_HELPER_ID`], as
    /// libbpf does, so guarded dead code still loads.
    #[default]
    Poison,
    /// Refuse with [`CoreError::Unsatisfied`].
    Error,
}

/// The poisoned instruction: `call 0xbad2310`.
pub fn poison_insn() -> RawInsn {
    RawInsn {
        code: BPF_JMP | BPF_CALL,
        dst: 0,
        src: 0,
        off: 0,
        imm: POISON_HELPER_ID,
    }
}

const LD_IMM64: u8 = BPF_LD | BPF_IMM | BPF_DW;

fn size_bytes(code: u8) -> usize {
    match code & 0x18 {
        BPF_DW => 8,
        BPF_W => 4,
        BPF_H => 2,
        _ => 1,
    }
}

fn size_code(bytes: u32) -> Option<u8> {
    match bytes {
        8 => Some(BPF_DW),
        4 => Some(BPF_W),
        2 => Some(BPF_H),
        1 => Some(BPF_B),
        _ => None,
    }
}

/// Patches the instruction at slot `index` of `insns` with `res`, exactly
/// as libbpf's `bpf_core_patch_insn`: the immediate of an ALU/ALU64
/// instruction with an immediate source, the offset (and, if the field
/// size changed, the access size) of LDX/ST/STX, the 64-bit immediate of
/// a plain lddw. Unsatisfied relocations are poisoned or refused per
/// `on_unsatisfied`.
pub fn apply(
    insns: &mut [RawInsn],
    index: usize,
    res: &CoreResolution,
    on_unsatisfied: OnUnsatisfied,
) -> Result<(), CoreError> {
    let fail = |reason| CoreError::Patch { index, reason };
    let len = insns.len();
    let insn = *insns
        .get(index)
        .ok_or(fail(PatchError::OutOfRange { len }))?;
    let unsatisfied = |reason| {
        if on_unsatisfied == OnUnsatisfied::Error {
            Err(CoreError::Unsatisfied {
                kind: res.kind,
                reason,
            })
        } else {
            Ok(())
        }
    };
    if res.poison {
        unsatisfied("no matching candidate in the target BTF")?;
        return poison(insns, index);
    }
    let expected = |what, found: i64| {
        if res.validate && found as u64 != res.orig {
            Err(fail(PatchError::UnexpectedValue {
                what,
                found,
                expected: res.orig,
            }))
        } else {
            Ok(())
        }
    };
    match class(insn.code) {
        BPF_ALU | BPF_ALU64 => {
            if insn.code & 0x08 != BPF_K {
                return Err(fail(PatchError::RegisterSource));
            }
            expected("ALU immediate", i64::from(insn.imm))?;
            if let Some(slot) = insns.get_mut(index) {
                slot.imm = res.new as i32;
            }
        }
        BPF_LDX | BPF_ST | BPF_STX => {
            expected("memory offset", i64::from(insn.off))?;
            if res.new > i16::MAX as u64 {
                return Err(fail(PatchError::OffsetTooLarge(res.new)));
            }
            if res.fail_memsz_adjust {
                unsatisfied(
                    "field size changed and the access is not to a pointer or unsigned integer",
                )?;
                return poison(insns, index);
            }
            let mut code = insn.code;
            if res.new_size != res.orig_size {
                let found = size_bytes(code);
                if found != res.orig_size as usize {
                    return Err(fail(PatchError::UnexpectedMemSize {
                        found,
                        expected: res.orig_size,
                    }));
                }
                let new_code = size_code(res.new_size)
                    .ok_or(fail(PatchError::InvalidNewMemSize(res.new_size)))?;
                code = (code & 0xe0) | new_code | class(code);
            }
            if let Some(slot) = insns.get_mut(index) {
                slot.off = res.new as i16;
                slot.code = code;
            }
        }
        BPF_LD => {
            let second = insns.get(index + 1).copied();
            let Some(second) = second.filter(|s| {
                insn.code == LD_IMM64
                    && insn.src == 0
                    && insn.off == 0
                    && s.code == 0
                    && s.dst == 0
                    && s.src == 0
                    && s.off == 0
            }) else {
                return Err(fail(PatchError::BadLdImm64));
            };
            let imm = u64::from(insn.imm as u32) | (u64::from(second.imm as u32) << 32);
            expected("lddw immediate", imm as i64)?;
            if let [first, second, ..] = &mut insns[index..] {
                first.imm = res.new as u32 as i32;
                second.imm = (res.new >> 32) as u32 as i32;
            }
        }
        _ => return Err(fail(PatchError::Unrelocatable(insn.code))),
    }
    Ok(())
}

/// Poisons slot `index`, and the second slot too when it is an lddw (so
/// the verifier does not report a confusing "unknown opcode 00").
fn poison(insns: &mut [RawInsn], index: usize) -> Result<(), CoreError> {
    let len = insns.len();
    let is_lddw = insns.get(index).is_some_and(|i| i.code == LD_IMM64);
    if is_lddw {
        let second = insns.get_mut(index + 1).ok_or(CoreError::Patch {
            index,
            reason: PatchError::OutOfRange { len },
        })?;
        *second = poison_insn();
    }
    let slot = insns.get_mut(index).ok_or(CoreError::Patch {
        index,
        reason: PatchError::OutOfRange { len },
    })?;
    *slot = poison_insn();
    Ok(())
}

/// [`apply`] on typed instructions: `insns[index]` is an instruction (not
/// a slot) index. A poisoned lddw becomes two poison calls, so the vector
/// may grow by one element; slot positions are preserved.
pub fn apply_typed(
    insns: &mut Vec<Insn>,
    index: usize,
    res: &CoreResolution,
    on_unsatisfied: OnUnsatisfied,
) -> Result<(), CoreError> {
    let len = insns.len();
    let insn = insns.get(index).ok_or(CoreError::Patch {
        index,
        reason: PatchError::OutOfRange { len },
    })?;
    let mut slots = insn.encode();
    apply(&mut slots, 0, res, on_unsatisfied)?;
    let mut decoded = Vec::with_capacity(2);
    let mut pos = 0;
    while let Some(rest) = slots.get(pos..).filter(|r| !r.is_empty()) {
        let insn = Insn::decode(rest).map_err(|e| CoreError::Patch {
            index,
            reason: PatchError::Decode(e.to_string()),
        })?;
        pos += insn.slots();
        decoded.push(insn);
    }
    insns.splice(index..=index, decoded);
    Ok(())
}

/// One applied record of [`CoreRelocator::relocate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedRelo {
    /// Slot index of the patched instruction.
    pub insn_index: usize,
    /// The record.
    pub relo: CoreRelo,
    /// What was computed for it.
    pub resolution: CoreResolution,
}

impl CoreRelocator<'_, '_> {
    /// Resolves and applies every record of one ELF section's CO-RE
    /// relocations to that section's instructions (`insn_off` is a byte
    /// offset into `insns`), as libbpf's `bpf_object__relocate_core`.
    /// Stops at the first failure, naming the record.
    pub fn relocate(
        &mut self,
        relos: &[CoreRelo],
        insns: &mut [RawInsn],
        on_unsatisfied: OnUnsatisfied,
    ) -> Result<Vec<AppliedRelo>, CoreError> {
        let mut applied = Vec::with_capacity(relos.len());
        for (record, relo) in relos.iter().enumerate() {
            let wrap = |e: CoreError| CoreError::Record {
                record,
                insn_off: relo.insn_off,
                source: Box::new(e),
            };
            let insn_index = relo.insn_off as usize / INSN_SIZE;
            if !(relo.insn_off as usize).is_multiple_of(INSN_SIZE) {
                return Err(wrap(CoreError::Patch {
                    index: insn_index,
                    reason: PatchError::Misaligned(relo.insn_off),
                }));
            }
            if insn_index >= insns.len() {
                return Err(wrap(CoreError::Patch {
                    index: insn_index,
                    reason: PatchError::OutOfRange { len: insns.len() },
                }));
            }
            let resolution = self.resolve(relo).map_err(wrap)?;
            apply(insns, insn_index, &resolution, on_unsatisfied).map_err(wrap)?;
            applied.push(AppliedRelo {
                insn_index,
                relo: *relo,
                resolution,
            });
        }
        Ok(applied)
    }
}
