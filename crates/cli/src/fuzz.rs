//! `apiary fuzz diff`: differential fuzzing against the kernel.

use std::path::Path;
use std::process::ExitCode;

use indicatif::{ProgressBar, ProgressStyle};

use crate::CliResult;
use crate::error::CliError;

/// Runs `count` random programs from `seed` in both backends and prints
/// `N programs, K accepted by the kernel, D divergences`; fails when D > 0.
pub fn diff(count: u64, seed: u64, out: Option<&Path>) -> CliResult {
    apiary_kernel_probe()?;
    let bar = ProgressBar::new(count);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let summary = apiary_difftest::fuzz(seed, count, out, |summary| {
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
    println!(
        "{} programs, {} accepted by the kernel, {} divergences",
        summary.programs, summary.accepted, summary.divergences
    );
    Ok(if summary.divergences == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn apiary_kernel_probe() -> Result<(), CliError> {
    apiary_difftest::kernel_available().map_err(|reason| {
        CliError::at(
            "bpf()",
            format!("the kernel backend is unavailable: {reason}"),
        )
    })
}
