//! Apiary's verdict against the running kernel's on every program of the
//! corpus and the examples: each is verified by `apiary-verifier` and
//! loaded through `apiary-backend` (which keeps going past refusals), and
//! the two verdicts compared.
//!
//! Disagreements are listed in `tests/known_disagreements.txt`, one
//! `object/program` per line. The test fails on a disagreement missing from
//! the list (a new soundness or usability bug) and on a listed one that now
//! agrees (remove it): the list may only shrink as the verifier grows.

use std::collections::BTreeSet;

use apiary_backend::{LoadOptions, load_object};
use apiary_corpus::CorpusObject;
use apiary_loader::Object;

const KNOWN: &str = include_str!("known_disagreements.txt");

fn environment() -> Option<Vec<CorpusObject>> {
    const TEST: &str = "verdict comparison with the kernel";
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(TEST, reason);
    }
    match (apiary_corpus::objects(), apiary_corpus::examples()) {
        (Ok(objects), Ok(examples)) => Some(objects.iter().chain(examples).copied().collect()),
        (Err(reason), _) | (_, Err(reason)) => apiary_testskip::missing(TEST, reason),
    }
}

fn open(corpus: &CorpusObject) -> Option<(Vec<u8>, Object)> {
    let bytes = corpus.read().ok()?;
    let mut object = Object::parse(&bytes, corpus.name).ok()?;
    if object.needs_core() {
        let vmlinux = std::fs::read("/sys/kernel/btf/vmlinux").ok()?;
        let target = apiary_btf::Btf::parse(&vmlinux).ok()?;
        object.relocate_core(&target).ok()?;
    }
    Some((bytes, object))
}

#[test]
fn apiary_gives_the_kernels_verdict_on_the_corpus_and_examples() {
    let Some(objects) = environment() else { return };
    let known: BTreeSet<&str> = KNOWN
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let (mut compared, mut agree, mut not_loaded) = (0, 0, Vec::new());
    let mut disagreements = Vec::new();
    let mut report = Vec::new();
    for corpus in &objects {
        let Some((bytes, object)) = open(corpus) else {
            not_loaded.push(corpus.name);
            continue;
        };
        let options = LoadOptions {
            elf: Some(&bytes),
            keep_going: true,
            ..Default::default()
        };
        let Ok(kernel) = load_object(&object, &options) else {
            not_loaded.push(corpus.name);
            continue;
        };
        for verdict in apiary_verifier::verify_object(&object) {
            let kernel_verdict = if kernel.program(&verdict.name).is_some() {
                Ok(())
            } else if let Some(line) = kernel
                .rejected
                .get(&verdict.name)
                .and_then(apiary_kernel::Error::verifier_error)
            {
                Err(line.to_string())
            } else {
                continue;
            };
            compared += 1;
            let key = format!("{}/{}", corpus.name, verdict.name);
            if verdict.result.is_ok() == kernel_verdict.is_ok() {
                agree += 1;
                continue;
            }
            let apiary = match &verdict.result {
                Ok(a) => format!("accept ({} insns)", a.stats.insns_processed),
                Err(r) => format!("reject at insn {}: {}", r.insn, r.kernel),
            };
            let kernel = match &kernel_verdict {
                Ok(()) => "accept".to_string(),
                Err(line) => format!("reject: {line}"),
            };
            report.push(format!("{key}: apiary {apiary}; kernel {kernel}"));
            disagreements.push(key);
        }
    }
    eprintln!("{compared} programs, {agree} agree with the kernel");
    eprintln!("objects the kernel backend could not load (not compared): {not_loaded:?}");
    for line in &report {
        eprintln!("  {line}");
    }
    let found: BTreeSet<&str> = disagreements.iter().map(String::as_str).collect();
    let new: Vec<&&str> = found.difference(&known).collect();
    let fixed: Vec<&&str> = known.difference(&found).collect();
    assert!(compared > 0, "no program was compared");
    assert!(new.is_empty(), "new disagreements with the kernel: {new:?}");
    assert!(
        fixed.is_empty(),
        "these now agree with the kernel; remove them from tests/known_disagreements.txt: {fixed:?}"
    );
}
