//! The socket-buffer helpers (`net/core/filter.c`), over the run's
//! [`Packet`]: byte access, checksum fix-ups, VLAN tags, protocol and
//! room changes, hashes and redirects. Failures return the kernel's
//! negative errno; a call from a run without an skb is a helper error.
//!
//! Test-run skbs are linear and have `ip_summed == CHECKSUM_NONE`, so the
//! checksum helpers only rewrite the checksum field and `bpf_csum_update`
//! answers `-ENOTSUPP`, as in the kernel.

use std::hash::{BuildHasher, Hasher};

use apiary_vm::{HelperContext, HelperError};

use crate::packet::{
    BPF_SKB_MAX_LEN, ETH_HLEN, ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, Packet, PacketKind,
    VLAN_HLEN, ethertype_protocol, skb_off,
};
use crate::{Env, Event};

use crate::csum::{
    IpSummed, csum_add, csum_block_add, csum_block_sub, csum_fold, csum_partial, csum_sub,
};
use crate::helpers::errno::{EBADMSG, EFAULT, EINVAL, ENOMEM, ENOTSUPP};
use crate::helpers::{Ctx, Ret, neg};

/// The run's packet, whatever its kind.
pub(crate) fn packet<'a>(
    ctx: &'a mut HelperContext<'_, Env>,
) -> Result<&'a mut Packet, HelperError> {
    ctx.env().packet.as_deref_mut().ok_or_else(|| {
        HelperError::Other("this helper needs a packet context (an skb or xdp test-run)".into())
    })
}

/// The run's skb.
pub(crate) fn skb<'a>(ctx: &'a mut HelperContext<'_, Env>) -> Result<&'a mut Packet, HelperError> {
    let packet = packet(ctx)?;
    if packet.kind == PacketKind::Xdp {
        return Err(HelperError::Other(
            "this helper needs an skb context, not xdp_md".into(),
        ));
    }
    Ok(packet)
}

/// Publishes a packet change: the context image and pointers, and the
/// span `LD_ABS` reads (`bpf_compute_data_pointers` in the kernel).
pub(crate) fn commit(ctx: Ctx<'_, '_>) -> Result<(), HelperError> {
    let packet = packet(ctx)?;
    packet.sync();
    let (span, headers) = (packet.ld_abs_region(), packet.ld_abs_headers());
    ctx.set_packet(span)?;
    ctx.set_packet_headers(headers)
}

fn errno_or_zero(result: Result<(), i64>) -> u64 {
    result.map_or_else(neg, |()| 0)
}

/// Applies `change` to the run's packet (of the kind `select` picks),
/// publishes it, and answers 0 or the change's negative errno.
pub(crate) fn edit_with(
    ctx: Ctx<'_, '_>,
    select: for<'a> fn(&'a mut HelperContext<'_, Env>) -> Result<&'a mut Packet, HelperError>,
    change: impl FnOnce(&mut Packet) -> Result<(), i64>,
) -> Ret {
    let result = change(select(ctx)?);
    commit(ctx)?;
    Ok(errno_or_zero(result))
}

/// [`edit_with`] on the run's skb.
fn edit(ctx: Ctx<'_, '_>, change: impl FnOnce(&mut Packet) -> Result<(), i64>) -> Ret {
    edit_with(ctx, skb, change)
}

fn csum16_add(csum: u16, addend: u16) -> u16 {
    let sum = csum.wrapping_add(addend);
    sum.wrapping_add(u16::from(sum < addend))
}

fn csum_replace4(sum: u16, from: u32, to: u32) -> u16 {
    csum_fold(csum_add(csum_sub(!u32::from(sum), from), to))
}

fn csum_replace2(sum: u16, from: u16, to: u16) -> u16 {
    !csum16_add(csum16_add(!sum, !from), to)
}

fn csum_replace_by_diff(sum: u16, diff: u32) -> u16 {
    csum_fold(csum_add(diff, !u32::from(sum)))
}

/// `BPF_F_HDR_FIELD_MASK`: the field size in the checksum helpers' flags.
const BPF_F_HDR_FIELD_MASK: u64 = 0xf;
const BPF_F_PSEUDO_HDR: u64 = 1 << 4;
const BPF_F_MARK_MANGLED_0: u64 = 1 << 5;
const BPF_F_MARK_ENFORCE: u64 = 1 << 6;
const BPF_F_IPV6: u64 = 1 << 7;
/// `CSUM_MANGLED_0`: a UDP checksum that came out 0 is sent as all ones.
const CSUM_MANGLED_0: u16 = 0xffff;

