//! Apiary against the kernel on this machine: random programs and the
//! bpf_conformance suite.

use std::path::Path;

use apiary_difftest::conformance::{KernelVerdict, check_file, data_files};
use apiary_difftest::{
    Case, Harness, KernelBug, Verdict, fuzz, known_divergences, parse_reproducer,
};
use apiary_isa::{CallTarget, Insn, Reg, Size, Source};

fn kernel_available(test: &str) -> bool {
    match apiary_kernel::probe() {
        Ok(()) => true,
        Err(reason) => apiary_testskip::missing(test, format!("bpf() is unavailable: {reason}")),
    }
}

#[test]
fn two_thousand_random_programs_agree_with_the_kernel() {
    if !kernel_available("two_thousand_random_programs_agree_with_the_kernel") {
        return;
    }
    let out = std::env::temp_dir().join(format!("apiary-difftest-{}", std::process::id()));
    let summary = fuzz(1, 2000, Some(&out), None, |_| {}).expect("reproducers are writable");
    eprintln!(
        "{} programs, {} accepted, {} divergences, kernel bugs at {:?}",
        summary.programs, summary.accepted, summary.divergences, summary.kernel_bugs
    );
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
    let dir = match apiary_testskip::shared("conformance/bpf_conformance/tests") {
        Ok(dir) => dir,
        Err(reason) => {
            return apiary_testskip::skip(
                "conformance_suite_in_the_kernel_matches_apiary_and_the_reject_list",
                reason,
            );
        }
    };
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
    // A program without helper calls, so the maps must come back as they were set.
    let case = (1..=1000)
        .map(apiary_difftest::generate)
        .find(|case| {
            !case
                .program
                .nodes()
                .iter()
                .any(|node| matches!(node.insn, Insn::Call(_)))
        })
        .expect("some program calls no helper");
    let maps = apiary_difftest::KernelMaps::create().expect("maps");
    let kernel =
        apiary_difftest::kernel_outcome(&maps, &case.program.bytecode(), &case.ctx, &case.maps)
            .expect("accepted and run");
    // The epilogue stores r0 into the context's first register slot.
    let r0_slot = &kernel.ctx[apiary_difftest::CTX_INPUT_LEN..][..8];
    assert_eq!(
        u64::from_le_bytes(r0_slot.try_into().unwrap()) & 0xffff_ffff,
        kernel.r0
    );
    assert_ne!(kernel.ctx, case.ctx, "the context came back unchanged");
    assert_eq!(kernel.maps, case.maps);
}

