//! `Runner::run_repeat` on both tiers against the same number of single
//! `Runner::run`s: the last result or the first error, the memory the runs
//! wrote, and what helpers saw, through faults, budgets, `may_goto`,
//! helpers that change the environment or add regions (registered as
//! keeping the input or not), stops and tail calls.

use std::sync::Arc;

use apiary_asm::assemble_slots;
use apiary_vm::{
    Engine, HelperContext, HelperError, Helpers, MAY_GOTO_LOOPS, Program, Region, RunError,
    RunInput, Runner,
};

/// What helpers see and change between runs.
struct Env {
    /// Calls of helper 1.
    calls: u64,
    /// The program helper 2 tail-calls.
    next: Option<Arc<Program<Env>>>,
}

impl Env {
    fn new(next: Option<Arc<Program<Env>>>) -> Self {
        Env { calls: 0, next }
    }
}

/// The memory helper 1 lends to the run that calls it (at one address in
/// every run, so that the tiers' faults name the same one).
static LENT: [u8; 8] = *b"lent mem";

/// Helper 1: counts its calls and lends [`LENT`] to this run, read-only,
/// returning its address.
fn lend(ctx: &mut HelperContext<'_, Env>, _: [u64; 5]) -> Result<u64, HelperError> {
    ctx.env().calls += 1;
    let lent = LENT.as_ptr().cast_mut();
    // SAFETY: a static lives forever, and the region is read-only.
    let region = unsafe { Region::from_raw(lent, 8, false) };
    ctx.add_region(region)?;
    Ok(lent as u64)
}

/// Helpers 4 (registered as keeping the run's input) and 5 (not, so that
/// the runner asks `next`, which gives the same input): lend [`LENT`] as
/// helper 1 does, without counting (the count is part of the input).
fn lend_quietly(ctx: &mut HelperContext<'_, Env>, _: [u64; 5]) -> Result<u64, HelperError> {
    let lent = LENT.as_ptr().cast_mut();
    // SAFETY: a static lives forever, and the region is read-only.
    let region = unsafe { Region::from_raw(lent, 8, false) };
    ctx.add_region(region)?;
    Ok(lent as u64)
}

/// Helper 2: tail call into the environment's next program.
fn tail(ctx: &mut HelperContext<'_, Env>, _: [u64; 5]) -> Result<u64, HelperError> {
    if let Some(next) = ctx.env().next.clone() {
        let _ = ctx.tail_call(next);
    }
    Ok(0)
}

fn add(a: u64, b: u64, _: u64, _: u64, _: u64) -> u64 {
    a.wrapping_add(b)
}

fn load(text: &str) -> Arc<Program<Env>> {
    let mut helpers = Helpers::new();
    helpers.register(1, "lend", lend).expect("id");
    helpers.register(2, "tail", tail).expect("id");
    helpers.register_pure(3, "add", add).expect("id");
    helpers
        .register_keeping_input(4, "lend_quietly", lend_quietly)
        .expect("id");
    helpers
        .register(5, "lend_quietly", lend_quietly)
        .expect("id");
    let slots = assemble_slots(text).expect("assembles");
    let program = Program::new(&slots, Arc::new(helpers)).expect("loads");
    apiary_jit::compile(&program).expect("compiles");
    Arc::new(program)
}

/// What a series of runs leaves: the result, the memory behind `r1` and
/// the calls of helper 1.
type Outcome = (Result<u64, RunError>, Vec<u8>, u64);

/// `r1` is 16 bytes of writable memory, `r2` a count of helper 1's calls
/// so far (which `next` brings up to date), the packet 4 bytes until
/// helper 1 was called twice.
struct Case {
    program: Arc<Program<Env>>,
    next: Option<Arc<Program<Env>>>,
    budget: Option<u64>,
}

impl Case {
    fn new(text: &str) -> Self {
        Case {
            program: load(text),
            next: None,
            budget: None,
        }
    }

