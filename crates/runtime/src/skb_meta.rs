//! Helpers about a packet's metadata rather than its bytes
//! (`net/core/filter.c`): checksum levels, ECN marking, MTU checks,
//! timestamps, classids and the tc redirect variants. Test-run's device
//! is the loopback (MTU 65536, 14-byte hardware header); Apiary knows no
//! other device.

use apiary_vm::HelperError;

use crate::Event;
use crate::packet::{
    ETH_HLEN, ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, Packet, PacketKind, VLAN_HLEN,
    skb_off,
};
use crate::skb_helpers::{commit, packet, skb};

use crate::csum::{IpSummed, csum_add, csum_sub};
use crate::helpers::errno::{EACCES, EINVAL, ENODEV, EOPNOTSUPP};
use crate::helpers::{Ctx, Ret, neg};

/// `SKB_MAX_CSUM_LEVEL`.
const SKB_MAX_CSUM_LEVEL: u8 = 3;
const BPF_CSUM_LEVEL_QUERY: u64 = 0;
const BPF_CSUM_LEVEL_INC: u64 = 1;
const BPF_CSUM_LEVEL_DEC: u64 = 2;
const BPF_CSUM_LEVEL_RESET: u64 = 3;

/// `bpf_csum_level(skb, level)`: the `CHECKSUM_UNNECESSARY` level
/// (test-run skbs start as `CHECKSUM_NONE`).
pub(crate) fn csum_level(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let state = &mut skb(ctx)?.skb;
    let level = match state.ip_summed {
        IpSummed::Unnecessary(level) => Some(level),
        _ => None,
    };
    state.ip_summed = match (a[1], state.ip_summed, level) {
        (BPF_CSUM_LEVEL_QUERY, _, level) => {
            return Ok(level.map_or(neg(EACCES), u64::from));
        }
        (BPF_CSUM_LEVEL_INC, IpSummed::None, _) => IpSummed::Unnecessary(0),
        (BPF_CSUM_LEVEL_INC, _, Some(level)) => {
            IpSummed::Unnecessary((level + 1).min(SKB_MAX_CSUM_LEVEL))
        }
        (BPF_CSUM_LEVEL_DEC, _, Some(0)) | (BPF_CSUM_LEVEL_RESET, _, Some(_)) => IpSummed::None,
        (BPF_CSUM_LEVEL_DEC, _, Some(level)) => IpSummed::Unnecessary(level - 1),
        (BPF_CSUM_LEVEL_INC | BPF_CSUM_LEVEL_DEC | BPF_CSUM_LEVEL_RESET, summed, _) => summed,
        _ => return Ok(neg(EINVAL)),
    };
    Ok(0)
}

/// `INET_ECN_CE` in the TOS / traffic class.
const INET_ECN_CE: u8 = 3;

/// `bpf_skb_ecn_set_ce(skb)`: marks an ECN-capable IP packet Congestion
/// Experienced, fixing the IPv4 header checksum; 1 when marked.
pub(crate) fn skb_ecn_set_ce(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    let packet = skb(ctx)?;
    let protocol = protocol_past_vlans(packet);
    let (network, end) = (packet.network, packet.end);
    let frame = packet.frame_mut();
    let marked = match protocol {
        ETH_P_IP if network + 20 <= end => {
            let tos = frame[network + 1];
            let ecn = (tos.wrapping_add(1)) & INET_ECN_CE;
            if ecn & 2 == 0 {
                u64::from(ecn == 0)
            } else {
                // IP_ECN_set_ce: the checksum changes by the TOS change.
                let check = u16::from_be_bytes([frame[network + 10], frame[network + 11]]);
                let add = 0xfffbu16.wrapping_add(u16::from(ecn));
                let sum = check.wrapping_add(add);
                let sum = sum.wrapping_add(u16::from(sum < add));
                frame[network + 10..network + 12].copy_from_slice(&sum.to_be_bytes());
                frame[network + 1] = tos | INET_ECN_CE;
                1
            }
        }
        ETH_P_IPV6 if network + 40 <= end => {
            let dsfield = (frame[network] << 4) | (frame[network + 1] >> 4);
            if dsfield & INET_ECN_CE == 0 {
                0
            } else {
                let word = |f: &[u8]| {
                    u32::from_ne_bytes([f[network], f[network + 1], f[network + 2], f[network + 3]])
                };
                let from = word(frame);
                frame[network + 1] |= INET_ECN_CE << 4;
                let to = word(frame);
                if packet.skb.ip_summed == IpSummed::Complete {
                    packet.skb.csum = csum_add(csum_sub(packet.skb.csum, from), to);
                }
                1
            }
        }
        _ => 0,
    };
    commit(ctx)?;
    Ok(marked)
}

