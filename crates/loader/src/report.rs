//! What `apiary prog load FILE.o [--json]` prints: the object's programs
//! and map specs in the style of bpftool's `prog show` / `map show`, as
//! text or as JSON with bpftool's keys.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::{MapOrigin, MapSpec, Object, ProgramError, ProgramSpec};

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
        let _ = writeln!(
            out,
            "\tkey {}B  value {}B  max_entries {}",
            map.key_size, map.value_size, map.max_entries
        );
    }
    out
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
    if let (MapOrigin::GlobalData { section }, Some(obj)) = (&map.origin, value.as_object_mut()) {
        obj.insert("section".into(), json!(section));
    }
    value
}

/// The listing as JSON: `{"programs": [...], "maps": [...]}`.
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
    })
}
