//! Comparing the backends on generated programs, shrinking divergences and
//! writing them as reproducers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use apiary_vm::Helpers;

use crate::backend::{Outcome, RunFailure, apiary_run, kernel_load, kernel_run};
use crate::generate::{Case, PROLOGUE_LEN, generate};

/// How one program fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The verifier refused it, so there is nothing to compare.
    Rejected(String),
    /// Both backends produced the same r0 (low 32 bits) and context.
    Agree,
    /// The backends disagree.
    Diverge {
        /// The kernel's result.
        kernel: Result<Outcome, RunFailure>,
        /// Apiary's result.
        apiary: Result<Outcome, RunFailure>,
    },
}

/// Runs `case` in both backends and compares.
pub fn check(case: &Case, helpers: &Arc<Helpers<()>>) -> Verdict {
    let bytecode = case.program.bytecode();
    let prog = match kernel_load(&bytecode) {
        Ok(prog) => prog,
        Err(RunFailure::Rejected(reason)) => return Verdict::Rejected(reason),
        Err(other) => {
            return Verdict::Diverge {
                kernel: Err(other),
                apiary: apiary_run(&bytecode, &case.ctx, 0, helpers, None),
            };
        }
    };
    let kernel = kernel_run(&prog, &case.ctx);
    let apiary = apiary_run(&bytecode, &case.ctx, 0, helpers, None);
    let same = match (&kernel, &apiary) {
        (Ok(k), Ok(a)) => k.r0 == a.r0 & 0xffff_ffff && k.ctx == a.ctx,
        _ => false,
    };
    if same {
        Verdict::Agree
    } else {
        Verdict::Diverge { kernel, apiary }
    }
}

/// Drops instructions after the prologue one at a time, keeping each drop
/// after which the program still diverges, until no single drop does.
pub fn shrink(case: &Case, helpers: &Arc<Helpers<()>>) -> Case {
    let mut best = case.clone();
    let mut progress = true;
    while progress {
        progress = false;
        let mut index = PROLOGUE_LEN;
        while index < best.program.len() {
            let candidate = Case {
                program: best.program.without(index),
                ctx: best.ctx.clone(),
            };
            if matches!(check(&candidate, helpers), Verdict::Diverge { .. }) {
                best = candidate;
                progress = true;
            } else {
                index += 1;
            }
        }
    }
    best
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn describe(result: &Result<Outcome, RunFailure>) -> String {
    match result {
        Ok(outcome) => format!("r0 = {:#x}, ctx = {}", outcome.r0, hex(&outcome.ctx)),
        Err(failure) => failure.to_string(),
    }
}

/// Writes `case` as `DIR/diverge-SEED.s`: a comment header with the context
/// (r1 points to it) and both results, then the program in LLVM syntax.
pub fn write_reproducer(
    dir: &Path,
    seed: u64,
    case: &Case,
    verdict: &Verdict,
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("diverge-{seed}.s"));
    let mut text = format!(
        "; apiary fuzz diff, seed {seed}: run as a BPF_PROG_TYPE_SYSCALL program\n\
         ; ctx (r1 points to it, {} bytes): {}\n",
        case.ctx.len(),
        hex(&case.ctx)
    );
    if let Verdict::Diverge { kernel, apiary } = verdict {
        text += &format!(
            "; kernel: {}\n; apiary: {}\n",
            describe(kernel),
            describe(apiary)
        );
    }
    text += &case.program.to_asm();
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Totals of a fuzzing run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Programs generated.
    pub programs: u64,
    /// Programs the verifier accepted.
    pub accepted: u64,
    /// Accepted programs on which the backends disagree.
    pub divergences: u64,
    /// Reproducer files written.
    pub reproducers: Vec<PathBuf>,
}

/// Generates and checks the programs of seeds `first..first + count`,
/// shrinking each divergence and writing it to `out` when given.
/// `on_program` is called after each program (for progress reports).
pub fn fuzz(
    first: u64,
    count: u64,
    out: Option<&Path>,
    mut on_program: impl FnMut(&Summary),
) -> std::io::Result<Summary> {
    let helpers = Arc::new(Helpers::new());
    let mut summary = Summary::default();
    for seed in first..first.saturating_add(count) {
        let case = generate(seed);
        summary.programs += 1;
        match check(&case, &helpers) {
            Verdict::Rejected(_) => {}
            Verdict::Agree => summary.accepted += 1,
            Verdict::Diverge { .. } => {
                summary.accepted += 1;
                summary.divergences += 1;
                if let Some(dir) = out {
                    let small = shrink(&case, &helpers);
                    let verdict = check(&small, &helpers);
                    summary
                        .reproducers
                        .push(write_reproducer(dir, seed, &small, &verdict)?);
                }
            }
        }
        on_program(&summary);
    }
    Ok(summary)
}
