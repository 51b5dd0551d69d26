//! CO-RE (Compile Once – Run Everywhere) relocations for Apiary: given a
//! program's local BTF, a `.BTF.ext` CO-RE record and a target BTF (the
//! kernel's `/sys/kernel/btf/vmlinux`, or any other), compute the relocated
//! value and patch the instruction, with the semantics of libbpf's
//! `relo_core.c` (which the kernel shares for in-kernel CO-RE).
//!
//! This crate owns candidate search (names modulo `___flavor` suffixes),
//! the compatibility rules (`types_are_compat`, `fields_are_compat`,
//! `types_match`), access-string parsing and matching, the values of all 13
//! relocation kinds, ambiguity detection across candidates, and instruction
//! patching/poisoning. It must not parse ELF files, load programs, or know
//! anything about a program beyond the instruction slice it patches.
//!
//! - [`resolve`] / [`CoreRelocator::resolve`] compute a [`CoreResolution`];
//!   the relocator caches (and prunes) candidate lists per local type, which
//!   matters against vmlinux's ~100k types.
//! - [`apply`] patches raw slots, [`apply_typed`] typed instructions;
//!   [`OnUnsatisfied`] chooses libbpf's poisoning (`call 0xbad2310`) or an
//!   error when the target cannot satisfy a relocation.
//! - [`CoreRelocator::relocate`] does both for all records of a section.
//! - [`context_btf`] is the default target: the BTF of the context types
//!   Apiary runs programs with (`__sk_buff`, `xdp_md`, `pt_regs`, ...).
//!
//! ```no_run
//! # fn demo(local: &apiary_btf::Btf, relos: &[apiary_btf::CoreRelo],
//! #         insns: &mut [apiary_isa::RawInsn]) -> Result<(), Box<dyn std::error::Error>> {
//! let vmlinux = apiary_btf::Btf::parse(&std::fs::read("/sys/kernel/btf/vmlinux")?)?;
//! let mut relocator = apiary_coreloc::CoreRelocator::new(local, &vmlinux);
//! relocator.relocate(relos, insns, apiary_coreloc::OnUnsatisfied::Poison)?;
//! # Ok(()) }
//! ```

mod compat;
mod contexts;
mod error;
mod patch;
mod resolve;
mod spec;

pub use crate::compat::{
    essential_name, essential_name_len, fields_are_compat, types_are_compat, types_match,
};
pub use crate::contexts::{context_btf, context_btf_bytes};
pub use crate::error::{CoreError, PatchError};
pub use crate::patch::{
    AppliedRelo, OnUnsatisfied, POISON_HELPER_ID, apply, apply_typed, poison_insn,
};
pub use crate::resolve::{CoreRelocator, CoreResolution, find_candidates, resolve};
pub use crate::spec::MAX_SPEC_LEN;
