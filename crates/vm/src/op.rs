//! [`Op`]: the prepared form of an instruction every execution tier starts
//! from, and the translation of decoded instructions into it (operands
//! specialised by width and kind, immediates extended).

use apiary_isa::{AluOp, AtomicOp, EndianOp, JmpCond, Reg, Size, Source, Width};

use crate::error::Access;
use crate::helpers::PureHelperFn;

/// Read-modify-write operation of an atomic op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Rmw {
    Add,
    Or,
    And,
    Xor,
    Xchg,
    CmpXchg,
}

/// One prepared operation, the form every execution tier starts from.
///
/// Register operands (`d` destination, `s` source, `r`) are numbers `<= 10`;
/// targets `t` are op indices (not slots); immediates `v` are already
/// extended to the operand width. ALU and jump variants are named
/// operation, width (`64`/`32`) and operand kind (`I` immediate, `R`
/// register) and have the semantics of the eBPF instruction of that name
/// (RFC 9669: division by zero gives 0, modulo by zero keeps the
/// dividend, shift counts are masked to the width). Loads `Ld*`/`LdSx*`
/// and stores `St*` (`*I`: immediate source) access `reg + off`.
#[derive(Clone, Copy, Debug)]
#[allow(missing_docs)]
pub enum Op {
    Add64I {
        d: u8,
        v: u64,
    },
    Add64R {
        d: u8,
        s: u8,
    },
    Sub64I {
        d: u8,
        v: u64,
    },
    Sub64R {
        d: u8,
        s: u8,
    },
    Mul64I {
        d: u8,
        v: u64,
    },
    Mul64R {
        d: u8,
        s: u8,
    },
    Div64I {
        d: u8,
        v: u64,
    },
    Div64R {
        d: u8,
        s: u8,
    },
    SDiv64I {
        d: u8,
        v: u64,
    },
    SDiv64R {
        d: u8,
        s: u8,
    },
    Or64I {
        d: u8,
        v: u64,
    },
    Or64R {
        d: u8,
        s: u8,
    },
    And64I {
        d: u8,
        v: u64,
    },
    And64R {
        d: u8,
        s: u8,
    },
    Lsh64I {
        d: u8,
        v: u64,
    },
    Lsh64R {
        d: u8,
        s: u8,
    },
    Rsh64I {
        d: u8,
        v: u64,
    },
    Rsh64R {
        d: u8,
        s: u8,
    },
    Mod64I {
        d: u8,
        v: u64,
    },
    Mod64R {
        d: u8,
        s: u8,
    },
    SMod64I {
        d: u8,
        v: u64,
    },
    SMod64R {
        d: u8,
        s: u8,
    },
    Xor64I {
        d: u8,
        v: u64,
    },
    Xor64R {
        d: u8,
        s: u8,
    },
    Mov64I {
        d: u8,
        v: u64,
    },
    Mov64R {
        d: u8,
        s: u8,
    },
    Arsh64I {
        d: u8,
        v: u64,
    },
    Arsh64R {
        d: u8,
        s: u8,
    },
    Add32I {
        d: u8,
        v: u32,
    },
    Add32R {
        d: u8,
        s: u8,
    },
    Sub32I {
        d: u8,
        v: u32,
    },
    Sub32R {
        d: u8,
        s: u8,
    },
    Mul32I {
        d: u8,
        v: u32,
    },
    Mul32R {
        d: u8,
        s: u8,
    },
    Div32I {
        d: u8,
        v: u32,
    },
    Div32R {
        d: u8,
        s: u8,
    },
    SDiv32I {
        d: u8,
        v: u32,
    },
    SDiv32R {
        d: u8,
        s: u8,
    },
    Or32I {
        d: u8,
        v: u32,
    },
    Or32R {
        d: u8,
        s: u8,
    },
    And32I {
        d: u8,
        v: u32,
    },
    And32R {
        d: u8,
        s: u8,
    },
    Lsh32I {
        d: u8,
        v: u32,
    },
    Lsh32R {
        d: u8,
        s: u8,
    },
    Rsh32I {
        d: u8,
        v: u32,
    },
    Rsh32R {
        d: u8,
        s: u8,
    },
    Mod32I {
        d: u8,
        v: u32,
    },
    Mod32R {
        d: u8,
        s: u8,
    },
    SMod32I {
        d: u8,
        v: u32,
    },
    SMod32R {
        d: u8,
        s: u8,
    },
    Xor32I {
        d: u8,
        v: u32,
    },
    Xor32R {
        d: u8,
        s: u8,
    },
    Mov32I {
        d: u8,
        v: u32,
    },
    Mov32R {
        d: u8,
        s: u8,
    },
    Arsh32I {
        d: u8,
        v: u32,
    },
    Arsh32R {
        d: u8,
        s: u8,
    },
    Neg64 {
        d: u8,
    },
    Neg32 {
        d: u8,
    },
    /// Sign-extending move from `bits` (8, 16, 32) into 64 bits.
    MovSx64 {
        d: u8,
        s: u8,
        bits: u8,
    },
    /// Sign-extending move from `bits` (8, 16) into 32 bits, zero-extended.
    MovSx32 {
        d: u8,
        s: u8,
        bits: u8,
    },
    /// Keep the low `bits` bits (`le16`, `le32`).
    Trunc {
        d: u8,
        bits: u8,
    },
    Swap16 {
        d: u8,
    },
    Swap32 {
        d: u8,
    },
    Swap64 {
        d: u8,
    },
    Nop,
    LdB {
        d: u8,
        s: u8,
        off: i16,
    },
    LdH {
        d: u8,
        s: u8,
        off: i16,
    },
    LdW {
        d: u8,
        s: u8,
        off: i16,
    },
    LdDw {
        d: u8,
        s: u8,
        off: i16,
    },
    LdSxB {
        d: u8,
        s: u8,
        off: i16,
    },
    LdSxH {
        d: u8,
        s: u8,
        off: i16,
    },
    LdSxW {
        d: u8,
        s: u8,
        off: i16,
    },
    StB {
        d: u8,
        s: u8,
        off: i16,
    },
    StH {
        d: u8,
        s: u8,
        off: i16,
    },
    StW {
        d: u8,
        s: u8,
        off: i16,
    },
    StDw {
        d: u8,
        s: u8,
        off: i16,
    },
    StBI {
        d: u8,
        off: i16,
        v: i32,
    },
    StHI {
        d: u8,
        off: i16,
        v: i32,
    },
    StWI {
        d: u8,
        off: i16,
        v: i32,
    },
    StDwI {
        d: u8,
        off: i16,
        v: i32,
    },
    Atomic {
        d: u8,
        s: u8,
        off: i16,
        wide: bool,
        rmw: Rmw,
        fetch: bool,
    },
    LoadAcquire {
        d: u8,
        s: u8,
        off: i16,
        size: u8,
    },
    StoreRelease {
        d: u8,
        s: u8,
        off: i16,
        size: u8,
    },
    /// `r0 = be(packet[off])`; `s` is the index register for `LD_IND`, or `None` (11) for `LD_ABS`.
    LdPacket {
        s: Option<u8>,
        imm: i32,
        size: u8,
    },
    Jeq64I {
        d: u8,
        v: u64,
        t: u32,
    },
    Jeq64R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jgt64I {
        d: u8,
        v: u64,
        t: u32,
    },
    Jgt64R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jge64I {
        d: u8,
        v: u64,
        t: u32,
    },
    Jge64R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jset64I {
        d: u8,
        v: u64,
        t: u32,
    },
    Jset64R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jne64I {
        d: u8,
        v: u64,
        t: u32,
    },
    Jne64R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jsgt64I {
        d: u8,
        v: u64,
        t: u32,
    },
    Jsgt64R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jsge64I {
        d: u8,
        v: u64,
        t: u32,
    },
    Jsge64R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jlt64I {
        d: u8,
        v: u64,
        t: u32,
    },
    Jlt64R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jle64I {
        d: u8,
        v: u64,
        t: u32,
    },
    Jle64R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jslt64I {
        d: u8,
        v: u64,
        t: u32,
    },
    Jslt64R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jsle64I {
        d: u8,
        v: u64,
        t: u32,
    },
    Jsle64R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jeq32I {
        d: u8,
        v: u32,
        t: u32,
    },
    Jeq32R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jgt32I {
        d: u8,
        v: u32,
        t: u32,
    },
    Jgt32R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jge32I {
        d: u8,
        v: u32,
        t: u32,
    },
    Jge32R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jset32I {
        d: u8,
        v: u32,
        t: u32,
    },
    Jset32R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jne32I {
        d: u8,
        v: u32,
        t: u32,
    },
    Jne32R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jsgt32I {
        d: u8,
        v: u32,
        t: u32,
    },
    Jsgt32R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jsge32I {
        d: u8,
        v: u32,
        t: u32,
    },
    Jsge32R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jlt32I {
        d: u8,
        v: u32,
        t: u32,
    },
    Jlt32R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jle32I {
        d: u8,
        v: u32,
        t: u32,
    },
    Jle32R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jslt32I {
        d: u8,
        v: u32,
        t: u32,
    },
    Jslt32R {
        d: u8,
        s: u8,
        t: u32,
    },
    Jsle32I {
        d: u8,
        v: u32,
        t: u32,
    },
    Jsle32R {
        d: u8,
        s: u8,
        t: u32,
    },
    Ja {
        t: u32,
    },
    MayGoto {
        t: u32,
    },
    CallLocal {
        t: u32,
    },
    /// Call of `Program::called[index]`.
    CallHelper {
        index: u32,
    },
    /// Call of a pure helper, resolved at load time so that the call needs no table lookup.
    CallPure {
        f: PureHelperFn,
    },
    Callx {
        r: u8,
    },
    Exit,
    /// Sentinel after the last instruction.
    FellOff,
}

