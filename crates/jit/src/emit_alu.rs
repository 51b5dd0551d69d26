//! Arithmetic, logic, shifts, division, sign extension and byte swaps.
//!
//! 32-bit forms write 32-bit x86 registers, which zero-extends the upper
//! half exactly as eBPF requires.

use apiary_vm::Op;

use crate::compile::{Emitter, R10, R11, simm32, x};
use crate::x64;

/// Emits `op` if it is an ALU op; `false` otherwise.
pub(crate) fn emit(e: &mut Emitter, op: Op) -> bool {
    match op {
        Op::Add64R { d, s } => x64!(e; add Rq(x(d)), Rq(x(s))),
        Op::Sub64R { d, s } => x64!(e; sub Rq(x(d)), Rq(x(s))),
        Op::Or64R { d, s } => x64!(e; or Rq(x(d)), Rq(x(s))),
        Op::And64R { d, s } => x64!(e; and Rq(x(d)), Rq(x(s))),
        Op::Xor64R { d, s } => x64!(e; xor Rq(x(d)), Rq(x(s))),
        Op::Mov64R { d, s } => x64!(e; mov Rq(x(d)), Rq(x(s))),
        Op::Mul64R { d, s } => x64!(e; imul Rq(x(d)), Rq(x(s))),
        Op::Add32R { d, s } => x64!(e; add Rd(x(d)), Rd(x(s))),
        Op::Sub32R { d, s } => x64!(e; sub Rd(x(d)), Rd(x(s))),
        Op::Or32R { d, s } => x64!(e; or Rd(x(d)), Rd(x(s))),
        Op::And32R { d, s } => x64!(e; and Rd(x(d)), Rd(x(s))),
        Op::Xor32R { d, s } => x64!(e; xor Rd(x(d)), Rd(x(s))),
        Op::Mov32R { d, s } => x64!(e; mov Rd(x(d)), Rd(x(s))),
        Op::Mul32R { d, s } => x64!(e; imul Rd(x(d)), Rd(x(s))),
        Op::Add64I { d, v } => imm64(e, Bin::Add, d, v),
        Op::Sub64I { d, v } => imm64(e, Bin::Sub, d, v),
        Op::Or64I { d, v } => imm64(e, Bin::Or, d, v),
        Op::And64I { d, v } => imm64(e, Bin::And, d, v),
        Op::Xor64I { d, v } => imm64(e, Bin::Xor, d, v),
        Op::Mul64I { d, v } => imm64(e, Bin::Mul, d, v),
        Op::Mov64I { d, v } => mov_imm64(e, d, v),
        Op::Add32I { d, v } => x64!(e; add Rd(x(d)), v as i32),
        Op::Sub32I { d, v } => x64!(e; sub Rd(x(d)), v as i32),
        Op::Or32I { d, v } => x64!(e; or Rd(x(d)), v as i32),
        Op::And32I { d, v } => x64!(e; and Rd(x(d)), v as i32),
        Op::Xor32I { d, v } => x64!(e; xor Rd(x(d)), v as i32),
        Op::Mul32I { d, v } => x64!(e; imul Rd(x(d)), Rd(x(d)), v as i32),
        Op::Mov32I { d, v } => x64!(e; mov Rd(x(d)), v as i32),
        Op::Neg64 { d } => x64!(e; neg Rq(x(d))),
        Op::Neg32 { d } => x64!(e; neg Rd(x(d))),
        Op::Lsh64I { d, v } => x64!(e; shl Rq(x(d)), (v & 63) as i8),
        Op::Rsh64I { d, v } => x64!(e; shr Rq(x(d)), (v & 63) as i8),
        Op::Arsh64I { d, v } => x64!(e; sar Rq(x(d)), (v & 63) as i8),
        // A 32-bit shift by 0 may leave the upper half: `mov` clears it.
        Op::Lsh32I { d, v } => x64!(e; shl Rd(x(d)), (v & 31) as i8; mov Rd(x(d)), Rd(x(d))),
        Op::Rsh32I { d, v } => x64!(e; shr Rd(x(d)), (v & 31) as i8; mov Rd(x(d)), Rd(x(d))),
        Op::Arsh32I { d, v } => x64!(e; sar Rd(x(d)), (v & 31) as i8; mov Rd(x(d)), Rd(x(d))),
        Op::Lsh64R { d, s } => shift(e, Shift::Shl, true, d, s),
        Op::Rsh64R { d, s } => shift(e, Shift::Shr, true, d, s),
        Op::Arsh64R { d, s } => shift(e, Shift::Sar, true, d, s),
        Op::Lsh32R { d, s } => shift(e, Shift::Shl, false, d, s),
        Op::Rsh32R { d, s } => shift(e, Shift::Shr, false, d, s),
        Op::Arsh32R { d, s } => shift(e, Shift::Sar, false, d, s),
        Op::Div64R { d, s } => divide(e, Div::new(true, false, false), d, Some(s), 0),
        Op::Mod64R { d, s } => divide(e, Div::new(true, false, true), d, Some(s), 0),
        Op::SDiv64R { d, s } => divide(e, Div::new(true, true, false), d, Some(s), 0),
        Op::SMod64R { d, s } => divide(e, Div::new(true, true, true), d, Some(s), 0),
        Op::Div32R { d, s } => divide(e, Div::new(false, false, false), d, Some(s), 0),
        Op::Mod32R { d, s } => divide(e, Div::new(false, false, true), d, Some(s), 0),
        Op::SDiv32R { d, s } => divide(e, Div::new(false, true, false), d, Some(s), 0),
        Op::SMod32R { d, s } => divide(e, Div::new(false, true, true), d, Some(s), 0),
        Op::Div64I { d, v } => divide(e, Div::new(true, false, false), d, None, v),
        Op::Mod64I { d, v } => divide(e, Div::new(true, false, true), d, None, v),
        Op::SDiv64I { d, v } => divide(e, Div::new(true, true, false), d, None, v),
        Op::SMod64I { d, v } => divide(e, Div::new(true, true, true), d, None, v),
        Op::Div32I { d, v } => divide(e, Div::new(false, false, false), d, None, v.into()),
        Op::Mod32I { d, v } => divide(e, Div::new(false, false, true), d, None, v.into()),
        Op::SDiv32I { d, v } => divide(e, Div::new(false, true, false), d, None, v.into()),
        Op::SMod32I { d, v } => divide(e, Div::new(false, true, true), d, None, v.into()),
        Op::MovSx64 { d, s, bits: 8 } => x64!(e; movsx Rq(x(d)), Rb(x(s))),
        Op::MovSx64 { d, s, bits: 16 } => x64!(e; movsx Rq(x(d)), Rw(x(s))),
        Op::MovSx64 { d, s, .. } => x64!(e; movsxd Rq(x(d)), Rd(x(s))),
        Op::MovSx32 { d, s, bits: 8 } => x64!(e; movsx Rd(x(d)), Rb(x(s))),
        Op::MovSx32 { d, s, .. } => x64!(e; movsx Rd(x(d)), Rw(x(s))),
        Op::Trunc { d, bits: 16 } => x64!(e; movzx Rd(x(d)), Rw(x(d))),
        Op::Trunc { d, .. } => x64!(e; mov Rd(x(d)), Rd(x(d))),
        Op::Swap16 { d } => x64!(e; ror Rw(x(d)), 8; movzx Rd(x(d)), Rw(x(d))),
        Op::Swap32 { d } => x64!(e; bswap Rd(x(d))),
        Op::Swap64 { d } => x64!(e; bswap Rq(x(d))),
        Op::Nop => {}
        _ => return false,
    }
    true
}

