//! Which helpers each program type may call, and which of them only a
//! GPL-compatible program may call: the kernel's `*_func_proto` functions
//! (`net/core/filter.c`, `kernel/trace/bpf_trace.c`, `kernel/bpf/helpers.c`,
//! `kernel/bpf/cgroup.c`) and the `gpl_only` of each prototype they return,
//! for the helpers of [`crate::helpers`].
//!
//! The lists were recorded from the Linux 6.18 kernel (a program calling
//! each helper, loaded under a non-GPL license, for each program type), and
//! `tests/helper_access_kernel.rs` checks them against the running kernel.
//! One correction to the recording: `bpf_xdp_adjust_meta` is XDP's
//! (upstream `xdp_func_proto` offers it unconditionally), though the host
//! the lists were recorded on refuses it; the test takes that refusal as
//! the host's.
//! A row is for one expected attach type: some types offer other helpers
//! to other attach points, and a program of another attach type is not
//! checked against the row.

use apiary_kernel::types::{AttachType, ProgType};

/// Whether a program may call a helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelperAccess {
    /// Any program of the type may call it.
    Allowed,
    /// Only a GPL-compatible program of the type may call it.
    GplOnly,
    /// The type's `*_func_proto` does not offer it.
    NotForThisType,
}

/// The helpers one program type (at one attach type) may call.
#[derive(Clone, Copy, Debug)]
pub struct TypeHelpers {
    /// The program type.
    pub prog_type: ProgType,
    /// The expected attach type the lists hold for.
    pub attach_type: AttachType,
    /// Whether the program loads sleepable (what `syscall` programs must).
    pub sleepable: bool,
    /// Helper ids any program of the type may call.
    pub allowed: &'static [i32],
    /// Helper ids only GPL-compatible programs of the type may call.
    pub gpl_only: &'static [i32],
}

macro_rules! row {
    ($ty:ident, $attach:ident, $sleepable:expr, $allowed:expr, $gpl_only:expr) => {
        TypeHelpers {
            prog_type: ProgType::$ty,
            attach_type: AttachType::$attach,
            sleepable: $sleepable,
            allowed: $allowed,
            gpl_only: $gpl_only,
        }
    };
}

