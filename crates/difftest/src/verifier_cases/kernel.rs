//! Loading a case in the running kernel: its BTF, its maps, then the
//! program, and the verdict with the final line of the verifier log.

use std::os::fd::{AsFd, BorrowedFd};

use apiary_kernel::{
    BtfFd, Errno, Error as KernelError, MapCreateAttrs, MapFd, ProgFd, ProgLoadAttrs, Records,
    log_level,
};
use thiserror::Error;

use super::btf::{case_btf, function_starts};
use super::{Case, Expect};
use crate::rejection_lines;

/// What the kernel said about a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelVerdict {
    /// Accept, or reject with the final line of the log (never `Reject(None)`).
    pub verdict: Expect,
    /// The message lines before the final one ([`crate::rejection_lines`]).
    pub detail: Vec<String>,
    /// The whole verifier log (at level 1 unless asked otherwise).
    pub log: String,
}

/// Why a case could not be put to the kernel.
#[derive(Debug, Error)]
pub enum LoadFailure {
    /// The host refused something the case needs without a verifier log
    /// (`EPERM` for a program or map type on some hosts).
    #[error("host refused {what}: {errno}")]
    Refused {
        /// What was asked (`BPF_PROG_LOAD of a kprobe program`, ...).
        what: String,
        /// The host's answer.
        errno: Errno,
    },
    /// The host cannot name the case's attach point: no kernel BTF, or a
    /// kernel without that function or tracepoint.
    #[error("{what} unavailable: {reason}")]
    Unavailable {
        /// The attach point.
        what: String,
        /// Why.
        reason: String,
    },
    /// The kernel refused the case's BTF or one of its maps, or the
    /// program could not be handed to it.
    #[error("{what}: {source}")]
    Setup {
        /// The BTF, which map, or the program.
        what: String,
        /// The kernel's answer.
        source: KernelError,
    },
}

/// Loads `case` in the kernel (privileged, GPL) and reports its verdict.
pub fn kernel_verdict(case: &Case) -> Result<KernelVerdict, LoadFailure> {
    kernel_verdict_logged(case, log_level::BASIC)
}

/// [`kernel_verdict`] with the verifier log at `level` (a
/// [`log_level`] value), for comparing logs rather than verdicts.
pub fn kernel_verdict_logged(case: &Case, level: u32) -> Result<KernelVerdict, LoadFailure> {
    let btf = case_btf(&case.maps, &case.funcs);
    let btf_fd = match &btf {
        Some(btf) => Some(
            BtfFd::load(&btf.bytes, log_level::BASIC)
                .map_err(|source| setup("the case's BTF".into(), source))?
                .btf,
        ),
        None => None,
    };
    let mut maps: Vec<MapFd> = Vec::new();
    for (index, map) in case.maps.iter().enumerate() {
        let types = btf.as_ref().and_then(|b| b.map_types[index]);
        let created = MapFd::create(&MapCreateAttrs {
            map_type: map.map_type,
            key_size: map.key_size,
            value_size: map.value_size,
            max_entries: map.max_entries,
            map_flags: map.flags,
            name: object_name(&map.name),
            btf_fd: types.and(btf_fd.as_ref().map(AsFd::as_fd)),
            btf_key_type_id: types.map_or(0, |t| t.0),
            btf_value_type_id: types.map_or(0, |t| t.1),
            ..MapCreateAttrs::default()
        });
        match created {
            Ok(fd) => maps.push(fd),
            Err(KernelError::Syscall { errno, .. }) if errno.0 == libc::EPERM => {
                return Err(LoadFailure::Refused {
                    what: format!("BPF_MAP_CREATE of {} map {}", map.map_type, map.name),
                    errno,
                });
            }
            Err(source) => return Err(setup(format!("map {}", map.name), source)),
        }
    }
    let fds: Vec<BorrowedFd<'_>> = maps.iter().map(AsFd::as_fd).collect();
    let mut func_info = Vec::new();
    if let Some(btf) = &btf {
        for (start, id) in function_starts(&case.insns).iter().zip(&btf.func_ids) {
            func_info.extend(start.to_le_bytes());
            func_info.extend(id.to_le_bytes());
        }
    }
    let attach_btf_id = match &case.attach_target {
        Some(target) => attach_btf_id(case, target)?,
        None => 0,
    };
    let bytecode = case.bytecode();
    // One load with a log: loading first without one and again for the
    // reason would verify the programs that hit the complexity limit twice.
    let loaded = ProgFd::load(&ProgLoadAttrs {
        prog_type: case.prog_type,
        expected_attach_type: case.attach_type,
        prog_flags: case.prog_flags,
        insns: &bytecode,
        license: "GPL",
        log_level: level,
        name: object_name(&case.name),
        prog_btf_fd: btf_fd.as_ref().map(AsFd::as_fd),
        func_info: Records {
            bytes: &func_info,
            rec_size: 8,
        },
        fd_array: &fds,
        attach_btf_id,
        ..ProgLoadAttrs::default()
    });
    match loaded {
        Ok(loaded) => Ok(KernelVerdict {
            verdict: Expect::Accept,
            detail: Vec::new(),
            log: loaded.log,
        }),
        Err(KernelError::ProgLoad { errno, log }) if log.trim().is_empty() => {
            if errno.0 == libc::EPERM {
                return Err(LoadFailure::Refused {
                    what: format!("BPF_PROG_LOAD of a {} program", case.prog_type),
                    errno,
                });
            }
            Ok(KernelVerdict {
                verdict: Expect::Reject(Some(format!(
                    "{} without a verifier log",
                    errno
                        .name()
                        .map_or_else(|| errno.to_string(), str::to_owned)
                ))),
                detail: Vec::new(),
                log,
            })
        }
        Err(KernelError::ProgLoad { log, .. }) => {
            let mut detail = rejection_lines(&log);
            let last = detail.pop();
            Ok(KernelVerdict {
                verdict: Expect::Reject(last.or_else(|| Some("no verifier log".into()))),
                detail,
                log,
            })
        }
        Err(other) => Err(setup("the program".into(), other)),
    }
}

/// The id of `target` in the running kernel's BTF, as libbpf finds it for
/// the case's attach type.
fn attach_btf_id(case: &Case, target: &str) -> Result<u32, LoadFailure> {
    let unavailable = |reason: String| LoadFailure::Unavailable {
        what: format!("attach point {target}"),
        reason,
    };
    let btf = apiary_verifier::kernel_btf().map_err(|e| unavailable(e.to_string()))?;
    let attach = case.attach_type.unwrap_or_default();
    apiary_context::attach_point(btf, attach, target)
        .map(|point| point.id.0)
        .map_err(|e| unavailable(e.to_string()))
}

fn setup(what: String, source: KernelError) -> LoadFailure {
    LoadFailure::Setup { what, source }
}

/// A kernel object name: at most 15 bytes of `[A-Za-z0-9_.]`.
fn object_name(name: &str) -> &str {
    let end = name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.'))
        .map_or(name.len(), |(i, _)| i);
    &name[..end.min(15)]
}
