//! The kernel's numbering of map, program, attach and link types, and the
//! names bpftool prints for them (libbpf's `libbpf_bpf_*_type_str`).
//!
//! Each kind is a `u32` newtype so that numbers from newer kernels survive a
//! round trip; [`MapType::name`] and friends return `None` for numbers this
//! table does not know, and `Display` falls back to the number as bpftool
//! does (`type 42`). Numbers come from `include/uapi/linux/bpf.h`; entries at
//! the end of each table may be newer than the running kernel, which then
//! rejects them with `EINVAL`.

use std::fmt;

/// Defines a `u32` newtype with named constants and bpftool names.
macro_rules! kernel_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $($(#[$cmeta:meta])* $konst:ident = $value:literal => $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);

        impl $name {
            $($(#[$cmeta])* #[doc = concat!("`", $text, "` (", stringify!($value), ")")]
            pub const $konst: Self = Self($value);)+

            /// Every value this table knows, in numeric order.
            pub const ALL: &'static [Self] = &[$(Self::$konst),+];

            /// The name bpftool prints for this value, if known.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($text),)+
                    _ => None,
                }
            }

            /// The value bpftool calls `name`.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some(Self::$konst),)+
                    _ => None,
                }
            }

            /// Whether this table knows the value.
            pub fn is_known(self) -> bool {
                self.name().is_some()
            }
        }

        impl fmt::Display for $name {
            /// The bpftool name, or `type N` for numbers this table does not know.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "type {}", self.0),
                }
            }
        }

        impl From<$name> for u32 {
            fn from(value: $name) -> u32 {
                value.0
            }
        }

        impl TryFrom<u32> for $name {
            type Error = UnknownValue;

            /// Accepts only the numbers this table knows.
            fn try_from(value: u32) -> Result<Self, UnknownValue> {
                let known = Self(value);
                if known.is_known() {
                    Ok(known)
                } else {
                    Err(UnknownValue { what: $what, value })
                }
            }
        }
    };
}

/// A number outside a table of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value}")]
pub struct UnknownValue {
    /// Which table (`map type`, ...).
    pub what: &'static str,
    /// The number.
    pub value: u32,
}

kernel_enum! {
    /// `enum bpf_map_type`.
    MapType, "map type" {
        UNSPEC = 0 => "unspec",
        HASH = 1 => "hash",
        ARRAY = 2 => "array",
        PROG_ARRAY = 3 => "prog_array",
        PERF_EVENT_ARRAY = 4 => "perf_event_array",
        PERCPU_HASH = 5 => "percpu_hash",
        PERCPU_ARRAY = 6 => "percpu_array",
        STACK_TRACE = 7 => "stack_trace",
        CGROUP_ARRAY = 8 => "cgroup_array",
        LRU_HASH = 9 => "lru_hash",
        LRU_PERCPU_HASH = 10 => "lru_percpu_hash",
        LPM_TRIE = 11 => "lpm_trie",
        ARRAY_OF_MAPS = 12 => "array_of_maps",
        HASH_OF_MAPS = 13 => "hash_of_maps",
        DEVMAP = 14 => "devmap",
        SOCKMAP = 15 => "sockmap",
        CPUMAP = 16 => "cpumap",
        XSKMAP = 17 => "xskmap",
        SOCKHASH = 18 => "sockhash",
        CGROUP_STORAGE = 19 => "cgroup_storage",
        REUSEPORT_SOCKARRAY = 20 => "reuseport_sockarray",
        PERCPU_CGROUP_STORAGE = 21 => "percpu_cgroup_storage",
        QUEUE = 22 => "queue",
        STACK = 23 => "stack",
        SK_STORAGE = 24 => "sk_storage",
        DEVMAP_HASH = 25 => "devmap_hash",
        STRUCT_OPS = 26 => "struct_ops",
        RINGBUF = 27 => "ringbuf",
        INODE_STORAGE = 28 => "inode_storage",
        TASK_STORAGE = 29 => "task_storage",
        BLOOM_FILTER = 30 => "bloom_filter",
        USER_RINGBUF = 31 => "user_ringbuf",
        CGRP_STORAGE = 32 => "cgrp_storage",
        ARENA = 33 => "arena",
        INSN_ARRAY = 34 => "insn_array",
        RHASH = 35 => "rhash",
    }
}

impl MapType {
    /// Whether user space reads and writes one value per possible CPU
    /// (each rounded up to 8 bytes) instead of a single value.
    pub fn is_per_cpu(self) -> bool {
        matches!(
            self,
            Self::PERCPU_HASH
                | Self::PERCPU_ARRAY
                | Self::LRU_PERCPU_HASH
                | Self::PERCPU_CGROUP_STORAGE
        )
    }
}

