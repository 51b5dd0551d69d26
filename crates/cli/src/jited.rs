//! `apiary prog dump jited FILE.o [PROG] [linum] [opcodes]`: the machine
//! code Apiary's JIT makes for a program, as `bpftool prog dump jited`
//! prints it (AT&T syntax, offsets in hex), with each eBPF instruction and
//! its C source line above the code it became; with `-j`, bpftool's JSON
//! (one object per program: `name`, and `insns` with `pc`, `operation`,
//! `operands` and `opcodes`, plus `bpf_insn` on the first x86 instruction
//! of each eBPF instruction).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use apiary_loader::{Object, ProgramSpec, XlatedOptions, annotations, format_xlated_insn};
use apiary_runtime::{Env, Runtime};
use apiary_vm::{CompiledCode, Program};
use serde_json::{Value, json};

use crate::CliResult;
use crate::coretarget::CoreTarget;
use crate::error::CliError;
use crate::objects::open_object;
use crate::progrun::{OutputFormat, emit};

/// `words` are what follows `jited`.
pub fn prog_dump_jited(words: &[&str], target: &CoreTarget, format: OutputFormat) -> CliResult {
    let mut words = words.to_vec();
    let mut flag = |name: &str| {
        let found = words.len() > 1 && words.last() == Some(&name);
        if found {
            words.pop();
        }
        found
    };
    let opcodes = flag("opcodes");
    let linum = flag("linum");
    let (file, wanted) = match words.as_slice() {
        [file] => (Path::new(file), None),
        [file, program] => (Path::new(file), Some(*program)),
        _ => {
            return Err(CliError::at(
                "arguments",
                "expected `prog dump jited FILE.o [PROG] [linum] [opcodes]`",
            ));
        }
    };
    let object = open_object(file, target, &apiary_loader::UserTyping::default())?.object;
    let runtime = Runtime::new(1);
    let loaded = runtime
        .load_object(&object)
        .map_err(|e| CliError::at(file.display(), e))?;
    // The code `prog run` runs: with the verifier's proofs where it accepts.
    let compile = crate::progrun::jit_for(apiary_verifier::verify_object(&object));
    let mut listings = Vec::new();
    let mut json_listings = Vec::new();
    for spec in object.programs.iter().flatten() {
        if wanted.is_some_and(|name| name != spec.name) {
            continue;
        }
        let program = loaded
            .programs
            .iter()
            .find(|(name, _)| *name == spec.name)
            .and_then(|(_, id)| id.as_ref().ok())
            .and_then(|id| runtime.program(*id))
            .ok_or_else(|| CliError::at(&spec.name, "the program did not load"))?;
        compile(&spec.name, &program).map_err(|e| CliError::at(&spec.name, e))?;
        let code = program
            .compiled()
            .ok_or_else(|| CliError::at(&spec.name, "no native code attached"))?;
        if format != OutputFormat::Text {
            json_listings.push(json_listing(&spec.name, &program, code));
            continue;
        }
        let text = listing(
            &object,
            spec,
            &program,
            code,
            XlatedOptions { linum },
            opcodes,
        );
        listings.push(if wanted.is_some() {
            text
        } else {
            format!("{}:\n{text}", spec.name)
        });
    }
    if !json_listings.is_empty() {
        let all = Value::Array(json_listings);
        return emit(&if format == OutputFormat::PrettyJson {
            format!("{all:#}\n")
        } else {
            format!("{all}\n")
        })
        .map(|()| ExitCode::SUCCESS);
    }
    if listings.is_empty() {
        let name = wanted.unwrap_or_default();
        return Err(CliError::at(
            file.display(),
            format!("no program named {name:?}"),
        ));
    }
    emit(&listings.join("\n"))?;
    Ok(ExitCode::SUCCESS)
}

