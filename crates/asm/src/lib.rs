//! Text forms of eBPF: an assembler and a disassembler.
//!
//! This crate owns the two textual syntaxes of eBPF instructions and the
//! mapping between them and [`apiary_isa::Insn`]:
//!
//! - LLVM/kernel syntax, as `llvm-objdump -d` and the verifier log print it
//!   (`r0 = *(u32 *)(r1 + 0x4)`, `if w1 s< 0x5 goto -0x3`, `lock *(u64 *)(r0 + 0x0) += r6`);
//! - ubpf syntax, as the bpf_conformance and uBPF test suites write it
//!   (`ldxw %r0, [%r1+4]`, `jslt32 %r1, 5, -3`, `lock fetch add [%r10-8], %r1`).
//!
//! [`assemble`] reads either (detected per line) with labels and comments and
//! reports one precise [`AsmError`] (line, column, the line itself and the
//! problem). [`format_insn`] writes one instruction losslessly;
//! [`disassemble`] writes a program exactly as `llvm-objdump-19 -d` does.
//!
//! It must not execute instructions, check programs the way a verifier
//! does, or read ELF files: callers hand it instructions or bytecode.

mod assemble;
mod cursor;
mod disasm;
mod error;
mod format;
mod lex;
mod llvm;
mod parse;
mod ubpf;

pub use assemble::{assemble, assemble_slots, assemble_with};
pub use disasm::{disassemble, disassemble_bytes, disassemble_with};
pub use error::{AsmError, AsmErrorKind};
pub use format::{FormatOptions, Syntax, format_insn, format_insn_with};
