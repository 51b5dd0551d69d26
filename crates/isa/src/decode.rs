//! Raw slots to typed instructions, with the kernel's checks of reserved fields.

use crate::RawInsn;
use crate::error::{DecodeError, DecodeErrorKind as K};
use crate::insn::*;
use crate::opcode::*;

type Result<T> = std::result::Result<T, K>;

fn reg(value: u8, field: &'static str) -> Result<Reg> {
    Reg::new(value).ok_or(K::BadRegister { field, value })
}

fn zero(raw: &RawInsn, field: &'static str) -> Result<()> {
    let value: i64 = match field {
        "dst" => raw.dst.into(),
        "src" => raw.src.into(),
        "off" => raw.off.into(),
        _ => raw.imm.into(),
    };
    if value == 0 {
        Ok(())
    } else {
        Err(K::ReservedField {
            code: raw.code,
            field,
            value,
        })
    }
}

fn zeros(raw: &RawInsn, fields: &[&'static str]) -> Result<()> {
    fields.iter().try_for_each(|f| zero(raw, f))
}

fn bad(raw: &RawInsn, field: &'static str, value: i64) -> K {
    K::BadField {
        code: raw.code,
        field,
        value,
    }
}

fn size_of_code(code: u8) -> Size {
    match code & 0x18 {
        BPF_W => Size::W,
        BPF_H => Size::H,
        BPF_B => Size::B,
        _ => Size::DW,
    }
}

impl Insn {
    /// Decodes the instruction starting at `slots[0]`; `LoadImm64` also reads
    /// `slots[1]`. The error does not carry an index: [`decode_slots`] adds it.
    pub fn decode(slots: &[RawInsn]) -> std::result::Result<Insn, K> {
        let raw = slots.first().ok_or(K::TruncatedLdImm64)?;
        let code = raw.code;
        match class(code) {
            BPF_ALU | BPF_ALU64 => decode_alu(raw),
            BPF_JMP | BPF_JMP32 => decode_jmp(raw),
            BPF_LDX => {
                let sign_extend = match code & 0xe0 {
                    BPF_MEM => false,
                    BPF_MEMSX if code & 0x18 != BPF_DW => true,
                    _ => return Err(K::UnknownOpcode(code)),
                };
                zero(raw, "imm")?;
                Ok(Insn::Load {
                    size: size_of_code(code),
                    sign_extend,
                    dst: reg(raw.dst, "destination")?,
                    src: reg(raw.src, "source")?,
                    off: raw.off,
                })
            }
            BPF_ST => {
                if code & 0xe0 != BPF_MEM {
                    return Err(K::UnknownOpcode(code));
                }
                zero(raw, "src")?;
                Ok(Insn::Store {
                    size: size_of_code(code),
                    dst: reg(raw.dst, "destination")?,
                    off: raw.off,
                    src: Source::Imm(raw.imm),
                })
            }
            BPF_STX => decode_stx(raw),
            _ => decode_ld(slots, raw),
        }
    }
}

fn decode_alu(raw: &RawInsn) -> Result<Insn> {
    let code = raw.code;
    let width = if class(code) == BPF_ALU64 {
        Width::W64
    } else {
        Width::W32
    };
    let by_reg = code & BPF_X != 0;
    let dst = reg(raw.dst, "destination")?;
    let op = match code & 0xf0 {
        BPF_ADD => AluOp::Add,
        BPF_SUB => AluOp::Sub,
        BPF_MUL => AluOp::Mul,
        BPF_DIV => AluOp::Div,
        BPF_OR => AluOp::Or,
        BPF_AND => AluOp::And,
        BPF_LSH => AluOp::Lsh,
        BPF_RSH => AluOp::Rsh,
        BPF_MOD => AluOp::Mod,
        BPF_XOR => AluOp::Xor,
        BPF_MOV => AluOp::Mov,
        BPF_ARSH => AluOp::Arsh,
        BPF_NEG => {
            if by_reg {
                return Err(K::UnknownOpcode(code));
            }
            zeros(raw, &["src", "off", "imm"])?;
            return Ok(Insn::Neg { width, dst });
        }
        BPF_END => {
            let op = match (width, by_reg) {
                (Width::W32, false) => EndianOp::ToLe,
                (Width::W32, true) => EndianOp::ToBe,
                (Width::W64, false) => EndianOp::Swap,
                (Width::W64, true) => return Err(K::UnknownOpcode(code)),
            };
            zeros(raw, &["src", "off"])?;
            let bits = match raw.imm {
                16 | 32 | 64 => raw.imm as u8,
                other => return Err(bad(raw, "imm", other.into())),
            };
            return Ok(Insn::Endian { op, bits, dst });
        }
        _ => return Err(K::UnknownOpcode(code)),
    };
    // Signed division and modulo, and sign-extending moves, live in `off`.
    let op = match (op, raw.off) {
        (AluOp::Div, 1) => AluOp::SDiv,
        (AluOp::Mod, 1) => AluOp::SMod,
        (AluOp::Mov, 8 | 16 | 32) if by_reg => {
            let from = match raw.off {
                8 => Size::B,
                16 => Size::H,
                _ if width == Width::W64 => Size::W,
                _ => return Err(bad(raw, "off", raw.off.into())),
            };
            zero(raw, "imm")?;
            let src = reg(raw.src, "source")?;
            return Ok(Insn::MovSx {
                width,
                dst,
                src,
                from,
            });
        }
        (AluOp::Mov, BPF_ADDR_SPACE_CAST) if by_reg && width == Width::W64 => {
            let src = reg(raw.src, "source")?;
            let imm = raw.imm as u32;
            return Ok(Insn::AddrSpaceCast {
                dst,
                src,
                dst_as: (imm >> 16) as u16,
                src_as: imm as u16,
            });
        }
        (op, 0) => op,
        (_, off) => return Err(bad(raw, "off", off.into())),
    };
    let src = if by_reg {
        zero(raw, "imm")?;
        Source::Reg(reg(raw.src, "source")?)
    } else {
        zero(raw, "src")?;
        Source::Imm(raw.imm)
    };
    Ok(Insn::Alu {
        width,
        op,
        dst,
        src,
    })
}

fn decode_jmp(raw: &RawInsn) -> Result<Insn> {
    let code = raw.code;
    let is32 = class(code) == BPF_JMP32;
    let by_reg = code & BPF_X != 0;
    let cond = match code & 0xf0 {
        BPF_JEQ => JmpCond::Eq,
        BPF_JGT => JmpCond::Gt,
        BPF_JGE => JmpCond::Ge,
        BPF_JSET => JmpCond::Set,
        BPF_JNE => JmpCond::Ne,
        BPF_JSGT => JmpCond::Sgt,
        BPF_JSGE => JmpCond::Sge,
        BPF_JLT => JmpCond::Lt,
        BPF_JLE => JmpCond::Le,
        BPF_JSLT => JmpCond::Slt,
        BPF_JSLE => JmpCond::Sle,
        BPF_JA if !by_reg => {
            zeros(raw, &["dst", "src"])?;
            return if is32 {
                zero(raw, "off")?;
                Ok(Insn::Ja32 { imm: raw.imm })
            } else {
                zero(raw, "imm")?;
                Ok(Insn::Ja { off: raw.off })
            };
        }
        BPF_CALL if !is32 && by_reg => {
            zeros(raw, &["src", "off", "imm"])?;
            return Ok(Insn::Callx {
                reg: reg(raw.dst, "destination")?,
            });
        }
        BPF_CALL if !is32 => {
            zero(raw, "dst")?;
            let target = match raw.src {
                0 => CallTarget::Helper(raw.imm),
                BPF_PSEUDO_CALL => CallTarget::Local(raw.imm),
                BPF_PSEUDO_KFUNC_CALL => {
                    return Ok(Insn::Call(CallTarget::Kfunc {
                        btf_id: raw.imm,
                        module: raw.off,
                    }));
                }
                other => return Err(bad(raw, "src", other.into())),
            };
            zero(raw, "off")?;
            return Ok(Insn::Call(target));
        }
        BPF_EXIT if !is32 && !by_reg => {
            zeros(raw, &["dst", "src", "off", "imm"])?;
            return Ok(Insn::Exit);
        }
        BPF_JCOND if !is32 && !by_reg => {
            if raw.src != BPF_MAY_GOTO {
                return Err(bad(raw, "src", raw.src.into()));
            }
            zeros(raw, &["dst", "imm"])?;
            return Ok(Insn::MayGoto { off: raw.off });
        }
        _ => return Err(K::UnknownOpcode(code)),
    };
    let dst = reg(raw.dst, "destination")?;
    let src = if by_reg {
        zero(raw, "imm")?;
        Source::Reg(reg(raw.src, "source")?)
    } else {
        zero(raw, "src")?;
        Source::Imm(raw.imm)
    };
    Ok(Insn::Jump {
        width: if is32 { Width::W32 } else { Width::W64 },
        cond,
        dst,
        src,
        off: raw.off,
    })
}

fn decode_stx(raw: &RawInsn) -> Result<Insn> {
    let code = raw.code;
    let size = size_of_code(code);
    let dst = reg(raw.dst, "destination")?;
    let src = reg(raw.src, "source")?;
    match code & 0xe0 {
        BPF_MEM => {
            zero(raw, "imm")?;
            Ok(Insn::Store {
                size,
                dst,
                off: raw.off,
                src: Source::Reg(src),
            })
        }
        BPF_ATOMIC => {
            let off = raw.off;
            match raw.imm {
                BPF_LOAD_ACQ => {
                    return Ok(Insn::LoadAcquire {
                        size,
                        dst,
                        src,
                        off,
                    });
                }
                BPF_STORE_REL => {
                    return Ok(Insn::StoreRelease {
                        size,
                        dst,
                        src,
                        off,
                    });
                }
                _ => {}
            }
            if !matches!(size, Size::W | Size::DW) {
                return Err(K::UnknownOpcode(code));
            }
            let fetch = raw.imm & BPF_FETCH != 0;
            let op = match raw.imm {
                BPF_XCHG => AtomicOp::Xchg,
                BPF_CMPXCHG => AtomicOp::CmpXchg,
                imm => match imm & !BPF_FETCH {
                    0x00 => AtomicOp::Add { fetch },
                    0x40 => AtomicOp::Or { fetch },
                    0x50 => AtomicOp::And { fetch },
                    0xa0 => AtomicOp::Xor { fetch },
                    _ => return Err(bad(raw, "imm", imm.into())),
                },
            };
            Ok(Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            })
        }
        _ => Err(K::UnknownOpcode(code)),
    }
}

