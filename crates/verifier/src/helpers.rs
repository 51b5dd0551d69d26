//! The kernel's helper prototypes (`struct bpf_func_proto`): what each
//! helper takes in `r1..r5` and what it returns in `r0`.
//!
//! The verifier checks every call against these; the runtime implements
//! the helpers and takes their names from here, so the table exists once.
//! It lists the helpers Apiary implements (a test in `apiary-runtime`
//! keeps the two in step).

use apiary_kernel::types::ProgType;

/// An argument kind, as the kernel's `enum bpf_arg_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// `ARG_CONST_MAP_PTR`: a map handle.
    ConstMapPtr,
    /// `ARG_PTR_TO_MAP_KEY`: `key_size` readable bytes.
    PtrToMapKey,
    /// `ARG_PTR_TO_MAP_VALUE`: `value_size` readable bytes.
    PtrToMapValue,
    /// `ARG_PTR_TO_UNINIT_MAP_VALUE`: `value_size` writable bytes.
    PtrToUninitMapValue,
    /// `ARG_PTR_TO_MEM | MEM_RDONLY`: readable bytes sized by the next argument.
    PtrToReadableMem,
    /// `ARG_PTR_TO_MEM`: initialised bytes the helper reads and writes,
    /// sized by the next argument.
    PtrToMem,
    /// `ARG_PTR_TO_FIXED_SIZE_MEM` of a `u32` the helper reads and writes.
    PtrToU32,
    /// `ARG_PTR_TO_UNINIT_MEM`: writable bytes sized by the next argument.
    PtrToUninitMem,
    /// `ARG_CONST_SIZE`: size of the previous memory argument, nonzero.
    ConstSize,
    /// `ARG_CONST_SIZE_OR_ZERO`: size of the previous memory argument.
    ConstSizeOrZero,
    /// `ARG_CONST_ALLOC_SIZE_OR_ZERO`: the size of memory the helper
    /// allocates, a known constant.
    ConstAllocSizeOrZero,
    /// `ARG_PTR_TO_CONST_STR`: a NUL-terminated string in read-only memory.
    PtrToConstStr,
    /// `ARG_PTR_TO_CTX`: the program's context.
    PtrToCtx,
    /// `ARG_PTR_TO_BTF_ID_SOCK_COMMON | OBJ_RELEASE`: a socket a lookup returned.
    PtrToSocket,
    /// `ARG_PTR_TO_SOCKET_OR_NULL`: a socket a lookup returned, or NULL.
    PtrToSocketOrNull,
    /// `ARG_PTR_TO_SOCK_COMMON`: any socket pointer (`sock_common`, `sock`,
    /// `tcp_sock`), not NULL.
    PtrToSockCommon,
    /// `ARG_PTR_TO_BTF_ID_SOCK_COMMON`: the same, or a kernel `struct
    /// sock_common` by BTF.
    PtrToBtfIdSockCommon,
    /// `ARG_PTR_TO_BTF_ID`: a kernel object of a fixed BTF type (`seq_file`,
    /// `task_struct`).
    PtrToBtfId,
    /// `ARG_PTR_TO_BTF_ID_OR_NULL`: the same, or NULL.
    PtrToBtfIdOrNull,
    /// `ARG_PTR_TO_MAP_VALUE_OR_NULL`: `value_size` readable bytes, or NULL.
    PtrToMapValueOrNull,
    /// `ARG_PTR_TO_FUNC`: a callback (`lddw` of a function).
    PtrToFunc,
    /// `ARG_PTR_TO_STACK_OR_NULL`: a callback's context pointer.
    PtrToStackOrNull,
    /// `ARG_PTR_TO_SPIN_LOCK`: a `struct bpf_spin_lock` in a map value.
    PtrToSpinLock,
    /// `ARG_PTR_TO_TIMER`: a `struct bpf_timer` in a map value.
    PtrToTimer,
    /// `ARG_PTR_TO_ALLOC_MEM | OBJ_RELEASE`: a ring buffer sample.
    PtrToAllocMem,
    /// `ARG_PTR_TO_LONG`/anything unchecked: any scalar.
    Anything,
}

