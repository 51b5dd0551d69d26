//! Program-type contexts: what `r1` points to when a program starts.
//!
//! This crate owns, per program type, the layout of the context the
//! runtime builds (the byte image of the UAPI struct the program sees,
//! followed by 64-bit host pointers for the fields the kernel turns into
//! pointers), the kernel's rules for which context fields a program may
//! read or write and how (`*_is_valid_access` in the kernel), a dataflow
//! analysis that finds every instruction that dereferences the context, and
//! the one-for-one rewrite of loads of pointer fields (`data`, `data_end`,
//! `data_meta`) into 64-bit loads of the internal pointer fields.
//!
//! It must not do what a verifier does beyond the context (packet bounds,
//! map values, helper arguments), must not execute programs, and must not
//! change the number of instructions (jump offsets, func_info and line_info
//! stay valid).

use apiary_isa::{DecodeError, RawInsn};
use apiary_kernel::types::ProgType;

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

/// The context a program type receives in `r1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextLayout {
    /// Name of the struct the program sees (`"__sk_buff"`, `"xdp_md"`, ...).
    pub name: &'static str,
    /// Size of the struct the program sees: the prefix `ctx_in`/`ctx_out` copy.
    pub user_size: u32,
    /// Size of the runtime's internal context (the image plus host pointers).
    pub internal_size: u32,
}

/// Why a program's context accesses are refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// The bytecode does not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// This crate has no context rules for the program type.
    #[error("context rules for {prog_type} programs are not implemented")]
    Unsupported {
        /// The program type.
        prog_type: ProgType,
    },
}

/// The context layout of `prog_type`.
pub fn layout(prog_type: ProgType) -> ContextLayout {
    match prog_type {
        ProgType::XDP => ContextLayout {
            name: "xdp_md",
            user_size: 24,
            internal_size: XDP_INTERNAL_SIZE,
        },
        _ => ContextLayout {
            name: "__sk_buff",
            user_size: 192,
            internal_size: SKB_INTERNAL_SIZE,
        },
    }
}

/// Checks every context access of `insns` against `prog_type`'s rules and
/// returns the program with pointer-field loads rewritten.
///
/// Skeleton: the rules are not written yet; every type is refused.
pub fn prepare(prog_type: ProgType, insns: &[RawInsn]) -> Result<Vec<RawInsn>, ContextError> {
    apiary_isa::decode_program(insns)?;
    Err(ContextError::Unsupported { prog_type })
}
