//! Why a program's use of the context is refused.

use std::fmt;

use apiary_isa::DecodeError;
use apiary_kernel::types::ProgType;

/// How an instruction touches the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessKind {
    /// A load (`LDX MEM`).
    Read,
    /// A sign-extending load (`LDX MEMSX`, cpu v4).
    ReadSignExtend,
    /// A store of a register (`STX MEM`).
    Write,
    /// A store of an immediate (`ST MEM`).
    WriteImm,
    /// An atomic read-modify-write, load-acquire or store-release.
    Atomic,
}

impl AccessKind {
    /// Whether the access stores into the context (the kernel's `BPF_WRITE`).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            AccessKind::Write | AccessKind::WriteImm | AccessKind::Atomic
        )
    }
}

impl fmt::Display for AccessKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccessKind::Read => "read",
            AccessKind::ReadSignExtend => "sign-extend-read",
            AccessKind::Write => "write",
            AccessKind::WriteImm => "write an immediate to",
            AccessKind::Atomic => "atomically access",
        })
    }
}

/// The rule a refused context access breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The access starts before the context or at/after its end.
    OutOfRange {
        /// Size of the context the program type sees.
        size: u32,
    },
    /// The offset is not a multiple of the access size.
    Misaligned,
    /// The field may be read but not written.
    ReadOnly,
    /// The field exists but this program type may not touch it.
    NotAvailable,
    /// The field must be accessed with exactly this many bytes.
    MustBeSize(u8),
    /// Loads of the field may be at most this many bytes wide.
    AtMost(u8),
    /// The access runs past the end of the field (or array) it starts in.
    CrossesFieldEnd,
    /// The bytes are padding between fields.
    Padding,
    /// Sign-extending loads of pointer fields are refused.
    NoSignExtend,
    /// Atomic operations, load-acquire and store-release on the context are refused.
    NoAtomic,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::OutOfRange { size } => write!(f, "outside the {size}-byte context"),
            Rule::Misaligned => f.write_str("misaligned: the offset is not a multiple of the size"),
            Rule::ReadOnly => f.write_str("read-only"),
            Rule::NotAvailable => f.write_str("not available to this program type"),
            Rule::MustBeSize(n) => write!(f, "must be exactly {n} bytes wide"),
            Rule::AtMost(n) => write!(f, "loads must be at most {n} bytes wide"),
            Rule::CrossesFieldEnd => f.write_str("runs past the end of the field"),
            Rule::Padding => f.write_str("padding between fields"),
            Rule::NoSignExtend => f.write_str("sign-extending loads of pointer fields are refused"),
            Rule::NoAtomic => f.write_str("atomic operations on the context are refused"),
        }
    }
}

/// Why `prepare` refuses a program.
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
    /// The program has more slots than the kernel ever verifies.
    #[error("the program has {len} instruction slots, more than the kernel's limit of {limit}")]
    TooLarge {
        /// Slots in the program.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A context access the program type's rules refuse.
    #[error(
        "insn {insn}: {prog_type} programs may not {access} {field} (offset {off}, {size} bytes): {rule}"
    )]
    Access {
        /// Instruction (slot) index.
        insn: usize,
        /// The program type.
        prog_type: ProgType,
        /// The field, e.g. `__sk_buff.len`, `xdp_md+28`.
        field: String,
        /// How the instruction accesses it.
        access: AccessKind,
        /// Offset from the start of the context.
        off: i64,
        /// Access size in bytes.
        size: u8,
        /// The rule broken.
        rule: Rule,
    },
    /// A register that holds the context on one path and something else on
    /// another is dereferenced (the kernel's "same insn cannot be used with
    /// different pointers").
    #[error(
        "insn {insn}: same insn cannot be used with different pointers: r{reg} holds the context on one path and something else on another"
    )]
    MixedPointers {
        /// Instruction index.
        insn: usize,
        /// The base register.
        reg: u8,
    },
    /// A context pointer moved away from the start of the context is
    /// dereferenced; only the instruction's own offset may select a field.
    #[error("insn {insn}: dereference of modified ctx ptr r{reg} ({how}) disallowed")]
    ModifiedCtx {
        /// Instruction index.
        insn: usize,
        /// The base register.
        reg: u8,
        /// `off=8`, or what made the offset unknown.
        how: String,
    },
    /// A legacy packet load (`LD_ABS`/`LD_IND`) the kernel refuses.
    #[error("insn {insn}: BPF_LD_[ABS|IND] {reason}")]
    LegacyPacketLoad {
        /// Instruction index.
        insn: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Control flow the kernel refuses before looking at the context: a
    /// jump out of its function, or falling off the end of a function.
    #[error("insn {insn}: {reason}")]
    ControlFlow {
        /// Instruction index.
        insn: usize,
        /// What is wrong.
        reason: String,
    },
}

impl ContextError {
    /// The instruction the refusal is about, when there is one.
    pub fn insn(&self) -> Option<usize> {
        match self {
            ContextError::Decode(e) => Some(e.index),
            ContextError::Access { insn, .. }
            | ContextError::MixedPointers { insn, .. }
            | ContextError::ModifiedCtx { insn, .. }
            | ContextError::LegacyPacketLoad { insn, .. }
            | ContextError::ControlFlow { insn, .. } => Some(*insn),
            _ => None,
        }
    }
}
