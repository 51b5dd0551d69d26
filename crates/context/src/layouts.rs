//! The structs programs see through `r1`, field by field, as in the kernel's
//! UAPI headers (x86-64), and the internal layouts the runtime builds.

use apiary_kernel::types::ProgType;

use crate::{ContextLayout, SKB_INTERNAL_SIZE, XDP_INTERNAL_SIZE};

/// A field of a context struct; arrays are one field with `elem` < `size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub off: u32,
    pub size: u32,
    pub elem: u32,
}

impl Field {
    const fn new(name: &'static str, off: u32, size: u32) -> Field {
        Field {
            name,
            off,
            size,
            elem: size,
        }
    }

    const fn array(name: &'static str, off: u32, count: u32, elem: u32) -> Field {
        Field {
            name,
            off,
            size: count * elem,
            elem,
        }
    }

    /// One past the last byte.
    pub const fn end(&self) -> u32 {
        self.off + self.size
    }

    /// Whether byte `off` of the struct lies in the field.
    pub fn contains(&self, off: i64) -> bool {
        i64::from(self.off) <= off && off < i64::from(self.end())
    }
}

/// A context struct: its name, size and fields.
#[derive(Clone, Copy, Debug)]
pub struct Struct {
    pub name: &'static str,
    pub size: u32,
    pub fields: &'static [Field],
}

impl Struct {
    /// Names the byte at `off`: `__sk_buff.cb[2]`, `__sk_buff+181 (padding)`,
    /// `xdp_md+40 (past the end)`, `syscall ctx+6` (no named field there).
    pub fn describe(&self, off: i64) -> String {
        let Some(field) = self.fields.iter().find(|f| f.contains(off)) else {
            let named_end = self.fields.iter().map(Field::end).max().unwrap_or(0);
            let what = if off < 0 || off >= i64::from(self.size) {
                " (past the end)"
            } else if off < i64::from(named_end) {
                " (padding)"
            } else {
                ""
            };
            return format!("{}{off:+}{what}", self.name);
        };
        let inside = off - i64::from(field.off);
        let elem = i64::from(field.elem);
        let mut text = format!("{}.{}", self.name, field.name);
        if field.elem != field.size {
            text.push_str(&format!("[{}]", inside / elem));
        }
        if inside % elem != 0 {
            text.push_str(&format!("+{}", inside % elem));
        }
        text
    }
}

/// `struct __sk_buff` (include/uapi/linux/bpf.h).
pub mod sk_buff {
    use super::{Field, Struct};

    pub const LEN: Field = Field::new("len", 0, 4);
    pub const PKT_TYPE: Field = Field::new("pkt_type", 4, 4);
    pub const MARK: Field = Field::new("mark", 8, 4);
    pub const QUEUE_MAPPING: Field = Field::new("queue_mapping", 12, 4);
    pub const PROTOCOL: Field = Field::new("protocol", 16, 4);
    pub const VLAN_PRESENT: Field = Field::new("vlan_present", 20, 4);
    pub const VLAN_TCI: Field = Field::new("vlan_tci", 24, 4);
    pub const VLAN_PROTO: Field = Field::new("vlan_proto", 28, 4);
    pub const PRIORITY: Field = Field::new("priority", 32, 4);
    pub const INGRESS_IFINDEX: Field = Field::new("ingress_ifindex", 36, 4);
    pub const IFINDEX: Field = Field::new("ifindex", 40, 4);
    pub const TC_INDEX: Field = Field::new("tc_index", 44, 4);
    pub const CB: Field = Field::array("cb", 48, 5, 4);
    pub const HASH: Field = Field::new("hash", 68, 4);
    pub const TC_CLASSID: Field = Field::new("tc_classid", 72, 4);
    pub const DATA: Field = Field::new("data", 76, 4);
    pub const DATA_END: Field = Field::new("data_end", 80, 4);
    pub const NAPI_ID: Field = Field::new("napi_id", 84, 4);
    pub const FAMILY: Field = Field::new("family", 88, 4);
    pub const REMOTE_IP4: Field = Field::new("remote_ip4", 92, 4);
    pub const LOCAL_IP4: Field = Field::new("local_ip4", 96, 4);
    pub const REMOTE_IP6: Field = Field::array("remote_ip6", 100, 4, 4);
    pub const LOCAL_IP6: Field = Field::array("local_ip6", 116, 4, 4);
    pub const REMOTE_PORT: Field = Field::new("remote_port", 132, 4);
    pub const LOCAL_PORT: Field = Field::new("local_port", 136, 4);
    pub const DATA_META: Field = Field::new("data_meta", 140, 4);
    pub const FLOW_KEYS: Field = Field::new("flow_keys", 144, 8);
    pub const TSTAMP: Field = Field::new("tstamp", 152, 8);
    pub const WIRE_LEN: Field = Field::new("wire_len", 160, 4);
    pub const GSO_SEGS: Field = Field::new("gso_segs", 164, 4);
    pub const SK: Field = Field::new("sk", 168, 8);
    pub const GSO_SIZE: Field = Field::new("gso_size", 176, 4);
    pub const TSTAMP_TYPE: Field = Field::new("tstamp_type", 180, 1);
    pub const HWTSTAMP: Field = Field::new("hwtstamp", 184, 8);

