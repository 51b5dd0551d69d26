//! Task local storage helpers (`kernel/bpf/bpf_task_storage.c`):
//! `bpf_task_storage_get` and `bpf_task_storage_delete` on a
//! `task_storage` map, for the task a pointer names.
//!
//! The only task a run knows is the one it pretends to happen in
//! ([`crate::TaskInfo`]); `bpf_get_current_task` and
//! `bpf_get_current_task_btf` name it by [`CURRENT_TASK_TAG`] and its
//! thread id. A task pointer the run did not hand out (one read from a
//! tracing context, say) names no task Apiary has, so the call stops the
//! run rather than guess.

use apiary_vm::{HelperError, RegionKind};

use crate::helpers::errno::EINVAL;
use crate::helpers::{CURRENT_TASK_TAG, Ctx, Ret, expose, map_arg, neg, status};

/// `BPF_LOCAL_STORAGE_GET_F_CREATE`.
const BPF_LOCAL_STORAGE_GET_F_CREATE: u64 = 1;

/// The thread id a task pointer names.
fn task_of(name: &str, ptr: u64) -> Result<u64, HelperError> {
    if ptr & !u64::from(u32::MAX) == CURRENT_TASK_TAG {
        return Ok(ptr & u64::from(u32::MAX));
    }
    Err(HelperError::Other(format!(
        "bpf_{name}: {ptr:#x} is not the current task, the only task a run has"
    )))
}

/// `bpf_task_storage_get(map, task, value, flags)`: NULL for unknown
/// flags or a NULL task; with `BPF_LOCAL_STORAGE_GET_F_CREATE` a missing
/// value is created from `value` (zeroes when NULL).
pub(crate) fn task_storage_get(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (id, map, _) = map_arg(ctx, a[0])?;
    let flags = a[3];
    if flags & !BPF_LOCAL_STORAGE_GET_F_CREATE != 0 || a[1] == 0 {
        return Ok(0);
    }
    let owner = task_of("task_storage_get", a[1])?;
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
    let (_, map, _) = map_arg(ctx, a[0])?;
    if a[1] == 0 {
        return Ok(neg(EINVAL));
    }
    let owner = task_of("task_storage_delete", a[1])?;
    Ok(status(map.storage_delete(owner)))
}
