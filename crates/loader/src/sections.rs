//! libbpf's `SEC()` table: which program type, expected attach type and
//! properties a section name gives a program (libbpf `section_defs[]`, in
//! libbpf's matching order: the first matching entry wins).

use apiary_kernel::types::{AttachType, ProgType};

/// Properties libbpf attaches to a section definition (`SEC_*` flags).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SecFlags(u8);

impl SecFlags {
    /// No flags.
    pub const NONE: SecFlags = SecFlags(0);
    /// The expected attach type must be passed at load time.
    pub const ATTACHABLE: SecFlags = SecFlags(1);
    /// The expected attach type is passed if the kernel accepts it.
    pub const ATTACHABLE_OPT: SecFlags = SecFlags(1 << 1);
    /// The program attaches to a BTF-named kernel function or type given
    /// after the `/` (fentry, lsm, iter, tp_btf, ...); the target is
    /// required.
    pub const ATTACH_BTF: SecFlags = SecFlags(1 << 2);
    /// Loaded with `BPF_F_SLEEPABLE`.
    pub const SLEEPABLE: SecFlags = SecFlags(1 << 3);
    /// XDP program that handles multi-buffer packets (`BPF_F_XDP_HAS_FRAGS`).
    pub const XDP_FRAGS: SecFlags = SecFlags(1 << 4);
    /// USDT probe (libbpf's USDT support code is linked in).
    pub const USDT: SecFlags = SecFlags(1 << 5);