/// The listing of one program: the entry sequence, then each eBPF
/// instruction (as a comment, after its function and source lines) above
/// its x86 code, then the out-of-line code (slow paths, exits).
fn listing(
    object: &Object,
    spec: &ProgramSpec,
    program: &Program<Env>,
    code: &dyn CompiledCode<Env>,
    options: XlatedOptions,
    opcodes: bool,
) -> String {
    let (bytes, offsets) = (code.machine_code(), code.op_offsets());
    let mut out = String::new();
    let section = |out: &mut String, start: u32, end: u32| {
        for insn in apiary_jit::disassemble(bytes, start, end) {
            let _ = writeln!(out, "{:4x}:\t{}", insn.offset, insn.text);
            if opcodes {
                let hex: Vec<String> = insn.bytes.iter().map(|b| format!("{b:02x}")).collect();
                let _ = writeln!(out, "\t{}", hex.join(" "));
            }
        }
    };
    let first = offsets.first().copied().unwrap_or(0);
    out.push_str("; entry: save registers, load the eBPF registers\n");
    section(&mut out, 0, first);
    let ebpf_body = |out: &mut String, offsets: &[u32]| {
        // The last op is the vm's sentinel past the end.
        let ops = offsets.len().saturating_sub(1);
        for op in 0..ops {
            let slot = program.slot_of(op);
            for line in annotations(object, spec, slot, options) {
                let _ = writeln!(out, "{line}");
            }
            let _ = writeln!(
                out,
                "; {slot:4}: {}",
                format_xlated_insn(object, spec, slot)
            );
            section(out, offsets[op], offsets[op + 1]);
        }
        offsets.get(ops).copied().unwrap_or(0)
    };
    let mut past = ebpf_body(&mut out, offsets);
    if let Some(checked) = code.checked_op_offsets() {
        out.push_str("; past the last instruction\n");
        let checked_start = checked.first().copied().unwrap_or(past);
        section(&mut out, past, checked_start);
        out.push_str(
            "; checked copy: the same instructions with every access and the budget \
             checked, run when the code above may not be (no packet buffer given, \
             too little budget, a context it was not proven for, or a start past \
             the first instruction)\n",
        );
        past = ebpf_body(&mut out, checked);
    }
    out.push_str("; past the last instruction: slow paths, stubs and exits\n");
    section(&mut out, past, bytes.len() as u32);
    out
}

/// One program as bpftool's `-j prog dump jited` prints a function: every
/// x86 instruction of its code (entry, body, out-of-line paths) with its
/// bytes, and the eBPF instruction each body instruction starts.
fn json_listing(name: &str, program: &Program<Env>, code: &dyn CompiledCode<Env>) -> Value {
    let (bytes, offsets) = (code.machine_code(), code.op_offsets());
    // The last op is the vm's sentinel past the end: it starts no eBPF instruction.
    let ops = offsets.len().saturating_sub(1);
    let mut starts = offsets[..ops].iter().enumerate().peekable();
    let insns = apiary_jit::disassemble(bytes, 0, bytes.len() as u32)
        .into_iter()
        .map(|insn| {
            let (operation, operands) = split_att(&insn.text);
            let mut entry = json!({
                "pc": format!("{:#x}", insn.offset),
                "operation": operation,
                "operands": operands,
                "opcodes": insn.bytes.iter().map(|b| format!("{b:#04x}")).collect::<Vec<_>>(),
            });
            // Ops with no code of their own share the offset of the next.
            let mut first = None;
            while let Some(&(op, &at)) = starts.peek()
                && at <= insn.offset
            {
                first.get_or_insert(op);
                starts.next();
            }
            if let Some(op) = first {
                entry["bpf_insn"] = json!(program.slot_of(op));
            }
            entry
        })
        .collect::<Vec<_>>();
    json!({ "name": name, "insns": insns })
}

/// `mov    %rdi,%rax` as (`mov`, [`%rdi`, `%rax`]): operands split at the
/// commas outside parentheses, as bpftool splits the disassembler's text.
fn split_att(text: &str) -> (&str, Vec<&str>) {
    let (operation, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim();
    let mut operands = Vec::new();
    let (mut depth, mut from) = (0usize, 0);
    for (i, c) in rest.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                operands.push(rest[from..i].trim());
                from = i + 1;
            }
            _ => {}
        }
    }
    if !rest.is_empty() {
        operands.push(rest[from..].trim());
    }
    (operation, operands)
}

#[cfg(test)]
mod tests {
    use super::split_att;

    #[test]
    fn att_text_splits_at_top_level_commas() {
        assert_eq!(split_att("ret"), ("ret", vec![]));
        assert_eq!(
            split_att("mov    0x8(%r12,%r10,8),%rax"),
            ("mov", vec!["0x8(%r12,%r10,8)", "%rax"])
        );
        assert_eq!(split_att("jmp    0x40"), ("jmp", vec!["0x40"]));
    }
}
