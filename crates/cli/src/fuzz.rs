//! `apiary fuzz diff` (differential fuzzing against the kernel) and
//! `apiary fuzz verdicts` (the verifiers' verdicts compared).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::CliResult;
use crate::error::CliError;

/// Compares Apiary's verdict with the kernel's on `count` generated
/// programs from `seed`, most made unsafe by a mutation, on `jobs` worker
/// threads (default: one per core); prints up to `examples` disagreements
/// of each direction (the program and both messages), the kernel's
/// refusals per mutation, the time taken, and ends with `N programs, A
/// agree, U accepted by apiary but rejected by the kernel, S rejected by
/// apiary but accepted by the kernel`. Fails when U is not 0.
pub fn verdicts(count: u64, seed: u64, examples: usize, jobs: Option<usize>) -> CliResult {
    apiary_kernel_probe()?;
    let jobs = jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let started = std::time::Instant::now();
    let bar = ProgressBar::new(count);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let summary = apiary_difftest::compare_verdicts(seed, count, jobs, |summary| {
        bar.inc(1);
        if summary.programs.is_multiple_of(256) {
            bar.set_message(format!(
                "{} unsound, {} strict",
                summary.unsound.len(),
                summary.strict.len()
            ));
        }
    })
    .map_err(|e| CliError::at("kernel maps", e))?;
    bar.finish_and_clear();
    let mut out = String::new();
    for (what, list) in [
        (
            "accepted by apiary but rejected by the kernel",
            &summary.unsound,
        ),
        (
            "rejected by apiary but accepted by the kernel",
            &summary.strict,
        ),
    ] {
        for disagreement in list.iter().take(examples) {
            out.push_str(&describe_disagreement(what, disagreement));
        }
    }
    for (mutation, (programs, refused)) in &summary.by_mutation {
        out.push_str(&format!(
            "{}: {programs} programs, {refused} rejected by the kernel\n",
            mutation.name()
        ));
    }
    out.push_str(&timing_line(&summary, started.elapsed(), jobs));
    out.push_str(&summary.line());
    out.push('\n');
    crate::progrun::emit(&out)?;
    Ok(if summary.unsound.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `N programs in T s (P programs/s, J workers); apiary's verifier A s,
/// the kernel's loads K s`: the stages' times are summed over the workers.
fn timing_line(summary: &apiary_difftest::VerdictSummary, wall: Duration, jobs: usize) -> String {
    let seconds = wall.as_secs_f64();
    let rate = if seconds > 0.0 {
        summary.programs as f64 / seconds
    } else {
        0.0
    };
    format!(
        "{} programs in {seconds:.1} s ({rate:.1} programs/s, {jobs} workers); \
         apiary's verifier {:.1} s, the kernel's loads {:.1} s\n",
        summary.programs,
        summary.apiary_time.as_secs_f64(),
        summary.kernel_time.as_secs_f64()
    )
}

/// One disagreement: which way, the seed and mutation, the program, both verdicts.
fn describe_disagreement(what: &str, d: &apiary_difftest::VerdictDisagreement) -> String {
    let verdict = |v: &Result<(), String>| match v {
        Ok(()) => "accepted".to_string(),
        Err(line) => format!("rejected: {line}"),
    };
    // Numbered by slot, as the kernel's messages number instructions.
    let mut slot = 0;
    let mut asm = String::new();
    for insn in d.program.insns() {
        let text = apiary_asm::format_insn(&insn, apiary_asm::Syntax::Llvm);
        asm.push_str(&format!("  {slot:4}: {text}\n"));
        slot += insn.slots();
    }
    format!(
        "{what}: seed {}, {}\n{asm}  apiary: {}\n  kernel: {}\n",
        d.seed,
        d.mutation.name(),
        verdict(&d.apiary),
        verdict(&d.kernel)
    )
}

/// `N programs, K accepted by the kernel, D divergences, W kernel
/// warnings` (or why the kernel log was not watched), after how often
/// Apiary's JIT and interpreter disagree (on every program), then the
/// divergences known kernel bugs explain; fails on any divergence. Kernel
/// warnings are the kernel's bugs, not Apiary's: reported and saved, they
/// do not fail it.
pub fn diff(count: u64, seed: u64, out: Option<&Path>) -> CliResult {
    apiary_kernel_probe()?;
    let bar = ProgressBar::new(count);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let summary = apiary_difftest::fuzz(seed, count, out, Some(crate::progrun::jit), |summary| {
        bar.inc(1);
        if summary.programs.is_multiple_of(256) {
            bar.set_message(format!(
                "{} divergences, {} kernel warnings",
                summary.divergences,
                summary.kernel_warnings.len()
            ));
        }
    })
    .map_err(|e| CliError::at(out.map_or("--out".into(), |p| p.display().to_string()), e))?;
    bar.finish_and_clear();
    for path in &summary.reproducers {
        println!("reproducer: {}", path.display());
    }
    for warning in &summary.kernel_warnings {
        let headline = warning.report.headlines.first().map_or("", String::as_str);
        println!("kernel warning, seed {}: {headline}", warning.seed);
        if let Some(path) = &warning.reproducer {
            println!("reproducer: {}", path.display());
        }
    }
    let first: Vec<u64> = summary.tier_divergences.iter().take(10).copied().collect();
    println!(
        "JIT against the interpreter: {} divergences{}",
        summary.tier_divergences.len(),
        if first.is_empty() {
            String::new()
        } else {
            format!(", seeds {first:?}")
        }
    );
    println!("{}", summary_line(&summary));
    // Divergences that listed kernel bugs explain are not counted above;
    // say how many there were so that they stay visible.
    for (id, programs) in summary.kernel_bug_counts() {
        println!("known kernel bug {id}: {programs} programs");
    }
    if !summary.kernel_unsafe.is_empty() {
        let first: Vec<u64> = summary.kernel_unsafe.iter().take(10).copied().collect();
        println!(
            "not run in the kernel (its translation would crash it): {} programs, seeds {first:?}",
            summary.kernel_unsafe.len()
        );
    }
    Ok(
        if summary.divergences == 0 && summary.tier_divergences.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

/// `N programs, K accepted by the kernel, D divergences, W kernel
/// warnings`, or in place of the last part why the kernel log was not
/// watched.
fn summary_line(summary: &apiary_difftest::Summary) -> String {
    let watched = match &summary.log_unwatched {
        None => format!("{} kernel warnings", summary.kernel_warnings.len()),
        Some(why) => format!("kernel log not watched ({why})"),
    };
    format!(
        "{} programs, {} accepted by the kernel, {} divergences, {watched}",
        summary.programs, summary.accepted, summary.divergences
    )
}

fn apiary_kernel_probe() -> Result<(), CliError> {
    apiary_difftest::kernel_available().map_err(|reason| {
        CliError::at(
            "bpf()",
            format!("the kernel backend is unavailable: {reason}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiary_difftest::{KernelReport, KernelWarning, Summary};

    #[test]
    fn the_timing_line_gives_the_rate_and_each_stage() {
        let summary = apiary_difftest::VerdictSummary {
            programs: 1000,
            apiary_time: Duration::from_millis(2500),
            kernel_time: Duration::from_millis(1300),
            ..apiary_difftest::VerdictSummary::default()
        };
        assert_eq!(
            timing_line(&summary, Duration::from_secs(4), 2),
            "1000 programs in 4.0 s (250.0 programs/s, 2 workers); \
             apiary's verifier 2.5 s, the kernel's loads 1.3 s\n"
        );
        assert!(timing_line(&summary, Duration::ZERO, 1).contains("(0.0 programs/s, 1 workers)"));
    }

    #[test]
    fn the_summary_counts_kernel_warnings_apart_or_says_the_log_was_not_watched() {
        let warning = KernelWarning {
            seed: 2660,
            report: KernelReport {
                headlines: vec!["WARNING: CPU: 1 PID: 7 at kernel/bpf/verifier.c:2809".into()],
                lines: Vec::new(),
                overrun: false,
            },
            reproducer: None,
        };
        let mut summary = Summary {
            programs: 20000,
            accepted: 19000,
            divergences: 0,
            kernel_warnings: vec![warning],
            ..Summary::default()
        };
        assert_eq!(
            summary_line(&summary),
            "20000 programs, 19000 accepted by the kernel, 0 divergences, 1 kernel warnings"
        );
        summary.kernel_warnings.clear();
        summary.log_unwatched = Some("/dev/kmsg: Permission denied (os error 13)".into());
        assert_eq!(
            summary_line(&summary),
            "20000 programs, 19000 accepted by the kernel, 0 divergences, \
             kernel log not watched (/dev/kmsg: Permission denied (os error 13))"
        );
    }
}