/// The checksum field at `offset` of the skb (`-EFAULT` past `skb->len`
/// or at an odd or too large offset, as `bpf_try_make_writable` fails).
fn checksum_field(packet: &Packet, offset: u64) -> Result<usize, i64> {
    if offset > 0xffff || offset & 1 != 0 || offset + 2 > packet.len() as u64 {
        return Err(EFAULT);
    }
    Ok(offset as usize)
}

fn read_sum(packet: &Packet, at: usize) -> u16 {
    packet
        .bytes()
        .get(at..at + 2)
        .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]))
}

fn write_sum(packet: &mut Packet, at: usize, sum: u16) {
    if let Some(dst) = packet.bytes_mut().get_mut(at..at + 2) {
        dst.copy_from_slice(&sum.to_ne_bytes());
    }
}

fn l3_csum(packet: &mut Packet, offset: u64, from: u64, to: u64, flags: u64) -> Result<(), i64> {
    if flags & !BPF_F_HDR_FIELD_MASK != 0 {
        return Err(EINVAL);
    }
    let at = checksum_field(packet, offset)?;
    let sum = read_sum(packet, at);
    let new = match flags & BPF_F_HDR_FIELD_MASK {
        0 if from != 0 => return Err(EINVAL),
        0 => csum_replace_by_diff(sum, to as u32),
        2 => csum_replace2(sum, from as u16, to as u16),
        4 => csum_replace4(sum, from as u32, to as u32),
        _ => return Err(EINVAL),
    };
    write_sum(packet, at, new);
    Ok(())
}

/// `bpf_l3_csum_replace(skb, offset, from, to, flags)`.
pub(crate) fn l3_csum_replace(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let packet = skb(ctx)?;
    Ok(errno_or_zero(l3_csum(
        packet,
        u64::from(a[1] as u32),
        a[2],
        a[3],
        a[4],
    )))
}

fn l4_csum(packet: &mut Packet, offset: u64, from: u64, to: u64, flags: u64) -> Result<(), i64> {
    let known = BPF_F_MARK_MANGLED_0
        | BPF_F_MARK_ENFORCE
        | BPF_F_PSEUDO_HDR
        | BPF_F_HDR_FIELD_MASK
        | BPF_F_IPV6;
    if flags & !known != 0 {
        return Err(EINVAL);
    }
    let at = checksum_field(packet, offset)?;
    let sum = read_sum(packet, at);
    let mangled_zero = flags & BPF_F_MARK_MANGLED_0 != 0;
    if mangled_zero && flags & BPF_F_MARK_ENFORCE == 0 && sum == 0 {
        return Ok(());
    }
    // inet_proto_csum_replace*: the field, and with CHECKSUM_COMPLETE and
    // a pseudo-header change also skb->csum (test-run skbs are never
    // CHECKSUM_PARTIAL).
    let (from, to) = match flags & BPF_F_HDR_FIELD_MASK {
        0 if from != 0 => return Err(EINVAL),
        0 => (None, to as u32),
        2 => (Some(u32::from(from as u16)), u32::from(to as u16)),
        4 => (Some(from as u32), to as u32),
        _ => return Err(EINVAL),
    };
    let complete = packet.skb.ip_summed == IpSummed::Complete && flags & BPF_F_PSEUDO_HDR != 0;
    let mut new = match from {
        None => {
            if complete && flags & BPF_F_IPV6 == 0 {
                packet.skb.csum = !csum_add(to, !packet.skb.csum);
            }
            csum_replace_by_diff(sum, to)
        }
        Some(from) => {
            if complete {
                packet.skb.csum = !csum_add(csum_sub(!packet.skb.csum, from), to);
            }
            csum_replace4(sum, from, to)
        }
    };
    if mangled_zero && new == 0 {
        new = CSUM_MANGLED_0;
    }
    write_sum(packet, at, new);
    Ok(())
}

