//! Comparing the backends on generated programs, recognising known kernel
//! bugs, shrinking the other divergences and writing them as reproducers.

use std::path::{Path, PathBuf};

use apiary_kernel::ProgFd;
use thiserror::Error;

use crate::backend::{
    Entries, KernelMaps, Outcome, PrepareProgram, RunFailure, apiary_outcome, apiary_outcome_on,
    kernel_load_runnable, kernel_run, kernel_verifier_log,
};
use crate::generate::{Case, PROLOGUE_LEN, generate};
use crate::kernel_log::{KernelReport, LogWatch};
use crate::known::{KernelBug, ListError, known_divergences};
use crate::program::{BranchError, Program};

/// How one program fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The verifier refused it, so there is nothing to compare.
    Rejected(String),
    /// Both backends produced the same r0 (low 32 bits), context and maps.
    Agree,
    /// The verifier accepted the program, but the kernel would crash
    /// running its translation, so nothing was compared.
    KernelUnsafe(String),
    /// The backends disagree because of listed kernel bugs: the kernel's
    /// result on the program rewritten around them is Apiary's.
    KnownKernelBug {
        /// The bugs whose workarounds made the kernel agree.
        bugs: Vec<KernelBug>,
        /// The kernel's result on the original program.
        kernel: Outcome,
        /// Apiary's result.
        apiary: Outcome,
    },
    /// The backends disagree.
    Diverge {
        /// The kernel's result.
        kernel: Result<Outcome, RunFailure>,
        /// Apiary's result.
        apiary: Result<Outcome, RunFailure>,
    },
}

/// Why the comparison cannot start.
#[derive(Debug, Error)]
pub enum HarnessError {
    /// `kernel-divergences.txt` does not parse.
    #[error("kernel-divergences.txt: {0}")]
    KnownList(#[from] ListError),
    /// The kernel maps could not be created.
    #[error("{0}")]
    Maps(RunFailure),
}

/// The kernel maps every case uses and the kernel bugs divergences may be
/// put down to.
#[derive(Debug)]
pub struct Harness {
    maps: KernelMaps,
    known: Vec<KernelBug>,
}

impl Harness {
    /// A harness recognising the bugs listed in `kernel-divergences.txt`.
    pub fn new() -> Result<Harness, HarnessError> {
        let known = known_divergences()?.into_iter().map(|k| k.bug).collect();
        Harness::recognising(known)
    }

    /// A harness recognising only `known` (none: every divergence is reported).
    pub fn recognising(known: Vec<KernelBug>) -> Result<Harness, HarnessError> {
        Ok(Harness {
            maps: KernelMaps::create().map_err(HarnessError::Maps)?,
            known,
        })
    }

    /// Loads `program` in the kernel and runs it on the case's input,
    /// unless the verifier's translation would crash the kernel.
    fn kernel(&self, program: &Program, case: &Case) -> Result<(Outcome, ProgFd), RunFailure> {
        let prog = kernel_load_runnable(&program.bytecode(), &self.maps.fds())?;
        self.maps.reset(&case.maps)?;
        let (r0, ctx) = kernel_run(&prog, &case.ctx)?;
        let outcome = Outcome {
            r0,
            ctx,
            maps: self.maps.entries()?,
        };
        Ok((outcome, prog))
    }

    /// Runs `case` in both backends and compares.
    pub fn check(&self, case: &Case) -> Verdict {
        let apiary = || apiary_outcome(&case.program.bytecode(), &case.ctx, &case.maps, None);
        let (kernel, prog) = match self.kernel(&case.program, case) {
            Ok(result) => result,
            Err(RunFailure::Rejected(reason)) => return Verdict::Rejected(reason),
            Err(RunFailure::KernelUnsafe(reason)) => return Verdict::KernelUnsafe(reason),
            Err(other) => {
                return Verdict::Diverge {
                    kernel: Err(other),
                    apiary: apiary(),
                };
            }
        };
        let apiary = match apiary() {
            Ok(apiary) if kernel.agrees_with(&apiary) => return Verdict::Agree,
            Ok(apiary) => apiary,
            Err(failure) => {
                return Verdict::Diverge {
                    kernel: Ok(kernel),
                    apiary: Err(failure),
                };
            }
        };
        match self.explain(case, &prog, &apiary) {
            Some(bugs) => Verdict::KnownKernelBug {
                bugs,
                kernel,
                apiary,
            },
            None => Verdict::Diverge {
                kernel: Ok(kernel),
                apiary: Ok(apiary),
            },
        }
    }

