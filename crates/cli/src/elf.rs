//! Disassembly listings in the layout of `llvm-objdump -d`.

use std::fmt::Write;

use apiary_asm::{FormatOptions, Syntax, format_insn_with};
use apiary_isa::{INSN_SIZE, Insn, RawInsn, slots_from_bytes};
use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

/// Options `llvm-objdump -d` matches in LLVM syntax; uBPF syntax stays lossless.
fn listing_options(syntax: Syntax) -> FormatOptions {
    FormatOptions {
        objdump_compat: syntax == Syntax::Llvm,
        ..FormatOptions::lossless(syntax)
    }
}

/// Lists `slots` one instruction per line (`index: bytes<TAB>text`), with a
/// `<name>:` header before each slot index named in `labels`. A slot that
/// does not decode prints as `<unknown>`, as llvm-objdump does.
pub fn disassemble_slots(
    slots: &[RawInsn],
    syntax: Syntax,
    labels: &[(usize, String)],
) -> Result<String, String> {
    let options = listing_options(syntax);
    let mut out = String::new();
    let mut index = 0;
    while let Some(rest) = slots.get(index..).filter(|rest| !rest.is_empty()) {
        for (_, name) in labels.iter().filter(|(at, _)| *at == index) {
            if index != 0 || !out.is_empty() {
                out.push('\n');
            }
            let _ = writeln!(out, "{:016x} <{name}>:", index * INSN_SIZE);
        }
        let (text, used) = match Insn::decode(rest) {
            Ok(insn) => {
                let mut text = format_insn_with(&insn, &options, None);
                if let Some(note) = jump_annotation(&insn, index, labels) {
                    text.push_str(&note);
                }
                (text, insn.slots().min(rest.len()))
            }
            Err(_) => ("<unknown>".to_string(), 1),
        };
        let bytes: Vec<String> = rest
            .iter()
            .take(used)
            .flat_map(|slot| slot.to_le_bytes())
            .map(|b| format!("{b:02x}"))
            .collect();
        let _ = writeln!(out, "{index:>8}:\t{}\t{text}", bytes.join(" "));
        index += used.max(1);
    }
    Ok(out)
}

/// llvm-objdump's ` <symbol+0xOFFSET>` after a jump, naming its target by
/// the nearest preceding symbol (only when the listing has symbols).
fn jump_annotation(insn: &Insn, index: usize, labels: &[(usize, String)]) -> Option<String> {
    if !matches!(
        insn,
        Insn::Jump { .. } | Insn::Ja { .. } | Insn::Ja32 { .. }
    ) {
        return None;
    }
    let target = usize::try_from(index as i64 + 1 + insn.branch_offset()?).ok()?;
    let (start, name) = labels.iter().rev().find(|(at, _)| *at <= target)?;
    let offset = (target - start) * INSN_SIZE;
    Some(if offset == 0 {
        format!(" <{name}>")
    } else {
        format!(" <{name}+{offset:#x}>")
    })
}

/// Lists every executable section of an ELF object like `llvm-objdump -d`:
/// `Disassembly of section NAME:` and one `<symbol>:` header per function.
pub fn disassemble_object(bytes: &[u8], file_name: &str, syntax: Syntax) -> Result<String, String> {
    let file = object::File::parse(bytes).map_err(|e| format!("bad ELF object: {e}"))?;
    let mut out = format!("\n{file_name}:\tfile format elf64-bpf\n");
    for section in file.sections() {
        if section.kind() != SectionKind::Text || section.size() == 0 {
            continue;
        }
        let name = section
            .name()
            .map_err(|e| format!("bad section name: {e}"))?;
        let data = section
            .data()
            .map_err(|e| format!("section {name}: cannot read its bytes: {e}"))?;
        let slots = slots_from_bytes(data).map_err(|e| format!("section {name}: {e}"))?;
        let mut labels: Vec<(usize, String)> = file
            .symbols()
            .filter(|s| s.section_index() == Some(section.index()))
            .filter(|s| matches!(s.kind(), SymbolKind::Text | SymbolKind::Label))
            .filter(|s| s.kind() == SymbolKind::Text || s.is_global())
            .filter_map(|s| {
                let name = s.name().ok()?.to_string();
                (!name.is_empty()).then_some(((s.address() as usize) / INSN_SIZE, name))
            })
            .collect();
        labels.sort();
        labels.dedup();
        if labels.first().is_none_or(|(at, _)| *at != 0) {
            labels.insert(0, (0, name.to_string()));
        }
        let _ = write!(out, "\nDisassembly of section {name}:\n\n");
        out.push_str(&disassemble_slots(&slots, syntax, &labels)?);
    }
    Ok(out)
}
