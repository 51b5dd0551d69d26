//! `apiary prog dump jited FILE.o [PROG] [linum] [opcodes]`: the machine
//! code Apiary's JIT makes for a program, as `bpftool prog dump jited`
//! prints it (AT&T syntax, offsets in hex), with each eBPF instruction and
//! its C source line above the code it became.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use apiary_loader::{Object, ProgramSpec, XlatedOptions, annotations, format_xlated_insn};
use apiary_runtime::{Env, Runtime};
use apiary_vm::{CompiledCode, Program};

use crate::CliResult;
use crate::coretarget::CoreTarget;
use crate::error::CliError;
use crate::objects::open_object;
use crate::progrun::emit;

/// `words` are what follows `jited`.
pub fn prog_dump_jited(words: &[&str], target: &CoreTarget) -> CliResult {
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
    let mut listings = Vec::new();
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
        apiary_jit::compile(&program).map_err(|e| CliError::at(&spec.name, e))?;
        let code = program
            .compiled()
            .ok_or_else(|| CliError::at(&spec.name, "no native code attached"))?;
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
    // The last op is the vm's sentinel past the end; what follows it is out of line.
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
        section(&mut out, offsets[op], offsets[op + 1]);
    }
    out.push_str("; past the last instruction: slow paths, stubs and exits\n");
    section(
        &mut out,
        offsets.get(ops).copied().unwrap_or(0),
        bytes.len() as u32,
    );
    out
}
