//! Program-type contexts: what `r1` points to when a program starts.
//!
//! This crate owns, per program type, the layout of the context the
//! runtime builds (the byte image of the UAPI struct the program sees,
//! followed by 64-bit host pointers for the fields the kernel turns into
//! pointers), the kernel's rules for which context fields a program may
//! read or write and how (`*_is_valid_access` in the kernel), a dataflow
//! analysis that finds every instruction that dereferences the context, and
//! the one-for-one rewrite of accepted accesses whose meaning differs
//! between the kernel and the image: loads of `data`, `data_end` and
//! `data_meta` become 64-bit loads of the internal pointers, and a few
//! narrow `__sk_buff` accesses are re-aimed so that they read and write
//! what the kernel's conversions read and write.
//!
//! It must not do what a verifier does beyond the context (packet bounds,
//! map values, helper arguments, uninitialised registers), must not execute
//! programs, and must not change the number of instructions (jump offsets,
//! func_info and line_info stay valid).
//!
//! ```
//! use apiary_context::{prepare, SKB_DATA};
//! use apiary_kernel::types::ProgType;
//!
//! let program = apiary_asm::assemble_slots(
//!     "r6 = r1
//!      r2 = *(u32 *)(r6 + 76)
//!      r0 = 0
//!      exit",
//! )
//! .unwrap();
//! // A tc program's load of __sk_buff.data becomes a 64-bit load of the
//! // internal pointer.
//! let prepared = prepare(ProgType::SCHED_CLS, &program).unwrap();
//! assert_eq!((prepared[1].code, prepared[1].off), (0x79, SKB_DATA as i16));
//! // A socket filter may not read it at all.
//! let refused = prepare(ProgType::SOCKET_FILTER, &program).unwrap_err();
//! assert_eq!(
//!     refused.to_string(),
//!     "insn 1: socket_filter programs may not read __sk_buff.data \
//!      (offset 76, 4 bytes): not available to this program type"
//! );
//! ```
//!
//! # What the runtime keeps in the image
//!
//! Accepted accesses read and write the image directly, so the runtime must
//! keep every field a program may read at the value the kernel would give
//! (`len`, `protocol` in network order in the low 16 bits, `pkt_type`,
//! `vlan_*`, `hash`, ... and the offsets behind `data`/`data_end`/
//! `data_meta`), and must read back the fields a program may write. The
//! rewrites make a few kernel conversions exact on that image:
//!
//! - a narrow load of a field whose `struct sk_buff` member is narrower than
//!   the load (a 2-byte load at `pkt_type + 2`, at `protocol + 2`, ...)
//!   returns the whole member in the kernel, so it is re-aimed at the
//!   field's start (4 bytes, or the same size when sign-extending);
//! - 4-byte stores to `tc_index` and `tc_classid` become 2-byte stores, as
//!   the kernel keeps only the low 16 bits.
//!
//! Left to the runtime: a store of 0xffff or more to `queue_mapping` is
//! ignored by the kernel but lands in the image; `sk` holds 0 (Apiary has
//! no sockets) and `flow_keys` 0, or for flow dissector runs the host
//! address of the `struct bpf_flow_keys` buffer; the image's
//! `remote_port` must hold `dport << 16` as the kernel computes it (only
//! cgroup_skb and sk_skb programs may read it). Tracepoint programs may
//! read aligned negative offsets, as the kernel allows; the runtime must
//! refuse those reads at run time, as they fall before the record.
//!
//! Contexts whose pointer fields are 8 bytes wide in the UAPI struct
//! (`bpf_sock_addr.sk`, `bpf_sockopt.sk`/`optval`/`optval_end`,
//! `bpf_sk_lookup.sk`, `bpf_nf_ctx.state`/`skb`) need no rewrite: the
//! runtime stores host addresses (or 0 for sockets) in the image. BTF-typed
//! programs (tracing, lsm, struct_ops) see up to 12 u64 argument slots,
//! read-only, at multiples of 8; the kernel's bound on the attach
//! function's argument count and its rule that pointer arguments are loaded
//! whole need the attach point's BTF: [`prepare_btf`] takes them as
//! [`BtfArguments`] ([`btf_arguments`] reads them from the kernel's BTF),
//! [`prepare_for`] cannot check them.
//!
//! # Precision
//!
//! The analysis joins paths where the kernel explores them one by one, so a
//! register holding the context on one path and something else on another
//! is refused where it is dereferenced, even if the kernel could prove the
//! other path never reaches the dereference (correlated branches). For the
//! same reason a subprogram's entry state is the join of all its call
//! sites, and its returned r0 the join of all its exits: a subprogram that
//! returns its argument and is called once with the context and once with
//! a scalar gives every caller a conflicting r0 (the kernel verifies each
//! call separately). Branches on known constants are folded as the kernel
//! folds them. A callee's stores through a pointer into its caller's frame
//! are not followed. A random differential against the kernel (see
//! `tests/kernel_dataflow.rs`) finds no disagreement on the flows clang
//! produces: copies, constant offsets, spills, calls and subprograms.