    /// The listed bugs that explain the divergence of `case`: each alone,
    /// then all that apply together, the first set whose workarounds leave
    /// Apiary's result as it is and bring the kernel's to it.
    fn explain(&self, case: &Case, prog: &ProgFd, apiary: &Outcome) -> Option<Vec<KernelBug>> {
        let xlated = prog
            .info(true)
            .ok()
            .and_then(|info| info.xlated_insns)
            .unwrap_or_default();
        let candidates: Vec<KernelBug> = self
            .known
            .iter()
            .copied()
            .filter(|bug| bug.applies(&case.program) && bug.visible_in_xlated(&xlated))
            .collect();
        let mut attempts: Vec<Vec<KernelBug>> = candidates.iter().map(|&bug| vec![bug]).collect();
        if candidates.len() > 1 {
            attempts.push(candidates);
        }
        attempts
            .into_iter()
            .find(|bugs| self.workarounds_agree(case, bugs, apiary))
    }

    fn workarounds_agree(&self, case: &Case, bugs: &[KernelBug], apiary: &Outcome) -> bool {
        let program = bugs.iter().fold(case.program.clone(), |program, bug| {
            bug.workaround(&program)
        });
        let rewritten = Case {
            program,
            ..case.clone()
        };
        let neutral = apiary_outcome(
            &rewritten.program.bytecode(),
            &rewritten.ctx,
            &rewritten.maps,
            None,
        )
        .is_ok_and(|outcome| outcome == *apiary);
        neutral
            && self
                .kernel(&rewritten.program, &rewritten)
                .is_ok_and(|(kernel, _)| kernel.agrees_with(apiary))
    }

    /// Drops instructions after the prologue one at a time, keeping each
    /// drop after which the program still diverges for an unknown reason,
    /// until no single drop does.
    pub fn shrink(&self, case: &Case) -> Case {
        self.shrink_while(case, |candidate| {
            matches!(self.check(candidate), Verdict::Diverge { .. })
        })
    }

    /// Drops instructions after the prologue one at a time, keeping each
    /// drop after which the verifier still writes `bug` (`verifier bug:
    /// WHAT (WHERE)`) into its log, until no single drop does.
    pub fn shrink_to_verifier_bug(&self, case: &Case, bug: &str) -> Case {
        self.shrink_while(case, |candidate| {
            self.verifier_log(&candidate.program).contains(bug)
        })
    }

    /// The verifier's whole log for `program` with this harness's maps
    /// (see [`kernel_verifier_log`]).
    pub fn verifier_log(&self, program: &Program) -> String {
        kernel_verifier_log(&program.bytecode(), &self.maps.fds())
    }

