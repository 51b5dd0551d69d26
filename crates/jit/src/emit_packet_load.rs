//! `bpf_skb_load_bytes` without the helper table, where the embedder
//! named the helper that copies packet bytes ([`apiary_vm::packet_load`]):
//! when the bytes lie in the run's packet span and the destination in one
//! live frame's stack, compiled code copies them itself (`rep movsb`, as
//! short as the headers programs load) and sets `r0` to 0, as the kernel's
//! `bpf_skb_load_bytes` on a linear skb. Any other call (an offset past
//! the packet or above `i32::MAX`, a destination elsewhere, a run without
//! a packet) takes the helper, with its checks, zeroing and errors.
//!
//! The argument registers keep their values, as across the helper call.

use apiary_vm::{FRAME_STRIDE, STACK_SIZE};

use crate::compile::{Emitter, R10, R11, x};
use crate::ctx::off;
use crate::x64;

/// Emits the copy; `helper` emits the call the code falls back to.
pub(crate) fn emit(e: &mut Emitter, helper: impl FnOnce(&mut Emitter)) {
    let (offset, to, len) = (x(2), x(3), x(4));
    let (call, done) = (e.label(), e.label());
    // Offset and length are `u32`s: their sum cannot overflow 64 bits.
    x64!(e
        ; mov Rd(R10), Rd(offset)
        ; test Rd(R10), Rd(R10)
        ; js =>call
        ; mov Rd(R11), Rd(len)
        ; add Rq(R10), Rq(R11)
        ; cmp Rq(R10), [r12 + off::PACKET_LIMIT]
        ; jae =>call
        ; mov Rq(R10), Rq(to)
        ; sub Rq(R10), [r12 + off::STACK_BASE]
        ; cmp Rq(R10), [r12 + off::STACK_LIMIT]
        ; jae =>call
        ; and Rd(R10), (FRAME_STRIDE - 1) as i32
        ; add Rq(R10), Rq(R11)
        ; cmp Rq(R10), STACK_SIZE as i32
        ; ja =>call
    );
    // `rep movsb` takes rdi, rsi and rcx: r1, r2 and r4, kept around it.
    debug_assert_eq!((x(1), offset, len), (7, 6, 1));
    x64!(e
        ; push rdi
        ; push rsi
        ; push rcx
        ; mov rdi, Rq(to)
        ; mov esi, esi
        ; add rsi, [r12 + off::PACKET_START]
        ; mov ecx, Rd(R11)
        ; rep movsb
        ; pop rcx
        ; pop rsi
        ; pop rdi
        ; xor eax, eax
        ; jmp =>done
        ; =>call
    );
    helper(e);
    x64!(e; =>done);
}
