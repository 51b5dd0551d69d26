//! What a program or callback may return (`check_return_code`): the range
//! each program type (and attach type) allows for `r0` at exit, a timer
//! callback's 0, and the kernel's line for a scalar outside its range.

use apiary_kernel::types::{AttachType, ProgType};

use crate::error::Rejection;
use crate::explore::Env;
use crate::regs::RegState;
use crate::state::State;

/// A timer callback's `r0`, which must be 0 (`check_return_code`).
pub(crate) fn check_async_return(pc: usize, r0: &RegState) -> Result<(), Rejection> {
    const WHEN: &str = "At async callback return";
    if !r0.is_scalar() {
        return Err(Rejection::new(
            pc,
            format!(
                "{WHEN} the register R0 is not a known value ({})",
                r0.type_name()
            ),
        )
        .reg(0, r0));
    }
    if r0.value.smin == 0 && r0.value.smax == 0 {
        return Ok(());
    }
    Err(Rejection::new(pc, invalid_scalar(WHEN, r0, (0, 0)))
        .reg(0, r0)
        .cause("a timer callback must return 0"))
}

/// A `bpf_loop` or `for_each_map_elem` callback's `r0`, which must be a
/// number in [`crate::callbacks::RETURN_RANGE`] (`prepare_func_exit`).
pub(crate) fn check_callback_return(pc: usize, r0: &RegState) -> Result<(), Rejection> {
    if !r0.is_scalar() {
        return Err(Rejection::new(pc, "R0 not a scalar value").reg(0, *r0));
    }
    let range = crate::callbacks::RETURN_RANGE;
    if r0.value.smin >= range.0 && r0.value.smax <= range.1 {
        return Ok(());
    }
    Err(
        Rejection::new(pc, invalid_scalar("At callback return", r0, range))
            .reg(0, *r0)
            .cause("a loop or map-iteration callback must return 0 (go on) or 1 (stop)"),
    )
}

/// The kernel's refusal of a scalar outside `range` (`verbose_invalid_scalar`).
pub(crate) fn invalid_scalar(when: &str, reg: &RegState, range: (i64, i64)) -> String {
    let v = reg.value;
    let mut line = format!("{when} the register R0 has");
    if v.smin > i64::MIN {
        line.push_str(&format!(" smin={}", v.smin));
    }
    if v.smax < i64::MAX {
        line.push_str(&format!(" smax={}", v.smax));
    }
    if v.smin == i64::MIN && v.smax == i64::MAX {
        line.push_str(" unknown scalar value");
    }
    line + &format!(" should have been in [{}, {}]", range.0, range.1)
}

/// Program types whose return value the kernel restricts (`check_return_code`).
pub(crate) fn check_return_range(
    env: &Env,
    state: &State,
    pc: usize,
    r0: &RegState,
) -> Result<(), Rejection> {
    let attach = env.prog.attach_type;
    let range = match env.prog.prog_type {
        // Egress programs may also ask for congestion notification (2, 3).
        ProgType::CGROUP_SKB if attach == AttachType::CGROUP_INET_EGRESS => (0, 3),
        ProgType::CGROUP_SOCK_ADDR
            if matches!(
                attach,
                AttachType::CGROUP_UDP4_RECVMSG
                    | AttachType::CGROUP_UDP6_RECVMSG
                    | AttachType::CGROUP_UNIX_RECVMSG
                    | AttachType::CGROUP_INET4_GETPEERNAME
                    | AttachType::CGROUP_INET6_GETPEERNAME
                    | AttachType::CGROUP_UNIX_GETPEERNAME
                    | AttachType::CGROUP_INET4_GETSOCKNAME
                    | AttachType::CGROUP_INET6_GETSOCKNAME
                    | AttachType::CGROUP_UNIX_GETSOCKNAME
            ) =>
        {
            (1, 1)
        }
        ProgType::CGROUP_SOCK_ADDR
            if matches!(
                attach,
                AttachType::CGROUP_INET4_BIND | AttachType::CGROUP_INET6_BIND
            ) =>
        {
            (0, 3)
        }
        ProgType::CGROUP_SKB
        | ProgType::CGROUP_SOCK
        | ProgType::CGROUP_SOCKOPT
        | ProgType::CGROUP_SYSCTL
        | ProgType::CGROUP_DEVICE
        | ProgType::SOCK_OPS
        | ProgType::CGROUP_SOCK_ADDR
        | ProgType::SK_LOOKUP => (0, 1),
        _ => return Ok(()),
    };
    if !r0.is_scalar() {
        return Err(Rejection::new(
            pc,
            format!(
                "At program exit the register R0 is not a known value ({})",
                r0.type_name()
            ),
        )
        .reg(0, r0)
        .cause("the program returns a pointer where its type needs a number"));
    }
    env.need_precise(state, 0);
    let v = r0.value;
    if v.smin >= range.0 && v.smax <= range.1 {
        return Ok(());
    }
    Err(
        Rejection::new(pc, invalid_scalar("At program exit", r0, range))
            .reg(0, r0)
            .cause(format!(
                "{} programs must return a value in [{}, {}]",
                env.prog.prog_type, range.0, range.1
            )),
    )
}