/// `bpf_l4_csum_replace(skb, offset, from, to, flags)`.
pub(crate) fn l4_csum_replace(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let packet = skb(ctx)?;
    Ok(errno_or_zero(l4_csum(
        packet,
        u64::from(a[1] as u32),
        a[2],
        a[3],
        a[4],
    )))
}

/// `bpf_csum_update(skb, csum)`: adds to `skb->csum` of a
/// CHECKSUM_COMPLETE skb and returns it; `-ENOTSUPP` for other skbs.
pub(crate) fn csum_update(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let state = &mut skb(ctx)?.skb;
    if state.ip_summed != IpSummed::Complete {
        return Ok(neg(ENOTSUPP));
    }
    state.csum = csum_add(state.csum, a[1] as u32);
    Ok(u64::from(state.csum))
}

/// `__skb_postpull_rcsum`/`skb_postpull_rcsum` for bytes `at..at + len`
/// of the frame about to leave the checksummed data (`offset` from `data`).
fn postpull_rcsum(packet: &mut Packet, at: usize, len: usize, offset: usize) {
    update_rcsum(packet, at..at + len, offset, csum_block_sub);
}

/// `__skb_postpush_rcsum` for bytes `at..at + len` just added to the data.
fn postpush_rcsum(packet: &mut Packet, at: usize, len: usize, offset: usize) {
    update_rcsum(packet, at..at + len, offset, csum_block_add);
}

/// Folds the partial sum of frame bytes `span` into a CHECKSUM_COMPLETE
/// skb's `skb->csum` with `combine`.
fn update_rcsum(
    packet: &mut Packet,
    span: std::ops::Range<usize>,
    offset: usize,
    combine: fn(u32, u32, usize) -> u32,
) {
    if packet.skb.ip_summed == IpSummed::Complete {
        let block = packet
            .frame()
            .get(span)
            .map_or(0, |b| csum_partial(b, 0, offset & 1 == 1));
        packet.skb.csum = combine(packet.skb.csum, block, offset);
    }
}

/// The partial sum test-run compares `skb->csum` with: the data from the
/// network header on.
fn network_checksum(packet: &Packet) -> u32 {
    let from = packet.network.max(packet.data);
    let bytes = packet.frame().get(from..packet.end).unwrap_or_default();
    csum_partial(bytes, 0, (from - packet.data) & 1 == 1)
}

/// Makes the skb `CHECKSUM_COMPLETE` over its data from the network header
/// (test-run with `BPF_F_TEST_SKB_CHECKSUM_COMPLETE`).
pub(crate) fn make_checksum_complete(packet: &mut Packet) {
    packet.skb.csum = network_checksum(packet);
    packet.skb.ip_summed = IpSummed::Complete;
}

/// Whether `skb->csum` still covers the data (test-run's final check with
/// `BPF_F_TEST_SKB_CHECKSUM_COMPLETE`).
pub(crate) fn checksum_complete_holds(packet: &Packet) -> bool {
    csum_fold(packet.skb.csum) == csum_fold(network_checksum(packet))
}

const BPF_F_RECOMPUTE_CSUM: u64 = 1;
const BPF_F_INVALIDATE_HASH: u64 = 2;

/// `bpf_skb_store_bytes(skb, offset, from, len, flags)`.
pub(crate) fn skb_store_bytes(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (offset, len, flags) = (u64::from(a[1] as u32), u64::from(a[3] as u32), a[4]);
    let bytes = ctx.read(a[2], len as usize)?.to_vec();
    let packet = skb(ctx)?;
    if flags & !(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH) != 0 {
        return Ok(neg(EINVAL));
    }
    if offset > i32::MAX as u64 || offset + len > packet.len() as u64 {
        return Ok(neg(EFAULT));
    }
    let at = offset as usize;
    let recompute = flags & BPF_F_RECOMPUTE_CSUM != 0;
    if recompute {
        postpull_rcsum(packet, packet.data + at, bytes.len(), at);
    }
    if let Some(dst) = packet.bytes_mut().get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(&bytes);
    }
    if recompute {
        postpush_rcsum(packet, packet.data + at, bytes.len(), at);
    }
    if flags & BPF_F_INVALIDATE_HASH != 0 {
        packet.skb.hash = 0;
        packet.skb.hash_valid = false;
    }
    commit(ctx)?;
    Ok(0)
}

