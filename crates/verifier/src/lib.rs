//! The kernel's eBPF verifier, in user space.
//!
//! This crate decides, before a program runs, whether the Linux kernel
//! (6.18) would accept it, by abstract interpretation as the kernel's
//! `kernel/bpf/verifier.c` does, and says in plain words why when it would
//! not. It is built bottom-up, one concern per file:
//!
//! - [`tnum`]: tristate numbers, what is known about each bit;
//! - [`scalar`]: a scalar's abstract value (tnum plus signed and unsigned
//!   64- and 32-bit bounds) and the kernel's bound synchronisation;
//! - [`alu`]: the kernel's transfer functions for arithmetic;
//! - [`branch`]: deciding conditional jumps and refining both operands on
//!   each side.
//!
//! It owns the verdict and the diagnostics. It must not run programs (that
//! is `apiary-vm`), create maps or call helpers (`apiary-runtime`), or read
//! ELF (`apiary-loader`): it receives relocated instructions and their
//! metadata and hands back a verdict. It does not depend on the runtime;
//! what both need (helper prototypes) lives where both can use it.

pub mod alu;
mod bounds;
pub mod branch;
pub mod helpers;
pub mod scalar;
pub mod tnum;

pub use scalar::{InvariantViolation, Scalar, ViolationKind};
pub use tnum::Tnum;
