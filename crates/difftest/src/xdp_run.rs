//! Running one generated xdp program on one packet in Apiary: a fresh
//! runtime with the maps of [`MAPS`] and the output map, the program
//! loaded as xdp, readied for a tier, and run through test-run (so the
//! packet is a packet buffer, whose pointers proven accesses may trust).

use apiary_kernel::types::ProgType;
use apiary_maps::{MapDef, MapType};
use apiary_runtime::{Env, Runtime, TestRunError, TestRunInput, TestRunOutput};
use apiary_vm::{Engine, RunError, Runner};

use crate::backend::{Entries, KEY_SIZE, MAPS, MapShape, RunFailure, create_maps, map_contents};
use crate::diff::without_addresses;
use crate::generate_xdp::{XDP_OUT_VALUE_SIZE, XdpCase, XdpInput};

/// Readies a loaded program for the tier that runs it (the JIT compiles
/// it, perhaps with the verifier's proofs).
pub type Ready<'a> = &'a dyn Fn(&apiary_vm::Program<Env>) -> Result<(), String>;

/// What an xdp run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpOutcome {
    /// Test-run's output (retval, packet, context, events), its duration zeroed.
    pub output: TestRunOutput,
    /// Every map's entries after the run, the output map last.
    pub maps: Vec<Entries>,
}

/// Why an xdp run produced no outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XdpFailure {
    /// Setting up the maps or loading or readying the program failed.
    #[error("{0}")]
    Setup(RunFailure),
    /// Test-run refused the input or the program failed; the message
    /// without host addresses, which differ from runtime to runtime.
    #[error("{message}")]
    Run {
        /// The error's message, addresses replaced by `ADDR`.
        message: String,
        /// The instruction slot the budget stopped the run before, if it
        /// ran out (stepping the budget traces a run's path).
        out_of_budget_at: Option<usize>,
        /// The program touched memory outside its regions: for a program
        /// the verifier accepted, a verifier bug.
        memory_fault: bool,
    },
}

/// The definitions of [`MAPS`] and the output map.
fn xdp_map_defs() -> Vec<MapDef> {
    let mut defs: Vec<MapDef> = MAPS.iter().map(MapShape::def).collect();
    defs.push(MapDef::new(MapType::Array, KEY_SIZE, XDP_OUT_VALUE_SIZE, 1));
    defs
}

/// The verifier's view of the same maps, by the same indexes.
pub fn xdp_map_infos() -> Vec<apiary_verifier::MapInfo> {
    xdp_map_defs()
        .iter()
        .map(crate::verdicts::verifier_map)
        .collect()
}

/// Runs `case` on `input` with `engine`, the program readied by `ready`.
pub fn xdp_outcome(
    case: &XdpCase,
    input: &XdpInput,
    engine: Engine,
    ready: Option<Ready<'_>>,
) -> Result<XdpOutcome, XdpFailure> {
    let slots = apiary_isa::slots_from_bytes(&case.program.bytecode())
        .map_err(|e| XdpFailure::Setup(RunFailure::ApiaryLoad(e.to_string())))?;
    let runtime = Runtime::new(1);
    let ids = create_maps(&runtime, &xdp_map_defs(), &case.maps).map_err(XdpFailure::Setup)?;
    let prog = runtime
        .load_program("xdp", ProgType::XDP, &slots, &ids)
        .map_err(|e| XdpFailure::Setup(RunFailure::ApiaryLoad(e.to_string())))?;
    if let Some(ready) = ready {
        let program = runtime.program(prog).ok_or_else(|| {
            XdpFailure::Setup(RunFailure::ApiaryLoad("the program vanished".into()))
        })?;
        ready(&program).map_err(|e| XdpFailure::Setup(RunFailure::ApiaryLoad(e)))?;
    }
    let mut runner = Runner::new();
    runner.set_budget(input.budget).set_engine(engine);
    let run_input = TestRunInput {
        data_in: Some(&input.packet),
        ctx_in: input.ctx.as_deref(),
        ..TestRunInput::default()
    };
    let mut output = runtime
        .test_run(&mut runner, prog, &run_input)
        .map_err(|error| XdpFailure::Run {
            out_of_budget_at: match error {
                TestRunError::Run(RunError::BudgetExhausted { pc, .. }) => Some(pc),
                _ => None,
            },
            memory_fault: matches!(error, TestRunError::Run(RunError::MemoryFault { .. })),
            message: without_addresses(&error.to_string()),
        })?;
    output.duration_ns = 0;
    Ok(XdpOutcome {
        output,
        maps: map_contents(&runtime, &ids).map_err(XdpFailure::Setup)?,
    })
}