/// Copies `len` bytes to the program's `to`, or zeroes it and answers
/// `-EFAULT` when `bytes` is `None`.
/// Packet bytes on their way to the program's memory, copied out first
/// (the packet is borrowed from the context the write needs): on the
/// stack when as short as the headers programs load, so that such a load
/// allocates nothing.
enum Copied {
    Short([u8; Copied::SHORT], usize),
    Long(Vec<u8>),
}

impl Copied {
    const SHORT: usize = 64;

    fn of(bytes: &[u8]) -> Copied {
        match bytes.len() {
            len @ 0..=Copied::SHORT => {
                let mut short = [0; Copied::SHORT];
                short[..len].copy_from_slice(bytes);
                Copied::Short(short, len)
            }
            _ => Copied::Long(bytes.to_vec()),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Copied::Short(short, len) => &short[..*len],
            Copied::Long(long) => long,
        }
    }
}

fn copy_out(ctx: Ctx<'_, '_>, to: u64, len: usize, bytes: Option<Copied>) -> Ret {
    match bytes {
        Some(bytes) => {
            ctx.write(to, bytes.bytes())?;
            Ok(0)
        }
        None => {
            ctx.write(to, &vec![0; len])?;
            Ok(neg(EFAULT))
        }
    }
}

/// `bpf_skb_load_bytes(skb, offset, to, len)`.
pub(crate) fn skb_load_bytes(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (offset, len) = (u64::from(a[1] as u32), a[3] as u32 as usize);
    ctx.read(a[2], len)?;
    let packet = skb(ctx)?;
    let bytes = (offset <= i32::MAX as u64)
        .then(|| packet.bytes().get(offset as usize..offset as usize + len))
        .flatten()
        .map(Copied::of);
    copy_out(ctx, a[2], len, bytes)
}

const BPF_HDR_START_MAC: u64 = 0;
const BPF_HDR_START_NET: u64 = 1;

/// `bpf_skb_load_bytes_relative(skb, offset, to, len, start_header)`.
pub(crate) fn skb_load_bytes_relative(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (offset, len) = (u64::from(a[1] as u32), a[3] as u32 as usize);
    ctx.read(a[2], len)?;
    let packet = skb(ctx)?;
    let start = match u64::from(a[4] as u32) {
        BPF_HDR_START_MAC => Some(packet.mac),
        BPF_HDR_START_NET => Some(packet.network),
        _ => None,
    };
    let bytes = start
        .filter(|_| offset <= 0xffff)
        .map(|start| start + offset as usize)
        .filter(|from| from + len <= packet.end)
        .and_then(|from| packet.frame().get(from..from + len))
        .map(Copied::of);
    copy_out(ctx, a[2], len, bytes)
}

/// `bpf_skb_pull_data(skb, len)`: test-run skbs are linear, so only the
/// length check remains.
pub(crate) fn skb_pull_data(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let packet = skb(ctx)?;
    let len = a[1] as u32 as usize;
    let result = if len > packet.len() { neg(ENOMEM) } else { 0 };
    commit(ctx)?;
    Ok(result)
}

/// `bpf_get_hash_recalc(skb)`: the flow hash, computed once from the
/// addresses, protocol and ports with a per-process random key (the
/// kernel's key is random too, so values differ from the kernel's).
pub(crate) fn get_hash_recalc(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    let packet = skb(ctx)?;
    if !packet.skb.hash_valid {
        packet.skb.hash = flow_hash(packet);
        packet.skb.hash_valid = true;
    }
    let hash = packet.skb.hash;
    commit(ctx)?;
    Ok(u64::from(hash))
}

fn flow_hash(packet: &Packet) -> u32 {
    static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let mut hasher = KEYS.get_or_init(Default::default).build_hasher();
    hasher.write_u16(packet.skb.protocol);
    let l3 = packet
        .frame()
        .get(packet.network..packet.end)
        .unwrap_or_default();
    let (addresses, proto, l4) = match packet.skb.protocol {
        ETH_P_IP if l3.len() >= 20 => {
            let ihl = usize::from(l3[0] & 0xf) * 4;
            (&l3[12..20], l3[9], l3.get(ihl..).unwrap_or_default())
        }
        ETH_P_IPV6 if l3.len() >= 40 => (&l3[8..40], l3[6], &l3[40..]),
        _ => (&[][..], 0, &[][..]),
    };
    hasher.write(addresses);
    hasher.write_u8(proto);
    if matches!(proto, 6 | 17 | 132) {
        hasher.write(l4.get(..4).unwrap_or_default());
    }
    // __flow_hash_from_keys never answers 0, which means "no hash".
    (hasher.finish() as u32).max(1)
}

