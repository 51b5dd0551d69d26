//! Arithmetic, logic, shifts, division, sign extension and byte swaps.
//!
//! 32-bit forms write 32-bit x86 registers, which zero-extends the upper
//! half exactly as eBPF requires.

use apiary_vm::Op;

use crate::compile::{Emitter, R10, R11, Stub, simm32, x};
use crate::x64;

/// `op reg, imm` with the one-byte immediate form when `imm` fits it
/// (three bytes shorter: denser loops decode faster).
macro_rules! short {
    ($e:ident; $op:ident $size:ident($reg:expr), $imm:expr) => {{
        let imm: i32 = $imm;
        match i8::try_from(imm) {
            Ok(b) => x64!($e; $op $size($reg), BYTE b),
            Err(_) => x64!($e; $op $size($reg), imm),
        }
    }};
}

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
        Op::Add32I { d, v } => short!(e; add Rd(x(d)), v as i32),
        Op::Sub32I { d, v } => short!(e; sub Rd(x(d)), v as i32),
        Op::Or32I { d, v } => short!(e; or Rd(x(d)), v as i32),
        Op::And32I { d, v } => short!(e; and Rd(x(d)), v as i32),
        Op::Xor32I { d, v } => short!(e; xor Rd(x(d)), v as i32),
        Op::Mul32I { d, v } => x64!(e; imul Rd(x(d)), Rd(x(d)), v as i32),
        Op::Mov32I { d, v: 0 } => x64!(e; xor Rd(x(d)), Rd(x(d))),
        Op::Mov32I { d, v } => x64!(e; mov Rd(x(d)), v as i32),
        Op::Neg64 { d } => x64!(e; neg Rq(x(d))),
        Op::Neg32 { d } => x64!(e; neg Rd(x(d))),
        Op::Lsh64I { d, v } => x64!(e; shl Rq(x(d)), (v & 63) as i8),
        Op::Rsh64I { d, v } => x64!(e; shr Rq(x(d)), (v & 63) as i8),
        Op::Arsh64I { d, v } => x64!(e; sar Rq(x(d)), (v & 63) as i8),
        // A 32-bit shift by 0 leaves the register as it was, upper half
        // included: `mov` clears it. Any other count writes it, zero-extended.
        Op::Lsh32I { d, v } | Op::Rsh32I { d, v } | Op::Arsh32I { d, v } if v & 31 == 0 => {
            x64!(e; mov Rd(x(d)), Rd(x(d)))
        }
        Op::Lsh32I { d, v } => x64!(e; shl Rd(x(d)), (v & 31) as i8),
        Op::Rsh32I { d, v } => x64!(e; shr Rd(x(d)), (v & 31) as i8),
        Op::Arsh32I { d, v } => x64!(e; sar Rd(x(d)), (v & 31) as i8),
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

/// `d = a; d += b` (`b` a register other than `d`, or a 32-bit number)
/// as one `lea`, when `op` and `next` are that pair; `false` otherwise.
/// (The caller makes sure nothing jumps to `next` and no blinding hides
/// the number.)
pub(crate) fn fused(e: &mut Emitter, op: Op, next: Op) -> bool {
    let Op::Mov64R { d, s: a } = op else {
        return false;
    };
    match next {
        Op::Add64R { d: d2, s: b } if d2 == d && b != d => {
            lea_sum(e, x(d), x(a), x(b));
        }
        Op::Add64I { d: d2, v } if d2 == d => match simm32(v) {
            Some(v) => x64!(e; lea Rq(x(d)), [Rq(x(a)) + v]),
            None => return false,
        },
        _ => return false,
    }
    true
}