pub(crate) fn r(reg: Reg) -> u8 {
    reg.index()
}

pub(crate) fn alu_op(width: Width, op: AluOp, dst: Reg, src: Source) -> Op {
    let d = r(dst);
    match (width, src) {
        (Width::W64, Source::Reg(s)) => {
            let s = r(s);
            match op {
                AluOp::Add => Op::Add64R { d, s },
                AluOp::Sub => Op::Sub64R { d, s },
                AluOp::Mul => Op::Mul64R { d, s },
                AluOp::Div => Op::Div64R { d, s },
                AluOp::SDiv => Op::SDiv64R { d, s },
                AluOp::Or => Op::Or64R { d, s },
                AluOp::And => Op::And64R { d, s },
                AluOp::Lsh => Op::Lsh64R { d, s },
                AluOp::Rsh => Op::Rsh64R { d, s },
                AluOp::Mod => Op::Mod64R { d, s },
                AluOp::SMod => Op::SMod64R { d, s },
                AluOp::Xor => Op::Xor64R { d, s },
                AluOp::Mov => Op::Mov64R { d, s },
                AluOp::Arsh => Op::Arsh64R { d, s },
            }
        }
        (Width::W64, Source::Imm(imm)) => {
            let v = i64::from(imm) as u64;
            match op {
                AluOp::Add => Op::Add64I { d, v },
                AluOp::Sub => Op::Sub64I { d, v },
                AluOp::Mul => Op::Mul64I { d, v },
                AluOp::Div => Op::Div64I { d, v },
                AluOp::SDiv => Op::SDiv64I { d, v },
                AluOp::Or => Op::Or64I { d, v },
                AluOp::And => Op::And64I { d, v },
                AluOp::Lsh => Op::Lsh64I { d, v: v & 63 },
                AluOp::Rsh => Op::Rsh64I { d, v: v & 63 },
                AluOp::Mod => Op::Mod64I { d, v },
                AluOp::SMod => Op::SMod64I { d, v },
                AluOp::Xor => Op::Xor64I { d, v },
                AluOp::Mov => Op::Mov64I { d, v },
                AluOp::Arsh => Op::Arsh64I { d, v: v & 63 },
            }
        }
        (Width::W32, Source::Reg(s)) => {
            let s = r(s);
            match op {
                AluOp::Add => Op::Add32R { d, s },
                AluOp::Sub => Op::Sub32R { d, s },
                AluOp::Mul => Op::Mul32R { d, s },
                AluOp::Div => Op::Div32R { d, s },
                AluOp::SDiv => Op::SDiv32R { d, s },
                AluOp::Or => Op::Or32R { d, s },
                AluOp::And => Op::And32R { d, s },
                AluOp::Lsh => Op::Lsh32R { d, s },
                AluOp::Rsh => Op::Rsh32R { d, s },
                AluOp::Mod => Op::Mod32R { d, s },
                AluOp::SMod => Op::SMod32R { d, s },
                AluOp::Xor => Op::Xor32R { d, s },
                AluOp::Mov => Op::Mov32R { d, s },
                AluOp::Arsh => Op::Arsh32R { d, s },
            }
        }
        (Width::W32, Source::Imm(imm)) => {
            let v = imm as u32;
            match op {
                AluOp::Add => Op::Add32I { d, v },
                AluOp::Sub => Op::Sub32I { d, v },
                AluOp::Mul => Op::Mul32I { d, v },
                AluOp::Div => Op::Div32I { d, v },
                AluOp::SDiv => Op::SDiv32I { d, v },
                AluOp::Or => Op::Or32I { d, v },
                AluOp::And => Op::And32I { d, v },
                AluOp::Lsh => Op::Lsh32I { d, v: v & 31 },
                AluOp::Rsh => Op::Rsh32I { d, v: v & 31 },
                AluOp::Mod => Op::Mod32I { d, v },
                AluOp::SMod => Op::SMod32I { d, v },
                AluOp::Xor => Op::Xor32I { d, v },
                AluOp::Mov => Op::Mov32I { d, v },
                AluOp::Arsh => Op::Arsh32I { d, v: v & 31 },
            }
        }
    }
}

