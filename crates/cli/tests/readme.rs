//! The README's quick start cannot rot: its ```` ```sh title="quick start" ````
//! block runs line by line (with `apiary` being this build's binary, in a
//! scratch directory that sees the repository's `examples/`), every
//! command must succeed, and what they print must be what the README's
//! ```` ```text title="quick start output" ```` block shows (durations
//! aside, and the hash map's elements in any order). Then every example
//! of the README's CLI reference table runs on what the quick start made,
//! except the few listed in [`NOT_RUN`] with the reason.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const APIARY: &str = env!("CARGO_BIN_EXE_apiary");
const REPOSITORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// The lines of the fenced block opened by exactly `opening`.
fn fenced_block(readme: &str, opening: &str) -> Vec<String> {
    let mut lines = readme.lines().skip_while(|line| line.trim() != opening);
    assert!(
        lines.next().is_some(),
        "README.md has no block opened by {opening}"
    );
    let block: Vec<String> = lines
        .take_while(|line| line.trim() != "```")
        .map(str::to_owned)
        .collect();
    assert!(!block.is_empty(), "the {opening} block is empty");
    block
}

/// Output lines that differ between runs: the time per packet.
fn is_duration(line: &str) -> bool {
    line.starts_with("average duration: ") && line.ends_with("ns per packet")
}

/// The JSON dump starting at the first line that opens an array, as
/// sorted element texts.
fn dumped_elements(lines: &[&str]) -> Vec<String> {
    let start = lines
        .iter()
        .position(|line| line.starts_with('['))
        .expect("a JSON dump");
    common::sorted_json_elements(&lines[start..].join("\n"), "the quick start's map dump")
}

/// The lines before the JSON dump, durations blanked.
fn text_lines<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    lines
        .iter()
        .take_while(|line| !line.starts_with('['))
        .map(|line| {
            if is_duration(line) {
                "average duration: (varies)"
            } else {
                line
            }
        })
        .collect()
}

/// Reference-table rows (by their command cell) whose example this test
/// does not run, and why.
const NOT_RUN: [(&str, &str); 5] = [
    (
        "conformance",
        "the suite lives outside the repository (../shared)",
    ),
    (
        "conformance-plugin",
        "needs bpf_conformance_runner, not part of Apiary",
    ),
    ("map pop", "the quick start makes no queue or stack"),
    (
        "xdp run",
        "needs root and a live interface; crates/cli/tests/xdp_run.rs runs it in namespaces",
    ),
    ("fuzz diff", "needs root and runs for minutes"),
];

/// The CLI reference table's rows: (command cell, example, description),
/// backticks removed from the first two.
fn reference_rows(readme: &str) -> Vec<(String, String, String)> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("The CLI `apiary`: reference"))
        .expect("README.md has the CLI reference section");
    section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").collect();
            assert_eq!(cells.len(), 3, "reference row {line:?}");
            let plain = |cell: &str| cell.trim().replace('`', "");
            (plain(cells[0]), plain(cells[1]), cells[2].trim().to_owned())
        })
        .collect()
}

/// What a description says the command prints (`prints `...``), up to
/// the duration, which varies.
fn promised_output(description: &str) -> Option<&str> {
    let after = description.split("prints `").nth(1)?;
    let printed = after.split('`').next()?;
    Some(printed.split(", duration").next().unwrap_or(printed))
}

/// Runs one README command line in `dir`, `apiary` being this build's
/// binary; panics with the command's stderr when it fails.
fn run_readme_line(command: &str, dir: &Path, what: &str) -> String {
    let line = match command.strip_prefix("apiary ") {
        Some(rest) => format!("{APIARY} {rest}"),
        None => command.to_owned(),
    };
    let out = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .current_dir(dir)
        .output()
        .expect("running sh");
    assert!(
        out.status.success(),
        "README {what}: `{command}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn readme_quick_start_runs_and_prints_what_it_shows() {
    if !Command::new("clang-19")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        eprintln!("SKIPPED: the README's quick start because clang-19 cannot be run");
        return;
    }
    let readme = std::fs::read_to_string(Path::new(REPOSITORY).join("README.md"))
        .expect("reading README.md");
    let commands = fenced_block(&readme, "```sh title=\"quick start\"");
    let expected = fenced_block(&readme, "```text title=\"quick start output\"");

    let scratch = Scratch(
        std::env::temp_dir().join(format!("apiary-readme-quick-start-{}", std::process::id())),
    );
    let _ = std::fs::remove_dir_all(&scratch.0);
    std::fs::create_dir_all(&scratch.0).expect("scratch directory");
    let examples = Path::new(REPOSITORY).join("examples");
    std::os::unix::fs::symlink(
        examples.canonicalize().expect("examples/"),
        scratch.0.join("examples"),
    )
    .expect("linking examples/");

    let mut printed = String::new();
    for command in commands.iter().filter(|c| !c.trim().is_empty()) {
        printed.push_str(&run_readme_line(command, &scratch.0, "quick start"));
    }
    assert!(
        scratch.0.join("passed.pcapng").exists(),
        "--out wrote no capture"
    );

    let printed: Vec<&str> = printed.lines().collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(text_lines(&printed), text_lines(&expected));
    assert_eq!(dumped_elements(&printed), dumped_elements(&expected));

    // The reference table, in its order, on the quick start's files.
    let frame = &apiary_corpus::traffic::packets()[0].frame;
    std::fs::write(scratch.0.join("frame.bin"), frame).expect("frame.bin");
    let rows = reference_rows(&readme);
    let mut not_run: Vec<&str> = Vec::new();
    for (command, example, description) in &rows {
        if let Some((name, _)) = NOT_RUN.iter().find(|(name, _)| name == command) {
            not_run.push(name);
            continue;
        }
        let what = format!("reference row {command}");
        let output = run_readme_line(example, &scratch.0, &what);
        if let Some(promise) = promised_output(description) {
            assert!(
                output.contains(promise),
                "{what}: `{example}` printed {output:?}, the README says {promise:?}"
            );
        }
    }
    let listed: Vec<&str> = NOT_RUN.iter().map(|(name, _)| *name).collect();
    assert_eq!(not_run, listed, "every NOT_RUN row is still in the README");
    assert!(rows.len() > 10, "the reference lists every subcommand");
}