fn reproducer(name: &str) -> (Case, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let case = parse_reproducer(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    (case, text)
}

/// The hex after `ctx = ` on the comment line starting with `; PREFIX`.
fn documented_ctx(text: &str, prefix: &str) -> Vec<u8> {
    let line = text
        .lines()
        .find(|line| line.starts_with(&format!("; {prefix}")))
        .unwrap_or_else(|| panic!("no `; {prefix}` line"));
    let hex = line.split("ctx = ").nth(1).expect("ctx = HEX").trim();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn listed_kernel_bugs_reproduce_and_are_recognised_only_by_their_workaround() {
    if !kernel_available("listed_kernel_bugs_reproduce_and_are_recognised_only_by_their_workaround")
    {
        return;
    }
    let harness = Harness::new().expect("harness");
    let blind = Harness::recognising(Vec::new()).expect("harness");
    for known in known_divergences().expect("list parses") {
        let (case, text) = reproducer(&known.reproducer);
        let rfc = documented_ctx(&text, "RFC 9669");
        let linux = documented_ctx(&text, "Linux");
        match harness.check(&case) {
            Verdict::KnownKernelBug {
                bugs,
                kernel,
                apiary,
            } => {
                assert_eq!(bugs, vec![known.bug]);
                assert_eq!(
                    apiary.ctx, rfc,
                    "{}: Apiary follows RFC 9669",
                    known.reproducer
                );
                assert_eq!(
                    kernel.ctx, linux,
                    "{}: the kernel as documented",
                    known.reproducer
                );
            }
            // A kernel with the bug fixed agrees, and then with RFC 9669.
            Verdict::Agree => apiary_testskip::refused(
                &format!(
                    "listed_kernel_bugs_reproduce_and_are_recognised_only_by_their_workaround ({})",
                    known.reproducer
                ),
                format!("reproducing the kernel bug {:?}", known.bug),
                "this kernel agrees with Apiary (the bug is fixed here)",
            ),
            other => panic!("{}: {other:?}", known.reproducer),
        }
        // Without the entry, the same divergence is reported.
        assert!(
            matches!(blind.check(&case), Verdict::Diverge { .. } | Verdict::Agree),
            "{}",
            known.reproducer
        );
    }
}

#[test]
fn a_different_divergence_in_a_program_with_a_listed_pattern_is_still_reported() {
    if !kernel_available(
        "a_different_divergence_in_a_program_with_a_listed_pattern_is_still_reported",
    ) {
        return;
    }
    let harness = Harness::new().expect("harness");
    // The cmpxchg32-zext-lost reproducer that also stores bpf_ktime_get_ns()
    // at ctx + 8, a value no two runs share: the workaround fixes the
    // first divergence, the second must still be reported.
    let (mut case, _) = reproducer("reproducers/cmpxchg32-zext-lost.s");
    case.program = case.program.with_inserted_after(
        0,
        &[
            Insn::Call(CallTarget::Helper(5)),
            Insn::Store {
                size: Size::DW,
                dst: Reg::R9,
                off: 8,
                src: Source::Reg(Reg::R0),
            },
        ],
    );
    case.ctx.resize(16, 0);
    assert!(KernelBug::Cmpxchg32ZextLost.applies(&case.program));
    match harness.check(&case) {
        Verdict::Diverge {
            kernel: Ok(kernel),
            apiary: Ok(apiary),
        } => {
            // Both halves diverge: the clock (bytes 8..16) always, the
            // lost zero extension (bytes 0..8) on kernels with the bug.
            assert_ne!(kernel.ctx[8..16], apiary.ctx[8..16]);
        }
        other => panic!("expected an unexplained divergence, got {other:?}"),
    }
}

#[test]
fn the_divergences_of_the_first_100k_run_are_the_listed_kernel_bugs() {
    if !kernel_available("the_divergences_of_the_first_100k_run_are_the_listed_kernel_bugs") {
        return;
    }
    let harness = Harness::new().expect("harness");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reproducers/fuzz-100k");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("reproducer directory")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 8, "the eight divergences of seeds 1..=100000");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let case = parse_reproducer(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // Seed 74190 is the one divergence of that run that is not a 32-bit cmpxchg.
        let expected = if file.ends_with("diverge-74190.s") {
            KernelBug::AtomicFetchPrecisionLost
        } else {
            KernelBug::Cmpxchg32ZextLost
        };
        match harness.check(&case) {
            Verdict::KnownKernelBug { bugs, .. } => {
                assert_eq!(bugs, vec![expected], "{}", file.display());
            }
            Verdict::Agree => apiary_testskip::refused(
                &format!(
                    "the_divergences_of_the_first_100k_run_are_the_listed_kernel_bugs ({})",
                    file.display()
                ),
                format!("reproducing the kernel bug {expected:?}"),
                "this kernel agrees with Apiary (the bug is fixed here)",
            ),
            other => panic!("{}: {other:?}", file.display()),
        }
    }
}

#[test]
fn generated_programs_call_the_map_helpers_and_change_the_maps() {
    if !kernel_available("generated_programs_call_the_map_helpers_and_change_the_maps") {
        return;
    }
    let maps = apiary_difftest::KernelMaps::create().expect("maps");
    let (mut calling, mut changed, mut inlined) = (0, 0, 0);
    for seed in 1..=300 {
        let case = apiary_difftest::generate(seed);
        let calls: Vec<i32> = case
            .program
            .nodes()
            .iter()
            .filter_map(|node| match node.insn {
                Insn::Call(CallTarget::Helper(id)) => Some(id),
                _ => None,
            })
            .collect();
        if calls.is_empty() {
            continue;
        }
        calling += 1;
        // The guard against the kernel's dropped null checks recognises
        // the lookups the kernel really inlines, and none lost its check.
        let prog = apiary_difftest::kernel_load(&case.program.bytecode(), &maps.fds())
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let xlated = prog
            .info(true)
            .expect("info")
            .xlated_insns
            .expect("root sees xlated");
        let (sites, unchecked) = apiary_difftest::inlined_array_lookups(&xlated);
        assert_eq!(unchecked, 0, "seed {seed}: the kernel dropped a null check");
        inlined += sites;
        let kernel =
            apiary_difftest::kernel_outcome(&maps, &case.program.bytecode(), &case.ctx, &case.maps)
                .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        if kernel.maps != case.maps {
            changed += 1;
        }
    }
    eprintln!(
        "of 300 programs, {calling} call map helpers, {changed} change a map; {inlined} array lookups inlined"
    );
    assert!(
        inlined > 0,
        "no inlined array lookup seen: the guard's pattern is stale"
    );
    assert!(calling >= 200, "{calling} of 300 programs call helpers");
    assert!(
        changed >= calling / 4,
        "only {changed} of {calling} programs changed a map"
    );
}

#[test]
fn a_translation_without_an_array_lookups_null_check_is_never_run_by_the_harness() {
    if !kernel_available(
        "a_translation_without_an_array_lookups_null_check_is_never_run_by_the_harness",
    ) {
        return;
    }
    let (case, _) = reproducer("reproducers/array-lookup-null-check-dropped.s");
    let maps = apiary_difftest::KernelMaps::create().expect("maps");
    let bytecode = case.program.bytecode();
    match apiary_difftest::kernel_load_runnable(&bytecode, &maps.fds()) {
        Err(apiary_difftest::RunFailure::KernelUnsafe(_)) => {}
        Ok(_) => {
            return apiary_testskip::refused(
                "a_translation_without_an_array_lookups_null_check_is_never_run_by_the_harness",
                "reproducing the verifier dropping an array lookup's null check",
                "this kernel keeps the null check (the bug is fixed here)",
            );
        }
        Err(other) => panic!("{other}"),
    }
    assert!(matches!(
        Harness::new().expect("harness").check(&case),
        Verdict::KernelUnsafe(_)
    ));
    // This program never dereferences the pointer, so running it directly
    // is safe and shows the kernel skipping the null branch it should take.
    let prog = apiary_difftest::kernel_load(&bytecode, &maps.fds()).expect("accepted");
    maps.reset(&case.maps).expect("reset");
    let (kernel_r0, _) = apiary_difftest::kernel_run(&prog, &case.ctx).expect("runs");
    let apiary = apiary_difftest::apiary_outcome(&bytecode, &case.ctx, &case.maps, None)
        .expect("Apiary runs it");
    assert_eq!(
        apiary.r0 & 0xffff_ffff,
        0x8000_0000,
        "RFC 9669: the lookup misses"
    );
    assert_eq!(
        kernel_r0, 0,
        "the kernel went past the dropped check with r0 = NULL"
    );
}
