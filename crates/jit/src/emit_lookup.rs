//! `bpf_map_lookup_elem` on a map the verifier found the same on every
//! path, without the helper table ([`apiary_vm::MapLookup`]).
//!
//! On an array it is done inline ([`apiary_vm::ArrayLookup`]), as the
//! kernel's `array_map_gen_lookup` and `percpu_array_map_gen_lookup`: the
//! key read as a `u32`, compared with `max_entries`, scaled by the element
//! stride and added to the base, plus the run's CPU copy for per-CPU
//! arrays. The value needs no region of its own: the embedder gives every
//! run the whole array (see `apiary_vm::array_lookup`).
//!
//! On a hash table or trie the map's own search is called directly
//! ([`apiary_vm::DirectLookup`]), with the key's address and the run's
//! CPU; only a value found goes to Rust, to be registered as the helper
//! registers it (`slow::lookup_found`), so a miss never leaves native code.
//!
//! Only where the helper could not have failed before its search: the
//! key must lie in a live frame's stack (the helper's read of it then
//! succeeds too). Any other key (in a map value, the packet, or nowhere)
//! takes the helper call, with its checks and errors. The map argument in
//! `r1` is not read: the verifier proved it is this map's.

use apiary_vm::{ArrayLookup, DirectLookup, FRAME_STRIDE, MapLookup, STACK_SIZE};

use dynasmrt::DynamicLabel;

use crate::compile::{Emitter, R10, R11, simm32, x};
use crate::ctx::off;
use crate::emit_call;
use crate::x64;

/// The x86 register holding the key's address (eBPF `r2`).
fn key_reg() -> u8 {
    x(2)
}

/// Emits the lookup of map number `map` at op `pc` into `r0`; `helper`
/// emits the call the code falls back to when the key is not on the stack.
pub(crate) fn emit(
    e: &mut Emitter,
    lookup: MapLookup,
    map: u32,
    pc: usize,
    helper: impl FnOnce(&mut Emitter),
) {
    let (call, done) = (e.label(), e.label());
    match lookup {
        MapLookup::Array(array) => {
            key_on_stack(e, 4, call);
            emit_array(e, array, done);
        }
        MapLookup::Direct(direct) => {
            key_on_stack(e, direct.key_size, call);
            emit_direct(e, direct, map, pc, done);
        }
    }
    x64!(e; jmp =>done; =>call);
    helper(e);
    x64!(e; =>done);
}

/// Whether a lookup of map number `map` with a key of `key_size` bytes
/// can be emitted ([`emit`]): the key fits a frame, and the operands of
/// `slow::lookup_found` fit its register.
pub(crate) fn possible(lookup: &MapLookup, map: u32, pc: usize) -> bool {
    match lookup {
        MapLookup::Array(_) => true,
        MapLookup::Direct(direct) => {
            u64::from(direct.key_size) <= STACK_SIZE && call_info(map, pc).is_some()
        }
    }
}

/// Jumps to `call` unless the `key_size` bytes at the key's address lie in
/// one live frame's stack.
fn key_on_stack(e: &mut Emitter, key_size: u32, call: DynamicLabel) {
    let key = key_reg();
    x64!(e
        ; mov Rq(R10), Rq(key)
        ; sub Rq(R10), [r12 + off::STACK_BASE]
        ; cmp Rq(R10), [r12 + off::STACK_LIMIT]
        ; jae =>call
        ; and Rd(R10), (FRAME_STRIDE - 1) as i32
        ; cmp Rd(R10), STACK_SIZE.saturating_sub(u64::from(key_size)) as i32
        ; ja =>call
    );
}

/// An array's address arithmetic; goes to `done` with `r0` set.
fn emit_array(e: &mut Emitter, lookup: ArrayLookup, done: DynamicLabel) {
    let key = key_reg();
    let found = e.label();
    x64!(e
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
}

/// The operand of the Rust routines a direct call ends in
/// (`slow::lookup_found`, `slow::reserved`): op `pc` and map number `map`.
pub(crate) fn call_info(map: u32, pc: usize) -> Option<u64> {
    let pc = u32::try_from(pc).ok()?;
    Some(u64::from(map) << 32 | u64::from(pc))
}

/// A call of the map's search, with the key already in the second
/// argument register; a value found is registered in Rust.
fn emit_direct(e: &mut Emitter, lookup: DirectLookup, map: u32, pc: usize, done: DynamicLabel) {
    let found = e.routines.lookup_found;
    let info = call_info(map, pc).unwrap_or(0);
    let (map, search) = (lookup.map as usize as i64, lookup.lookup as usize as i64);
    // The key is already in the second argument register.
    emit_call::keeping_args(e, |e| {
        x64!(e
            ; mov rdi, QWORD map
            ; mov edx, [r12 + off::CPU]
            ; mov rax, QWORD search
            ; call rax
        );
    });
    to_rust_unless_null(e, found, info, done);
}

/// After a direct call: a null `r0` goes on at `done`; anything else goes
/// to the Rust `routine`, with `r0` in r11 and `info` (see [`call_info`])
/// in r10.
pub(crate) fn to_rust_unless_null(
    e: &mut Emitter,
    routine: DynamicLabel,
    info: u64,
    done: DynamicLabel,
) {
    x64!(e
        ; test rax, rax
        ; jz =>done
        ; mov Rq(R11), rax
        ; mov Rq(R10), QWORD info as i64
        ; call =>routine
    );
}

/// `reg *= by` (an unsigned 32-bit value times a stride: no overflow
/// beyond what the array's size, which fits the address space, allows).
fn scale(e: &mut Emitter, reg: u8, by: u64) {
    match simm32(by) {
        Some(by) => x64!(e; imul Rq(reg), Rq(reg), by),
        None => x64!(e; mov Rq(R10), QWORD by as i64; imul Rq(reg), Rq(R10)),
    }
}