/// `bpf_set_hash(skb, hash)`: a software hash that is not recomputed.
pub(crate) fn set_hash(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let packet = skb(ctx)?;
    packet.skb.hash = a[1] as u32;
    packet.skb.hash_valid = true;
    commit(ctx)?;
    Ok(0)
}

/// `bpf_set_hash_invalid(skb)`: `skb_clear_hash`.
pub(crate) fn set_hash_invalid(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    let packet = skb(ctx)?;
    packet.skb.hash = 0;
    packet.skb.hash_valid = false;
    commit(ctx)?;
    Ok(0)
}

/// `bpf_skb_change_type(skb, type)`: only among `PACKET_HOST..=PACKET_OTHERHOST`.
pub(crate) fn skb_change_type(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let packet = skb(ctx)?;
    let pkt_type = a[1] as u32;
    if packet.skb.pkt_type > crate::packet::PACKET_OTHERHOST
        || pkt_type > crate::packet::PACKET_OTHERHOST
    {
        return Ok(neg(EINVAL));
    }
    packet.skb.pkt_type = pkt_type;
    commit(ctx)?;
    Ok(0)
}

const BPF_F_INGRESS: u64 = 1;

/// `bpf_clone_redirect(skb, ifindex, flags)`: the clone is reported as an
/// [`Event::CloneRedirect`]; Apiary has no device table, so any non-zero
/// ifindex names a device.
pub(crate) fn clone_redirect(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (ifindex, flags) = (a[1] as u32, a[2]);
    let packet = skb(ctx)?;
    if flags & !BPF_F_INGRESS != 0 {
        return Ok(neg(EINVAL));
    }
    // Test-run can make GSO packets without a GSO type; the kernel refuses
    // to let them out.
    if packet.skb.gso_size != 0 {
        return Ok(neg(EBADMSG));
    }
    if ifindex == 0 {
        return Ok(neg(EINVAL));
    }
    let bytes = match packet.kind {
        // A socket filter's clone is sent from the MAC header.
        PacketKind::Skb { l2: false } => packet
            .frame()
            .get(packet.mac..packet.end)
            .unwrap_or_default()
            .to_vec(),
        _ => packet.bytes().to_vec(),
    };
    ctx.env().record(Event::CloneRedirect {
        ifindex,
        flags,
        packet: bytes,
    });
    Ok(0)
}

fn is_vlan(proto: u16) -> bool {
    proto == ETH_P_8021Q || proto == ETH_P_8021AD
}

/// `__vlan_insert_tag`: writes the tag between the MAC addresses and the
/// ethertype.
fn vlan_insert(packet: &mut Packet, proto: u16, tci: u16) -> Result<(), i64> {
    if !packet.ensure_headroom(VLAN_HLEN) {
        return Err(ENOMEM);
    }
    let data = packet.data;
    let new = data - VLAN_HLEN;
    if !packet.move_bytes(data..data + 12, new) {
        return Err(ENOMEM);
    }
    if let Some(tag) = packet.frame_mut().get_mut(new + 12..new + 16) {
        tag[..2].copy_from_slice(&proto.to_be_bytes());
        tag[2..].copy_from_slice(&tci.to_be_bytes());
    }
    packet.data = new;
    packet.meta = new;
    packet.mac = new;
    postpush_rcsum(packet, new + 12, VLAN_HLEN, 12);
    Ok(())
}

fn vlan_push(packet: &mut Packet, proto: u16, tci: u16) -> Result<(), i64> {
    if let Some((old_proto, old_tci)) = packet.skb.vlan {
        if packet.data != packet.mac {
            return Err(EINVAL);
        }
        vlan_insert(packet, old_proto, old_tci)?;
        packet.skb.protocol = old_proto;
        // skb_vlan_push moves the network header back over the tag.
        packet.network -= VLAN_HLEN;
    }
    packet.skb.vlan = Some((proto, tci));
    Ok(())
}

