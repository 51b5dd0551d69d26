//! The packet a networking program runs on: one frame buffer holding
//! headroom, the packet and tailroom, the `data_meta`/`data`/`data_end`
//! offsets into it, the socket buffer state the kernel keeps beside the
//! bytes (`protocol`, `pkt_type`, the VLAN tag, the hash, header offsets),
//! and the internal context (`__sk_buff` or `xdp_md` image followed by
//! host pointers, as `apiary-context` lays it out).
//!
//! The frame and the context are each one writable VM region for the whole
//! run, so moving `data` or `data_end` never makes an address dangle: the
//! packet only moves inside its frame. Growing past the frame fails with
//! `-ENOMEM`, as a failed reallocation would in the kernel.

use std::ptr::NonNull;

use apiary_context::{
    SKB_DATA, SKB_DATA_END, SKB_DATA_META, SKB_INTERNAL_SIZE, XDP_DATA, XDP_DATA_END,
    XDP_DATA_META, XDP_INTERNAL_SIZE,
};
use apiary_vm::{PacketHeaders, Region, RegionKind};

use crate::csum::IpSummed;
use crate::tunnel::TunnelInfo;

/// `ETH_HLEN`.
pub(crate) const ETH_HLEN: usize = 14;
/// `VLAN_HLEN`.
pub(crate) const VLAN_HLEN: usize = 4;
/// `ETH_P_IP`.
pub(crate) const ETH_P_IP: u16 = 0x0800;
/// `ETH_P_IPV6`.
pub(crate) const ETH_P_IPV6: u16 = 0x86dd;
/// `ETH_P_8021Q`.
pub(crate) const ETH_P_8021Q: u16 = 0x8100;
/// `ETH_P_8021AD`.
pub(crate) const ETH_P_8021AD: u16 = 0x88a8;
/// `ETH_P_802_3`: raw 802.3 frames (Novell's `0xffff` payload start).
const ETH_P_802_3: u16 = 0x0001;
/// `ETH_P_802_2`: 802.2 LLC frames.
const ETH_P_802_2: u16 = 0x0004;
/// `ETH_P_802_3_MIN`: ethertypes below it are 802.3 lengths.
const ETH_P_802_3_MIN: u16 = 0x0600;

/// `XDP_PACKET_HEADROOM`.
pub(crate) const XDP_PACKET_HEADROOM: usize = 256;
/// The XDP frame: one page (`rxq->frag_size = PAGE_SIZE` in test-run).
pub(crate) const XDP_FRAME_SIZE: usize = 4096;
/// `SKB_DATA_ALIGN(sizeof(struct skb_shared_info))` on x86-64: the end of
/// an XDP frame reserved for the shared info, which `data_end` may not enter.
pub(crate) const SHARED_INFO_SIZE: usize = 320;
/// The size of an XDP fragment's page (`rxq->frag_size` in test-run).
pub(crate) const XDP_FRAG_SIZE: usize = 4096;
/// `MAX_SKB_FRAGS`.
pub(crate) const MAX_SKB_FRAGS: usize = 17;
/// `sizeof(struct xdp_frame)`: the start of an XDP frame that
/// `bpf_xdp_adjust_head`/`_meta` may not move into.
pub(crate) const XDP_FRAME_HEADER: usize = 40;
/// `NET_SKB_PAD + NET_IP_ALIGN` on x86-64: the headroom test-run gives an skb.
const SKB_HEADROOM: usize = 64;
/// `BPF_SKB_MAX_LEN` (`SKB_MAX_ALLOC`): the longest packet the skb helpers make.
pub(crate) const BPF_SKB_MAX_LEN: usize = 16064;
/// Extra head space beyond the kernel's headroom, standing in for the
/// reallocations (`skb_cow_head`) the kernel does when a helper pushes
/// headers: pushes fail with `-ENOMEM` only when this is used up.
const SKB_EXTRA_HEAD: usize = 4096;
/// Extra tail space beyond `BPF_SKB_MAX_LEN` for pushes that the kernel
/// does not bound by it (VLAN tag insertion).
const SKB_EXTRA_TAIL: usize = 4096;