mod btf_args;
mod error;
mod flow;
mod layouts;
mod rewrite;
mod rules;

use apiary_isa::RawInsn;
use apiary_kernel::types::{AttachType, ProgType};

pub use btf_args::{AttachPoint, BtfArgumentsError, attach_point, btf_arguments};

/// The UAPI context structs, field by field (name, offset, size), as this
/// crate checks programs against them: the one source of the offsets the
/// runtime uses when it fills and reads the context images.
pub mod uapi {
    pub use crate::layouts::{Field, Struct, sk_buff, sk_lookup, xdp_md};
}
pub use error::{AccessKind, ContextError, Rule};

/// Offset of the 64-bit `data` pointer in the internal `__sk_buff` context.
pub const SKB_DATA: u32 = 192;
/// Offset of the 64-bit `data_end` pointer in the internal `__sk_buff` context.
pub const SKB_DATA_END: u32 = 200;
/// Offset of the 64-bit `data_meta` pointer in the internal `__sk_buff` context.
pub const SKB_DATA_META: u32 = 208;
/// Size of the internal `__sk_buff` context.
pub const SKB_INTERNAL_SIZE: u32 = 216;
/// Offset of the 64-bit `data` pointer in the internal `xdp_md` context.
pub const XDP_DATA: u32 = 24;
/// Offset of the 64-bit `data_end` pointer in the internal `xdp_md` context.
pub const XDP_DATA_END: u32 = 32;
/// Offset of the 64-bit `data_meta` pointer in the internal `xdp_md` context.
pub const XDP_DATA_META: u32 = 40;
/// Size of the internal `xdp_md` context.
pub const XDP_INTERNAL_SIZE: u32 = 48;

/// The kernel's `BPF_COMPLEXITY_LIMIT_INSNS`: no program it verifies is longer.
pub const MAX_PROGRAM_SLOTS: usize = 1_000_000;

/// The context a program type receives in `r1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextLayout {
    /// Name of the struct the program sees (`"__sk_buff"`, `"xdp_md"`,
    /// `"pt_regs"`, ...); `"embedder memory"` for [`ProgType::UNSPEC`] and
    /// `"unknown"` for types this crate does not cover.
    pub name: &'static str,
    /// Size of the struct the program sees, the prefix that `ctx_in` and
    /// `ctx_out` copy; the largest addressable size where the kernel gives
    /// only a bound (tracepoint records, syscall contexts); 0 where there is
    /// no bound or no knowledge.
    pub user_size: u32,
    /// Size of the runtime's internal context: the image plus host pointers.
    pub internal_size: u32,
}

/// One accepted context access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextAccess {
    /// Instruction (slot) index.
    pub insn: usize,
    /// How the instruction touches the context.
    pub kind: AccessKind,
    /// Offset into the context the program sees, as written in the program
    /// (negative only for tracepoints, whose kernel check lets aligned
    /// negative offsets through).
    pub off: i16,
    /// Size in bytes, as written in the program.
    pub size: u8,
    /// Whether the instruction was rewritten.
    pub rewritten: bool,
}

