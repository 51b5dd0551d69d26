//! Socket-level hooks (net/core/filter.c, kernel/bpf/cgroup.c,
//! net/netfilter/nf_bpf_link.c): `sock_filter_is_valid_access`
//! (cgroup_sock), `sock_addr_is_valid_access`, `cg_sockopt_is_valid_access`,
//! `sk_lookup_is_valid_access` and `nf_is_valid_access`.
//!
//! Their pointer fields (`sk`, `optval`, `optval_end`, the netfilter
//! `state` and `skb`) are 8 bytes wide in the UAPI structs, so the runtime
//! stores host pointers in the image and no access is rewritten.

use apiary_kernel::types::AttachType;

use super::{Access, in_any, in_bounds_and_aligned};
use crate::error::{AccessKind, Rule};
use crate::layouts::{Field, nf_ctx, sk_lookup, sk_msg_md, sock, sock_addr, sock_ops, sockopt};

/// `bpf_ctx_narrow_access_ok`: a power-of-two load no wider than the field.
fn narrow(access: Access, field_size: u32) -> Result<(), Rule> {
    if access.size > field_size {
        return Err(Rule::AtMost(field_size as u8));
    }
    Ok(())
}

fn exactly(access: Access, size: u32) -> Result<(), Rule> {
    if access.size != size {
        return Err(Rule::MustBeSize(size as u8));
    }
    Ok(())
}

fn read_only(access: Access) -> Result<(), Rule> {
    if access.kind.is_write() {
        return Err(Rule::ReadOnly);
    }
    Ok(())
}

/// Pointer fields may not be sign-extended (the verifier refuses `MEMSX`
/// loads of anything but scalars).
fn pointer(access: Access, field: Field) -> Result<(), Rule> {
    if access.kind == AccessKind::ReadSignExtend {
        return Err(Rule::NoSignExtend);
    }
    exactly(access, field.size)
}

/// A pointer field is loaded whole, from its start: the kernel refuses
/// its upper half (measured on Linux 6.18).
fn pointer_start(access: Access, field: Field) -> Result<(), Rule> {
    if access.off != i64::from(field.off) {
        return Err(Rule::NotAvailable);
    }
    pointer(access, field)
}

/// `bpf_ctx_wide_access_ok`: an aligned 8-byte access inside an array of u32.
fn wide_inside(access: Access, array: Field) -> bool {
    access.size == 8
        && access.off >= i64::from(array.off)
        && access.off + 8 <= i64::from(array.end())
        && access.off % 8 == 0
}

/// `struct bpf_sock` for cgroup_sock programs: `bpf_sock_is_valid_access`,
/// then the attach type's permissions (`__sock_filter_check_attach_type`).
pub(super) fn cgroup_sock(attach_type: AttachType, access: Access) -> Result<(), Rule> {
    in_bounds_and_aligned(access, sock::STRUCT.size)?;
    let off = access.off;
    let creating = matches!(
        attach_type,
        AttachType::CGROUP_INET_SOCK_CREATE | AttachType::CGROUP_INET_SOCK_RELEASE
    );
    let v4_post_bind = attach_type == AttachType::CGROUP_INET4_POST_BIND;
    let v6_post_bind = attach_type == AttachType::CGROUP_INET6_POST_BIND;
    let full_access = if in_any(off, &[sock::BOUND_DEV_IF, sock::MARK, sock::PRIORITY]) {
        if !creating {
            return Err(Rule::NotAvailable);
        }
        true
    } else {
        let allowed = if sock::SRC_IP4.contains(off) {
            v4_post_bind
        } else if sock::SRC_IP6.contains(off) {
            v6_post_bind
        } else if sock::SRC_PORT.contains(off) {
            v4_post_bind || v6_post_bind
        } else {
            true
        };
        if !allowed {
            return Err(Rule::NotAvailable);
        }
        false
    };
    let narrow_fields = [
        sock::STATE,
        sock::FAMILY,
        sock::TYPE,
        sock::PROTOCOL,
        sock::SRC_PORT,
        sock::RX_QUEUE_MAPPING,
        sock::SRC_IP4,
        sock::SRC_IP6,
        sock::DST_IP4,
        sock::DST_IP6,
    ];
    // The kernel's switch names the start of most fields but whole ranges
    // of the address fields.
    let narrow_at = |f: &Field| {
        if f.elem != f.size || f.size == 4 && matches!(f.name, "src_ip4" | "dst_ip4") {
            f.contains(off)
        } else {
            i64::from(f.off) == off
        }
    };
    if narrow_fields.iter().any(narrow_at) {
        narrow(access, 4)?;
    } else if sock::DST_PORT.contains(off) {
        narrow(access, if access.size == 4 { 4 } else { 2 })?;
    } else if sock::DST_PORT_PADDING.contains(off) {
        return Err(Rule::Padding);
    } else {
        exactly(access, 4)?;
    }
    if full_access {
        Ok(())
    } else {
        read_only(access)
    }
}

