//! Program preparation: decode once, then translate into [`Op`]s with
//! absolute targets and operands specialised for dispatch.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use apiary_isa::{
    AluOp, AtomicOp, CallTarget, EndianOp, Insn, JmpCond, LdImm64Kind, PacketMode, RawInsn, Reg,
    Size, Source, Width, decode_program,
};

use crate::error::{Access, LoadError};
use crate::helpers::{HelperFn, HelperImpl, Helpers, PureHelperFn};
use crate::tier::CompiledCode;

/// The kernel's limit on program length (`BPF_COMPLEXITY_LIMIT_INSNS`).
pub const MAX_PROGRAM_SLOTS: usize = 1_000_000;

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

/// A program prepared for execution, bound to the helper table it was
/// checked against. Cheap to share between threads behind an `Arc`.
///
/// `lddw` pseudo kinds: `MapFd`, `MapValue`, `BtfId`, `MapIdx` and
/// `MapIdxValue` load their 64-bit immediate unchanged: the loader is
/// expected to have replaced it by the address it stands for. `Func` loads
/// the target's slot index, the value [`crate::HelperContext::call_function`]
/// accepts as a callback address.
pub struct Program<E> {
    pub(crate) ops: Box<[Op]>,
    /// Slot index of each op (plus the sentinel), for error reports.
    pub(crate) op_slot: Box<[u32]>,
    /// Op index of each slot; `u32::MAX` on an `lddw`'s second slot.
    pub(crate) slot_op: Box<[u32]>,
    pub(crate) helpers: Arc<Helpers<E>>,
    /// The helpers the program calls directly, resolved at load time.
    pub(crate) called: Box<[CalledHelper<E>]>,
    /// Native code a second tier attached ([`Program::attach_compiled`]).
    pub(crate) compiled: OnceLock<Box<dyn CompiledCode<E>>>,
}

/// A helper resolved at load time.
pub(crate) struct CalledHelper<E> {
    pub(crate) id: u32,
    pub(crate) name: &'static str,
    pub(crate) func: HelperFn<E>,
}

impl<E> std::fmt::Debug for Program<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("slots", &self.slot_op.len())
            .field("ops", &self.ops.len())
            .finish_non_exhaustive()
    }
}

fn writes_r10(insn: &Insn) -> bool {
    let dst = match *insn {
        Insn::Alu { dst, .. }
        | Insn::Neg { dst, .. }
        | Insn::MovSx { dst, .. }
        | Insn::AddrSpaceCast { dst, .. }
        | Insn::Endian { dst, .. }
        | Insn::Load { dst, .. }
        | Insn::LoadAcquire { dst, .. }
        | Insn::LoadImm64 { dst, .. } => dst,
        Insn::Atomic { op, src, .. } => match op {
            AtomicOp::Add { fetch: false }
            | AtomicOp::Or { fetch: false }
            | AtomicOp::And { fetch: false }
            | AtomicOp::Xor { fetch: false }
            | AtomicOp::CmpXchg => return false,
            _ => src,
        },
        _ => return false,
    };
    dst == Reg::R10
}

fn r(reg: Reg) -> u8 {
    reg.index()
}

