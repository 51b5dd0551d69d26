//! `apiary fuzz diff`: differential fuzzing against the kernel.

use std::path::Path;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};

use crate::CliResult;
use crate::error::CliError;

/// Runs `count` random programs from `seed` in both backends and prints
/// `N programs, K accepted by the kernel, D divergences`, then the
/// divergences known kernel bugs explain, then how often Apiary's JIT and
/// interpreter disagree (on every program); fails on any divergence.
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
            bar.set_message(format!("{} divergences", summary.divergences));
        }
    })
    .map_err(|e| CliError::at(out.map_or("--out".into(), |p| p.display().to_string()), e))?;
    bar.finish_and_clear();
    for path in &summary.reproducers {
        println!("reproducer: {}", path.display());
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
    println!(
        "{} programs, {} accepted by the kernel, {} divergences",
        summary.programs, summary.accepted, summary.divergences
    );
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

fn apiary_kernel_probe() -> Result<(), CliError> {
    apiary_difftest::kernel_available().map_err(|reason| {
        CliError::at(
            "bpf()",
            format!("the kernel backend is unavailable: {reason}"),
        )
    })
}
