//! Loads, stores, atomics and `LD_ABS`/`LD_IND`, each behind the
//! interpreter's access check unless the verifier proved it redundant.
//!
//! The check, fast path first: an access at a constant offset from `r10`
//! that lies inside the frame needs none (`r10` is read-only and always the
//! frame's top). Any other address is tried inline against the region the
//! last access of its kind was allowed in; when that misses, an
//! out-of-line stub tries the live frames' stacks, then calls into the
//! vm's own lookup, which allows the access (remembering its region) or
//! builds the fault.
//!
//! With the verifier's proofs ([`apiary_verifier::AccessProof`]) an access
//! proven in bounds is a plain `mov`. (Packet proofs reach here only in
//! the fast body, which runs only when the packet pointers are trusted;
//! see `compile`.)

use apiary_verifier::AccessProof;
use apiary_vm::{Access, FRAME_STRIDE, Op, Rmw, STACK_SIZE};
use dynasmrt::DynamicLabel;

use crate::blind::{BLINDED, materialize};
use crate::compile::{Emitter, R10, R11, Stub, x};
use crate::ctx::off;
use crate::slow::{mem_info, packet_info};
use crate::x64;

const FP: u8 = 10;

/// Emits `op` if it is a memory op; `false` otherwise.
/// (`proof`: what the verifier proved about its access, if anything.)
pub(crate) fn emit(e: &mut Emitter, op: Op, pc: usize, proof: Option<AccessProof>) -> bool {
    let at = At { pc, proof };
    match op {
        Op::LdB { d, s, off } => load(e, at, d, s, off, 1, false),
        Op::LdH { d, s, off } => load(e, at, d, s, off, 2, false),
        Op::LdW { d, s, off } => load(e, at, d, s, off, 4, false),
        Op::LdDw { d, s, off } => load(e, at, d, s, off, 8, false),
        Op::LdSxB { d, s, off } => load(e, at, d, s, off, 1, true),
        Op::LdSxH { d, s, off } => load(e, at, d, s, off, 2, true),
        Op::LdSxW { d, s, off } => load(e, at, d, s, off, 4, true),
        Op::StB { d, s, off } => store(e, at, d, off, 1, Value::Reg(s)),
        Op::StH { d, s, off } => store(e, at, d, off, 2, Value::Reg(s)),
        Op::StW { d, s, off } => store(e, at, d, off, 4, Value::Reg(s)),
        Op::StDw { d, s, off } => store(e, at, d, off, 8, Value::Reg(s)),
        Op::StBI { d, off, v } => store(e, at, d, off, 1, Value::Imm(v)),
        Op::StHI { d, off, v } => store(e, at, d, off, 2, Value::Imm(v)),
        Op::StWI { d, off, v } => store(e, at, d, off, 4, Value::Imm(v)),
        Op::StDwI { d, off, v } => store(e, at, d, off, 8, Value::Imm(v)),
        Op::Atomic {
            d,
            s,
            off,
            wide,
            rmw,
            fetch,
        } => atomic(e, at, d, s, off, wide, rmw, fetch),
        Op::LoadAcquire { d, s, off, size } => {
            in_r11(e, at, s, off, size, Access::Load);
            aligned(e, pc, size);
            // x86 loads already have acquire semantics.
            read(e, d, size, false, Addr::R11);
        }
        Op::StoreRelease { d, s, off, size } => {
            in_r11(e, at, d, off, size, Access::Store);
            aligned(e, pc, size);
            // x86 stores already have release semantics.
            write(e, size, Value::Reg(s), Addr::R11);
        }
        Op::LdPacket { s, imm, size } => {
            match s {
                Some(s) => x64!(e; mov Rd(R11), Rd(x(s))),
                None => x64!(e; xor Rd(R11), Rd(R11)),
            }
            let routine = e.routines.packet;
            x64!(e; mov Rq(R10), QWORD packet_info(imm, size) as i64; call =>routine);
        }
        _ => return false,
    }
    true
}

