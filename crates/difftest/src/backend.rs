//! Running one program with one context in each backend.

use std::sync::Arc;

use apiary_kernel::types::{ProgType, prog_flags};
use apiary_kernel::{Error as KernelError, ProgFd, ProgLoadAttrs, TestRunAttrs};
use apiary_vm::{Helpers, Program, Region, RunInput, Runner};
use thiserror::Error;

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// r0 at exit (the kernel reports only its low 32 bits).
    pub r0: u64,
    /// The context after the run.
    pub ctx: Vec<u8>,
}

/// Why a backend produced no outcome.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RunFailure {
    /// The verifier refused the program; the reason is its log's verdict line.
    #[error("kernel rejected the program: {0}")]
    Rejected(String),
    /// The kernel loaded the program but `BPF_PROG_TEST_RUN` failed.
    #[error("kernel test run failed: {0}")]
    TestRun(String),
    /// Apiary's interpreter refused to load the program.
    #[error("apiary refused the program: {0}")]
    ApiaryLoad(String),
    /// Apiary's interpreter stopped abnormally.
    #[error("apiary run failed: {0}")]
    ApiaryRun(String),
}

/// The line of a verifier log that says why it refused: the last one
/// before the statistics (`processed N insns ...`).
pub fn rejection_reason(log: &str) -> String {
    log.lines()
        .map(str::trim)
        .rfind(|line| {
            !line.is_empty()
                && !line.starts_with("processed ")
                && !line.starts_with("verification time")
                && !line.starts_with("stack depth")
        })
        .unwrap_or("no verifier log")
        .to_string()
}

/// Loads `bytecode` as a privileged, sleepable `syscall` program.
fn load(bytecode: &[u8], log_level: u32) -> Result<ProgFd, KernelError> {
    ProgFd::load(&ProgLoadAttrs {
        prog_type: ProgType::SYSCALL,
        prog_flags: prog_flags::SLEEPABLE,
        insns: bytecode,
        license: "GPL",
        log_level,
        ..ProgLoadAttrs::default()
    })
    .map(|loaded| loaded.prog)
}

/// Loads `bytecode` in the kernel as a `syscall` program, or says why the verifier refused.
pub fn kernel_load(bytecode: &[u8]) -> Result<ProgFd, RunFailure> {
    // Loading without a log is much faster; the log is only wanted for the reason.
    load(bytecode, 0).or_else(|_| match load(bytecode, 1) {
        Ok(prog) => Ok(prog),
        Err(KernelError::ProgLoad { log, errno }) if log.trim().is_empty() => Err(
            RunFailure::Rejected(format!("{errno} without a verifier log")),
        ),
        Err(KernelError::ProgLoad { log, .. }) => Err(RunFailure::Rejected(rejection_reason(&log))),
        Err(other) => Err(RunFailure::Rejected(other.to_string())),
    })
}

/// Runs a loaded `syscall` program on `ctx`; the kernel copies the context back.
pub fn kernel_run(prog: &ProgFd, ctx: &[u8]) -> Result<Outcome, RunFailure> {
    let mut buffer = ctx.to_vec();
    let out = prog
        .test_run(&TestRunAttrs {
            ctx_in: &buffer,
            ..TestRunAttrs::default()
        })
        .map_err(|e| RunFailure::TestRun(e.to_string()))?;
    // The kernel wrote the context back into `buffer` behind the shared
    // borrow (apiary-kernel takes `ctx_in` as `&[u8]`); black_box keeps the
    // compiler from assuming the bytes are unchanged.
    let ctx = std::hint::black_box(buffer.as_mut_slice()).to_vec();
    Ok(Outcome {
        r0: u64::from(out.retval),
        ctx,
    })
}

/// Runs `bytecode` in Apiary's interpreter with r1 = the context, r2 = `r2`.
pub fn apiary_run(
    bytecode: &[u8],
    ctx: &[u8],
    r2: u64,
    helpers: &Arc<Helpers<()>>,
    budget: Option<u64>,
) -> Result<Outcome, RunFailure> {
    let slots = apiary_isa::slots_from_bytes(bytecode)
        .map_err(|e| RunFailure::ApiaryLoad(e.to_string()))?;
    let program =
        Program::new(&slots, helpers.clone()).map_err(|e| RunFailure::ApiaryLoad(e.to_string()))?;
    let mut buffer = ctx.to_vec();
    let addr = buffer.as_ptr() as u64;
    let regions = [Region::writable(&mut buffer)];
    let mut runner = Runner::new();
    runner.set_budget(budget);
    let r0 = runner
        .run(
            &program,
            &mut (),
            &RunInput {
                args: [addr, r2, 0, 0, 0],
                regions: &regions,
                packet: None,
            },
        )
        .map_err(|e| RunFailure::ApiaryRun(e.to_string()))?;
    Ok(Outcome { r0, ctx: buffer })
}