/// `bpf_skb_vlan_push(skb, vlan_proto, vlan_tci)`.
pub(crate) fn skb_vlan_push(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let packet = skb(ctx)?;
    let mut proto = u16::from_be(a[1] as u16);
    if !is_vlan(proto) {
        proto = ETH_P_8021Q;
    }
    let result = vlan_push(packet, proto, a[2] as u16);
    commit(ctx)?;
    Ok(errno_or_zero(result))
}

/// `__skb_vlan_pop`: removes the tag after the MAC addresses; returns its TCI.
fn vlan_remove(packet: &mut Packet) -> Result<u16, i64> {
    if packet.data != packet.mac {
        return Err(EINVAL);
    }
    if packet.len() < ETH_HLEN + VLAN_HLEN {
        return Err(ENOMEM);
    }
    let data = packet.data;
    let frame = packet.frame();
    let tci = u16::from_be_bytes([frame[data + 14], frame[data + 15]]);
    let encapsulated = u16::from_be_bytes([frame[data + 16], frame[data + 17]]);
    postpull_rcsum(packet, data + 12, VLAN_HLEN, 12);
    if !packet.move_bytes(data..data + 12, data + VLAN_HLEN) {
        return Err(ENOMEM);
    }
    packet.data += VLAN_HLEN;
    packet.meta = packet.data;
    packet.mac += VLAN_HLEN;
    let payload = packet
        .frame()
        .get(packet.data + ETH_HLEN..packet.end)
        .unwrap_or_default();
    packet.skb.protocol = ethertype_protocol(encapsulated, payload);
    if packet.network < packet.data + ETH_HLEN {
        packet.network = packet.data + ETH_HLEN;
    }
    Ok(tci)
}

fn vlan_pop(packet: &mut Packet) -> Result<(), i64> {
    if packet.skb.vlan.is_some() {
        packet.skb.vlan = None;
    } else if !is_vlan(packet.skb.protocol) {
        return Ok(());
    } else {
        vlan_remove(packet)?;
    }
    // The next tag in the packet becomes the out-of-band tag.
    if !is_vlan(packet.skb.protocol) {
        return Ok(());
    }
    let proto = packet.skb.protocol;
    let tci = vlan_remove(packet)?;
    packet.skb.vlan = Some((proto, tci));
    Ok(())
}

/// `bpf_skb_vlan_pop(skb)`.
pub(crate) fn skb_vlan_pop(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    edit(ctx, vlan_pop)
}

/// `bpf_skb_generic_push` + header moves: `len` zero bytes inserted `off`
/// bytes after `data`, the MAC and network headers moving with the bytes
/// in front of them.
fn insert_room(packet: &mut Packet, off: usize, len: usize) -> Result<(), i64> {
    if !packet.ensure_headroom(len) {
        return Err(ENOMEM);
    }
    let data = packet.data;
    let new = data - len;
    // Like the kernel's memmove, `off` may reach past the packet's end
    // into the tailroom; only the frame bounds it.
    if !packet.move_bytes(data..data + off, new) {
        return Err(ENOMEM);
    }
    if let Some(gap) = packet.frame_mut().get_mut(new + off..new + off + len) {
        gap.fill(0);
    }
    packet.data = new;
    packet.meta = new;
    packet.mac -= len;
    packet.network -= len;
    Ok(())
}

/// `bpf_skb_generic_pop` + header moves: removes `len` bytes `off` bytes
/// after `data`.
fn remove_room(packet: &mut Packet, off: usize, len: usize) -> Result<(), i64> {
    if off + len > packet.len() {
        return Err(ENOMEM);
    }
    let data = packet.data;
    postpull_rcsum(packet, data + off, len, off);
    if !packet.move_bytes(data..data + off, data + len) {
        return Err(ENOMEM);
    }
    packet.data += len;
    packet.meta = packet.data;
    packet.mac += len;
    packet.network += len;
    Ok(())
}

/// `skb_mac_header_len`: bytes from the MAC header to the network header.
fn mac_header_len(packet: &Packet) -> usize {
    packet.network.saturating_sub(packet.mac)
}

/// `sizeof(struct ipv6hdr) - sizeof(struct iphdr)`.
const IP6_IP4_DIFF: usize = 20;

