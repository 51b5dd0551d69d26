//! Typed instructions to raw slots: the exact inverse of decoding.

use crate::RawInsn;
use crate::insn::*;
use crate::opcode::*;

fn size_code(size: Size) -> u8 {
    match size {
        Size::B => BPF_B,
        Size::H => BPF_H,
        Size::W => BPF_W,
        Size::DW => BPF_DW,
    }
}

fn alu_class(width: Width) -> u8 {
    match width {
        Width::W32 => BPF_ALU,
        Width::W64 => BPF_ALU64,
    }
}

fn jmp_class(width: Width) -> u8 {
    match width {
        Width::W32 => BPF_JMP32,
        Width::W64 => BPF_JMP,
    }
}

/// The source bit, `src_reg` and `imm` of a two-operand instruction.
fn source_fields(src: Source) -> (u8, u8, i32) {
    match src {
        Source::Reg(r) => (BPF_X, r.index(), 0),
        Source::Imm(imm) => (BPF_K, 0, imm),
    }
}

fn alu_op_fields(op: AluOp) -> (u8, i16) {
    match op {
        AluOp::Add => (BPF_ADD, 0),
        AluOp::Sub => (BPF_SUB, 0),
        AluOp::Mul => (BPF_MUL, 0),
        AluOp::Div => (BPF_DIV, 0),
        AluOp::SDiv => (BPF_DIV, 1),
        AluOp::Or => (BPF_OR, 0),
        AluOp::And => (BPF_AND, 0),
        AluOp::Lsh => (BPF_LSH, 0),
        AluOp::Rsh => (BPF_RSH, 0),
        AluOp::Mod => (BPF_MOD, 0),
        AluOp::SMod => (BPF_MOD, 1),
        AluOp::Xor => (BPF_XOR, 0),
        AluOp::Mov => (BPF_MOV, 0),
        AluOp::Arsh => (BPF_ARSH, 0),
    }
}

fn jmp_cond_code(cond: JmpCond) -> u8 {
    match cond {
        JmpCond::Eq => BPF_JEQ,
        JmpCond::Gt => BPF_JGT,
        JmpCond::Ge => BPF_JGE,
        JmpCond::Set => BPF_JSET,
        JmpCond::Ne => BPF_JNE,
        JmpCond::Sgt => BPF_JSGT,
        JmpCond::Sge => BPF_JSGE,
        JmpCond::Lt => BPF_JLT,
        JmpCond::Le => BPF_JLE,
        JmpCond::Slt => BPF_JSLT,
        JmpCond::Sle => BPF_JSLE,
    }
}

fn atomic_imm(op: AtomicOp) -> i32 {
    let (base, fetch) = match op {
        AtomicOp::Add { fetch } => (0x00, fetch),
        AtomicOp::Or { fetch } => (0x40, fetch),
        AtomicOp::And { fetch } => (0x50, fetch),
        AtomicOp::Xor { fetch } => (0xa0, fetch),
        AtomicOp::Xchg => return BPF_XCHG,
        AtomicOp::CmpXchg => return BPF_CMPXCHG,
    };
    if fetch { base | BPF_FETCH } else { base }
}