/// A return kind, as the kernel's `enum bpf_return_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetKind {
    /// `RET_INTEGER`.
    Integer,
    /// `RET_VOID`: `r0` is unusable afterwards.
    Void,
    /// `RET_PTR_TO_MAP_VALUE_OR_NULL`.
    PtrToMapValueOrNull,
    /// `RET_PTR_TO_ALLOC_MEM_OR_NULL` (ring buffer sample of the size argument).
    PtrToAllocMemOrNull,
    /// `RET_PTR_TO_SOCKET_OR_NULL` / `RET_PTR_TO_SOCK_COMMON_OR_NULL`: a
    /// socket reference to release.
    PtrToSocketOrNull,
    /// `RET_PTR_TO_TCP_SOCK_OR_NULL`.
    PtrToTcpSockOrNull,
    /// `RET_PTR_TO_BTF_ID`: an opaque kernel object (`task_struct`).
    PtrToBtfId,
    /// `RET_PTR_TO_BTF_ID_TRUSTED` of `struct task_struct`: the current
    /// task, valid for the whole program.
    TrustedTask,
}

/// A helper's prototype: what the verifier needs to check a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelperProto {
    /// Kernel helper id (`BPF_FUNC_*`).
    pub id: i32,
    /// Name without `bpf_`.
    pub name: &'static str,
    /// Argument kinds of `r1..`, as many as the helper takes.
    pub args: &'static [ArgKind],
    /// Return kind.
    pub ret: RetKind,
}

macro_rules! proto {
    ($id:expr, $name:literal, [$($arg:ident),*], $ret:ident) => {
        HelperProto { id: $id, name: $name, args: &[$(ArgKind::$arg),*], ret: RetKind::$ret }
    };
}

