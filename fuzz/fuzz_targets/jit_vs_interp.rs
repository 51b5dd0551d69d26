//! Arbitrary bytes as in `decode_and_run`, but every program that loads is
//! also compiled by the JIT and run on both tiers with the same runner
//! (stacks cleared before each run), context bytes, packet, helpers and
//! budget: the result (r0 or the error, addresses included) and the
//! context afterwards must be identical. A JIT refusing a program the vm
//! loads, a difference, a crash or a hang is a bug.

#![no_main]

#[path = "shared.rs"]
mod shared;

use std::sync::Arc;

use apiary_isa::slots_from_bytes;
use apiary_vm::{Engine, Program, Region, RunInput, Runner};
use libfuzzer_sys::fuzz_target;
use shared::{BUDGET, Env, helpers, split};

fuzz_target!(|input: &[u8]| {
    let input = split(input);
    let Ok(slots) = slots_from_bytes(&input.bytecode) else {
        return;
    };
    let Ok(program) = Program::new(&slots, Arc::new(helpers())) else {
        return;
    };
    let program = Arc::new(program);
    apiary_jit::compile(&program).expect("the JIT compiles every program the vm loads");
    let mut env = Env {
        this_program: Some(program.clone()),
    };
    let mut context = input.context.clone();
    let mut runner = Runner::new();
    runner.set_budget(Some(BUDGET));
    let mut run = |engine| {
        context.copy_from_slice(&input.context);
        runner.clear_stacks().set_engine(engine);
        let (addr, len) = (context.as_ptr() as u64, context.len() as u64);
        let regions = [Region::writable(&mut context)];
        let run_input = RunInput {
            args: [addr, len, 0, 0, 0],
            regions: &regions,
            packet: Some(Region::readable(&input.packet)),
            headers: None,
        };
        let result = runner.run(&program, &mut env, &run_input);
        (result, context.clone())
    };
    let interpreted = run(Engine::Interpreter);
    let compiled = run(Engine::Compiled);
    assert_eq!(interpreted, compiled, "interpreter vs JIT");
});
