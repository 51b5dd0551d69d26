//! `struct __sk_buff` rules: `bpf_skb_is_valid_access` and the per-type
//! filters in front of it (`sk_filter_`, `tc_cls_act_`, `cg_skb_`, `lwt_`,
//! `sk_skb_` and `flow_dissector_is_valid_access`).

use apiary_isa::Size;
use apiary_kernel::types::ProgType;

use super::{Access, Fixup, in_any, in_bounds_and_aligned, pointer_field};
use crate::error::{AccessKind, Rule};
use crate::layouts::{Field, sk_buff as skb};
use crate::{SKB_DATA, SKB_DATA_END, SKB_DATA_META};

/// `family` up to and including `local_port`: the socket fields, which
/// several types may not touch (`bpf_ctx_range_till(family, local_port)`).
const SOCKET_FIELDS: Field = Field {
    name: "family..local_port",
    off: skb::FAMILY.off,
    size: skb::LOCAL_PORT.end() - skb::FAMILY.off,
    elem: skb::LOCAL_PORT.end() - skb::FAMILY.off,
};

pub(super) fn check(prog_type: ProgType, access: Access) -> Result<Option<Fixup>, Rule> {
    in_bounds_and_aligned(access, skb::STRUCT.size)?;
    let off = access.off;
    let write = access.kind.is_write();
    let refuse_if_in = |fields: &[Field]| {
        if in_any(off, fields) {
            Err(Rule::NotAvailable)
        } else {
            Ok(())
        }
    };
    let writable_only = |fields: &[Field]| {
        if write && !in_any(off, fields) {
            Err(Rule::ReadOnly)
        } else {
            Ok(())
        }
    };
    match prog_type {
        ProgType::SOCKET_FILTER => {
            refuse_if_in(&[
                skb::TC_CLASSID,
                skb::DATA,
                skb::DATA_META,
                skb::DATA_END,
                SOCKET_FIELDS,
                skb::TSTAMP,
                skb::WIRE_LEN,
                skb::HWTSTAMP,
            ])?;
            writable_only(&[skb::CB])?;
        }
        ProgType::SCHED_CLS | ProgType::SCHED_ACT => {
            writable_only(&[
                skb::MARK,
                skb::TC_INDEX,
                skb::PRIORITY,
                skb::TC_CLASSID,
                skb::CB,
                skb::TSTAMP,
                skb::QUEUE_MAPPING,
            ])?;
            refuse_if_in(&[SOCKET_FIELDS])?;
            // tc programs may read the timestamp type, one byte, unconverted.
            if off == i64::from(skb::TSTAMP_TYPE.off) {
                return if access.size == 1 {
                    Ok(None)
                } else {
                    Err(Rule::MustBeSize(1))
                };
            }
        }
        ProgType::CGROUP_SKB => {
            refuse_if_in(&[skb::TC_CLASSID, skb::DATA_META, skb::WIRE_LEN])?;
            writable_only(&[skb::MARK, skb::PRIORITY, skb::CB, skb::TSTAMP])?;
        }
        ProgType::LWT_IN | ProgType::LWT_OUT | ProgType::LWT_XMIT | ProgType::LWT_SEG6LOCAL => {
            refuse_if_in(&[
                skb::TC_CLASSID,
                SOCKET_FIELDS,
                skb::DATA_META,
                skb::TSTAMP,
                skb::WIRE_LEN,
                skb::HWTSTAMP,
            ])?;
            writable_only(&[skb::MARK, skb::PRIORITY, skb::CB])?;
        }
        ProgType::SK_SKB => {
            refuse_if_in(&[
                skb::TC_CLASSID,
                skb::DATA_META,
                skb::TSTAMP,
                skb::WIRE_LEN,
                skb::HWTSTAMP,
            ])?;
            writable_only(&[skb::TC_INDEX, skb::PRIORITY])?;
            refuse_if_in(&[skb::MARK])?;
        }
        _ => return flow_dissector(access),
    }
    common(access)
}

/// `flow_dissector_is_valid_access`: packet pointers and `flow_keys` only.
fn flow_dissector(access: Access) -> Result<Option<Fixup>, Rule> {
    if access.kind.is_write() {
        return Err(Rule::ReadOnly);
    }
    if skb::FLOW_KEYS.contains(access.off) {
        return if access.size == 8 {
            Ok(None)
        } else {
            Err(Rule::MustBeSize(8))
        };
    }
    if !in_any(access.off, &[skb::DATA, skb::DATA_END]) {
        return Err(Rule::NotAvailable);
    }
    pointer_load(access)
}