    pub const STRUCT: Struct = Struct {
        name: "__sk_buff",
        size: 192,
        fields: &[
            LEN,
            PKT_TYPE,
            MARK,
            QUEUE_MAPPING,
            PROTOCOL,
            VLAN_PRESENT,
            VLAN_TCI,
            VLAN_PROTO,
            PRIORITY,
            INGRESS_IFINDEX,
            IFINDEX,
            TC_INDEX,
            CB,
            HASH,
            TC_CLASSID,
            DATA,
            DATA_END,
            NAPI_ID,
            FAMILY,
            REMOTE_IP4,
            LOCAL_IP4,
            REMOTE_IP6,
            LOCAL_IP6,
            REMOTE_PORT,
            LOCAL_PORT,
            DATA_META,
            FLOW_KEYS,
            TSTAMP,
            WIRE_LEN,
            GSO_SEGS,
            SK,
            GSO_SIZE,
            TSTAMP_TYPE,
            HWTSTAMP,
        ],
    };
}

/// `struct xdp_md`.
pub mod xdp_md {
    use super::{Field, Struct};

    pub const DATA: Field = Field::new("data", 0, 4);
    pub const DATA_END: Field = Field::new("data_end", 4, 4);
    pub const DATA_META: Field = Field::new("data_meta", 8, 4);
    pub const INGRESS_IFINDEX: Field = Field::new("ingress_ifindex", 12, 4);
    pub const RX_QUEUE_INDEX: Field = Field::new("rx_queue_index", 16, 4);
    pub const EGRESS_IFINDEX: Field = Field::new("egress_ifindex", 20, 4);

    pub const STRUCT: Struct = Struct {
        name: "xdp_md",
        size: 24,
        fields: &[
            DATA,
            DATA_END,
            DATA_META,
            INGRESS_IFINDEX,
            RX_QUEUE_INDEX,
            EGRESS_IFINDEX,
        ],
    };
}

/// x86-64 `struct pt_regs` (arch/x86/include/asm/ptrace.h), as kprobe
/// programs see it.
pub(crate) const PT_REGS: Struct = Struct {
    name: "pt_regs",
    size: 168,
    fields: &PT_REGS_FIELDS,
};

const PT_REGS_FIELDS: [Field; 21] = {
    const NAMES: [&str; 21] = [
        "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si",
        "di", "orig_ax", "ip", "cs", "flags", "sp", "ss",
    ];
    let mut fields = [Field::new("", 0, 8); 21];
    let mut i = 0;
    while i < NAMES.len() {
        fields[i] = Field::new(NAMES[i], i as u32 * 8, 8);
        i += 1;
    }
    fields
};

/// `struct bpf_perf_event_data`: the x86-64 registers, then two u64.
pub(crate) mod perf_event_data {
    use super::{Field, Struct};

    pub const REGS: Field = Field::array("regs", 0, 21, 8);
    pub const SAMPLE_PERIOD: Field = Field::new("sample_period", 168, 8);
    pub const ADDR: Field = Field::new("addr", 176, 8);

