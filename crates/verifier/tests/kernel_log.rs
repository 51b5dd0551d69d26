//! The kernel-style verifier log (`apiary_verifier::verify_with_log`)
//! against the kernel 6.18's own, on the cases of `tests/verifier`.
//!
//! Without a kernel: a refused case's log ends with the kernel's recorded
//! error line, then the statistics line, at both levels. With one (root,
//! `bpf()`), each case is also loaded at log level 2 and the lines both
//! logs print for the same instruction compared: the instruction text
//! always, and the state after it on the first path through the program.
//! Each case's whole level-1 log is compared too (the path to the verdict:
//! pruning and exploration order matter less there).
//! The programs of the corpus and the examples are loaded at level 2
//! through `apiary-backend` too, and their instruction lines and the
//! source line (from BTF line info) each starts compared.

use std::collections::BTreeMap;
use std::path::Path;

use apiary_backend::{LoadOptions, load_object};
use apiary_difftest::verifier_cases::{Case, Expect, case_files, kernel_verdict_logged, read_file};
use apiary_kernel::log_level;
use apiary_loader::Object;
use apiary_verifier::{LogLevel, verify_program_logged, verify_with_log};

mod case_program;
use case_program::CaseInputs;

fn cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/verifier");
    case_files(&dir)
        .expect("tests/verifier")
        .iter()
        .flat_map(|file| read_file(file).unwrap_or_else(|error| panic!("{error}")))
        .collect()
}

fn apiary_log(case: &Case, level: LogLevel) -> (Result<(), String>, String) {
    let inputs = CaseInputs::of(case);
    let (result, log) = verify_with_log(&inputs.program(case), level);
    (result.map(drop).map_err(|r| r.kernel.clone()), log)
}

#[test]
fn a_refusals_log_ends_with_the_kernels_error_line_then_the_statistics() {
    let (mut refusals, mut accepts) = (0, 0);
    for case in cases() {
        let (_, off) = apiary_log(&case, LogLevel::Off);
        assert_eq!(off, "", "{}: a log nobody asked for", case.name);
        for level in [LogLevel::Basic, LogLevel::Verbose] {
            let (result, log) = apiary_log(&case, level);
            let lines: Vec<&str> = log.lines().collect();
            let last = lines.last().copied().unwrap_or_default();
            assert!(
                last.starts_with("processed ") && last.contains(" insns (limit 1000000) "),
                "{}: the last line is not the statistics: {last}",
                case.name
            );
            match (&case.expect, &result) {
                // Only where Apiary refuses with the kernel's line (the
                // others are listed in tests/case_disagreements.txt).
                (Expect::Reject(Some(line)), Err(ours)) if ours == line => {
                    // A loop that never ends is followed by its two states.
                    let mut end = lines.len() - 1;
                    if end >= 2
                        && lines[end - 2].starts_with("cur state:")
                        && lines[end - 1].starts_with("old state:")
                    {
                        end -= 2;
                    }
                    let before = end.checked_sub(1).map(|i| lines[i]);
                    assert_eq!(
                        before,
                        Some(line.as_str()),
                        "{} at {level:?}:\n{log}",
                        case.name
                    );
                    refusals += 1;
                }
                // Level 1 forgets the walks of an accepted program: what
                // stays is the global functions found safe.
                (Expect::Accept, Ok(())) if level == LogLevel::Basic => {
                    let safe = |l: &&str| {
                        l.starts_with("Func#")
                            && l.ends_with(" is safe for any args that match its prototype")
                    };
                    assert!(
                        lines[..lines.len() - 1].iter().all(safe),
                        "{}: level 1 of an accept:\n{log}",
                        case.name
                    );
                    accepts += 1;
                }
                (Expect::Accept, Ok(())) => {
                    assert!(log.starts_with("0: R1="), "{}:\n{log}", case.name);
                }
                _ => {}
            }
        }
    }
    eprintln!("{refusals} refusals' logs end with the kernel's line, {accepts} accepts checked");
    assert!(
        refusals > 100 && accepts > 50,
        "{refusals} refusals, {accepts} accepts"
    );
}

