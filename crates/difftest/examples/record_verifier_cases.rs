//! Loads every case of `tests/verifier/*.s` (or the files named) in the
//! running kernel and prints its verdict next to the recorded one; with
//! `--write`, writes the kernel's verdict into each case's `;; expect`
//! line. This is how expectations are recorded: from the kernel, never by hand.
//!
//! ```text
//! cargo run -p apiary-difftest --example record_verifier_cases -- [--write] [FILE.s ...]
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use apiary_difftest::verifier_cases::{Expect, case_files, kernel_verdict, read_file};

fn main() -> ExitCode {
    let mut write = false;
    let mut files: Vec<PathBuf> = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--write" => write = true,
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
        if let Err(error) = record(file, write) {
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

/// Prints (and with `write` records) the kernel's verdict on each case of `file`.
fn record(file: &Path, write: bool) -> Result<(), String> {
    let cases = read_file(file).map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let (mut accepts, mut rejects) = (0, 0);
    for case in &cases {
        let verdict = match kernel_verdict(case) {
            Ok(verdict) => verdict.verdict,
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
        let mark = if verdict == case.expect {
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
        if let Some(line) = lines.get_mut(case.expect_line - 1) {
            *line = format!(";; expect {verdict}");
        }
    }
    println!(
        "{}: {} cases, {accepts} accepted, {rejects} rejected",
        file.display(),
        cases.len()
    );
    if write {
        let mut out = lines.join("\n");
        out.push('\n');
        std::fs::write(file, out).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(())
}