kernel_enum! {
    /// `enum bpf_prog_type`.
    ProgType, "program type" {
        UNSPEC = 0 => "unspec",
        SOCKET_FILTER = 1 => "socket_filter",
        KPROBE = 2 => "kprobe",
        SCHED_CLS = 3 => "sched_cls",
        SCHED_ACT = 4 => "sched_act",
        TRACEPOINT = 5 => "tracepoint",
        XDP = 6 => "xdp",
        PERF_EVENT = 7 => "perf_event",
        CGROUP_SKB = 8 => "cgroup_skb",
        CGROUP_SOCK = 9 => "cgroup_sock",
        LWT_IN = 10 => "lwt_in",
        LWT_OUT = 11 => "lwt_out",
        LWT_XMIT = 12 => "lwt_xmit",
        SOCK_OPS = 13 => "sock_ops",
        SK_SKB = 14 => "sk_skb",
        CGROUP_DEVICE = 15 => "cgroup_device",
        SK_MSG = 16 => "sk_msg",
        RAW_TRACEPOINT = 17 => "raw_tracepoint",
        CGROUP_SOCK_ADDR = 18 => "cgroup_sock_addr",
        LWT_SEG6LOCAL = 19 => "lwt_seg6local",
        LIRC_MODE2 = 20 => "lirc_mode2",
        SK_REUSEPORT = 21 => "sk_reuseport",
        FLOW_DISSECTOR = 22 => "flow_dissector",
        CGROUP_SYSCTL = 23 => "cgroup_sysctl",
        RAW_TRACEPOINT_WRITABLE = 24 => "raw_tracepoint_writable",
        CGROUP_SOCKOPT = 25 => "cgroup_sockopt",
        TRACING = 26 => "tracing",
        STRUCT_OPS = 27 => "struct_ops",
        EXT = 28 => "ext",
        LSM = 29 => "lsm",
        SK_LOOKUP = 30 => "sk_lookup",
        SYSCALL = 31 => "syscall",
        NETFILTER = 32 => "netfilter",
    }
}

kernel_enum! {
    /// `enum bpf_attach_type`.
    AttachType, "attach type" {
        CGROUP_INET_INGRESS = 0 => "cgroup_inet_ingress",
        CGROUP_INET_EGRESS = 1 => "cgroup_inet_egress",
        CGROUP_INET_SOCK_CREATE = 2 => "cgroup_inet_sock_create",
        CGROUP_SOCK_OPS = 3 => "cgroup_sock_ops",
        SK_SKB_STREAM_PARSER = 4 => "sk_skb_stream_parser",
        SK_SKB_STREAM_VERDICT = 5 => "sk_skb_stream_verdict",
        CGROUP_DEVICE = 6 => "cgroup_device",
        SK_MSG_VERDICT = 7 => "sk_msg_verdict",
        CGROUP_INET4_BIND = 8 => "cgroup_inet4_bind",
        CGROUP_INET6_BIND = 9 => "cgroup_inet6_bind",
        CGROUP_INET4_CONNECT = 10 => "cgroup_inet4_connect",
        CGROUP_INET6_CONNECT = 11 => "cgroup_inet6_connect",
        CGROUP_INET4_POST_BIND = 12 => "cgroup_inet4_post_bind",
        CGROUP_INET6_POST_BIND = 13 => "cgroup_inet6_post_bind",
        CGROUP_UDP4_SENDMSG = 14 => "cgroup_udp4_sendmsg",
        CGROUP_UDP6_SENDMSG = 15 => "cgroup_udp6_sendmsg",
        LIRC_MODE2 = 16 => "lirc_mode2",
        FLOW_DISSECTOR = 17 => "flow_dissector",
        CGROUP_SYSCTL = 18 => "cgroup_sysctl",
        CGROUP_UDP4_RECVMSG = 19 => "cgroup_udp4_recvmsg",
        CGROUP_UDP6_RECVMSG = 20 => "cgroup_udp6_recvmsg",
        CGROUP_GETSOCKOPT = 21 => "cgroup_getsockopt",
        CGROUP_SETSOCKOPT = 22 => "cgroup_setsockopt",
        TRACE_RAW_TP = 23 => "trace_raw_tp",
        TRACE_FENTRY = 24 => "trace_fentry",
        TRACE_FEXIT = 25 => "trace_fexit",
        MODIFY_RETURN = 26 => "modify_return",
        LSM_MAC = 27 => "lsm_mac",
        TRACE_ITER = 28 => "trace_iter",
        CGROUP_INET4_GETPEERNAME = 29 => "cgroup_inet4_getpeername",
        CGROUP_INET6_GETPEERNAME = 30 => "cgroup_inet6_getpeername",
        CGROUP_INET4_GETSOCKNAME = 31 => "cgroup_inet4_getsockname",
        CGROUP_INET6_GETSOCKNAME = 32 => "cgroup_inet6_getsockname",
        XDP_DEVMAP = 33 => "xdp_devmap",
        CGROUP_INET_SOCK_RELEASE = 34 => "cgroup_inet_sock_release",
        XDP_CPUMAP = 35 => "xdp_cpumap",
        SK_LOOKUP = 36 => "sk_lookup",
        XDP = 37 => "xdp",
        SK_SKB_VERDICT = 38 => "sk_skb_verdict",
        SK_REUSEPORT_SELECT = 39 => "sk_reuseport_select",
        SK_REUSEPORT_SELECT_OR_MIGRATE = 40 => "sk_reuseport_select_or_migrate",
        PERF_EVENT = 41 => "perf_event",
        TRACE_KPROBE_MULTI = 42 => "trace_kprobe_multi",
        LSM_CGROUP = 43 => "lsm_cgroup",
        STRUCT_OPS = 44 => "struct_ops",
        NETFILTER = 45 => "netfilter",
        TCX_INGRESS = 46 => "tcx_ingress",
        TCX_EGRESS = 47 => "tcx_egress",
        TRACE_UPROBE_MULTI = 48 => "trace_uprobe_multi",
        CGROUP_UNIX_CONNECT = 49 => "cgroup_unix_connect",
        CGROUP_UNIX_SENDMSG = 50 => "cgroup_unix_sendmsg",
        CGROUP_UNIX_RECVMSG = 51 => "cgroup_unix_recvmsg",
        CGROUP_UNIX_GETPEERNAME = 52 => "cgroup_unix_getpeername",
        CGROUP_UNIX_GETSOCKNAME = 53 => "cgroup_unix_getsockname",
        NETKIT_PRIMARY = 54 => "netkit_primary",
        NETKIT_PEER = 55 => "netkit_peer",
        TRACE_KPROBE_SESSION = 56 => "trace_kprobe_session",
        TRACE_UPROBE_SESSION = 57 => "trace_uprobe_session",
        TRACE_FSESSION = 58 => "trace_fsession",
        TRACE_FENTRY_MULTI = 59 => "trace_fentry_multi",
        TRACE_FEXIT_MULTI = 60 => "trace_fexit_multi",
        TRACE_FSESSION_MULTI = 61 => "trace_fsession_multi",
    }
}

