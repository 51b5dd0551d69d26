//! Every program of the C corpus and of the examples that the kernel loads
//! (per the manifest, measured with libbpf on this machine) must pass
//! `prepare` when its program type is covered; the rest must not panic.

use apiary_context::{ContextError, is_covered, prepare_for};
use apiary_corpus::{CorpusObject, KernelLoads};
use apiary_loader::Object;

/// The kernel's BTF, or `None` after skipping the CO-RE part of `test`.
fn vmlinux(test: &str) -> Option<apiary_btf::Btf> {
    match apiary_testskip::vmlinux_btf() {
        Ok(bytes) => Some(apiary_btf::Btf::parse(&bytes).expect("vmlinux BTF parses")),
        Err(reason) => apiary_testskip::skip(&format!("{test} (CO-RE relocation)"), reason),
    }
}

#[test]
fn prepare_accepts_every_corpus_program_the_kernel_loads() {
    const TEST: &str = "prepare_accepts_every_corpus_program_the_kernel_loads";
    let (corpus, examples) = match (apiary_corpus::objects(), apiary_corpus::examples()) {
        (Ok(corpus), Ok(examples)) => (corpus, examples),
        (Err(reason), _) | (_, Err(reason)) => return apiary_testskip::missing(TEST, reason),
    };
    let target = vmlinux(TEST);
    let mut failures = Vec::new();
    let (mut checked, mut uncovered) = (0, Vec::new());
    for object in corpus.iter().chain(examples) {
        check_object(
            object,
            target.as_ref(),
            &mut failures,
            &mut checked,
            &mut uncovered,
        );
    }
    eprintln!(
        "prepare accepted {checked} kernel-loadable programs; uncovered types skipped: {}",
        uncovered.join(", ")
    );
    assert!(checked >= 30, "only {checked} programs were checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn check_object(
    object: &CorpusObject,
    target: Option<&apiary_btf::Btf>,
    failures: &mut Vec<String>,
    checked: &mut usize,
    uncovered: &mut Vec<String>,
) {
    let bytes = object.read().expect("read the compiled object");
    let Ok(mut parsed) = Object::parse(&bytes, object.name) else {
        // The loader's own tests own parse failures.
        return;
    };
    if let Some(target) = target {
        // Relocation failures leave programs as compiled; the loader's tests own them.
        let _ = parsed.relocate_core(target);
    }
    let loads = object.kernel_loads == KernelLoads::Yes;
    for program in parsed.programs.iter().filter_map(|p| p.as_ref().ok()) {
        let attach = program.expected_attach_type.unwrap_or_default();
        let verdict = prepare_for(program.prog_type, attach, &program.insns);
        let label = format!("{}:{} ({})", object.name, program.name, program.prog_type);
        match verdict {
            Ok(_) if loads => *checked += 1,
            Ok(_) => {}
            Err(ContextError::Unsupported { .. }) if !is_covered(program.prog_type) => {
                uncovered.push(label)
            }
            Err(e) if loads => failures.push(format!("{label}: {e}")),
            Err(_) => {}
        }
    }
}
