//! Apiary's verifier on every case of `tests/verifier/*.s`, against the
//! verdict and final log line the kernel 6.18 gave for it (recorded in the
//! case's `;; expect` header; `apiary-difftest`'s `verifier_cases` test
//! checks the recordings against the running kernel). No kernel is needed
//! here: the recordings are the expectation.
//!
//! Disagreements are listed in `tests/case_disagreements.txt`, one
//! `FILE/CASE KIND REASON` per line, KIND being `unsound-accept` (Apiary
//! accepts what the kernel refuses), `over-strict` (Apiary refuses what
//! the kernel accepts), `message` (both refuse, with other final lines) or
//! `detail` (the same final line, other message lines before it: the
//! recorded `;; detail` lines).
//! The test fails on a disagreement missing from the list and on a listed
//! case that now agrees or disagrees otherwise: the list may only shrink.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use apiary_difftest::verifier_cases::{Case, Expect, case_files, read_file};
use apiary_verifier::{Rejection, verify};

mod case_program;
use case_program::CaseInputs;

const KNOWN: &str = include_str!("case_disagreements.txt");

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/verifier")
}

/// Apiary's verdict on `case`, loaded as the recorder loads it.
fn apiary_verdict(case: &Case) -> Result<(), Box<Rejection>> {
    let inputs = CaseInputs::of(case);
    verify(&inputs.program(case)).map(drop)
}

/// How Apiary's verdict on a case differs from the kernel's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    UnsoundAccept,
    OverStrict,
    Message,
    Detail,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::UnsoundAccept => "unsound-accept",
            Kind::OverStrict => "over-strict",
            Kind::Message => "message",
            Kind::Detail => "detail",
        }
    }
}

/// The disagreement between `ours` and the recorded expectation, with a
/// line describing both, or `None` when they agree on verdict and line.
fn compare(case: &Case, ours: &Result<(), Box<Rejection>>) -> Option<(Kind, String)> {
    let (kind, apiary) = match (&case.expect, ours) {
        (Expect::Accept, Ok(())) => return None,
        (Expect::Reject(Some(line)), Err(r)) if *line == r.kernel => {
            if r.kernel_context == case.detail {
                return None;
            }
            (
                Kind::Detail,
                format!("refuses after {:?}", r.kernel_context),
            )
        }
        (Expect::Reject(_), Ok(())) => (Kind::UnsoundAccept, "accepts".to_string()),
        (Expect::Accept, Err(r)) => (
            Kind::OverStrict,
            format!("refuses at insn {}: {}", r.insn, r.kernel),
        ),
        (Expect::Reject(_), Err(r)) => (
            Kind::Message,
            format!("refuses at insn {}: {}", r.insn, r.kernel),
        ),
    };
    let kernel = match kind {
        Kind::Detail => format!("after {:?}", case.detail),
        _ => case.expect.to_string(),
    };
    Some((kind, format!("apiary {apiary}; kernel {kernel}")))
}

/// `FILE/CASE` → kind, from the checked-in list.
fn known() -> BTreeMap<String, String> {
    KNOWN
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut words = l.split_whitespace();
            let key = words.next().unwrap_or_default().to_string();
            let kind = words.next().unwrap_or_default().to_string();
            (key, kind)
        })
        .collect()
}

fn key(case: &Case) -> String {
    let file = case.file.file_stem().unwrap_or_default().to_string_lossy();
    format!("{file}/{}", case.name)
}

#[test]
fn apiary_gives_the_recorded_kernel_verdict_on_every_case() {
    let (mut total, mut same_verdict, mut same_line) = (0, 0, 0);
    let (mut unsound, mut strict, mut other_detail) = (0, 0, 0);
    let mut found: BTreeMap<String, (Kind, String)> = BTreeMap::new();
    for file in case_files(&case_dir()).expect("tests/verifier") {
        for case in read_file(&file).unwrap_or_else(|error| panic!("{error}")) {
            // A case typed by the kernel's BTF was recorded with this
            // machine's; without one there is nothing to check it with.
            if (case.attach_target.is_some() || case.kfuncs_by_name)
                && let Err(reason) = apiary_verifier::kernel_btf()
            {
                apiary_testskip::missing::<()>(&key(&case), reason);
                continue;
            }
            total += 1;
            let ours = apiary_verdict(&case);
            let Some((kind, line)) = compare(&case, &ours) else {
                same_verdict += 1;
                same_line += 1;
                continue;
            };
            match kind {
                Kind::UnsoundAccept => unsound += 1,
                Kind::OverStrict => strict += 1,
                Kind::Message => same_verdict += 1,
                Kind::Detail => {
                    same_verdict += 1;
                    same_line += 1;
                    other_detail += 1;
                }
            }
            found.insert(key(&case), (kind, line));
        }
    }
    eprintln!(
        "{total} cases, {same_verdict} agree on verdict, {same_line} also on message \
         ({other_detail} with other lines before it), {unsound} unsound accepts, \
         {strict} over-strict rejects"
    );
    let known = known();
    let mut new = Vec::new();
    for (key, (kind, line)) in &found {
        eprintln!("  {key} {}: {line}", kind.name());
        if known.get(key).map(String::as_str) != Some(kind.name()) {
            new.push(format!("{key} {}: {line}", kind.name()));
        }
    }
    let fixed: Vec<&String> = known.keys().filter(|k| !found.contains_key(*k)).collect();
    assert!(total > 0, "no case in {}", case_dir().display());
    assert!(
        new.is_empty(),
        "disagreements with the kernel missing from tests/case_disagreements.txt \
         (or listed with another kind):\n{}",
        new.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "these cases now agree with the kernel; remove them from \
         tests/case_disagreements.txt: {fixed:?}"
    );
}