    /// `times` runs with `run` after `engine`'s runner was set up.
    fn outcome(
        &self,
        engine: Engine,
        run: impl FnOnce(&mut Runner<Env>, &mut Env, &mut RunInput<'_>) -> Result<u64, RunError>,
    ) -> Outcome {
        let mut runner = Runner::new();
        runner.set_engine(engine).set_budget(self.budget);
        let mut env = Env::new(self.next.clone());
        let mut mem = [0u8; 16];
        let mut packet = [1u8, 2, 3, 4];
        let mem_region = Region::writable(&mut mem);
        let addr = mem_region.addr();
        let regions = [mem_region];
        let mut input = RunInput {
            args: [addr, 0, 0, 0, 0],
            regions: &regions,
            packet: Some(Region::writable(&mut packet)),
            headers: None,
        };
        let result = run(&mut runner, &mut env, &mut input);
        (result, mem.to_vec(), env.calls)
    }

    /// Asserts that `times` repeated runs on each tier give what as many
    /// single runs on the interpreter give, and returns that.
    fn check(&self, times: u64) -> Outcome {
        // After helper 1's second call, the packet is gone.
        let next = |env: &mut Env, input: &mut RunInput<'_>| {
            input.args[1] = env.calls;
            if env.calls >= 2 {
                input.packet = None;
            }
        };
        let single = self.outcome(Engine::Interpreter, |runner, env, input| {
            let mut last = Ok(0);
            for i in 0..times.max(1) {
                if i > 0 {
                    next(env, input);
                }
                last = Ok(runner.run(&self.program, env, input)?);
            }
            last
        });
        for engine in [Engine::Interpreter, Engine::Compiled] {
            let repeated = self.outcome(engine, |runner, env, input| {
                runner.run_repeat(&self.program, env, input, times, next)
            });
            assert_eq!(repeated, single, "{engine:?}, {times} runs");
        }
        single
    }
}

/// Counts its runs in the memory behind `r1`.
const COUNTER: &str = "
    ldxdw %r0, [%r1+0]
    add %r0, 1
    stxdw [%r1+0], %r0
";

#[test]
fn repeated_runs_keep_what_earlier_runs_wrote() {
    let case = Case::new(&format!("{COUNTER}\nexit"));
    for times in [0, 1, 2, 7, 1000] {
        let (result, mem, _) = case.check(times);
        assert_eq!(result, Ok(times.max(1)));
        assert_eq!(mem[0] as u64, times.max(1) % 256);
    }
}

#[test]
fn a_fault_in_a_later_run_ends_the_repeat_there() {
    // The third run reads at address 3.
    let case = Case::new(&format!(
        "{COUNTER}\njne %r0, 3, +1\nldxdw %r0, [%r0+0]\nexit"
    ));
    let (result, mem, _) = case.check(10);
    assert!(
        matches!(result, Err(RunError::MemoryFault { addr: 3, .. })),
        "{result:?}"
    );
    assert_eq!(mem[0], 3);
    assert_eq!(case.check(2).0, Ok(2));
}

#[test]
fn every_run_has_the_whole_budget() {
    // Run k loops k times: 4 + 2k + 1 instructions.
    let text = format!("{COUNTER}\nmov %r2, %r0\nmov %r0, 0\nadd %r0, 1\njlt %r0, %r2, -2\nexit");
    for budget in 0..24 {
        let case = Case {
            budget: Some(budget),
            ..Case::new(&text)
        };
        let (result, mem, _) = case.check(8);
        // The first run to exceed it is the one with 6 + 2k > budget.
        let runs = (1..=8).find(|k| 6 + 2 * k > budget);
        match runs {
            Some(k) => {
                assert!(
                    matches!(result, Err(RunError::BudgetExhausted { .. })),
                    "budget {budget}: {result:?}"
                );
                // The failing run's store happened before it ran out, unless it had no budget for it.
                assert_eq!(u64::from(mem[0]), if budget >= 3 { k } else { 0 });
            }
            None => assert_eq!(result, Ok(8)),
        }
    }
}

#[test]
fn every_run_has_a_fresh_may_goto_counter() {
    let case = Case::new("mov %r0, 0\nadd %r0, 1\nmay_goto +1\nja -3\nexit");
    assert_eq!(case.check(2).0, Ok(u64::from(MAY_GOTO_LOOPS) + 1));
}

#[test]
fn runs_after_a_helper_see_the_environment_it_changed() {
    // r2 is the calls of helper 1 before the run: `next` brings it up to
    // date, and the runs that follow must see it.
    let case = Case::new("mov %r6, %r2\ncall 1\nmov %r0, %r6\nexit");
    let (result, _, calls) = case.check(5);
    assert_eq!((result, calls), (Ok(4), 5));
    // Pure helpers do not count as helpers that may change anything.
    let case = Case::new(&format!(
        "{COUNTER}\nmov %r1, %r0\nmov %r2, 10\ncall 3\nexit"
    ));
    assert_eq!(case.check(6).0, Ok(16));
}

