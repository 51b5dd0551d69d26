//! Loads and stores through socket pointers: a `sock` (a socket lookup's
//! result, `__sk_buff->sk` outside tc, `bpf_sk_fullsock`) or a
//! `sock_common` (`skb->sk` in tc) reads the fields of `struct bpf_sock`
//! the kernel lets it read, a `tcp_sock` (`bpf_tcp_sock`) those of
//! `struct bpf_tcp_sock`, and none writes, as `check_mem_access` and
//! `check_sock_access` decide with `bpf_sock_is_valid_access`,
//! `bpf_sock_common_is_valid_access` and `bpf_tcp_sock_is_valid_access`
//! (`net/core/filter.c`).

use crate::error::Rejection;
use crate::regs::{RegState, RegType};

/// `sizeof(struct bpf_sock)`.
const BPF_SOCK_SIZE: i32 = 80;
/// `offsetof(struct bpf_sock, ...)` of the fields with their own rules.
const FAMILY: i32 = 4;
const TYPE: i32 = 8;
const PROTOCOL: i32 = 12;
const PRIORITY: i32 = 20;
const SRC_IP4: i32 = 24;
const SRC_PORT: i32 = 44;
const DST_PORT: i32 = 48;
const DST_IP4: i32 = 52;
const STATE: i32 = 72;
const RX_QUEUE_MAPPING: i32 = 76;

/// `offsetofend(struct bpf_tcp_sock, icsk_retransmits)`: what a
/// `tcp_sock` pointer may read.
const BPF_TCP_SOCK_SIZE: i32 = 112;
/// `offsetof(struct bpf_tcp_sock, bytes_received)`; `bytes_acked` follows:
/// the two 8-byte fields, every other is 4 bytes.
const BYTES_RECEIVED: i32 = 80;
const BYTES_ACKED: i32 = 88;

/// Checks an access of `bytes` bytes at `off` (the instruction's offset
/// plus the pointer's) through the socket pointer in `regno`.
pub(crate) fn check(
    insn: usize,
    regno: u8,
    reg: &RegState,
    off: i32,
    bytes: i32,
    writes: bool,
) -> Result<(), Rejection> {
    let name = reg.kind.name();
    if writes {
        return Err(
            Rejection::new(insn, format!("R{regno} cannot write into {name}"))
                .reg(regno, *reg)
                .cause(format!("a {name} pointer is read-only to programs")),
        );
    }
    let valid = match reg.kind {
        RegType::SockCommon => sock_common_readable(off, bytes),
        RegType::TcpSock => tcp_sock_readable(off, bytes),
        _ => sock_readable(off, bytes),
    };
    if valid {
        return Ok(());
    }
    let what = if reg.kind == RegType::TcpSock {
        "struct bpf_tcp_sock has no readable field"
    } else {
        "struct bpf_sock has no readable field"
    };
    let fields = if reg.kind == RegType::SockCommon {
        " (through skb->sk only the fields common to every socket: not type, \
         protocol, mark or priority; bpf_sk_fullsock gives the rest)"
    } else {
        ""
    };
    Err(Rejection::new(
        insn,
        format!("R{regno} invalid {name} access off={off} size={bytes}"),
    )
    .reg(regno, *reg)
    .cause(format!("{what} of {bytes} bytes at offset {off}{fields}")))
}

/// `bpf_sock_common_is_valid_access`: the `sock` rules, minus `type`
/// through `priority`.
fn sock_common_readable(off: i32, bytes: i32) -> bool {
    !(TYPE..PRIORITY + 4).contains(&off) && sock_readable(off, bytes)
}

/// `bpf_sock_is_valid_access`: whole 4-byte fields, narrower loads of the
/// fields that allow them, `dst_port` as 2 or 4 bytes, nothing in the
/// padding after `dst_port`.
fn sock_readable(off: i32, bytes: i32) -> bool {
    if !(0..BPF_SOCK_SIZE).contains(&off) || off % bytes != 0 {
        return false;
    }
    let narrow_ok = |field_size: i32| bytes <= field_size && bytes.count_ones() == 1;
    match off {
        FAMILY | TYPE | PROTOCOL | SRC_PORT | STATE | RX_QUEUE_MAPPING => narrow_ok(4),
        _ if (SRC_IP4..SRC_PORT).contains(&off) || (DST_IP4..STATE).contains(&off) => narrow_ok(4),
        _ if (DST_PORT..DST_PORT + 2).contains(&off) => narrow_ok(if bytes == 4 { 4 } else { 2 }),
        _ if (DST_PORT + 2..DST_IP4).contains(&off) => false,
        _ => bytes == 4,
    }
}

/// `bpf_tcp_sock_is_valid_access`: whole fields only, aligned, 8 bytes
/// for `bytes_received` and `bytes_acked`, 4 for the rest.
fn tcp_sock_readable(off: i32, bytes: i32) -> bool {
    if !(0..BPF_TCP_SOCK_SIZE).contains(&off) || off % bytes != 0 {
        return false;
    }
    if (BYTES_RECEIVED..BYTES_ACKED + 8).contains(&off) {
        bytes == 8
    } else {
        bytes == 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_fields_and_the_narrow_loads_the_kernel_allows() {
        assert!(sock_readable(0, 4)); // bound_dev_if
        assert!(!sock_readable(0, 2));
        assert!(sock_readable(FAMILY, 2));
        assert!(sock_readable(SRC_IP4 + 2, 2));
        assert!(sock_readable(40, 1)); // src_ip6[3]
        assert!(!sock_readable(SRC_PORT + 1, 1));
        assert!(sock_readable(DST_PORT, 2));
        assert!(sock_readable(DST_PORT, 4));
        assert!(!sock_readable(DST_PORT + 2, 2));
        assert!(sock_readable(RX_QUEUE_MAPPING, 4));
        assert!(!sock_readable(BPF_SOCK_SIZE, 4));
        assert!(!sock_readable(FAMILY, 8));
    }

    #[test]
    fn tcp_sock_reads_whole_fields() {
        assert!(tcp_sock_readable(0, 4)); // snd_cwnd
        assert!(!tcp_sock_readable(0, 8));
        assert!(!tcp_sock_readable(2, 2));
        assert!(tcp_sock_readable(BYTES_RECEIVED, 8));
        assert!(!tcp_sock_readable(BYTES_RECEIVED, 4));
        assert!(!tcp_sock_readable(BYTES_ACKED + 4, 4));
        assert!(tcp_sock_readable(BPF_TCP_SOCK_SIZE - 4, 4)); // icsk_retransmits
        assert!(!tcp_sock_readable(BPF_TCP_SOCK_SIZE, 4));
    }

    #[test]
    fn sock_common_hides_type_to_priority() {
        for off in [TYPE, PROTOCOL, 16, PRIORITY] {
            assert!(sock_readable(off, 4) && !sock_common_readable(off, 4));
        }
        assert!(sock_common_readable(FAMILY, 4));
        assert!(sock_common_readable(STATE, 4));
    }
}
