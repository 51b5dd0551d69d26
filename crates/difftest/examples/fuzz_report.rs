//! `apiary fuzz diff` with the whole summary: besides `N programs, K
//! accepted by the kernel, D divergences`, how many divergences listed
//! kernel bugs explain (per bug) and how many programs were not run in the
//! kernel because their translation would crash it.
//!
//! `cargo run --release -p apiary-difftest --example fuzz_report -- COUNT [SEED] [OUT]`

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |index: usize, default: u64| {
        args.get(index)
            .map_or(Ok(default), |text| text.parse::<u64>())
    };
    let (Ok(count), Ok(seed)) = (number(0, 10_000), number(1, 1)) else {
        eprintln!("usage: fuzz_report COUNT [SEED] [OUT]");
        return ExitCode::FAILURE;
    };
    if let Err(reason) = apiary_difftest::kernel_available() {
        eprintln!("the kernel backend is unavailable: {reason}");
        return ExitCode::FAILURE;
    }
    let started = Instant::now();
    let summary = match apiary_difftest::fuzz(seed, count, args.get(2).map(Path::new), |_| {}) {
        Ok(summary) => summary,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let mut per_bug: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, bugs) in &summary.kernel_bugs {
        for bug in bugs {
            *per_bug.entry(bug.id()).or_default() += 1;
        }
    }
    for path in &summary.reproducers {
        println!("reproducer: {}", path.display());
    }
    println!(
        "{} programs, {} accepted by the kernel, {} divergences ({:.1} s)",
        summary.programs,
        summary.accepted,
        summary.divergences,
        started.elapsed().as_secs_f64()
    );
    for (id, seen) in per_bug {
        println!("known kernel bug {id}: {seen} programs");
    }
    let first_unsafe: Vec<u64> = summary.kernel_unsafe.iter().take(10).copied().collect();
    println!(
        "not run in the kernel (translation would crash it): {} programs {first_unsafe:?}",
        summary.kernel_unsafe.len()
    );
    if summary.divergences == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
