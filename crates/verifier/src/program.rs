//! What the verifier is given: a relocated program and what it refers to.

use apiary_isa::RawInsn;
use apiary_kernel::types::{AttachType, MapType, ProgType};

use crate::error::SourceLine;

/// A map the program refers to, by its index in [`Program::maps`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MapInfo {
    /// The map's name, for messages.
    pub name: String,
    /// The map's type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `BPF_F_*` creation flags.
    pub flags: u32,
    /// The value's bytes when the map is read-only for programs and frozen
    /// before the program loads (`.rodata`): the kernel reads constants
    /// from it (`bpf_map_direct_read`).
    pub frozen_value: Option<Vec<u8>>,
    /// For a map of maps, the index (in [`Program::maps`]) of the inner
    /// map's template, which lookups return.
    pub inner: Option<u32>,
    /// Whether the map was created with BTF for its key and value (what
    /// spin locks and timers need).
    pub btf: bool,
    /// Offset of the value's `struct bpf_spin_lock`, from its BTF.
    pub spin_lock_off: Option<u32>,
    /// Offset of the value's `struct bpf_timer`, from its BTF.
    pub timer_off: Option<u32>,
}

/// What a global function's parameter is, from its BTF type
/// (`btf_prepare_func_args`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FuncArg {
    /// An integer or enum: any number.
    Scalar,
    /// A pointer to the program type's context struct.
    Ctx,
    /// A pointer to memory of this many bytes, possibly NULL unless the
    /// parameter is tagged `arg:nonnull`.
    Mem {
        /// The pointee's size.
        size: u32,
        /// Whether callers must pass a pointer that cannot be NULL.
        nonnull: bool,
    },
}

/// One function's BTF func info.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FuncInfo {
    /// Its first instruction (slot).
    pub insn: usize,
    /// Its name, for messages.
    pub name: String,
    /// Global linkage: verified once on its own, by its signature.
    pub global: bool,
    /// Its parameters, for a global function.
    pub args: Vec<FuncArg>,
    /// Why the kernel cannot use its signature (a global function with
    /// parameters or a return type it does not support): its refusal.
    pub unsupported: Option<String>,
}

/// A program to verify.
#[derive(Clone, Debug, Default)]
pub struct Program<'a> {
    /// Its name, for messages.
    pub name: &'a str,
    /// Instruction slots after relocation. Map references are
    /// `BPF_PSEUDO_MAP_IDX` / `BPF_PSEUDO_MAP_IDX_VALUE` loads whose
    /// immediate is an index into `maps` (`BPF_PSEUDO_MAP_FD`/`_VALUE`
    /// are read the same way).
    pub insns: &'a [RawInsn],
    /// The program type.
    pub prog_type: ProgType,
    /// The expected attach type.
    pub attach_type: AttachType,
    /// The maps, by index.
    pub maps: &'a [MapInfo],
    /// Source lines from BTF line info, by ascending instruction.
    pub lines: &'a [SourceLine],
    /// Whether the license is GPL-compatible.
    pub gpl: bool,
    /// BTF func info, one per function by ascending start; empty when the
    /// program is loaded without BTF.
    pub funcs: &'a [FuncInfo],
    /// Loaded with `BPF_F_SLEEPABLE`.
    pub sleepable: bool,
    /// What a BTF-typed tracing program attaches to, as its section names
    /// it (`sched_switch` for `tp_btf/sched_switch`, `task` for
    /// `iter/task`, the function for fentry/fexit, the hook for lsm).
    pub attach_target: Option<&'a str>,
    /// The running kernel's BTF (`/sys/kernel/btf/vmlinux`), which types a
    /// BTF-typed tracing program's context and the kernel structs it reads
    /// through `btf_id` pointers, and the ids of kfunc calls; `None` where
    /// the host has none.
    pub kernel_btf: Option<&'a apiary_btf::Btf>,
}

impl<'a> Program<'a> {
    /// `insns` of type `prog_type` with `maps`, a GPL licence, the default
    /// attach type and no line info: a program assembled or generated
    /// rather than loaded from an object. A `syscall` program is loaded
    /// sleepable, as libbpf loads `SEC("syscall")` and the kernel requires.
    pub fn bare(insns: &'a [RawInsn], prog_type: ProgType, maps: &'a [MapInfo]) -> Program<'a> {
        Program {
            name: "program",
            insns,
            prog_type,
            attach_type: AttachType::default(),
            maps,
            lines: &[],
            gpl: true,
            sleepable: prog_type == ProgType::SYSCALL,
            ..Program::default()
        }
    }

    /// The source line covering `insn`, if line info has one.
    pub fn line_of(&self, insn: usize) -> Option<&SourceLine> {
        self.lines.iter().rev().find(|l| l.insn <= insn)
    }
}
