//! `bpf_fib_lookup` over a route table the embedder supplies
//! ([`crate::Runtime::set_routes`]): Apiary has no kernel FIB, devices or
//! neighbour table, so a route carries what the kernel would find through
//! them (output device, gateway, source address, MTU, MAC addresses). With
//! no matching route the answer is `BPF_FIB_LKUP_RET_NOT_FWDED`.

use std::net::IpAddr;

use apiary_vm::{HelperContext, HelperError};

use crate::Env;
use crate::helpers::errno::{EAFNOSUPPORT, EINVAL};
use crate::helpers::neg;
use crate::packet::{ETH_HLEN, PacketKind, VLAN_HLEN};

/// What a route does with matching traffic (the kernel's route types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// `RTN_UNICAST`: forward.
    Unicast,
    /// `RTN_BLACKHOLE`: `BPF_FIB_LKUP_RET_BLACKHOLE`.
    Blackhole,
    /// `RTN_UNREACHABLE`: `BPF_FIB_LKUP_RET_UNREACHABLE`.
    Unreachable,
    /// `RTN_PROHIBIT`: `BPF_FIB_LKUP_RET_PROHIBIT`.
    Prohibit,
}

/// One route, with the device and neighbour facts the kernel would look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix (IPv4 or IPv6).
    pub destination: IpAddr,
    /// Prefix length in bits.
    pub prefix_len: u8,
    /// What the route does.
    pub kind: RouteKind,
    /// Output device.
    pub ifindex: u32,
    /// Next hop, when not directly connected.
    pub gateway: Option<IpAddr>,
    /// Preferred source address (`BPF_FIB_LOOKUP_SRC`); `None` answers
    /// `BPF_FIB_LKUP_RET_NO_SRC_ADDR` when asked.
    pub source: Option<IpAddr>,
    /// The output device's MTU.
    pub mtu: u16,
    /// The output device's MAC address.
    pub smac: [u8; 6],
    /// The next hop's MAC address; `None` answers `BPF_FIB_LKUP_RET_NO_NEIGH`
    /// unless `BPF_FIB_LOOKUP_SKIP_NEIGH` is given.
    pub dmac: Option<[u8; 6]>,
}

impl Route {
    fn matches(&self, dst: IpAddr) -> bool {
        let (prefix, addr, bits) = match (self.destination, dst) {
            (IpAddr::V4(p), IpAddr::V4(a)) => (
                u128::from(u32::from(p)) << 96,
                u128::from(u32::from(a)) << 96,
                32,
            ),
            (IpAddr::V6(p), IpAddr::V6(a)) => (u128::from(p), u128::from(a), 128),
            _ => return false,
        };
        let len = u32::from(self.prefix_len).min(bits);
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        };
        prefix & mask == addr & mask
    }
}

/// The longest-prefix route for `dst`.
pub(crate) fn lookup(routes: &[Route], dst: IpAddr) -> Option<&Route> {
    routes
        .iter()
        .filter(|r| r.matches(dst))
        .max_by_key(|r| r.prefix_len)
}

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
/// `sizeof(struct bpf_fib_lookup)`.
const PARAMS_SIZE: usize = 64;

const BPF_FIB_LOOKUP_DIRECT: u64 = 1;
const BPF_FIB_LOOKUP_OUTPUT: u64 = 2;
const BPF_FIB_LOOKUP_SKIP_NEIGH: u64 = 4;
const BPF_FIB_LOOKUP_TBID: u64 = 8;
const BPF_FIB_LOOKUP_SRC: u64 = 16;
const BPF_FIB_LOOKUP_MARK: u64 = 32;

const RET_SUCCESS: u64 = 0;
const RET_BLACKHOLE: u64 = 1;
const RET_UNREACHABLE: u64 = 2;
const RET_PROHIBIT: u64 = 3;
const RET_NOT_FWDED: u64 = 4;
const RET_NO_NEIGH: u64 = 7;
const RET_FRAG_NEEDED: u64 = 8;
const RET_NO_SRC_ADDR: u64 = 9;

/// Offsets in `struct bpf_fib_lookup`.
const FAMILY: usize = 0;
const TOT_LEN: usize = 6;
const IFINDEX: usize = 8;
const SRC: usize = 16;
const DST: usize = 32;
const VLAN: usize = 48;
const SMAC: usize = 52;
const DMAC: usize = 58;

