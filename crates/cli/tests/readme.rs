//! The README cannot rot: every fenced block of it is checked here, or in
//! `crates/apiary/tests/readme.rs` (the Rust block), or listed in
//! [`BLOCKS_NOT_RUN`] with the reason.
//!
//! The quick start runs as printed: `./quickstart` from the repository's
//! root, whose stdout must be the ```` ```text title="quick start output" ````
//! block (durations aside, the hash map's elements in any order) and which
//! must leave nothing new for git outside its ignored scratch folder; the
//! "by hand" block must be the commands the script runs. Then, in that
//! scratch folder and with the `PATH` the README sets, every example of the
//! CLI reference table (except the few in [`ROWS_NOT_RUN`]) and every other
//! shell block runs, and must succeed and print what the README says.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const REPOSITORY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Where the quick start works, relative to the repository's root.
const SCRATCH: &str = "scratch/quickstart";

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

/// Every fenced block of the README: (opening line, first content line).
fn all_blocks(readme: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.starts_with("```") && line.trim() != "```" {
            let first = lines.next().unwrap_or_default().to_owned();
            blocks.push((line.trim().to_owned(), first));
            lines.by_ref().find(|l| l.trim() == "```");
        }
    }
    blocks
}

/// README blocks (by their first line) that no test runs, and why.
const BLOCKS_NOT_RUN: [(&str, &str); 3] = [
    (".ci/run", "it runs this test suite"),
    (
        "section \"socket1\": ",
        "an excerpt of prog load's lines on legacy objects (elided with ...); \
         crates/cli/tests/legacy.rs checks those lines whole",
    ),
    (
        "bpf_conformance_runner ",
        "needs bpf_conformance's runner, not part of Apiary",
    ),
];

/// The README blocks with a title, each run or compared by this test,
/// except the Rust block, which `crates/apiary/tests/readme.rs` compares
/// with the compiled example (and the "library example" block runs).
const BLOCKS_CHECKED: [&str; 9] = [
    "```sh title=\"quick start\"",
    "```sh title=\"quick start by hand\"",
    "```text title=\"quick start output\"",
    "```sh title=\"frame.bin\"",
    "```sh title=\"examples\"",
    "```toml title=\"dependency\"",
    "```rust",
    "```sh title=\"library example\"",
    "```sh title=\"ring buffer example\"",
];