#[test]
fn regions_a_helper_added_last_one_run() {
    // The first run borrows a helper's memory and keeps its address; the
    // second reads it without calling the helper, and faults, whether the
    // helper keeps the input (4) or may change it (1, and 5, after which
    // the input is the same).
    for (helper, counted) in [(1, 1), (4, 0), (5, 0)] {
        let case = Case::new(&format!(
            "{COUNTER}
            jne %r0, 1, +4
            call {helper}
            stxdw [%r1+8], %r0
            ldxdw %r0, [%r0+0]
            exit
            ldxdw %r3, [%r1+8]
            ldxdw %r0, [%r3+0]
            exit"
        ));
        let (result, mem, calls) = case.check(3);
        assert!(
            matches!(result, Err(RunError::MemoryFault { .. })),
            "helper {helper}: {result:?}"
        );
        assert_eq!((mem[0], calls), (2, counted), "helper {helper}");
    }
}

#[test]
fn a_region_remembered_for_loads_lasts_one_run() {
    // The stack outlasts a run: the second run finds the first's marker
    // and the lent address there, and reads that address before any other
    // checked access could make compiled code forget the region it last
    // allowed a load in.
    for helper in [1, 4, 5] {
        let case = Case::new(&format!(
            "ldxdw %r2, [%r10-16]
            jeq %r2, 7, +6
            mov %r2, 7
            stxdw [%r10-16], %r2
            call {helper}
            stxdw [%r10-8], %r0
            ldxdw %r0, [%r0+0]
            exit
            ldxdw %r3, [%r10-8]
            ldxdw %r0, [%r3+0]
            exit"
        ));
        let (result, ..) = case.check(2);
        assert!(
            matches!(result, Err(RunError::MemoryFault { .. })),
            "helper {helper}: {result:?}"
        );
    }
}

#[test]
fn runs_stopped_by_a_packet_load_are_followed_by_the_others() {
    // The second run's LD_ABS reads past the packet: that run stops with 0.
    let case = Case::new(&format!(
        "{COUNTER}
        mov %r6, %r0
        ldabsb 3
        jne %r6, 2, +1
        ldabsb 100
        mov %r0, %r6
        exit"
    ));
    assert_eq!(case.check(4).0, Ok(4));
    assert_eq!(case.check(2).0, Ok(0));
}

#[test]
fn tail_calls_in_repeated_runs() {
    let target = load(&format!("{COUNTER}\nadd %r0, %r6\nexit"));
    let case = Case {
        next: Some(target),
        ..Case::new("mov %r6, 100\ncall 2\nmov %r0, 1\nexit")
    };
    let (result, mem, _) = case.check(3);
    assert_eq!((result, mem[0]), (Ok(103), 3));
}

#[test]
fn runs_after_a_helper_see_the_input_it_changed() {
    // The packet goes after the second run: LD_ABS then stops the run with 0.
    let case = Case::new("call 1\nldabsb 0\nexit");
    assert_eq!(case.check(2).0, Ok(1));
    assert_eq!(case.check(4).0, Ok(0));
}

#[test]
fn runs_after_a_helper_keeping_the_input_go_on() {
    // Each run reads the lent memory's first byte ('l') and counts.
    let case = Case::new(&format!(
        "{COUNTER}\nmov %r6, %r0\ncall 4\nldxb %r0, [%r0+0]\nadd %r0, %r6\nexit"
    ));
    let (result, _, calls) = case.check(1000);
    assert_eq!((result, calls), (Ok(u64::from(b'l') + 1000), 0));
}

#[test]
fn a_helper_that_may_change_the_input_counts_beside_one_that_keeps_it() {
    // r2, the calls of helper 1 before the run, follows in every run
    // whichever of the two helpers is called first.
    for calls in ["call 4\ncall 1", "call 1\ncall 4"] {
        let case = Case::new(&format!("mov %r6, %r2\n{calls}\nmov %r0, %r6\nexit"));
        let (result, _, calls) = case.check(5);
        assert_eq!((result, calls), (Ok(4), 5));
    }
}