fn alu_op(width: Width, op: AluOp, dst: Reg, src: Source) -> Op {
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

fn jump_op(width: Width, cond: JmpCond, dst: Reg, src: Source, t: u32) -> Op {
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

fn load_op(size: Size, sign_extend: bool, d: u8, s: u8, off: i16) -> Op {
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

fn store_op(size: Size, d: u8, off: i16, src: Source) -> Op {
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

fn endian_op(op: EndianOp, bits: u8, d: u8) -> Op {
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

fn atomic_op(size: Size, op: AtomicOp, d: u8, s: u8, off: i16) -> Op {
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

fn size_bytes(size: Size) -> u8 {
    size.bytes() as u8
}

impl<E> Program<E> {
    /// Decodes and prepares `slots`, checking every helper call against `helpers`.
    pub fn new(slots: &[RawInsn], helpers: Arc<Helpers<E>>) -> Result<Program<E>, LoadError> {
        if slots.is_empty() {
            return Err(LoadError::Empty);
        }
        if slots.len() > MAX_PROGRAM_SLOTS {
            return Err(LoadError::TooLarge {
                slots: slots.len(),
                limit: MAX_PROGRAM_SLOTS,
            });
        }
        let by_slot = decode_program(slots)?;
        let mut slot_op = vec![u32::MAX; by_slot.len()];
        let mut op_slot = Vec::with_capacity(by_slot.len() + 1);
        for (slot, insn) in by_slot.iter().enumerate() {
            if insn.is_some() {
                slot_op[slot] = op_slot.len() as u32;
                op_slot.push(slot as u32);
            }
        }
        op_slot.push(by_slot.len() as u32);
        let target_of = |pc: usize, rel: i64| -> Result<u32, LoadError> {
            let target = pc as i64 + rel + 1;
            usize::try_from(target)
                .ok()
                .and_then(|t| slot_op.get(t))
                .copied()
                .filter(|&op| op != u32::MAX)
                .ok_or(LoadError::BadTarget { pc, target })
        };
        let mut ops = Vec::with_capacity(op_slot.len());
        let mut called = Vec::new();
        let mut called_index = HashMap::new();
        for (pc, insn) in by_slot.iter().enumerate() {
            let Some(insn) = insn else { continue };
            if writes_r10(insn) {
                return Err(LoadError::WritesFramePointer { pc });
            }
            let op = match *insn {
                Insn::Alu {
                    width,
                    op,
                    dst,
                    src,
                } => alu_op(width, op, dst, src),
                Insn::Neg {
                    width: Width::W64,
                    dst,
                } => Op::Neg64 { d: r(dst) },
                Insn::Neg {
                    width: Width::W32,
                    dst,
                } => Op::Neg32 { d: r(dst) },
                Insn::MovSx {
                    width,
                    dst,
                    src,
                    from,
                } => {
                    let (d, s, bits) = (r(dst), r(src), from.bits() as u8);
                    match width {
                        Width::W64 => Op::MovSx64 { d, s, bits },
                        Width::W32 => Op::MovSx32 { d, s, bits },
                    }
                }
                Insn::AddrSpaceCast { .. } => return Err(LoadError::AddrSpaceCast { pc }),
                Insn::Endian { op, bits, dst } => endian_op(op, bits, r(dst)),
                Insn::Load {
                    size,
                    sign_extend,
                    dst,
                    src,
                    off,
                } => load_op(size, sign_extend, r(dst), r(src), off),
                Insn::Store {
                    size,
                    dst,
                    off,
                    src,
                } => store_op(size, r(dst), off, src),
                Insn::Atomic {
                    size,
                    op,
                    dst,
                    src,
                    off,
                } => atomic_op(size, op, r(dst), r(src), off),
                Insn::LoadAcquire {
                    size,
                    dst,
                    src,
                    off,
                } => Op::LoadAcquire {
                    d: r(dst),
                    s: r(src),
                    off,
                    size: size_bytes(size),
                },
                Insn::StoreRelease {
                    size,
                    dst,
                    src,
                    off,
                } => Op::StoreRelease {
                    d: r(dst),
                    s: r(src),
                    off,
                    size: size_bytes(size),
                },
                Insn::LoadImm64 {
                    dst,
                    kind: LdImm64Kind::Func,
                    imm,
                } => {
                    let rel = i64::from(imm as u32 as i32);
                    target_of(pc, rel)?;
                    Op::Mov64I {
                        d: r(dst),
                        v: (pc as i64 + rel + 1) as u64,
                    }
                }
                Insn::LoadImm64 { dst, imm, .. } => Op::Mov64I { d: r(dst), v: imm },
                Insn::LoadPacket {
                    mode,
                    size,
                    src,
                    imm,
                } => Op::LdPacket {
                    s: match mode {
                        PacketMode::Abs => None,
                        PacketMode::Ind => Some(r(src)),
                    },
                    imm,
                    size: size_bytes(size),
                },
                Insn::Jump {
                    width,
                    cond,
                    dst,
                    src,
                    off,
                } => jump_op(width, cond, dst, src, target_of(pc, off.into())?),
                Insn::Ja { off } => Op::Ja {
                    t: target_of(pc, off.into())?,
                },
                Insn::Ja32 { imm } => Op::Ja {
                    t: target_of(pc, imm.into())?,
                },
                Insn::MayGoto { off } => Op::MayGoto {
                    t: target_of(pc, off.into())?,
                },
                Insn::Call(CallTarget::Local(imm)) => Op::CallLocal {
                    t: target_of(pc, imm.into())?,
                },
                Insn::Call(CallTarget::Helper(id)) => match u32::try_from(id) {
                    Ok(id) if let Some((name, func)) = helpers.get(id) => match func {
                        HelperImpl::Full(func) => {
                            let next = called.len() as u32;
                            let index = *called_index.entry(id).or_insert(next);
                            if index == next {
                                called.push(CalledHelper { id, name, func });
                            }
                            Op::CallHelper { index }
                        }
                        HelperImpl::Pure(f) => Op::CallPure { f },
                    },
                    _ => return Err(LoadError::MissingHelper { pc, id }),
                },
                Insn::Call(CallTarget::Kfunc { btf_id, .. }) => {
                    return Err(LoadError::Kfunc { pc, btf_id });
                }
                Insn::Callx { reg } => Op::Callx { r: r(reg) },
                Insn::Exit => Op::Exit,
            };
            ops.push(op);
        }
        ops.push(Op::FellOff);
        Ok(Program {
            ops: ops.into_boxed_slice(),
            op_slot: op_slot.into_boxed_slice(),
            slot_op: slot_op.into_boxed_slice(),
            helpers,
            called: called.into_boxed_slice(),
            compiled: OnceLock::new(),
        })
    }

    /// The prepared operations, ending with the [`Op::FellOff`] sentinel.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Attaches the native code a compiling tier made for this program;
    /// runners whose engine is [`crate::Engine::Compiled`] then run it
    /// instead of interpreting. Refused (the code is handed back) when code
    /// is already attached.
    pub fn attach_compiled(
        &self,
        code: Box<dyn CompiledCode<E>>,
    ) -> Result<(), Box<dyn CompiledCode<E>>> {
        self.compiled.set(code)
    }

    /// The attached native code, if any.
    pub fn compiled(&self) -> Option<&dyn CompiledCode<E>> {
        self.compiled.get().map(|c| &**c)
    }

    /// Number of 8-byte instruction slots of the original bytecode.
    pub fn slot_count(&self) -> usize {
        self.slot_op.len()
    }

    /// The helper table the program was checked against.
    pub fn helpers(&self) -> &Arc<Helpers<E>> {
        &self.helpers
    }

    /// Slot index of op `pc` (the slot past the end for the sentinel).
    pub fn slot_of(&self, pc: usize) -> usize {
        self.op_slot
            .get(pc)
            .map_or(self.slot_op.len(), |&s| s as usize)
    }

    /// The registered helper `id` (a `callx` operand), with its id as `u32`.
    pub(crate) fn helper_by_id(&self, id: u64) -> Option<(u32, &'static str, HelperImpl<E>)> {
        let id = u32::try_from(id).ok()?;
        self.helpers.get(id).map(|(name, f)| (id, name, f))
    }

    /// Op index of a callback address (a slot index), if it starts an instruction.
    pub(crate) fn op_of_address(&self, addr: u64) -> Option<usize> {
        let slot = usize::try_from(addr).ok()?;
        match *self.slot_op.get(slot)? {
            u32::MAX => None,
            op => Some(op as usize),
        }
    }
}
