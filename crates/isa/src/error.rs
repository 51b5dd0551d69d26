use thiserror::Error;

/// An invalid encoding, with the index of the slot it was found at.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("instruction {index}: {kind}")]
pub struct DecodeError {
    /// Slot index (in 8-byte units) of the offending instruction.
    pub index: usize,
    /// What is wrong with it.
    pub kind: DecodeErrorKind,
}

/// What makes an encoding invalid.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DecodeErrorKind {
    /// The opcode byte names no instruction.
    #[error("unknown opcode {0:#04x}")]
    UnknownOpcode(u8),
    /// A register field is above r10.
    #[error("invalid {field} register r{value}")]
    BadRegister {
        /// `"destination"` or `"source"`.
        field: &'static str,
        /// The register number found.
        value: u8,
    },
    /// A field that this opcode does not use is not zero.
    #[error("opcode {code:#04x} has reserved field {field} = {value}, which must be 0")]
    ReservedField {
        /// The opcode byte.
        code: u8,
        /// `"dst"`, `"src"`, `"off"` or `"imm"`.
        field: &'static str,
        /// The value found.
        value: i64,
    },
    /// A field has a value outside the set this opcode allows.
    #[error("opcode {code:#04x} has invalid {field} = {value}")]
    BadField {
        /// The opcode byte.
        code: u8,
        /// The field's name.
        field: &'static str,
        /// The value found.
        value: i64,
    },
    /// A 64-bit immediate load is missing its second slot.
    #[error("lddw is truncated: its second slot is missing")]
    TruncatedLdImm64,
    /// The second slot of a 64-bit immediate load is not `{0, 0, 0, 0, imm}`.
    #[error("lddw second slot must have opcode, registers and offset 0")]
    BadLdImm64Second,
    /// A jump or call lands outside the program or inside a 64-bit immediate load.
    #[error("jump to {target} is outside the program (0..{len}) or inside an lddw")]
    JumpOutOfRange {
        /// The computed target slot.
        target: i64,
        /// The program length in slots.
        len: usize,
    },
    /// Bytecode length is not a multiple of 8.
    #[error("bytecode length {len} is not a multiple of 8")]
    TrailingBytes {
        /// The length found.
        len: usize,
    },
}
