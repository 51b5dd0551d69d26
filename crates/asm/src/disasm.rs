//! Whole programs to text, with relative offsets or labels.

use std::collections::BTreeSet;

use crate::format::{FormatOptions, format_insn_with};
use apiary_isa::{DecodeError, Insn, decode_slots, slots_from_bytes};

/// Disassembles `insns` in LLVM syntax exactly as `llvm-objdump-19 -d`
/// prints instruction text, one instruction per line.
pub fn disassemble(insns: &[Insn]) -> String {
    disassemble_with(insns, &FormatOptions::default())
}

/// Disassembles `insns` with `options`, one instruction per line. With
/// `options.labels`, every in-range branch target gets a label line `L<slot>:`
/// and branches name it; targets outside the program keep their offset.
pub fn disassemble_with(insns: &[Insn], options: &FormatOptions) -> String {
    let mut starts = Vec::with_capacity(insns.len());
    let mut slot = 0i64;
    for insn in insns {
        starts.push(slot);
        slot += insn.slots() as i64;
    }
    let target_of = |index: usize, insn: &Insn| {
        let target = starts.get(index)? + insn.branch_offset()? + 1;
        starts.binary_search(&target).ok().map(|_| target)
    };
    let targets: BTreeSet<i64> = if options.labels {
        insns
            .iter()
            .enumerate()
            .filter_map(|(i, insn)| target_of(i, insn))
            .collect()
    } else {
        BTreeSet::new()
    };
    let mut out = String::new();
    for (i, insn) in insns.iter().enumerate() {
        let here = starts.get(i).copied().unwrap_or_default();
        if targets.contains(&here) {
            out.push_str(&format!("L{here}:\n"));
        }
        let label = if options.labels {
            target_of(i, insn).map(|t| format!("L{t}"))
        } else {
            None
        };
        out.push_str(&format_insn_with(insn, options, label.as_deref()));
        out.push('\n');
    }
    out
}

/// Decodes little-endian bytecode and disassembles it with `options`.
pub fn disassemble_bytes(bytes: &[u8], options: &FormatOptions) -> Result<String, DecodeError> {
    let slots = slots_from_bytes(bytes)?;
    let insns: Vec<Insn> = decode_slots(&slots)?.into_iter().map(|(_, i)| i).collect();
    Ok(disassemble_with(&insns, options))
}
