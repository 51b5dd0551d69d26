//! Typed errors for BTF parsing, queries and dumping.

use crate::types::{BtfKind, TypeId};

/// What went wrong while parsing or querying `.BTF` data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtfError {
    /// The blob is shorter than the fixed header.
    #[error("BTF data is {len} bytes, too short for a {need}-byte header")]
    TruncatedHeader {
        /// Bytes available.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// Neither little- nor big-endian `0xeB9F`.
    #[error("invalid BTF magic {0:#06x} (expected 0xeb9f)")]
    BadMagic(u16),
    /// Version other than 1.
    #[error("unsupported BTF version {0} (expected 1)")]
    UnsupportedVersion(u8),
    /// Non-zero header flags.
    #[error("unsupported BTF header flags {0:#x}")]
    UnsupportedFlags(u8),
    /// `hdr_len` smaller than the known header or larger than the data.
    #[error("BTF header length {hdr_len} is invalid for {len} bytes of data")]
    BadHeaderLength {
        /// The declared header length.
        hdr_len: u32,
        /// Total data length.
        len: usize,
    },
    /// Header bytes beyond the known fields are not zero.
    #[error("BTF header has non-zero bytes beyond the fields this parser knows")]
    NonZeroHeaderTail,
    /// A section does not fit in the data.
    #[error(
        "BTF {section} section (offset {off}, length {len}) exceeds the {avail} bytes after the header"
    )]
    SectionOutOfBounds {
        /// `"type"` or `"string"`.
        section: &'static str,
        /// Offset after the header.
        off: u32,
        /// Declared length.
        len: u32,
        /// Bytes available after the header.
        avail: usize,
    },
    /// The type section runs into the string section.
    #[error(
        "BTF type section (offset {type_off}, length {type_len}) overlaps the string section at {str_off}"
    )]
    SectionsOverlap {
        /// Type section offset.
        type_off: u32,
        /// Type section length.
        type_len: u32,
        /// String section offset.
        str_off: u32,
    },
    /// The type section does not start on a 4-byte boundary.
    #[error("BTF type section offset {0} is not 4-byte aligned")]
    MisalignedTypeSection(u32),
    /// Empty, too large, not NUL-terminated, or not starting with "".
    #[error("invalid BTF string section: {0}")]
    BadStringSection(&'static str),
    /// Strings are not UTF-8.
    #[error("BTF string at offset {0} is not valid UTF-8")]
    InvalidUtf8(u32),
    /// A string offset beyond the string section.
    #[error("string offset {off} is beyond the {len}-byte string section")]
    StringOffsetOutOfRange {
        /// The offset.
        off: u32,
        /// String section length.
        len: usize,
    },
    /// Kind number 0 or above the last known kind.
    #[error("type [{id}]: unknown BTF kind {kind}")]
    UnknownKind {
        /// Type id being parsed.
        id: u32,
        /// Raw kind number.
        kind: u8,
    },
    /// A type's fixed or variable part runs past the type section.
    #[error("type [{id}] is truncated by the end of the type section")]
    TruncatedType {
        /// Type id being parsed.
        id: u32,
    },
    /// More types than BTF ids can address.
    #[error("too many BTF types (limit {limit})")]
    TooManyTypes {
        /// The maximum.
        limit: u32,
    },
    /// Invalid `BTF_KIND_INT` description.
    #[error("type [{id}]: invalid INT: {reason}")]
    BadInt {
        /// Type id.
        id: u32,
        /// What is wrong.
        reason: &'static str,
    },
    /// Linkage value out of range.
    #[error("type [{id}]: invalid {kind} linkage {linkage}")]
    BadLinkage {
        /// Type id.
        id: u32,
        /// FUNC or VAR.
        kind: BtfKind,
        /// Raw linkage.
        linkage: u32,
    },
    /// A reference to a type id that does not exist.
    #[error("type [{id}] refers to type id {target}, but only ids below {count} exist")]
    TypeIdOutOfRange {
        /// Referring type id (0 when the reference came from a caller).
        id: u32,
        /// The missing id.
        target: u32,
        /// Number of types including void.
        count: u32,
    },
    /// A FUNC whose type is not a FUNC_PROTO.
    #[error("FUNC [{id}] refers to [{target}] which is {found}, not FUNC_PROTO")]
    FuncNotProto {
        /// FUNC id.
        id: u32,
        /// Referenced id.
        target: u32,
        /// What the referenced type is.
        found: BtfKind,
    },
    /// A chain of references longer than the resolution limit (usually a loop).
    #[error("type [{0}]: reference chain too deep or looping")]
    ResolveDepthExceeded(TypeId),
    /// A type without a size (void, func, func_proto, fwd...).
    #[error("type [{id}] of kind {kind} has no size")]
    NoSize {
        /// The type reached.
        id: TypeId,
        /// Its kind.
        kind: BtfKind,
    },
    /// The computed size does not fit 32 bits, as in libbpf.
    #[error("size of type [{0}] overflows 32 bits")]
    SizeOverflow(TypeId),
    /// The operation needs a struct or union.
    #[error("type [{id}] is {kind}, not a struct or union")]
    NotComposite {
        /// Type id.
        id: TypeId,
        /// Its kind.
        kind: BtfKind,
    },
    /// The operation needs a data section.
    #[error("type [{0}] is not a DATASEC")]
    NotADatasec(TypeId),
    /// A data section variable has no ELF symbol giving its offset.
    #[error("variable {var} of {datasec} has no ELF symbol")]
    MissingSymbol {
        /// The section.
        datasec: String,
        /// The variable.
        var: String,
    },
}

/// What went wrong while parsing `.BTF.ext` data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtfExtError {
    /// The blob is shorter than the header it declares.
    #[error("BTF.ext data ({len} bytes) is too short for its header")]
    TruncatedHeader {
        /// Bytes available.
        len: usize,
    },
    /// Bad magic.
    #[error("invalid BTF.ext magic {0:#06x}")]
    BadMagic(u16),
    /// Version other than 1.
    #[error("unsupported BTF.ext version {0}")]
    UnsupportedVersion(u8),
    /// Non-zero flags.
    #[error("unsupported BTF.ext flags {0:#x}")]
    UnsupportedFlags(u8),
    /// Header declares a length shorter than the mandatory fields.
    #[error("BTF.ext header length {0} is shorter than the 24 mandatory bytes")]
    HeaderTooShort(u32),
    /// Nothing follows the header.
    #[error("BTF.ext has no data after its header")]
    NoData,
    /// A sub-section is malformed.
    #[error("BTF.ext {section}: {reason}")]
    BadInfo {
        /// `"func_info"`, `"line_info"` or `"core_relo"`.
        section: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A CO-RE relocation kind beyond those defined.
    #[error("CO-RE relocation kind {0} is unknown")]
    UnknownCoreReloKind(u32),
    /// A string reference could not be resolved against the `.BTF` strings.
    #[error("BTF.ext refers to a bad string: {0}")]
    BadString(#[from] BtfError),
}
