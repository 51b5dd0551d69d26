//! Builds the starting corpora of both fuzz targets from bpf_conformance
//! style `.data` files (`-- asm` or `-- raw` program, optional `-- mem`).
//!
//! Usage: `cargo run --bin make_seeds -- <dir with .data files>...`; writes
//! `corpus/decode_and_run/<name>` (in that target's input layout: context
//! length, packet length 0, context bytes, bytecode) and
//! `corpus/roundtrip/<name>` (bytecode only). Files that do not assemble are
//! reported and skipped.

use std::collections::BTreeMap;
use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use apiary_isa::slots_to_bytes;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// The sections of a `.data` file, by name, with their text.
fn sections(text: &str) -> BTreeMap<&str, String> {
    let mut out: BTreeMap<&str, String> = BTreeMap::new();
    let mut current = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("-- ") {
            current = Some(name.trim());
            continue;
        }
        if let Some(name) = current {
            let body = out.entry(name).or_default();
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// Hex bytes separated by whitespace, or one `0x` 64-bit word per line
/// (stored little-endian, as the suite's raw sections mean it).
fn hex_bytes(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if let Some(word) = line.strip_prefix("0x") {
            out.extend(u64::from_str_radix(word, 16)?.to_le_bytes());
        } else {
            for token in line.split_whitespace() {
                out.push(u8::from_str_radix(token, 16)?);
            }
        }
    }
    Ok(out)
}

fn bytecode(sections: &BTreeMap<&str, String>) -> Result<Vec<u8>> {
    if let Some(raw) = sections.get("raw") {
        return hex_bytes(raw);
    }
    let asm = sections.get("asm").ok_or("no asm or raw section")?;
    Ok(slots_to_bytes(&apiary_asm::assemble_slots(asm)?))
}

fn seed(path: &Path, out: &Path) -> Result<()> {
    let text = fs::read_to_string(path)?;
    let sections = sections(&text);
    let code = bytecode(&sections)?;
    let memory = match sections.get("mem") {
        Some(mem) => hex_bytes(mem)?,
        None => Vec::new(),
    };
    let context_len = u8::try_from(memory.len()).map_err(|_| "memory longer than 255 bytes")?;
    let name = path.file_stem().ok_or("no file name")?;
    let mut run_input = vec![context_len, 0];
    run_input.extend(&memory);
    run_input.extend(&code);
    fs::write(out.join("decode_and_run").join(name), run_input)?;
    fs::write(out.join("roundtrip").join(name), code)?;
    Ok(())
}

fn data_files(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            data_files(&path, found)?;
        } else if path.extension().is_some_and(|e| e == "data") {
            found.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    fs::create_dir_all(out.join("decode_and_run"))?;
    fs::create_dir_all(out.join("roundtrip"))?;
    let mut files = Vec::new();
    for dir in std::env::args().skip(1) {
        data_files(Path::new(&dir), &mut files)?;
    }
    let (mut written, mut skipped) = (0, 0);
    for file in &files {
        match seed(file, &out) {
            Ok(()) => written += 1,
            Err(e) => {
                skipped += 1;
                eprintln!("skipped {}: {e}", file.display());
            }
        }
    }
    println!(
        "{written} seeds written to {}, {skipped} files skipped",
        out.display()
    );
    Ok(())
}
