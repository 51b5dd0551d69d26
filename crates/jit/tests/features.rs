//! Features the conformance suite does not reach, on both tiers: callbacks,
//! tail calls (and their limit), `LD_ABS`, `may_goto`, pure helpers and a
//! budget spent inside a callback. Each result is checked against its
//! known value and against the interpreter.

use std::sync::Arc;

use apiary_asm::assemble_slots;
use apiary_vm::{
    Engine, HelperContext, HelperError, Helpers, MAY_GOTO_LOOPS, Program, Region, RunError,
    RunInput, Runner,
};

#[derive(Default)]
struct Env {
    next: Option<Arc<Program<Env>>>,
}

/// Helper 1: runs the callback at slot `r2` for `i` in `0..r1`, summing its r0.
fn for_each(ctx: &mut HelperContext<'_, Env>, [n, cb, ..]: [u64; 5]) -> Result<u64, HelperError> {
    let mut sum = 0u64;
    for i in 0..n {
        let r0 = ctx
            .call_function(cb, [i, 0, 0, 0, 0])
            .map_err(|e| HelperError::Callback(Box::new(e)))?;
        sum = sum.wrapping_add(r0);
    }
    Ok(sum)
}

/// Helper 2: tail call into the environment's next program.
fn tail(ctx: &mut HelperContext<'_, Env>, _: [u64; 5]) -> Result<u64, HelperError> {
    if let Some(next) = ctx.env().next.clone() {
        // A refused tail call falls through, as in the kernel.
        let _ = ctx.tail_call(next);
    }
    Ok(0)
}

fn double(a: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    a.wrapping_mul(2)
}

fn helpers() -> Arc<Helpers<Env>> {
    let mut helpers = Helpers::new();
    helpers.register(1, "for_each", for_each).expect("id");
    helpers.register(2, "tail", tail).expect("id");
    helpers.register_pure(3, "double", double).expect("id");
    Arc::new(helpers)
}

fn load(text: &str) -> Arc<Program<Env>> {
    let slots = assemble_slots(text).expect("assembles");
    let program = Program::new(&slots, helpers()).expect("loads");
    apiary_jit::compile(&program).expect("compiles");
    Arc::new(program)
}

/// Runs on both tiers; asserts they agree and returns the result.
fn both(
    program: &Program<Env>,
    env: &mut Env,
    budget: Option<u64>,
    packet: &mut [u8],
) -> Result<u64, RunError> {
    let mut results = Vec::new();
    for engine in [Engine::Interpreter, Engine::Compiled] {
        let mut runner = Runner::new();
        runner.set_budget(budget).set_engine(engine);
        let region = Region::writable(packet);
        let input = RunInput {
            args: [0; 5],
            regions: &[],
            packet: Some(region),
            headers: None,
        };
        results.push(runner.run(program, env, &input));
    }
    assert_eq!(results[0], results[1], "interpreter vs JIT");
    results.remove(0)
}

const CALLBACK: &str = "
    mov %r1, 5
    mov %r2, 4
    call 1
    exit
    mov %r0, %r1
    call 3
    exit
";

#[test]
fn callbacks_run_and_agree() {
    let program = load(CALLBACK);
    // 2 * (0 + 1 + 2 + 3 + 4)
    assert_eq!(both(&program, &mut Env::default(), None, &mut []), Ok(20));
}

#[test]
fn a_budget_spent_inside_a_callback_agrees() {
    let program = load(CALLBACK);
    for budget in 0..30 {
        let result = both(&program, &mut Env::default(), Some(budget), &mut []);
        // 3 ops, 5 callbacks of 3, then the exit: 19.
        assert_eq!(result.is_err(), budget < 19, "budget {budget}: {result:?}");
    }
}

#[test]
fn tail_calls_keep_registers_and_stop_at_the_limit() {
    let target = load("mov %r0, %r6\nadd %r0, 100\nexit");
    let caller = load("mov %r6, 7\ncall 2\nmov %r0, 1\nexit");
    let mut env = Env {
        next: Some(Arc::clone(&target)),
    };
    assert_eq!(both(&caller, &mut env, None, &mut []), Ok(107));
    // A program that tail-calls itself, counting in r6: 33 tail calls succeed.
    let chain = load("add %r6, 1\ncall 2\nmov %r0, %r6\nexit");
    let mut env = Env {
        next: Some(Arc::clone(&chain)),
    };
    assert_eq!(both(&chain, &mut env, None, &mut []), Ok(34));
}

#[test]
fn packet_loads_read_big_endian_and_stop_outside() {
    let mut packet = [0x12, 0x34, 0x56, 0x78, 0x9a];
    let program = load("ldabsh 1\nexit");
    assert_eq!(
        both(&program, &mut Env::default(), None, &mut packet),
        Ok(0x3456)
    );
    let program = load("mov %r0, 7\nldabsw 2\nmov %r0, 9\nexit");
    assert_eq!(
        both(&program, &mut Env::default(), None, &mut packet),
        Ok(0)
    );
    let program = load("mov %r2, 1\nldindb %r2, 3\nexit");
    assert_eq!(
        both(&program, &mut Env::default(), None, &mut packet),
        Ok(0x9a)
    );
}

#[test]
fn may_goto_falls_through_the_kernel_count() {
    let program = load("mov %r0, 0\nadd %r0, 1\nmay_goto +1\nja -3\nexit");
    assert_eq!(
        both(&program, &mut Env::default(), None, &mut []),
        Ok(u64::from(MAY_GOTO_LOOPS) + 1)
    );
}

#[test]
fn the_machine_code_and_each_ops_offset_are_available_for_dumps() {
    let program = load("mov %r0, 42\nexit");
    let code = program.compiled().expect("compiled");
    let (bytes, offsets) = (code.machine_code(), code.op_offsets());
    // Two ops and the sentinel, in order, after the entry sequence.
    assert_eq!(offsets.len(), program.ops().len());
    assert!(offsets.windows(2).all(|w| w[0] < w[1]) && offsets[0] > 0);
    // `mov eax, 42` lies in the first op's code.
    let first = &bytes[offsets[0] as usize..offsets[1] as usize];
    assert!(
        first.windows(5).any(|w| w == [0xb8, 42, 0, 0, 0]),
        "{first:02x?}"
    );
}

#[test]
fn blinded_code_never_holds_the_programs_immediates() {
    let text = "mov %r0, 0x5a5a1234\nadd %r0, 0x3c3c4321\njeq %r0, 0x6b6b7777, +1\nexit\nexit";
    let bytes = |blind_constants| {
        let slots = assemble_slots(text).expect("assembles");
        let program = Program::new(&slots, helpers()).expect("loads");
        let options = apiary_jit::Options { blind_constants };
        apiary_jit::compile_with(&program, options).expect("compiles");
        let mut env = Env::default();
        let r0 = both(&program, &mut env, None, &mut []);
        assert_eq!(r0, Ok(0x5a5a1234 + 0x3c3c4321));
        program
            .compiled()
            .expect("compiled")
            .machine_code()
            .to_vec()
    };
    let holds = |code: &[u8], v: u32| code.windows(4).any(|w| w == v.to_le_bytes());
    let (plain, blinded) = (bytes(false), bytes(true));
    for v in [0x5a5a_1234u32, 0x3c3c_4321, 0x6b6b_7777] {
        assert!(holds(&plain, v), "{v:#x} is in the plain code");
        assert!(!holds(&blinded, v), "{v:#x} is in the blinded code");
    }
}