#[derive(Clone, Copy)]
enum Bin {
    Add,
    Sub,
    Or,
    And,
    Xor,
    Mul,
}

/// A 64-bit op with an immediate: the sign-extended imm32 form when the
/// value has one (always, for values that came from an instruction's
/// `imm`), else through the scratch register.
fn imm64(e: &mut Emitter, bin: Bin, d: u8, v: u64) {
    let d = x(d);
    match (bin, simm32(v)) {
        (Bin::Add, Some(i)) => x64!(e; add Rq(d), i),
        (Bin::Sub, Some(i)) => x64!(e; sub Rq(d), i),
        (Bin::Or, Some(i)) => x64!(e; or Rq(d), i),
        (Bin::And, Some(i)) => x64!(e; and Rq(d), i),
        (Bin::Xor, Some(i)) => x64!(e; xor Rq(d), i),
        (Bin::Mul, Some(i)) => x64!(e; imul Rq(d), Rq(d), i),
        (_, None) => {
            x64!(e; mov Rq(R11), QWORD v as i64);
            match bin {
                Bin::Add => x64!(e; add Rq(d), Rq(R11)),
                Bin::Sub => x64!(e; sub Rq(d), Rq(R11)),
                Bin::Or => x64!(e; or Rq(d), Rq(R11)),
                Bin::And => x64!(e; and Rq(d), Rq(R11)),
                Bin::Xor => x64!(e; xor Rq(d), Rq(R11)),
                Bin::Mul => x64!(e; imul Rq(d), Rq(R11)),
            }
        }
    }
}

/// `d = v` with the shortest encoding.
fn mov_imm64(e: &mut Emitter, d: u8, v: u64) {
    let d = x(d);
    if v == 0 {
        x64!(e; xor Rd(d), Rd(d));
    } else if let Ok(v) = u32::try_from(v) {
        x64!(e; mov Rd(d), v as i32);
    } else if let Some(i) = simm32(v) {
        x64!(e; mov Rq(d), i);
    } else {
        x64!(e; mov Rq(d), QWORD v as i64);
    }
}

#[derive(Clone, Copy)]
enum Shift {
    Shl,
    Shr,
    Sar,
}