static PROTOS: &[HelperProto] = &[
    proto!(
        1,
        "map_lookup_elem",
        [ConstMapPtr, PtrToMapKey],
        PtrToMapValueOrNull
    ),
    proto!(
        2,
        "map_update_elem",
        [ConstMapPtr, PtrToMapKey, PtrToMapValue, Anything],
        Integer
    ),
    proto!(3, "map_delete_elem", [ConstMapPtr, PtrToMapKey], Integer),
    proto!(
        4,
        "probe_read",
        [PtrToUninitMem, ConstSizeOrZero, Anything],
        Integer
    ),
    proto!(5, "ktime_get_ns", [], Integer),
    proto!(
        6,
        "trace_printk",
        // The kernel declares two arguments; r3-r5 are read unchecked.
        [PtrToReadableMem, ConstSize],
        Integer
    ),
    proto!(7, "get_prandom_u32", [], Integer),
    proto!(8, "get_smp_processor_id", [], Integer),
    proto!(
        9,
        "skb_store_bytes",
        [PtrToCtx, Anything, PtrToReadableMem, ConstSize, Anything],
        Integer
    ),
    proto!(
        10,
        "l3_csum_replace",
        [PtrToCtx, Anything, Anything, Anything, Anything],
        Integer
    ),
    proto!(
        11,
        "l4_csum_replace",
        [PtrToCtx, Anything, Anything, Anything, Anything],
        Integer
    ),
    proto!(12, "tail_call", [PtrToCtx, ConstMapPtr, Anything], Void),
    proto!(
        13,
        "clone_redirect",
        [PtrToCtx, Anything, Anything],
        Integer
    ),
    proto!(14, "get_current_pid_tgid", [], Integer),
    proto!(15, "get_current_uid_gid", [], Integer),
    proto!(16, "get_current_comm", [PtrToUninitMem, ConstSize], Integer),
    proto!(17, "get_cgroup_classid", [PtrToCtx], Integer),
    proto!(18, "skb_vlan_push", [PtrToCtx, Anything, Anything], Integer),
    proto!(19, "skb_vlan_pop", [PtrToCtx], Integer),
    proto!(
        20,
        "skb_get_tunnel_key",
        [PtrToCtx, PtrToUninitMem, ConstSize, Anything],
        Integer
    ),
    proto!(
        21,
        "skb_set_tunnel_key",
        [PtrToCtx, PtrToReadableMem, ConstSize, Anything],
        Integer
    ),
    proto!(23, "redirect", [Anything, Anything], Integer),
    proto!(24, "get_route_realm", [PtrToCtx], Integer),
    proto!(
        25,
        "perf_event_output",
        [
            PtrToCtx,
            ConstMapPtr,
            Anything,
            PtrToReadableMem,
            ConstSizeOrZero
        ],
        Integer
    ),
    proto!(
        26,
        "skb_load_bytes",
        [PtrToCtx, Anything, PtrToUninitMem, ConstSize],
        Integer
    ),
    proto!(
        27,
        "get_stackid",
        [PtrToCtx, ConstMapPtr, Anything],
        Integer
    ),
    proto!(
        28,
        "csum_diff",
        [
            PtrToReadableMem,
            ConstSizeOrZero,
            PtrToReadableMem,
            ConstSizeOrZero,
            Anything
        ],
        Integer
    ),
    proto!(
        29,
        "skb_get_tunnel_opt",
        [PtrToCtx, PtrToUninitMem, ConstSize],
        Integer
    ),
    proto!(
        30,
        "skb_set_tunnel_opt",
        [PtrToCtx, PtrToReadableMem, ConstSize],
        Integer
    ),
    proto!(
        31,
        "skb_change_proto",
        [PtrToCtx, Anything, Anything],
        Integer
    ),
    proto!(32, "skb_change_type", [PtrToCtx, Anything], Integer),
    proto!(34, "get_hash_recalc", [PtrToCtx], Integer),
    proto!(35, "get_current_task", [], Integer),
    proto!(
        38,
        "skb_change_tail",
        [PtrToCtx, Anything, Anything],
        Integer
    ),
    proto!(39, "skb_pull_data", [PtrToCtx, Anything], Integer),
    proto!(40, "csum_update", [PtrToCtx, Anything], Integer),
    proto!(41, "set_hash_invalid", [PtrToCtx], Void),
    proto!(42, "get_numa_node_id", [], Integer),
    proto!(
        43,
        "skb_change_head",
        [PtrToCtx, Anything, Anything],
        Integer
    ),
    proto!(44, "xdp_adjust_head", [PtrToCtx, Anything], Integer),
    proto!(
        45,
        "probe_read_str",
        [PtrToUninitMem, ConstSizeOrZero, Anything],
        Integer
    ),
    proto!(46, "get_socket_cookie", [PtrToCtx], Integer),
    proto!(47, "get_socket_uid", [PtrToCtx], Integer),
    proto!(48, "set_hash", [PtrToCtx, Anything], Integer),
    proto!(
        49,
        "setsockopt",
        [PtrToCtx, Anything, Anything, PtrToReadableMem, ConstSize],
        Integer
    ),
    proto!(
        50,
        "skb_adjust_room",
        [PtrToCtx, Anything, Anything, Anything],
        Integer
    ),
    proto!(
        51,
        "redirect_map",
        [ConstMapPtr, Anything, Anything],
        Integer
    ),
    proto!(
        52,
        "sk_redirect_map",
        [PtrToCtx, ConstMapPtr, Anything, Anything],
        Integer
    ),
    proto!(
        53,
        "sock_map_update",
        [PtrToCtx, ConstMapPtr, PtrToMapKey, Anything],
        Integer
    ),
    proto!(54, "xdp_adjust_meta", [PtrToCtx, Anything], Integer),
    proto!(
        56,
        "perf_prog_read_value",
        [PtrToCtx, PtrToUninitMem, ConstSize],
        Integer
    ),
    proto!(
        57,
        "getsockopt",
        [PtrToCtx, Anything, Anything, PtrToUninitMem, ConstSize],
        Integer
    ),
    proto!(59, "sock_ops_cb_flags_set", [PtrToCtx, Anything], Integer),
    proto!(
        60,
        "msg_redirect_map",
        [PtrToCtx, ConstMapPtr, Anything, Anything],
        Integer
    ),
    proto!(61, "msg_apply_bytes", [PtrToCtx, Anything], Integer),
    proto!(62, "msg_cork_bytes", [PtrToCtx, Anything], Integer),
    proto!(
        63,
        "msg_pull_data",
        [PtrToCtx, Anything, Anything, Anything],
        Integer
    ),
    proto!(65, "xdp_adjust_tail", [PtrToCtx, Anything], Integer),
    proto!(
        67,
        "get_stack",
        [PtrToCtx, PtrToUninitMem, ConstSizeOrZero, Anything],
        Integer
    ),
    proto!(
        68,
        "skb_load_bytes_relative",
        [PtrToCtx, Anything, PtrToUninitMem, ConstSize, Anything],
        Integer
    ),
    proto!(
        69,
        "fib_lookup",
        [PtrToCtx, PtrToMem, ConstSize, Anything],
        Integer
    ),
    proto!(
        70,
        "sock_hash_update",
        [PtrToCtx, ConstMapPtr, PtrToMapKey, Anything],
        Integer
    ),
    proto!(
        71,
        "msg_redirect_hash",
        [PtrToCtx, ConstMapPtr, PtrToMapKey, Anything],
        Integer
    ),
    proto!(
        72,
        "sk_redirect_hash",
        [PtrToCtx, ConstMapPtr, PtrToMapKey, Anything],
        Integer
    ),
    proto!(79, "skb_cgroup_id", [PtrToCtx], Integer),
    proto!(80, "get_current_cgroup_id", [], Integer),
    proto!(
        82,
        "sk_select_reuseport",
        [PtrToCtx, ConstMapPtr, PtrToMapKey, Anything],
        Integer
    ),
    proto!(83, "skb_ancestor_cgroup_id", [PtrToCtx, Anything], Integer),
    proto!(
        84,
        "sk_lookup_tcp",
        [PtrToCtx, PtrToReadableMem, ConstSize, Anything, Anything],
        PtrToSocketOrNull
    ),
    proto!(
        85,
        "sk_lookup_udp",
        [PtrToCtx, PtrToReadableMem, ConstSize, Anything, Anything],
        PtrToSocketOrNull
    ),
    proto!(86, "sk_release", [PtrToSocket], Integer),
    proto!(
        87,
        "map_push_elem",
        [ConstMapPtr, PtrToMapValue, Anything],
        Integer
    ),
    proto!(
        88,
        "map_pop_elem",
        [ConstMapPtr, PtrToUninitMapValue],
        Integer
    ),
    proto!(
        89,
        "map_peek_elem",
        [ConstMapPtr, PtrToUninitMapValue],
        Integer
    ),
    proto!(93, "spin_lock", [PtrToSpinLock], Void),
    proto!(94, "spin_unlock", [PtrToSpinLock], Void),
    proto!(95, "sk_fullsock", [PtrToSockCommon], PtrToSocketOrNull),
    proto!(96, "tcp_sock", [PtrToSockCommon], PtrToTcpSockOrNull),
    proto!(97, "skb_ecn_set_ce", [PtrToCtx], Integer),
    proto!(
        98,
        "get_listener_sock",
        [PtrToSockCommon],
        PtrToSocketOrNull
    ),
    proto!(
        99,
        "skc_lookup_tcp",
        [PtrToCtx, PtrToReadableMem, ConstSize, Anything, Anything],
        PtrToSocketOrNull
    ),
    proto!(
        101,
        "sysctl_get_name",
        [PtrToCtx, PtrToMem, ConstSize, Anything],
        Integer
    ),
    proto!(
        102,
        "sysctl_get_current_value",
        [PtrToCtx, PtrToUninitMem, ConstSize],
        Integer
    ),
    proto!(
        103,
        "sysctl_get_new_value",
        [PtrToCtx, PtrToUninitMem, ConstSize],
        Integer
    ),
    proto!(
        104,
        "sysctl_set_new_value",
        [PtrToCtx, PtrToReadableMem, ConstSize],
        Integer
    ),
    proto!(
        107,
        "sk_storage_get",
        [
            ConstMapPtr,
            PtrToBtfIdSockCommon,
            PtrToMapValueOrNull,
            Anything
        ],
        PtrToMapValueOrNull
    ),
    proto!(
        108,
        "sk_storage_delete",
        [ConstMapPtr, PtrToBtfIdSockCommon],
        Integer
    ),
    proto!(109, "send_signal", [Anything], Integer),
    proto!(
        112,
        "probe_read_user",
        [PtrToUninitMem, ConstSizeOrZero, Anything],
        Integer
    ),
    proto!(
        113,
        "probe_read_kernel",
        [PtrToUninitMem, ConstSizeOrZero, Anything],
        Integer
    ),
    proto!(
        114,
        "probe_read_user_str",
        [PtrToUninitMem, ConstSizeOrZero, Anything],
        Integer
    ),
    proto!(
        115,
        "probe_read_kernel_str",
        [PtrToUninitMem, ConstSizeOrZero, Anything],
        Integer
    ),
    proto!(118, "jiffies64", [], Integer),
    proto!(123, "get_current_ancestor_cgroup_id", [Anything], Integer),
    proto!(
        124,
        "sk_assign",
        [PtrToCtx, PtrToSocketOrNull, Anything],
        Integer
    ),
    proto!(125, "ktime_get_boot_ns", [], Integer),
    proto!(
        126,
        "seq_printf",
        [
            PtrToBtfId,
            PtrToReadableMem,
            ConstSize,
            PtrToReadableMem,
            ConstSizeOrZero
        ],
        Integer
    ),
    proto!(
        127,
        "seq_write",
        [PtrToBtfId, PtrToReadableMem, ConstSizeOrZero],
        Integer
    ),
    proto!(
        130,
        "ringbuf_output",
        [ConstMapPtr, PtrToReadableMem, ConstSizeOrZero, Anything],
        Integer
    ),
    proto!(
        131,
        "ringbuf_reserve",
        [ConstMapPtr, ConstAllocSizeOrZero, Anything],
        PtrToAllocMemOrNull
    ),
    proto!(132, "ringbuf_submit", [PtrToAllocMem, Anything], Void),
    proto!(133, "ringbuf_discard", [PtrToAllocMem, Anything], Void),
    proto!(134, "ringbuf_query", [ConstMapPtr, Anything], Integer),
    proto!(135, "csum_level", [PtrToCtx, Anything], Integer),
    proto!(
        141,
        "get_task_stack",
        [PtrToBtfId, PtrToUninitMem, ConstSizeOrZero, Anything],
        Integer
    ),
    proto!(151, "skb_cgroup_classid", [PtrToCtx], Integer),
    proto!(
        152,
        "redirect_neigh",
        [Anything, PtrToReadableMem, ConstSizeOrZero, Anything],
        Integer
    ),
    proto!(155, "redirect_peer", [Anything, Anything], Integer),
    proto!(
        156,
        "task_storage_get",
        [ConstMapPtr, PtrToBtfIdOrNull, PtrToMapValueOrNull, Anything],
        PtrToMapValueOrNull
    ),
    proto!(
        157,
        "task_storage_delete",
        [ConstMapPtr, PtrToBtfIdOrNull],
        Integer
    ),
    proto!(158, "get_current_task_btf", [], TrustedTask),
    proto!(160, "ktime_get_coarse_ns", [], Integer),
    proto!(
        163,
        "check_mtu",
        [PtrToCtx, Anything, PtrToU32, Anything, Anything],
        Integer
    ),
    proto!(
        164,
        "for_each_map_elem",
        [ConstMapPtr, PtrToFunc, PtrToStackOrNull, Anything],
        Integer
    ),
    proto!(
        165,
        "snprintf",
        [
            PtrToUninitMem,
            ConstSizeOrZero,
            PtrToConstStr,
            PtrToReadableMem,
            ConstSizeOrZero
        ],
        Integer
    ),
    proto!(173, "get_func_ip", [PtrToCtx], Integer),
    proto!(174, "get_attach_cookie", [PtrToCtx], Integer),
    proto!(
        181,
        "loop",
        [Anything, PtrToFunc, PtrToStackOrNull, Anything],
        Integer
    ),
    proto!(
        182,
        "strncmp",
        [PtrToReadableMem, ConstSize, PtrToConstStr],
        Integer
    ),
    proto!(188, "xdp_get_buff_len", [PtrToCtx], Integer),
    proto!(
        189,
        "xdp_load_bytes",
        [PtrToCtx, Anything, PtrToUninitMem, ConstSize],
        Integer
    ),
    proto!(
        190,
        "xdp_store_bytes",
        [PtrToCtx, Anything, PtrToReadableMem, ConstSize],
        Integer
    ),
    proto!(
        192,
        "skb_set_tstamp",
        [PtrToCtx, Anything, Anything],
        Integer
    ),
    proto!(208, "ktime_get_tai_ns", [], Integer),
    proto!(
        210,
        "cgrp_storage_get",
        [ConstMapPtr, PtrToBtfIdOrNull, PtrToMapValueOrNull, Anything],
        PtrToMapValueOrNull
    ),
    proto!(
        211,
        "cgrp_storage_delete",
        [ConstMapPtr, PtrToBtfIdOrNull],
        Integer
    ),
];

/// Prototypes of every helper Apiary provides, by ascending id.
pub fn helper_protos() -> impl Iterator<Item = &'static HelperProto> {
    PROTOS.iter()
}

/// The prototype of helper `id`, if Apiary provides it.
pub fn helper_proto(id: i32) -> Option<&'static HelperProto> {
    PROTOS.iter().find(|p| p.id == id)
}

/// `bpf_sk_storage_get_cg_sock_proto`: a `cgroup_sock` program's context
/// is the socket itself.
static SK_STORAGE_GET_CG_SOCK: HelperProto = proto!(
    107,
    "sk_storage_get",
    [ConstMapPtr, PtrToCtx, PtrToMapValueOrNull, Anything],
    PtrToMapValueOrNull
);

/// The prototype of helper `id` as a `prog_type` program gets it: a few
/// program types' `*_func_proto` return another prototype for the same
/// helper.
pub fn helper_proto_for(id: i32, prog_type: ProgType) -> Option<&'static HelperProto> {
    if id == SK_STORAGE_GET_CG_SOCK.id && prog_type == ProgType::CGROUP_SOCK {
        return Some(&SK_STORAGE_GET_CG_SOCK);
    }
    helper_proto(id)
}