// Helper id lists, named after the first type that has them; types with
// the same `*_func_proto` share one.
#[rustfmt::skip]
mod lists {
    pub const SOCKET_FILTER_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 26, 42, 46, 47, 68, 80, 87, 88, 89, 93, 94, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 160, 164, 181, 182, 208, 210, 211];
    pub const SOCKET_FILTER_GPL_ONLY: &[i32] = &[6, 25, 35, 112, 113, 114, 115, 158, 165];
    pub const KPROBE_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 42, 80, 87, 88, 89, 93, 94, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 164, 174, 181, 182, 208, 210, 211];
    pub const KPROBE_GPL_ONLY: &[i32] = &[4, 6, 25, 27, 35, 45, 67, 112, 113, 114, 115, 158, 165, 173];
    pub const SCHED_CLS_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 26, 28, 29, 30, 31, 32, 34, 38, 39, 40, 41, 42, 43, 46, 47, 48, 50, 68, 79, 80, 83, 84, 85, 86, 87, 88, 89, 93, 94, 95, 96, 97, 98, 99, 107, 108, 109, 118, 123, 124, 125, 130, 131, 132, 133, 134, 135, 141, 151, 152, 155, 156, 157, 160, 164, 181, 182, 192, 208, 210, 211];
    pub const SCHED_CLS_GPL_ONLY: &[i32] = &[6, 25, 35, 69, 112, 113, 114, 115, 158, 163, 165];
    pub const XDP_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 23, 28, 42, 44, 51, 54, 65, 80, 84, 85, 86, 87, 88, 89, 93, 94, 99, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 160, 164, 181, 182, 188, 189, 190, 208, 210, 211];
    pub const PERF_EVENT_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 27, 42, 80, 87, 88, 89, 93, 94, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 164, 174, 181, 182, 208, 210, 211];
    pub const PERF_EVENT_GPL_ONLY: &[i32] = &[4, 6, 25, 35, 45, 56, 67, 112, 113, 114, 115, 158, 165, 173];
    pub const CGROUP_SKB_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 26, 42, 46, 47, 68, 79, 80, 83, 84, 85, 86, 87, 88, 89, 93, 94, 95, 96, 97, 98, 99, 107, 108, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 160, 164, 181, 182, 208, 210, 211];
    pub const CGROUP_SOCK_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 42, 46, 80, 87, 88, 89, 93, 94, 107, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 160, 164, 181, 182, 208, 210, 211];
    pub const LWT_IN_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 24, 26, 28, 34, 39, 42, 80, 87, 88, 89, 93, 94, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 160, 164, 181, 182, 208, 210, 211];
    pub const LWT_XMIT_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 20, 21, 23, 24, 26, 28, 29, 30, 34, 38, 39, 40, 41, 42, 43, 80, 87, 88, 89, 93, 94, 109, 118, 123, 125, 130, 131, 132, 133, 134, 135, 141, 156, 157, 160, 164, 181, 182, 208, 210, 211];
    pub const SOCK_OPS_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 42, 46, 49, 53, 57, 59, 70, 80, 87, 88, 89, 93, 94, 96, 107, 108, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 160, 164, 181, 182, 208, 210, 211];
    pub const SK_SKB_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 9, 12, 14, 15, 16, 17, 26, 38, 39, 42, 43, 46, 47, 50, 52, 72, 80, 84, 85, 86, 87, 88, 89, 93, 94, 99, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 160, 164, 181, 182, 208, 210, 211];
    pub const CGROUP_DEVICE_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 42, 80, 87, 88, 89, 93, 94, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 164, 181, 182, 208, 210, 211];
    pub const CGROUP_SOCKOPT_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 42, 80, 87, 88, 89, 93, 94, 96, 107, 108, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 164, 181, 182, 208, 210, 211];
    pub const SK_MSG_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 42, 60, 61, 62, 63, 71, 80, 87, 88, 89, 93, 94, 107, 108, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 160, 164, 181, 182, 208, 210, 211];
    pub const CGROUP_SOCK_ADDR_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 42, 46, 49, 57, 80, 84, 85, 86, 87, 88, 89, 93, 94, 99, 107, 108, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 160, 164, 181, 182, 208, 210, 211];
    pub const SK_REUSEPORT_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 26, 42, 46, 68, 80, 82, 87, 88, 89, 93, 94, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 160, 164, 181, 182, 208, 210, 211];
    pub const SK_REUSEPORT_GPL_ONLY: &[i32] = &[6, 35, 112, 113, 114, 115, 158, 165];
    pub const FLOW_DISSECTOR_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 26, 42, 80, 87, 88, 89, 93, 94, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 160, 164, 181, 182, 208, 210, 211];
    pub const CGROUP_SYSCTL_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 42, 80, 87, 88, 89, 93, 94, 101, 102, 103, 104, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 160, 164, 181, 182, 208, 210, 211];
    pub const SK_LOOKUP_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 42, 80, 86, 87, 88, 89, 93, 94, 109, 118, 123, 124, 125, 130, 131, 132, 133, 134, 141, 156, 157, 160, 164, 181, 182, 208, 210, 211];
    pub const SYSCALL_ALLOWED: &[i32] = &[1, 2, 3, 5, 7, 8, 12, 14, 15, 16, 17, 42, 46, 80, 87, 88, 89, 93, 94, 107, 108, 109, 118, 123, 125, 130, 131, 132, 133, 134, 141, 156, 157, 164, 181, 182, 188, 208, 210, 211];
}
use lists::*;

