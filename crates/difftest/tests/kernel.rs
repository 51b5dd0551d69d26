//! Apiary against the kernel on this machine: random programs and the
//! bpf_conformance suite.

use std::path::Path;

use apiary_difftest::conformance::{KernelVerdict, check_file, data_files};
use apiary_difftest::fuzz;

fn kernel_available(test: &str) -> bool {
    match apiary_kernel::probe() {
        Ok(()) => true,
        Err(reason) => {
            eprintln!("SKIPPED: {test} because bpf() is unavailable: {reason}");
            false
        }
    }
}

#[test]
fn two_thousand_random_programs_agree_with_the_kernel() {
    if !kernel_available("two_thousand_random_programs_agree_with_the_kernel") {
        return;
    }
    let out = std::env::temp_dir().join(format!("apiary-difftest-{}", std::process::id()));
    let summary = fuzz(1, 2000, Some(&out), |_| {}).expect("reproducers are writable");
    eprintln!("{summary:?}");
    assert_eq!(summary.programs, 2000);
    // A generator whose programs the verifier mostly refuses tests nothing.
    assert!(summary.accepted * 10 >= summary.programs * 9, "{summary:?}");
    assert_eq!(
        summary.divergences, 0,
        "reproducers: {:?}",
        summary.reproducers
    );
}

#[test]
fn conformance_suite_in_the_kernel_matches_apiary_and_the_reject_list() {
    if !kernel_available("conformance_suite_in_the_kernel_matches_apiary_and_the_reject_list") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/bpf_conformance/tests");
    if !dir.is_dir() {
        eprintln!(
            "SKIPPED: conformance suite because {} is absent",
            dir.display()
        );
        return;
    }
    let files = data_files(&dir).expect("suite directory is readable");
    assert_eq!(files.len(), 313);
    let mut rejects = String::new();
    let mut divergences = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        match check_file(file) {
            KernelVerdict::Agree => {}
            KernelVerdict::Rejected(reason) => rejects += &format!("{name}: {reason}\n"),
            other => divergences.push(format!("{name}: {other:?}")),
        }
    }
    let expected_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernel-rejects.txt");
    if std::env::var_os("APIARY_BLESS").is_some() {
        std::fs::write(&expected_path, &rejects).expect("writable");
    }
    let expected = std::fs::read_to_string(&expected_path).expect("kernel-rejects.txt exists");
    assert_eq!(rejects, expected, "the kernel's rejections changed");
    assert!(divergences.is_empty(), "{divergences:#?}");
}

#[test]
fn the_kernel_really_runs_the_program_and_writes_the_context_back() {
    if !kernel_available("the_kernel_really_runs_the_program_and_writes_the_context_back") {
        return;
    }
    let case = apiary_difftest::generate(7);
    let prog = apiary_difftest::kernel_load(&case.program.bytecode()).expect("accepted");
    let kernel = apiary_difftest::kernel_run(&prog, &case.ctx).expect("runs");
    // The epilogue stores r0 into the context's first register slot.
    let r0_slot = &kernel.ctx[apiary_difftest::CTX_INPUT_LEN..][..8];
    assert_eq!(
        u64::from_le_bytes(r0_slot.try_into().unwrap()) & 0xffff_ffff,
        kernel.r0
    );
    assert_ne!(kernel.ctx, case.ctx, "the context came back unchanged");
}
