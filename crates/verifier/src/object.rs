//! Verifying the programs of a loaded object: the loader's program and map
//! specs become the verifier's [`Program`] and [`MapInfo`] inputs, as the
//! kernel backend hands the same object to the kernel.

use std::time::{Duration, Instant};

use apiary_kernel::types::map_flags;
use apiary_loader::{MapSpec, Object, ProgramSpec};

use crate::error::{Rejection, SourceLine};
use crate::explore::{Accepted, verify_with_log};
use crate::log::LogLevel;
use crate::program::{MapInfo, Program};

/// One program's verdict.
#[derive(Debug)]
pub struct ProgramVerdict {
    /// The program's name.
    pub name: String,
    /// Accepted, or why not.
    pub result: Result<Accepted, Box<Rejection>>,
    /// How long verification took (the log's writing included, if asked).
    pub time: Duration,
    /// The kernel-style log, when asked ([`verify_program_logged`]).
    pub log: String,
}

/// The verifier's view of an object's maps, by the object's indices, then
/// the inner-map templates of maps of maps.
pub fn map_infos(object: &Object) -> Vec<MapInfo> {
    let mut maps: Vec<MapInfo> = object.maps.iter().map(map_info).collect();
    for (i, spec) in object.maps.iter().enumerate() {
        if let Some(inner) = &spec.inner {
            maps[i].inner = Some(maps.len() as u32);
            maps.push(map_info(inner));
        }
    }
    maps
}

/// What the verifier knows of a map spec. Maps the kernel backend freezes
/// (read-only for programs) give their initial value for constant loads.
pub fn map_info(spec: &MapSpec) -> MapInfo {
    let frozen = spec.map_flags & map_flags::RDONLY_PROG != 0;
    MapInfo {
        name: spec.name.clone(),
        map_type: spec.map_type,
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries: spec.max_entries,
        flags: spec.map_flags,
        frozen_value: frozen.then(|| spec.initial_data.clone()),
        inner: None,
        btf: spec.value_type.is_some(),
        spin_lock_off: spec.spin_lock_offset,
        timer_off: spec.timer_offset,
    }
}

fn source_lines(spec: &ProgramSpec) -> Vec<SourceLine> {
    let mut lines: Vec<SourceLine> = spec
        .line_info
        .iter()
        .map(|l| SourceLine {
            insn: l.insn_index,
            file: l.file.clone(),
            line: l.line,
            column: l.column,
            text: l.line_text.clone(),
        })
        .collect();
    lines.sort_by_key(|l| l.insn);
    lines
}

/// Verifies one program of `object`.
pub fn verify_program(object: &Object, spec: &ProgramSpec) -> ProgramVerdict {
    verify_program_logged(object, spec, LogLevel::Off)
}

/// [`verify_program`], with the kernel-style log at `level`.
pub fn verify_program_logged(
    object: &Object,
    spec: &ProgramSpec,
    level: LogLevel,
) -> ProgramVerdict {
    let maps = map_infos(object);
    let lines = source_lines(spec);
    let funcs = crate::btf_funcs::func_infos(object, spec);
    let attach_type = spec.expected_attach_type.unwrap_or_default();
    let program = Program {
        name: &spec.name,
        insns: &spec.insns,
        prog_type: spec.prog_type,
        attach_type,
        maps: &maps,
        lines: &lines,
        gpl: apiary_loader::gpl_compatible(object),
        funcs: &funcs,
        sleepable: spec.flags.contains(apiary_loader::SecFlags::SLEEPABLE),
        attach_target: spec.attach_target.as_deref(),
        // Read only for the programs it types, whose kfunc calls it
        // resolves or whose helpers hand out kernel objects; without it
        // typed contexts are refused saying so (`btf_ctx`).
        kernel_btf: (crate::btf_ctx::typed(spec.prog_type, attach_type)
            || crate::kernel_btf::needs_kernel_btf(&spec.insns))
        .then(crate::kernel_btf::kernel_btf)
        .and_then(Result::ok),
    };
    let start = Instant::now();
    let (result, log) = verify_with_log(&program, level);
    ProgramVerdict {
        name: spec.name.clone(),
        result,
        time: start.elapsed(),
        log,
    }
}

/// Verifies every program the loader could produce, in the object's order.
pub fn verify_object(object: &Object) -> Vec<ProgramVerdict> {
    object
        .programs
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .map(|spec| verify_program(object, spec))
        .collect()
}
