//! The XDP helpers (`net/core/filter.c`) over the run's frame: moving
//! `data`, `data_meta` and `data_end` inside the 4096-byte frame, and byte
//! access. Failures return the kernel's negative errno.

use apiary_vm::{HelperContext, HelperError};

use crate::Env;
use crate::packet::{
    ETH_HLEN, Packet, PacketKind, SHARED_INFO_SIZE, XDP_FRAG_SIZE, XDP_FRAME_HEADER, XDP_FRAME_SIZE,
};
use crate::skb_helpers::{edit_with, packet};

use crate::helpers::errno::{EACCES, EFAULT, EINVAL};
use crate::helpers::{Ctx, Ret, neg};

/// The longest metadata `bpf_xdp_adjust_meta` accepts:
/// `skb_shared_info.meta_len` is a `u8`, and lengths are multiples of 4.
pub(crate) const XDP_META_MAX: usize = 252;

/// The run's XDP frame.
fn xdp<'a>(ctx: &'a mut HelperContext<'_, Env>) -> Result<&'a mut Packet, HelperError> {
    let packet = packet(ctx)?;
    if packet.kind != PacketKind::Xdp {
        return Err(HelperError::Other(
            "this helper needs an xdp_md context, not __sk_buff".into(),
        ));
    }
    Ok(packet)
}

fn offset_by(base: usize, delta: i32) -> Option<usize> {
    base.checked_add_signed(delta as isize)
}

fn adjust_head(packet: &mut Packet, delta: i32) -> Result<(), i64> {
    let metalen = packet.data - packet.meta;
    let lowest = XDP_FRAME_HEADER + metalen;
    let data = offset_by(packet.data, delta).ok_or(EINVAL)?;
    if data < lowest || data + ETH_HLEN > packet.end {
        return Err(EINVAL);
    }
    let meta = data - metalen;
    if metalen != 0 {
        let from = packet.meta;
        if !packet.move_bytes(from..from + metalen, meta) {
            return Err(EINVAL);
        }
    }
    packet.meta = meta;
    packet.data = data;
    Ok(())
}

/// `bpf_xdp_adjust_head(xdp, delta)`: the metadata moves with `data`.
pub(crate) fn xdp_adjust_head(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    edit_with(ctx, xdp, |packet| adjust_head(packet, a[1] as i32))
}

fn adjust_meta(packet: &mut Packet, delta: i32) -> Result<(), i64> {
    let meta = offset_by(packet.meta, delta).ok_or(EINVAL)?;
    if meta < XDP_FRAME_HEADER || meta > packet.data {
        return Err(EINVAL);
    }
    let metalen = packet.data - meta;
    if !metalen.is_multiple_of(4) || metalen > XDP_META_MAX {
        return Err(EACCES);
    }
    packet.meta = meta;
    Ok(())
}

/// `bpf_xdp_adjust_meta(xdp, delta)`.
pub(crate) fn xdp_adjust_meta(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    edit_with(ctx, xdp, |packet| adjust_meta(packet, a[1] as i32))
}

fn adjust_tail(packet: &mut Packet, delta: i32) -> Result<(), i64> {
    if !packet.frags.is_empty() {
        return adjust_frags_tail(packet, delta);
    }
    let end = offset_by(packet.end, delta).ok_or(EINVAL)?;
    if end > XDP_FRAME_SIZE - SHARED_INFO_SIZE || end < packet.data + ETH_HLEN {
        return Err(EINVAL);
    }
    if end > packet.end {
        let from = packet.end;
        if let Some(grown) = packet.frame_mut().get_mut(from..end) {
            grown.fill(0);
        }
    }
    packet.end = end;
    Ok(())
}

/// `bpf_xdp_frags_increase_tail` / `bpf_xdp_frags_shrink_tail`: a
/// multi-buffer frame grows into its last fragment's page, and shrinks from
/// the last fragment back, dropping emptied fragments (and then the linear
/// part once none are left).
fn adjust_frags_tail(packet: &mut Packet, delta: i32) -> Result<(), i64> {
    let change = delta.unsigned_abs() as usize;
    if delta >= 0 {
        let last = packet.frags.last_mut().ok_or(EINVAL)?;
        if change > XDP_FRAG_SIZE - last.len() {
            return Err(EINVAL);
        }
        last.resize(last.len() + change, 0);
        return Ok(());
    }
    if change > packet.buff_len().saturating_sub(ETH_HLEN) {
        return Err(EINVAL);
    }
    let mut left = change;
    while left > 0 {
        let Some(last) = packet.frags.last_mut() else {
            break;
        };
        if left >= last.len() {
            left -= last.len();
            packet.frags.pop();
        } else {
            last.truncate(last.len() - left);
            left = 0;
        }
    }
    if packet.frags.is_empty() {
        packet.end -= left;
    }
    Ok(())
}

/// `bpf_xdp_adjust_tail(xdp, delta)`: grows (zero-filled) up to the
/// shared info at the frame's end, shrinks down to an Ethernet header.
pub(crate) fn xdp_adjust_tail(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    edit_with(ctx, xdp, |packet| adjust_tail(packet, a[1] as i32))
}

/// `bpf_xdp_get_buff_len(xdp)`: the linear part and the fragments.
pub(crate) fn xdp_get_buff_len(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(xdp(ctx)?.buff_len() as u64)
}

/// `__bpf_xdp_copy_buf`'s checks on `offset` and `len`.
fn xdp_span_check(packet: &Packet, offset: u64, len: u64) -> Result<(), i64> {
    if offset > 0xffff || len > 0xffff {
        return Err(EFAULT);
    }
    if offset + len > packet.buff_len() as u64 {
        return Err(EINVAL);
    }
    Ok(())
}

/// `bpf_xdp_load_bytes(xdp, offset, buf, len)`: across the fragments.
pub(crate) fn xdp_load_bytes(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (offset, len) = (u64::from(a[1] as u32), u64::from(a[3] as u32));
    ctx.read(a[2], len as usize)?;
    let packet = xdp(ctx)?;
    if let Err(errno) = xdp_span_check(packet, offset, len) {
        return Ok(neg(errno));
    }
    let bytes = packet
        .read_across(offset as usize, len as usize)
        .unwrap_or_default();
    ctx.write(a[2], &bytes)?;
    Ok(0)
}

/// `bpf_xdp_store_bytes(xdp, offset, buf, len)`: across the fragments.
pub(crate) fn xdp_store_bytes(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (offset, len) = (u64::from(a[1] as u32), u64::from(a[3] as u32));
    let bytes = ctx.read(a[2], len as usize)?.to_vec();
    let packet = xdp(ctx)?;
    if let Err(errno) = xdp_span_check(packet, offset, len) {
        return Ok(neg(errno));
    }
    packet.write_across(offset as usize, &bytes);
    Ok(0)
}