/// A load of `data`, `data_end` or `data_meta`: a plain 4-byte load, which
/// becomes a load of the internal 64-bit pointer.
fn pointer_load(access: Access) -> Result<Option<Fixup>, Rule> {
    if access.kind == AccessKind::ReadSignExtend {
        return Err(Rule::NoSignExtend);
    }
    if access.size != 4 {
        return Err(Rule::MustBeSize(4));
    }
    let internal = if skb::DATA.contains(access.off) {
        SKB_DATA
    } else if skb::DATA_END.contains(access.off) {
        SKB_DATA_END
    } else {
        SKB_DATA_META
    };
    Ok(pointer_field(internal))
}

/// `bpf_skb_is_valid_access`, shared by every `__sk_buff` type.
fn common(access: Access) -> Result<Option<Fixup>, Rule> {
    let off = access.off;
    let write = access.kind.is_write();
    if skb::CB.contains(off) {
        if off + i64::from(access.size) > i64::from(skb::CB.end()) {
            return Err(Rule::CrossesFieldEnd);
        }
        return Ok(None);
    }
    if in_any(off, &[skb::DATA, skb::DATA_META, skb::DATA_END]) {
        return pointer_load(access);
    }
    if in_any(
        off,
        &[
            skb::REMOTE_IP6,
            skb::LOCAL_IP6,
            skb::REMOTE_IP4,
            skb::LOCAL_IP4,
        ],
    ) {
        return if access.size == 4 {
            Ok(None)
        } else {
            Err(Rule::MustBeSize(4))
        };
    }
    if skb::FLOW_KEYS.contains(off) {
        return Err(Rule::NotAvailable);
    }
    if in_any(off, &[skb::HWTSTAMP, skb::SK]) && write {
        return Err(Rule::ReadOnly);
    }
    if in_any(off, &[skb::HWTSTAMP, skb::TSTAMP, skb::SK]) {
        return if access.size == 8 {
            Ok(None)
        } else {
            Err(Rule::MustBeSize(8))
        };
    }
    if off == i64::from(skb::TSTAMP_TYPE.off) {
        return Err(Rule::NotAvailable);
    }
    if off > i64::from(skb::TSTAMP_TYPE.off) && off < i64::from(skb::HWTSTAMP.off) {
        return Err(Rule::Padding);
    }
    // Every other field is a u32: written whole, read whole or narrower.
    if write {
        if access.size != 4 {
            return Err(Rule::MustBeSize(4));
        }
        return Ok(store_fixup(off));
    }
    if access.size > 4 {
        return Err(Rule::AtMost(4));
    }
    Ok(narrow_load_fixup(access))
}

/// Width of the `struct sk_buff` member the kernel reads or writes for a
/// u32 field of `__sk_buff`, where it is narrower than 4 bytes.
fn kernel_width(off: i64) -> Option<(Field, u32)> {
    let two = [
        skb::QUEUE_MAPPING,
        skb::PROTOCOL,
        skb::VLAN_TCI,
        skb::VLAN_PROTO,
        skb::TC_INDEX,
        skb::TC_CLASSID,
        skb::FAMILY,
        skb::REMOTE_PORT,
        skb::LOCAL_PORT,
        skb::GSO_SEGS,
        skb::GSO_SIZE,
    ];
    if skb::PKT_TYPE.contains(off) {
        return Some((skb::PKT_TYPE, 1));
    }
    two.into_iter().find(|f| f.contains(off)).map(|f| (f, 2))
}

/// The kernel stores `tc_index` and `tc_classid` as u16, so a 4-byte store
/// keeps only the low half; a 2-byte store into the image does the same
/// (the image's upper half of these fields is always zero).
/// `queue_mapping` is not narrowed: the kernel skips stores of values of
/// 0xffff and above, which the runtime must apply when it reads the image.
fn store_fixup(off: i64) -> Option<Fixup> {
    let narrowed = [skb::TC_INDEX, skb::TC_CLASSID]
        .into_iter()
        .find(|f| i64::from(f.off) == off)?;
    Some(Fixup {
        off: narrowed.off,
        size: Size::H,
    })
}

/// A narrow load of a u32 field whose kernel member is at most as wide as
/// the load: the kernel loads the whole member (from the field's start,
/// whatever the offset inside it) and neither shifts nor masks the value
/// (convert_ctx_accesses: `size < target_size` is false). In the image that
/// is a 4-byte load at the field's start; sign-extending loads keep their
/// size (the kernel sign-extends the low `size` bytes of the value).
fn narrow_load_fixup(access: Access) -> Option<Fixup> {
    if access.size >= 4 {
        return None;
    }
    let (field, width) = kernel_width(access.off)?;
    if access.size < width {
        return None;
    }
    if access.kind == AccessKind::ReadSignExtend {
        if access.off == i64::from(field.off) {
            return None;
        }
        let size = if access.size == 1 { Size::B } else { Size::H };
        return Some(Fixup {
            off: field.off,
            size,
        });
    }
    Some(Fixup {
        off: field.off,
        size: Size::W,
    })
}
