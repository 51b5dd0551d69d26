//! Apiary: a complete implementation of eBPF in Rust that runs in user space.
//!
//! This crate is the user-facing API, in the conventions of libbpf and aya:
//! open an object clang compiled, configure it (globals, map sizes, kconfig),
//! load it, then run its programs the way `BPF_PROG_TEST_RUN` runs them and
//! read its maps through typed views. It owns only that lifecycle and the
//! per-kind test-run options; every mechanism lives in the crate that owns
//! it, re-exported here as modules for users who need the lower levels:
//!
//! - [`isa`]: typed instructions, lossless decode and encode.
//! - [`asm`]: assembler and disassembler (kernel/LLVM and uBPF syntax).
//! - [`loader`]: ELF objects as libbpf opens them.
//! - [`btf`]: BTF and BTF.ext parsing, bpftool-identical dumps.
//! - [`maps`]: the kernel's map types in user space.
//! - [`runtime`]: helpers, contexts and test-run over the interpreter.
//! - [`vm`]: the memory-safe interpreter.
//! - [`kernel`]: `bpf(2)` wrappers, the oracle backend.
//!
//! ```no_run
//! use apiary::{OpenObject, Xdp, XdpRun};
//!
//! let mut open = OpenObject::open("xdp_firewall.o")?;
//! open.set_max_entries("blocked", 1024)?;
//! let object = open.load()?;
//! let firewall = object.program::<Xdp>("xdp_firewall")?;
//! let packet = std::fs::read("packet.bin").unwrap_or_default();
//! let result = firewall.test_run(&XdpRun::new(&packet))?;
//! println!("verdict {}", result.retval);
//! let counters: apiary::PerCpuArray<u64> = object.map_view("counters")?;
//! # Ok::<(), apiary::Error>(())
//! ```
//!
//! The instruction set is usable on its own:
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

mod core_target;
mod error;
mod object;
mod program;
mod runner;
mod views;

pub use apiary_asm as asm;
pub use apiary_btf as btf;
pub use apiary_isa as isa;
pub use apiary_kernel as kernel;
pub use apiary_loader as loader;
pub use apiary_maps as maps;
pub use apiary_runtime as runtime;
pub use apiary_vm as vm;

pub use apiary_loader::KconfigValue;
pub use apiary_runtime::{Event, TaskInfo, TestRunOutput};
pub use error::{Error, Result, SourceLine};
pub use object::{Engine, Object, OpenObject, ProgramInfo};
pub use program::{
    ContextRun, Embedder, Kprobe, PacketRun, PerfEvent, Program, ProgramKind, RawTracepoint,
    RawTracepointRun, SkBuff, SkbRun, SocketFilter, Syscall, Tc, Tracepoint, Xdp, XdpMd, XdpRun,
};
pub use runner::Runner;
pub use views::{
    Array, HashMap, LpmTrie, MapView, PerCpuArray, PerCpuHashMap, ProgramArray, Queue, RingBuf,
    Stack,
};
