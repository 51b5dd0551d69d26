//! The eBPF instruction set: RFC 9669 and the Linux kernel's cpu v1-v4.
//!
//! This crate owns the binary form of eBPF instructions: the raw 8-byte slot
//! ([`RawInsn`]), the typed instruction ([`Insn`]) and the lossless mapping
//! between them ([`Insn::decode`], [`Insn::encode`], [`decode_program`]).
//! Every valid encoding decodes to exactly one `Insn` and encodes back to the
//! same bytes; every invalid one is refused with a [`DecodeError`] that names
//! the instruction index and the offending field.
//!
//! It must not know about text syntax (the `apiary-asm` crate), execution
//! semantics (the `apiary-vm` crate) or what the verifier would accept: an
//! instruction that decodes here may still be rejected by a verifier (a shift
//! by 99, a write to `r10`), because those are rules about programs, not
//! about encodings.

mod decode;
mod encode;
pub use encode::encode_program;
mod error;
mod insn;
pub mod opcode;

pub use decode::{decode_program, decode_slots};
pub use error::{DecodeError, DecodeErrorKind};
pub use insn::*;

/// Number of bytes in one instruction slot.
pub const INSN_SIZE: usize = 8;

/// One 8-byte instruction slot, as the kernel's `struct bpf_insn`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RawInsn {
    /// The opcode byte.
    pub code: u8,
    /// Destination register (low nibble of byte 1).
    pub dst: u8,
    /// Source register (high nibble of byte 1).
    pub src: u8,
    /// Signed 16-bit offset.
    pub off: i16,
    /// Signed 32-bit immediate.
    pub imm: i32,
}

impl RawInsn {
    /// Reads a little-endian slot.
    pub fn from_le_bytes(b: [u8; 8]) -> Self {
        RawInsn {
            code: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// Writes a little-endian slot. Register fields are truncated to 4 bits.
    pub fn to_le_bytes(self) -> [u8; 8] {
        let off = self.off.to_le_bytes();
        let imm = self.imm.to_le_bytes();
        [
            self.code,
            (self.dst & 0x0f) | (self.src << 4),
            off[0],
            off[1],
            imm[0],
            imm[1],
            imm[2],
            imm[3],
        ]
    }

    /// Reads a slot from a 64-bit word as the conformance suite's `-- raw`
    /// sections and the kernel's `bpf_insn` on a little-endian host store it.
    pub fn from_u64(word: u64) -> Self {
        Self::from_le_bytes(word.to_le_bytes())
    }

    /// The slot as a little-endian 64-bit word.
    pub fn to_u64(self) -> u64 {
        u64::from_le_bytes(self.to_le_bytes())
    }
}

/// Splits little-endian bytecode into slots; the length must be a multiple of 8.
pub fn slots_from_bytes(bytes: &[u8]) -> Result<Vec<RawInsn>, DecodeError> {
    if !bytes.len().is_multiple_of(INSN_SIZE) {
        return Err(DecodeError {
            index: bytes.len() / INSN_SIZE,
            kind: DecodeErrorKind::TrailingBytes { len: bytes.len() },
        });
    }
    Ok(bytes
        .chunks_exact(INSN_SIZE)
        .map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            RawInsn::from_le_bytes(b)
        })
        .collect())
}

/// Joins slots into little-endian bytecode.
pub fn slots_to_bytes(slots: &[RawInsn]) -> Vec<u8> {
    slots.iter().flat_map(|s| s.to_le_bytes()).collect()
}
