//! Loading test programs into the running kernel.

// Each test crate that includes this module uses only part of it.
#![allow(dead_code)]

use apiary_isa::RawInsn;
use apiary_kernel::types::{AttachType, ProgType, prog_flags};
use apiary_kernel::{Error, ProgFd, ProgLoadAttrs};

/// Loads `insns` as a `prog_type` program: `Ok(())`, or the verifier log of
/// the refusal. Panics when loading fails outside the verifier.
pub fn kernel_load(
    prog_type: ProgType,
    attach_type: AttachType,
    insns: &[RawInsn],
) -> Result<(), String> {
    kernel_load_attached(prog_type, attach_type, 0, insns)
}

/// [`kernel_load`] with the vmlinux BTF id of the attach point (tracing
/// programs); 0 for none.
pub fn kernel_load_attached(
    prog_type: ProgType,
    attach_type: AttachType,
    attach_btf_id: u32,
    insns: &[RawInsn],
) -> Result<(), String> {
    let bytes = apiary_isa::slots_to_bytes(insns);
    // The kernel loads syscall programs only as sleepable ones.
    let prog_flags = if prog_type == ProgType::SYSCALL {
        prog_flags::SLEEPABLE
    } else {
        0
    };
    let attrs = ProgLoadAttrs {
        prog_type,
        prog_flags,
        expected_attach_type: Some(attach_type),
        attach_btf_id,
        insns: &bytes,
        license: "GPL",
        log_level: 1,
        ..ProgLoadAttrs::default()
    };
    match ProgFd::load(&attrs) {
        Ok(_) => Ok(()),
        Err(Error::ProgLoad { errno, log }) => Err(format!("{errno}\n{log}")),
        Err(other) => panic!("loading a {prog_type} program failed outside the verifier: {other}"),
    }
}

/// The line of a verifier log that says why it refused: the last one
/// before the statistics line.
pub fn refusal_reason(log: &str) -> &str {
    let mut lines = log.lines().rev().filter(|l| !l.trim().is_empty());
    let last = lines.next().unwrap_or("");
    if last.starts_with("processed ") {
        lines.next().unwrap_or(last)
    } else {
        last
    }
}
