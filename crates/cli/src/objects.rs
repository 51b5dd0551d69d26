//! `prog load`, `prog dump` and `btf dump`: bpftool's grammar (bare
//! keywords) over `apiary-loader`'s reports.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use apiary_loader::{BtfDumpFormat, CoreReport, Object, XlatedOptions};
use serde_json::{Value, json};

use crate::CliResult;
use crate::error::CliError;

/// Writes `text` to stdout; a reader that went away (`| head`) is not an error.
fn emit(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::at("stdout", e)),
        _ => Ok(()),
    }
}

/// Opens an object and, when a target BTF is given, applies its CO-RE
/// relocations against it.
fn open_object(
    file: &Path,
    target_btf: Option<&Path>,
) -> Result<(Object, Option<CoreReport>), CliError> {
    let mut object = Object::open(file).map_err(|e| CliError::at(file.display(), e))?;
    let Some(target) = target_btf else {
        return Ok((object, None));
    };
    let bytes = std::fs::read(target).map_err(|e| CliError::at(target.display(), e))?;
    let target_btf = apiary_loader::btf_from_file_bytes(&bytes)
        .map_err(|e| CliError::at(target.display(), e))?;
    let report = object
        .relocate_core(&target_btf)
        .map_err(|e| CliError::at(file.display(), e))?;
    Ok((object, Some(report)))
}

/// `apiary prog load FILE.o [--target-btf BTF] [--json]`.
pub fn prog_load(file: &Path, target_btf: Option<&Path>, json: bool) -> CliResult {
    let (object, core) = open_object(file, target_btf)?;
    if json {
        let mut value = apiary_loader::object_json(&object);
        if let (Some(core), Some(fields)) = (&core, value.as_object_mut()) {
            fields.insert("core_relocations".to_owned(), core_json(core));
        }
        emit(&format!("{value}\n"))?;
    } else {
        let mut text = apiary_loader::object_listing(&object);
        if let (Some(core), Some(target)) = (&core, target_btf) {
            for program in &core.programs {
                let _ = writeln!(
                    text,
                    "co-re: {}: {} relocations applied against {}, {} poisoned",
                    program.program,
                    program.relocations.len(),
                    target.display(),
                    program.poisoned()
                );
            }
        }
        emit(&text)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The CO-RE report as JSON: per program, each relocation's values.
fn core_json(core: &CoreReport) -> Value {
    core.programs
        .iter()
        .map(|p| {
            json!({
                "program": p.program,
                "relocations": p.relocations.iter().map(|r| json!({
                    "insn": r.insn_index,
                    "kind": r.kind.name(),
                    "access": r.access_str,
                    "local": r.local_value,
                    "target": r.target_value,
                    "poisoned": r.poisoned,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// `apiary prog dump [xlated] FILE.o [PROG] [linum] [--target-btf BTF]`.
pub fn prog_dump(words: &[String], target_btf: Option<&Path>) -> CliResult {
    let mut words: Vec<&str> = words.iter().map(String::as_str).collect();
    if words.first() == Some(&"xlated") {
        words.remove(0);
    }
    let linum = words.len() > 1 && words.last() == Some(&"linum");
    if linum {
        words.pop();
    }
    let (file, program) = match words.as_slice() {
        [file] => (*file, None),
        [file, program] => (*file, Some(*program)),
        _ => {
            return Err(CliError::at(
                "arguments",
                "expected `prog dump [xlated] FILE.o [PROG] [linum]`",
            ));
        }
    };
    let file = Path::new(file);
    let (object, _) = open_object(file, target_btf)?;
    let text = apiary_loader::dump_object_xlated(&object, program, XlatedOptions { linum })
        .map_err(|e| CliError::at(file.display(), e))?;
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// `apiary btf dump [file] FILE [format raw|c]`.
pub fn btf_dump(words: &[String]) -> CliResult {
    let mut words: Vec<&str> = words.iter().map(String::as_str).collect();
    if words.len() > 1 && words.first() == Some(&"file") {
        words.remove(0);
    }
    let (file, format) = match words.as_slice() {
        [file] => (*file, BtfDumpFormat::Raw),
        [file, "format", "raw"] => (*file, BtfDumpFormat::Raw),
        [file, "format", "c"] => (*file, BtfDumpFormat::C),
        [_, "format", other] => {
            return Err(CliError::at(
                "arguments",
                format!("unknown format {other:?} (expected raw or c)"),
            ));
        }
        _ => {
            return Err(CliError::at(
                "arguments",
                "expected `btf dump [file] FILE [format raw|c]`",
            ));
        }
    };
    let mut text = Vec::new();
    apiary_loader::btf_dump_file(file, format, &mut text).map_err(|e| CliError::at(file, e))?;
    emit(&String::from_utf8_lossy(&text))?;
    Ok(ExitCode::SUCCESS)
}