/// `VLAN_MAX_DEPTH`: how many in-packet tags `vlan_get_protocol` walks.
const VLAN_MAX_DEPTH: usize = 8;

/// `skb_protocol(skb, true)`: the protocol under the VLAN tags in the
/// packet (read from `data + 14` on, as the kernel reads them), 0 when
/// they run past the packet or too deep.
fn protocol_past_vlans(packet: &Packet) -> u16 {
    let mut protocol = packet.skb.protocol;
    let mut depth = ETH_HLEN;
    let mut budget = VLAN_MAX_DEPTH;
    while protocol == ETH_P_8021Q || protocol == ETH_P_8021AD {
        budget -= 1;
        let header = packet.bytes().get(depth..depth + VLAN_HLEN);
        let (Some(header), true) = (header, budget > 0) else {
            return 0;
        };
        protocol = u16::from_be_bytes([header[2], header[3]]);
        depth += VLAN_HLEN;
    }
    protocol
}

/// `bpf_get_cgroup_classid(skb)`: the net_cls classid of the running task,
/// 0 outside a net_cls cgroup (Apiary has none).
pub(crate) fn get_cgroup_classid(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    skb(ctx)?;
    Ok(0)
}

/// `bpf_get_route_realm(skb)`: the routing realm of the skb's route;
/// test-run skbs have no route.
pub(crate) fn get_route_realm(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    skb(ctx)?;
    Ok(0)
}

/// The loopback device's MTU.
const LOOPBACK_MTU: u32 = 65536;
const BPF_MTU_CHK_SEGS: u64 = 1;
const BPF_MTU_CHK_RET_SUCCESS: u64 = 0;
const BPF_MTU_CHK_RET_FRAG_NEEDED: u64 = 1;

/// `bpf_check_mtu(ctx, ifindex, &mtu_len, len_diff, flags)` for skb and
/// xdp contexts on the loopback device (ifindex 0 is the packet's own).
pub(crate) fn check_mtu(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (ifindex, len_diff, flags) = (a[1] as u32, i64::from(a[3] as i32), a[4]);
    let given = ctx.read(a[2], 4)?;
    let mtu_len = u32::from_ne_bytes([given[0], given[1], given[2], given[3]]);
    let packet = packet(ctx)?;
    let xdp = packet.kind == PacketKind::Xdp;
    if (xdp && flags != 0) || (!xdp && flags & !BPF_MTU_CHK_SEGS != 0) {
        return Ok(neg(EINVAL));
    }
    if flags & BPF_MTU_CHK_SEGS != 0 && (len_diff != 0 || mtu_len != 0) {
        return Ok(neg(EINVAL));
    }
    if ifindex > 1 {
        return Ok(neg(ENODEV));
    }
    let header = ETH_HLEN as i64;
    let dev_len = i64::from(LOOPBACK_MTU) + header;
    let packet_len = packet.len() as i64;
    let checked = if mtu_len != 0 {
        i64::from(mtu_len) + header
    } else {
        packet_len
    } + len_diff;
    let gso = !xdp && packet.skb.gso_size != 0;
    let mut result = if checked <= dev_len || gso {
        BPF_MTU_CHK_RET_SUCCESS
    } else {
        BPF_MTU_CHK_RET_FRAG_NEEDED
    };
    // The XDP variant also refuses a frame that is itself too long.
    if xdp && packet_len > dev_len {
        result = BPF_MTU_CHK_RET_FRAG_NEEDED;
    }
    ctx.write(a[2], &LOOPBACK_MTU.to_ne_bytes())?;
    Ok(result)
}

/// The kernel's internal redirect flags (`ri->flags`) for the tc variants.
pub(crate) const BPF_F_NEIGH: u64 = 1 << 16;
pub(crate) const BPF_F_PEER: u64 = 1 << 17;
pub(crate) const BPF_F_NEXTHOP: u64 = 1 << 18;
const TC_ACT_SHOT: u64 = 2;
const TC_ACT_REDIRECT: u64 = 7;
/// `sizeof(struct bpf_redir_neigh)`.
const REDIR_NEIGH_SIZE: u64 = 20;

/// `bpf_redirect_neigh(ifindex, params, plen, flags)`: reported as an
/// [`Event::Redirect`] whose flags are the kernel's internal
/// `BPF_F_NEIGH` (and `BPF_F_NEXTHOP` with params).
pub(crate) fn redirect_neigh(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (ifindex, plen, flags) = (a[0] as u32, u64::from(a[2] as u32), a[3]);
    if (plen != 0 && plen < REDIR_NEIGH_SIZE) || flags != 0 {
        return Ok(TC_ACT_SHOT);
    }
    let kind = BPF_F_NEIGH | if plen != 0 { BPF_F_NEXTHOP } else { 0 };
    ctx.env().record(Event::Redirect {
        ifindex,
        flags: kind,
    });
    Ok(TC_ACT_REDIRECT)
}