/// `struct bpf_sock_addr`: the address fields of the attach type's family
/// (user fields read narrow or written whole), the rest read-only u32, `sk`
/// a pointer.
pub(super) fn sock_addr(attach_type: AttachType, access: Access) -> Result<(), Rule> {
    in_bounds_and_aligned(access, sock_addr::STRUCT.size)?;
    let off = access.off;
    use AttachType as A;
    let family_ok = if sock_addr::USER_IP4.contains(off) {
        matches!(
            attach_type,
            A::CGROUP_INET4_BIND
                | A::CGROUP_INET4_CONNECT
                | A::CGROUP_INET4_GETPEERNAME
                | A::CGROUP_INET4_GETSOCKNAME
                | A::CGROUP_UDP4_SENDMSG
                | A::CGROUP_UDP4_RECVMSG
        )
    } else if sock_addr::USER_IP6.contains(off) {
        matches!(
            attach_type,
            A::CGROUP_INET6_BIND
                | A::CGROUP_INET6_CONNECT
                | A::CGROUP_INET6_GETPEERNAME
                | A::CGROUP_INET6_GETSOCKNAME
                | A::CGROUP_UDP6_SENDMSG
                | A::CGROUP_UDP6_RECVMSG
        )
    } else if sock_addr::MSG_SRC_IP4.contains(off) {
        attach_type == A::CGROUP_UDP4_SENDMSG
    } else if sock_addr::MSG_SRC_IP6.contains(off) {
        attach_type == A::CGROUP_UDP6_SENDMSG
    } else {
        true
    };
    if !family_ok {
        return Err(Rule::NotAvailable);
    }
    let user_fields = [
        sock_addr::USER_IP4,
        sock_addr::USER_IP6,
        sock_addr::MSG_SRC_IP4,
        sock_addr::MSG_SRC_IP6,
        sock_addr::USER_PORT,
    ];
    if in_any(off, &user_fields) {
        if wide_inside(access, sock_addr::USER_IP6) || wide_inside(access, sock_addr::MSG_SRC_IP6) {
            return Ok(());
        }
        return if access.kind.is_write() {
            exactly(access, 4)
        } else {
            narrow(access, 4)
        };
    }
    if sock_addr::SK.contains(off) {
        read_only(access)?;
        return pointer_start(access, sock_addr::SK);
    }
    if !in_any(off, sock_addr::STRUCT.fields) {
        return Err(Rule::Padding);
    }
    read_only(access)?;
    exactly(access, 4)
}

/// `struct bpf_sockopt`: `optlen` writable, `retval` only for getsockopt
/// hooks, `level` and `optname` writable only for setsockopt hooks; `sk`,
/// `optval` and `optval_end` 8-byte pointers.
pub(super) fn sockopt(attach_type: AttachType, access: Access) -> Result<(), Rule> {
    in_bounds_and_aligned(access, sockopt::STRUCT.size)?;
    let off = access.off;
    let get = attach_type == AttachType::CGROUP_GETSOCKOPT;
    let set = attach_type == AttachType::CGROUP_SETSOCKOPT;
    let at = |field: Field| off == i64::from(field.off);
    if access.kind.is_write() {
        let allowed = if at(sockopt::RETVAL) {
            get
        } else if at(sockopt::OPTNAME) || at(sockopt::LEVEL) {
            set
        } else {
            at(sockopt::OPTLEN)
        };
        if !allowed {
            return Err(if in_any(off, sockopt::STRUCT.fields) && (get || set) {
                Rule::ReadOnly
            } else {
                Rule::NotAvailable
            });
        }
        return exactly(access, 4);
    }
    for field in [sockopt::SK, sockopt::OPTVAL, sockopt::OPTVAL_END] {
        if field.contains(off) {
            return pointer_start(access, field);
        }
    }
    exactly(access, 4)?;
    if at(sockopt::RETVAL) && !get {
        return Err(Rule::NotAvailable);
    }
    Ok(())
}