/// `N: (OP) TEXT` lines by instruction, the first of each, with the state
/// printed after the instruction (after `;`), if any.
fn insn_lines(log: &str) -> BTreeMap<usize, (String, Option<String>)> {
    annotated_insn_lines(log)
        .into_iter()
        .map(|(pc, (text, state, _))| (pc, (text, state)))
        .collect()
}

/// [`insn_lines`] with the source line (`; TEXT @ FILE:LINE`) printed
/// right before each, if any.
#[allow(clippy::type_complexity)]
fn annotated_insn_lines(log: &str) -> BTreeMap<usize, (String, Option<String>, Option<String>)> {
    let mut lines = BTreeMap::new();
    let mut source = None;
    for line in log.lines() {
        if line.starts_with("; ") && line.contains(" @ ") {
            source = Some(line.to_string());
            continue;
        }
        let Some((pc, rest)) = line.split_once(": (") else {
            continue;
        };
        let Ok(pc) = pc.parse::<usize>() else {
            continue;
        };
        let (insn, state) = match rest.split_once(';') {
            Some((insn, state)) => (insn.trim_end(), Some(state.trim().to_string())),
            None => (rest.trim_end(), None),
        };
        lines
            .entry(pc)
            .or_insert((format!("({insn}"), state, source.take()));
    }
    lines
}

/// `state` with the numbers of ids and references left out: both
/// verifiers link registers by ids, but hand out their numbers in their
/// own order.
fn without_id_numbers(state: &str) -> String {
    let mut out = String::new();
    let mut rest = state;
    while let Some(at) = ["id=", "refs="]
        .iter()
        .filter_map(|k| rest.find(k).map(|i| i + k.len()))
        .min()
    {
        out.push_str(&rest[..at]);
        out.push('N');
        rest = rest[at..].trim_start_matches(|c: char| c.is_ascii_digit() || c == ',');
    }
    out + rest
}

/// The part of a log before its first waiting path starts (`from N to M`)
/// or the first pruned one: the path both verifiers walk first.
fn first_path(log: &str) -> &str {
    let end = [log.find("\nfrom "), log.find(": safe")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(log.len());
    &log[..end]
}

#[test]
fn instructions_and_states_print_as_the_kernel_prints_them() {
    const TEST: &str = "verifier log comparison with the kernel";
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(TEST, reason);
    }
    let (mut insns, mut states, mut loaded, mut states_differ) = (0, 0, 0, 0);
    let mut differ = Vec::new();
    for case in cases() {
        let Ok(kernel) = kernel_verdict_logged(&case, log_level::VERBOSE) else {
            continue;
        };
        loaded += 1;
        let (_, ours) = apiary_log(&case, LogLevel::Verbose);
        let theirs = insn_lines(&kernel.log);
        for (pc, (text, _)) in insn_lines(&ours) {
            let Some((kernel_text, _)) = theirs.get(&pc) else {
                continue;
            };
            // A map's address is the kernel's; Apiary prints its index.
            let map_load =
                case.insns[pc].code == 0x18 && matches!(case.insns[pc].src, 1 | 2 | 5 | 6);
            if map_load {
                continue;
            }
            insns += 1;
            if text != *kernel_text {
                differ.push(format!(
                    "{} insn {pc}: apiary `{text}`, kernel `{kernel_text}`",
                    case.name
                ));
            }
        }
        let theirs = insn_lines(first_path(&kernel.log));
        for (pc, (_, state)) in insn_lines(first_path(&ours)) {
            let (Some(state), Some((_, Some(kernel_state)))) = (state, theirs.get(&pc)) else {
                continue;
            };
            states += 1;
            if without_id_numbers(&state) != without_id_numbers(kernel_state) {
                states_differ += 1;
                differ.push(format!(
                    "{} state after {pc}: apiary `{state}`, kernel `{kernel_state}`",
                    case.name
                ));
            }
        }
    }
    eprintln!("{loaded} cases loaded: {insns} instruction lines and {states} states compared");
    for line in &differ {
        eprintln!("  {line}");
    }
    assert!(
        loaded > 0 && insns > 1000 && states > 500,
        "too little compared"
    );
    let insns_differ = differ.len() - states_differ;
    assert_eq!(
        insns_differ, 0,
        "instruction lines differ from the kernel's"
    );
    // The states differ where the walks know different things (a value
    // read back by an atomic fetch, an id given to a narrow spill), which
    // is the verifier's business, not the log's: at most 3% may.
    assert!(
        states_differ * 100 <= states * 3,
        "{states_differ} of {states} states differ from the kernel's"
    );
}

