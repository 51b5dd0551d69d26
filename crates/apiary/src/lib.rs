//! Apiary: a complete implementation of eBPF in Rust that runs in user space.
//!
//! This facade owns nothing but names: it re-exports the public API of the
//! `apiary-*` crates so that users depend on one crate. It must not add
//! behaviour of its own; every type lives in the crate that owns it.
//!
//! - [`isa`]: typed instructions, lossless decode and encode.
//! - [`asm`]: assembler and disassembler (kernel/LLVM and uBPF syntax).
//! - [`vm`]: the memory-safe interpreter.
//! - [`btf`]: BTF and BTF.ext parsing, bpftool-identical dumps.
//! - [`maps`]: the kernel's map types in user space.
//! - [`kernel`]: `bpf(2)` wrappers, the oracle backend.
//!
//! ```
//! use apiary::isa::{decode_program, slots_from_bytes, Insn};
//!
//! // mov r0, 42; exit
//! let bytes = [0xb7, 0x00, 0, 0, 42, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
//! let slots = slots_from_bytes(&bytes).unwrap();
//! let program = decode_program(&slots).unwrap();
//! assert_eq!(program.len(), 2);
//! assert_eq!(program[1], Some(Insn::Exit));
//! ```

pub use apiary_asm as asm;
pub use apiary_btf as btf;
pub use apiary_isa as isa;
pub use apiary_kernel as kernel;
pub use apiary_maps as maps;
pub use apiary_vm as vm;
