//! Arbitrary bytes through the whole execution path: split into slots,
//! decode, prepare an `apiary_vm::Program` and run it under an instruction
//! budget with a context region, a packet and a handful of helpers that
//! exercise the helper context (memory reads and writes, callbacks, stop,
//! tail calls). Any panic, abort or hang is a bug; errors are expected.
//!
//! Input layout: byte 0 = context length, byte 1 = packet length, then the
//! context bytes, the packet bytes and the bytecode (each part truncated to
//! what is available).

#![no_main]

#[path = "shared.rs"]
mod shared;

use std::sync::Arc;

use apiary_isa::{decode_program, slots_from_bytes};
use apiary_vm::{Program, Region, RunInput, Runner};
use libfuzzer_sys::fuzz_target;
use shared::{BUDGET, Env, helpers, split};

fuzz_target!(|input: &[u8]| {
    let mut input = split(input);
    let Ok(slots) = slots_from_bytes(&input.bytecode) else {
        return;
    };
    let decoded = decode_program(&slots);
    let program = match Program::new(&slots, Arc::new(helpers())) {
        Ok(program) => Arc::new(program),
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(
        decoded.is_ok(),
        "the vm prepared a program the decoder refuses"
    );

    let mut env = Env {
        this_program: Some(program.clone()),
    };
    let context_addr = input.context.as_ptr() as u64;
    let context_len = input.context.len() as u64;
    let regions = [Region::writable(&mut input.context)];
    let mut runner = Runner::new();
    runner.set_budget(Some(BUDGET));
    let run_input = RunInput {
        args: [context_addr, context_len, 0, 0, 0],
        regions: &regions,
        packet: Some(Region::readable(&input.packet)),
        headers: None,
    };
    if let Err(e) = runner.run(&program, &mut env, &run_input) {
        let _ = e.to_string();
    }
});
