//! The kernel's per-program-type context access rules (`*_is_valid_access`
//! in net/core/filter.c and kernel/trace/bpf_trace.c), and how an accepted
//! access must be rewritten for the runtime's internal context.

mod cgroup;
mod skb;
mod sock;
mod tracing;
mod xdp;

use apiary_isa::Size;
use apiary_kernel::types::{AttachType, ProgType};

use crate::error::{AccessKind, Rule};
use crate::layouts::{self, Field};

/// What the program is verified as.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    pub prog_type: ProgType,
    pub attach_type: AttachType,
    pub btf_args: Option<crate::BtfArguments>,
}

/// One context access as the instruction states it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Access {
    pub off: i64,
    pub size: u32,
    pub kind: AccessKind,
}

/// A one-for-one change to an accepted access: the same instruction class
/// and mode with a new offset and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fixup {
    pub off: u32,
    pub size: Size,
}

/// Checks `access` against `target`'s rules: `Ok(None)` when the access
/// reads or writes the image bytes as they stand, `Ok(Some(fixup))` when it
/// must be rewritten, `Err(rule)` when the kernel refuses it.
pub(crate) fn check(target: Target, access: Access) -> Result<Option<Fixup>, Rule> {
    // The kernel refuses atomics on the context before asking the program
    // type (check_atomic: "BPF_ATOMIC stores into R1 ctx is not allowed").
    if access.kind == AccessKind::Atomic {
        return Err(Rule::NoAtomic);
    }
    match target.prog_type {
        t if layouts::is_skb_type(t) => skb::check(t, access),
        ProgType::XDP => xdp::check(target.attach_type, access),
        ProgType::KPROBE => tracing::kprobe(access).map(|()| None),
        ProgType::TRACEPOINT => tracing::tracepoint(access).map(|()| None),
        ProgType::PERF_EVENT => tracing::perf_event(access).map(|()| None),
        ProgType::RAW_TRACEPOINT => tracing::raw_tracepoint(access).map(|()| None),
        ProgType::SYSCALL => tracing::syscall(access).map(|()| None),
        ProgType::CGROUP_DEVICE => cgroup::device(access).map(|()| None),
        ProgType::CGROUP_SYSCTL => cgroup::sysctl(access).map(|()| None),
        ProgType::TRACING | ProgType::LSM | ProgType::STRUCT_OPS => {
            tracing::btf_arguments(target.btf_args, access).map(|()| None)
        }
        ProgType::CGROUP_SOCK => sock::cgroup_sock(target.attach_type, access).map(|()| None),
        ProgType::CGROUP_SOCK_ADDR => sock::sock_addr(target.attach_type, access).map(|()| None),
        ProgType::CGROUP_SOCKOPT => sock::sockopt(target.attach_type, access).map(|()| None),
        ProgType::SK_LOOKUP => sock::sk_lookup(access).map(|()| None),
        ProgType::NETFILTER => sock::netfilter(access).map(|()| None),
        ProgType::SK_MSG => sock::sk_msg(access).map(|()| None),
        ProgType::SOCK_OPS => sock::sock_ops(access).map(|()| None),
        // prepare() only gets here for covered types.
        _ => Err(Rule::NotAvailable),
    }
}

/// The first checks of every `*_is_valid_access`: inside the struct and
/// aligned to the access size.
fn in_bounds_and_aligned(access: Access, size: u32) -> Result<(), Rule> {
    if access.off < 0 || access.off >= i64::from(size) {
        return Err(Rule::OutOfRange { size });
    }
    if access.off % i64::from(access.size) != 0 {
        return Err(Rule::Misaligned);
    }
    Ok(())
}

/// Whether `off` falls in any of `fields` (the kernel's `case bpf_ctx_range(...)`).
fn in_any(off: i64, fields: &[Field]) -> bool {
    fields.iter().any(|f| f.contains(off))
}

/// The 64-bit load of an internal pointer field that replaces a 32-bit
/// load of `data`, `data_end` or `data_meta`.
fn pointer_field(internal_off: u32) -> Option<Fixup> {
    Some(Fixup {
        off: internal_off,
        size: Size::DW,
    })
}