pub(crate) fn jump_op(width: Width, cond: JmpCond, dst: Reg, src: Source, t: u32) -> Op {
    let d = r(dst);
    match (width, src) {
        (Width::W64, Source::Reg(s)) => {
            let s = r(s);
            match cond {
                JmpCond::Eq => Op::Jeq64R { d, s, t },
                JmpCond::Gt => Op::Jgt64R { d, s, t },
                JmpCond::Ge => Op::Jge64R { d, s, t },
                JmpCond::Set => Op::Jset64R { d, s, t },
                JmpCond::Ne => Op::Jne64R { d, s, t },
                JmpCond::Sgt => Op::Jsgt64R { d, s, t },
                JmpCond::Sge => Op::Jsge64R { d, s, t },
                JmpCond::Lt => Op::Jlt64R { d, s, t },
                JmpCond::Le => Op::Jle64R { d, s, t },
                JmpCond::Slt => Op::Jslt64R { d, s, t },
                JmpCond::Sle => Op::Jsle64R { d, s, t },
            }
        }
        (Width::W64, Source::Imm(imm)) => {
            let v = i64::from(imm) as u64;
            match cond {
                JmpCond::Eq => Op::Jeq64I { d, v, t },
                JmpCond::Gt => Op::Jgt64I { d, v, t },
                JmpCond::Ge => Op::Jge64I { d, v, t },
                JmpCond::Set => Op::Jset64I { d, v, t },
                JmpCond::Ne => Op::Jne64I { d, v, t },
                JmpCond::Sgt => Op::Jsgt64I { d, v, t },
                JmpCond::Sge => Op::Jsge64I { d, v, t },
                JmpCond::Lt => Op::Jlt64I { d, v, t },
                JmpCond::Le => Op::Jle64I { d, v, t },
                JmpCond::Slt => Op::Jslt64I { d, v, t },
                JmpCond::Sle => Op::Jsle64I { d, v, t },
            }
        }
        (Width::W32, Source::Reg(s)) => {
            let s = r(s);
            match cond {
                JmpCond::Eq => Op::Jeq32R { d, s, t },
                JmpCond::Gt => Op::Jgt32R { d, s, t },
                JmpCond::Ge => Op::Jge32R { d, s, t },
                JmpCond::Set => Op::Jset32R { d, s, t },
                JmpCond::Ne => Op::Jne32R { d, s, t },
                JmpCond::Sgt => Op::Jsgt32R { d, s, t },
                JmpCond::Sge => Op::Jsge32R { d, s, t },
                JmpCond::Lt => Op::Jlt32R { d, s, t },
                JmpCond::Le => Op::Jle32R { d, s, t },
                JmpCond::Slt => Op::Jslt32R { d, s, t },
                JmpCond::Sle => Op::Jsle32R { d, s, t },
            }
        }
        (Width::W32, Source::Imm(imm)) => {
            let v = imm as u32;
            match cond {
                JmpCond::Eq => Op::Jeq32I { d, v, t },
                JmpCond::Gt => Op::Jgt32I { d, v, t },
                JmpCond::Ge => Op::Jge32I { d, v, t },
                JmpCond::Set => Op::Jset32I { d, v, t },
                JmpCond::Ne => Op::Jne32I { d, v, t },
                JmpCond::Sgt => Op::Jsgt32I { d, v, t },
                JmpCond::Sge => Op::Jsge32I { d, v, t },
                JmpCond::Lt => Op::Jlt32I { d, v, t },
                JmpCond::Le => Op::Jle32I { d, v, t },
                JmpCond::Slt => Op::Jslt32I { d, v, t },
                JmpCond::Sle => Op::Jsle32I { d, v, t },
            }
        }
    }
}

