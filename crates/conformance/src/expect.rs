//! The mapping between uBPF's error messages and Apiary's errors.
//!
//! uBPF's wording is not Apiary's, so a test expecting an error passes when
//! Apiary fails with an error of the same [`ErrorClass`]: both sides are
//! classified and compared, so a test cannot pass on just any error.

use apiary_isa::{DecodeErrorKind, opcode};

/// The kinds of failure the suites' `-- error` sections distinguish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// An opcode byte that names no instruction.
    UnknownOpcode,
    /// A register field above r10 (or r10 written where not allowed).
    BadRegister,
    /// A malformed `lddw`: truncated, bad second slot, bad source kind.
    BadLddw,
    /// A byte-swap instruction with a width other than 16, 32 or 64.
    BadEndianWidth,
    /// Some other field outside the values its opcode allows.
    BadField,
    /// A jump or call target outside the program or inside an `lddw`.
    JumpOutOfRange,
    /// A call to a helper that is not registered.
    UnknownHelper,
    /// A subprogram that can fall through its end.
    FallThroughSubprogram,
    /// A program that never terminates.
    InfiniteLoop,
    /// More instructions than allowed.
    TooManyInstructions,
    /// A load or store outside the memory the program may access.
    MemoryAccess,
    /// Bytecode whose length is not a multiple of 8.
    TruncatedBytecode,
}

/// Classifies one of uBPF's error messages; `None` when the message is not one Apiary maps.
pub fn classify_ubpf_message(message: &str) -> Option<ErrorClass> {
    let text = message.to_ascii_lowercase();
    // Order matters: "jump to middle of lddw" is about jumps, and
    // "invalid source register for lddw" is about lddw, not registers.
    let table: [(&str, ErrorClass); 15] = [
        ("jump to middle", ErrorClass::JumpOutOfRange),
        ("lddw", ErrorClass::BadLddw),
        ("unknown opcode", ErrorClass::UnknownOpcode),
        ("register", ErrorClass::BadRegister),
        ("endian", ErrorClass::BadEndianWidth),
        ("jump out of bounds", ErrorClass::JumpOutOfRange),
        ("nonexistent function", ErrorClass::UnknownHelper),
        ("does not end with exit", ErrorClass::FallThroughSubprogram),
        ("infinite loop", ErrorClass::InfiniteLoop),
        ("too many instructions", ErrorClass::TooManyInstructions),
        ("out of bounds memory", ErrorClass::MemoryAccess),
        ("address overflow", ErrorClass::MemoryAccess),
        ("address underflow", ErrorClass::MemoryAccess),
        ("integer overflow in", ErrorClass::MemoryAccess),
        ("not a multiple of 8", ErrorClass::TruncatedBytecode),
    ];
    table
        .iter()
        .find(|(needle, _)| text.contains(needle))
        .map(|&(_, class)| class)
}

/// Classifies a decode error from `apiary-isa`.
pub fn classify_decode_error(kind: &DecodeErrorKind) -> ErrorClass {
    match kind {
        DecodeErrorKind::UnknownOpcode(_) => ErrorClass::UnknownOpcode,
        DecodeErrorKind::BadRegister { .. } => ErrorClass::BadRegister,
        DecodeErrorKind::TruncatedLdImm64 | DecodeErrorKind::BadLdImm64Second => {
            ErrorClass::BadLddw
        }
        DecodeErrorKind::ReservedField { code, .. } | DecodeErrorKind::BadField { code, .. } => {
            classify_field_error(*code)
        }
        DecodeErrorKind::JumpOutOfRange { .. } => ErrorClass::JumpOutOfRange,
        DecodeErrorKind::TrailingBytes { .. } => ErrorClass::TruncatedBytecode,
    }
}

fn classify_field_error(code: u8) -> ErrorClass {
    let class = code & 0x07;
    let is_alu = class == opcode::BPF_ALU || class == opcode::BPF_ALU64;
    if code == opcode::BPF_LD | opcode::BPF_IMM | opcode::BPF_DW {
        ErrorClass::BadLddw
    } else if is_alu && code & 0xf0 == opcode::BPF_END {
        ErrorClass::BadEndianWidth
    } else {
        ErrorClass::BadField
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ubpf_error_message_in_the_suite_is_classified() {
        let expected = [
            (
                "Failed to load code: invalid lddw second half at PC 1",
                ErrorClass::BadLddw,
            ),
            (
                "Failed to load code: incomplete lddw at PC 0",
                ErrorClass::BadLddw,
            ),
            (
                "Failed to load code: invalid source register for LDDW at PC 0",
                ErrorClass::BadLddw,
            ),
            (
                "uBPF error: out of bounds memory store at PC 0, addr .*, size 1",
                ErrorClass::MemoryAccess,
            ),
            (
                "uBPF error: integer overflow in store at PC 2, addr .*, size 1",
                ErrorClass::MemoryAccess,
            ),
            (
                "uBPF error: address underflow in load at PC 1",
                ErrorClass::MemoryAccess,
            ),
            (
                "uBPF error: address overflow in store at PC 1",
                ErrorClass::MemoryAccess,
            ),
            (
                "Failed to load code: unknown opcode 0x06 at PC 0",
                ErrorClass::UnknownOpcode,
            ),
            (
                "Failed to load code: too many instructions (max 65536)",
                ErrorClass::TooManyInstructions,
            ),
            (
                "Failed to load code: sub-program does not end with EXIT or unconditional jump at PC 1",
                ErrorClass::FallThroughSubprogram,
            ),
            (
                "Failed to load code: jump to middle of lddw at PC 0",
                ErrorClass::JumpOutOfRange,
            ),
            (
                "Failed to load code: jump out of bounds at PC 4",
                ErrorClass::JumpOutOfRange,
            ),
            (
                "Failed to load code: invalid source register at PC 0",
                ErrorClass::BadRegister,
            ),
            (
                "Failed to load code: invalid destination register at PC 0",
                ErrorClass::BadRegister,
            ),
            (
                "Failed to load code: invalid endian immediate at PC 0",
                ErrorClass::BadEndianWidth,
            ),
            (
                "Failed to load code: infinite loop at PC 0",
                ErrorClass::InfiniteLoop,
            ),
            (
                "Failed to load code: call to nonexistent function 64 at PC 5",
                ErrorClass::UnknownHelper,
            ),
        ];
        for (message, class) in expected {
            assert_eq!(classify_ubpf_message(message), Some(class), "{message}");
        }
        assert_eq!(classify_ubpf_message("something else entirely"), None);
    }

    #[test]
    fn decode_errors_map_to_their_class() {
        let lddw_src = DecodeErrorKind::BadField {
            code: 0x18,
            field: "src",
            value: 9,
        };
        assert_eq!(classify_decode_error(&lddw_src), ErrorClass::BadLddw);
        let endian = DecodeErrorKind::BadField {
            code: 0xdc,
            field: "imm",
            value: 48,
        };
        assert_eq!(classify_decode_error(&endian), ErrorClass::BadEndianWidth);
        let other = DecodeErrorKind::ReservedField {
            code: 0x07,
            field: "off",
            value: 1,
        };
        assert_eq!(classify_decode_error(&other), ErrorClass::BadField);
        assert_eq!(
            classify_decode_error(&DecodeErrorKind::UnknownOpcode(6)),
            ErrorClass::UnknownOpcode
        );
    }
}
