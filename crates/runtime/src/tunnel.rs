//! The tunnel metadata helpers (`bpf_skb_{get,set}_tunnel_{key,opt}`):
//! what `bpf_skb_set_tunnel_key` attaches to the skb (the kernel's
//! per-CPU metadata dst) and what the getters read back. Test-run skbs
//! start without tunnel metadata.

use crate::helpers::errno::{EINVAL, ENOENT, ENOMEM};
use crate::helpers::{Ctx, Ret, neg};
use crate::skb_helpers::skb;

/// `EPROTO`: the metadata's address family is not the one asked for.
const EPROTO: i64 = 71;

/// `sizeof(struct bpf_tunnel_key)` and the older, shorter layouts the
/// kernel still accepts (ending before `local_ipv6`, `tunnel_label`,
/// `tunnel_ext`, and after `remote_ipv4` alone).
const KEY_SIZE: usize = 44;
const KEY_COMPAT: [usize; 3] = [28, 24, 22];
const KEY_IPV4_ONLY: usize = 8;

const BPF_F_TUNINFO_IPV6: u64 = 1;
const BPF_F_TUNINFO_FLAGS: u64 = 1 << 4;
const BPF_F_ZERO_CSUM_TX: u64 = 1 << 1;
const BPF_F_DONT_FRAGMENT: u64 = 1 << 2;
const BPF_F_SEQ_NUMBER: u64 = 1 << 3;
const BPF_F_NO_TUNNEL_KEY: u64 = 1 << 4;

/// The legacy `TUNNEL_*` flag bits `tunnel_flags` reports (big-endian).
const TUNNEL_CSUM: u16 = 0x01;
const TUNNEL_KEY: u16 = 0x04;
const TUNNEL_SEQ: u16 = 0x08;
const TUNNEL_DONT_FRAGMENT: u16 = 0x0100;
const TUNNEL_NOCACHE: u16 = 0x2000;
/// `ip_tunnel_set_options_present`: every option kind (GENEVE, VXLAN,
/// ERSPAN, GTP) among the legacy bits.
const TUNNEL_OPTIONS_PRESENT: u16 = 0x0800 | 0x1000 | 0x4000 | 0x8000;
/// `IPV6_FLOWLABEL_MASK` in host order.
const FLOWLABEL_MASK: u32 = 0x000f_ffff;
/// `IP_TUNNEL_OPTS_MAX`: `options_len` is a `u8`.
const OPTS_MAX: usize = 255;

/// `struct ip_tunnel_info` as `bpf_skb_set_tunnel_key` fills it (TX mode).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TunnelInfo {
    ipv6: bool,
    id: u32,
    tos: u8,
    ttl: u8,
    /// Legacy `TUNNEL_*` bits.
    flags: u16,
    /// `key.u.ipv{4,6}.src` and `.dst`, network order (IPv4 in the first 4 bytes).
    src: [u8; 16],
    dst: [u8; 16],
    /// `key.label` in host order.
    label: u32,
    options: Vec<u8>,
}