    pub const STRUCT: Struct = Struct {
        name: "bpf_perf_event_data",
        size: 184,
        fields: &[REGS, SAMPLE_PERIOD, ADDR],
    };
}

/// The kernel's `MAX_BPF_FUNC_ARGS`: raw tracepoints see up to 12 u64 arguments.
const RAW_TP_ARGS: u32 = 12;

/// `struct bpf_raw_tracepoint_args`.
pub(crate) const RAW_TP: Struct = Struct {
    name: "bpf_raw_tracepoint_args",
    size: RAW_TP_ARGS * 8,
    fields: &[Field::array("args", 0, RAW_TP_ARGS, 8)],
};

/// `PERF_MAX_TRACE_SIZE`: tracepoint programs may read record bytes below this.
pub(crate) const TRACEPOINT_MAX: u32 = 8192;

/// A tracepoint record: the common header (not readable), then the event's
/// own fields, which only the event's format file names.
pub(crate) const TRACEPOINT: Struct = Struct {
    name: "tracepoint record",
    size: TRACEPOINT_MAX,
    fields: &[
        Field::new("common_type", 0, 2),
        Field::new("common_flags", 2, 1),
        Field::new("common_preempt_count", 3, 1),
        Field::new("common_pid", 4, 4),
    ],
};

/// `struct bpf_cgroup_dev_ctx`.
pub(crate) mod cgroup_dev_ctx {
    use super::{Field, Struct};

    pub const ACCESS_TYPE: Field = Field::new("access_type", 0, 4);

    pub const STRUCT: Struct = Struct {
        name: "bpf_cgroup_dev_ctx",
        size: 12,
        fields: &[
            ACCESS_TYPE,
            Field::new("major", 4, 4),
            Field::new("minor", 8, 4),
        ],
    };
}

/// `struct bpf_sysctl`.
pub(crate) mod sysctl {
    use super::{Field, Struct};

    pub const WRITE: Field = Field::new("write", 0, 4);
    pub const FILE_POS: Field = Field::new("file_pos", 4, 4);

    pub const STRUCT: Struct = Struct {
        name: "bpf_sysctl",
        size: 8,
        fields: &[WRITE, FILE_POS],
    };
}

/// The kernel's `MAX_BPF_FUNC_ARGS`: a BTF-typed program (fentry, fexit,
/// fmod_ret, tp_btf, lsm, struct_ops) sees at most 12 u64 arguments, the
/// return value slot included.
pub(crate) const BTF_ARGS: u32 = 12;

/// The context of BTF-typed programs: the attach function's arguments, one
/// u64 each, then (fexit, fmod_ret, lsm) its return value.
pub(crate) const BTF_CTX: Struct = Struct {
    name: "BTF function arguments",
    size: BTF_ARGS * 8,
    fields: &[Field::array("args", 0, BTF_ARGS, 8)],
};

/// `struct bpf_sock` (cgroup_sock programs).
pub(crate) mod sock {
    use super::{Field, Struct};

    pub const BOUND_DEV_IF: Field = Field::new("bound_dev_if", 0, 4);
    pub const FAMILY: Field = Field::new("family", 4, 4);
    pub const TYPE: Field = Field::new("type", 8, 4);
    pub const PROTOCOL: Field = Field::new("protocol", 12, 4);
    pub const MARK: Field = Field::new("mark", 16, 4);
    pub const PRIORITY: Field = Field::new("priority", 20, 4);
    pub const SRC_IP4: Field = Field::new("src_ip4", 24, 4);
    pub const SRC_IP6: Field = Field::array("src_ip6", 28, 4, 4);
    pub const SRC_PORT: Field = Field::new("src_port", 44, 4);
    pub const DST_PORT: Field = Field::new("dst_port", 48, 2);
    pub const DST_PORT_PADDING: Field = Field::new("dst_port padding", 50, 2);
    pub const DST_IP4: Field = Field::new("dst_ip4", 52, 4);
    pub const DST_IP6: Field = Field::array("dst_ip6", 56, 4, 4);
    pub const STATE: Field = Field::new("state", 72, 4);
    pub const RX_QUEUE_MAPPING: Field = Field::new("rx_queue_mapping", 76, 4);

