//! Socket-map and socket-steering helpers (net/core/sock_map.c,
//! net/core/filter.c): redirects through sockmaps and sockhashes, map
//! updates from `sock_ops` programs, `bpf_sk_select_reuseport`,
//! `bpf_sk_assign`, and the `sock_ops` / `sk_msg` knobs the corpus uses.
//!
//! Apiary has no sockets: every socket map is empty (see `apiary-maps`) and
//! no context carries a full socket. Each helper therefore answers what the
//! kernel answers when the slot is empty or the context's socket is not
//! suitable; a program that hands in a socket pointer (which no helper in
//! Apiary can have returned) gets a run error, not a made-up answer.

use apiary_kernel::types::ProgType;
use apiary_maps::MapType;
use apiary_vm::HelperError;

use crate::helpers::errno::{EINVAL, ENOENT, EOPNOTSUPP};
use crate::helpers::{Ctx, Ret, map_arg, neg, size_arg, write_zeroes};

/// `SK_DROP`: the verdict of a failed socket redirect.
const SK_DROP: u64 = 0;
/// `BPF_F_INGRESS`: redirect into the target socket's receive queue.
const BPF_F_INGRESS: u64 = 1;
/// `BPF_SK_LOOKUP_F_REPLACE`: override an earlier `bpf_sk_assign`.
const BPF_SK_LOOKUP_F_REPLACE: u64 = 1;
/// `BPF_SK_LOOKUP_F_NO_REUSEPORT`: skip reuseport group selection.
const BPF_SK_LOOKUP_F_NO_REUSEPORT: u64 = 2;

/// How a helper passes its map key.
#[derive(Clone, Copy)]
enum KeyArg {
    /// A `u32` index in the register.
    Index,
    /// A pointer to `key_size` bytes.
    Pointer,
}

/// Looks up `key` in the socket map `handle`, checked to be one of `want`
/// (the verifier's `check_map_func_compatibility`); Ok when the slot is
/// empty, as every slot is.
fn socket_in_map(
    ctx: Ctx<'_, '_>,
    handle: u64,
    key: u64,
    key_arg: KeyArg,
    want: &[MapType],
) -> Result<(), HelperError> {
    let (_, map, _) = map_arg(ctx, handle)?;
    if !want.contains(&map.map_type()) {
        return Err(HelperError::Other(format!(
            "helper needs a {want:?} map, got {:?}",
            map.map_type()
        )));
    }
    let key_bytes = match key_arg {
        KeyArg::Pointer => ctx.read(key, map.key_size())?.to_vec(),
        KeyArg::Index => (key as u32).to_ne_bytes().to_vec(),
    };
    let cpu = ctx.env().cpu;
    match map.lookup(&key_bytes, cpu) {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err(HelperError::Other(
            "a socket map holds a socket, which Apiary cannot have".into(),
        )),
        // A key the map cannot hold (beyond a sockmap's entries) is an
        // empty slot to the kernel's lookup.
        Err(_) => Ok(()),
    }
}

/// `bpf_sk_redirect_map` / `bpf_msg_redirect_map` / `_hash`: `SK_DROP`
/// for unknown flags and for an empty slot, which every slot is.
fn redirect(ctx: Ctx<'_, '_>, a: [u64; 5], kind: MapType) -> Ret {
    if a[3] & !BPF_F_INGRESS != 0 {
        return Ok(SK_DROP);
    }
    let key_arg = if kind == MapType::Sockhash {
        KeyArg::Pointer
    } else {
        KeyArg::Index
    };
    socket_in_map(ctx, a[1], a[2], key_arg, &[kind])?;
    Ok(SK_DROP)
}

/// `long bpf_sk_redirect_map(struct sk_buff *skb, struct bpf_map *map, u32
/// key, u64 flags)`.
pub(crate) fn sk_redirect_map(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    redirect(ctx, a, MapType::Sockmap)
}

/// `long bpf_sk_redirect_hash(struct sk_buff *skb, struct bpf_map *map,
/// void *key, u64 flags)`.
pub(crate) fn sk_redirect_hash(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    redirect(ctx, a, MapType::Sockhash)
}

/// `long bpf_msg_redirect_map(struct sk_msg_buff *msg, struct bpf_map
/// *map, u32 key, u64 flags)`.
pub(crate) fn msg_redirect_map(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    redirect(ctx, a, MapType::Sockmap)
}

/// `long bpf_msg_redirect_hash(struct sk_msg_buff *msg, struct bpf_map
/// *map, void *key, u64 flags)`.
pub(crate) fn msg_redirect_hash(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    redirect(ctx, a, MapType::Sockhash)
}

/// `bpf_sock_map_update` / `bpf_sock_hash_update`: the kernel stores the
/// `sock_ops` context's socket when it is a suitable full socket and
/// answers `-EOPNOTSUPP` otherwise; an Apiary `sock_ops` run has no socket.
fn sock_ops_update(ctx: Ctx<'_, '_>, a: [u64; 5], kind: MapType) -> Ret {
    let (_, map, _) = map_arg(ctx, a[1])?;
    if map.map_type() != kind {
        return Err(HelperError::Other(format!(
            "helper needs a {kind:?} map, got {:?}",
            map.map_type()
        )));
    }
    ctx.read(a[2], map.key_size())?;
    Ok(neg(EOPNOTSUPP))
}