#[test]
fn corpus_programs_print_instructions_and_source_lines_as_the_kernel_does() {
    const TEST: &str = "verifier log comparison with the kernel on the corpus";
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(TEST, reason);
    }
    let objects = match (apiary_corpus::objects(), apiary_corpus::examples()) {
        (Ok(objects), Ok(examples)) => objects.iter().chain(examples).collect::<Vec<_>>(),
        (Err(reason), _) | (_, Err(reason)) => return apiary_testskip::missing(TEST, reason),
    };
    let (mut programs, mut insns, mut sources) = (0, 0, 0);
    let mut differ = Vec::new();
    for corpus in objects {
        let Ok(bytes) = corpus.read() else { continue };
        // Objects that need CO-RE relocations are left to kernel_verdicts.
        let Ok(object) = Object::parse(&bytes, corpus.name) else {
            continue;
        };
        if object.needs_core() {
            continue;
        }
        let options = LoadOptions {
            elf: Some(&bytes),
            keep_going: true,
            log_level: log_level::VERBOSE,
        };
        let Ok(kernel) = load_object(&object, &options) else {
            continue;
        };
        for spec in object.programs.iter().flatten() {
            let theirs = match (kernel.logs.get(&spec.name), kernel.rejected.get(&spec.name)) {
                (Some(log), _) => log.as_str(),
                (None, Some(apiary_kernel::Error::ProgLoad { log, .. })) => log.as_str(),
                _ => continue,
            };
            programs += 1;
            let theirs = annotated_insn_lines(theirs);
            let ours = verify_program_logged(&object, spec, LogLevel::Verbose).log;
            for (pc, (text, _, source)) in annotated_insn_lines(&ours) {
                let Some((kernel_text, _, kernel_source)) = theirs.get(&pc) else {
                    continue;
                };
                let raw = spec.insns[pc];
                if !(raw.code == 0x18 && matches!(raw.src, 1 | 2 | 5 | 6)) {
                    insns += 1;
                    if text != *kernel_text {
                        differ.push(format!(
                            "{}/{} insn {pc}: apiary `{text}`, kernel `{kernel_text}`",
                            corpus.name, spec.name
                        ));
                    }
                }
                if source.is_some() || kernel_source.is_some() {
                    sources += 1;
                    if source != *kernel_source {
                        differ.push(format!(
                            "{}/{} source before {pc}: apiary {source:?}, kernel {kernel_source:?}",
                            corpus.name, spec.name
                        ));
                    }
                }
            }
        }
    }
    eprintln!("{programs} programs: {insns} instruction lines and {sources} source lines compared");
    for line in &differ {
        eprintln!("  {line}");
    }
    assert!(
        programs > 0 && insns > 100 && sources > 50,
        "too little compared"
    );
    assert!(
        differ.is_empty(),
        "{} lines differ from the kernel's",
        differ.len()
    );
}

/// The kernel 6.18's level-1 log of `calls_and_frames/callee_does_not_set_r0`
/// (`bpftool prog load` prints the same), its statistics line aside.
const CALLEE_LOG: &str = "0: R1=ctx() R10=fp0
0: (85) call pc+1
caller:
 R10=fp0
