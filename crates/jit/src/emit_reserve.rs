//! `bpf_ringbuf_reserve` on a ring buffer the verifier found the same on
//! every path, without the helper table ([`apiary_vm::DirectReserve`]):
//! the ring's own reservation is called directly with the size and flags
//! where they already are (`r2`, `r3`), as `emit_lookup` calls a hash
//! table's search. A ring with no room answers null, which is `r0`; only
//! a sample reserved goes to Rust, to be registered as the helper does,
//! and recorded unless compiled code releases it itself (`slow::reserved`,
//! `emit_commit`). The map argument in `r1` is not read:
//! the verifier proved it is this map's.

use apiary_vm::DirectReserve;

use crate::compile::Emitter;
use crate::emit_call;
use crate::emit_lookup::{call_info, to_rust_unless_null};
use crate::x64;

/// Whether a reservation in map number `map` at op `pc` can be emitted:
/// the operands of `slow::reserved` fit its register.
pub(crate) fn possible(map: u32, pc: usize) -> bool {
    call_info(map, pc).is_some()
}

/// Emits the reservation in map number `map` at op `pc` into `r0`; the
/// sample is recorded for the helpers that release it when `record`
/// (not when compiled code releases every sample itself: `emit_commit`).
pub(crate) fn emit(e: &mut Emitter, reserve: DirectReserve, map: u32, pc: usize, record: bool) {
    let routines = &e.routines;
    let reserved = if record {
        routines.reserved
    } else {
        routines.reserved_unrecorded
    };
    let done = e.label();
    let info = call_info(map, pc).unwrap_or(0);
    let (ring, f) = (
        reserve.ring as usize as i64,
        reserve.reserve as usize as i64,
    );
    // Size and flags are already the second and third argument registers.
    emit_call::keeping_args(e, |e| {
        x64!(e
            ; mov rdi, QWORD ring
            ; mov rax, QWORD f
            ; call rax
        );
    });
    to_rust_unless_null(e, reserved, info, done);
    x64!(e; =>done);
}