    pub const STRUCT: Struct = Struct {
        name: "bpf_sock",
        size: 80,
        fields: &[
            BOUND_DEV_IF,
            FAMILY,
            TYPE,
            PROTOCOL,
            MARK,
            PRIORITY,
            SRC_IP4,
            SRC_IP6,
            SRC_PORT,
            DST_PORT,
            DST_IP4,
            DST_IP6,
            STATE,
            RX_QUEUE_MAPPING,
        ],
    };
}

/// `struct bpf_sock_addr` (cgroup_sock_addr programs).
pub(crate) mod sock_addr {
    use super::{Field, Struct};

    pub const USER_FAMILY: Field = Field::new("user_family", 0, 4);
    pub const USER_IP4: Field = Field::new("user_ip4", 4, 4);
    pub const USER_IP6: Field = Field::array("user_ip6", 8, 4, 4);
    pub const USER_PORT: Field = Field::new("user_port", 24, 4);
    pub const FAMILY: Field = Field::new("family", 28, 4);
    pub const TYPE: Field = Field::new("type", 32, 4);
    pub const PROTOCOL: Field = Field::new("protocol", 36, 4);
    pub const MSG_SRC_IP4: Field = Field::new("msg_src_ip4", 40, 4);
    pub const MSG_SRC_IP6: Field = Field::array("msg_src_ip6", 44, 4, 4);
    pub const SK: Field = Field::new("sk", 64, 8);

    pub const STRUCT: Struct = Struct {
        name: "bpf_sock_addr",
        size: 72,
        fields: &[
            USER_FAMILY,
            USER_IP4,
            USER_IP6,
            USER_PORT,
            FAMILY,
            TYPE,
            PROTOCOL,
            MSG_SRC_IP4,
            MSG_SRC_IP6,
            SK,
        ],
    };
}

/// `struct bpf_sockopt` (cgroup_sockopt programs).
pub(crate) mod sockopt {
    use super::{Field, Struct};

    pub const SK: Field = Field::new("sk", 0, 8);
    pub const OPTVAL: Field = Field::new("optval", 8, 8);
    pub const OPTVAL_END: Field = Field::new("optval_end", 16, 8);
    pub const LEVEL: Field = Field::new("level", 24, 4);
    pub const OPTNAME: Field = Field::new("optname", 28, 4);
    pub const OPTLEN: Field = Field::new("optlen", 32, 4);
    pub const RETVAL: Field = Field::new("retval", 36, 4);

    pub const STRUCT: Struct = Struct {
        name: "bpf_sockopt",
        size: 40,
        fields: &[SK, OPTVAL, OPTVAL_END, LEVEL, OPTNAME, OPTLEN, RETVAL],
    };
}

/// `struct bpf_sk_lookup` (sk_lookup programs).
pub mod sk_lookup {
    use super::{Field, Struct};

    pub const SK: Field = Field::new("sk", 0, 8);
    pub const FAMILY: Field = Field::new("family", 8, 4);
    pub const PROTOCOL: Field = Field::new("protocol", 12, 4);
    pub const REMOTE_IP4: Field = Field::new("remote_ip4", 16, 4);
    pub const REMOTE_IP6: Field = Field::array("remote_ip6", 20, 4, 4);
    pub const REMOTE_PORT: Field = Field::new("remote_port", 36, 2);
    pub const REMOTE_PORT_PADDING: Field = Field::new("remote_port padding", 38, 2);
    pub const LOCAL_IP4: Field = Field::new("local_ip4", 40, 4);
    pub const LOCAL_IP6: Field = Field::array("local_ip6", 44, 4, 4);
    pub const LOCAL_PORT: Field = Field::new("local_port", 60, 4);
    pub const INGRESS_IFINDEX: Field = Field::new("ingress_ifindex", 64, 4);

