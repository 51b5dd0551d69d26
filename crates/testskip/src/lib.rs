//! The one way a test in the Apiary workspace skips (a dev-dependency only).
//!
//! A test that cannot check what it is about must not return early and
//! "pass": it returns through this crate, which names the test and the
//! reason, prints `SKIPPED: <test>: <reason>` to stderr and appends the same
//! line to the skip log, so that a run can list and count what it did not
//! check (`.ci/run` ends with that list).
//!
//! A reason ([`Reason`]) is one of two kinds:
//! - a **probed host refusal** ([`refused`]): the test asked the host for an
//!   optional capability (created an arena map, loaded an `fentry` program,
//!   read a kernel config option) and the host said no. It carries what was
//!   probed and the host's answer. Such skips are legitimate everywhere.
//! - a **missing prerequisite** ([`missing`]): no root, `bpf()` unusable,
//!   clang-19, bpftool or `../shared` absent. The project's machines have all
//!   of them, so when the environment variable `CI` is set (non-empty) such a
//!   skip panics instead: the test fails naming what is missing.
//!
//! The skip log is the file named by `APIARY_SKIP_LOG`, or
//! `<workspace>/target/apiary-skips.log`. Each skip is one `write` of one
//! line to a file opened with `O_APPEND`, so test binaries running in
//! parallel do not interleave their lines.
//!
//! The skip functions return `T::default()` so that a call site is one line
//! whatever its function returns: `()` in a test, `None` in a helper that
//! returns `Option`, `false` in a check that returns `bool`:
//!
//! ```no_run
//! fn kernel_available() -> Result<(), String> { Err("bpf() returns EPERM".into()) }
//! # fn compares_with_the_kernel() {
//! if let Err(reason) = kernel_available() {
//!     return apiary_testskip::missing("compares_with_the_kernel", reason);
//! }
//! # }
//! ```
//!
//! This crate must not decide by itself whether a capability is there:
//! callers probe (apiary-kernel's probes, a tool run through [`tool`], a
//! path under [`shared`], the kernel's BTF through [`vmlinux_btf`], the
//! user through [`root`]) and pass the answer on.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why a test did not check what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The host was asked for an optional capability and refused it.
    Refused {
        /// What was asked, e.g. `BPF_MAP_CREATE of an arena map`.
        probed: String,
        /// The host's answer, e.g. `EPERM (Operation not permitted)`.
        answer: String,
    },
    /// Something the test needs is not there (root, `bpf()`, a tool, data).
    Missing(String),
}

impl Reason {
    /// A probed host refusal: `probed` was asked, `answer` came back.
    pub fn refused(probed: impl fmt::Display, answer: impl fmt::Display) -> Self {
        Reason::Refused {
            probed: probed.to_string(),
            answer: answer.to_string(),
        }
    }

    /// A missing prerequisite, described by `what`.
    pub fn missing(what: impl fmt::Display) -> Self {
        Reason::Missing(what.to_string())
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Refused { probed, answer } => write!(f, "host refused {probed}: {answer}"),
            Reason::Missing(what) => write!(f, "missing prerequisite: {what}"),
        }
    }
}

/// Skips `test` for `reason`: prints and logs the skip, or panics when
/// `reason` is a missing prerequisite and `CI` is set.
///
/// # Panics
/// Under CI for a missing prerequisite, and when the skip log cannot be
/// written (a skip that is not recorded would be a silent pass).
#[track_caller]
pub fn skip<T: Default>(test: &str, reason: Reason) -> T {
    if matches!(reason, Reason::Missing(_)) && under_ci() {
        panic!(
            "{test}: {reason} (CI is set: on CI machines every prerequisite must be \
             present, so this fails instead of skipping)"
        );
    }
    let line = format!("SKIPPED: {test}: {reason}\n");
    eprint!("{line}");
    let log = log_path();
    if let Err(error) = append(&log, &line) {
        panic!(
            "{test}: cannot record the skip in {}: {error}",
            log.display()
        );
    }
    T::default()
}

/// Skips `test` because the host refused `probed` with `answer`
/// (shorthand for [`skip`] with [`Reason::refused`]).
#[track_caller]
pub fn refused<T: Default>(test: &str, probed: impl fmt::Display, answer: impl fmt::Display) -> T {
    skip(test, Reason::refused(probed, answer))
}

/// Skips `test` because `what` is missing (shorthand for [`skip`] with
/// [`Reason::missing`]); panics instead under CI.
#[track_caller]
pub fn missing<T: Default>(test: &str, what: impl fmt::Display) -> T {
    skip(test, Reason::missing(what))
}

/// Whether `CI` is set to a non-empty value.
pub fn under_ci() -> bool {
    std::env::var_os("CI").is_some_and(|value| !value.is_empty())
}

/// The skip log: `APIARY_SKIP_LOG`, or `<workspace>/target/apiary-skips.log`.
pub fn log_path() -> PathBuf {
    match std::env::var_os("APIARY_SKIP_LOG") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => workspace().join("target/apiary-skips.log"),
    }
}

/// Runs `program arg` (e.g. `bpftool version`); a missing prerequisite when
/// it cannot be started or exits unsuccessfully.
pub fn tool(program: &str, arg: &str) -> Result<(), Reason> {
    match Command::new(program).arg(arg).output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => Err(Reason::missing(format!(
            "`{program} {arg}` exits with {}",
            output.status
        ))),
        Err(error) => Err(Reason::missing(format!("`{program}` cannot run: {error}"))),
    }
}

