//! Typed errors of CO-RE resolution and instruction patching.

use apiary_btf::{BtfError, BtfKind, CoreReloKind, TypeId};

/// Why a CO-RE relocation could not be resolved or applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    /// The local or target BTF could not answer a query (bad id, loop,
    /// type without size...).
    #[error("BTF query failed: {0}")]
    Btf(#[from] BtfError),
    /// The access string is not a `:`-separated list of indices fitting the
    /// relocation kind.
    #[error("access string {access:?} is malformed: {reason}")]
    BadAccessString {
        /// The access string as found in the local BTF.
        access: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An access string element indexes past the end of a struct, union,
    /// enum or array of the local type.
    #[error(
        "access string {access:?} element #{position}: index {index} is out of range for [{type_id}] {kind} with {limit} entries"
    )]
    AccessOutOfRange {
        /// The access string.
        access: String,
        /// Position of the element in the access string.
        position: usize,
        /// The index found there.
        index: u32,
        /// The type being indexed.
        type_id: TypeId,
        /// Its kind.
        kind: BtfKind,
        /// Number of members, enumerators or elements.
        limit: u32,
    },
    /// The access string descends into a type that has neither members nor
    /// elements (or the root of an enum relocation is not an enum).
    #[error(
        "access string {access:?} element #{position} reaches [{type_id}] of kind {kind}, which it cannot index"
    )]
    UnexpectedKind {
        /// The access string.
        access: String,
        /// Position of the element in the access string.
        position: usize,
        /// The type reached.
        type_id: TypeId,
        /// Its kind.
        kind: BtfKind,
    },
    /// Access path deeper than libbpf's `BPF_CORE_SPEC_MAX_LEN` (64).
    #[error("access path is deeper than {limit} levels")]
    SpecTooLong {
        /// The limit.
        limit: usize,
    },
    /// A bit offset does not fit in 32 bits.
    #[error("bit offset of the access overflows 32 bits")]
    OffsetOverflow,
    /// Only TYPE_ID_LOCAL may name an anonymous root type (libbpf's
    /// `-EOPNOTSUPP`).
    #[error("{} relocation of anonymous type [{type_id}] is not supported (no name to search candidates by)", .kind.name())]
    AnonymousType {
        /// The local root type.
        type_id: TypeId,
        /// The relocation kind.
        kind: CoreReloKind,
    },
    /// An array-element access was asked for something only fields have.
    #[error("{} relocation cannot be applied to an array element access", .kind.name())]
    ArrayAccessKind {
        /// The relocation kind.
        kind: CoreReloKind,
    },
    /// A bitfield straddles more than 8 bytes and cannot be read at once.
    #[error(
        "bitfield at bit offset {bit_offset} with {bit_size} bits cannot be read with a 64-bit load"
    )]
    BitfieldTooWide {
        /// Bit offset of the bitfield from the root.
        bit_offset: u32,
        /// Width in bits.
        bit_size: u32,
    },
    /// Two matching candidates put the field at different bit offsets.
    #[error(
        "field offset ambiguity: candidate [{first}] gives bit offset {first_bit_offset}, candidate [{second}] gives {second_bit_offset}"
    )]
    AmbiguousOffset {
        /// The first matching candidate.
        first: TypeId,
        /// Its bit offset.
        first_bit_offset: u32,
        /// The disagreeing candidate.
        second: TypeId,
        /// Its bit offset.
        second_bit_offset: u32,
    },
    /// Two matching candidates give different values or poison decisions.
    #[error(
        "relocation decision ambiguity: candidate [{first}] gives {first_value}{}, candidate [{second}] gives {second_value}{}",
        if *.first_poison { " (poison)" } else { "" },
        if *.second_poison { " (poison)" } else { "" }
    )]
    AmbiguousValue {
        /// The first matching candidate.
        first: TypeId,
        /// Its value.
        first_value: u64,
        /// Whether it asked for poisoning.
        first_poison: bool,
        /// The disagreeing candidate.
        second: TypeId,
        /// Its value.
        second_value: u64,
        /// Whether it asked for poisoning.
        second_poison: bool,
    },
    /// Type comparison recursed deeper than libbpf allows (32 levels).
    #[error("type comparison of local [{local}] and target [{target}] recursed too deep")]
    TooDeep {
        /// Local type.
        local: TypeId,
        /// Target type.
        target: TypeId,
    },
    /// The relocation cannot be satisfied against the target and the caller
    /// asked for an error instead of libbpf's instruction poisoning.
    #[error("{} relocation cannot be satisfied by the target BTF: {reason}", .kind.name())]
    Unsatisfied {
        /// The relocation kind.
        kind: CoreReloKind,
        /// No matching candidate, or unsafe memory size change.
        reason: &'static str,
    },
    /// The instruction does not have the form the relocation expects.
    #[error("instruction {index}: {reason}")]
    Patch {
        /// Slot index of the instruction.
        index: usize,
        /// What is wrong.
        reason: PatchError,
    },
    /// A record of a program's relocation list failed.
    #[error("CO-RE relocation #{record} (instruction offset {insn_off}): {source}")]
    Record {
        /// Index of the record.
        record: usize,
        /// Its byte offset into the instructions.
        insn_off: u32,
        /// The underlying failure.
        source: Box<CoreError>,
    },
}

/// What is wrong with an instruction a CO-RE relocation points at (the
/// reasons libbpf's `bpf_core_patch_insn` refuses to patch).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// Index past the end of the program (or the second slot of an lddw is
    /// missing).
    #[error("out of range for a program of {len} slots")]
    OutOfRange {
        /// Number of slots.
        len: usize,
    },
    /// The record's byte offset is not a multiple of 8.
    #[error("instruction byte offset {0} is not a multiple of 8")]
    Misaligned(u32),
    /// An ALU instruction with a register source has no immediate to patch.
    #[error("ALU instruction with a register source cannot carry a relocated immediate")]
    RegisterSource,
    /// The instruction's current value is not what the local BTF predicts
    /// (the object and its BTF disagree).
    #[error("{what} is {found}, but the local BTF says {expected}")]
    UnexpectedValue {
        /// `"ALU immediate"`, `"memory offset"` or `"lddw immediate"`.
        what: &'static str,
        /// Value in the instruction (sign-extended).
        found: i64,
        /// Value computed from the local BTF.
        expected: u64,
    },
    /// The new memory offset does not fit in the 16-bit offset field.
    #[error("relocated memory offset {0} exceeds 32767")]
    OffsetTooLarge(u64),
    /// The access size of a load/store differs from the local field size.
    #[error("memory access of {found} bytes, but the local field is {expected} bytes")]
    UnexpectedMemSize {
        /// Access size of the instruction.
        found: usize,
        /// Field size in the local BTF.
        expected: u32,
    },
    /// The target field size is no load/store size (1, 2, 4 or 8).
    #[error("target field size {0} is not a valid memory access size")]
    InvalidNewMemSize(u32),
    /// An lddw with a pseudo source or non-zero reserved fields.
    #[error("lddw has an unexpected form (pseudo source, offset or second-slot fields set)")]
    BadLdImm64,
    /// An instruction class CO-RE cannot patch.
    #[error("instruction with opcode {0:#04x} cannot be relocated")]
    Unrelocatable(u8),
    /// The patched slots no longer decode (typed patching only).
    #[error("patched instruction does not decode: {0}")]
    Decode(String),
}