/// Output lines that differ between runs: the time per packet and the throughput.
fn is_duration(line: &str) -> bool {
    line.starts_with("average duration: ") && line.ends_with(" packets/s on one core")
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
const ROWS_NOT_RUN: [(&str, &str); 6] = [
    (
        "conformance",
        "the suite is a clone of bpf_conformance, outside the repository",
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
    ("fuzz verdicts", "needs root and runs for minutes"),
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

/// Runs one README command line with `sh` in `dir`, with the `PATH` the
/// quick start sets; panics with the command's stderr when it fails and
/// returns its stdout.
fn run_readme_line(command: &str, dir: &Path, what: &str) -> String {
    let release = Path::new(REPOSITORY).join("target/release");
    let path = format!(
        "{}:{}",
        release.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .expect("running sh");
    assert!(
        out.status.success(),
        "README {what}: `{command}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `git status --porcelain` of the repository (untracked files listed one
/// by one), or `None` when it is not a git checkout.
fn git_status() -> Option<String> {
    let Output { status, stdout, .. } = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=all"])
        .current_dir(REPOSITORY)
        .output()
        .ok()?;
    status
        .success()
        .then(|| String::from_utf8_lossy(&stdout).into_owned())
}

/// Why `./quickstart` would install packages (which a test must not do),
/// judged by the script's own checks; `None` when all it needs is here.
fn quickstart_would_install() -> Option<String> {
    let missing: Vec<&str> = ["clang-19", "cc", "cargo"]
        .into_iter()
        .filter(|tool| {
            !Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {tool}"))
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .chain(
            (!Path::new("/usr/include/bpf/bpf_helpers.h").exists()).then_some("libbpf's headers"),
        )
        .collect();
    (!missing.is_empty()).then(|| format!("{} missing", missing.join(", ")))
}

/// The lines of `quickstart` between its README markers.
fn quickstart_commands() -> Vec<String> {
    let script = std::fs::read_to_string(Path::new(REPOSITORY).join("quickstart"))
        .expect("reading quickstart");
    script
        .lines()
        .skip_while(|line| !line.starts_with("# README begin"))
        .skip(1)
        .take_while(|line| !line.starts_with("# README end"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_readme_block_is_checked_or_says_why_not() {
    let readme = std::fs::read_to_string(Path::new(REPOSITORY).join("README.md"))
        .expect("reading README.md");
    for (opening, first) in all_blocks(&readme) {
        let checked = BLOCKS_CHECKED.contains(&opening.as_str());
        let excused = BLOCKS_NOT_RUN
            .iter()
            .any(|(start, _)| first.starts_with(start));
        assert!(
            checked || excused,
            "README block {opening} starting {first:?} is neither checked nor listed as not run"
        );
    }
}

#[test]
fn readme_quick_start_runs_as_printed_then_every_example_on_what_it_made() {
    if let Some(why) = quickstart_would_install() {
        return apiary_testskip::missing(
            "readme_quick_start_runs_as_printed_then_every_example_on_what_it_made",
            why,
        );
    }
    let readme = std::fs::read_to_string(Path::new(REPOSITORY).join("README.md"))
        .expect("reading README.md");
    let repository = Path::new(REPOSITORY);

    // The README's by-hand commands are the script's.
    assert_eq!(
        fenced_block(&readme, "```sh title=\"quick start by hand\""),
        quickstart_commands(),
        "the README's quick start by hand is not what ./quickstart runs"
    );

    let before = git_status();
    let commands = fenced_block(&readme, "```sh title=\"quick start\"");
    assert_eq!(commands, ["./quickstart"], "the quick start is one command");
    let printed = run_readme_line(&commands[0], repository, "quick start");
    let after = git_status();
    match (before, after) {
        (Some(before), Some(after)) => assert_eq!(
            before, after,
            "./quickstart changed what git sees outside {SCRATCH}"
        ),
        _ => apiary_testskip::missing(
            "the check that ./quickstart leaves git clean",
            "a git checkout (git status failed here)",
        ),
    }

    let expected = fenced_block(&readme, "```text title=\"quick start output\"");
    let printed: Vec<&str> = printed.lines().collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(text_lines(&printed), text_lines(&expected));
    assert_eq!(dumped_elements(&printed), dumped_elements(&expected));
    // What the README's explanation says, independently of its block: all
    // 37 frames pass, then the 5 from the two blocked sources are dropped.
    let histograms = text_lines(&printed).join("\n");
    assert!(histograms.contains("packets: 37, written: 37, failed: 0\n  XDP_PASS  37"));
    assert!(
        histograms.contains("packets: 37, written: 32, failed: 0\n  XDP_DROP  5\n  XDP_PASS  32")
    );

    let scratch = repository.join(SCRATCH);
    for made in [
        "fw.o",
        "fw-maps/rule_hits",
        "fw-maps/blocklist",
        "passed.pcapng",
    ] {
        assert!(
            scratch.join(made).exists(),
            "the quick start made no {made}"
        );
    }
    run_examples_in_scratch(&readme, &scratch);
}

/// Every block and reference example the README runs in the quick
/// start's scratch folder, in the README's order.
fn run_examples_in_scratch(readme: &str, scratch: &Path) {
    for line in fenced_block(readme, "```sh title=\"frame.bin\"") {
        run_readme_line(&line, scratch, "frame.bin");
    }
    let frame = std::fs::read(scratch.join("frame.bin")).expect("frame.bin");
    assert_eq!(
        frame,
        apiary_corpus::traffic::packets()[0].frame,
        "frame.bin is not the capture's first frame"
    );

    let rows = reference_rows(readme);
    let mut not_run: Vec<&str> = Vec::new();
    for (command, example, description) in &rows {
        if let Some((name, _)) = ROWS_NOT_RUN.iter().find(|(name, _)| name == command) {
            not_run.push(name);
            continue;
        }
        let what = format!("reference row {command}");
        let output = run_readme_line(example, scratch, &what);
        if let Some(promise) = promised_output(description) {
            assert!(
                output.contains(promise),
                "{what}: `{example}` printed {output:?}, the README says {promise:?}"
            );
        }
    }
    let listed: Vec<&str> = ROWS_NOT_RUN.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        not_run, listed,
        "every ROWS_NOT_RUN row is still in the README"
    );
    assert!(rows.len() > 10, "the reference lists every subcommand");

    let [example] = &fenced_block(readme, "```sh title=\"examples\"")[..] else {
        panic!("the examples block is one command");
    };
    let output = run_readme_line(example, scratch, "examples");
    assert!(output.contains("Return value: 2, duration: "), "{output}");
    assert_eq!(
        std::fs::read(scratch.join("out.bin")).expect("out.bin"),
        frame,
        "XDP_PASS leaves the frame unchanged"
    );

    let mut library = String::new();
    for line in fenced_block(readme, "```sh title=\"library example\"") {
        library.push_str(&run_readme_line(&line, scratch, "library example"));
    }
    assert_eq!(library, "verdict 2\n");

    let mut ring = String::new();
    for line in fenced_block(readme, "```sh title=\"ring buffer example\"") {
        ring.push_str(&run_readme_line(&line, scratch, "ring buffer example"));
    }
    let records: Vec<&str> = ring.lines().collect();
    assert_eq!(records.len(), 37, "one record per frame: {ring}");
    assert!(
        records[0].starts_with("FlowEvent { seq: 1, len: 54, eth_proto: 2048, ip_proto: 6,"),
        "the first record, as examples/ringbuf_events/README.md describes it: {}",
        records[0]
    );
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The README's `Cargo.toml` lines make a crate next to a clone of the
/// repository depend on the facade `apiary`: Cargo resolves it (offline,
/// from the crates this workspace already fetched).
#[test]
fn readme_dependency_line_resolves_to_the_facade_crate() {
    let readme = std::fs::read_to_string(Path::new(REPOSITORY).join("README.md"))
        .expect("reading README.md");
    let dependency = fenced_block(&readme, "```toml title=\"dependency\"").join("\n");
    let temp = TempDir(
        std::env::temp_dir().join(format!("apiary-readme-dependency-{}", std::process::id())),
    );
    let user = temp.0.join("user");
    std::fs::create_dir_all(user.join("src")).expect("temp crate");
    let clone = Path::new(REPOSITORY).canonicalize().expect("repository");
    std::os::unix::fs::symlink(clone, temp.0.join("apiary")).expect("linking the clone");
    std::fs::write(
        user.join("Cargo.toml"),
        format!("[package]\nname = \"user\"\nedition = \"2024\"\n\n{dependency}\n"),
    )
    .expect("Cargo.toml");
    std::fs::write(user.join("src/main.rs"), "fn main() {}\n").expect("main.rs");
    let host = Command::new("rustc")
        .args(["--print", "host-tuple"])
        .output()
        .expect("running rustc");
    let host = String::from_utf8_lossy(&host.stdout).trim().to_owned();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Only this platform's dependencies: the others were never fetched.
    let out = Command::new(cargo)
        .args(["metadata", "--offline", "--format-version", "1"])
        .args(["--filter-platform", &host])
        .current_dir(&user)
        .output()
        .expect("running cargo metadata");
    assert!(
        out.status.success(),
        "cargo cannot resolve the README's dependency: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let facade = temp.0.join("apiary/crates/apiary/Cargo.toml");
    let found = metadata["packages"].as_array().is_some_and(|packages| {
        packages.iter().any(|p| {
            p["name"] == "apiary"
                && p["manifest_path"].as_str().map(Path::new) == Some(facade.as_path())
        })
    });
    assert!(
        found,
        "the dependency is not this repository's crates/apiary"
    );
}