impl Op {
    /// The offset from the base register of a load, store or atomic (0 for
    /// other ops): where a faulting access aimed relative to its pointer.
    pub(crate) fn access_offset(&self) -> i16 {
        self.memory_access().map_or(0, |(off, ..)| off)
    }

    /// What a load, store or atomic accesses: its offset from the base
    /// register, its size in bytes and whether it writes (atomics do);
    /// `None` for other ops (`LD_ABS`/`LD_IND` included).
    pub fn memory_access(&self) -> Option<(i16, u8, Access)> {
        use Access::{Load, Store};
        Some(match *self {
            Op::LdB { off, .. } | Op::LdSxB { off, .. } => (off, 1, Load),
            Op::LdH { off, .. } | Op::LdSxH { off, .. } => (off, 2, Load),
            Op::LdW { off, .. } | Op::LdSxW { off, .. } => (off, 4, Load),
            Op::LdDw { off, .. } => (off, 8, Load),
            Op::StB { off, .. } | Op::StBI { off, .. } => (off, 1, Store),
            Op::StH { off, .. } | Op::StHI { off, .. } => (off, 2, Store),
            Op::StW { off, .. } | Op::StWI { off, .. } => (off, 4, Store),
            Op::StDw { off, .. } | Op::StDwI { off, .. } => (off, 8, Store),
            Op::Atomic { off, wide, .. } => (off, if wide { 8 } else { 4 }, Store),
            Op::LoadAcquire { off, size, .. } => (off, size, Load),
            Op::StoreRelease { off, size, .. } => (off, size, Store),
            _ => return None,
        })
    }
}