fn change_proto(packet: &mut Packet, proto: u16, flags: u64) -> Result<(), i64> {
    if flags != 0 {
        return Err(EINVAL);
    }
    let off = mac_header_len(packet);
    match (packet.skb.protocol, proto) {
        (ETH_P_IP, ETH_P_IPV6) => insert_room(packet, off, IP6_IP4_DIFF)?,
        (ETH_P_IPV6, ETH_P_IP) => remove_room(packet, off, IP6_IP4_DIFF)?,
        _ => return Err(ENOTSUPP),
    }
    packet.skb.protocol = proto;
    packet.skb.hash = 0;
    packet.skb.hash_valid = false;
    Ok(())
}

/// `bpf_skb_change_proto(skb, proto, flags)`: IPv4 <-> IPv6 room only;
/// the program rewrites the headers.
pub(crate) fn skb_change_proto(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    edit(ctx, |packet| {
        change_proto(packet, u16::from_be(a[1] as u16), a[2])
    })
}

const BPF_ADJ_ROOM_NET: u32 = 0;
const BPF_ADJ_ROOM_MAC: u32 = 1;
const BPF_F_ADJ_ROOM_FIXED_GSO: u64 = 1;
const BPF_F_ADJ_ROOM_ENCAP_L3_MASK: u64 = 2 | 4;
const BPF_F_ADJ_ROOM_ENCAP_L4_MASK: u64 = 8 | 16;
const BPF_F_ADJ_ROOM_NO_CSUM_RESET: u64 = 32;
const BPF_F_ADJ_ROOM_ENCAP_L2_ETH: u64 = 64;
const BPF_F_ADJ_ROOM_DECAP_L3_MASK: u64 = 128 | 256;
const BPF_F_ADJ_ROOM_ENCAP_L2_MASK: u64 = 0xff << 56;
const BPF_F_ADJ_ROOM_MASK: u64 = BPF_F_ADJ_ROOM_FIXED_GSO
    | BPF_F_ADJ_ROOM_ENCAP_L3_MASK
    | BPF_F_ADJ_ROOM_ENCAP_L4_MASK
    | BPF_F_ADJ_ROOM_ENCAP_L2_ETH
    | BPF_F_ADJ_ROOM_ENCAP_L2_MASK
    | BPF_F_ADJ_ROOM_DECAP_L3_MASK;

/// `bpf_skb_net_base_len`: the fixed IP header's size.
fn net_base_len(protocol: u16) -> usize {
    match protocol {
        ETH_P_IP => 20,
        ETH_P_IPV6 => 40,
        _ => 0,
    }
}

fn adjust_room(packet: &mut Packet, len_diff: i32, mode: u32, flags: u64) -> Result<(), i64> {
    if flags & !(BPF_F_ADJ_ROOM_MASK | BPF_F_ADJ_ROOM_NO_CSUM_RESET) != 0 {
        return Err(EINVAL);
    }
    let diff = len_diff.unsigned_abs() as usize;
    let shrink = len_diff < 0;
    if diff > 0xfff {
        return Err(EFAULT);
    }
    let protocol = packet.skb.protocol;
    if protocol != ETH_P_IP && protocol != ETH_P_IPV6 {
        return Err(ENOTSUPP);
    }
    let mut len_min = net_base_len(protocol);
    let off = match mode {
        BPF_ADJ_ROOM_NET => mac_header_len(packet) + len_min,
        BPF_ADJ_ROOM_MAC => mac_header_len(packet),
        _ => return Err(ENOTSUPP),
    };
    let decap = flags & BPF_F_ADJ_ROOM_DECAP_L3_MASK;
    if decap != 0 {
        if !shrink {
            return Err(EINVAL);
        }
        len_min = match decap {
            128 => 20,
            256 => 40,
            _ => return Err(EINVAL),
        };
    }
    let network_offset = packet.network.saturating_sub(packet.data);
    let len_cur = packet.len().saturating_sub(network_offset);
    let gso = packet.skb.gso_size != 0;
    if (shrink && (diff >= len_cur || len_cur - diff < len_min))
        || (!shrink && packet.len() + diff > BPF_SKB_MAX_LEN && !gso)
    {
        return Err(ENOTSUPP);
    }
    // Encapsulation and decapsulation also rewrite the skb's inner-header
    // and GSO bookkeeping, which Apiary does not model.
    let encap = BPF_F_ADJ_ROOM_ENCAP_L3_MASK
        | BPF_F_ADJ_ROOM_ENCAP_L4_MASK
        | BPF_F_ADJ_ROOM_ENCAP_L2_ETH
        | BPF_F_ADJ_ROOM_ENCAP_L2_MASK;
    if flags & (encap | BPF_F_ADJ_ROOM_DECAP_L3_MASK) != 0 {
        return Err(ENOTSUPP);
    }
    if shrink {
        remove_room(packet, off, diff)?;
    } else {
        insert_room(packet, off, diff)?;
    }
    if flags & BPF_F_ADJ_ROOM_NO_CSUM_RESET == 0
        && let IpSummed::Unnecessary(_) = packet.skb.ip_summed
    {
        packet.skb.ip_summed = IpSummed::None;
    }
    Ok(())
}

