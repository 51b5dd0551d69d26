//! What the kernel refuses about a program's type, expected attach type
//! and load flags before it looks at an instruction: the attach types a
//! type needs (`bpf_prog_load_check_attach`, which refuses with `EINVAL`
//! and no log) and which types may or must be sleepable
//! (`check_attach_btf_id`).

use apiary_kernel::types::{AttachType, ProgType};

use crate::error::Rejection;
use crate::program::Program;

/// The final line recorded for a refusal the kernel logs nothing for.
const EINVAL_WITHOUT_LOG: &str = "EINVAL without a verifier log";

/// Whether `attach` is an expected attach type `prog_type` accepts, for
/// the types that need one (a `cgroup_sock_addr` program names its hook).
fn attach_type_ok(prog_type: ProgType, attach: AttachType) -> bool {
    match prog_type {
        ProgType::CGROUP_SOCK_ADDR => matches!(
            attach,
            AttachType::CGROUP_INET4_BIND
                | AttachType::CGROUP_INET6_BIND
                | AttachType::CGROUP_INET4_CONNECT
                | AttachType::CGROUP_INET6_CONNECT
                | AttachType::CGROUP_UNIX_CONNECT
                | AttachType::CGROUP_INET4_GETPEERNAME
                | AttachType::CGROUP_INET6_GETPEERNAME
                | AttachType::CGROUP_UNIX_GETPEERNAME
                | AttachType::CGROUP_INET4_GETSOCKNAME
                | AttachType::CGROUP_INET6_GETSOCKNAME
                | AttachType::CGROUP_UNIX_GETSOCKNAME
                | AttachType::CGROUP_UDP4_SENDMSG
                | AttachType::CGROUP_UDP6_SENDMSG
                | AttachType::CGROUP_UNIX_SENDMSG
                | AttachType::CGROUP_UDP4_RECVMSG
                | AttachType::CGROUP_UDP6_RECVMSG
                | AttachType::CGROUP_UNIX_RECVMSG
        ),
        ProgType::CGROUP_SOCKOPT => matches!(
            attach,
            AttachType::CGROUP_GETSOCKOPT | AttachType::CGROUP_SETSOCKOPT
        ),
        _ => true,
    }
}

/// Whether a program of this type and attach type may sleep
/// (`can_be_sleepable`).
fn can_be_sleepable(prog_type: ProgType, attach: AttachType) -> bool {
    match prog_type {
        ProgType::TRACING => matches!(
            attach,
            AttachType::TRACE_FENTRY
                | AttachType::TRACE_FEXIT
                | AttachType::MODIFY_RETURN
                | AttachType::TRACE_ITER
        ),
        ProgType::LSM | ProgType::KPROBE | ProgType::STRUCT_OPS => true,
        _ => false,
    }
}

/// Refuses what the kernel refuses about `prog`'s type, attach type and
/// flags.
pub(crate) fn check(prog: &Program) -> Result<(), Rejection> {
    if !attach_type_ok(prog.prog_type, prog.attach_type) {
        return Err(Rejection::new(0, EINVAL_WITHOUT_LOG)
            .cause(format!(
                "a {} program needs an expected attach type naming its hook, not {}",
                prog.prog_type, prog.attach_type
            ))
            .help("use a section name that names the hook, e.g. SEC(\"cgroup/connect4\")"));
    }
    if prog.prog_type == ProgType::SYSCALL {
        if !prog.sleepable {
            return Err(Rejection::new(0, "Syscall programs can only be sleepable")
                .cause("a syscall program must be loaded with BPF_F_SLEEPABLE")
                .help("use the section SEC(\"syscall\"), which libbpf loads sleepable"));
        }
        return Ok(());
    }
    if prog.sleepable && !can_be_sleepable(prog.prog_type, prog.attach_type) {
        return Err(Rejection::new(
            0,
            "Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs can be sleepable",
        )
        .cause(format!("a {} program cannot sleep", prog.prog_type)));
    }
    Ok(())
}