/// Offsets of the `__sk_buff` image fields the runtime maintains, from
/// the layout `apiary-context` checks programs against.
pub(crate) mod skb_off {
    use apiary_context::uapi::sk_buff as layout;

    pub(crate) const LEN: usize = layout::LEN.off as usize;
    pub(crate) const PKT_TYPE: usize = layout::PKT_TYPE.off as usize;
    pub(crate) const PROTOCOL: usize = layout::PROTOCOL.off as usize;
    pub(crate) const VLAN_PRESENT: usize = layout::VLAN_PRESENT.off as usize;
    pub(crate) const VLAN_TCI: usize = layout::VLAN_TCI.off as usize;
    pub(crate) const VLAN_PROTO: usize = layout::VLAN_PROTO.off as usize;
    pub(crate) const IFINDEX: usize = layout::IFINDEX.off as usize;
    pub(crate) const HASH: usize = layout::HASH.off as usize;
    pub(crate) const FAMILY: usize = layout::FAMILY.off as usize;
    pub(crate) const REMOTE_IP4: usize = layout::REMOTE_IP4.off as usize;
    pub(crate) const LOCAL_IP4: usize = layout::LOCAL_IP4.off as usize;
    pub(crate) const REMOTE_IP6: usize = layout::REMOTE_IP6.off as usize;
    pub(crate) const LOCAL_IP6: usize = layout::LOCAL_IP6.off as usize;
    pub(crate) const TSTAMP: usize = layout::TSTAMP.off as usize;
    pub(crate) const WIRE_LEN: usize = layout::WIRE_LEN.off as usize;
    pub(crate) const GSO_SEGS: usize = layout::GSO_SEGS.off as usize;
    pub(crate) const GSO_SIZE: usize = layout::GSO_SIZE.off as usize;
    pub(crate) const TSTAMP_TYPE: usize = layout::TSTAMP_TYPE.off as usize;
    /// `sizeof(struct __sk_buff)`.
    pub(crate) const SIZE: usize = layout::STRUCT.size as usize;
}

/// Offsets of the `xdp_md` image fields, from the same layouts.
pub(crate) mod xdp_off {
    use apiary_context::uapi::xdp_md as layout;

    pub(crate) const DATA: usize = layout::DATA.off as usize;
    pub(crate) const DATA_END: usize = layout::DATA_END.off as usize;
    pub(crate) const DATA_META: usize = layout::DATA_META.off as usize;
    pub(crate) const INGRESS_IFINDEX: usize = layout::INGRESS_IFINDEX.off as usize;
    pub(crate) const RX_QUEUE_INDEX: usize = layout::RX_QUEUE_INDEX.off as usize;
    pub(crate) const EGRESS_IFINDEX: usize = layout::EGRESS_IFINDEX.off as usize;
    /// `sizeof(struct xdp_md)`.
    pub(crate) const SIZE: usize = layout::STRUCT.size as usize;
}

/// Zeroed heap bytes that the interpreter reaches through raw addresses
/// while the runtime edits them between instructions (inside helpers).
/// Owning them through a raw pointer (instead of a `Box` the runtime
/// reborrows) keeps the interpreter's accesses and the helpers' edits on
/// the same provenance.
pub(crate) struct HostBuf {
    ptr: NonNull<[u8]>,
}

// SAFETY: the buffer is uniquely owned, like the Box it came from.
unsafe impl Send for HostBuf {}