fn u32_at(bytes: &[u8], off: usize) -> u32 {
    bytes
        .get(off..off + 4)
        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

fn put_u32(bytes: &mut [u8], off: usize, value: u32) {
    if let Some(dst) = bytes.get_mut(off..off + 4) {
        dst.copy_from_slice(&value.to_ne_bytes());
    }
}

/// `struct bpf_tunnel_key` for `info`, as `bpf_skb_get_tunnel_key` writes
/// it: the source address is reported as the remote one (receive side).
fn key_bytes(info: &TunnelInfo, flags: u64) -> [u8; KEY_SIZE] {
    let mut key = [0u8; KEY_SIZE];
    put_u32(&mut key, 0, info.id);
    key[20] = info.tos;
    key[21] = info.ttl;
    if flags & BPF_F_TUNINFO_FLAGS != 0 {
        key[22..24].copy_from_slice(&info.flags.to_be_bytes());
    }
    if info.ipv6 {
        key[4..20].copy_from_slice(&info.src);
        key[28..44].copy_from_slice(&info.dst);
        put_u32(&mut key, 24, info.label);
    } else {
        let host = |a: &[u8; 16]| u32::from_be_bytes([a[0], a[1], a[2], a[3]]);
        put_u32(&mut key, 4, host(&info.src));
        put_u32(&mut key, 28, host(&info.dst));
    }
    key
}

/// `bpf_skb_get_tunnel_key(skb, key, size, flags)`.
pub(crate) fn skb_get_tunnel_key(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (size, flags) = (a[2] as u32 as usize, a[3]);
    ctx.read(a[1], size)?;
    let info = skb(ctx)?.skb.tunnel.clone();
    let result = match info {
        None => Err(EINVAL),
        Some(_) if flags & !(BPF_F_TUNINFO_IPV6 | BPF_F_TUNINFO_FLAGS) != 0 => Err(EINVAL),
        Some(info) if info.ipv6 != (flags & BPF_F_TUNINFO_IPV6 != 0) => Err(EPROTO),
        Some(info)
            if size == KEY_SIZE
                || KEY_COMPAT.contains(&size)
                || (size == KEY_IPV4_ONLY && !info.ipv6) =>
        {
            Ok(key_bytes(&info, flags))
        }
        Some(_) => Err(EINVAL),
    };
    match result {
        Ok(key) => {
            ctx.write(a[1], key.get(..size).unwrap_or(&key))?;
            Ok(0)
        }
        Err(errno) => {
            ctx.write(a[1], &vec![0; size])?;
            Ok(neg(errno))
        }
    }
}

/// `bpf_skb_set_tunnel_key(skb, key, size, flags)`: replaces the skb's
/// tunnel metadata (transmit side: the remote address is the destination).
pub(crate) fn skb_set_tunnel_key(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (size, flags) = (a[2] as u32 as usize, a[3]);
    let given = ctx.read(a[1], size)?.to_vec();
    let known = BPF_F_TUNINFO_IPV6
        | BPF_F_ZERO_CSUM_TX
        | BPF_F_DONT_FRAGMENT
        | BPF_F_SEQ_NUMBER
        | BPF_F_NO_TUNNEL_KEY;
    if flags & !known != 0
        || !(size == KEY_SIZE || KEY_COMPAT.contains(&size) || size == KEY_IPV4_ONLY)
    {
        return Ok(neg(EINVAL));
    }
    let mut key = [0u8; KEY_SIZE];
    key[..size].copy_from_slice(&given);
    let ipv6 = flags & BPF_F_TUNINFO_IPV6 != 0;
    let label = u32_at(&key, 24);
    let ext = u16::from_ne_bytes([key[22], key[23]]);
    if (!ipv6 && label != 0) || ext != 0 {
        return Ok(neg(EINVAL));
    }
    let bit = |set: bool, value: u16| if set { value } else { 0 };
    let mut info = TunnelInfo {
        ipv6,
        id: u32_at(&key, 0),
        tos: key[20],
        ttl: key[21],
        flags: TUNNEL_NOCACHE
            | bit(flags & BPF_F_DONT_FRAGMENT != 0, TUNNEL_DONT_FRAGMENT)
            | bit(flags & BPF_F_ZERO_CSUM_TX == 0, TUNNEL_CSUM)
            | bit(flags & BPF_F_SEQ_NUMBER != 0, TUNNEL_SEQ)
            | bit(flags & BPF_F_NO_TUNNEL_KEY == 0, TUNNEL_KEY),
        ..TunnelInfo::default()
    };
    if ipv6 {
        info.dst.copy_from_slice(&key[4..20]);
        info.src.copy_from_slice(&key[28..44]);
        info.label = label & FLOWLABEL_MASK;
    } else {
        info.dst[..4].copy_from_slice(&u32_at(&key, 4).to_be_bytes());
        info.src[..4].copy_from_slice(&u32_at(&key, 28).to_be_bytes());
    }
    skb(ctx)?.skb.tunnel = Some(info);
    Ok(0)
}

/// `bpf_skb_get_tunnel_opt(skb, opt, size)`: the options' length.
pub(crate) fn skb_get_tunnel_opt(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let size = a[2] as u32 as usize;
    ctx.read(a[1], size)?;
    let options = skb(ctx)?
        .skb
        .tunnel
        .as_ref()
        .filter(|info| info.flags & TUNNEL_OPTIONS_PRESENT != 0)
        .map(|info| info.options.clone());
    let result = match options {
        None => Err(ENOENT),
        Some(options) if size < options.len() => Err(ENOMEM),
        Some(options) => Ok(options),
    };
    match result {
        Ok(options) => {
            let mut out = options.clone();
            out.resize(size, 0);
            ctx.write(a[1], &out)?;
            Ok(options.len() as u64)
        }
        Err(errno) => {
            ctx.write(a[1], &vec![0; size])?;
            Ok(neg(errno))
        }
    }
}

/// `bpf_skb_set_tunnel_opt(skb, opt, size)`: only on metadata
/// `bpf_skb_set_tunnel_key` attached, in 4-byte units.
pub(crate) fn skb_set_tunnel_opt(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let size = a[2] as u32 as usize;
    let options = ctx.read(a[1], size)?.to_vec();
    let Some(info) = skb(ctx)?.skb.tunnel.as_mut() else {
        return Ok(neg(EINVAL));
    };
    if !size.is_multiple_of(4) {
        return Ok(neg(EINVAL));
    }
    if size > OPTS_MAX {
        return Ok(neg(ENOMEM));
    }
    if size > 0 {
        info.flags |= TUNNEL_OPTIONS_PRESENT;
    }
    info.options = options;
    Ok(0)
}