/// `long bpf_sock_map_update(struct bpf_sock_ops *skops, struct bpf_map
/// *map, void *key, u64 flags)`.
pub(crate) fn sock_map_update(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    sock_ops_update(ctx, a, MapType::Sockmap)
}

/// `long bpf_sock_hash_update(struct bpf_sock_ops *skops, struct bpf_map
/// *map, void *key, u64 flags)`.
pub(crate) fn sock_hash_update(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    sock_ops_update(ctx, a, MapType::Sockhash)
}

/// `long bpf_sk_select_reuseport(struct sk_reuseport_md *reuse, struct
/// bpf_map *map, void *key, u64 flags)`: `-ENOENT`, the kernel's answer
/// for an empty slot (it checks no flags).
pub(crate) fn sk_select_reuseport(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let kinds = [
        MapType::ReuseportSockarray,
        MapType::Sockmap,
        MapType::Sockhash,
    ];
    socket_in_map(ctx, a[1], a[2], KeyArg::Pointer, &kinds)?;
    Ok(neg(ENOENT))
}

/// `long bpf_sk_assign(void *ctx, struct bpf_sock *sk, u64 flags)`.
///
/// In `sk_lookup` programs (`bpf_sk_lookup_assign`): `-EINVAL` for unknown
/// flags, else 0 for a NULL socket (selecting none; no earlier assignment
/// can exist, so `-EEXIST` never applies). In tc programs: `-EINVAL` for a
/// NULL socket or any flag, as the kernel.
pub(crate) fn sk_assign(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (sk, flags) = (a[1], a[2]);
    if ctx.env().prog_type == ProgType::SK_LOOKUP {
        if flags & !(BPF_SK_LOOKUP_F_REPLACE | BPF_SK_LOOKUP_F_NO_REUSEPORT) != 0 {
            return Ok(neg(EINVAL));
        }
    } else if sk == 0 || flags != 0 {
        return Ok(neg(EINVAL));
    }
    if sk != 0 {
        return Err(HelperError::Other(format!(
            "bpf_sk_assign of {sk:#x}, which no socket lookup returned"
        )));
    }
    Ok(0)
}

/// `long bpf_sock_ops_cb_flags_set(struct bpf_sock_ops *bpf_sock, int
/// argval)`: `-EINVAL`, the kernel's answer when the context's socket is
/// not a full socket (an Apiary `sock_ops` run has none).
pub(crate) fn sock_ops_cb_flags_set(_: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(neg(EINVAL))
}

/// `long bpf_setsockopt(void *bpf_socket, int level, int optname, void
/// *optval, int optlen)` in `sock_ops` and `cgroup_sock_addr` programs:
/// `-EINVAL`, `_bpf_setsockopt`'s answer when the socket is not a full
/// socket (an Apiary run has none).
pub(crate) fn setsockopt(_: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(neg(EINVAL))
}

/// `long bpf_getsockopt(...)`, the same: `optval` zeroed and `-EINVAL`,
/// as `_bpf_getsockopt` clears it when it cannot read the option.
pub(crate) fn getsockopt(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    write_zeroes(ctx, a[3], size_arg(a[4])?)?;
    Ok(neg(EINVAL))
}

/// `long bpf_msg_apply_bytes(struct sk_msg_buff *msg, u32 bytes)`: sets
/// how many bytes the verdict applies to; always 0.
pub(crate) fn msg_apply_bytes(_: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(0)
}

/// `long bpf_msg_cork_bytes(struct sk_msg_buff *msg, u32 bytes)`: sets how
/// many bytes to gather before the next verdict; always 0.
pub(crate) fn msg_cork_bytes(_: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(0)
}

/// `offsetof(struct sk_msg_md, data)` and `data_end`.
const MSG_DATA: u64 = 0;
const MSG_DATA_END: u64 = 8;

/// `long bpf_msg_pull_data(msg, start, end, flags)`: makes bytes
/// `start..end` of the message (counted from its first byte, wherever
/// `data` points now) the directly readable `data..data_end`. An Apiary
/// run's message is one linear buffer, the kernel's single scatterlist
/// element that needs no copy: `-EINVAL` for flags, an empty or reversed
/// range, or one past the message.
pub(crate) fn msg_pull_data(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (start, end, flags) = (a[1] as u32, a[2] as u32, a[3]);
    let Some((base, len)) = ctx.env().message else {
        return Err(HelperError::Other(
            "bpf_msg_pull_data outside an sk_msg run".into(),
        ));
    };
    if flags != 0 || end <= start || start >= len || end > len {
        return Ok(neg(EINVAL));
    }
    ctx.write(a[0] + MSG_DATA, &(base + u64::from(start)).to_ne_bytes())?;
    ctx.write(a[0] + MSG_DATA_END, &(base + u64::from(end)).to_ne_bytes())?;
    Ok(0)
}