    pub const STRUCT: Struct = Struct {
        name: "bpf_sk_lookup",
        size: 72,
        fields: &[
            SK,
            FAMILY,
            PROTOCOL,
            REMOTE_IP4,
            REMOTE_IP6,
            REMOTE_PORT,
            LOCAL_IP4,
            LOCAL_IP6,
            LOCAL_PORT,
            INGRESS_IFINDEX,
        ],
    };
}

/// `struct bpf_nf_ctx` (netfilter programs): two kernel pointers.
pub(crate) mod nf_ctx {
    use super::{Field, Struct};

    pub const STATE: Field = Field::new("state", 0, 8);
    pub const SKB: Field = Field::new("skb", 8, 8);

    pub const STRUCT: Struct = Struct {
        name: "bpf_nf_ctx",
        size: 16,
        fields: &[STATE, SKB],
    };
}

/// `struct sk_msg_md` (sk_msg programs).
pub(crate) mod sk_msg_md {
    use super::{Field, Struct};

    pub const DATA: Field = Field::new("data", 0, 8);
    pub const DATA_END: Field = Field::new("data_end", 8, 8);
    pub const FAMILY: Field = Field::new("family", 16, 4);
    pub const REMOTE_IP4: Field = Field::new("remote_ip4", 20, 4);
    pub const LOCAL_IP4: Field = Field::new("local_ip4", 24, 4);
    pub const REMOTE_IP6: Field = Field::array("remote_ip6", 28, 4, 4);
    pub const LOCAL_IP6: Field = Field::array("local_ip6", 44, 4, 4);
    pub const REMOTE_PORT: Field = Field::new("remote_port", 60, 4);
    pub const LOCAL_PORT: Field = Field::new("local_port", 64, 4);
    pub const SIZE: Field = Field::new("size", 68, 4);
    pub const SK: Field = Field::new("sk", 72, 8);

    pub const STRUCT: Struct = Struct {
        name: "sk_msg_md",
        size: 80,
        fields: &[
            DATA,
            DATA_END,
            FAMILY,
            REMOTE_IP4,
            LOCAL_IP4,
            REMOTE_IP6,
            LOCAL_IP6,
            REMOTE_PORT,
            LOCAL_PORT,
            SIZE,
            SK,
        ],
    };
}

/// `struct bpf_sock_ops` (sock_ops programs).
pub(crate) mod sock_ops {
    use super::{Field, Struct};

    pub const REPLY: Field = Field::new("reply", 4, 4);
    pub const SK_TXHASH: Field = Field::new("sk_txhash", 164, 4);
    pub const BYTES_RECEIVED: Field = Field::new("bytes_received", 168, 8);
    pub const BYTES_ACKED: Field = Field::new("bytes_acked", 176, 8);
    pub const SK: Field = Field::new("sk", 184, 8);
    pub const SKB_DATA: Field = Field::new("skb_data", 192, 8);
    pub const SKB_DATA_END: Field = Field::new("skb_data_end", 200, 8);
    pub const SKB_TCP_FLAGS: Field = Field::new("skb_tcp_flags", 212, 4);
    pub const SKB_HWTSTAMP: Field = Field::new("skb_hwtstamp", 216, 8);

    /// The u32 fields from `family` to `sk_txhash`, in order.
    const U32_FIELDS: [&str; 37] = [
        "family",
        "remote_ip4",
        "local_ip4",
        "remote_ip6[0]",
        "remote_ip6[1]",
        "remote_ip6[2]",
        "remote_ip6[3]",
        "local_ip6[0]",
        "local_ip6[1]",
        "local_ip6[2]",
        "local_ip6[3]",
        "remote_port",
        "local_port",
        "is_fullsock",
        "snd_cwnd",
        "srtt_us",
        "bpf_sock_ops_cb_flags",
        "state",
        "rtt_min",
        "snd_ssthresh",
        "rcv_nxt",
        "snd_nxt",
        "snd_una",
        "mss_cache",
        "ecn_flags",
        "rate_delivered",
        "rate_interval_us",
        "packets_out",
        "retrans_out",
        "total_retrans",
        "segs_in",
        "data_segs_in",
        "segs_out",
        "data_segs_out",
        "lost_out",
        "sacked_out",
        "sk_txhash",
    ];