/// `bpf_redirect_peer(ifindex, flags)`: reported as an
/// [`Event::Redirect`] with the kernel's internal `BPF_F_PEER` flag.
pub(crate) fn redirect_peer(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    if a[1] != 0 {
        return Ok(TC_ACT_SHOT);
    }
    ctx.env().record(Event::Redirect {
        ifindex: a[0] as u32,
        flags: BPF_F_PEER,
    });
    Ok(TC_ACT_REDIRECT)
}

/// `BPF_SKB_CLOCK_REALTIME`, `_MONOTONIC`, `_TAI`.
const BPF_SKB_CLOCK_TAI: u64 = 2;

/// `bpf_skb_set_tstamp(skb, tstamp, tstamp_type)`.
pub(crate) fn skb_set_tstamp(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (tstamp, clock) = (a[1], u64::from(a[2] as u32));
    let packet = skb(ctx)?;
    if packet.skb.protocol != ETH_P_IP && packet.skb.protocol != ETH_P_IPV6 {
        return Ok(neg(EOPNOTSUPP));
    }
    if clock > BPF_SKB_CLOCK_TAI || (clock != 0 && tstamp == 0) {
        return Ok(neg(EINVAL));
    }
    let image = packet.ctx_mut();
    image[skb_off::TSTAMP..skb_off::TSTAMP + 8].copy_from_slice(&tstamp.to_ne_bytes());
    image[skb_off::TSTAMP_TYPE] = clock as u8;
    Ok(0)
}

/// `bpf_get_socket_uid(skb)`: test-run's skb carries a socket made by
/// `sock_init_data` without a file, whose owner is uid 0.
pub(crate) fn get_socket_uid(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    skb(ctx)?;
    Ok(0)
}

/// `bpf_sk_lookup_tcp`, `bpf_sk_lookup_udp`, `bpf_skc_lookup_tcp`: Apiary
/// has no sockets, so no lookup finds one (NULL), which is also the
/// kernel's answer for a bad tuple size or flags.
pub(crate) fn sk_lookup(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    ctx.read(a[1], a[2] as u32 as usize)?;
    packet(ctx)?;
    Ok(0)
}

/// The error of a helper given the socket pointer `sock`: an Apiary run
/// hands out none (lookups find nothing, the contexts' `sk` fields are
/// NULL), so a program that passes one made it up.
pub(crate) fn unknown_socket(helper: &str, sock: u64) -> HelperError {
    HelperError::Other(format!(
        "bpf_{helper} of {sock:#x}, which is no socket this run handed out"
    ))
}

/// `bpf_sk_release(sock)`: lookups never return a socket, so there is
/// never one to release.
pub(crate) fn sk_release(_: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    Err(unknown_socket("sk_release", a[0]))
}

/// `bpf_sk_fullsock(sk)`, `bpf_tcp_sock(sk)`, `bpf_get_listener_sock(sk)`:
/// the socket seen as another type; never reached with a socket Apiary
/// has (see [`unknown_socket`]).
pub(crate) fn sk_fullsock(_: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    Err(unknown_socket("sk_fullsock", a[0]))
}

/// See [`sk_fullsock`].
pub(crate) fn tcp_sock(_: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    Err(unknown_socket("tcp_sock", a[0]))
}

/// See [`sk_fullsock`].
pub(crate) fn get_listener_sock(_: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    Err(unknown_socket("get_listener_sock", a[0]))
}

/// `bpf_get_socket_cookie(skb)`: test-run gives each skb a fresh socket,
/// whose cookie comes from a counter the first time it is asked for.
pub(crate) fn get_socket_cookie(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    skb(ctx)?;
    Ok(run_socket_cookie(ctx))
}

/// The cookie of the socket a run's context stands for, numbered on first use.
pub(crate) fn run_socket_cookie(ctx: Ctx<'_, '_>) -> u64 {
    let env = ctx.env();
    let counter = &env.runtime.socket_cookies;
    *env.socket_cookie
        .get_or_insert_with(|| counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1)
}

/// `bpf_skb_cgroup_classid(skb)`: the net_cls classid of the skb's socket,
/// 0 outside a net_cls cgroup (Apiary has none).
pub(crate) fn skb_cgroup_classid(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    skb(ctx)?;
    Ok(0)
}