fn one(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> RawInsn {
    RawInsn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

impl Insn {
    /// Appends the instruction's slots (one, or two for `LoadImm64`) to `out`.
    pub fn encode_into(&self, out: &mut Vec<RawInsn>) {
        let raw = match *self {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let (x, s, imm) = source_fields(src);
                let (code, off) = alu_op_fields(op);
                one(alu_class(width) | code | x, dst.index(), s, off, imm)
            }
            Insn::Neg { width, dst } => one(alu_class(width) | BPF_NEG, dst.index(), 0, 0, 0),
            Insn::MovSx {
                width,
                dst,
                src,
                from,
            } => one(
                alu_class(width) | BPF_MOV | BPF_X,
                dst.index(),
                src.index(),
                from.bits() as i16,
                0,
            ),
            Insn::AddrSpaceCast {
                dst,
                src,
                dst_as,
                src_as,
            } => one(
                BPF_ALU64 | BPF_MOV | BPF_X,
                dst.index(),
                src.index(),
                BPF_ADDR_SPACE_CAST,
                ((u32::from(dst_as) << 16) | u32::from(src_as)) as i32,
            ),
            Insn::Endian { op, bits, dst } => {
                let code = match op {
                    EndianOp::ToLe => BPF_ALU | BPF_END | BPF_TO_LE,
                    EndianOp::ToBe => BPF_ALU | BPF_END | BPF_TO_BE,
                    EndianOp::Swap => BPF_ALU64 | BPF_END | BPF_TO_LE,
                };
                one(code, dst.index(), 0, 0, bits.into())
            }
            Insn::Load {
                size,
                sign_extend,
                dst,
                src,
                off,
            } => {
                let mode = if sign_extend { BPF_MEMSX } else { BPF_MEM };
                one(
                    BPF_LDX | mode | size_code(size),
                    dst.index(),
                    src.index(),
                    off,
                    0,
                )
            }
            Insn::Store {
                size,
                dst,
                off,
                src,
            } => match src {
                Source::Reg(r) => one(
                    BPF_STX | BPF_MEM | size_code(size),
                    dst.index(),
                    r.index(),
                    off,
                    0,
                ),
                Source::Imm(imm) => {
                    one(BPF_ST | BPF_MEM | size_code(size), dst.index(), 0, off, imm)
                }
            },
            Insn::Atomic {
                size,
                op,
                dst,
                src,
                off,
            } => one(
                BPF_STX | BPF_ATOMIC | size_code(size),
                dst.index(),
                src.index(),
                off,
                atomic_imm(op),
            ),
            Insn::LoadAcquire {
                size,
                dst,
                src,
                off,
            } => one(
                BPF_STX | BPF_ATOMIC | size_code(size),
                dst.index(),
                src.index(),
                off,
                BPF_LOAD_ACQ,
            ),
            Insn::StoreRelease {
                size,
                dst,
                src,
                off,
            } => one(
                BPF_STX | BPF_ATOMIC | size_code(size),
                dst.index(),
                src.index(),
                off,
                BPF_STORE_REL,
            ),
            Insn::LoadImm64 { dst, kind, imm } => {
                out.push(one(
                    BPF_LD | BPF_IMM | BPF_DW,
                    dst.index(),
                    kind.src(),
                    0,
                    imm as u32 as i32,
                ));
                one(0, 0, 0, 0, (imm >> 32) as u32 as i32)
            }
            Insn::LoadPacket {
                mode,
                size,
                src,
                imm,
            } => {
                let mode = match mode {
                    PacketMode::Abs => BPF_ABS,
                    PacketMode::Ind => BPF_IND,
                };
                one(BPF_LD | mode | size_code(size), 0, src.index(), 0, imm)
            }
            Insn::Jump {
                width,
                cond,
                dst,
                src,
                off,
            } => {
                let (x, s, imm) = source_fields(src);
                one(
                    jmp_class(width) | jmp_cond_code(cond) | x,
                    dst.index(),
                    s,
                    off,
                    imm,
                )
            }
            Insn::Ja { off } => one(BPF_JMP | BPF_JA, 0, 0, off, 0),
            Insn::Ja32 { imm } => one(BPF_JMP32 | BPF_JA, 0, 0, 0, imm),
            Insn::MayGoto { off } => one(BPF_JMP | BPF_JCOND, 0, BPF_MAY_GOTO, off, 0),
            Insn::Call(target) => match target {
                CallTarget::Helper(id) => one(BPF_JMP | BPF_CALL, 0, 0, 0, id),
                CallTarget::Local(rel) => one(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, rel),
                CallTarget::Kfunc { btf_id, module } => {
                    one(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_KFUNC_CALL, module, btf_id)
                }
            },
            Insn::Callx { reg } => one(BPF_JMP | BPF_CALL | BPF_X, reg.index(), 0, 0, 0),
            Insn::Exit => one(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
        };
        out.push(raw);
    }

    /// The instruction's slots.
    pub fn encode(&self) -> Vec<RawInsn> {
        let mut out = Vec::with_capacity(2);
        self.encode_into(&mut out);
        out
    }
}

/// Encodes a sequence of instructions into slots.
pub fn encode_program<'a>(insns: impl IntoIterator<Item = &'a Insn>) -> Vec<RawInsn> {
    let mut out = Vec::new();
    for insn in insns {
        insn.encode_into(&mut out);
    }
    out
}
