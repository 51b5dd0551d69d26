//! The kernel's eBPF verifier, in user space.
//!
//! This crate decides, before a program runs, whether the Linux kernel
//! (6.18) would accept it, by abstract interpretation as the kernel's
//! `kernel/bpf/verifier.c` does, and says in plain words why when it would
//! not ([`Rejection`]). It models a privileged loader (`CAP_SYS_ADMIN`),
//! as Apiary's kernel backend loads as root. One concern per file:
//!
//! - values: [`tnum`] (known bits), [`scalar`] (bounds and their
//!   synchronisation), [`alu`] (arithmetic transfer functions), [`branch`]
//!   (deciding and refining comparisons);
//! - registers and memory: `regs` (pointer types, ids, ranges), `stack`
//!   (8-byte slots, spills and fills), `state` (frames and references);
//! - instructions: `arith` (arithmetic on registers, pointer rules), `mem`
//!   (loads and stores by pointer type, with the context rules of
//!   `apiary-context`), `pkt` (packet ranges from `data_end` comparisons),
//!   `jump` (conditional jumps, NULL checks), `call` (helper calls against
//!   [`helpers`]' prototypes, [`helper_access`]'s per-program-type and
//!   GPL-only lists, and `map_funcs`' map types);
//! - the walk: `cfg` (checks before it), `liveness`, `prune` (state
//!   pruning), `explore` (paths, limits, exits); `object` verifies the
//!   programs of an `apiary-loader` object.
//!
//! `diagnostic` tells a rejection in terms of the C source (the
//! expression underlined, the check that proved a packet range, a fix
//! naming the variable).
//!
//! It owns the verdict and the diagnostics. It must not run programs (that
//! is `apiary-vm`), create maps or call helpers (`apiary-runtime`), or read
//! ELF (`apiary-loader` does, and hands it the relocated programs): it
//! receives instructions and their metadata ([`Program`]) and hands back a
//! verdict. It does not depend on
//! the runtime; the helper prototypes both need live here.
//!
//! Not yet modelled (each a known source of disagreement with the
//! kernel): precision tracking (pruning treats every scalar as precise),
//! callbacks other than `bpf_loop`'s and `for_each_map_elem`'s (each
//! entered once, not per iteration), global functions verified on their
//! own, kfuncs, spin locks, timers, dynptrs and iterators, load flags
//! (`sleepable`), Spectre hardening (irrelevant to a root loader), and the
//! BTF types of tracing contexts and `BTF_ID` pointers.
//! `tests/case_disagreements.txt` lists every case of `tests/verifier`
//! where the verdict or final line still differs, with the reason.

// A rejection is built once, when verification stops; its size on the
// error path costs nothing worth boxing every internal result for.
#![allow(clippy::result_large_err)]

pub mod alu;
mod arith;
mod bounds;
pub mod branch;
mod call;
mod cfg;
mod diagnostic;
mod error;
mod explore;
pub mod helper_access;
pub mod helpers;
mod jump;
mod liveness;
mod map_funcs;
mod mem;
mod object;
mod pkt;
mod program;
mod prune;
mod regs;
pub mod scalar;
mod stack;
mod state;
pub mod tnum;

pub use error::{PacketAccess, Rejection, SourceLine, Stats};
pub use explore::{Accepted, INSN_LIMIT, JMP_SEQ_LIMIT, verify};
pub use object::{ProgramVerdict, map_info, map_infos, verify_object, verify_program};
pub use program::{MapInfo, Program};
pub use regs::{RegState, RegType};
pub use scalar::{InvariantViolation, Scalar, ViolationKind};
pub use tnum::Tnum;
