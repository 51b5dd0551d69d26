//! What `apiary prog load FILE.o [--json]` prints: the object's programs
//! and map specs in the style of bpftool's `prog show` / `map show`, as
//! text or as JSON with bpftool's keys.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::{MapOrigin, MapSpec, Object, ProgramError, ProgramSpec, SectionOutcome, SectionReport};

/// Why a report (listing, dump) could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Reading the input file failed.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's message.
        reason: String,
    },
    /// The object does not load.
    #[error(transparent)]
    Load(#[from] crate::LoadError),
    /// The BTF does not parse.
    #[error("invalid BTF: {0}")]
    Btf(#[from] apiary_btf::BtfError),
    /// The ELF object has no `.BTF` section.
    #[error("the object has no .BTF section")]
    NoBtf,
    /// The C dump failed.
    #[error(transparent)]
    DumpC(#[from] apiary_btf::DumpError),
    /// Writing the output failed.
    #[error("writing the output failed: {0}")]
    Write(#[from] std::io::Error),
    /// The requested program is not in the object.
    #[error("no program named {0:?} in the object")]
    NoSuchProgram(String),
    /// The requested program failed to load.
    #[error(transparent)]
    Program(#[from] ProgramError),
}

/// Licenses the kernel's `license_is_gpl_compatible` accepts.
const GPL_COMPATIBLE: [&str; 6] = [
    "GPL",
    "GPL v2",
    "GPL and additional rights",
    "Dual BSD/GPL",
    "Dual MIT/GPL",
    "Dual MPL/GPL",
];

/// Whether the object's license lets its programs call GPL-only helpers.
pub fn gpl_compatible(object: &Object) -> bool {
    object
        .license
        .as_deref()
        .is_some_and(|l| GPL_COMPATIBLE.contains(&l))
}

/// Names of the maps `program` references, in order of first reference
/// (the order of the kernel's `used_maps`, which bpftool prints as
/// `map_ids`).
pub fn maps_used<'o>(object: &'o Object, program: &ProgramSpec) -> Vec<&'o str> {
    let mut names: Vec<&str> = Vec::new();
    for reloc in &program.map_relocs {
        if let Some(map) = object.maps.get(reloc.map_index)
            && !names.contains(&map.name.as_str())
        {
            names.push(&map.name);
        }
    }
    names
}

/// The bpftool name of a program's type (`xdp`, `sched_cls`, ...).
fn prog_type_name(program: &ProgramSpec) -> String {
    program.prog_type.to_string()
}

/// The human listing: one `prog show`-style block per program (index in
/// the object instead of a kernel id), then one `map show`-style block per
/// map.
pub fn object_listing(object: &Object) -> String {
    let mut out = String::new();
    let gpl = if gpl_compatible(object) { "  gpl" } else { "" };
    for (index, program) in object.programs.iter().enumerate() {
        match program {
            Ok(p) => {
                let _ = writeln!(
                    out,
                    "{index}: {}  name {}  section {}{gpl}",
                    prog_type_name(p),
                    p.name,
                    p.section
                );
                let _ = write!(
                    out,
                    "\tinsns {}  xlated {}B",
                    p.insns.len(),
                    p.insns.len() * 8
                );
                let maps = maps_used(object, p);
                if !maps.is_empty() {
                    let _ = write!(out, "  maps {}", maps.join(","));
                }
                out.push('\n');
                if !p.core_relos.is_empty() {
                    let _ = writeln!(
                        out,
                        "\tco-re relocations {} unapplied (no target BTF given)",
                        p.core_relos.len()
                    );
                }
            }
            Err(e) => {
                let _ = writeln!(out, "{index}: error  name {}", e.program());
                let _ = writeln!(out, "\t{e}");
            }
        }
    }
    for (index, map) in object.maps.iter().enumerate() {
        let _ = writeln!(
            out,
            "{index}: {}  name {}  flags {:#x}",
            map.map_type, map.name, map.map_flags
        );
        let _ = write!(
            out,
            "\tkey {}B  value {}B  max_entries {}",
            map.key_size, map.value_size, map.max_entries
        );
        match &map.origin {
            MapOrigin::Legacy => out.push_str("  (bpf_map_def in \"maps\")"),
            MapOrigin::Iproute2(ids) => {
                let _ = write!(
                    out,
                    "  (bpf_elf_map in \"maps\": id {} pinning {} inner_id {} inner_idx {})",
                    ids.id, ids.pinning, ids.inner_id, ids.inner_idx as i32
                );
                if let Some(pinning) = ids.describe_pinning(&map.name) {
                    let _ = write!(out, "  pinning: {pinning}");
                }
            }
            _ => {}
        }
        out.push('\n');
    }
    for section in &object.sections {
        section_listing(&mut out, object, section);
    }
    out
}

/// One `section NAME: ...` line per executable section: its programs with
/// their type and how it was decided, its subprograms, or why it was
/// skipped and what would load it.
fn section_listing(out: &mut String, object: &Object, section: &SectionReport) {
    let _ = write!(out, "section {:?}: ", section.name);
    match &section.outcome {
        SectionOutcome::Programs {
            programs,
            tail_call,
        } => {
            let described: Vec<String> = programs
                .iter()
                .filter_map(|&i| object.programs.get(i))
                .map(|p| match p {
                    Ok(p) => format!(
                        "program {} type {} (type from {}, name from {})",
                        p.name,
                        prog_type_name(p),
                        p.type_source.describe(),
                        p.name_source.key().replace('_', " ")
                    ),
                    Err(e) => format!("program {} failed: {e}", e.program()),
                })
                .collect();
            if described.is_empty() {
                out.push_str("no program (no global function in it)");
            }
            out.push_str(&described.join("; "));
            if let Some((map, slot)) = tail_call {
                let _ = write!(out, "; tail call in slot {slot} of {map}");
            }
        }
        SectionOutcome::Subprograms(names) if names.is_empty() => {
            out.push_str("code without function symbols, reachable only by calls");
        }
        SectionOutcome::Subprograms(names) => {
            let _ = write!(out, "subprograms {}", names.join(", "));
        }
        SectionOutcome::Skipped { reason, hint } => {
            let _ = write!(out, "skipped: {reason}");
            if let Some(hint) = hint {
                let _ = write!(out, "; load with {hint}");
            }
        }
    }
    out.push('\n');
}

/// One program as bpftool's `prog show --json` keys name it, or its error.
fn program_json(
    object: &Object,
    index: usize,
    program: &Result<ProgramSpec, ProgramError>,
) -> Value {
    match program {
        Ok(p) => {
            let mut value = json!({
                "index": index,
                "name": p.name,
                "type": prog_type_name(p),
                "type_from": p.type_source.key(),
                "name_from": p.name_source.key(),
                "section": p.section,
                "gpl_compatible": gpl_compatible(object),
                "insns": p.insns.len(),
                "bytes_xlated": p.insns.len() * 8,
                "maps": maps_used(object, p),
                "subprograms": p.subprograms.iter().map(|(name, _)| name).collect::<Vec<_>>(),
                "core_relos_unapplied": p.core_relos.len(),
            });
            if let (Some(attach), Some(obj)) = (p.expected_attach_type, value.as_object_mut()) {
                obj.insert("attach_type".into(), json!(attach.to_string()));
            }
            if let (Some(target), Some(obj)) = (&p.attach_target, value.as_object_mut()) {
                obj.insert("attach_target".into(), json!(target));
            }
            value
        }
        Err(e) => json!({
            "index": index,
            "name": e.program(),
            "error": e.to_string(),
        }),
    }
}

/// One map as bpftool's `map show --json` keys name it.
fn map_json(index: usize, map: &MapSpec) -> Value {
    let mut value = json!({
        "index": index,
        "name": map.name,
        "type": map.map_type.to_string(),
        "bytes_key": map.key_size,
        "bytes_value": map.value_size,
        "max_entries": map.max_entries,
        "flags": map.map_flags,
    });
    let Some(obj) = value.as_object_mut() else {
        return value;
    };
    let definition = match &map.origin {
        MapOrigin::BtfDefined => "btf",
        MapOrigin::Legacy => "bpf_map_def",
        MapOrigin::Iproute2(ids) => {
            obj.insert(
                "bpf_elf_map".into(),
                json!({
                    "id": ids.id,
                    "pinning": ids.pinning,
                    "pin_place": ids.describe_pinning(&map.name),
                    "inner_id": ids.inner_id,
                    "inner_idx": ids.inner_idx,
                }),
            );
            "bpf_elf_map"
        }
        MapOrigin::GlobalData { section } => {
            obj.insert("section".into(), json!(section));
            "global_data"
        }
        MapOrigin::Kconfig => "kconfig",
    };
    obj.insert("definition".into(), json!(definition));
    value
}

/// One executable section and its fate, with the same keys as the
/// programs it holds.
fn section_json(section: &SectionReport) -> Value {
    let mut value = json!({
        "name": section.name,
        "bytes": section.size,
    });
    let Some(obj) = value.as_object_mut() else {
        return value;
    };
    match &section.outcome {
        SectionOutcome::Programs {
            programs,
            tail_call,
        } => {
            obj.insert("outcome".into(), json!("programs"));
            obj.insert("programs".into(), json!(programs));
            if let Some((map, slot)) = tail_call {
                obj.insert("tail_call".into(), json!({"map": map, "slot": slot}));
            }
        }
        SectionOutcome::Subprograms(names) => {
            obj.insert("outcome".into(), json!("subprograms"));
            obj.insert("functions".into(), json!(names));
        }
        SectionOutcome::Skipped { reason, hint } => {
            obj.insert("outcome".into(), json!("skipped"));
            obj.insert("reason".into(), json!(reason));
            obj.insert("hint".into(), json!(hint));
        }
    }
    value
}

/// The listing as JSON: `{"programs": [...], "maps": [...], "sections": [...]}`.
pub fn object_json(object: &Object) -> Value {
    json!({
        "name": object.name,
        "license": object.license,
        "programs": object
            .programs
            .iter()
            .enumerate()
            .map(|(i, p)| program_json(object, i, p))
            .collect::<Vec<_>>(),
        "maps": object
            .maps
            .iter()
            .enumerate()
            .map(|(i, m)| map_json(i, m))
            .collect::<Vec<_>>(),
        "sections": object.sections.iter().map(section_json).collect::<Vec<_>>(),
    })
}
