//! Local storage helpers (`kernel/bpf/bpf_task_storage.c`,
//! `net/core/bpf_sk_storage.c`, `kernel/bpf/bpf_cgrp_storage.c`):
//! `bpf_task_storage_get`/`_delete` on a `task_storage` map for the task a
//! pointer names, `bpf_sk_storage_get`/`_delete` on an `sk_storage` map
//! for a socket, `bpf_cgrp_storage_get`/`_delete` on a `cgrp_storage` map
//! for a cgroup.
//!
//! The only task a run knows is the one it pretends to happen in
//! ([`crate::TaskInfo`], named as [`crate::task::task_of`] reads it). The only socket a run knows is the one a
//! `cgroup_sock` program's context stands for (the verifier makes its
//! `bpf_sk_storage_get` take that context), named by the run's socket
//! cookie; other programs reach sockets only through pointers Apiary
//! never hands out. No run hands out a cgroup pointer either: only NULL
//! reaches the cgroup helpers in a run that is not broken.

use apiary_kernel::types::ProgType;
use apiary_vm::{HelperError, RegionKind};

use crate::helpers::errno::EINVAL;
use crate::helpers::{Ctx, Ret, expose, map_arg, neg, status};
use crate::skb_meta::{run_socket_cookie, unknown_socket};
use crate::task::task_of;

/// `BPF_LOCAL_STORAGE_GET_F_CREATE`.
const BPF_LOCAL_STORAGE_GET_F_CREATE: u64 = 1;

/// The socket number a socket pointer names (see the module's comment).
fn socket_of(ctx: Ctx<'_, '_>, name: &str, ptr: u64) -> Result<u64, HelperError> {
    if ctx.env().prog_type == ProgType::CGROUP_SOCK {
        return Ok(run_socket_cookie(ctx));
    }
    Err(unknown_socket(name, ptr))
}

/// `bpf_task_storage_get(map, task, value, flags)`: NULL for unknown
/// flags or a NULL task; with `BPF_LOCAL_STORAGE_GET_F_CREATE` a missing
/// value is created from `value` (zeroes when NULL).
pub(crate) fn task_storage_get(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    if a[3] & !BPF_LOCAL_STORAGE_GET_F_CREATE != 0 || a[1] == 0 {
        return Ok(0);
    }
    let owner = task_of("task_storage_get", a[1])?;
    storage_get(ctx, a, owner)
}

/// `bpf_sk_storage_get(map, sk, value, flags)`, as
/// [`task_storage_get`] for a socket (never NULL: the verifier sees to it).
pub(crate) fn sk_storage_get(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    if a[3] & !BPF_LOCAL_STORAGE_GET_F_CREATE != 0 {
        return Ok(0);
    }
    let owner = socket_of(ctx, "sk_storage_get", a[1])?;
    storage_get(ctx, a, owner)
}

/// The value of `owner` in the map `a[0]`, created from `a[2]` when the
/// flags `a[3]` ask for it.
fn storage_get(ctx: Ctx<'_, '_>, a: [u64; 5], owner: u64) -> Ret {
    let (id, map, _) = map_arg(ctx, a[0])?;
    let flags = a[3];
    let init = if flags & BPF_LOCAL_STORAGE_GET_F_CREATE == 0 {
        None
    } else if a[2] == 0 {
        Some(vec![0; map.value_size()])
    } else {
        Some(ctx.read(a[2], map.value_size())?.to_vec())
    };
    match map.storage_get(owner, init.as_deref()) {
        Ok(Some(value)) => expose(
            ctx,
            value.addr(),
            value.len(),
            true,
            RegionKind::MapValue(id.0),
        ),
        Ok(None) | Err(_) => Ok(0),
    }
}

/// `bpf_task_storage_delete(map, task)`: `-EINVAL` for a NULL task,
/// `-ENOENT` when the task has no value.
pub(crate) fn task_storage_delete(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    if a[1] == 0 {
        return Ok(neg(EINVAL));
    }
    let owner = task_of("task_storage_delete", a[1])?;
    storage_delete(ctx, a[0], owner)
}

/// `bpf_sk_storage_delete(map, sk)`: `-ENOENT` when the socket has no value.
pub(crate) fn sk_storage_delete(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let owner = socket_of(ctx, "sk_storage_delete", a[1])?;
    storage_delete(ctx, a[0], owner)
}

/// The error of a cgroup helper given a cgroup pointer (see the module's
/// comment).
fn unknown_cgroup(name: &str, ptr: u64) -> HelperError {
    HelperError::Other(format!(
        "bpf_{name} of {ptr:#x}, which is no cgroup this run handed out"
    ))
}

/// `bpf_cgrp_storage_get(map, cgroup, value, flags)`: NULL for a NULL
/// cgroup or unknown flags.
pub(crate) fn cgrp_storage_get(_: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    if a[1] == 0 || a[3] & !BPF_LOCAL_STORAGE_GET_F_CREATE != 0 {
        return Ok(0);
    }
    Err(unknown_cgroup("cgrp_storage_get", a[1]))
}

/// `bpf_cgrp_storage_delete(map, cgroup)`: `-EINVAL` for a NULL cgroup.
pub(crate) fn cgrp_storage_delete(_: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    if a[1] == 0 {
        return Ok(neg(EINVAL));
    }
    Err(unknown_cgroup("cgrp_storage_delete", a[1]))
}

fn storage_delete(ctx: Ctx<'_, '_>, map: u64, owner: u64) -> Ret {
    let (_, map, _) = map_arg(ctx, map)?;
    Ok(status(map.storage_delete(owner)))
}