/// Whether `case` gives another outcome than `interpreted` when the
/// interpreter runs it again with the runtime's buffers at other
/// addresses. A privileged program may turn a pointer into a number (the
/// kernel's `allow_ptr_leaks`; `w5 = (s16)w9` of the context pointer, say)
/// and store it: its outcome then depends on where each run's buffers lie,
/// which differs between two runtimes of either tier. Such a difference is
/// not the compiled code's.
fn depends_on_addresses(
    case: &XdpCase,
    input: &XdpInput,
    interpreted: &Result<XdpOutcome, XdpFailure>,
) -> bool {
    // Blocks of the sizes a runtime allocates, held during the second run,
    // so that its buffers cannot take the places the first run's had.
    let occupied: Vec<Vec<u8>> = (4..18).map(|shift| vec![1u8; 1 << shift]).collect();
    let again = xdp_outcome(case, input, Engine::Interpreter, None);
    drop(occupied);
    &again != interpreted
}

/// How the two tiers disagreed on an accepted program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XdpDivergence {
    /// The interpreter stopped a program the verifier accepted at an
    /// access outside its regions: a verifier bug (compiled with the
    /// proofs, the access would have escaped).
    #[error("the interpreter faulted in an accepted program: {0}")]
    Fault(String),
    /// The tiers' outcomes differ.
    #[error("interpreter: {interpreted:?}\ncompiled: {compiled:?}")]
    Differ {
        /// The interpreter's outcome.
        interpreted: Box<Result<XdpOutcome, XdpFailure>>,
        /// The compiled code's outcome.
        compiled: Box<Result<XdpOutcome, XdpFailure>>,
    },
}

/// The verifier's verdict on `case` as an xdp program with its maps.
pub fn verify_xdp(case: &XdpCase) -> Result<apiary_verifier::Accepted, String> {
    let slots =
        apiary_isa::slots_from_bytes(&case.program.bytecode()).map_err(|e| e.to_string())?;
    let maps = xdp_map_infos();
    apiary_verifier::verify(&apiary_verifier::Program::bare(
        &slots,
        ProgType::XDP,
        &maps,
    ))
    .map_err(|rejection| rejection.kernel)
}

/// Runs `case` on `input` in the interpreter and on the tier `ready`
/// readies it for (for an accepted program: compiled with its proofs),
/// and compares everything they give back; returns the interpreter's
/// outcome when they agree.
pub fn xdp_tiers_agree(
    case: &XdpCase,
    input: &XdpInput,
    ready: Ready<'_>,
) -> Result<Result<XdpOutcome, XdpFailure>, XdpDivergence> {
    let interpreted = xdp_outcome(case, input, Engine::Interpreter, None);
    if let Err(XdpFailure::Run {
        message,
        memory_fault: true,
        ..
    }) = &interpreted
    {
        return Err(XdpDivergence::Fault(message.clone()));
    }
    let compiled = xdp_outcome(case, input, Engine::Compiled, Some(ready));
    if interpreted != compiled && !depends_on_addresses(case, input, &interpreted) {
        return Err(XdpDivergence::Differ {
            interpreted: Box::new(interpreted),
            compiled: Box::new(compiled),
        });
    }
    Ok(interpreted)
}
