//! `xdp_is_valid_access`: every field is a read-only u32.

use apiary_kernel::types::AttachType;

use super::{Access, Fixup, in_bounds_and_aligned, pointer_field};
use crate::error::{AccessKind, Rule};
use crate::layouts::xdp_md;
use crate::{XDP_DATA, XDP_DATA_END, XDP_DATA_META};

pub(super) fn check(attach_type: AttachType, access: Access) -> Result<Option<Fixup>, Rule> {
    in_bounds_and_aligned(access, xdp_md::STRUCT.size)?;
    let off = access.off;
    // Only programs run from a devmap have an egress device.
    if attach_type != AttachType::XDP_DEVMAP && off == i64::from(xdp_md::EGRESS_IFINDEX.off) {
        return Err(Rule::NotAvailable);
    }
    // Writes are allowed only to offloaded programs, which Apiary never is.
    if access.kind.is_write() {
        return Err(Rule::ReadOnly);
    }
    let pointer = [
        (xdp_md::DATA, XDP_DATA),
        (xdp_md::DATA_END, XDP_DATA_END),
        (xdp_md::DATA_META, XDP_DATA_META),
    ]
    .into_iter()
    .find(|(field, _)| i64::from(field.off) == off);
    if pointer.is_some() && access.kind == AccessKind::ReadSignExtend {
        return Err(Rule::NoSignExtend);
    }
    if access.size != 4 {
        return Err(Rule::MustBeSize(4));
    }
    Ok(pointer.and_then(|(_, internal)| pointer_field(internal)))
}
