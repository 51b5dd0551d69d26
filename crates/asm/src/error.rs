//! Assembly errors: where in the text, and what is wrong.

use std::fmt;
use thiserror::Error;

/// An assembly error with its position: 1-based line and column, and the
/// offending source line so that the message stands on its own.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub struct AsmError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (in characters) of the offending token.
    pub column: usize,
    /// The source line as written.
    pub source_line: String,
    /// What is wrong.
    pub kind: AsmErrorKind,
}

impl fmt::Display for AsmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.kind
        )?;
        writeln!(f, "  | {}", self.source_line)?;
        write!(f, "  | {:>width$}", "^", width = self.column)
    }
}

/// What makes a line of assembly invalid.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum AsmErrorKind {
    /// The first word names no instruction.
    #[error("unknown mnemonic `{0}`")]
    UnknownMnemonic(String),
    /// Something that should be a register is not `r0`-`r10` (or `w`/`%r`).
    #[error("invalid register `{0}`")]
    BadRegister(String),
    /// A number does not fit the field it goes to.
    #[error("{what} {value} is out of range {range}")]
    OutOfRange {
        /// `"immediate"`, `"offset"`, `"jump offset"`, ...
        what: &'static str,
        /// The value as written.
        value: String,
        /// The accepted range, as `min..=max`.
        range: String,
    },
    /// A jump or call names a label that is never defined.
    #[error("undefined label `{0}`")]
    UndefinedLabel(String),
    /// A label is defined twice.
    #[error("label `{0}` is defined twice")]
    DuplicateLabel(String),
    /// The mnemonic takes a different number of operands.
    #[error("`{mnemonic}` takes {expected} operand(s), found {found}")]
    OperandCount {
        /// The mnemonic.
        mnemonic: String,
        /// How many it takes.
        expected: usize,
        /// How many were given.
        found: usize,
    },
    /// 32-bit and 64-bit register names mixed in one instruction.
    #[error("`{0}` mixes 32-bit (w) and 64-bit (r) registers")]
    MixedWidth(String),
    /// A token is not what the syntax allows at this point.
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What the syntax allows here.
        expected: String,
        /// What was found (`end of line` at the end).
        found: String,
    },
    /// A character that no token starts with.
    #[error("unexpected character `{0}`")]
    BadCharacter(char),
    /// The instruction cannot be encoded with these operands.
    #[error("invalid operands: {0}")]
    InvalidOperands(String),
}
