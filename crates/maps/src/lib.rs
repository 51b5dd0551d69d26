//! `apiary-maps`: the Linux kernel's BPF map types implemented in user space
//! with the kernel's semantics — creation checks, update flags, iteration
//! order, per-CPU values, LRU eviction, ring buffer layout — and the
//! kernel's errno for every failure ([`MapError::errno`]).
//!
//! It owns map memory: every value a program can point to is allocated once
//! and stays mapped until the [`Map`] is dropped, so the interpreter can
//! hand out raw value addresses ([`ValueRef`]) just as the kernel hands out
//! pointers into preallocated elements.
//!
//! Stack trace and socket maps (`stack_trace`, `sockmap`, `sockhash`,
//! `reuseport_sockarray`) are created with the kernel's checks and stay
//! empty: a user-space process captures no kernel stacks and owns no
//! sockets, so they answer as the kernel's empty maps do.
//!
//! Local storage maps (`task_storage`, `sk_storage`, `cgrp_storage`) hold
//! a value per task, socket or cgroup: programs name the owner by a number
//! the runtime gives (a thread id, a socket cookie, a cgroup id), the host
//! by a pidfd, a socket fd or a cgroup directory fd.
//!
//! [`pin`] saves a map (definition, contents, the caller's BTF) to a
//! versioned file and reads it back, as a map pinned in bpffs outlives its
//! creator; files are named as `bpftool ... pinmaps` names its pins.
//!
//! It must not know about instructions, the interpreter, ELF loading or the
//! real `bpf()` syscall: program and map references inside maps (prog
//! arrays, map-in-map, devmaps, xskmaps) are opaque `u32` ids that the
//! runtime resolves.

mod absent;
mod array;
mod bloom;
mod bucket;
mod commit;
mod def;
mod error;
mod hash;
mod jhash;
mod layout;
mod local_storage;
mod lpm;
mod map;
mod mem;
mod perf;
pub mod pin;
mod queue;
mod reserve;
mod ringbuf;
mod search;
mod slots;
pub mod typed;

pub use commit::{CommitFn, DISCARD, SUBMIT};
pub use def::*;
pub use error::{ENOTSUPP, MapError, Result};
pub use jhash::{htab_hash, jhash, jhash2};
pub use layout::ArrayLayout;
pub use map::{Map, RedirectTarget};
pub use mem::{ValueRef, page_size};
pub use perf::{BPF_F_CTXLEN_MASK, BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK, PerfRecord};
pub use reserve::{Reserve, ReserveFn};
pub use ringbuf::{
    BPF_RB_AVAIL_DATA, BPF_RB_CONS_POS, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP, BPF_RB_PROD_POS,
    BPF_RB_RING_SIZE, BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT, BPF_RINGBUF_HDR_SZ,
};
pub use search::{Search, SearchFn};
