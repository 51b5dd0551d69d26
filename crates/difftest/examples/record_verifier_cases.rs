//! Loads every case of `tests/verifier/*.s` (or the files named) in the
//! running kernel and prints its verdict next to the recorded one; with
//! `--write`, writes the kernel's verdict into each case's `;; expect`
//! line and its other message lines into the `;; detail` lines after it. This is how expectations are recorded: from the kernel, never by
//! hand. With `--log`, each case's whole level-1 verifier log follows its line.
//!
//! ```text
//! cargo run -p apiary-difftest --example record_verifier_cases -- [--write] [--log] [FILE.s ...]
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use apiary_difftest::verifier_cases::{Expect, case_files, kernel_verdict, read_file};

fn main() -> ExitCode {
    let (mut write, mut log) = (false, false);
    let mut files: Vec<PathBuf> = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--write" => write = true,
            "--log" => log = true,
            _ => files.push(arg.into()),
        }
    }
    if files.is_empty() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/verifier");
        files = match case_files(&dir) {
            Ok(files) => files,
            Err(error) => {
                eprintln!("record_verifier_cases: {}: {error}", dir.display());
                return ExitCode::FAILURE;
            }
        };
    }
    let mut failed = false;
    for file in &files {
        if let Err(error) = record(file, write, log) {
            eprintln!("record_verifier_cases: {error}");
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Prints (and with `write` records) the kernel's verdict on each case of
/// `file`, with `log` followed by its verifier log.
fn record(file: &Path, write: bool, log: bool) -> Result<(), String> {
    let cases = read_file(file).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    // Each line of the file, or what replaces it (a case's `;; expect` and
    // `;; detail` lines become the kernel's, all in the `;; expect` slot).
    let mut lines: Vec<Vec<String>> = text.lines().map(|l| vec![l.to_owned()]).collect();
    let (mut accepts, mut rejects) = (0, 0);
    for case in &cases {
        let (verdict, detail, kernel_log) = match kernel_verdict(case) {
            Ok(kernel) => (kernel.verdict, kernel.detail, kernel.log),
            Err(error) => {
                println!("{}: not loaded: {error}", case.location());
                continue;
            }
        };
        let intended_accept = case.expect == Expect::Accept;
        let accepted = verdict == Expect::Accept;
        if accepted {
            accepts += 1;
        } else {
            rejects += 1;
        }
        let mark = if verdict == case.expect && detail == case.detail {
            "same"
        } else if intended_accept != accepted {
            "VERDICT DIFFERS"
        } else {
            "line differs"
        };
        println!(
            "{}: kernel: {verdict} [{mark}; recorded: {}]",
            case.location(),
            case.expect
        );
        if log {
            println!("{kernel_log}");
        }
        let header = case.expect_line - 1;
        for old in lines.iter_mut().skip(header).take(case.detail.len() + 1) {
            old.clear();
        }
        if let Some(slot) = lines.get_mut(header) {
            slot.extend(detail.iter().map(|d| format!(";; detail {d}")));
            slot.insert(0, format!(";; expect {verdict}"));
        }
    }
    println!(
        "{}: {} cases, {accepts} accepted, {rejects} rejected",
        file.display(),
        cases.len()
    );
    if write {
        let mut out = lines.concat().join("\n");
        out.push('\n');
        std::fs::write(file, out).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(())
}