/// A program checked and rewritten for the runtime's internal context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// The program, as many slots as given.
    pub insns: Vec<RawInsn>,
    /// Every context access of a reachable instruction, in program order.
    pub accesses: Vec<ContextAccess>,
    /// One past the last context byte any access touches (the kernel's
    /// `max_ctx_offset`, which test-run compares with `ctx_size_in`).
    pub max_ctx_offset: u32,
}

/// What the kernel knows from the attach point's BTF about a BTF-typed
/// program's context (fentry, fexit, fmod_ret, tp_btf, lsm, struct_ops).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BtfArguments {
    /// Readable u64 slots: the attach function's arguments (for tp_btf,
    /// the tracepoint's, without its leading `void *` data), plus the
    /// return value for fexit, fmod_ret and lsm. At most 12.
    pub slots: u8,
    /// Bit `i` set: slot `i` holds a pointer, which loads must read whole.
    pub pointers: u16,
}

/// The context layout of `prog_type`.
pub fn layout(prog_type: ProgType) -> ContextLayout {
    layouts::layout_of(prog_type)
}

/// Whether [`prepare`] has context rules for `prog_type`.
pub fn is_covered(prog_type: ProgType) -> bool {
    prog_type == ProgType::UNSPEC || layouts::struct_of(prog_type).is_some()
}

/// Checks every context access of `insns` against `prog_type`'s rules and
/// returns the program with the accesses the runtime needs rewritten.
///
/// The expected attach type is taken as 0, as a loader that sets none does;
/// see [`prepare_for`] for `xdp` devmap programs.
pub fn prepare(prog_type: ProgType, insns: &[RawInsn]) -> Result<Vec<RawInsn>, ContextError> {
    prepare_for(prog_type, AttachType::default(), insns).map(|prepared| prepared.insns)
}

/// [`prepare`] for a program verified with `expected_attach_type`, with the
/// list of context accesses and `max_ctx_offset`.
///
/// [`ProgType::UNSPEC`] is the embedder's type: the context is plain caller
/// memory, any access goes and nothing is rewritten (the bytecode must still
/// decode).
pub fn prepare_for(
    prog_type: ProgType,
    expected_attach_type: AttachType,
    insns: &[RawInsn],
) -> Result<Prepared, ContextError> {
    if prog_type == ProgType::UNSPEC {
        apiary_isa::decode_program(insns)?;
        return Ok(Prepared {
            insns: insns.to_vec(),
            accesses: Vec::new(),
            max_ctx_offset: 0,
        });
    }
    if !is_covered(prog_type) {
        return Err(ContextError::Unsupported { prog_type });
    }
    prepare_target(
        rules::Target {
            prog_type,
            attach_type: expected_attach_type,
            btf_args: None,
        },
        insns,
    )
}

/// [`prepare_for`] for a BTF-typed program (tracing, lsm, struct_ops)
/// whose attach point's arguments are known: slots past them are refused
/// and pointer slots must be loaded whole, as the kernel's `btf_ctx_access`
/// decides from the attach point's BTF.
pub fn prepare_btf(
    prog_type: ProgType,
    expected_attach_type: AttachType,
    args: BtfArguments,
    insns: &[RawInsn],
) -> Result<Prepared, ContextError> {
    if !matches!(
        prog_type,
        ProgType::TRACING | ProgType::LSM | ProgType::STRUCT_OPS
    ) {
        return Err(ContextError::Unsupported { prog_type });
    }
    prepare_target(
        rules::Target {
            prog_type,
            attach_type: expected_attach_type,
            btf_args: Some(args),
        },
        insns,
    )
}

