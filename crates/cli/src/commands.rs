//! The subcommands.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use apiary_asm::Syntax;
use apiary_conformance::FileOutcome;
use apiary_isa::{INSN_SIZE, RawInsn, encode_program, slots_from_bytes};

use crate::CliResult;
use crate::error::CliError;
use crate::hex::decode_hex;

/// Largest input file read (program, memory or object): far above any real eBPF program.
const MAX_INPUT_BYTES: u64 = 256 << 20;

fn read_input(path: &Path) -> Result<Vec<u8>, CliError> {
    let file = std::fs::File::open(path).map_err(|e| CliError::at(path.display(), e))?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::at(path.display(), e))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(CliError::at(
            path.display(),
            format!("file is larger than {MAX_INPUT_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

fn read_text(path: &Path) -> Result<String, CliError> {
    String::from_utf8(read_input(path)?)
        .map_err(|e| CliError::at(path.display(), format!("not UTF-8 text: {e}")))
}

/// Assembles source text, reporting errors against `path`'s lines.
fn assemble_text(path: &Path, text: &str) -> Result<Vec<RawInsn>, CliError> {
    let insns = apiary_asm::assemble(text)
        .map_err(|e| CliError::at_line(path.display(), e.line, &e.kind))?;
    Ok(encode_program(&insns))
}

/// Whether a path names raw bytecode rather than assembler source.
fn is_bytecode_path(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("bin" | "o" | "bpf")
    )
}

/// Reads a program: raw bytecode for `.bin`/`.o`/`.bpf`, assembler source otherwise.
fn load_program(path: &Path) -> Result<Vec<RawInsn>, CliError> {
    if is_bytecode_path(path) {
        bytecode_slots(path, &read_input(path)?)
    } else {
        assemble_text(path, &read_text(path)?)
    }
}

fn bytecode_slots(path: &Path, bytes: &[u8]) -> Result<Vec<RawInsn>, CliError> {
    slots_from_bytes(bytes).map_err(|e| {
        CliError::at(
            path.display(),
            format!("truncated bytecode: {e} (each instruction is {INSN_SIZE} bytes)"),
        )
    })
}

/// `apiary asm`.
pub fn assemble_file(path: &Path, output: Option<&Path>) -> CliResult {
    let slots = assemble_text(path, &read_text(path)?)?;
    let bytes: Vec<u8> = slots.iter().flat_map(|s| s.to_le_bytes()).collect();
    match output {
        Some(out) if out == Path::new("-") => std::io::stdout()
            .write_all(&bytes)
            .map_err(|e| CliError::at("stdout", e))?,
        _ => {
            let out = output
                .map(Path::to_path_buf)
                .unwrap_or_else(|| path.with_extension("bin"));
            std::fs::write(&out, &bytes).map_err(|e| CliError::at(out.display(), e))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `apiary disasm`.
pub fn disassemble_file(path: &Path, syntax: Syntax) -> CliResult {
    let bytes = read_input(path)?;
    let text = if bytes.starts_with(b"\x7fELF") {
        crate::elf::disassemble_object(&bytes, &path.display().to_string(), syntax)
            .map_err(|problem| CliError::at(path.display(), problem))?
    } else {
        let slots = bytecode_slots(path, &bytes)?;
        crate::elf::disassemble_slots(&slots, syntax, &[])
            .map_err(|problem| CliError::at(path.display(), problem))?
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// `apiary run`.
pub fn run_file(path: &Path, mem: Option<&str>, mem_file: Option<&Path>, json: bool) -> CliResult {
    let slots = load_program(path)?;
    let mut memory = match (mem, mem_file) {
        (Some(hex), _) => decode_hex(hex).map_err(|e| CliError::at("--mem", e))?,
        (None, Some(file)) => read_input(file)?,
        (None, None) => Vec::new(),
    };
    let execution = apiary_conformance::execute(&slots, &mut memory)
        .map_err(|e| CliError::at(path.display(), e))?;
    let r0 = execution.r0;
    if json {
        println!(
            "{{\"r0\": {r0}, \"r0_hex\": \"{r0:#x}\", \"r0_signed\": {}, \"slots\": {}}}",
            r0 as i64, execution.slots
        );
    } else {
        println!("r0 = {r0} ({r0:#x})");
    }
    Ok(ExitCode::SUCCESS)
}

/// `apiary conformance`.
pub fn conformance(paths: &[PathBuf]) -> CliResult {
    let mut files = Vec::new();
    for path in paths {
        apiary_conformance::collect_data_files(path, &mut files)
            .map_err(|e| CliError::at(path.display(), e))?;
    }
    let outcomes: Vec<FileOutcome> = files
        .iter()
        .map(|f| apiary_conformance::run_file(f))
        .collect();
    let failed: Vec<&FileOutcome> = outcomes.iter().filter(|o| !o.verdict.is_pass()).collect();
    for outcome in &failed {
        println!("FAIL {}: {}", outcome.path.display(), outcome.verdict);
    }
    println!(
        "{} passed, {} failed",
        outcomes.len() - failed.len(),
        failed.len()
    );
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `apiary conformance-plugin`: the protocol of bpf_conformance's runner.
pub fn conformance_plugin(memory: Option<&str>, elf: bool) -> CliResult {
    if elf {
        return Err(CliError::at(
            "--elf",
            "ELF input is not supported by this plugin; run the suite without --elf",
        ));
    }
    let mut program_hex = String::new();
    std::io::stdin()
        .take(MAX_INPUT_BYTES)
        .read_to_string(&mut program_hex)
        .map_err(|e| CliError::at("stdin", e))?;
    let program = decode_hex(&program_hex).map_err(|e| CliError::at("stdin", e))?;
    let slots = bytecode_slots(Path::new("stdin"), &program)?;
    let mut memory = match memory {
        Some(hex) => decode_hex(hex).map_err(|e| CliError::at("memory argument", e))?,
        None => Vec::new(),
    };
    let execution =
        apiary_conformance::execute(&slots, &mut memory).map_err(|e| CliError::at("program", e))?;
    println!("{:x}", execution.r0);
    Ok(ExitCode::SUCCESS)
}
