//! `prog load`, `prog dump` and `btf dump`: bpftool's grammar (bare
//! keywords) over `apiary-loader`'s reports.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use apiary_btf::BpftoolJson;
use apiary_loader::{
    BtfDumpFormat, CoreReport, Kconfig, MapOrigin, Object, UserTyping, XlatedOptions,
};
use serde_json::{Value, json};

use crate::CliResult;
use crate::coretarget::CoreTarget;
use crate::error::CliError;
use crate::progrun::{OutputFormat, emit};

/// An object file as the `prog` commands use it.
pub struct OpenedObject {
    /// The file's bytes (the kernel backend loads from them as libbpf does).
    pub elf: Vec<u8>,
    /// What the loader made of them, CO-RE relocations applied.
    pub object: Object,
    /// The CO-RE relocations applied, when a program had any.
    pub core: Option<CoreReport>,
}

/// Opens an object as libbpf would on this machine: `.kconfig` externs
/// from the running kernel's configuration, and CO-RE relocations (when a
/// program has any) resolved against `target`.
pub fn open_object(
    file: &Path,
    target: &CoreTarget,
    typing: &UserTyping,
) -> Result<OpenedObject, CliError> {
    let elf = crate::progrun::read_run_data(&file.display().to_string(), "object")?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.split('.').next().unwrap_or_default().to_owned();
    let mut object = Object::parse_with(&elf, &stem, &Kconfig::default(), typing)
        .map_err(|e| CliError::at(file.display(), e))?;
    if object.maps.iter().any(|m| m.origin == MapOrigin::Kconfig) {
        let kconfig = running_kernel_config()?;
        object = Object::parse_with(&elf, &stem, &kconfig, typing)
            .map_err(|e| CliError::at(file.display(), e))?;
    }
    let needs_core = object.needs_core();
    let core = if needs_core {
        let target_btf = target.load()?;
        let report = object.relocate_core(&target_btf).map_err(|e| {
            CliError::at(
                file.display(),
                format!("CO-RE relocations against {}: {e}", target.label()),
            )
        })?;
        Some(report)
    } else {
        None
    };
    Ok(OpenedObject { elf, object, core })
}

/// Largest kernel `.config` read (real ones are a few hundred KiB).
const MAX_KERNEL_CONFIG: u64 = 16 << 20;

/// The running kernel's configuration, from where libbpf looks for it:
/// `/boot/config-$(uname -r)`, then `/proc/config.gz`. Without either,
/// every `CONFIG_*` extern is missing (weak ones read as 0, as in libbpf).
fn running_kernel_config() -> Result<Kconfig, CliError> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let boot = PathBuf::from(format!("/boot/config-{}", release.trim()));
    let mut text = String::new();
    if let Ok(file) = std::fs::File::open(&boot) {
        file.take(MAX_KERNEL_CONFIG)
            .read_to_string(&mut text)
            .map_err(|e| CliError::at(boot.display(), e))?;
    } else if let Ok(file) = std::fs::File::open("/proc/config.gz") {
        flate2::read::GzDecoder::new(file)
            .take(MAX_KERNEL_CONFIG)
            .read_to_string(&mut text)
            .map_err(|e| CliError::at("/proc/config.gz", e))?;
    }
    Ok(Kconfig::parse_config(&text))
}

/// `apiary prog load FILE.o [--type TYPE [--section NAME]] [--target-btf BTF] [--json]`.
pub fn prog_load(
    file: &Path,
    target: &CoreTarget,
    typing: &UserTyping,
    verify: bool,
    format: OutputFormat,
) -> CliResult {
    let OpenedObject { object, core, .. } = open_object(file, target, typing)?;
    if verify {
        crate::verify::refuse_rejected(file, &apiary_verifier::verify_object(&object))?;
    }
    if format != OutputFormat::Text {
        let mut value = apiary_loader::object_json(&object);
        if let (Some(core), Some(fields)) = (&core, value.as_object_mut()) {
            fields.insert("core_relocations".to_owned(), core_json(core));
        }
        let mut writer = BpftoolJson::new(format == OutputFormat::PrettyJson, false);
        write_json(&mut writer, &value);
        let mut text = writer.finish();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        emit(&text)?;
    } else {
        let mut text = apiary_loader::object_listing(&object);
        for program in core.iter().flat_map(|core| &core.programs) {
            let _ = writeln!(
                text,
                "co-re: {}: {} relocations applied against {}, {} poisoned",
                program.program,
                program.relocations.len(),
                target.label(),
                program.poisoned()
            );
        }
        emit(&text)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `value` through bpftool's JSON writer, so that `-p` indents as
/// bpftool does.
fn write_json(w: &mut BpftoolJson, value: &Value) {
    match value {
        Value::Object(fields) => {
            w.start_object();
            for (name, field) in fields {
                w.name(name);
                write_json(w, field);
            }
            w.end_object();
        }
        Value::Array(items) => {
            w.start_array();
            for item in items {
                write_json(w, item);
            }
            w.end_array();
        }
        Value::String(text) => w.string(text),
        Value::Null => w.null(),
        scalar => w.raw(&scalar.to_string()),
    }
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
pub fn prog_dump(words: &[String], target: &CoreTarget, format: OutputFormat) -> CliResult {
    let mut words: Vec<&str> = words.iter().map(String::as_str).collect();
    if words.first() == Some(&"jited") {
        return crate::jited::prog_dump_jited(&words[1..], target, format);
    }
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
    let object = open_object(file, target, &UserTyping::default())?.object;
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