/// What a load from an accepted context access gives the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loaded {
    /// A plain value.
    Scalar,
    /// The packet start pointer (`data`).
    PacketStart,
    /// The packet end pointer (`data_end`).
    PacketEnd,
    /// The metadata start pointer (`data_meta`).
    PacketMeta,
    /// `__sk_buff.flow_keys` of a flow dissector.
    FlowKeys,
    /// A socket field (`sk`) that may be NULL: `sock_common_or_null` in
    /// `__sk_buff`, `sock_or_null` elsewhere.
    SocketOrNull,
    /// A socket field that is never NULL (`bpf_sockopt.sk`, `bpf_sock_addr.sk`,
    /// `sk_msg_md.sk`).
    Socket,
}

/// Checks one context access at a known offset against the program type's
/// rules, as the kernel's `is_valid_access` does for its verifier, and says
/// what a load there gives. Types without rules here refuse every access.
pub fn check_access(
    prog_type: ProgType,
    expected_attach_type: AttachType,
    btf_args: Option<BtfArguments>,
    off: i64,
    size: u32,
    kind: AccessKind,
) -> Result<Loaded, Rule> {
    if prog_type == ProgType::UNSPEC {
        return Ok(Loaded::Scalar);
    }
    if !is_covered(prog_type) {
        return Err(Rule::NotAvailable);
    }
    let target = rules::Target {
        prog_type,
        attach_type: expected_attach_type,
        btf_args,
    };
    let fixup = rules::check(target, rules::Access { off, size, kind })?;
    if let Some(field) = pointer_field(prog_type, off) {
        return Ok(field);
    }
    let Some(fixup) = fixup.filter(|f| f.size == apiary_isa::Size::DW) else {
        return Ok(Loaded::Scalar);
    };
    let (data, end, meta) = if prog_type == ProgType::XDP {
        (XDP_DATA, XDP_DATA_END, XDP_DATA_META)
    } else {
        (SKB_DATA, SKB_DATA_END, SKB_DATA_META)
    };
    Ok(match fixup.off {
        o if o == data => Loaded::PacketStart,
        o if o == end => Loaded::PacketEnd,
        o if o == meta => Loaded::PacketMeta,
        _ => Loaded::Scalar,
    })
}

/// Pointer fields other than the packet's that a load at `off` reads.
fn pointer_field(prog_type: ProgType, off: i64) -> Option<Loaded> {
    use layouts::{sk_buff, sk_lookup, sk_msg_md, sock_addr, sock_ops, sockopt};
    let at = |field: uapi::Field| off == i64::from(field.off);
    Some(match prog_type {
        ProgType::FLOW_DISSECTOR if at(sk_buff::FLOW_KEYS) => Loaded::FlowKeys,
        t if layouts::is_skb_type(t) && at(sk_buff::SK) => Loaded::SocketOrNull,
        ProgType::CGROUP_SOCKOPT if at(sockopt::OPTVAL) => Loaded::PacketStart,
        ProgType::CGROUP_SOCKOPT if at(sockopt::OPTVAL_END) => Loaded::PacketEnd,
        ProgType::CGROUP_SOCKOPT if at(sockopt::SK) => Loaded::Socket,
        ProgType::CGROUP_SOCK_ADDR if at(sock_addr::SK) => Loaded::Socket,
        ProgType::SK_LOOKUP if at(sk_lookup::SK) => Loaded::SocketOrNull,
        ProgType::SOCK_OPS if at(sock_ops::SK) => Loaded::SocketOrNull,
        ProgType::SK_MSG if at(sk_msg_md::SK) => Loaded::Socket,
        ProgType::SK_MSG if at(sk_msg_md::DATA) => Loaded::PacketStart,
        ProgType::SK_MSG if at(sk_msg_md::DATA_END) => Loaded::PacketEnd,
        _ => return None,
    })
}

fn prepare_target(target: rules::Target, insns: &[RawInsn]) -> Result<Prepared, ContextError> {
    if insns.len() > MAX_PROGRAM_SLOTS {
        return Err(ContextError::TooLarge {
            len: insns.len(),
            limit: MAX_PROGRAM_SLOTS,
        });
    }
    let decoded = apiary_isa::decode_program(insns)?;
    let flow = flow::analyze(decoded)?;
    rewrite::check_and_rewrite(target, &flow, insns)
}