/// `struct bpf_sk_lookup`: read-only; `sk` an 8-byte pointer, the u32
/// fields read narrow, `remote_port` as 4 bytes or narrow within its 2.
pub(super) fn sk_lookup(access: Access) -> Result<(), Rule> {
    in_bounds_and_aligned(access, sk_lookup::STRUCT.size)?;
    read_only(access)?;
    let off = access.off;
    if sk_lookup::SK.contains(off) {
        return pointer_start(access, sk_lookup::SK);
    }
    let u32_fields = [
        sk_lookup::FAMILY,
        sk_lookup::PROTOCOL,
        sk_lookup::REMOTE_IP4,
        sk_lookup::LOCAL_IP4,
        sk_lookup::REMOTE_IP6,
        sk_lookup::LOCAL_IP6,
        sk_lookup::LOCAL_PORT,
        sk_lookup::INGRESS_IFINDEX,
    ];
    if in_any(off, &u32_fields) {
        return narrow(access, 4);
    }
    if sk_lookup::REMOTE_PORT.contains(off) {
        return if access.size == 4 {
            Ok(())
        } else {
            narrow(access, 2)
        };
    }
    if sk_lookup::REMOTE_PORT_PADDING.contains(off) {
        // Readable, as zeroes, for backward compatibility.
        return narrow(access, 2);
    }
    Err(Rule::NotAvailable)
}

/// `struct bpf_nf_ctx`: two read-only kernel pointers.
pub(super) fn netfilter(access: Access) -> Result<(), Rule> {
    in_bounds_and_aligned(access, nf_ctx::STRUCT.size)?;
    read_only(access)?;
    let field = if nf_ctx::STATE.contains(access.off) {
        nf_ctx::STATE
    } else {
        nf_ctx::SKB
    };
    pointer_start(access, field)
}

/// `struct sk_msg_md`: read-only; `data`, `data_end` and `sk` 8-byte
/// pointers, every other field a whole u32.
pub(super) fn sk_msg(access: Access) -> Result<(), Rule> {
    in_bounds_and_aligned(access, sk_msg_md::STRUCT.size)?;
    read_only(access)?;
    for field in [sk_msg_md::DATA, sk_msg_md::DATA_END, sk_msg_md::SK] {
        if field.contains(access.off) {
            return pointer_start(access, field);
        }
    }
    exactly(access, 4)
}

/// `struct bpf_sock_ops`: `reply` and `sk_txhash` writable as u32; the
/// byte counters and `skb_hwtstamp` read as u64, `sk`, `skb_data` and
/// `skb_data_end` as 8-byte pointers, `skb_tcp_flags` narrow, the rest as
/// whole u32.
pub(super) fn sock_ops(access: Access) -> Result<(), Rule> {
    in_bounds_and_aligned(access, sock_ops::STRUCT.size)?;
    let off = access.off;
    let at = |field: Field| off == i64::from(field.off);
    if access.kind.is_write() {
        if !(at(sock_ops::REPLY) || at(sock_ops::SK_TXHASH)) {
            return Err(Rule::ReadOnly);
        }
        return exactly(access, 4);
    }
    if sock_ops::BYTES_RECEIVED.contains(off) || sock_ops::BYTES_ACKED.contains(off) {
        return exactly(access, 8);
    }
    for field in [sock_ops::SK, sock_ops::SKB_DATA, sock_ops::SKB_DATA_END] {
        if field.contains(off) {
            return pointer_start(access, field);
        }
    }
    if sock_ops::SKB_HWTSTAMP.contains(off) {
        if !at(sock_ops::SKB_HWTSTAMP) {
            return Err(Rule::NotAvailable);
        }
        return exactly(access, 8);
    }
    if at(sock_ops::SKB_TCP_FLAGS) {
        return narrow(access, 4);
    }
    exactly(access, 4)
}