/// An instruction with the memory operand of `addr` between `pre` and
/// `post`, then a return; a one-byte displacement when it fits one
/// (dynasm encodes four bytes for a displacement only known at run time).
macro_rules! at {
    ($e:ident, $addr:expr; [$($pre:tt)*] [$($post:tt)*]) => {{
        let (b, disp) = match $addr {
            Addr::Direct(b, disp) => (b, disp),
            Addr::R11 => (R11, 0),
            Addr::Indexed(b, i, disp) => {
                x64!($e; $($pre)* [Rq(b) + Rq(i) + disp] $($post)*);
                return;
            }
        };
        match i8::try_from(disp) {
            Ok(short) => x64!($e; $($pre)* [BYTE Rq(b) + short] $($post)*),
            Err(_) => x64!($e; $($pre)* [Rq(b) + disp] $($post)*),
        }
    }};
}

#[derive(Clone, Copy)]
pub(crate) enum Value {
    Reg(u8),
    Imm(i32),
}

/// Which op is emitted, and what the verifier proved about its access.
#[derive(Clone, Copy)]
struct At {
    pc: usize,
    proof: Option<AccessProof>,
}

/// Where an access goes once allowed.
#[derive(Clone, Copy)]
pub(crate) enum Addr {
    /// `[reg + disp]` (x86 register), needing no check.
    Direct(u8, i32),
    /// `[r11]`, which the check left there.
    R11,
    /// `[base + index + disp]` (x86 registers), needing no check.
    Indexed(u8, u8, i32),
}

/// Whether `r10 + off` is inside the frame for `size` bytes.
fn in_frame(base: u8, off: i16, size: u8) -> bool {
    let off = i64::from(off);
    base == FP && off >= -(STACK_SIZE as i64) && off + i64::from(size) <= 0
}

/// The address of `size` bytes of `access` at `base + off`, after the
/// check the op needs: none when `r10`'s frame holds it or the verifier
/// proved it in bounds, else the full check.
fn address(e: &mut Emitter, at: At, base: u8, off: i16, size: u8, access: Access) -> Addr {
    if at.proof.is_some() || in_frame(base, off, size) {
        return Addr::Direct(x(base), i32::from(off));
    }
    check(e, at.pc, base, off, size, access);
    Addr::R11
}

/// [`address`], always in r11 (for atomics, whose alignment is checked there).
fn in_r11(e: &mut Emitter, at: At, base: u8, off: i16, size: u8, access: Access) {
    if let Addr::Direct(reg, disp) = address(e, at, base, off, size, access) {
        x64!(e; lea Rq(R11), [Rq(reg) + disp]);
    }
}

/// `d = a; d += b; d = *(d + off)`, a proven load from the sum of two
/// registers (`b` not `d`), as one load from `[a + b + off]` (the sum
/// itself is overwritten); `false` for other ops.
pub(crate) fn indexed_load(e: &mut Emitter, ops: [Op; 3], proof: Option<AccessProof>) -> bool {
    let [Op::Mov64R { d, s: a }, Op::Add64R { d: d2, s: b }, load] = ops else {
        return false;
    };
    let (dst, base, off, size, signed) = match load {
        Op::LdB { d, s, off } => (d, s, off, 1, false),
        Op::LdH { d, s, off } => (d, s, off, 2, false),
        Op::LdW { d, s, off } => (d, s, off, 4, false),
        Op::LdDw { d, s, off } => (d, s, off, 8, false),
        Op::LdSxB { d, s, off } => (d, s, off, 1, true),
        Op::LdSxH { d, s, off } => (d, s, off, 2, true),
        Op::LdSxW { d, s, off } => (d, s, off, 4, true),
        _ => return false,
    };
    if proof.is_none() || d2 != d || b == d || dst != d || base != d {
        return false;
    }
    read(
        e,
        d,
        size,
        signed,
        Addr::Indexed(x(a), x(b), i32::from(off)),
    );
    true
}

fn load(e: &mut Emitter, at: At, d: u8, s: u8, off: i16, size: u8, signed: bool) {
    let addr = address(e, at, s, off, size, Access::Load);
    read(e, d, size, signed, addr);
}

fn store(e: &mut Emitter, at: At, d: u8, off: i16, size: u8, value: Value) {
    let addr = address(e, at, d, off, size, Access::Store);
    // Blinded after the check, which uses r10.
    let value = match value {
        Value::Imm(v) if e.keys.is_some() => {
            materialize(e, i64::from(v) as u64);
            Value::Reg(BLINDED)
        }
        other => other,
    };
    write(e, size, value, addr);
}

