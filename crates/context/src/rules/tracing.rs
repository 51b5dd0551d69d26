//! Tracing contexts (kernel/trace/bpf_trace.c) and syscall programs: plain
//! memory, read-only except for syscall programs, never rewritten.

use super::{Access, in_bounds_and_aligned};
use crate::error::Rule;
use crate::layouts::{self, perf_event_data};

fn read_only(access: Access) -> Result<(), Rule> {
    if access.kind.is_write() {
        return Err(Rule::ReadOnly);
    }
    Ok(())
}

/// `kprobe_prog_is_valid_access`: `struct pt_regs`, read-only.
pub(super) fn kprobe(access: Access) -> Result<(), Rule> {
    let size = layouts::PT_REGS.size;
    in_bounds_and_aligned(access, size)?;
    read_only(access)?;
    if access.off + i64::from(access.size) > i64::from(size) {
        return Err(Rule::CrossesFieldEnd);
    }
    Ok(())
}

/// `tp_prog_is_valid_access`: the record after its 8-byte common header.
///
/// The kernel compares the signed offset with `sizeof(void *)`, an unsigned
/// value, so a negative offset passes that check and aligned negative
/// offsets are accepted (measured on Linux 6.18); they are accepted here
/// too, and reach bytes before the record, which the runtime must refuse
/// at run time.
pub(super) fn tracepoint(access: Access) -> Result<(), Rule> {
    if access.off >= i64::from(layouts::TRACEPOINT_MAX) {
        return Err(Rule::OutOfRange {
            size: layouts::TRACEPOINT_MAX,
        });
    }
    if (0..8).contains(&access.off) {
        return Err(Rule::NotAvailable);
    }
    if access.off % i64::from(access.size) != 0 {
        return Err(Rule::Misaligned);
    }
    read_only(access)
}

/// `raw_tp_prog_is_valid_access`: up to 12 u64 arguments, read-only.
pub(super) fn raw_tracepoint(access: Access) -> Result<(), Rule> {
    in_bounds_and_aligned(access, layouts::RAW_TP.size)?;
    read_only(access)
}

/// `pe_prog_is_valid_access`: registers as whole u64, `sample_period` and
/// `addr` also narrower.
pub(super) fn perf_event(access: Access) -> Result<(), Rule> {
    in_bounds_and_aligned(access, perf_event_data::STRUCT.size)?;
    read_only(access)?;
    let narrow_ok = [perf_event_data::SAMPLE_PERIOD, perf_event_data::ADDR]
        .iter()
        .any(|f| f.contains(access.off));
    if !narrow_ok && access.size != 8 {
        return Err(Rule::MustBeSize(8));
    }
    Ok(())
}

/// `syscall_prog_is_valid_access`: any aligned access below 64 KiB.
pub(super) fn syscall(access: Access) -> Result<(), Rule> {
    in_bounds_and_aligned(access, layouts::SYSCALL_MAX)
}

/// `bpf_tracing_btf_ctx_access` and `btf_ctx_access` (fentry, fexit,
/// fmod_ret, tp_btf, lsm, struct_ops): read-only loads at the start of an
/// 8-byte argument slot.
///
/// With the attach function's arguments known, slots past them are refused
/// and pointer arguments must be loaded whole (measured on Linux 6.18);
/// without, every slot up to the kernel's maximum of 12 is accepted at any
/// size.
pub(super) fn btf_arguments(
    known: Option<crate::BtfArguments>,
    access: Access,
) -> Result<(), Rule> {
    in_bounds_and_aligned(access, layouts::BTF_CTX.size)?;
    read_only(access)?;
    if access.off % 8 != 0 {
        return Err(Rule::Misaligned);
    }
    let Some(known) = known else {
        return Ok(());
    };
    let slot = access.off / 8;
    if slot >= i64::from(known.slots) {
        return Err(Rule::OutOfRange {
            size: u32::from(known.slots) * 8,
        });
    }
    if known.pointers >> slot & 1 == 1 && access.size != 8 {
        return Err(Rule::MustBeSize(8));
    }
    Ok(())
}