kernel_enum! {
    /// `enum bpf_link_type`.
    LinkType, "link type" {
        UNSPEC = 0 => "unspec",
        RAW_TRACEPOINT = 1 => "raw_tracepoint",
        TRACING = 2 => "tracing",
        CGROUP = 3 => "cgroup",
        ITER = 4 => "iter",
        NETNS = 5 => "netns",
        XDP = 6 => "xdp",
        PERF_EVENT = 7 => "perf_event",
        KPROBE_MULTI = 8 => "kprobe_multi",
        STRUCT_OPS = 9 => "struct_ops",
        NETFILTER = 10 => "netfilter",
        TCX = 11 => "tcx",
        UPROBE_MULTI = 12 => "uprobe_multi",
        NETKIT = 13 => "netkit",
        SOCKMAP = 14 => "sockmap",
        TRACING_MULTI = 15 => "tracing_multi",
    }
}

/// `BPF_MAP_CREATE` flags (`map_flags`).
pub mod map_flags {
    /// Do not preallocate hash elements.
    pub const NO_PREALLOC: u32 = 1 << 0;
    /// One LRU list per CPU instead of a common one.
    pub const NO_COMMON_LRU: u32 = 1 << 1;
    /// `numa_node` is valid.
    pub const NUMA_NODE: u32 = 1 << 2;
    /// User space may only read.
    pub const RDONLY: u32 = 1 << 3;
    /// User space may only write.
    pub const WRONLY: u32 = 1 << 4;
    /// Stack trace maps store build id + offset.
    pub const STACK_BUILD_ID: u32 = 1 << 5;
    /// Zero hash seed (testing only).
    pub const ZERO_SEED: u32 = 1 << 6;
    /// Programs may only read.
    pub const RDONLY_PROG: u32 = 1 << 7;
    /// Programs may only write.
    pub const WRONLY_PROG: u32 = 1 << 8;
    /// Clone socket storage on accept.
    pub const CLONE: u32 = 1 << 9;
    /// The map may be `mmap`ed.
    pub const MMAPABLE: u32 = 1 << 10;
    /// Keep perf events when the map's last fd closes.
    pub const PRESERVE_ELEMS: u32 = 1 << 11;
    /// Usable as an inner map with dynamic `max_entries`.
    pub const INNER_MAP: u32 = 1 << 12;
    /// Registered by a `bpf_link` (struct_ops).
    pub const LINK: u32 = 1 << 13;
    /// `path_fd` is valid (pin/get).
    pub const PATH_FD: u32 = 1 << 14;
    /// `value_type_btf_obj_fd` is valid.
    pub const VTYPE_BTF_OBJ_FD: u32 = 1 << 15;
    /// A BPF token fd is passed.
    pub const TOKEN_FD: u32 = 1 << 16;
    /// Arena: SIGSEGV instead of faulting in pages from user space.
    pub const SEGV_ON_FAULT: u32 = 1 << 17;
    /// Arena: do not translate kernel pointers to user pointers.
    pub const NO_USER_CONV: u32 = 1 << 18;
}