    const FIELDS: [Field; 47] = {
        let mut fields = [Field::new("", 0, 4); 47];
        fields[0] = Field::new("op", 0, 4);
        fields[1] = Field::array("args", 4, 4, 4);
        let mut i = 0;
        while i < U32_FIELDS.len() {
            fields[2 + i] = Field::new(U32_FIELDS[i], 20 + i as u32 * 4, 4);
            i += 1;
        }
        fields[39] = BYTES_RECEIVED;
        fields[40] = BYTES_ACKED;
        fields[41] = SK;
        fields[42] = SKB_DATA;
        fields[43] = SKB_DATA_END;
        fields[44] = Field::new("skb_len", 208, 4);
        fields[45] = SKB_TCP_FLAGS;
        fields[46] = SKB_HWTSTAMP;
        fields
    };

    pub const STRUCT: Struct = Struct {
        name: "bpf_sock_ops",
        size: 224,
        fields: &FIELDS,
    };
}

/// The kernel's `U16_MAX`: syscall programs may address context bytes below this.
pub(crate) const SYSCALL_MAX: u32 = 65535;

/// A syscall program's context: caller memory of up to 64 KiB.
pub(crate) const SYSCALL: Struct = Struct {
    name: "syscall ctx",
    size: SYSCALL_MAX,
    fields: &[],
};

/// Every program type whose context is `struct __sk_buff`.
pub(crate) fn is_skb_type(prog_type: ProgType) -> bool {
    matches!(
        prog_type,
        ProgType::SOCKET_FILTER
            | ProgType::SCHED_CLS
            | ProgType::SCHED_ACT
            | ProgType::CGROUP_SKB
            | ProgType::LWT_IN
            | ProgType::LWT_OUT
            | ProgType::LWT_XMIT
            | ProgType::LWT_SEG6LOCAL
            | ProgType::SK_SKB
            | ProgType::FLOW_DISSECTOR
    )
}

/// The struct a program type sees, for the types this crate covers.
pub(crate) fn struct_of(prog_type: ProgType) -> Option<Struct> {
    Some(match prog_type {
        t if is_skb_type(t) => sk_buff::STRUCT,
        ProgType::XDP => xdp_md::STRUCT,
        ProgType::KPROBE => PT_REGS,
        ProgType::TRACEPOINT => TRACEPOINT,
        ProgType::PERF_EVENT => perf_event_data::STRUCT,
        ProgType::RAW_TRACEPOINT => RAW_TP,
        ProgType::SYSCALL => SYSCALL,
        ProgType::CGROUP_DEVICE => cgroup_dev_ctx::STRUCT,
        ProgType::CGROUP_SYSCTL => sysctl::STRUCT,
        ProgType::TRACING | ProgType::LSM | ProgType::STRUCT_OPS => BTF_CTX,
        ProgType::CGROUP_SOCK => sock::STRUCT,
        ProgType::CGROUP_SOCK_ADDR => sock_addr::STRUCT,
        ProgType::CGROUP_SOCKOPT => sockopt::STRUCT,
        ProgType::SK_LOOKUP => sk_lookup::STRUCT,
        ProgType::NETFILTER => nf_ctx::STRUCT,
        ProgType::SK_MSG => sk_msg_md::STRUCT,
        ProgType::SOCK_OPS => sock_ops::STRUCT,
        _ => return None,
    })
}

/// The layout of `prog_type`'s context; see [`crate::layout`].
pub(crate) fn layout_of(prog_type: ProgType) -> ContextLayout {
    let (name, user_size, internal_size) = match (prog_type, struct_of(prog_type)) {
        (ProgType::UNSPEC, _) => ("embedder memory", 0, 0),
        (ProgType::XDP, Some(s)) => (s.name, s.size, XDP_INTERNAL_SIZE),
        (t, Some(s)) if is_skb_type(t) => (s.name, s.size, SKB_INTERNAL_SIZE),
        (_, Some(s)) => (s.name, s.size, s.size),
        (_, None) => ("unknown", 0, 0),
    };
    ContextLayout {
        name,
        user_size,
        internal_size,
    }
}