/// `d = [addr]`, zero- or sign-extended.
pub(crate) fn read(e: &mut Emitter, d: u8, size: u8, signed: bool, addr: Addr) {
    let d = x(d);
    match (size, signed) {
        (1, false) => at!(e, addr; [movzx Rd(d), BYTE] []),
        (2, false) => at!(e, addr; [movzx Rd(d), WORD] []),
        (4, false) => at!(e, addr; [mov Rd(d), DWORD] []),
        (1, true) => at!(e, addr; [movsx Rq(d), BYTE] []),
        (2, true) => at!(e, addr; [movsx Rq(d), WORD] []),
        (4, true) => at!(e, addr; [movsxd Rq(d), DWORD] []),
        _ => at!(e, addr; [mov Rq(d), QWORD] []),
    }
}

/// `[addr] = value`, truncated to `size`.
pub(crate) fn write(e: &mut Emitter, size: u8, value: Value, addr: Addr) {
    match (size, value) {
        (1, Value::Reg(s)) => at!(e, addr; [mov BYTE] [, Rb(x(s))]),
        (2, Value::Reg(s)) => at!(e, addr; [mov WORD] [, Rw(x(s))]),
        (4, Value::Reg(s)) => at!(e, addr; [mov DWORD] [, Rd(x(s))]),
        (_, Value::Reg(s)) => at!(e, addr; [mov QWORD] [, Rq(x(s))]),
        (1, Value::Imm(v)) => at!(e, addr; [mov BYTE] [, v as i8]),
        (2, Value::Imm(v)) => at!(e, addr; [mov WORD] [, v as i16]),
        (4, Value::Imm(v)) => at!(e, addr; [mov DWORD] [, v]),
        (_, Value::Imm(v)) => at!(e, addr; [mov QWORD] [, v]),
    }
}

/// r11 = `base + off`, allowed for `size` bytes of `access`, or the run
/// stops with the vm's fault.
fn check(e: &mut Emitter, pc: usize, base: u8, off: i16, size: u8, access: Access) {
    let (start, len) = match access {
        Access::Load => (off::LOAD_START, off::LOAD_LEN),
        Access::Store => (off::STORE_START, off::STORE_LEN),
    };
    let (stub, ok) = (e.label(), e.label());
    x64!(e
        ; lea Rq(R11), [Rq(x(base)) + i32::from(off)]
        // Remembered region: `addr - start < len` and `addr - start + size <= len`
        // (the second cannot wrap once the first holds).
        ; mov Rq(R10), Rq(R11)
        ; sub Rq(R10), [r12 + start]
        ; cmp Rq(R10), [r12 + len]
        ; jae =>stub
        ; add Rq(R10), i32::from(size)
        ; cmp Rq(R10), [r12 + len]
        ; ja =>stub
        ; =>ok
    );
    e.stubs.push(Stub::Translate {
        at: stub,
        back: ok,
        size,
        info: mem_info(pc, size, access),
    });
}

/// The out-of-line rest of a check: the stacks of the live frames (below
/// the limit, and inside a frame's 512 bytes rather than the gap after
/// it), then the vm's lookup, which allows the access or stops the run.
pub(crate) fn translate_stub(
    e: &mut Emitter,
    at: DynamicLabel,
    back: DynamicLabel,
    size: u8,
    info: u64,
) {
    let (slow, translate) = (e.label(), e.routines.translate);
    x64!(e
        ; =>at
        ; mov Rq(R10), Rq(R11)
        ; sub Rq(R10), [r12 + off::STACK_BASE]
        ; cmp Rq(R10), [r12 + off::STACK_LIMIT]
        ; jae =>slow
        ; and Rd(R10), (FRAME_STRIDE - 1) as i32
        ; cmp Rd(R10), STACK_SIZE as i32 - i32::from(size)
        ; jbe =>back
        ; =>slow
        ; mov Rq(R10), QWORD info as i64
        ; call =>translate
        ; jmp =>back
    );
}