/// Flags of `BPF_MAP_UPDATE_ELEM` and `BPF_MAP_LOOKUP_ELEM`.
pub mod elem_flags {
    /// Create or update.
    pub const ANY: u64 = 0;
    /// Create only: `EEXIST` if the key exists.
    pub const NOEXIST: u64 = 1;
    /// Update only: `ENOENT` if the key is missing.
    pub const EXIST: u64 = 2;
    /// Take the value's `bpf_spin_lock` while copying.
    pub const LOCK: u64 = 4;
}

/// `BPF_PROG_LOAD` flags (`prog_flags`).
pub mod prog_flags {
    /// Enforce strict alignment checks.
    pub const STRICT_ALIGNMENT: u32 = 1 << 0;
    /// Skip alignment checks.
    pub const ANY_ALIGNMENT: u32 = 1 << 1;
    /// Randomise upper 32 bits after 32-bit ops (testing).
    pub const TEST_RND_HI32: u32 = 1 << 2;
    /// Verifier state-frequency testing.
    pub const TEST_STATE_FREQ: u32 = 1 << 3;
    /// The program may sleep.
    pub const SLEEPABLE: u32 = 1 << 4;
    /// The XDP program understands multi-buffer frames.
    pub const XDP_HAS_FRAGS: u32 = 1 << 5;
    /// Bound to a device without offloading.
    pub const XDP_DEV_BOUND_ONLY: u32 = 1 << 6;
    /// Verifier register-invariant testing.
    pub const TEST_REG_INVARIANTS: u32 = 1 << 7;
}

/// `BPF_PROG_TEST_RUN` flags.
pub mod test_run_flags {
    /// Run on the CPU given in `cpu`.
    pub const RUN_ON_CPU: u32 = 1 << 0;
    /// XDP: transmit frames after processing.
    pub const XDP_LIVE_FRAMES: u32 = 1 << 1;
    /// skb: apply `CHECKSUM_COMPLETE`.
    pub const SKB_CHECKSUM_COMPLETE: u32 = 1 << 2;
}

/// `BPF_OBJ_GET` / `BPF_*_GET_FD_BY_ID` access flags.
pub mod open_flags {
    /// Read-only access.
    pub const RDONLY: u32 = 1 << 3;
    /// Write-only access.
    pub const WRONLY: u32 = 1 << 4;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_numbers_are_unique() {
        fn check<T: Copy + Eq + fmt::Debug>(
            all: &[T],
            name: fn(T) -> Option<&'static str>,
            from: fn(&str) -> Option<T>,
        ) {
            for &value in all {
                let text = name(value).expect("every listed value has a name");
                assert_eq!(from(text), Some(value), "{text}");
            }
        }
        check(MapType::ALL, MapType::name, MapType::from_name);
        check(ProgType::ALL, ProgType::name, ProgType::from_name);
        check(AttachType::ALL, AttachType::name, AttachType::from_name);
        check(LinkType::ALL, LinkType::name, LinkType::from_name);
        for (index, value) in MapType::ALL.iter().enumerate() {
            assert_eq!(value.0 as usize, index, "map types are dense from 0");
        }
    }

    #[test]
    fn well_known_numbers() {
        assert_eq!(ProgType::XDP.0, 6);
        assert_eq!(ProgType::SCHED_CLS.name(), Some("sched_cls"));
        assert_eq!(MapType::PERCPU_ARRAY, MapType(6));
        assert_eq!(MapType::from_name("lru_percpu_hash"), Some(MapType(10)));
        assert_eq!(AttachType::XDP.0, 37);
        assert_eq!(MapType(9999).to_string(), "type 9999");
        assert!(ProgType::try_from(9999).is_err());
        assert_eq!(ProgType::try_from(1), Ok(ProgType::SOCKET_FILTER));
    }
}