/// `bpf_skb_adjust_room(skb, len_diff, mode, flags)`.
pub(crate) fn skb_adjust_room(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    edit(ctx, |packet| {
        adjust_room(packet, a[1] as i32, a[2] as u32, a[3])
    })
}

fn change_tail(packet: &mut Packet, new_len: usize, flags: u64) -> Result<(), i64> {
    // __bpf_skb_min_len: the headers in front of the network header stay.
    let min_len = packet.network.saturating_sub(packet.data);
    if flags != 0 || new_len > BPF_SKB_MAX_LEN || new_len < min_len {
        return Err(EINVAL);
    }
    if packet.skb.encapsulation {
        return Err(ENOTSUPP);
    }
    // __skb_trim_rcsum / __skb_grow_rcsum give up on a complete checksum.
    if packet.skb.ip_summed == IpSummed::Complete {
        packet.skb.ip_summed = IpSummed::None;
    }
    if packet.data + new_len > packet.capacity() {
        return Err(ENOMEM);
    }
    // Grown bytes read as zeros, even where an earlier trim cut bytes off
    // (measured: the kernel does not uncover them).
    let (end, new_end) = (packet.end, packet.data + new_len);
    if new_end > end
        && let Some(grown) = packet.frame_mut().get_mut(end..new_end)
    {
        grown.fill(0);
    }
    packet.end = new_end;
    if packet.skb.gso_size != 0 {
        packet.skb.gso_size = 0;
        let image = packet.ctx_mut();
        for off in [skb_off::GSO_SIZE, skb_off::GSO_SEGS] {
            if let Some(field) = image.get_mut(off..off + 4) {
                field.fill(0);
            }
        }
    }
    Ok(())
}

/// `bpf_skb_change_tail(skb, len, flags)`.
pub(crate) fn skb_change_tail(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    edit(ctx, |packet| {
        change_tail(packet, a[1] as u32 as usize, a[2])
    })
}

fn change_head(packet: &mut Packet, head_room: usize, flags: u64) -> Result<(), i64> {
    if flags != 0 || packet.len() + head_room > BPF_SKB_MAX_LEN {
        return Err(EINVAL);
    }
    if !packet.ensure_headroom(head_room) {
        return Err(ENOMEM);
    }
    let new = packet.data - head_room;
    if let Some(room) = packet.frame_mut().get_mut(new..new + head_room) {
        room.fill(0);
    }
    packet.data = new;
    packet.meta = new;
    packet.mac = new;
    Ok(())
}

/// `bpf_skb_change_head(skb, len, flags)`: zeroed room in front of the
/// packet, which becomes the MAC header.
pub(crate) fn skb_change_head(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    edit(ctx, |packet| {
        change_head(packet, a[1] as u32 as usize, a[2])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1624's example: a header checksum of 0xdd2f with a 16-bit field
    /// changing from 0x5555 to 0x3285 becomes 0x0000 (eqn. 3), here in the
    /// byte-swapped form a little-endian load gives.
    #[test]
    fn checksum_replacement_follows_rfc_1624() {
        let swap = u16::swap_bytes;
        let new = csum_replace2(swap(0xdd2f), swap(0x5555), swap(0x3285));
        assert_eq!(swap(new), 0x0000);
        let wide = csum_replace4(
            swap(0xdd2f),
            u32::from(swap(0x5555)),
            u32::from(swap(0x3285)),
        );
        assert_eq!(swap(wide), 0x0000);
    }
}