/// Shift by a register: the count must be in `cl` (eBPF `r4`); x86 masks
/// it to 5 or 6 bits as eBPF does.
fn shift(e: &mut Emitter, kind: Shift, wide: bool, d: u8, s: u8) {
    const RCX: u8 = 1;
    let (d, s) = (x(d), x(s));
    // The value shifted lives in `target`; when the count must be moved into
    // rcx, rcx's own value is kept in r10 (and shifted there if it is `d`).
    let target = if s != RCX {
        x64!(e; mov Rq(R10), Rq(RCX); mov Rq(RCX), Rq(s));
        if d == RCX { R10 } else { d }
    } else {
        d
    };
    match (kind, wide) {
        (Shift::Shl, true) => x64!(e; shl Rq(target), cl),
        (Shift::Shr, true) => x64!(e; shr Rq(target), cl),
        (Shift::Sar, true) => x64!(e; sar Rq(target), cl),
        (Shift::Shl, false) => x64!(e; shl Rd(target), cl),
        (Shift::Shr, false) => x64!(e; shr Rd(target), cl),
        (Shift::Sar, false) => x64!(e; sar Rd(target), cl),
    }
    if !wide {
        x64!(e; mov Rd(target), Rd(target));
    }
    if s != RCX {
        x64!(e; mov Rq(RCX), Rq(R10));
    }
}

/// What a division computes.
#[derive(Clone, Copy)]
struct Div {
    wide: bool,
    signed: bool,
    modulo: bool,
}

impl Div {
    fn new(wide: bool, signed: bool, modulo: bool) -> Self {
        Div {
            wide,
            signed,
            modulo,
        }
    }
}

/// Division and modulo with RFC 9669's rules, which x86 `div` would trap
/// on: by zero, the quotient is 0 and the remainder the dividend; signed
/// `MIN / -1` wraps to `MIN` with remainder 0. The divisor goes to r11,
/// the result comes back in r11; rax and rdx (eBPF `r0`, `r3`) are saved
/// around the x86 division unless they are the destination.
fn divide(e: &mut Emitter, div: Div, d: u8, s: Option<u8>, v: u64) {
    const RAX: u8 = 0;
    const RDX: u8 = 2;
    let d = x(d);
    let (zero, minus_one) = match s {
        Some(s) => {
            let s = x(s);
            if div.wide {
                x64!(e; mov Rq(R11), Rq(s));
            } else {
                x64!(e; mov Rd(R11), Rd(s));
            }
            (None, None)
        }
        None => {
            let divisor = if div.wide { v } else { v & 0xffff_ffff };
            let minus = if div.wide { u64::MAX } else { 0xffff_ffff };
            x64!(e; mov Rq(R11), QWORD divisor as i64);
            (Some(divisor == 0), Some(div.signed && divisor == minus))
        }
    };
    let (zero_case, minus_case, done) = (e.label(), e.label(), e.label());
    if d != RAX {
        x64!(e; push rax);
    }
    if d != RDX {
        x64!(e; push rdx);
    }
    if div.wide {
        x64!(e; mov rax, Rq(d));
    } else {
        x64!(e; mov eax, Rd(d));
    }
    match zero {
        Some(true) => x64!(e; jmp =>zero_case),
        Some(false) => {}
        None => x64!(e; test Rq(R11), Rq(R11); jz =>zero_case),
    }
    match minus_one {
        Some(true) => x64!(e; jmp =>minus_case),
        Some(false) => {}
        None if div.signed && div.wide => x64!(e; cmp Rq(R11), -1; je =>minus_case),
        None if div.signed => x64!(e; cmp Rd(R11), -1; je =>minus_case),
        None => {}
    }
    match (div.signed, div.wide) {
        (false, true) => x64!(e; xor edx, edx; div Rq(R11)),
        (false, false) => x64!(e; xor edx, edx; div Rd(R11)),
        (true, true) => x64!(e; cqo; idiv Rq(R11)),
        (true, false) => x64!(e; cdq; idiv Rd(R11)),
    }
    if div.modulo {
        x64!(e; mov Rq(R11), rdx);
    } else {
        x64!(e; mov Rq(R11), rax);
    }
    x64!(e; jmp =>done; =>zero_case);
    if div.modulo {
        // rax holds the dividend, already truncated for 32-bit.
        x64!(e; mov Rq(R11), rax);
    } else {
        x64!(e; xor Rd(R11), Rd(R11));
    }
    x64!(e; jmp =>done; =>minus_case);
    match (div.modulo, div.wide) {
        (true, _) => x64!(e; xor Rd(R11), Rd(R11)),
        (false, true) => x64!(e; mov Rq(R11), rax; neg Rq(R11)),
        (false, false) => x64!(e; mov Rd(R11), eax; neg Rd(R11)),
    }
    x64!(e; =>done);
    if d != RDX {
        x64!(e; pop rdx);
    }
    if d != RAX {
        x64!(e; pop rax);
    }
    x64!(e; mov Rq(d), Rq(R11));
}