    /// Both sets of flags.
    pub const fn union(self, other: SecFlags) -> SecFlags {
        SecFlags(self.0 | other.0)
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: SecFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

/// One entry of the section table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionDef {
    /// The pattern as libbpf writes it: a trailing `+` matches the name
    /// alone or followed by `/target`; otherwise the match is exact.
    pub pattern: &'static str,
    /// Program type.
    pub prog_type: ProgType,
    /// Expected attach type, if the definition sets one.
    pub expected_attach_type: Option<AttachType>,
    /// Properties.
    pub flags: SecFlags,
}

const fn def(
    pattern: &'static str,
    prog_type: ProgType,
    expected_attach_type: Option<AttachType>,
    flags: SecFlags,
) -> SectionDef {
    SectionDef {
        pattern,
        prog_type,
        expected_attach_type,
        flags,
    }
}

/// libbpf's section definitions, in matching order.
pub const SECTION_DEFS: &[SectionDef] = &[
    def("socket", ProgType::SOCKET_FILTER, None, SecFlags::NONE),
    def(
        "sk_reuseport/migrate",
        ProgType::SK_REUSEPORT,
        Some(AttachType::SK_REUSEPORT_SELECT_OR_MIGRATE),
        SecFlags::ATTACHABLE,
    ),
    def(
        "sk_reuseport",
        ProgType::SK_REUSEPORT,
        Some(AttachType::SK_REUSEPORT_SELECT),
        SecFlags::ATTACHABLE,
    ),
    def("kprobe+", ProgType::KPROBE, None, SecFlags::NONE),
    def("uprobe+", ProgType::KPROBE, None, SecFlags::NONE),
    def("uprobe.s+", ProgType::KPROBE, None, SecFlags::SLEEPABLE),
    def("kretprobe+", ProgType::KPROBE, None, SecFlags::NONE),
    def("uretprobe+", ProgType::KPROBE, None, SecFlags::NONE),
    def("uretprobe.s+", ProgType::KPROBE, None, SecFlags::SLEEPABLE),
    def(
        "kprobe.multi+",
        ProgType::KPROBE,
        Some(AttachType::TRACE_KPROBE_MULTI),
        SecFlags::NONE,
    ),
    def(
        "kretprobe.multi+",
        ProgType::KPROBE,
        Some(AttachType::TRACE_KPROBE_MULTI),
        SecFlags::NONE,
    ),
    def(
        "kprobe.session+",
        ProgType::KPROBE,
        Some(AttachType::TRACE_KPROBE_SESSION),
        SecFlags::NONE,
    ),
    def(
        "uprobe.multi+",
        ProgType::KPROBE,
        Some(AttachType::TRACE_UPROBE_MULTI),
        SecFlags::NONE,
    ),
    def(
        "uretprobe.multi+",
        ProgType::KPROBE,
        Some(AttachType::TRACE_UPROBE_MULTI),
        SecFlags::NONE,
    ),
    def(
        "uprobe.session+",
        ProgType::KPROBE,
        Some(AttachType::TRACE_UPROBE_SESSION),
        SecFlags::NONE,
    ),
    def(
        "uprobe.multi.s+",
        ProgType::KPROBE,
        Some(AttachType::TRACE_UPROBE_MULTI),
        SecFlags::SLEEPABLE,
    ),
    def(
        "uretprobe.multi.s+",
        ProgType::KPROBE,
        Some(AttachType::TRACE_UPROBE_MULTI),
        SecFlags::SLEEPABLE,
    ),
    def(
        "uprobe.session.s+",
        ProgType::KPROBE,
        Some(AttachType::TRACE_UPROBE_SESSION),
        SecFlags::SLEEPABLE,
    ),
    def("ksyscall+", ProgType::KPROBE, None, SecFlags::NONE),
    def("kretsyscall+", ProgType::KPROBE, None, SecFlags::NONE),
    def("usdt+", ProgType::KPROBE, None, SecFlags::USDT),
    def(
        "usdt.s+",
        ProgType::KPROBE,
        None,
        SecFlags::USDT.union(SecFlags::SLEEPABLE),
    ),
    def(
        "tc/ingress",
        ProgType::SCHED_CLS,
        Some(AttachType::TCX_INGRESS),
        SecFlags::NONE,
    ),
    def(
        "tc/egress",
        ProgType::SCHED_CLS,
        Some(AttachType::TCX_EGRESS),
        SecFlags::NONE,
    ),
    def(
        "tcx/ingress",
        ProgType::SCHED_CLS,
        Some(AttachType::TCX_INGRESS),
        SecFlags::NONE,
    ),
    def(
        "tcx/egress",
        ProgType::SCHED_CLS,
        Some(AttachType::TCX_EGRESS),
        SecFlags::NONE,
    ),
    def("tc", ProgType::SCHED_CLS, None, SecFlags::NONE),
    def("classifier", ProgType::SCHED_CLS, None, SecFlags::NONE),
    def("action", ProgType::SCHED_ACT, None, SecFlags::NONE),
    def(
        "netkit/primary",
        ProgType::SCHED_CLS,
        Some(AttachType::NETKIT_PRIMARY),
        SecFlags::NONE,
    ),
    def(
        "netkit/peer",
        ProgType::SCHED_CLS,
        Some(AttachType::NETKIT_PEER),
        SecFlags::NONE,
    ),
    def("tracepoint+", ProgType::TRACEPOINT, None, SecFlags::NONE),
    def("tp+", ProgType::TRACEPOINT, None, SecFlags::NONE),
    def(
        "tracepoint.s+",
        ProgType::TRACEPOINT,
        None,
        SecFlags::SLEEPABLE,
    ),
    def("tp.s+", ProgType::TRACEPOINT, None, SecFlags::SLEEPABLE),
    def(
        "raw_tracepoint+",
        ProgType::RAW_TRACEPOINT,
        None,
        SecFlags::NONE,
    ),
    def("raw_tp+", ProgType::RAW_TRACEPOINT, None, SecFlags::NONE),
    def(
        "raw_tracepoint.s+",
        ProgType::RAW_TRACEPOINT,
        None,
        SecFlags::SLEEPABLE,
    ),
    def(
        "raw_tp.s+",
        ProgType::RAW_TRACEPOINT,
        None,
        SecFlags::SLEEPABLE,
    ),
    def(
        "raw_tracepoint.w+",
        ProgType::RAW_TRACEPOINT_WRITABLE,
        None,
        SecFlags::NONE,
    ),
    def(
        "raw_tp.w+",
        ProgType::RAW_TRACEPOINT_WRITABLE,
        None,
        SecFlags::NONE,
    ),
    def(
        "tp_btf+",
        ProgType::TRACING,
        Some(AttachType::TRACE_RAW_TP),
        SecFlags::ATTACH_BTF,
    ),
    def(
        "tp_btf.s+",
        ProgType::TRACING,
        Some(AttachType::TRACE_RAW_TP),
        SecFlags::ATTACH_BTF.union(SecFlags::SLEEPABLE),
    ),
    def(
        "fentry+",
        ProgType::TRACING,
        Some(AttachType::TRACE_FENTRY),
        SecFlags::ATTACH_BTF,
    ),
    def(
        "fmod_ret+",
        ProgType::TRACING,
        Some(AttachType::MODIFY_RETURN),
        SecFlags::ATTACH_BTF,
    ),
    def(
        "fexit+",
        ProgType::TRACING,
        Some(AttachType::TRACE_FEXIT),
        SecFlags::ATTACH_BTF,
    ),
    def(
        "fentry.s+",
        ProgType::TRACING,
        Some(AttachType::TRACE_FENTRY),
        SecFlags::ATTACH_BTF.union(SecFlags::SLEEPABLE),
    ),
    def(
        "fmod_ret.s+",
        ProgType::TRACING,
        Some(AttachType::MODIFY_RETURN),
        SecFlags::ATTACH_BTF.union(SecFlags::SLEEPABLE),
    ),
    def(
        "fexit.s+",
        ProgType::TRACING,
        Some(AttachType::TRACE_FEXIT),
        SecFlags::ATTACH_BTF.union(SecFlags::SLEEPABLE),
    ),
    def(
        "fsession+",
        ProgType::TRACING,
        Some(AttachType::TRACE_FSESSION),
        SecFlags::ATTACH_BTF,
    ),
    def(
        "fsession.s+",
        ProgType::TRACING,
        Some(AttachType::TRACE_FSESSION),
        SecFlags::ATTACH_BTF.union(SecFlags::SLEEPABLE),
    ),
    def(
        "fsession.multi+",
        ProgType::TRACING,
        Some(AttachType::TRACE_FSESSION_MULTI),
        SecFlags::NONE,
    ),
    def(
        "fsession.multi.s+",
        ProgType::TRACING,
        Some(AttachType::TRACE_FSESSION_MULTI),
        SecFlags::SLEEPABLE,
    ),
    def(
        "fentry.multi+",
        ProgType::TRACING,
        Some(AttachType::TRACE_FENTRY_MULTI),
        SecFlags::NONE,
    ),
    def(
        "fexit.multi+",
        ProgType::TRACING,
        Some(AttachType::TRACE_FEXIT_MULTI),
        SecFlags::NONE,
    ),
    def(
        "fentry.multi.s+",
        ProgType::TRACING,
        Some(AttachType::TRACE_FENTRY_MULTI),
        SecFlags::SLEEPABLE,
    ),
    def(
        "fexit.multi.s+",
        ProgType::TRACING,
        Some(AttachType::TRACE_FEXIT_MULTI),
        SecFlags::SLEEPABLE,
    ),
    def("freplace+", ProgType::EXT, None, SecFlags::ATTACH_BTF),
    def(
        "lsm+",
        ProgType::LSM,
        Some(AttachType::LSM_MAC),
        SecFlags::ATTACH_BTF,
    ),
    def(
        "lsm.s+",
        ProgType::LSM,
        Some(AttachType::LSM_MAC),
        SecFlags::ATTACH_BTF.union(SecFlags::SLEEPABLE),
    ),
    def(
        "lsm_cgroup+",
        ProgType::LSM,
        Some(AttachType::LSM_CGROUP),
        SecFlags::ATTACH_BTF,
    ),
    def(
        "iter+",
        ProgType::TRACING,
        Some(AttachType::TRACE_ITER),
        SecFlags::ATTACH_BTF,
    ),
    def(
        "iter.s+",
        ProgType::TRACING,
        Some(AttachType::TRACE_ITER),
        SecFlags::ATTACH_BTF.union(SecFlags::SLEEPABLE),
    ),
    def("syscall", ProgType::SYSCALL, None, SecFlags::SLEEPABLE),
    def(
        "xdp.frags/devmap",
        ProgType::XDP,
        Some(AttachType::XDP_DEVMAP),
        SecFlags::XDP_FRAGS,
    ),
    def(
        "xdp/devmap",
        ProgType::XDP,
        Some(AttachType::XDP_DEVMAP),
        SecFlags::ATTACHABLE,
    ),
    def(
        "xdp.frags/cpumap",
        ProgType::XDP,
        Some(AttachType::XDP_CPUMAP),
        SecFlags::XDP_FRAGS,
    ),
    def(
        "xdp/cpumap",
        ProgType::XDP,
        Some(AttachType::XDP_CPUMAP),
        SecFlags::ATTACHABLE,
    ),
    def(
        "xdp.frags",
        ProgType::XDP,
        Some(AttachType::XDP),
        SecFlags::XDP_FRAGS,
    ),
    def(
        "xdp",
        ProgType::XDP,
        Some(AttachType::XDP),
        SecFlags::ATTACHABLE_OPT,
    ),
    def("perf_event", ProgType::PERF_EVENT, None, SecFlags::NONE),
    def("lwt_in", ProgType::LWT_IN, None, SecFlags::NONE),
    def("lwt_out", ProgType::LWT_OUT, None, SecFlags::NONE),
    def("lwt_xmit", ProgType::LWT_XMIT, None, SecFlags::NONE),
    def(
        "lwt_seg6local",
        ProgType::LWT_SEG6LOCAL,
        None,
        SecFlags::NONE,
    ),
    def(
        "sockops",
        ProgType::SOCK_OPS,
        Some(AttachType::CGROUP_SOCK_OPS),
        SecFlags::ATTACHABLE_OPT,
    ),
    def(
        "sk_skb/stream_parser",
        ProgType::SK_SKB,
        Some(AttachType::SK_SKB_STREAM_PARSER),
        SecFlags::ATTACHABLE_OPT,
    ),
    def(
        "sk_skb/stream_verdict",
        ProgType::SK_SKB,
        Some(AttachType::SK_SKB_STREAM_VERDICT),
        SecFlags::ATTACHABLE_OPT,
    ),
    def(
        "sk_skb/verdict",
        ProgType::SK_SKB,
        Some(AttachType::SK_SKB_VERDICT),
        SecFlags::ATTACHABLE_OPT,
    ),
    def("sk_skb", ProgType::SK_SKB, None, SecFlags::NONE),
    def(
        "sk_msg",
        ProgType::SK_MSG,
        Some(AttachType::SK_MSG_VERDICT),
        SecFlags::ATTACHABLE_OPT,
    ),
    def(
        "lirc_mode2",
        ProgType::LIRC_MODE2,
        Some(AttachType::LIRC_MODE2),
        SecFlags::ATTACHABLE_OPT,
    ),
    def(
        "flow_dissector",
        ProgType::FLOW_DISSECTOR,
        Some(AttachType::FLOW_DISSECTOR),
        SecFlags::ATTACHABLE_OPT,
    ),
    def(
        "cgroup_skb/ingress",
        ProgType::CGROUP_SKB,
        Some(AttachType::CGROUP_INET_INGRESS),
        SecFlags::ATTACHABLE_OPT,
    ),
    def(
        "cgroup_skb/egress",
        ProgType::CGROUP_SKB,
        Some(AttachType::CGROUP_INET_EGRESS),
        SecFlags::ATTACHABLE_OPT,
    ),
    def("cgroup/skb", ProgType::CGROUP_SKB, None, SecFlags::NONE),
    def(
        "cgroup/sock_create",
        ProgType::CGROUP_SOCK,
        Some(AttachType::CGROUP_INET_SOCK_CREATE),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/sock_release",
        ProgType::CGROUP_SOCK,
        Some(AttachType::CGROUP_INET_SOCK_RELEASE),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/sock",
        ProgType::CGROUP_SOCK,
        Some(AttachType::CGROUP_INET_SOCK_CREATE),
        SecFlags::ATTACHABLE_OPT,
    ),
    def(
        "cgroup/post_bind4",
        ProgType::CGROUP_SOCK,
        Some(AttachType::CGROUP_INET4_POST_BIND),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/post_bind6",
        ProgType::CGROUP_SOCK,
        Some(AttachType::CGROUP_INET6_POST_BIND),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/bind4",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_INET4_BIND),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/bind6",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_INET6_BIND),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/connect4",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_INET4_CONNECT),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/connect6",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_INET6_CONNECT),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/connect_unix",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_UNIX_CONNECT),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/sendmsg4",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_UDP4_SENDMSG),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/sendmsg6",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_UDP6_SENDMSG),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/sendmsg_unix",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_UNIX_SENDMSG),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/recvmsg4",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_UDP4_RECVMSG),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/recvmsg6",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_UDP6_RECVMSG),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/recvmsg_unix",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_UNIX_RECVMSG),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/getpeername4",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_INET4_GETPEERNAME),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/getpeername6",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_INET6_GETPEERNAME),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/getpeername_unix",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_UNIX_GETPEERNAME),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/getsockname4",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_INET4_GETSOCKNAME),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/getsockname6",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_INET6_GETSOCKNAME),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/getsockname_unix",
        ProgType::CGROUP_SOCK_ADDR,
        Some(AttachType::CGROUP_UNIX_GETSOCKNAME),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/sysctl",
        ProgType::CGROUP_SYSCTL,
        Some(AttachType::CGROUP_SYSCTL),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/getsockopt",
        ProgType::CGROUP_SOCKOPT,
        Some(AttachType::CGROUP_GETSOCKOPT),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/setsockopt",
        ProgType::CGROUP_SOCKOPT,
        Some(AttachType::CGROUP_SETSOCKOPT),
        SecFlags::ATTACHABLE,
    ),
    def(
        "cgroup/dev",
        ProgType::CGROUP_DEVICE,
        Some(AttachType::CGROUP_DEVICE),
        SecFlags::ATTACHABLE_OPT,
    ),
    def("struct_ops+", ProgType::STRUCT_OPS, None, SecFlags::NONE),
    def(
        "struct_ops.s+",
        ProgType::STRUCT_OPS,
        None,
        SecFlags::SLEEPABLE,
    ),
    def(
        "sk_lookup",
        ProgType::SK_LOOKUP,
        Some(AttachType::SK_LOOKUP),
        SecFlags::ATTACHABLE,
    ),
    def(
        "netfilter",
        ProgType::NETFILTER,
        Some(AttachType::NETFILTER),
        SecFlags::NONE,
    ),
];