/// Every program type the table covers.
pub static TYPE_HELPERS: &[TypeHelpers] = &[
    row!(
        SOCKET_FILTER,
        CGROUP_INET_INGRESS,
        false,
        SOCKET_FILTER_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        KPROBE,
        CGROUP_INET_INGRESS,
        false,
        KPROBE_ALLOWED,
        KPROBE_GPL_ONLY
    ),
    row!(
        SCHED_CLS,
        CGROUP_INET_INGRESS,
        false,
        SCHED_CLS_ALLOWED,
        SCHED_CLS_GPL_ONLY
    ),
    row!(
        SCHED_ACT,
        CGROUP_INET_INGRESS,
        false,
        SCHED_CLS_ALLOWED,
        SCHED_CLS_GPL_ONLY
    ),
    row!(
        TRACEPOINT,
        CGROUP_INET_INGRESS,
        false,
        KPROBE_ALLOWED,
        KPROBE_GPL_ONLY
    ),
    row!(
        XDP,
        CGROUP_INET_INGRESS,
        false,
        XDP_ALLOWED,
        SCHED_CLS_GPL_ONLY
    ),
    row!(
        PERF_EVENT,
        CGROUP_INET_INGRESS,
        false,
        PERF_EVENT_ALLOWED,
        PERF_EVENT_GPL_ONLY
    ),
    row!(
        CGROUP_SKB,
        CGROUP_INET_INGRESS,
        false,
        CGROUP_SKB_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        CGROUP_SOCK,
        CGROUP_INET_INGRESS,
        false,
        CGROUP_SOCK_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        LWT_IN,
        CGROUP_INET_INGRESS,
        false,
        LWT_IN_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        LWT_OUT,
        CGROUP_INET_INGRESS,
        false,
        LWT_IN_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        LWT_XMIT,
        CGROUP_INET_INGRESS,
        false,
        LWT_XMIT_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        SOCK_OPS,
        CGROUP_INET_INGRESS,
        false,
        SOCK_OPS_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        SK_SKB,
        CGROUP_INET_INGRESS,
        false,
        SK_SKB_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        CGROUP_DEVICE,
        CGROUP_INET_INGRESS,
        false,
        CGROUP_DEVICE_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        SK_MSG,
        CGROUP_INET_INGRESS,
        false,
        SK_MSG_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        RAW_TRACEPOINT,
        CGROUP_INET_INGRESS,
        false,
        KPROBE_ALLOWED,
        KPROBE_GPL_ONLY
    ),
    row!(
        CGROUP_SOCK_ADDR,
        CGROUP_INET4_CONNECT,
        false,
        CGROUP_SOCK_ADDR_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        LWT_SEG6LOCAL,
        CGROUP_INET_INGRESS,
        false,
        LWT_IN_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        SK_REUSEPORT,
        CGROUP_INET_INGRESS,
        false,
        SK_REUSEPORT_ALLOWED,
        SK_REUSEPORT_GPL_ONLY
    ),
    row!(
        FLOW_DISSECTOR,
        CGROUP_INET_INGRESS,
        false,
        FLOW_DISSECTOR_ALLOWED,
        SK_REUSEPORT_GPL_ONLY
    ),
    row!(
        CGROUP_SYSCTL,
        CGROUP_INET_INGRESS,
        false,
        CGROUP_SYSCTL_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        RAW_TRACEPOINT_WRITABLE,
        CGROUP_INET_INGRESS,
        false,
        KPROBE_ALLOWED,
        KPROBE_GPL_ONLY
    ),
    row!(
        CGROUP_SOCKOPT,
        CGROUP_GETSOCKOPT,
        false,
        CGROUP_SOCKOPT_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        SK_LOOKUP,
        SK_LOOKUP,
        false,
        SK_LOOKUP_ALLOWED,
        SOCKET_FILTER_GPL_ONLY
    ),
    row!(
        SYSCALL,
        CGROUP_INET_INGRESS,
        true,
        SYSCALL_ALLOWED,
        KPROBE_GPL_ONLY
    ),
    row!(
        NETFILTER,
        NETFILTER,
        false,
        CGROUP_DEVICE_ALLOWED,
        SK_REUSEPORT_GPL_ONLY
    ),
];

/// Whether a `prog_type` program verified for `attach_type` may call helper
/// `id`; `None` when the table has no row for them (the call is not
/// checked) or the helper is not one of [`crate::helpers`].
pub fn helper_access(
    prog_type: ProgType,
    attach_type: AttachType,
    id: i32,
) -> Option<HelperAccess> {
    crate::helpers::helper_proto(id)?;
    let row = TYPE_HELPERS
        .iter()
        .find(|r| r.prog_type == prog_type && r.attach_type == attach_type)?;
    Some(if row.allowed.contains(&id) {
        HelperAccess::Allowed
    } else if row.gpl_only.contains(&id) {
        HelperAccess::GplOnly
    } else {
        HelperAccess::NotForThisType
    })
}
