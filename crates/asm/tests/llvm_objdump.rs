//! Agreement with `llvm-objdump-19 -d`: for every instruction of every
//! corpus object and of `tests/data/rare.c`, our disassembly of its bytes
//! equals llvm's text, and our assembler turns llvm's text back into the
//! same bytes wherever that text identifies the instruction.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use apiary_asm::{FormatOptions, Syntax, assemble, format_insn_with};
use apiary_isa::{AtomicOp, CallTarget, Insn, LdImm64Kind, PacketMode, RawInsn, Size};

const OBJDUMP: &str = "llvm-objdump-19";

const TEST: &str = "disassembly_matches_llvm_objdump_on_the_corpus_and_rare_instructions";

/// Instruction lines of `llvm-objdump-19 -d` by (section, slot): bytes and text.
fn objdump(path: &Path, extra: &[&str]) -> BTreeMap<(String, usize), (Vec<u8>, String)> {
    let out = Command::new(OBJDUMP)
        .arg("-d")
        .args(extra)
        .arg(path)
        .output()
        .expect("run llvm-objdump-19");
    assert!(
        out.status.success(),
        "llvm-objdump-19 failed on {}",
        path.display()
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 output");
    let mut section = String::new();
    let mut lines = BTreeMap::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("Disassembly of section ") {
            section = name.trim_end_matches(':').to_owned();
            continue;
        }
        let mut fields = line.splitn(3, '\t');
        let (Some(addr), Some(bytes), Some(insn)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(slot) = addr
            .trim()
            .strip_suffix(':')
            .and_then(|a| a.parse::<usize>().ok())
        else {
            continue;
        };
        let bytes: Vec<u8> = bytes
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).expect("hex byte"))
            .collect();
        lines.insert((section.clone(), slot), (bytes, strip_symbolization(insn)));
    }
    lines
}

/// Drops the ` <func+0x10>` llvm-objdump appends to branch targets.
fn strip_symbolization(text: &str) -> String {
    match text.rfind(" <") {
        Some(at)
            if text.ends_with('>') && (text[..at].contains("goto") || text.starts_with("call")) =>
        {
            text[..at].to_owned()
        }
        _ => text.to_owned(),
    }
}

/// llvm-objdump-19 without `+alu32` prints every 32-bit atomic except the
/// plain add as `<unknown>` (or misreads a fetch-add as a plain add).
fn needs_alu32(insn: &Insn) -> bool {
    matches!(insn, Insn::Atomic { size: Size::W, op, .. } if *op != AtomicOp::Add { fetch: false })
}

/// Where llvm's text does not identify the instruction, so assembling it
/// cannot give the same bytes (documented on `FormatOptions::objdump_compat`).
fn llvm_text_is_lossy(insn: &Insn) -> bool {
    match insn {
        Insn::Call(CallTarget::Local(_) | CallTarget::Kfunc { .. }) => true,
        Insn::LoadImm64 { kind, imm, .. } => *kind != LdImm64Kind::Imm && imm >> 32 != 0,
        Insn::LoadPacket {
            mode: PacketMode::Ind,
            imm,
            ..
        } => *imm != 0,
        _ => false,
    }
}

fn variant(insn: &Insn) -> String {
    let debug = format!("{insn:?}");
    debug
        .split([' ', '(', '{'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

struct Tally {
    compared: usize,
    reassembled: usize,
    variants: BTreeSet<String>,
    failures: Vec<String>,
}

fn check_object(path: &Path, tally: &mut Tally) {
    let plain = objdump(path, &[]);
    let alu32 = objdump(path, &["--mattr=+alu32"]);
    for (key, (bytes, llvm_text)) in &plain {
        let slots: Vec<RawInsn> = bytes
            .chunks_exact(8)
            .map(|c| RawInsn::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect();
        let insn = match Insn::decode(&slots) {
            Ok(insn) => insn,
            Err(e) => {
                tally.failures.push(format!(
                    "{} {key:?}: our decoder refuses {bytes:02x?}: {e}",
                    path.display()
                ));
                continue;
            }
        };
        let expected = if needs_alu32(&insn) {
            alu32
                .get(key)
                .map_or(llvm_text.as_str(), |(_, t)| t.as_str())
        } else {
            llvm_text.as_str()
        };
        let ours = format_insn_with(&insn, &FormatOptions::default(), None);
        tally.compared += 1;
        tally.variants.insert(variant(&insn));
        if ours != expected {
            tally.failures.push(format!(
                "{} {key:?} {bytes:02x?}: llvm `{expected}`, ours `{ours}`",
                path.display()
            ));
            continue;
        }
        let text = if llvm_text_is_lossy(&insn) {
            format_insn_with(&insn, &FormatOptions::lossless(Syntax::Llvm), None)
        } else {
            expected.to_owned()
        };
        match assemble(&text) {
            Ok(back) if back == [insn] => tally.reassembled += 1,
            other => tally.failures.push(format!(
                "{} {key:?}: `{text}` assembles to {other:?}, not {insn:?}",
                path.display()
            )),
        }
    }
}

fn compile_rare() -> Option<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rare.c");
    let out = std::env::temp_dir().join(format!("apiary-asm-rare-{}.o", std::process::id()));
    let status = Command::new("clang-19")
        .args(["-target", "bpf", "-O2", "-mcpu=v4", "-c"])
        .arg(&source)
        .arg("-o")
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => Some(out),
        Ok(s) => panic!("clang-19 failed on rare.c: {s}"),
        Err(e) => apiary_testskip::missing(
            &format!("{TEST} (rare.c)"),
            format!("clang-19 cannot run: {e}"),
        ),
    }
}

#[test]
fn disassembly_matches_llvm_objdump_on_the_corpus_and_rare_instructions() {
    if let Err(reason) = apiary_testskip::tool(OBJDUMP, "--version") {
        return apiary_testskip::skip(TEST, reason);
    }
    let mut tally = Tally {
        compared: 0,
        reassembled: 0,
        variants: BTreeSet::new(),
        failures: Vec::new(),
    };
    match apiary_corpus::objects() {
        Ok(objects) => {
            for object in objects {
                check_object(object.path(), &mut tally);
            }
        }
        Err(e) => apiary_testskip::missing(&format!("{TEST} (corpus objects)"), e),
    }
    let corpus_count = tally.compared;
    if let Some(rare) = compile_rare() {
        check_object(&rare, &mut tally);
        let _ = std::fs::remove_file(&rare);
        // Every variant llvm-objdump-19 can print (it has no load-acquire or
        // store-release) appeared.
        for v in [
            "Alu",
            "Neg",
            "MovSx",
            "AddrSpaceCast",
            "Endian",
            "Load",
            "Store",
            "Atomic",
            "LoadImm64",
            "LoadPacket",
            "Jump",
            "Ja",
            "Ja32",
            "MayGoto",
            "Call",
            "Callx",
            "Exit",
        ] {
            assert!(tally.variants.contains(v), "variant {v} never compared");
        }
    }
    eprintln!(
        "compared {} instructions ({corpus_count} from the corpus), reassembled {}",
        tally.compared, tally.reassembled
    );
    assert!(
        tally.failures.is_empty(),
        "{} disagreements:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
    assert!(
        corpus_count > 1000,
        "only {corpus_count} corpus instructions compared"
    );
}
