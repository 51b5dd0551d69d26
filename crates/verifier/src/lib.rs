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
//!   `apiary-context`), `sock_access` (the `struct bpf_sock` fields a
//!   `sock` or `sock_common` pointer reads), `pkt` (packet ranges from
//!   `data_end` comparisons),
//!   `jump` (conditional jumps, NULL checks), `call` (helper calls against
//!   [`helpers`]' prototypes, [`helper_access`]'s per-program-type and
//!   GPL-only lists, and `map_funcs`' map types), `sign_mask` (`|` and `&`
//!   on a value that is 0 or -1, checked once for each);
//! - functions and rules outside one instruction: `load_checks` (attach
//!   types and sleepable flags), `funcs` (subprograms, BTF func info,
//!   global functions verified on their own, callbacks' BTF, the call
//!   graph's depth and stack with tail calls), `callbacks` (`bpf_loop`
//!   and `for_each_map_elem` callbacks walked again and again from the
//!   helper call until the caller's states converge or the loop's count
//!   runs out), `spin_lock` (one lock held,
//!   no calls or exit while held), `timer` (timer helpers and their
//!   asynchronous callbacks), `map_fields` (locks and timers in map values
//!   only their helpers touch), `map_key` (constant keys: array lookups
//!   that cannot fail);
//! - the walk: `cfg` (checks before it), `liveness`, `explore` (paths,
//!   limits, exits), `return_code` (what `r0` may hold at an exit),
//!   `checkpoint` (saved states and the decision at a prune
//!   point), `may_goto` (its rounds one level deeper, widened), `prune` (whether a saved state covers a path), `history` (what
//!   each path did, for going back) and `precision` (marking the scalars a
//!   path's safety depended on, so that pruning ignores the others);
//!   `object` verifies the programs of an `apiary-loader` object,
//!   `btf_funcs` reads their func info from the object's BTF;
//! - kernel types: `btf_ctx` (the u64 arguments of tp_btf, fentry, fexit,
//!   fmod_ret, lsm and iter contexts, typed from the attach point's
//!   prototype), `btf_ptr` (loads through `btf_id` pointers walked through
//!   the struct's layout, the trust of the pointers they give, helpers'
//!   `ARG_PTR_TO_BTF_ID`), `raw_tp_nullable` (tracepoint arguments that
//!   may be NULL), `kernel_btf` (the running kernel's BTF they
//!   read, once; without it such programs are refused, saying so),
//!   `kfunc` (kfunc calls' BTF ids, looked up before the walk, and the
//!   kfuncs the walk checks), `iter` (the numeric open-coded iterators:
//!   their stack slots, references, and the fork at each `next`),
//!   `map_struct` (a map's own kernel struct, read through its pointer);
//! - what it hands on: [`proofs`] (per memory instruction, the kind of
//!   memory it stays inside on every run, for the JIT), [`call_maps`]
//!   (per helper call, the map it is given when always the same one),
//!   [`jump_sides`] (the conditional jumps that go the same way on every
//!   run) and
//!   `run_bound` (the most instructions a run can execute, when the code
//!   or the walk bounds it).
//!
//! [`log`] writes the kernel-compatible verifier log when asked
//! ([`verify_with_log`]): each instruction in the kernel's syntax, the
//! source line it starts, the state it touched, calls and returns, the
//! kernel's error line, the statistics line.
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
//! kernel): the other helpers that call callbacks (`bpf_find_vma`,
//! `bpf_user_ringbuf_drain`: refused as unsupported), kfuncs other than
//! the numeric iterator's `bpf_iter_num_*` (their BTF ids are checked,
//! their calls refused as not supported yet), dynptrs and the other
//! iterators, the structs of
//! maps other than arrays and hashes (their loads are refused), the
//! kernel's helpers without a prototype in [`helpers`] (a call to one is
//! refused as not supported yet, though the kernel may accept it),
//! `tcp_sock` fields (no modelled helper gives such a pointer),
//! stack-slot liveness (pruning compares every slot), Spectre hardening
//! (irrelevant to a root loader), struct_ops and freplace contexts, the
//! tracepoint arguments that may be NULL on other kernels, `__user` and
//! `__percpu` pointers (numbers here), iterator buffers, and the BTF type
//! of typed ksyms (their loads give numbers).
//! `tests/case_disagreements.txt` lists every case of `tests/verifier`
//! where the verdict or final line still differs, with the reason.
//!
//! The memory proofs ([`Accepted::proofs`]) a JIT relies on are not
//! touched by those gaps: the unsound accepts listed there are about spin
//! locks, timers, recursion depth, global functions' BTF signatures
//! (global functions are walked in each caller's state, which is more
//! precise, not less sound, for bounds), load flags and attach types.
//! Callbacks the walk does not follow would be: a program handing a
//! function to any helper but `bpf_loop` and `for_each_map_elem` gets no
//! proofs at all. Context accesses are never proven (the runtime rewrites
//! some of them to its own layout).

// A rejection is built once, when verification stops; its size on the
// error path costs nothing worth boxing every internal result for.
#![allow(clippy::result_large_err)]

pub mod alu;
mod arith;
mod bounds;
pub mod branch;
mod btf_ctx;
mod btf_funcs;
mod btf_ptr;
mod call;
pub mod call_maps;
mod callbacks;
mod cfg;
mod checkpoint;
mod diagnostic;
mod error;
mod explore;
mod funcs;
pub mod helper_access;
pub mod helpers;
mod history;
mod iter;
mod jump;
pub mod jump_sides;
mod kernel_btf;
mod kfunc;
mod liveness;
mod load_checks;
pub mod log;
mod map_fields;
mod map_funcs;
mod map_key;
mod map_struct;
mod may_goto;
mod mem;
mod object;
mod pkt;
mod precision;
mod program;
pub mod proofs;
mod prune;
mod raw_tp_nullable;
mod regs;
mod return_code;
mod run_bound;
pub mod scalar;
mod sign_mask;
mod sock_access;
mod spin_lock;
mod stack;
mod state;
mod timer;
pub mod tnum;

pub use call_maps::CallMaps;
pub use error::{PacketAccess, Rejection, SourceLine, Stats};
pub use explore::{Accepted, INSN_LIMIT, JMP_SEQ_LIMIT, verify, verify_with_log};
pub use jump_sides::{JumpSide, JumpSides};
pub use kernel_btf::{KERNEL_BTF_PATH, KernelBtfError, kernel_btf, needs_kernel_btf};
pub use kfunc::calls_kfuncs;
pub use log::LogLevel;
pub use object::{
    ProgramVerdict, map_info, map_infos, verify_object, verify_program, verify_program_logged,
};
pub use program::{FuncArg, FuncInfo, MapInfo, Program};
pub use proofs::{AccessProof, AccessProofs};
pub use regs::{RegState, RegType, Trust};
pub use scalar::{InvariantViolation, Scalar, ViolationKind};
pub use tnum::Tnum;
