//! Probes: asking the host whether it allows `bpf()` at all and each
//! optional capability a caller needs (a map type such as arena, a program
//! type such as a trampoline), so that tests can tell a host refusal from a
//! defect and name what was refused.

use crate::types::{self, MapType};
use crate::{Errno, Error, MapCreateAttrs, MapFd, ProgFd, ProgLoadAttrs, Unavailable};

/// Checks whether `bpf()` works here by creating (and closing) a one-entry
/// array map, the least privileged thing the syscall does.
///
/// Tests call this first and skip (with `apiary-testskip`) on error.
pub fn probe() -> std::result::Result<(), Unavailable> {
    if !cfg!(target_os = "linux") {
        return Err(Unavailable::NotLinux);
    }
    let attrs = MapCreateAttrs {
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size: 4,
        max_entries: 1,
        ..MapCreateAttrs::default()
    };
    match MapFd::create(&attrs) {
        Ok(_) => Ok(()),
        Err(error) => Err(match error.errno() {
            Some(Errno(libc::ENOSYS)) => Unavailable::NoSyscall,
            Some(errno @ Errno(libc::EPERM | libc::EACCES)) => Unavailable::PermissionDenied(errno),
            Some(errno) => Unavailable::Other(errno),
            None => Unavailable::Other(Errno(0)),
        }),
    }
}

/// The host's refusal of a probed capability: what was asked and the first
/// line of its answer (the errno; a verifier log, if any, is in `error`).
#[derive(Debug, thiserror::Error)]
#[error("{probed}: {answer}")]
pub struct Refusal {
    /// What was asked, e.g. `BPF_MAP_CREATE of an arena map`.
    pub probed: String,
    /// The first line of the kernel's answer, e.g.
    /// `BPF_MAP_CREATE failed: EPERM (Operation not permitted)`.
    pub answer: String,
    /// The whole error.
    pub error: Error,
}

impl Refusal {
    fn new(probed: String, error: Error) -> Self {
        let answer = error
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        Refusal {
            probed,
            answer,
            error,
        }
    }

    /// The refusal `error` of loading `attrs`, named as [`probe_prog_load`]
    /// names it (for callers that load for real and meet a refusal).
    pub fn prog_load(attrs: &ProgLoadAttrs<'_>, error: Error) -> Self {
        let mut probed = format!("BPF_PROG_LOAD of a {} program", attrs.prog_type);
        if let Some(attach) = attrs.expected_attach_type {
            probed.push_str(&format!(" (attach type {attach})"));
        }
        Refusal::new(probed, error)
    }

    /// The kernel's errno, when the kernel answered.
    pub fn errno(&self) -> Option<Errno> {
        self.error.errno()
    }
}

/// Asks the host to create a map with `attrs` (and closes it at once).
pub fn probe_map_create(attrs: &MapCreateAttrs<'_>) -> Result<(), Refusal> {
    MapFd::create(attrs).map(drop).map_err(|error| {
        Refusal::new(
            format!("BPF_MAP_CREATE of {} map", article(attrs.map_type)),
            error,
        )
    })
}

/// Asks the host for a map of `map_type` in the smallest shape the kernel
/// accepts for it: arena maps take one page, `BPF_F_MMAPABLE` and no key or
/// value; every other type a 4-byte key and value and one entry.
pub fn probe_map_type(map_type: MapType) -> Result<(), Refusal> {
    let attrs = if map_type == MapType::ARENA {
        MapCreateAttrs {
            map_type,
            max_entries: 1,
            map_flags: types::map_flags::MMAPABLE,
            ..MapCreateAttrs::default()
        }
    } else {
        MapCreateAttrs {
            map_type,
            key_size: 4,
            value_size: 4,
            max_entries: 1,
            ..MapCreateAttrs::default()
        }
    };
    probe_map_create(&attrs)
}

/// Asks the host to load a program with `attrs` (and closes it at once).
/// Callers probe an optional program type with the smallest program it
/// takes (`r0 = 0; exit`) and, for trampolines, a target every kernel has
/// (`bpf_fentry_test1`, `file_open`).
pub fn probe_prog_load(attrs: &ProgLoadAttrs<'_>) -> Result<(), Refusal> {
    ProgFd::load(attrs)
        .map(drop)
        .map_err(|error| Refusal::prog_load(attrs, error))
}

/// "an arena" / "a hash": the map type's bpftool name with its article.
fn article(map_type: MapType) -> String {
    let name = map_type.to_string();
    let vowel = name.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {name}", if vowel { "an" } else { "a" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_what_was_probed() {
        let refusal = Refusal::new(
            format!("BPF_MAP_CREATE of {} map", article(MapType::ARENA)),
            Error::Syscall {
                command: "BPF_MAP_CREATE",
                errno: Errno(libc::EPERM),
            },
        );
        assert_eq!(refusal.probed, "BPF_MAP_CREATE of an arena map");
        assert_eq!(
            refusal.to_string(),
            "BPF_MAP_CREATE of an arena map: BPF_MAP_CREATE failed: EPERM (Operation not permitted (os error 1))"
        );
        assert_eq!(refusal.errno(), Some(Errno(libc::EPERM)));
        assert_eq!(article(MapType::HASH), "a hash");
    }
}