fn decode_ld(slots: &[RawInsn], raw: &RawInsn) -> Result<Insn> {
    let code = raw.code;
    let size = size_of_code(code);
    match code & 0xe0 {
        BPF_IMM if size == Size::DW => {
            let second = slots.get(1).ok_or(K::TruncatedLdImm64)?;
            if second.code != 0 || second.dst != 0 || second.src != 0 || second.off != 0 {
                return Err(K::BadLdImm64Second);
            }
            zero(raw, "off")?;
            let kind =
                LdImm64Kind::from_src(raw.src).ok_or_else(|| bad(raw, "src", raw.src.into()))?;
            Ok(Insn::LoadImm64 {
                dst: reg(raw.dst, "destination")?,
                kind,
                imm: (raw.imm as u32 as u64) | ((second.imm as u32 as u64) << 32),
            })
        }
        mode @ (BPF_ABS | BPF_IND) if size != Size::DW => {
            zeros(raw, &["dst", "off"])?;
            let mode = if mode == BPF_ABS {
                zero(raw, "src")?;
                PacketMode::Abs
            } else {
                PacketMode::Ind
            };
            Ok(Insn::LoadPacket {
                mode,
                size,
                src: reg(raw.src, "source")?,
                imm: raw.imm,
            })
        }
        _ => Err(K::UnknownOpcode(code)),
    }
}

