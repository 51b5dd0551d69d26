//! Cgroup hooks with small plain contexts (kernel/bpf/cgroup.c):
//! `cgroup_dev_is_valid_access` and `sysctl_is_valid_access`.

use super::Access;
use crate::error::Rule;
use crate::layouts::{cgroup_dev_ctx, sysctl};

/// Bounds shared by both: the whole access inside the struct, aligned.
fn whole_access_inside(access: Access, size: u32) -> Result<(), Rule> {
    if access.off < 0 || access.off >= i64::from(size) {
        return Err(Rule::OutOfRange { size });
    }
    if access.off + i64::from(access.size) > i64::from(size) {
        return Err(Rule::CrossesFieldEnd);
    }
    if access.off % i64::from(access.size) != 0 {
        return Err(Rule::Misaligned);
    }
    Ok(())
}

/// Loads of a u32 field may be 1, 2 or 4 bytes.
fn narrow_read(access: Access) -> Result<(), Rule> {
    if access.size > 4 {
        return Err(Rule::AtMost(4));
    }
    Ok(())
}

fn exactly_four(access: Access) -> Result<(), Rule> {
    if access.size != 4 {
        return Err(Rule::MustBeSize(4));
    }
    Ok(())
}

/// `struct bpf_cgroup_dev_ctx`: read-only; `access_type` also narrower.
pub(super) fn device(access: Access) -> Result<(), Rule> {
    if access.kind.is_write() {
        return Err(Rule::ReadOnly);
    }
    whole_access_inside(access, cgroup_dev_ctx::STRUCT.size)?;
    if cgroup_dev_ctx::ACCESS_TYPE.contains(access.off) {
        narrow_read(access)
    } else {
        exactly_four(access)
    }
}

/// `struct bpf_sysctl`: `write` read-only, `file_pos` read narrow or
/// written whole.
pub(super) fn sysctl(access: Access) -> Result<(), Rule> {
    whole_access_inside(access, sysctl::STRUCT.size)?;
    let write = access.kind.is_write();
    if sysctl::WRITE.contains(access.off) && write {
        return Err(Rule::ReadOnly);
    }
    if write {
        exactly_four(access)
    } else {
        narrow_read(access)
    }
}