/// What a section name says about the programs in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionKind {
    /// The matching table entry.
    pub def: &'static SectionDef,
    /// The text after the first `/` for `+` patterns (the kprobe function,
    /// tracepoint, BTF target, ...), if present.
    pub attach_target: Option<String>,
}

impl SectionKind {
    /// Whether programs of this section are loaded with `BPF_F_SLEEPABLE`.
    pub fn sleepable(&self) -> bool {
        self.def.flags.contains(SecFlags::SLEEPABLE)
    }

    /// Whether the program needs a BTF attach target at load time.
    pub fn requires_attach_target(&self) -> bool {
        self.def.flags.contains(SecFlags::ATTACH_BTF)
    }
}

/// Looks a section name up as libbpf's `find_sec_def` does.
pub fn classify_section(name: &str) -> Option<SectionKind> {
    SECTION_DEFS.iter().find_map(|def| {
        if let Some(base) = def.pattern.strip_suffix('+') {
            let rest = name.strip_prefix(base)?;
            if rest.is_empty() {
                Some(SectionKind {
                    def,
                    attach_target: None,
                })
            } else {
                let target = rest.strip_prefix('/')?;
                Some(SectionKind {
                    def,
                    attach_target: Some(target.to_owned()),
                })
            }
        } else {
            (name == def.pattern).then_some(SectionKind {
                def,
                attach_target: None,
            })
        }
    })
}