fn address(params: &[u8], off: usize, family: u8) -> Option<IpAddr> {
    if family == AF_INET {
        let b: [u8; 4] = params.get(off..off + 4)?.try_into().ok()?;
        Some(IpAddr::from(b))
    } else {
        let b: [u8; 16] = params.get(off..off + 16)?.try_into().ok()?;
        Some(IpAddr::from(b))
    }
}

fn put_address(params: &mut [u8], off: usize, addr: IpAddr) {
    let bytes = match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    if let Some(dst) = params.get_mut(off..off + bytes.len()) {
        dst.copy_from_slice(&bytes);
    }
}

/// `bpf_fib_lookup(ctx, params, plen, flags)`.
pub(crate) fn fib_lookup(
    ctx: &mut HelperContext<'_, Env>,
    a: [u64; 5],
) -> Result<u64, HelperError> {
    let (plen, flags) = (a[2] as u32 as usize, u64::from(a[3] as u32));
    if plen < PARAMS_SIZE {
        return Ok(neg(EINVAL));
    }
    let known = BPF_FIB_LOOKUP_DIRECT
        | BPF_FIB_LOOKUP_OUTPUT
        | BPF_FIB_LOOKUP_SKIP_NEIGH
        | BPF_FIB_LOOKUP_TBID
        | BPF_FIB_LOOKUP_SRC
        | BPF_FIB_LOOKUP_MARK;
    if flags & !known != 0
        || (flags & BPF_FIB_LOOKUP_TBID != 0 && flags & BPF_FIB_LOOKUP_DIRECT == 0)
    {
        return Ok(neg(EINVAL));
    }
    let mut params = ctx.read(a[1], PARAMS_SIZE)?.to_vec();
    let family = params[FAMILY];
    if family != AF_INET && family != AF_INET6 {
        return Ok(neg(EAFNOSUPPORT));
    }
    let Some(dst) = address(&params, DST, family) else {
        return Ok(neg(EINVAL));
    };
    // The skb variant checks the packet against the MTU when the caller
    // gives no length: is_skb_forwardable allows MTU + header + VLAN tag.
    let tot_len = u16::from_ne_bytes([params[TOT_LEN], params[TOT_LEN + 1]]);
    let skb_len = match &ctx.env().packet {
        Some(p) if p.kind != PacketKind::Xdp && tot_len == 0 => Some(p.len()),
        _ => None,
    };
    let routes = crate::read_lock(&ctx.env().runtime.routes);
    let Some(route) = lookup(&routes, dst).cloned() else {
        return Ok(RET_NOT_FWDED);
    };
    drop(routes);
    let verdict = match route.kind {
        RouteKind::Unicast => None,
        RouteKind::Blackhole => Some(RET_BLACKHOLE),
        RouteKind::Unreachable => Some(RET_UNREACHABLE),
        RouteKind::Prohibit => Some(RET_PROHIBIT),
    };
    if let Some(verdict) = verdict {
        return Ok(verdict);
    }
    let too_long = match skb_len {
        Some(len) => len > usize::from(route.mtu) + ETH_HLEN + VLAN_HLEN,
        None => tot_len > route.mtu,
    };
    if too_long {
        params[TOT_LEN..TOT_LEN + 2].copy_from_slice(&route.mtu.to_ne_bytes());
        ctx.write(a[1], &params)?;
        return Ok(RET_FRAG_NEEDED);
    }
    if flags & BPF_FIB_LOOKUP_SRC != 0 {
        match route.source {
            Some(source) => put_address(&mut params, SRC, source),
            None => return Ok(RET_NO_SRC_ADDR),
        }
    }
    if let Some(gateway) = route.gateway {
        put_address(&mut params, DST, gateway);
    }
    params[IFINDEX..IFINDEX + 4].copy_from_slice(&route.ifindex.to_ne_bytes());
    params[VLAN..VLAN + 4].fill(0);
    if skb_len.is_some() {
        params[TOT_LEN..TOT_LEN + 2].copy_from_slice(&route.mtu.to_ne_bytes());
    }
    params[SMAC..SMAC + 6].copy_from_slice(&route.smac);
    let result = match route.dmac {
        Some(dmac) => {
            params[DMAC..DMAC + 6].copy_from_slice(&dmac);
            RET_SUCCESS
        }
        None if flags & BPF_FIB_LOOKUP_SKIP_NEIGH != 0 => RET_SUCCESS,
        None => RET_NO_NEIGH,
    };
    ctx.write(a[1], &params)?;
    Ok(result)
}
