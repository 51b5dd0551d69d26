//! The README's quick start cannot rot: its ```` ```sh title="quick start" ````
//! block runs line by line (with `apiary` being this build's binary, in a
//! scratch directory that sees the repository's `examples/`), every
//! command must succeed, and what they print must be what the README's
//! ```` ```text title="quick start output" ```` block shows (durations
//! aside, and the hash map's elements in any order).

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
        let line = match command.strip_prefix("apiary ") {
            Some(rest) => format!("{APIARY} {rest}"),
            None => command.clone(),
        };
        let out = Command::new("sh")
            .arg("-c")
            .arg(&line)
            .current_dir(&scratch.0)
            .output()
            .expect("running sh");
        assert!(
            out.status.success(),
            "README quick start: `{command}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        printed.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    assert!(
        scratch.0.join("passed.pcapng").exists(),
        "--out wrote no capture"
    );

    let printed: Vec<&str> = printed.lines().collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(text_lines(&printed), text_lines(&expected));
    assert_eq!(dumped_elements(&printed), dumped_elements(&expected));
}
