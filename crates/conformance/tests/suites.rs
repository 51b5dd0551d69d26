//! Runs the shared conformance suites: every bpf_conformance test and the
//! applicable uBPF tests (the others are listed, with reasons, in
//! `tests/ubpf-not-applicable.txt`).

use std::path::{Path, PathBuf};

use apiary_conformance::{
    FileOutcome, collect_data_files, failures, run_files, whole_suite_passed,
};

/// The shared conformance suites, or `None` after skipping `test`.
fn shared_conformance(test: &str) -> Option<PathBuf> {
    match apiary_testskip::shared("conformance") {
        Ok(dir) => Some(dir),
        Err(reason) => apiary_testskip::skip(test, reason),
    }
}

fn run_dir(dir: &Path) -> Vec<FileOutcome> {
    let mut files = Vec::new();
    collect_data_files(dir, &mut files).expect("listing the suite");
    run_files(&files)
}

#[test]
fn bpf_conformance_suite_passes_completely() {
    let Some(shared) = shared_conformance("bpf_conformance_suite_passes_completely") else {
        return;
    };
    let outcomes = run_dir(&shared.join("bpf_conformance/tests"));
    if let Err(problem) = whole_suite_passed(&outcomes) {
        panic!("{problem}");
    }
}

/// Parses `ubpf-not-applicable.txt`: `path<TAB or spaces>reason` per line, `#` comments.
fn not_applicable() -> Vec<(String, String)> {
    include_str!("ubpf-not-applicable.txt")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (path, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            (path.to_string(), reason.trim().to_string())
        })
        .collect()
}

#[test]
fn applicable_ubpf_tests_pass() {
    let Some(shared) = shared_conformance("applicable_ubpf_tests_pass") else {
        return;
    };
    let root = shared.join("ubpf/tests");
    let skipped = not_applicable();
    for (path, reason) in &skipped {
        assert!(!reason.is_empty(), "{path} is listed without a reason");
        assert!(
            root.join(path).is_file(),
            "{path} is listed but does not exist"
        );
    }
    let outcomes = run_dir(&root);
    let (listed, applicable): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(|o| {
        let relative = o.path.strip_prefix(&root).unwrap_or(&o.path);
        skipped.iter().any(|(path, _)| Path::new(path) == relative)
    });
    assert_eq!(
        listed.len(),
        skipped.len(),
        "every listed test is found exactly once"
    );
    let failed = failures(&applicable);
    assert!(
        failed.is_empty(),
        "{} failures:\n{}",
        failed.len(),
        failed.join("\n")
    );
    // A listed test that now passes should leave the list.
    let passing_listed: Vec<_> = listed
        .iter()
        .filter(|o| o.verdict.is_pass())
        .map(|o| o.path.display().to_string())
        .collect();
    assert!(
        passing_listed.is_empty(),
        "listed as not applicable but passing: {passing_listed:?}"
    );
    eprintln!(
        "uBPF: {} applicable tests passed, {} not applicable",
        applicable.len(),
        listed.len()
    );
}
