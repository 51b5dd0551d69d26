//! Safe wrappers over the Linux `bpf(2)` syscall.
//!
//! This crate is Apiary's second backend and its oracle: it creates maps, loads
//! BTF and programs, runs programs with `BPF_PROG_TEST_RUN`, pins objects and
//! queries their info, and attaches programs through links, all through the
//! real kernel. It owns the `union bpf_attr`
//! layouts (one `#[repr(C)]` struct per command, following
//! `include/uapi/linux/bpf.h`) and the kernel's numbering and bpftool naming of
//! program, attach and map types ([`types`]).
//!
//! It also reads the kernel log ([`KernelLog`], `/dev/kmsg`), where the
//! kernel reports what `bpf(2)` results cannot carry: verifier warnings and
//! oopses.
//!
//! It must not parse ELF or BTF, nor assemble instructions: instructions come in
//! as raw 8-byte slots, BTF as bytes, and other Apiary crates produce both.
//! It uses no C library beyond `libc` for the raw syscall and constants.

mod btf;
mod cpu;
mod error;
mod kmsg;
mod link;
mod log;
mod map;
mod obj;
mod probe;
mod prog;
mod sys;
pub mod types;

pub use btf::{BtfFd, LoadedBtf};
pub use cpu::{parse_cpu_list, possible_cpus};
pub use error::{Errno, Error, Result, Unavailable};
pub use kmsg::{KMSG_PATH, KernelLog, KmsgError, LogRecord, NewRecords, parse_record};
pub use link::{LinkFd, xdp_flags};
pub use log::{DEFAULT_LOG_SIZE, MAX_LOG_SIZE, log_level};
pub use map::{BatchToken, Keys, MapBatch, MapCreateAttrs, MapFd, MapInfo};
pub use obj::{
    ObjectKind, btf_fd_by_id, ensure_bpffs, get_pinned, is_bpffs, next_btf_id, next_map_id,
    next_prog_id, object_kind, pin,
};
pub use probe::{Refusal, probe, probe_map_create, probe_map_type, probe_prog_load};
pub use prog::{
    INSN_SIZE, LoadedProg, ProgFd, ProgInfo, ProgLoadAttrs, Records, TestRunAttrs, TestRunOutput,
};