/// `lea d, [a + b]` (x86 registers) without a displacement. dynasm gives
/// an address of run-time registers a zero displacement byte, in case the
/// base is rbp or r13 (which have no form without one), and a `lea` of
/// base, index and displacement takes two cycles on AMD's Zen cores
/// instead of one: the sum of two registers is encoded here by hand, with
/// a base that needs no displacement whenever one of the two is such.
pub(crate) fn lea_sum(e: &mut Emitter, d: u8, a: u8, b: u8) {
    // rbp and r13: as a base with no displacement, the encoding means
    // "no base" (rip-relative or absolute) instead.
    let needs_disp = |r: u8| r & 7 == 5;
    let (base, index) = if needs_disp(a) { (b, a) } else { (a, b) };
    // (Both rbp or r13; rsp, which cannot be an index, holds no eBPF register.)
    if needs_disp(base) || index == 4 {
        x64!(e; lea Rq(d), [Rq(base) + Rq(index)]);
        return;
    }
    // REX.W with the high bits of the destination, index and base; `lea`;
    // ModRM: no displacement, register `d`, a SIB byte follows; SIB: scale 1.
    let rex = 0x48 | ((d >> 3) & 1) << 2 | ((index >> 3) & 1) << 1 | ((base >> 3) & 1);
    let modrm = (d & 7) << 3 | 0b100;
    let sib = (index & 7) << 3 | (base & 7);
    e.asm.extend([rex, 0x8d, modrm, sib]);
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
        (Bin::Add, Some(i)) => short!(e; add Rq(d), i),
        (Bin::Sub, Some(i)) => short!(e; sub Rq(d), i),
        (Bin::Or, Some(i)) => short!(e; or Rq(d), i),
        (Bin::And, Some(i)) => short!(e; and Rq(d), i),
        (Bin::Xor, Some(i)) => short!(e; xor Rq(d), i),
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
pub(crate) struct Div {
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

    /// The x86 register the result comes out in: rax or rdx.
    fn result(self) -> u8 {
        if self.modulo { RDX } else { RAX }
    }
}

const RAX: u8 = 0;
const RDX: u8 = 2;

/// Division and modulo with RFC 9669's rules, which x86 `div` would trap
/// on: by zero, the quotient is 0 and the remainder the dividend; signed
/// `MIN / -1` wraps to `MIN` with remainder 0. Those two cases go out of
/// line ([`Stub::DivEdge`]) so that the common path falls straight
/// through. The dividend goes to rax; rax and rdx (eBPF `r0`, `r3`) are
/// kept in the scratch registers (rdx in r10, rax in r11 unless the
/// divisor needs it, then on the stack) unless they are the destination;
/// a divisor in a register other than those four is divided by in place.
fn divide(e: &mut Emitter, div: Div, d: u8, s: Option<u8>, v: u64) {
    let d = x(d);
    let (divisor, zero, minus_one) = match s.map(x) {
        Some(s) if ![RAX, RDX, R10, R11].contains(&s) => (s, None, None),
        Some(s) => {
            x64!(e; mov Rq(R11), Rq(s));
            (R11, None, None)
        }
        None => {
            let divisor = if div.wide { v } else { v & 0xffff_ffff };
            let minus = if div.wide { u64::MAX } else { 0xffff_ffff };
            x64!(e; mov Rq(R11), QWORD divisor as i64);
            (
                R11,
                Some(divisor == 0),
                Some(div.signed && divisor == minus),
            )
        }
    };
    let save_rax = d != RAX;
    let rax_on_stack = save_rax && divisor == R11;
    if d != RDX {
        x64!(e; mov Rq(R10), rdx);
    }
    if rax_on_stack {
        x64!(e; push rax);
    } else if save_rax {
        x64!(e; mov Rq(R11), rax);
    }
    // 32-bit division reads only eax; its results are zero-extended.
    if d != RAX {
        x64!(e; mov rax, Rq(d));
    }
    let back = e.label();
    let edge = |e: &mut Emitter, zero: bool| {
        let at = e.label();
        e.stubs.push(Stub::DivEdge {
            at,
            back,
            div,
            zero,
        });
        at
    };
    match zero {
        Some(true) => {
            let at = edge(e, true);
            x64!(e; jmp =>at);
        }
        Some(false) => {}
        None => {
            let at = edge(e, true);
            if div.wide {
                x64!(e; test Rq(divisor), Rq(divisor); jz =>at);
            } else {
                x64!(e; test Rd(divisor), Rd(divisor); jz =>at);
            }
        }
    }
    match minus_one {
        Some(true) => {
            let at = edge(e, false);
            x64!(e; jmp =>at);
        }
        Some(false) => {}
        None if div.signed => {
            let at = edge(e, false);
            if div.wide {
                x64!(e; cmp Rq(divisor), -1; je =>at);
            } else {
                x64!(e; cmp Rd(divisor), -1; je =>at);
            }
        }
        None => {}
    }
    match (div.signed, div.wide) {
        (false, true) => x64!(e; xor edx, edx; div Rq(divisor)),
        (false, false) => x64!(e; xor edx, edx; div Rd(divisor)),
        (true, true) => x64!(e; cqo; idiv Rq(divisor)),
        (true, false) => x64!(e; cdq; idiv Rd(divisor)),
    }
    x64!(e; =>back);
    let result = div.result();
    if d != result {
        x64!(e; mov Rq(d), Rq(result));
    }
    if d != RDX {
        x64!(e; mov rdx, Rq(R10));
    }
    if rax_on_stack {
        x64!(e; pop rax);
    } else if save_rax {
        x64!(e; mov rax, Rq(R11));
    }
}

/// The out-of-line result of a division by zero (`zero`) or of a signed
/// one by -1, into the register [`divide`] takes results from; the
/// dividend is in rax.
pub(crate) fn div_edge(e: &mut Emitter, div: Div, zero: bool) {
    match (zero, div.modulo, div.wide) {
        // Remainder by zero: the dividend, truncated for 32-bit.
        (true, true, true) => x64!(e; mov rdx, rax),
        (true, true, false) => x64!(e; mov edx, eax),
        (true, false, _) => x64!(e; xor eax, eax),
        (false, true, _) => x64!(e; xor edx, edx),
        (false, false, true) => x64!(e; neg rax),
        (false, false, false) => x64!(e; neg eax),
    }
}
