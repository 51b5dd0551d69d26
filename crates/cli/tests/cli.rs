//! Runs the built `apiary` binary as users and bpf_conformance's runner do.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn apiary(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_apiary"))
        .args(args)
        .output()
        .expect("running apiary")
}

fn plugin(program_hex: &str, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_apiary"))
        .arg("conformance-plugin")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning apiary");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(program_hex.as_bytes())
        .expect("writing the program");
    child.wait_with_output().expect("waiting for apiary")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a failure reported as exactly one `apiary: ...` line containing `needle`.
fn assert_one_line_error(output: &Output, needle: &str) {
    let text = stderr(output);
    assert!(
        !output.status.success(),
        "expected failure, stderr {text:?}"
    );
    assert_eq!(text.lines().count(), 1, "one line expected: {text:?}");
    assert!(text.starts_with("apiary: "), "{text:?}");
    assert!(text.contains(needle), "{text:?} should contain {needle:?}");
    assert!(!text.contains("panicked"), "{text:?}");
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("apiary-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating a scratch dir");
    dir.join(name)
}

#[test]
fn examples_run_with_expected_results() {
    let sum = repo_root().join("examples/asm/sum.s");
    let out = apiary(&["run", sum.to_str().unwrap(), "--mem", "01 02 03 04 f0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "r0 = 250 (0xfa)\n");

    let fact = repo_root().join("examples/asm/factorial.s");
    let out = apiary(&["run", fact.to_str().unwrap(), "--mem", "06", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("{\"r0\": 720, \"r0_hex\": \"0x2d0\""),
        "{}",
        stdout(&out)
    );
}

#[test]
fn asm_then_disasm_round_trips() {
    let source = scratch("prog.s");
    std::fs::write(&source, "mov %r0, 7\nadd %r0, %r1\nexit\n").unwrap();
    let out = apiary(&["asm", source.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let binary = source.with_extension("bin");
    let bytes = std::fs::read(&binary).unwrap();
    assert_eq!(
        bytes,
        [
            0xb7, 0, 0, 0, 7, 0, 0, 0, 0x0f, 0x10, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0
        ]
    );
    let out = apiary(&["disasm", binary.to_str().unwrap(), "--syntax", "ubpf"]);
    assert_eq!(
        stdout(&out),
        "       0:\tb7 00 00 00 07 00 00 00\tmov %r0, 7\n       1:\t0f 10 00 00 00 00 00 00\tadd %r0, %r1\n       2:\t95 00 00 00 00 00 00 00\texit\n"
    );
    let out = apiary(&["asm", source.to_str().unwrap(), "-o", "-"]);
    assert_eq!(out.stdout, bytes);
    let out = apiary(&[
        "run",
        binary.to_str().unwrap(),
        "--mem-file",
        binary.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("r0 = "), "{}", stdout(&out));
}

#[test]
fn bad_input_gives_one_line_errors() {
    let missing = scratch("missing.s");
    assert_one_line_error(&apiary(&["run", missing.to_str().unwrap()]), "missing.s");

    let bad_asm = scratch("bad.s");
    std::fs::write(&bad_asm, "mov %r0, 1\n\nfrobnicate %r1\nexit\n").unwrap();
    let expected = format!("{}:3: ", bad_asm.display());
    assert_one_line_error(&apiary(&["asm", bad_asm.to_str().unwrap()]), &expected);
    assert_one_line_error(&apiary(&["run", bad_asm.to_str().unwrap()]), &expected);

    let truncated = scratch("truncated.bin");
    std::fs::write(&truncated, [0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0]).unwrap();
    assert_one_line_error(
        &apiary(&["run", truncated.to_str().unwrap()]),
        "truncated bytecode",
    );
    assert_one_line_error(
        &apiary(&["disasm", truncated.to_str().unwrap()]),
        "truncated bytecode",
    );

    let exit_only = scratch("exit.s");
    std::fs::write(&exit_only, "exit\n").unwrap();
    assert_one_line_error(
        &apiary(&["run", exit_only.to_str().unwrap(), "--mem", "0xzz"]),
        "--mem: bad hex digit",
    );
    assert_one_line_error(&apiary(&["run"]), "arguments:");

    let faulting = scratch("fault.s");
    std::fs::write(&faulting, "ldxdw %r0, [%r1+8]\nexit\n").unwrap();
    assert_one_line_error(
        &apiary(&["run", faulting.to_str().unwrap(), "--mem", "00"]),
        "memory fault",
    );
}

#[test]
fn conformance_plugin_speaks_the_runner_protocol() {
    // mov r0, 7; exit — the runner sends hex without separators.
    let out = plugin("b700000007000000" /* mov */, &[]);
    assert!(!out.status.success(), "a program without exit must fail");
    let out = plugin("b7000000070000009500000000000000", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "7\n");
    // ldxb r0, [r1]; exit with memory 2a: the memory argument comes first.
    let out = plugin("7110000000000000\n9500000000000000\n", &["2a"]);
    assert_eq!(stdout(&out), "2a\n");
    // r0 = -1 prints as the runner's stoull(.., 16) reads it back.
    let out = plugin("b7000000ffffffff9500000000000000", &[]);
    assert_eq!(stdout(&out), "ffffffffffffffff\n");
    // A fault is an error on stderr with a non-zero status and no stdout.
    let out = plugin("7110080000000000" /* ldxb r0, [r1+8] */, &["2a"]);
    assert!(!out.status.success());
    assert!(stdout(&out).is_empty());
    assert_one_line_error(&plugin("zz", &[]), "stdin");
}

#[test]
fn conformance_command_counts_passes_and_failures() {
    let dir = scratch("suite");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("good.data"),
        "-- asm\nmov %r0, 3\nexit\n-- result\n0x3\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("bad.data"),
        "-- asm\nmov %r0, 3\nexit\n-- result\n0x4\n",
    )
    .unwrap();
    let out = apiary(&["conformance", dir.to_str().unwrap()]);
    assert!(!out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("bad.data: expected r0 = 0x4, got r0 = 0x3"),
        "{text}"
    );
    assert!(text.ends_with("1 passed, 1 failed\n"), "{text}");
}

#[test]
fn conformance_command_passes_the_bpf_conformance_suite() {
    let suite = match apiary_testskip::shared("conformance/bpf_conformance/tests") {
        Ok(suite) => suite,
        Err(reason) => {
            return apiary_testskip::skip(
                "conformance_command_passes_the_bpf_conformance_suite",
                reason,
            );
        }
    };
    let out = apiary(&["conformance", suite.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert_eq!(stdout(&out), "313 passed, 0 failed\n");
}

#[test]
fn disasm_of_elf_objects_matches_llvm_objdump() {
    const TEST: &str = "disasm_of_elf_objects_matches_llvm_objdump";
    let tool = "llvm-objdump-19";
    if let Err(reason) = apiary_testskip::tool(tool, "--version") {
        return apiary_testskip::skip(TEST, reason);
    }
    let objects = match apiary_corpus::objects() {
        Ok(objects) => objects,
        Err(why) => return apiary_testskip::missing(TEST, why),
    };
    let mut compared = 0;
    for object in objects {
        let path = object.path();
        let ours = apiary(&["disasm", path.to_str().unwrap()]);
        assert!(ours.status.success(), "{}: {}", object.name, stderr(&ours));
        let theirs = Command::new(tool).arg("-d").arg(path).output().unwrap();
        let (ours, theirs) = (stdout(&ours), stdout(&theirs));
        // llvm-objdump-19 cannot decode some valid atomics (32-bit or/and/xor
        // without fetch) and prints `<unknown>`; Apiary decodes them.
        let first_difference = ours
            .lines()
            .zip(theirs.lines())
            .filter(|(_, b)| !b.ends_with("\t<unknown>"))
            .find(|(a, b)| a != b);
        assert_eq!(
            first_difference, None,
            "{}: first differing line",
            object.name
        );
        assert_eq!(
            ours.lines().count(),
            theirs.lines().count(),
            "{}",
            object.name
        );
        compared += 1;
    }
    assert!(compared > 0);
}

/// The corpus object named `name`, or `None` after skipping `test`.
fn corpus_object(test: &str, name: &str) -> Option<&'static apiary_corpus::CorpusObject> {
    match apiary_corpus::objects() {
        Ok(objects) => Some(
            objects
                .iter()
                .find(|o| o.name == name)
                .unwrap_or_else(|| panic!("{name} is not in the corpus")),
        ),
        Err(why) => apiary_testskip::missing(test, why),
    }
}

fn bpftool_output(test: &str, args: &[&str]) -> Option<String> {
    match Command::new("bpftool").args(args).output() {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => panic!("bpftool {args:?} failed: {}", stderr(&out)),
        Err(why) => apiary_testskip::missing(test, format!("bpftool does not run: {why}")),
    }
}

const VMLINUX: &str = apiary_testskip::VMLINUX;

#[test]
fn btf_dump_is_byte_identical_to_bpftool() {
    for name in ["core_fields", "xdp_firewall", "tc_nat_rewrite"] {
        let Some(obj) = corpus_object("btf_dump_is_byte_identical_to_bpftool", name) else {
            return;
        };
        let path = obj.path().to_str().unwrap();
        for (ours, theirs) in [
            (
                vec!["btf", "dump", "file", path],
                vec!["btf", "dump", "file", path],
            ),
            (
                vec!["btf", "dump", path, "format", "c"],
                vec!["btf", "dump", "file", path, "format", "c"],
            ),
            (
                vec!["btf", "dump", "file", path, "format", "raw"],
                vec!["btf", "dump", "file", path, "format", "raw"],
            ),
        ] {
            let out = apiary(&ours);
            assert!(out.status.success(), "{ours:?}: {}", stderr(&out));
            let Some(expected) = bpftool_output("btf_dump_is_byte_identical_to_bpftool", &theirs)
            else {
                return;
            };
            assert!(!expected.is_empty());
            assert_eq!(stdout(&out), expected, "{ours:?}");
        }
    }
}

#[test]
fn prog_load_lists_programs_and_json_has_bpftool_keys() {
    let Some(obj) = corpus_object(
        "prog_load_lists_programs_and_json_has_bpftool_keys",
        "core_fields",
    ) else {
        return;
    };
    let path = obj.path().to_str().unwrap();
    // Its CO-RE reads are poisoned against Apiary's contexts, which the
    // verifier refuses as the kernel does; the listing skips verifying.
    let refused = apiary(&["prog", "load", path]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("the verifier refuses program read_task_fields"),
        "{}",
        stderr(&refused)
    );
    let out = apiary(&["prog", "load", "--no-verify", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("0: raw_tracepoint  name read_task_fields"),
        "{text}"
    );
    // Issue 3: CO-RE resolves against Apiary's own context types by
    // default; they have no task_struct, so every field access is poisoned
    // and the three field_exists checks read 0.
    assert!(
        text.contains(
            "co-re: read_task_fields: 22 relocations applied against Apiary's context types, 19 poisoned"
        ),
        "{text}"
    );

    for args in [
        vec!["-j", "prog", "load", "--no-verify", path],
        vec!["prog", "load", path, "--no-verify", "--json"],
    ] {
        let out = apiary(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let value: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON output");
        let program = &value["programs"][0];
        assert_eq!(program["name"], "read_task_fields");
        assert_eq!(program["type"], "raw_tracepoint");
        assert_eq!(program["gpl_compatible"], true);
        assert_eq!(program["bytes_xlated"], 128 * 8);
        assert_eq!(program["core_relos_unapplied"], 0);
        assert_eq!(value["maps"][0]["bytes_value"], 72);
        let relocations = value["core_relocations"][0]["relocations"]
            .as_array()
            .expect("relocations");
        assert_eq!(relocations.len(), 22);
        assert_eq!(
            relocations.iter().filter(|r| r["poisoned"] == true).count(),
            19
        );
    }
    // -p is bpftool's pretty form of the same JSON.
    let pretty = apiary(&["-p", "prog", "load", "--no-verify", path]);
    assert!(pretty.status.success(), "{}", stderr(&pretty));
    assert!(
        stdout(&pretty).starts_with("{\n    \""),
        "{}",
        stdout(&pretty)
    );
    let compact = apiary(&["-j", "prog", "load", "--no-verify", path]);
    let parse = |out: &std::process::Output| -> serde_json::Value {
        serde_json::from_str(&stdout(out)).expect("JSON output")
    };
    assert_eq!(parse(&pretty), parse(&compact));
}

#[test]
fn prog_load_with_target_btf_applies_core() {
    const TEST: &str = "prog_load_with_target_btf_applies_core";
    let Some(obj) = corpus_object(TEST, "core_fields") else {
        return;
    };
    if let Err(reason) = apiary_testskip::vmlinux_btf() {
        return apiary_testskip::skip(TEST, reason);
    }
    let path = obj.path().to_str().unwrap();
    let out = apiary(&["prog", "load", path, "--target-btf", VMLINUX]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains("unapplied"), "{text}");
    assert!(
        text.contains("co-re: read_task_fields: 22 relocations applied"),
        "{text}"
    );

    let out = apiary(&["-j", "prog", "load", path, "--target-btf", VMLINUX]);
    let value: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON output");
    let relocations = value["core_relocations"][0]["relocations"]
        .as_array()
        .unwrap();
    assert_eq!(relocations.len(), 22);
    // The kernel has no task_struct.apiary_missing: the field does not exist.
    assert!(
        relocations
            .iter()
            .any(|r| r["kind"] == "field_exists" && r["target"] == 0)
    );

    let bad = apiary(&["prog", "load", path, "--target-btf", "/nonexistent.btf"]);
    assert_one_line_error(&bad, "/nonexistent.btf");
}

#[test]
fn prog_dump_prints_xlated_with_and_without_keyword() {
    const TEST: &str = "prog_dump_prints_xlated_with_and_without_keyword";
    let Some(obj) = corpus_object(TEST, "core_fields") else {
        return;
    };
    let path = obj.path().to_str().unwrap();
    let plain = apiary(&["prog", "dump", path, "read_task_fields"]);
    assert!(plain.status.success(), "{}", stderr(&plain));
    let keyword = apiary(&["prog", "dump", "xlated", path, "read_task_fields"]);
    assert_eq!(stdout(&plain), stdout(&keyword));
    assert!(
        stdout(&plain).contains("call bpf_get_current_task#35"),
        "{}",
        stdout(&plain)
    );
    assert!(!stdout(&plain).contains("line_num:"));

    let linum = apiary(&["prog", "dump", "xlated", path, "linum"]);
    assert!(linum.status.success(), "{}", stderr(&linum));
    assert!(
        stdout(&linum).contains("core_fields.c line_num:"),
        "{}",
        stdout(&linum)
    );

    // Against Apiary's contexts (the default) task_struct's comm does not
    // exist: libbpf's poison call; against vmlinux its size, 16, as the
    // kernel's own xlated dump of this object shows.
    assert!(
        stdout(&plain).contains("  14: (85) call unknown#195896080\n"),
        "{}",
        stdout(&plain)
    );
    match apiary_testskip::vmlinux_btf() {
        Ok(_) => {
            let kernel = apiary(&["prog", "dump", path, "--target-btf", VMLINUX]);
            assert!(
                stdout(&kernel).contains("  14: (b7) r1 = 16\n"),
                "{}",
                stdout(&kernel)
            );
        }
        Err(reason) => apiary_testskip::skip(&format!("{TEST} (--target-btf)"), reason),
    }

    let missing = apiary(&["prog", "dump", path, "no_such_prog"]);
    assert_one_line_error(&missing, "no program named \"no_such_prog\"");
    assert_one_line_error(&missing, path);
}

#[test]
fn prog_dump_jited_interleaves_source_ebpf_and_x86() {
    let Some(obj) = corpus_object(
        "prog_dump_jited_interleaves_source_ebpf_and_x86",
        "xdp_proto_counter",
    ) else {
        return;
    };
    let path = obj.path().to_str().unwrap();
    let jited = apiary(&["prog", "dump", "jited", path, "xdp_count_protocols"]);
    assert!(jited.status.success(), "{}", stderr(&jited));
    let text = stdout(&jited);
    assert!(
        text.contains("int xdp_count_protocols(struct xdp_md * ctx):\n"),
        "{text}"
    );
    // The verified program's packet reads are unchecked in its code, so it
    // also has a checked copy, named in the listing.
    assert!(text.contains("\n; checked copy: "), "{text}");
    // Every eBPF instruction of the xlated listing heads its x86 code, in
    // both copies.
    let xlated = apiary(&["prog", "dump", "xlated", path, "xdp_count_protocols"]);
    for line in stdout(&xlated)
        .lines()
        .filter(|l| !l.starts_with(';') && l.contains(": ("))
    {
        assert_eq!(
            text.matches(&format!("; {line}\n")).count(),
            2,
            "{line} not in both copies:\n{text}"
        );
    }
    // `w2 = 257` in esi, the x86 register of eBPF r2 (the kernel's mapping).
    assert!(
        text.contains(";    0: (b4) w2 = 257\n") && text.contains(":\tmov    $0x101,%esi\n"),
        "{text}"
    );
    let opcodes = apiary(&[
        "prog",
        "dump",
        "jited",
        path,
        "xdp_count_protocols",
        "opcodes",
    ]);
    assert!(
        // B8+reg imm32, after the REX prefix dynasm emits for a register chosen at run time.
        stdout(&opcodes).contains(" be 01 01 00 00\n"),
        "{}",
        stdout(&opcodes)
    );
    // `-j`: bpftool's keys, the same code as the text listing.
    let json = apiary(&["-j", "prog", "dump", "jited", path, "xdp_count_protocols"]);
    assert!(json.status.success(), "{}", stderr(&json));
    let listing: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    assert_eq!(listing[0]["name"], "xdp_count_protocols", "{listing}");
    let insns = listing[0]["insns"].as_array().expect("insns");
    // eBPF instruction 0 (`w2 = 257`), after whatever budget check its group starts with.
    let first = insns
        .iter()
        .position(|i| i["bpf_insn"] == 0)
        .expect("an x86 instruction starting eBPF instruction 0");
    let mov = insns[first..]
        .iter()
        .take_while(|i| i["bpf_insn"].is_null() || i["bpf_insn"] == 0)
        .find(|i| i["operation"] == "mov")
        .expect("a mov in eBPF instruction 0's code");
    assert_eq!(mov["operation"], "mov", "{mov}");
    assert_eq!(mov["operands"], serde_json::json!(["$0x101", "%esi"]));
    assert_eq!(
        mov["opcodes"].as_array().map(|o| o.len()),
        Some(6),
        "REX prefix, opcode and imm32: {mov}"
    );
    for insn in insns {
        let pc = insn["pc"].as_str().expect("pc");
        assert!(
            text.contains(&format!("{:>4}:\t", &pc[2..])),
            "{pc} is not in the text listing"
        );
    }
    let missing = apiary(&["prog", "dump", "jited", path, "no_such_prog"]);
    assert_one_line_error(&missing, "no program named \"no_such_prog\"");
}

#[test]
fn object_commands_reject_bad_files_in_one_line() {
    let garbage = scratch("garbage.o");
    std::fs::write(&garbage, b"\x7fELF not really").unwrap();
    let garbage = garbage.to_str().unwrap();
    assert_one_line_error(&apiary(&["prog", "load", garbage]), garbage);
    assert_one_line_error(&apiary(&["prog", "dump", "xlated", garbage]), garbage);
    assert_one_line_error(&apiary(&["btf", "dump", "file", garbage]), garbage);
    assert_one_line_error(&apiary(&["prog", "load", "/no/such.o"]), "/no/such.o");
    assert_one_line_error(
        &apiary(&["btf", "dump", "file", garbage, "format", "json"]),
        "unknown format",
    );
}

#[test]
fn fuzz_diff_agrees_with_the_kernel_on_2000_programs() {
    if let Err(reason) = apiary_difftest::kernel_available() {
        return apiary_testskip::missing(
            "fuzz_diff_agrees_with_the_kernel_on_2000_programs",
            reason,
        );
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_apiary"))
        .args(["fuzz", "diff", "--count", "2000", "--seed", "5"])
        .output()
        .expect("apiary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let summary = stdout
        .lines()
        .find(|line| line.starts_with("2000 programs, "))
        .unwrap_or_default();
    // Root reads /dev/kmsg; these seeds make this kernel warn about nothing.
    assert!(
        summary.ends_with(", 0 divergences, 0 kernel warnings"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|line| line == "JIT against the interpreter: 0 divergences"),
        "{stdout}"
    );
}
