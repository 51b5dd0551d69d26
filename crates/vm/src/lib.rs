//! A memory-safe eBPF interpreter.
//!
//! This crate owns execution: [`Program::new`] decodes bytecode once into a
//! compact form with absolute jump targets, and a [`Runner`] executes it with
//! RFC 9669 / Linux semantics (cpu v1-v4, atomics, `may_goto`, `LD_ABS`,
//! bpf-to-bpf calls up to 8 frames, tail calls, callbacks, an instruction
//! budget of [`DEFAULT_BUDGET`] per run unless changed). Every memory
//! access is checked against the active stack frames and the regions the
//! embedder or helpers made accessible; a violation is a [`RunError`],
//! never undefined behaviour.
//!
//! It must not parse text or ELF, implement particular kernel helpers or
//! maps (embedders register helpers in a [`Helpers`] table), verify
//! programs, or generate machine code: it runs any program that decodes,
//! safely.
//!
//! # Tiers
//! A compiling tier (`apiary-jit`) attaches native code to a [`Program`]
//! ([`Program::attach_compiled`], a [`CompiledCode`]); runners whose
//! [`Engine`] is `Compiled` (the default) run it instead of interpreting,
//! for the entry, callbacks and tail calls alike. Everything that decides
//! a result stays here and reaches the tier through [`TierRun`]: the
//! stacks and regions, the helper table and what helpers leave pending,
//! `LD_ABS`/`LD_IND`, the budget, and the construction of every
//! [`RunError`].
//!
//! # Memory model
//! Guest addresses are host addresses. A run may touch:
//! - the stacks of its active frames: 512 bytes each, `r10` at the top,
//!   separated by inaccessible gaps so that overrunning a frame faults
//!   instead of reaching the caller's stack (pointers to a caller's stack
//!   passed down to callees stay valid, as in the kernel). Stacks are not
//!   cleared between runs, like the kernel's uninitialised stack: use a
//!   separate [`Runner`] per trust domain, or [`Runner::clear_stacks`];
//! - the [`Region`]s of its [`RunInput`] (context, packet and headroom, map
//!   values, read-only data) and those helpers add while it runs
//!   ([`HelperContext::add_region`]).
//!
//! Everything else faults with [`RunError::MemoryFault`], which names the
//! region the access was meant for and where in it ([`FaultLocation`]:
//! `packet+5000 (the packet is 74 bytes)`, `stack frame 0 r10-520`), from
//! the [`RegionKind`] embedders give their regions. Atomics,
//! load-acquire and store-release use host atomics and must be aligned.
//!
//! # Loading
//! `lddw` with the pseudo kinds `MapFd`, `MapValue`, `BtfId`, `MapIdx` and
//! `MapIdxValue` loads the 64-bit immediate unchanged: the loader must have
//! put the address there. `Func` loads the target's slot index, which
//! [`HelperContext::call_function`] accepts. Kfunc calls, arena casts,
//! writes to `r10` and calls to helpers missing from the table are refused
//! at load time ([`LoadError`]).
//!
//! # Speed
//! [`Runner::run_repeat`] runs a program many times on one input, set up
//! once (a compiling tier then starts each run without returning).
//! Instructions are pre-decoded into a compact enum with absolute targets;
//! the loop keeps registers in a local array and checks the stack before
//! the regions, remembering the last region hit. Helpers registered with
//! [`Helpers::register_pure`] are called as plain functions, without a
//! context, which makes helper-heavy code several times cheaper. A
//! compiling tier may look keys up in maps itself where the embedder
//! describes the lookups ([`map_lookup`]: arrays by address arithmetic,
//! hash tables and tries by calling the map's own search).
//!
//! ```
//! use std::sync::Arc;
//! use apiary_isa::{Insn, Reg, Source, AluOp, Width, encode_program};
//! use apiary_vm::{Helpers, Program, Runner};
//!
//! let code = encode_program(&[
//!     Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R0, src: Source::Reg(Reg::R2) },
//!     Insn::Exit,
//! ]);
//! let program = Program::<()>::new(&code, Arc::new(Helpers::new())).unwrap();
//! let mut mem = [1u8, 2, 3];
//! assert_eq!(Runner::new().run_on_memory(&program, &mut (), &mut mem), Ok(3));
//! ```

pub mod array_lookup;
mod error;
mod fault;
mod helpers;
pub mod map_lookup;
mod memory;
mod op;
pub mod packet_load;
mod program;
mod registered;
mod repeat;
pub mod ringbuf_commit;
pub mod ringbuf_reserve;
mod runner;
pub mod semantics;
mod tier;

pub use array_lookup::ArrayLookup;
pub use error::{Access, HelperError, LoadError, RunError};
pub use fault::{FaultLocation, NEAR_REGION, RegionKind};
pub use helpers::{
    HelperContext, HelperFn, HelperIdOutOfRange, HelperImpl, Helpers, MAX_HELPER_ID,
    MAX_TAIL_CALLS, PureHelperFn, TailCallError,
};
pub use map_lookup::{DirectLookup, MapLookup, MapLookupFn};
pub use memory::{FRAME_STRIDE, MAX_CALL_FRAMES, MAX_REGIONS, Region, STACK_SIZE};
pub use op::{Op, Rmw};
pub use program::{MAX_PROGRAM_SLOTS, Program};
pub use ringbuf_commit::{CommitFn, DirectCommits};
pub use ringbuf_reserve::{DirectReserve, RecordReservation, ReserveFn};
pub use runner::{DEFAULT_BUDGET, Engine, MAY_GOTO_LOOPS, PacketHeaders, RunInput, Runner};
pub use tier::{CallOutcome, CompiledCode, EntryRegs, NextInput, TierRun};
