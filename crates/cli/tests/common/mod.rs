//! Helpers shared by the CLI's integration tests.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// A JSON array dump's elements as sorted texts, so that dumps of hash
/// maps (whose order follows the map's hash seed) compare whatever the
/// order; panics, naming `what`, when `text` is not a JSON array.
pub fn sorted_json_elements(text: &str, what: &str) -> Vec<String> {
    let value: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON ({e}): {text}"));
    let mut elements: Vec<String> = value
        .as_array()
        .unwrap_or_else(|| panic!("{what} is not a JSON array: {text}"))
        .iter()
        .map(ToString::to_string)
        .collect();
    elements.sort();
    elements
}

/// Runs the built `apiary` binary with `args`.
pub fn apiary(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_apiary"))
        .args(args)
        .output()
        .expect("running apiary")
}

/// Bytes as text, invalid UTF-8 replaced.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a failure reported as exactly one `apiary: ...` line containing `needle`.
pub fn assert_one_line_error(output: &Output, needle: &str) {
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "expected failure: {stderr:?}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr:?}");
    assert!(stderr.starts_with("apiary: "), "{stderr:?}");
    assert!(
        stderr.contains(needle),
        "{stderr:?} should contain {needle:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr:?}");
}

/// A path in this test process's scratch directory (created).
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("apiary-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating a scratch dir");
    dir.join(name)
}

/// Compiles a C program with clang-19 as the corpus does, in the scratch
/// directory, so that its line info names the file `NAME.c`; `None` after
/// skipping `test` when clang cannot be run.
pub fn compile_c(name: &str, source: &str, test: &str) -> Option<PathBuf> {
    let c = scratch(&format!("{name}.c"));
    let object = scratch(&format!("{name}.o"));
    std::fs::write(&c, source).unwrap();
    let arch = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let compiled = Command::new("clang-19")
        .current_dir(c.parent().expect("the scratch directory"))
        .args(["-target", "bpf", "-O2", "-g", "-c", &arch])
        .arg(format!("{name}.c"))
        .arg("-o")
        .arg(&object)
        .output();
    match compiled {
        Ok(out) if out.status.success() => Some(object),
        Ok(out) => panic!("clang-19 failed: {}", text(&out.stderr)),
        Err(e) => apiary_testskip::missing(test, format!("clang-19 cannot be run: {e}")),
    }
}

/// Whether `bpf()` works here; skips `test` when not.
pub fn kernel_usable(test: &str) -> bool {
    match apiary_kernel::probe() {
        Ok(()) => true,
        Err(reason) => apiary_testskip::missing(test, format!("bpf() is unavailable: {reason}")),
    }
}

/// Whether `bpf()` and bpftool work here; skips `test` when not.
pub fn kernel_and_bpftool(test: &str) -> bool {
    kernel_usable(test)
        && match apiary_testskip::tool("bpftool", "version") {
            Ok(()) => true,
            Err(reason) => apiary_testskip::skip(test, reason),
        }
}

/// The XDP firewall example (which passes what it does not block), or
/// `None` after skipping `test`.
pub fn firewall(test: &str) -> Option<PathBuf> {
    match apiary_corpus::example("xdp_firewall") {
        Ok(object) => Some(object.path().to_owned()),
        Err(reason) => apiary_testskip::missing(test, reason),
    }
}
