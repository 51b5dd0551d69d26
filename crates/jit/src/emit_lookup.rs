//! `bpf_map_lookup_elem` on an array the verifier found the same on every
//! path, done inline ([`apiary_vm::ArrayLookup`]), as the kernel's
//! `array_map_gen_lookup` and `percpu_array_map_gen_lookup`: the key read
//! as a `u32`, compared with `max_entries`, scaled by the element stride
//! and added to the base, plus the run's CPU copy for per-CPU arrays.
//!
//! Only where the helper could not have failed or done anything else: the
//! key must lie in a live frame's stack (the helper's read of it then
//! succeeds too). Any other key (in a map value, the packet, or nowhere)
//! takes the helper call, with its checks and errors. The map argument in
//! `r1` is not read: the verifier proved it is this map's. The value
//! needs no region of its own: the embedder gives every run the whole
//! array (see `apiary_vm::array_lookup`).

use apiary_vm::{ArrayLookup, FRAME_STRIDE, STACK_SIZE};

use crate::compile::{Emitter, R10, R11, simm32, x};
use crate::ctx::off;
use crate::x64;

/// The x86 register holding the key's address (eBPF `r2`).
fn key_reg() -> u8 {
    x(2)
}

/// Emits the lookup into `r0`; `helper` emits the call the code falls
/// back to when the key is not on the stack.
pub(crate) fn emit(e: &mut Emitter, lookup: ArrayLookup, helper: impl FnOnce(&mut Emitter)) {
    let (call, found, done) = (e.label(), e.label(), e.label());
    let key = key_reg();
    x64!(e
        ; mov Rq(R10), Rq(key)
        ; sub Rq(R10), [r12 + off::STACK_BASE]
        ; cmp Rq(R10), [r12 + off::STACK_LIMIT]
        ; jae =>call
        ; and Rd(R10), (FRAME_STRIDE - 1) as i32
        ; cmp Rd(R10), STACK_SIZE as i32 - 4
        ; ja =>call
        ; mov eax, [Rq(key)]
        ; cmp eax, lookup.max_entries as i32
        ; jb =>found
        ; xor eax, eax
        ; jmp =>done
        ; =>found
    );
    scale(e, 0, lookup.elem_stride);
    x64!(e; mov Rq(R10), QWORD lookup.base as i64; add rax, Rq(R10));
    if lookup.cpu_stride != 0 {
        let clamped = e.label();
        x64!(e
            ; mov Rd(R11), [r12 + off::CPU]
            ; cmp Rd(R11), lookup.last_cpu as i32
            ; jbe =>clamped
            ; mov Rd(R11), lookup.last_cpu as i32
            ; =>clamped
        );
        scale(e, R11, lookup.cpu_stride);
        x64!(e; add rax, Rq(R11));
    }
    x64!(e; jmp =>done; =>call);
    helper(e);
    x64!(e; =>done);
}

/// `reg *= by` (an unsigned 32-bit value times a stride: no overflow
/// beyond what the array's size, which fits the address space, allows).
fn scale(e: &mut Emitter, reg: u8, by: u64) {
    match simm32(by) {
        Some(by) => x64!(e; imul Rq(reg), Rq(reg), by),
        None => x64!(e; mov Rq(R10), QWORD by as i64; imul Rq(reg), Rq(R10)),
    }
}
