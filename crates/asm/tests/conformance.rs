//! Every `-- asm` section of the bpf_conformance and uBPF suites assembles,
//! matches the `-- raw` words where a file has them, and every
//! assembler-level negative case is rejected.

use std::path::{Path, PathBuf};

use apiary_asm::{AsmErrorKind, Syntax, assemble_slots, assemble_with};
use apiary_isa::RawInsn;

/// The shared conformance suites, or `None` after skipping `test`.
fn shared(test: &str) -> Option<PathBuf> {
    match apiary_testskip::shared("conformance") {
        Ok(dir) => Some(dir),
        Err(reason) => apiary_testskip::skip(test, reason),
    }
}

fn data_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            data_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "data") {
            out.push(path);
        }
    }
    out.sort();
}

/// The body of section `-- name`, if present.
fn section(text: &str, name: &str) -> Option<String> {
    let mut body = None::<String>;
    for line in text.lines() {
        if let Some(header) = line.strip_prefix("-- ") {
            if body.is_some() {
                break;
            }
            if header.trim() == name {
                body = Some(String::new());
            }
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
    body
}

/// `-- raw` holds 64-bit words (`0x...`) or 8 hex bytes per line.
fn raw_slots(raw: &str) -> Vec<RawInsn> {
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix("0x") {
            Some(word) => RawInsn::from_u64(u64::from_str_radix(word, 16).expect("raw word")),
            None => {
                let bytes: Vec<u8> = l
                    .split_whitespace()
                    .map(|b| u8::from_str_radix(b, 16).expect("raw byte"))
                    .collect();
                RawInsn::from_le_bytes(bytes.try_into().expect("8 bytes per raw line"))
            }
        })
        .collect()
}

#[test]
fn every_asm_section_assembles_and_matches_raw() {
    let Some(root) = shared("every_asm_section_assembles_and_matches_raw") else {
        return;
    };
    let mut files = Vec::new();
    data_files(&root.join("bpf_conformance/tests"), &mut files);
    data_files(&root.join("ubpf/tests"), &mut files);
    assert!(
        files.len() >= 313 + 50,
        "found only {} .data files",
        files.len()
    );
    let (mut assembled, mut compared, mut rejected) = (0, 0, 0);
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read .data");
        let Some(asm) = section(&text, "asm") else {
            continue;
        };
        match assemble_slots(&asm) {
            Ok(slots) => {
                assembled += 1;
                if let Some(raw) = section(&text, "raw") {
                    compared += 1;
                    if slots != raw_slots(&raw) {
                        failures.push(format!("{}: assembly differs from -- raw", file.display()));
                    }
                }
            }
            // uBPF's runtime-error cases use registers r11-r15, which no
            // `Insn` can hold: refusing them at assembly is the same verdict.
            Err(e)
                if section(&text, "error").is_some()
                    && matches!(&e.kind, AsmErrorKind::BadRegister(r) if r.starts_with("%r1")) =>
            {
                eprintln!(
                    "rejected at assembly (expected error): {}: {e}",
                    file.display()
                );
                rejected += 1;
            }
            Err(e) => failures.push(format!("{}: {e}", file.display())),
        }
    }
    eprintln!(
        "assembled {assembled} asm sections, compared {compared} with -- raw, {rejected} expected rejections"
    );
    assert!(
        compared >= 7 && rejected <= 2,
        "compared {compared}, rejected {rejected}"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(assembled >= 370, "only {assembled} asm sections assembled");
}

#[test]
fn assembler_level_negative_cases_are_rejected() {
    let Some(root) = shared("assembler_level_negative_cases_are_rejected") else {
        return;
    };
    // The negative cases whose `-- asm` the conformance assembler refuses;
    // the others (`error.data`, `incorrect_return_value_high_bits.data`) are
    // valid assembly that a runtime must refuse or mis-compute.
    type Check = fn(&AsmErrorKind) -> bool;
    let cases: [(&str, Check); 9] = [
        ("invalid_imm32_dec_range", |k| {
            matches!(
                k,
                AsmErrorKind::OutOfRange {
                    what: "immediate",
                    ..
                }
            )
        }),
        ("invalid_imm32_hex_range", |k| {
            matches!(
                k,
                AsmErrorKind::OutOfRange {
                    what: "immediate",
                    ..
                }
            )
        }),
        (
            "invalid_label",
            |k| matches!(k, AsmErrorKind::UndefinedLabel(l) if l == "NOT_A_LABEL"),
        ),
        ("invalid_lock", |k| {
            matches!(k, AsmErrorKind::OperandCount { found: 1, .. })
        }),
        ("invalid_lock2", |k| {
            matches!(k, AsmErrorKind::OperandCount { found: 0, .. })
        }),
        (
            "invalid_mnemonic",
            |k| matches!(k, AsmErrorKind::UnknownMnemonic(m) if m == "ldxq"),
        ),
        ("invalid_offset", |k| {
            matches!(k, AsmErrorKind::Unexpected { .. })
        }),
        ("invalid_offset_range", |k| {
            matches!(k, AsmErrorKind::OutOfRange { what: "offset", .. })
        }),
        (
            "invalid_register",
            |k| matches!(k, AsmErrorKind::BadRegister(r) if r == "%r50"),
        ),
    ];
    for (name, expected) in cases {
        let path = root.join(format!("bpf_conformance/negative/{name}.data"));
        let text = std::fs::read_to_string(&path).expect("negative case");
        let asm = section(&text, "asm").expect("asm section");
        let err = assemble_with(&asm, Some(Syntax::Ubpf)).expect_err(name);
        assert!(expected(&err.kind), "{name}: unexpected error {err}");
        assert_eq!(
            err.line,
            asm.lines().position(|l| !l.starts_with('#')).unwrap_or(0) + 1,
            "{name}: {err}"
        );
        // Automatic detection reaches the same verdict.
        assert_eq!(apiary_asm::assemble(&asm).expect_err(name), err, "{name}");
    }
    // `invalid_operand_count`: lddw without its immediate.
    let text =
        std::fs::read_to_string(root.join("bpf_conformance/negative/invalid_operand_count.data"))
            .expect("read");
    let err = apiary_asm::assemble(&section(&text, "asm").expect("asm")).expect_err("lddw %r0");
    assert!(
        matches!(
            err.kind,
            AsmErrorKind::OperandCount {
                expected: 2,
                found: 1,
                ..
            }
        ),
        "{err}"
    );
    // The runtime-level negatives are valid assembly.
    for name in ["error", "incorrect_return_value_high_bits"] {
        let text =
            std::fs::read_to_string(root.join(format!("bpf_conformance/negative/{name}.data")))
                .expect("read");
        apiary_asm::assemble(&section(&text, "asm").expect("asm")).expect(name);
    }
}