/// Decodes a sequence of slots into `(slot index, instruction)` pairs without
/// checking jump targets.
pub fn decode_slots(slots: &[RawInsn]) -> std::result::Result<Vec<(usize, Insn)>, DecodeError> {
    let mut out = Vec::with_capacity(slots.len());
    let mut index = 0;
    while index < slots.len() {
        let insn = Insn::decode(&slots[index..]).map_err(|kind| DecodeError { index, kind })?;
        out.push((index, insn));
        index += insn.slots();
    }
    Ok(out)
}

/// Decodes a whole program and checks that every jump, local call and
/// function address lands on an instruction inside it (not past the end, not
/// on the second slot of an `lddw`).
///
/// Returns one entry per slot: `Some(insn)` at the start of an instruction,
/// `None` on the second slot of an `lddw`, so that slot indices (which jump
/// offsets count) index the result directly.
pub fn decode_program(slots: &[RawInsn]) -> std::result::Result<Vec<Option<Insn>>, DecodeError> {
    let decoded = decode_slots(slots)?;
    let mut by_slot = vec![None; slots.len()];
    for &(index, insn) in &decoded {
        by_slot[index] = Some(insn);
    }
    for &(index, insn) in &decoded {
        if let Some(rel) = insn.branch_offset() {
            let target = index as i64 + rel + 1;
            let lands = usize::try_from(target)
                .ok()
                .and_then(|t| by_slot.get(t))
                .is_some_and(Option::is_some);
            if !lands {
                return Err(DecodeError {
                    index,
                    kind: K::JumpOutOfRange {
                        target,
                        len: slots.len(),
                    },
                });
            }
        }
    }
    Ok(by_slot)
}