callee:
 frame1: R1=ctx() R10=fp0
2: frame1: R1=ctx() R10=fp0
2: (b7) r1 = 0                        ; frame1: R1=0
3: (95) exit
returning from callee:
 frame1: R1=0 R10=fp0
to caller at 1:
 R10=fp0
1: (95) exit
R0 !read_ok
";

#[test]
fn a_call_and_its_return_print_both_frames_as_the_kernel_does() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "callee_does_not_set_r0")
        .expect("the case in tests/verifier/calls_and_frames.s");
    let (_, log) = apiary_log(&case, LogLevel::Basic);
    let (body, stats) = log.split_at(log.trim_end().rfind('\n').map_or(0, |i| i + 1));
    assert_eq!(body, CALLEE_LOG);
    assert!(stats.starts_with("processed 4 insns "), "{stats}");
    // Level 2 goes on in the caller as on a path that starts.
    let (_, log) = apiary_log(&case, LogLevel::Verbose);
    assert!(
        log.contains(" R10=fp0\n\nfrom 3 to 1: R10=fp0\n1: (95) exit\n"),
        "{log}"
    );
}

#[test]
fn a_global_function_is_assumed_valid_then_validated_alone() {
    let case = cases()
        .into_iter()
        .find(|c| c.name == "global_function_checked_alone")
        .expect("the case in tests/verifier/calls_and_frames.s");
    let (_, log) = apiary_log(&case, LogLevel::Verbose);
    // The kernel 6.18's lines, ids aside (they are numbered differently).
    for expected in [
        "1: (85) call pc+2\nFunc#1 ('twice') is global and assumed valid.\n2: R0=scalar()\n",
        "3: (95) exit\nValidating twice() func#1...\n4: R1=scalar() R10=fp0\n",
        "6: (95) exit\nFunc#1 ('twice') is safe for any args that match its prototype\nprocessed 7 insns",
    ] {
        assert!(log.contains(expected), "{expected}\nnot in\n{log}");
    }
}

/// A log as compared whole: without its statistics line (the kernel's may
/// follow a message without its newline), map addresses (the kernel's)
/// and indices (Apiary's) in `lddw` lines, and id numbers.
fn comparable(log: &str) -> String {
    log.lines()
        .map(|line| match line.find("processed ") {
            Some(at) if line[at..].contains(" insns (limit ") => &line[..at],
            _ => line,
        })
        .filter(|line| !line.is_empty())
        .map(|line| match line.split_once(": (18) ") {
            Some((pc, rest)) if rest.contains(" = 0x") && line.contains("map_ptr") => {
                let (reg, _) = rest.split_once(" = ").unwrap_or_default();
                let state = rest.split_once(';').map_or("", |(_, s)| s);
                format!("{pc}: (18) {reg} = MAP;{state}")
            }
            _ => without_id_numbers(line),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn level_one_logs_are_the_kernels() {
    const TEST: &str = "level-1 log comparison with the kernel";
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(TEST, reason);
    }
    let (mut loaded, mut same) = (0, 0);
    let mut differ = Vec::new();
    for case in cases() {
        let Ok(kernel) = kernel_verdict_logged(&case, log_level::BASIC) else {
            continue;
        };
        loaded += 1;
        let (_, ours) = apiary_log(&case, LogLevel::Basic);
        if comparable(&ours) == comparable(&kernel.log) {
            same += 1;
        } else {
            differ.push(case.name.clone());
        }
    }
    eprintln!("{loaded} cases loaded, {same} whole level-1 logs the kernel's; not: {differ:?}");
    assert!(loaded > 0, "no case loaded");
    // The others differ where the walks do (the states they know, the
    // order they explore); at most 10% may.
    assert!(
        same * 10 >= loaded * 9,
        "{same} of {loaded} logs are the kernel's"
    );
}