/// Whether this process runs as root (effective uid 0, from
/// `/proc/self/status`); a missing prerequisite when not.
pub fn root() -> Result<(), Reason> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1));
    match euid {
        Some("0") => Ok(()),
        Some(euid) => Err(Reason::missing(format!(
            "root (loading programs needs it; the effective uid is {euid})"
        ))),
        None => Err(Reason::missing(
            "root (loading programs needs it; /proc/self/status names no uid)",
        )),
    }
}

/// Where the running kernel publishes its BTF.
pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

/// The running kernel's BTF ([`VMLINUX`]); a probed host refusal when the
/// kernel does not publish it (built without `CONFIG_DEBUG_INFO_BTF`).
pub fn vmlinux_btf() -> Result<Vec<u8>, Reason> {
    std::fs::read(VMLINUX).map_err(|error| {
        Reason::refused(format!("reading {VMLINUX} (CONFIG_DEBUG_INFO_BTF)"), error)
    })
}

/// `relative` inside the shared test data (the conformance suites and
/// notes): `$APIARY_SHARED/<relative>` when that variable is set, else
/// `../shared/<relative>` beside the workspace. A missing prerequisite when
/// it does not exist.
pub fn shared(relative: &str) -> Result<PathBuf, Reason> {
    let root = match std::env::var_os("APIARY_SHARED") {
        Some(root) if !root.is_empty() => PathBuf::from(root),
        _ => workspace().parent().unwrap_or(workspace()).join("shared"),
    };
    let path = root.join(relative);
    if path.exists() {
        Ok(path)
    } else {
        Err(Reason::missing(format!(
            "{} is absent (the shared test data lives in ../shared beside the \
             repository, or where APIARY_SHARED points)",
            path.display()
        )))
    }
}

/// The workspace root: this crate lives in `<workspace>/crates/testskip`.
fn workspace() -> &'static Path {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).unwrap_or(manifest)
}

/// Appends `line` with one `write` on an `O_APPEND` descriptor, creating the
/// file (and its directory) if needed.
fn append(path: &Path, line: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let written = file.write(line.as_bytes())?;
    if written == line.len() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "short write: {written} of {} bytes",
            line.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_say_their_kind() {
        assert_eq!(
            Reason::refused("BPF_MAP_CREATE of an arena map", "EPERM").to_string(),
            "host refused BPF_MAP_CREATE of an arena map: EPERM"
        );
        assert_eq!(
            Reason::missing("bpftool is not installed").to_string(),
            "missing prerequisite: bpftool is not installed"
        );
    }

    #[test]
    fn appended_lines_stay_whole() {
        let dir = std::env::temp_dir().join(format!("apiary-testskip-{}", std::process::id()));
        let log = dir.join("skips.log");
        let _ = std::fs::remove_dir_all(&dir);
        let writers: Vec<_> = (0..8)
            .map(|n| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        append(&log, &format!("SKIPPED: writer {n}: line {i}\n")).unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        let text = std::fs::read_to_string(&log).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(text.lines().count(), 400);
        assert!(
            text.lines()
                .all(|l| l.starts_with("SKIPPED: writer ") && l.contains(": line ")),
            "{text}"
        );
    }

    /// Skips once with the kind named by `APIARY_TESTSKIP_KIND`; run only as
    /// a child process by [`skips_are_logged_and_missing_ones_fail_under_ci`],
    /// which sets the environment (tests must not change their own).
    #[test]
    #[ignore = "run as a child process with its own environment"]
    fn child_skips_once() {
        match std::env::var("APIARY_TESTSKIP_KIND").as_deref() {
            Ok("refused") => refused("child", "BPF_MAP_CREATE of an arena map", "EPERM"),
            Ok("missing") => missing("child", "bpftool is not installed"),
            other => panic!("APIARY_TESTSKIP_KIND is {other:?}"),
        }
    }

    /// Runs [`child_skips_once`] with `kind`, `CI` set or not, and a fresh
    /// skip log; its success and the log's text.
    fn run_child(kind: &str, ci: bool) -> (bool, String) {
        let dir = std::env::temp_dir().join(format!(
            "apiary-testskip-child-{}-{kind}-{ci}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let log = dir.join("skips.log");
        let mut child = Command::new(std::env::current_exe().unwrap());
        child
            .args(["--ignored", "--exact", "tests::child_skips_once"])
            .env("APIARY_TESTSKIP_KIND", kind)
            .env("APIARY_SKIP_LOG", &log)
            .env_remove("CI");
        if ci {
            child.env("CI", "1");
        }
        let status = child.output().unwrap().status;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        (status.success(), text)
    }

    #[test]
    fn skips_are_logged_and_missing_ones_fail_under_ci() {
        let refusal = "SKIPPED: child: host refused BPF_MAP_CREATE of an arena map: EPERM\n";
        let absence = "SKIPPED: child: missing prerequisite: bpftool is not installed\n";
        assert_eq!(run_child("refused", false), (true, refusal.to_owned()));
        assert_eq!(run_child("refused", true), (true, refusal.to_owned()));
        assert_eq!(run_child("missing", false), (true, absence.to_owned()));
        assert_eq!(run_child("missing", true), (false, String::new()));
    }

    #[test]
    fn a_missing_tool_is_a_missing_prerequisite() {
        let reason = tool("apiary-no-such-program", "--version").unwrap_err();
        assert!(matches!(reason, Reason::Missing(_)), "{reason}");
        assert!(reason.to_string().contains("apiary-no-such-program"));
    }

    #[test]
    fn a_missing_shared_path_names_itself() {
        let reason = shared("no/such/suite").unwrap_err();
        assert!(reason.to_string().contains("no/such/suite"), "{reason}");
    }
}
