//! Load-time and run-time errors. Every `Display` is one line.

use thiserror::Error;

use crate::fault::FaultLocation;

/// Why a program cannot be prepared for execution. `pc` is a slot index.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum LoadError {
    /// The bytecode does not decode (bad opcode, register, field, jump target).
    #[error("decode failed: {0}")]
    Decode(#[from] apiary_isa::DecodeError),
    /// The program has no instructions.
    #[error("program is empty")]
    Empty,
    /// The program is longer than the kernel's 1,000,000-instruction limit.
    #[error("program has {slots} instruction slots, more than the limit of {limit}")]
    TooLarge {
        /// Slots found.
        slots: usize,
        /// The limit.
        limit: usize,
    },
    /// A helper call names an id the helper table does not contain.
    #[error("instruction {pc}: call to helper {id}, which is not registered")]
    MissingHelper {
        /// Slot index of the call.
        pc: usize,
        /// The helper id.
        id: i32,
    },
    /// A kfunc call; kfuncs are kernel functions this interpreter cannot run.
    #[error("instruction {pc}: kfunc call (btf id {btf_id}) is not supported")]
    Kfunc {
        /// Slot index of the call.
        pc: usize,
        /// The kfunc's BTF id.
        btf_id: i32,
    },
    /// An arena address-space cast; arenas are not supported.
    #[error("instruction {pc}: addr_space_cast is not supported (no arena)")]
    AddrSpaceCast {
        /// Slot index of the instruction.
        pc: usize,
    },
    /// An instruction writes the read-only frame pointer.
    #[error("instruction {pc}: frame pointer r10 is read only")]
    WritesFramePointer {
        /// Slot index of the instruction.
        pc: usize,
    },
    /// A jump or call target is not the start of an instruction.
    #[error("instruction {pc}: target {target} is not an instruction of the program")]
    BadTarget {
        /// Slot index of the jump.
        pc: usize,
        /// The target slot.
        target: i64,
    },
}

impl LoadError {
    /// The instruction the error is about, when there is one.
    pub fn pc(&self) -> Option<usize> {
        match self {
            LoadError::Decode(e) => Some(e.index),
            LoadError::MissingHelper { pc, .. }
            | LoadError::Kfunc { pc, .. }
            | LoadError::AddrSpaceCast { pc, .. }
            | LoadError::WritesFramePointer { pc }
            | LoadError::BadTarget { pc, .. } => Some(*pc),
            _ => None,
        }
    }
}

/// Kind of a guest memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A read.
    Load,
    /// A write (including atomic read-modify-write).
    Store,
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Access::Load => "load",
            Access::Store => "store",
        })
    }
}

/// Why a run stopped abnormally. `pc` is the slot index of the instruction.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RunError {
    /// An access outside every region the program may touch (or a write to a read-only one).
    #[error(
        "instruction {pc}: memory fault: {access} of {size} bytes at {location}{}",
        if *read_only { ", which is read-only" } else { "" }
    )]
    MemoryFault {
        /// Slot index.
        pc: usize,
        /// Guest address.
        addr: u64,
        /// Access size in bytes.
        size: u64,
        /// Load or store.
        access: Access,
        /// The region the access was meant for and where in it.
        location: FaultLocation,
        /// Whether it was a store inside a region programs may only read.
        read_only: bool,
    },
    /// An atomic, load-acquire or store-release at an address not aligned to its size.
    #[error("instruction {pc}: misaligned atomic access of {size} bytes at {addr:#x}")]
    MisalignedAtomic {
        /// Slot index.
        pc: usize,
        /// Guest address.
        addr: u64,
        /// Access size in bytes.
        size: u64,
    },
    /// The instruction budget of the run is spent: the program ran `limit`
    /// instructions without ending (see [`crate::DEFAULT_BUDGET`]).
    #[error("instruction {pc}: the program ran its budget of {limit} instructions without ending")]
    BudgetExhausted {
        /// Slot index of the instruction that would have exceeded the budget.
        pc: usize,
        /// The budget.
        limit: u64,
    },
    /// A bpf-to-bpf call or callback would exceed the 8 frames.
    #[error("instruction {pc}: call depth exceeds {max} frames")]
    CallDepthExceeded {
        /// Slot index of the call.
        pc: usize,
        /// The frame limit.
        max: usize,
    },
    /// `callx` named a helper id that is not registered.
    #[error("instruction {pc}: callx to helper {id}, which is not registered")]
    UnknownHelper {
        /// Slot index.
        pc: usize,
        /// The id found in the register.
        id: u64,
    },
    /// A helper failed.
    #[error("instruction {pc}: helper {id} ({name}) failed: {source}")]
    Helper {
        /// Slot index of the call.
        pc: usize,
        /// Helper id.
        id: u32,
        /// Helper name.
        name: &'static str,
        /// The helper's error.
        source: HelperError,
    },
    /// Execution ran past the last instruction.
    #[error("instruction {pc}: execution fell off the end of the program")]
    FellOffEnd {
        /// The slot past the end.
        pc: usize,
    },
    /// A callback address is not an instruction of the program.
    #[error("callback address {addr} is not an instruction of the program")]
    BadCallback {
        /// The address value given.
        addr: u64,
    },
}

/// A helper's failure. Helpers return it to stop the program with [`RunError::Helper`].
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum HelperError {
    /// An argument points outside the accessible memory.
    #[error(
        "{access} of {len} bytes at {location} is outside the memory the program may use{}",
        if *read_only { " (read-only)" } else { "" }
    )]
    Memory {
        /// Guest address.
        addr: u64,
        /// Length in bytes.
        len: u64,
        /// Load or store.
        access: Access,
        /// The region the argument was meant for and where in it.
        location: FaultLocation,
        /// Whether it was a store inside a region programs may only read.
        read_only: bool,
    },
    /// A string argument has no NUL terminator within its region or limit.
    #[error("string at {addr:#x} is not NUL-terminated within {max} bytes")]
    UnterminatedString {
        /// Guest address.
        addr: u64,
        /// The limit searched.
        max: u64,
    },
    /// A callback the helper ran failed.
    #[error("callback failed: {0}")]
    Callback(Box<RunError>),
    /// The helper registered too many regions in one run.
    #[error("too many memory regions registered in one run (limit {0})")]
    TooManyRegions(usize),
    /// Any other failure, described.
    #[error("{0}")]
    Other(String),
}