/// Stops the run with the vm's error unless r11 is aligned to `size`.
fn aligned(e: &mut Emitter, pc: usize, size: u8) {
    if size > 1 {
        let stub = e.label();
        x64!(e; test Rd(R11), i32::from(size) - 1; jnz =>stub);
        e.stubs.push(Stub::Misaligned {
            at: stub,
            info: mem_info(pc, size, Access::Store),
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn atomic(e: &mut Emitter, at: At, d: u8, s: u8, off: i16, wide: bool, rmw: Rmw, fetch: bool) {
    let size = if wide { 8 } else { 4 };
    in_r11(e, at, d, off, size, Access::Store);
    aligned(e, at.pc, size);
    let s = x(s);
    match (rmw, fetch, wide) {
        (Rmw::Add, false, true) => x64!(e; lock add QWORD [Rq(R11)], Rq(s)),
        (Rmw::Add, false, false) => x64!(e; lock add DWORD [Rq(R11)], Rd(s)),
        (Rmw::Or, false, true) => x64!(e; lock or QWORD [Rq(R11)], Rq(s)),
        (Rmw::Or, false, false) => x64!(e; lock or DWORD [Rq(R11)], Rd(s)),
        (Rmw::And, false, true) => x64!(e; lock and QWORD [Rq(R11)], Rq(s)),
        (Rmw::And, false, false) => x64!(e; lock and DWORD [Rq(R11)], Rd(s)),
        (Rmw::Xor, false, true) => x64!(e; lock xor QWORD [Rq(R11)], Rq(s)),
        (Rmw::Xor, false, false) => x64!(e; lock xor DWORD [Rq(R11)], Rd(s)),
        (Rmw::Add, true, true) => x64!(e; lock xadd QWORD [Rq(R11)], Rq(s)),
        (Rmw::Add, true, false) => x64!(e; lock xadd DWORD [Rq(R11)], Rd(s)),
        (Rmw::Xchg, _, true) => x64!(e; xchg QWORD [Rq(R11)], Rq(s)),
        (Rmw::Xchg, _, false) => x64!(e; xchg DWORD [Rq(R11)], Rd(s)),
        (Rmw::CmpXchg, _, true) => x64!(e; lock cmpxchg QWORD [Rq(R11)], Rq(s)),
        // A 32-bit cmpxchg that succeeds does not write eax: clear the upper half.
        (Rmw::CmpXchg, _, false) => x64!(e; lock cmpxchg DWORD [Rq(R11)], Rd(s); mov eax, eax),
        (Rmw::Or | Rmw::And | Rmw::Xor, true, _) => fetch_loop(e, rmw, s, wide),
    }
}

/// And/or/xor with fetch have no x86 instruction: a `cmpxchg` loop, with
/// rax (eBPF `r0`) saved on the stack around it.
fn fetch_loop(e: &mut Emitter, rmw: Rmw, s: u8, wide: bool) {
    const RAX: u8 = 0;
    let retry = e.label();
    x64!(e; push rax);
    if wide {
        x64!(e; mov rax, QWORD [Rq(R11)]; =>retry; mov Rq(R10), rax);
    } else {
        x64!(e; mov eax, DWORD [Rq(R11)]; =>retry; mov Rd(R10), eax);
    }
    // The operand is `s`, or its saved value when `s` is rax itself.
    match (rmw, s == RAX, wide) {
        (Rmw::Or, false, true) => x64!(e; or Rq(R10), Rq(s)),
        (Rmw::Or, false, false) => x64!(e; or Rd(R10), Rd(s)),
        (Rmw::Or, true, true) => x64!(e; or Rq(R10), QWORD [rsp]),
        (Rmw::Or, true, false) => x64!(e; or Rd(R10), DWORD [rsp]),
        (Rmw::And, false, true) => x64!(e; and Rq(R10), Rq(s)),
        (Rmw::And, false, false) => x64!(e; and Rd(R10), Rd(s)),
        (Rmw::And, true, true) => x64!(e; and Rq(R10), QWORD [rsp]),
        (Rmw::And, true, false) => x64!(e; and Rd(R10), DWORD [rsp]),
        (_, false, true) => x64!(e; xor Rq(R10), Rq(s)),
        (_, false, false) => x64!(e; xor Rd(R10), Rd(s)),
        (_, true, true) => x64!(e; xor Rq(R10), QWORD [rsp]),
        (_, true, false) => x64!(e; xor Rd(R10), DWORD [rsp]),
    }
    if wide {
        x64!(e; lock cmpxchg QWORD [Rq(R11)], Rq(R10); jne =>retry);
    } else {
        x64!(e; lock cmpxchg DWORD [Rq(R11)], Rd(R10); jne =>retry);
    }
    // rax = the old value, zero-extended; it goes to `s`.
    if s == RAX {
        x64!(e; add rsp, 8);
    } else {
        x64!(e; mov Rq(s), rax; pop rax);
    }
}