pub(crate) fn load_op(size: Size, sign_extend: bool, d: u8, s: u8, off: i16) -> Op {
    match (size, sign_extend) {
        (Size::B, false) => Op::LdB { d, s, off },
        (Size::H, false) => Op::LdH { d, s, off },
        (Size::W, false) => Op::LdW { d, s, off },
        (Size::DW, _) => Op::LdDw { d, s, off },
        (Size::B, true) => Op::LdSxB { d, s, off },
        (Size::H, true) => Op::LdSxH { d, s, off },
        (Size::W, true) => Op::LdSxW { d, s, off },
    }
}

pub(crate) fn store_op(size: Size, d: u8, off: i16, src: Source) -> Op {
    match (size, src) {
        (Size::B, Source::Reg(s)) => Op::StB { d, s: r(s), off },
        (Size::H, Source::Reg(s)) => Op::StH { d, s: r(s), off },
        (Size::W, Source::Reg(s)) => Op::StW { d, s: r(s), off },
        (Size::DW, Source::Reg(s)) => Op::StDw { d, s: r(s), off },
        (Size::B, Source::Imm(v)) => Op::StBI { d, off, v },
        (Size::H, Source::Imm(v)) => Op::StHI { d, off, v },
        (Size::W, Source::Imm(v)) => Op::StWI { d, off, v },
        (Size::DW, Source::Imm(v)) => Op::StDwI { d, off, v },
    }
}

pub(crate) fn endian_op(op: EndianOp, bits: u8, d: u8) -> Op {
    match (op, bits) {
        (EndianOp::ToLe, 64) => Op::Nop,
        (EndianOp::ToLe, _) if cfg!(target_endian = "little") => Op::Trunc { d, bits },
        (EndianOp::ToBe, _) if cfg!(target_endian = "big") => match bits {
            64 => Op::Nop,
            _ => Op::Trunc { d, bits },
        },
        (_, 16) => Op::Swap16 { d },
        (_, 32) => Op::Swap32 { d },
        _ => Op::Swap64 { d },
    }
}

pub(crate) fn atomic_op(size: Size, op: AtomicOp, d: u8, s: u8, off: i16) -> Op {
    let (rmw, fetch) = match op {
        AtomicOp::Add { fetch } => (Rmw::Add, fetch),
        AtomicOp::Or { fetch } => (Rmw::Or, fetch),
        AtomicOp::And { fetch } => (Rmw::And, fetch),
        AtomicOp::Xor { fetch } => (Rmw::Xor, fetch),
        AtomicOp::Xchg => (Rmw::Xchg, true),
        AtomicOp::CmpXchg => (Rmw::CmpXchg, true),
    };
    Op::Atomic {
        d,
        s,
        off,
        wide: size == Size::DW,
        rmw,
        fetch,
    }
}

pub(crate) fn size_bytes(size: Size) -> u8 {
    size.bytes() as u8
}