impl HostBuf {
    pub(crate) fn zeroed(len: usize) -> HostBuf {
        let boxed: Box<[u8]> = vec![0u8; len].into_boxed_slice();
        HostBuf {
            ptr: NonNull::from(Box::leak(boxed)),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the pointer came from a live Box this value owns; no guest
        // code runs while a Rust borrow of it is alive (helpers run between
        // instructions, and the runtime borrows it only outside runs).
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` makes this borrow unique.
        unsafe { self.ptr.as_mut() }
    }

    /// The whole buffer as a VM region.
    pub(crate) fn region(&self, writable: bool) -> Region<'static> {
        // SAFETY: the buffer lives until this value drops, which happens
        // after the run that receives the region (the Env owning it outlives
        // `Runner::run`), and the runtime touches it only between instructions.
        unsafe { Region::from_raw(self.ptr.as_ptr().cast::<u8>(), self.ptr.len(), writable) }
    }

    fn addr(&self) -> u64 {
        self.ptr.as_ptr().cast::<u8>().expose_provenance() as u64
    }
}

impl Drop for HostBuf {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::leak` in `zeroed` and is dropped once.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

/// Which kind of packet, and for skbs whether the program sees the MAC header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PacketKind {
    /// `struct xdp_buff`.
    Xdp,
    /// `struct sk_buff`; `l2` when `data` starts at the MAC header (tc),
    /// not at the network header (socket filters, cgroup_skb, lwt).
    Skb { l2: bool },
}

/// What the kernel keeps in the `sk_buff` beside the bytes.
#[derive(Debug, Clone, Default)]
pub(crate) struct SkbState {
    /// `skb->protocol`, as a host number (`0x0800` for IPv4).
    pub(crate) protocol: u16,
    /// `skb->pkt_type` (`PACKET_HOST` ...).
    pub(crate) pkt_type: u32,
    /// The out-of-band VLAN tag: `(vlan_proto, vlan_tci)`, host numbers.
    pub(crate) vlan: Option<(u16, u16)>,
    /// `skb->hash`, 0 when unset.
    pub(crate) hash: u32,
    /// `skb->sw_hash`/`l4_hash`: the hash was set and is not recomputed.
    pub(crate) hash_valid: bool,
    /// `skb_shinfo(skb)->gso_size` (non-zero: a GSO packet).
    pub(crate) gso_size: u32,
    /// `skb->encapsulation`.
    pub(crate) encapsulation: bool,
    /// `skb->ip_summed` (test-run skbs start as `CHECKSUM_NONE`).
    pub(crate) ip_summed: IpSummed,
    /// `skb->csum`: the data's partial sum under `CHECKSUM_COMPLETE`.
    pub(crate) csum: u32,
    /// Tunnel metadata `bpf_skb_set_tunnel_key` attached.
    pub(crate) tunnel: Option<TunnelInfo>,
}

/// A packet in its frame, with its internal context.
pub(crate) struct Packet {
    pub(crate) kind: PacketKind,
    frame: HostBuf,
    ctx: HostBuf,
    /// `data_meta`, `data`, `data_end`: offsets into the frame.
    pub(crate) meta: usize,
    pub(crate) data: usize,
    pub(crate) end: usize,
    /// skb: offsets of the MAC and network headers in the frame.
    pub(crate) mac: usize,
    pub(crate) network: usize,
    pub(crate) skb: SkbState,
    /// XDP: the fragments of a multi-buffer frame after the linear part,
    /// each at most one page (`skb_shared_info.frags`).
    pub(crate) frags: Vec<Vec<u8>>,
    /// The lowest frame offset the packet (with its metadata and headers)
    /// reached since the frame was last filled: below it, no run wrote
    /// through the packet, so the next fill need not clear it.
    shown_from: usize,
    /// skb: the highest `data_end` since the frame was last filled, the
    /// other end of what the next fill clears.
    shown_to: usize,
}

impl std::fmt::Debug for Packet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packet")
            .field("kind", &self.kind)
            .field("meta", &self.meta)
            .field("data", &self.data)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

fn put_u32(bytes: &mut [u8], off: usize, value: u32) {
    if let Some(dst) = bytes.get_mut(off..off + 4) {
        dst.copy_from_slice(&value.to_ne_bytes());
    }
}

fn put_u64(bytes: &mut [u8], off: usize, value: u64) {
    if let Some(dst) = bytes.get_mut(off..off + 8) {
        dst.copy_from_slice(&value.to_ne_bytes());
    }
}

pub(crate) fn get_u32(bytes: &[u8], off: usize) -> u32 {
    bytes
        .get(off..off + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

/// A `__be16` as the kernel stores it in a `__u32` context field: the
/// network-order bytes, zero-extended.
fn be16_field(value: u16) -> u32 {
    u32::from(u16::from_ne_bytes(value.to_be_bytes()))
}

/// `eth_type_trans`'s protocol of a frame whose Ethernet header is `eth`
/// and whose payload starts with `payload`.
pub(crate) fn ethertype_protocol(ethertype: u16, payload: &[u8]) -> u16 {
    if ethertype >= ETH_P_802_3_MIN {
        ethertype
    } else if payload.get(..2) == Some(&[0xff, 0xff]) {
        ETH_P_802_3
    } else {
        ETH_P_802_2
    }
}

/// `PACKET_HOST`, `PACKET_MULTICAST`, `PACKET_OTHERHOST`.
pub(crate) const PACKET_HOST: u32 = 0;
const PACKET_MULTICAST: u32 = 2;
pub(crate) const PACKET_OTHERHOST: u32 = 3;

/// `eth_type_trans`'s `pkt_type` on the loopback device, whose address
/// and broadcast address are both all zeros: a group address (even
/// ff:ff:ff:ff:ff:ff, which is not the loopback's broadcast address) is
/// `PACKET_MULTICAST`, another unicast address `PACKET_OTHERHOST`.
fn pkt_type_of(dest: &[u8]) -> u32 {
    if dest.first().is_some_and(|b| b & 1 != 0) {
        PACKET_MULTICAST
    } else if dest.iter().any(|b| *b != 0) {
        PACKET_OTHERHOST
    } else {
        PACKET_HOST
    }
}

/// Where an XDP frame starts its packet and metadata.
#[derive(Debug, Clone, Copy)]
pub(crate) struct XdpSetup {
    /// Bytes of the input that are metadata (`xdp_md.data` of `ctx_in`).
    pub(crate) meta_len: usize,
    /// `ingress_ifindex` the program reads.
    pub(crate) ingress_ifindex: u32,
    /// `rx_queue_index` the program reads.
    pub(crate) rx_queue_index: u32,
}

/// What test-run puts in an skb besides the bytes (`convert___skb_to_skb`).
#[derive(Debug, Clone)]
pub(crate) struct SkbSetup {
    /// The `__sk_buff` given (zeros when none): mark, priority, cb, ...
    pub(crate) image: [u8; skb_off::SIZE],
    /// The device's ifindex (`skb->dev`).
    pub(crate) ifindex: u32,
    /// Whether a context was given (only then is `cb->pkt_len` set).
    pub(crate) has_context: bool,
}

/// The frame of an skb for an `input_len`-byte packet: the kernel's
/// headroom and the extra head space, room for the longest packet the
/// helpers make, and the extra tail space.
fn skb_capacity(input_len: usize) -> usize {
    SKB_EXTRA_HEAD + SKB_HEADROOM + BPF_SKB_MAX_LEN.max(input_len) + SKB_EXTRA_TAIL
}

/// A zeroed packet of `kind` with a frame of `frame` bytes and an
/// internal context of `ctx` bytes, nothing in it yet (shown from and
/// to `shown`), for a refill to fill.
fn blank(kind: PacketKind, frame: usize, ctx: usize, shown: usize) -> Packet {
    Packet {
        kind,
        frame: HostBuf::zeroed(frame),
        ctx: HostBuf::zeroed(ctx),
        meta: 0,
        data: 0,
        end: 0,
        mac: 0,
        network: 0,
        skb: SkbState::default(),
        frags: Vec::new(),
        shown_from: shown,
        shown_to: shown,
    }
}

impl Packet {
    /// An XDP frame holding `input` (metadata first) as test-run builds it:
    /// the first `linear` bytes in the frame, the rest in page-sized
    /// fragments (the caller checked both fit).
    pub(crate) fn xdp(input: &[u8], linear: usize, setup: &XdpSetup) -> Packet {
        let mut packet = blank(
            PacketKind::Xdp,
            XDP_FRAME_SIZE,
            XDP_INTERNAL_SIZE as usize,
            XDP_PACKET_HEADROOM,
        );
        packet.refill_xdp(input, linear, setup);
        packet
    }

    /// Puts `input` into this XDP frame's buffers as [`Packet::xdp`] does,
    /// for the next frame of a live interface, rewriting only what a run
    /// can have changed (this is the live path's per-frame cost). The
    /// headroom an earlier run exposed (`bpf_xdp_adjust_head`,
    /// `bpf_xdp_adjust_meta`) is cleared, so a program that grows the
    /// head sees zeros as on a first frame; bytes past the new end may
    /// hold an earlier frame's, which no program reaches (growing the tail
    /// zero-fills). The context is not cleared: an XDP program cannot
    /// write `xdp_md` (the context rules refuse it at load),
    /// `egress_ifindex` stays 0 from creation, and [`Packet::sync`]
    /// rewrites the packet's offsets and pointers.
    pub(crate) fn refill_xdp(&mut self, input: &[u8], linear: usize, setup: &XdpSetup) {
        let meta = XDP_PACKET_HEADROOM - setup.meta_len;
        let (head, rest) = input.split_at(linear.min(input.len()));
        let end = meta + head.len();
        let frame = self.frame.bytes_mut();
        // Tested first: an empty fill still calls `memset`.
        if self.shown_from < meta
            && let Some(shown) = frame.get_mut(self.shown_from..meta)
        {
            shown.fill(0);
        }
        if let Some(dst) = frame.get_mut(meta..end) {
            dst.copy_from_slice(head);
        }
        if !self.frags.is_empty() {
            self.frags.clear();
        }
        if !rest.is_empty() {
            self.frags
                .extend(rest.chunks(XDP_FRAG_SIZE).map(<[u8]>::to_vec));
        }
        let image = self.ctx.bytes_mut();
        put_u32(image, xdp_off::INGRESS_IFINDEX, setup.ingress_ifindex);
        put_u32(image, xdp_off::RX_QUEUE_INDEX, setup.rx_queue_index);
        self.shown_from = meta;
        self.meta = meta;
        self.data = XDP_PACKET_HEADROOM;
        self.end = end;
        self.mac = XDP_PACKET_HEADROOM;
        self.network = XDP_PACKET_HEADROOM;
        self.sync();
    }

    /// An skb holding the frame `input` (Ethernet header first) as
    /// `bpf_prog_test_run_skb` builds it: `eth_type_trans` on the device,
    /// `data` at the MAC header when `l2`, else at the network header.
    pub(crate) fn skb(input: &[u8], l2: bool, setup: &SkbSetup) -> Packet {
        let mut packet = blank(
            PacketKind::Skb { l2 },
            skb_capacity(input.len()),
            SKB_INTERNAL_SIZE as usize,
            0,
        );
        packet.refill_skb(input, l2, setup);
        packet
    }

    /// Puts `input` into this skb's buffers as [`Packet::skb`] does, for the
    /// next packet of a replayed capture, without allocating and zeroing a
    /// frame. Of the frame, only the span the packet occupied since the last
    /// fill is cleared: the skb helpers write only inside the packet (they
    /// zero what they grow it by) and a verified program writes only
    /// between `data` and `data_end`, so the rest is still zero (an
    /// unverified program's writes elsewhere in its frame may outlive its
    /// run, as in an XDP frame). The context is rewritten whole: its
    /// `__sk_buff` from the setup, the host pointers after it by
    /// [`Packet::sync`].
    pub(crate) fn refill_skb(&mut self, input: &[u8], l2: bool, setup: &SkbSetup) {
        let capacity = skb_capacity(input.len());
        if self.capacity() != capacity {
            self.frame = HostBuf::zeroed(capacity);
        } else if let Some(shown) = self
            .frame
            .bytes_mut()
            .get_mut(self.shown_from..self.shown_to)
        {
            shown.fill(0);
        }
        let head = SKB_EXTRA_HEAD + SKB_HEADROOM;
        if let Some(dst) = self.frame.bytes_mut().get_mut(head..head + input.len()) {
            dst.copy_from_slice(input);
        }
        let ethertype = input
            .get(12..14)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
        let payload = input.get(ETH_HLEN..).unwrap_or_default();
        self.skb = SkbState {
            protocol: ethertype_protocol(ethertype, payload),
            pkt_type: pkt_type_of(input.get(..6).unwrap_or_default()),
            gso_size: get_u32(&setup.image, skb_off::GSO_SIZE),
            ..SkbState::default()
        };
        let network = head + ETH_HLEN;
        let data = if l2 { head } else { network };
        let image = self.ctx.bytes_mut();
        image[..skb_off::SIZE].copy_from_slice(&setup.image);
        put_u32(image, skb_off::IFINDEX, setup.ifindex);
        // The test socket's addresses (`sk_rcv_saddr`, `sk_daddr`) come from
        // the IP header when one fits.
        match self.skb.protocol {
            ETH_P_IP if payload.len() >= 20 => {
                put_u32(image, skb_off::FAMILY, 2);
                image[skb_off::LOCAL_IP4..skb_off::LOCAL_IP4 + 4].copy_from_slice(&payload[12..16]);
                image[skb_off::REMOTE_IP4..skb_off::REMOTE_IP4 + 4]
                    .copy_from_slice(&payload[16..20]);
            }
            ETH_P_IP => put_u32(image, skb_off::FAMILY, 2),
            ETH_P_IPV6 if payload.len() >= 40 => {
                put_u32(image, skb_off::FAMILY, 10);
                image[skb_off::LOCAL_IP6..skb_off::LOCAL_IP6 + 16].copy_from_slice(&payload[8..24]);
                image[skb_off::REMOTE_IP6..skb_off::REMOTE_IP6 + 16]
                    .copy_from_slice(&payload[24..40]);
            }
            ETH_P_IPV6 => put_u32(image, skb_off::FAMILY, 10),
            _ => {}
        }
        self.kind = PacketKind::Skb { l2 };
        self.meta = data;
        self.data = data;
        self.end = head + input.len();
        self.mac = head;
        self.network = network;
        if !self.frags.is_empty() {
            self.frags.clear();
        }
        self.shown_from = head;
        self.shown_to = self.end;
        // `cb->pkt_len`: the skb's length when test-run converts a given
        // context (without one, the control block stays zero).
        if setup.has_context && get_u32(&setup.image, skb_off::WIRE_LEN) == 0 {
            let len = self.len() as u32;
            put_u32(self.ctx.bytes_mut(), skb_off::WIRE_LEN, len);
        }
        self.sync();
    }

    /// The address of the packet's first byte (`data`).
    pub(crate) fn data_addr(&self) -> u64 {
        self.frame.addr() + self.data as u64
    }

    /// `skb->len` / the XDP packet's length.
    pub(crate) fn len(&self) -> usize {
        self.end - self.data
    }

    /// The frame's bytes.
    pub(crate) fn frame(&self) -> &[u8] {
        self.frame.bytes()
    }

    /// The frame's bytes, to edit.
    pub(crate) fn frame_mut(&mut self) -> &mut [u8] {
        self.frame.bytes_mut()
    }

    /// The packet (`data..data_end`).
    pub(crate) fn bytes(&self) -> &[u8] {
        self.frame
            .bytes()
            .get(self.data..self.end)
            .unwrap_or_default()
    }

    /// The packet, to edit.
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        let (data, end) = (self.data, self.end);
        self.frame
            .bytes_mut()
            .get_mut(data..end)
            .unwrap_or_default()
    }

    /// Bytes from `data_meta` to `data_end`, then the fragments: what
    /// test-run copies out.
    pub(crate) fn meta_and_data(&self) -> Vec<u8> {
        let mut out = self
            .frame
            .bytes()
            .get(self.meta..self.end)
            .unwrap_or_default()
            .to_vec();
        for frag in &self.frags {
            out.extend_from_slice(frag);
        }
        out
    }

    /// `xdp_get_buff_len`: the linear packet and the fragments.
    pub(crate) fn buff_len(&self) -> usize {
        self.len() + self.frags.iter().map(Vec::len).sum::<usize>()
    }

    /// `len` bytes at `offset` from `data`, across the fragments; `None`
    /// past the end.
    pub(crate) fn read_across(&self, offset: usize, len: usize) -> Option<Vec<u8>> {
        if offset.checked_add(len)? > self.buff_len() {
            return None;
        }
        let mut out = Vec::with_capacity(len);
        let mut skip = offset;
        for piece in std::iter::once(self.bytes()).chain(self.frags.iter().map(Vec::as_slice)) {
            let from = skip.min(piece.len());
            skip -= from;
            let want = len - out.len();
            let take = &piece[from..];
            out.extend_from_slice(&take[..want.min(take.len())]);
        }
        Some(out)
    }

    /// Writes `bytes` at `offset` from `data`, across the fragments;
    /// `false` (writing nothing) past the end.
    pub(crate) fn write_across(&mut self, offset: usize, bytes: &[u8]) -> bool {
        if offset.saturating_add(bytes.len()) > self.buff_len() {
            return false;
        }
        let mut skip = offset;
        let mut rest = bytes;
        let (data, end) = (self.data, self.end);
        let linear = self
            .frame
            .bytes_mut()
            .get_mut(data..end)
            .unwrap_or_default();
        for piece in std::iter::once(linear).chain(self.frags.iter_mut().map(Vec::as_mut_slice)) {
            let from = skip.min(piece.len());
            skip -= from;
            let (now, later) = rest.split_at((piece.len() - from).min(rest.len()));
            piece[from..from + now.len()].copy_from_slice(now);
            rest = later;
        }
        true
    }

    /// The internal context's bytes.
    pub(crate) fn ctx(&self) -> &[u8] {
        self.ctx.bytes()
    }

    /// The internal context, to edit.
    pub(crate) fn ctx_mut(&mut self) -> &mut [u8] {
        self.ctx.bytes_mut()
    }

    /// The frame size.
    pub(crate) fn capacity(&self) -> usize {
        self.frame.bytes().len()
    }

    /// Regions the program may access: the internal context, then the frame.
    pub(crate) fn regions(&self) -> [Region<'static>; 2] {
        [
            self.ctx.region(true).with_kind(RegionKind::Context),
            self.frame.region(true).with_kind(RegionKind::PacketBuffer),
        ]
    }

    /// The internal context's address (`r1`).
    pub(crate) fn ctx_addr(&self) -> u64 {
        self.ctx.addr()
    }

    /// The span `LD_ABS`/`LD_IND` read: the skb's `data..data_end`.
    pub(crate) fn ld_abs_region(&self) -> Option<Region<'static>> {
        if self.kind == PacketKind::Xdp {
            return None;
        }
        let addr = self.frame.addr() + self.data as u64;
        // SAFETY: `data..end` lies inside the frame, which lives as long as
        // the run (see `HostBuf::region`).
        Some(unsafe {
            Region::from_raw(
                std::ptr::with_exposed_provenance_mut::<u8>(addr as usize),
                self.len(),
                false,
            )
            .with_kind(RegionKind::Packet)
        })
    }

    /// The headers negative `LD_ABS` offsets read (`SKF_NET_OFF`,
    /// `SKF_LL_OFF`): the skb's network and MAC headers, read within the
    /// frame up to `data_end`.
    pub(crate) fn ld_abs_headers(&self) -> Option<PacketHeaders<'static>> {
        if self.kind == PacketKind::Xdp {
            return None;
        }
        let base = self.frame.addr();
        // SAFETY: `0..end` lies inside the frame, which lives as long as the
        // run (see `HostBuf::region`).
        let bounds = unsafe {
            Region::from_raw(
                std::ptr::with_exposed_provenance_mut::<u8>(base as usize),
                self.end,
                false,
            )
            .with_kind(RegionKind::PacketBuffer)
        };
        Some(PacketHeaders {
            bounds,
            network: base + self.network as u64,
            mac: base + self.mac as u64,
        })
    }

    /// Writes what the kernel computes into the context image and the
    /// host pointers: called after every change to the packet.
    pub(crate) fn sync(&mut self) {
        let base = self.frame.addr();
        let (meta, data, end) = (self.meta, self.data, self.end);
        if let PacketKind::Xdp = self.kind {
            // The live path calls this per frame: nothing of the skb's.
            self.shown_from = self.shown_from.min(meta);
            let image = self.ctx.bytes_mut();
            put_u32(image, xdp_off::DATA, (data - meta) as u32);
            put_u32(image, xdp_off::DATA_END, (end - meta) as u32);
            put_u32(image, xdp_off::DATA_META, 0);
            put_u64(image, XDP_DATA as usize, base + data as u64);
            put_u64(image, XDP_DATA_END as usize, base + end as u64);
            put_u64(image, XDP_DATA_META as usize, base + meta as u64);
            return;
        }
        self.shown_from = self
            .shown_from
            .min(meta.min(data).min(self.mac).min(self.network));
        self.shown_to = self.shown_to.max(end);
        let len = self.len() as u32;
        let skb = &self.skb;
        let image = self.ctx.bytes_mut();
        put_u32(image, skb_off::LEN, len);
        put_u32(image, skb_off::PKT_TYPE, skb.pkt_type);
        put_u32(image, skb_off::PROTOCOL, be16_field(skb.protocol));
        let (proto, tci) = skb.vlan.unwrap_or((0, 0));
        put_u32(image, skb_off::VLAN_PRESENT, u32::from(skb.vlan.is_some()));
        put_u32(image, skb_off::VLAN_TCI, u32::from(tci));
        put_u32(image, skb_off::VLAN_PROTO, be16_field(proto));
        put_u32(image, skb_off::HASH, skb.hash);
        put_u64(image, SKB_DATA as usize, base + data as u64);
        put_u64(image, SKB_DATA_END as usize, base + end as u64);
        put_u64(image, SKB_DATA_META as usize, base + meta as u64);
    }

    /// Copies the frame bytes `src` to `dest` (overlap allowed); `false`,
    /// copying nothing, when either span leaves the frame.
    pub(crate) fn move_bytes(&mut self, src: std::ops::Range<usize>, dest: usize) -> bool {
        let capacity = self.capacity();
        let fits = src.start <= src.end
            && src.end <= capacity
            && dest
                .checked_add(src.len())
                .is_some_and(|end| end <= capacity);
        if fits {
            self.shown_from = self.shown_from.min(src.start).min(dest);
            self.shown_to = self.shown_to.max(dest + src.len());
            self.frame_mut().copy_within(src, dest);
        }
        fits
    }

    /// Makes `len` bytes of room in front of `data` and of the MAC and
    /// network headers (a push moves them all back), moving the whole
    /// packet forward when the headroom is short; `false` when the frame
    /// has no room left (`-ENOMEM`).
    pub(crate) fn ensure_headroom(&mut self, len: usize) -> bool {
        let lowest = self.meta.min(self.mac).min(self.network);
        if lowest >= len {
            return true;
        }
        let shift = len - lowest;
        if self.end + shift > self.capacity() {
            return false;
        }
        let start = lowest;
        let end = self.end;
        if !self.move_bytes(start..end, start + shift) {
            return false;
        }
        self.meta += shift;
        self.data += shift;
        self.end += shift;
        self.mac += shift;
        self.network += shift;
        true
    }
}