    fn shrink_while(&self, case: &Case, still: impl Fn(&Case) -> bool) -> Case {
        let mut best = case.clone();
        let mut progress = true;
        while progress {
            progress = false;
            let mut index = PROLOGUE_LEN;
            while index < best.program.len() {
                let candidate = Case {
                    program: best.program.without(index),
                    ..best.clone()
                };
                if still(&candidate) {
                    best = candidate;
                    progress = true;
                } else {
                    index += 1;
                }
            }
        }
        best
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn describe_maps(maps: &[Entries]) -> String {
    maps.iter()
        .enumerate()
        .map(|(index, entries)| {
            let pairs: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}={}", hex(k), hex(v)))
                .collect();
            format!("map {index} [{}]", pairs.join(" "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(result: &Result<Outcome, RunFailure>) -> String {
    match result {
        Ok(outcome) => format!(
            "r0 = {:#x}, ctx = {}, {}",
            outcome.r0,
            hex(&outcome.ctx),
            describe_maps(&outcome.maps)
        ),
        Err(failure) => failure.to_string(),
    }
}

/// The comment header of a reproducer: where it comes from, the context
/// (r1 points to it) and the maps' initial entries.
fn reproducer_header(seed: u64, case: &Case) -> String {
    let mut text = format!(
        "; apiary fuzz diff, seed {seed}: run as a BPF_PROG_TYPE_SYSCALL program\n\
         ; ctx (r1 points to it, {} bytes): {}\n",
        case.ctx.len(),
        hex(&case.ctx)
    );
    for (index, entries) in case.maps.iter().enumerate() {
        let pairs: Vec<String> = entries
            .iter()
            .map(|(k, v)| format!("{}={}", hex(k), hex(v)))
            .collect();
        text += &format!("; map {index}: {}\n", pairs.join(" "));
    }
    text
}

/// Writes `case` as `DIR/diverge-SEED.s`: a comment header with the context
/// (r1 points to it), the maps' initial entries and both results, then the
/// program in LLVM syntax. [`parse_reproducer`] reads it back.
pub fn write_reproducer(
    dir: &Path,
    seed: u64,
    case: &Case,
    verdict: &Verdict,
) -> std::io::Result<PathBuf> {
    let mut text = reproducer_header(seed, case);
    if let Verdict::Diverge { kernel, apiary } = verdict {
        text += &format!(
            "; kernel: {}\n; apiary: {}\n",
            describe(kernel),
            describe(apiary)
        );
    }
    text += &case.program.to_asm();
    write_file(dir, &format!("diverge-{seed}.s"), &text)
}

/// Writes `case`, from the seed whose program made the kernel log
/// `report`, as `DIR/kernel-warning-SEED.s`: the header of
/// [`write_reproducer`], the kernel's report as comments, then the
/// program. `shrunk_while` is the verifier inconsistency that shrinking
/// kept in the verifier's log, if `case` was shrunk. [`parse_reproducer`]
/// reads it back.
pub fn write_kernel_warning(
    dir: &Path,
    seed: u64,
    case: &Case,
    report: &KernelReport,
    shrunk_while: Option<&str>,
) -> std::io::Result<PathBuf> {
    let mut text = reproducer_header(seed, case);
    if let Some(bug) = shrunk_while {
        text += &format!("; shrunk while the verifier's log (log_level 2) still says: {bug}\n");
    }
    // Each line behind `kmsg:`, so that none reads as a `ctx` or `map` line.
    text += &format!("; the kernel logged, loading seed {seed}'s program:\n");
    for line in &report.lines {
        text += &format!("; kmsg: {line}\n");
    }
    if report.overrun {
        text += "; (the kernel log was overrun: lines may be missing)\n";
    }
    text += &case.program.to_asm();
    write_file(dir, &format!("kernel-warning-{seed}.s"), &text)
}

fn write_file(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Why a reproducer file cannot be read back.
#[derive(Debug, Error)]
pub enum ReproducerError {
    /// A `; ctx` or `; map` line holds something other than hex.
    #[error("line {line}: bad hex {text:?}")]
    BadHex {
        /// 1-based line number.
        line: usize,
        /// The offending text.
        text: String,
    },
    /// There is no `; ctx` line.
    #[error("no `; ctx ...: HEX` line")]
    NoContext,
    /// The program does not assemble.
    #[error("{0}")]
    Assemble(#[from] apiary_asm::AsmError),
    /// A branch leaves the program.
    #[error("{0}")]
    Branch(#[from] BranchError),
}

fn unhex(text: &str, line: usize) -> Result<Vec<u8>, ReproducerError> {
    let bad = || ReproducerError::BadHex {
        line,
        text: text.to_string(),
    };
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return Err(bad());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

/// Reads a reproducer written by [`write_reproducer`] (or by hand in its
/// format): `; ctx (...): HEX`, optional `; map N: KEY=VALUE ...` lines,
/// other `;` comments, and the program in assembler syntax.
pub fn parse_reproducer(text: &str) -> Result<Case, ReproducerError> {
    let mut ctx = None;
    let mut maps: Vec<Entries> = Vec::new();
    let mut source = String::new();
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        let Some(comment) = line.strip_prefix(';') else {
            source += line;
            source += "\n";
            continue;
        };
        let comment = comment.trim();
        if let Some(rest) = comment.strip_prefix("ctx")
            && let Some((_, bytes)) = rest.split_once(':')
        {
            ctx = Some(unhex(bytes.trim(), number)?);
        } else if let Some(rest) = comment.strip_prefix("map ")
            && let Some((_, pairs)) = rest.split_once(':')
        {
            let mut entries = Entries::new();
            for pair in pairs.split_whitespace() {
                let (key, value) = pair.split_once('=').ok_or(ReproducerError::BadHex {
                    line: number,
                    text: pair.to_string(),
                })?;
                entries.push((unhex(key, number)?, unhex(value, number)?));
            }
            maps.push(entries);
        }
    }
    let insns = apiary_asm::assemble(&source)?;
    Ok(Case {
        program: Program::from_insns(&insns)?,
        ctx: ctx.ok_or(ReproducerError::NoContext)?,
        maps,
    })
}

/// A program whose loading made the kernel report a bug in its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelWarning {
    /// The generated program's seed.
    pub seed: u64,
    /// What the kernel logged.
    pub report: KernelReport,
    /// The reproducer written (with `--out`).
    pub reproducer: Option<PathBuf>,
}

/// Totals of a fuzzing run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Programs generated.
    pub programs: u64,
    /// Programs the verifier accepted.
    pub accepted: u64,
    /// Accepted programs on which the backends disagree for no listed reason.
    pub divergences: u64,
    /// Seeds the verifier accepted but whose translation would crash the
    /// kernel (not run there, not compared).
    pub kernel_unsafe: Vec<u64>,
    /// Seeds whose divergence listed kernel bugs explain, with the bugs.
    pub kernel_bugs: Vec<(u64, Vec<KernelBug>)>,
    /// Reproducer files of divergences written.
    pub reproducers: Vec<PathBuf>,
    /// Programs whose loading made the kernel log a warning, a BUG or an
    /// oops: kernel bugs, counted apart from divergences.
    pub kernel_warnings: Vec<KernelWarning>,
    /// Why the kernel log was not watched (then `kernel_warnings` is empty
    /// for want of looking).
    pub log_unwatched: Option<String>,
    /// Seeds on which Apiary's second tier (the JIT), when one was
    /// given, disagrees with its interpreter (any program, accepted by the
    /// kernel or not).
    pub tier_divergences: Vec<u64>,
}

impl Summary {
    /// How many divergent programs each known kernel bug explained, by the
    /// bug's id in `kernel-divergences.txt`.
    pub fn kernel_bug_counts(&self) -> std::collections::BTreeMap<&'static str, u64> {
        let mut counts = std::collections::BTreeMap::new();
        for bug in self.kernel_bugs.iter().flat_map(|(_, bugs)| bugs) {
            *counts.entry(bug.id()).or_default() += 1;
        }
        counts
    }
}

/// `text` with every `0x...` number (host addresses, which differ between
/// two runs of the same program) replaced by `ADDR`.
pub fn without_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("0x") {
        out.push_str(&rest[..at]);
        out.push_str("ADDR");
        rest = rest[at + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    out.push_str(rest);
    out
}

/// Whether Apiary's interpreter and the tier `prepare` readies programs
/// for give `case` the same outcome (failures compared without addresses).
pub fn tiers_agree(case: &Case, prepare: PrepareProgram) -> bool {
    let bytecode = case.program.bytecode();
    let run = |prepare| {
        apiary_outcome_on(&bytecode, &case.ctx, &case.maps, None, prepare)
            .map_err(|failure| without_addresses(&format!("{failure:?}")))
    };
    run(None) == run(Some(prepare))
}

/// Generates and checks the programs of seeds `first..first + count`,
/// shrinking each divergence and writing it to `out` when given; with a
/// `tier`, also compares Apiary's two tiers on every program.
/// `on_program` is called after each program (for progress reports).
///
/// The kernel log is watched throughout (when `/dev/kmsg` is readable):
/// what it reports while a seed's program, or a variant of it (a
/// workaround, a shrinking step), is loaded and run is put down to that
/// seed, and the program is written to `out` as `kernel-warning-SEED.s`,
/// shrunk while the verifier still reports the same inconsistency. The log
/// is the whole machine's: another process's warning in that moment would
/// be put down to the seed too (the reproducer then does not shrink, its
/// verifier log showing nothing). The kernel prints each `WARN_ONCE` once
/// per boot, so later programs tripping the same check go unseen.
pub fn fuzz(
    first: u64,
    count: u64,
    out: Option<&Path>,
    tier: Option<PrepareProgram>,
    mut on_program: impl FnMut(&Summary),
) -> std::io::Result<Summary> {
    let harness = Harness::new().map_err(std::io::Error::other)?;
    let mut summary = Summary::default();
    let mut watch = match LogWatch::start() {
        Ok(watch) => Some(watch),
        Err(why) => {
            summary.log_unwatched = Some(why.to_string());
            None
        }
    };
    for seed in first..first.saturating_add(count) {
        let case = generate(seed);
        summary.programs += 1;
        if let Some(prepare) = tier
            && !tiers_agree(&case, prepare)
        {
            summary.tier_divergences.push(seed);
        }
        match harness.check(&case) {
            Verdict::Rejected(_) => {}
            Verdict::Agree => summary.accepted += 1,
            Verdict::KernelUnsafe(_) => {
                summary.accepted += 1;
                summary.kernel_unsafe.push(seed);
            }
            Verdict::KnownKernelBug { bugs, .. } => {
                summary.accepted += 1;
                summary.kernel_bugs.push((seed, bugs));
            }
            Verdict::Diverge { .. } => {
                summary.accepted += 1;
                summary.divergences += 1;
                if let Some(dir) = out {
                    let small = harness.shrink(&case);
                    let verdict = harness.check(&small);
                    summary
                        .reproducers
                        .push(write_reproducer(dir, seed, &small, &verdict)?);
                }
            }
        }
        if let Some(log) = watch.as_mut() {
            match log.new_report() {
                Ok(Some(report)) => {
                    let warning = kernel_warning(&harness, seed, &case, report, out)?;
                    summary.kernel_warnings.push(warning);
                }
                Ok(None) => {}
                Err(why) => {
                    summary.log_unwatched = Some(format!("stopped reading it: {why}"));
                    watch = None;
                }
            }
        }
        on_program(&summary);
    }
    Ok(summary)
}

/// The warning `report` put down to `case`, its reproducer written to `out`.
fn kernel_warning(
    harness: &Harness,
    seed: u64,
    case: &Case,
    report: KernelReport,
    out: Option<&Path>,
) -> std::io::Result<KernelWarning> {
    let reproducer = match out {
        Some(dir) => {
            let shrink_by = report
                .verifier_bug()
                .filter(|bug| harness.verifier_log(&case.program).contains(bug));
            let small = match shrink_by {
                Some(bug) => harness.shrink_to_verifier_bug(case, bug),
                None => case.clone(),
            };
            Some(write_kernel_warning(dir, seed, &small, &report, shrink_by)?)
        }
        None => None,
    };
    Ok(KernelWarning {
        seed,
        report,
        reproducer,
    })
}
