//! [`RuntimeError`]: why a map or program could not be set up.

use apiary_isa::LdImm64Kind;
use apiary_maps::MapError;
use thiserror::Error;

/// Why a map or program could not be set up.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// Map creation refused the definition.
    #[error("map {name:?}: {source}")]
    Map {
        /// The map's name.
        name: String,
        /// The map crate's reason.
        source: MapError,
    },
    /// The program calls a helper this runtime does not implement.
    #[error("program calls helper bpf_{name}#{id}, which Apiary does not provide yet")]
    MissingHelper {
        /// Helper id.
        id: i32,
        /// Kernel name without the `bpf_` prefix (`unknown` past the kernel's list).
        name: &'static str,
    },
    /// The program calls a kernel function this runtime does not provide
    /// (or one no loader record names).
    #[error(
        "instruction {insn}: program calls kernel function {name}, which Apiary does not provide yet"
    )]
    MissingKfunc {
        /// The call's instruction.
        insn: usize,
        /// The function's name, or `#` and its BTF id when unnamed.
        name: String,
    },
    /// A map reference names a map index the program was not given.
    #[error("instruction {insn}: map index {index} is not one of the {count} maps given")]
    BadMapIndex {
        /// Slot index of the `lddw`.
        insn: usize,
        /// Index found.
        index: u64,
        /// Number of maps given.
        count: usize,
    },
    /// A map value reference points past the value.
    #[error(
        "instruction {insn}: offset {offset} is outside the {value_size}-byte value of map {map:?}"
    )]
    BadValueOffset {
        /// Slot index of the `lddw`.
        insn: usize,
        /// Offset found.
        offset: u32,
        /// The map's value size.
        value_size: usize,
        /// The map's name.
        map: String,
    },
    /// A map value reference names a map with no single directly addressable value.
    #[error(
        "instruction {insn}: map {map:?} has no directly addressable value (needs a one-entry array)"
    )]
    NotAddressable {
        /// Slot index of the `lddw`.
        insn: usize,
        /// The map's name.
        map: String,
    },
    /// An `lddw` map reference kind Apiary resolves elsewhere (fds, BTF ids).
    #[error("instruction {insn}: lddw kind {kind:?} cannot be resolved by the runtime")]
    UnresolvedLoad {
        /// Slot index of the `lddw`.
        insn: usize,
        /// The kind found.
        kind: LdImm64Kind,
    },
    /// The program's context accesses break its type's rules.
    #[error("program {name:?}: {source}")]
    Context {
        /// The program's name.
        name: String,
        /// The context crate's reason (instruction, field, what was refused).
        source: apiary_context::ContextError,
    },
    /// Preparing the program for the interpreter failed.
    #[error("{0}")]
    Load(#[from] apiary_vm::LoadError),
    /// The bytecode does not decode.
    #[error("{0}")]
    Decode(#[from] apiary_isa::DecodeError),
    /// A program array's initial slot names a program that was not loaded.
    #[error("program array {map:?} slot {index}: program {program:?} is not loaded")]
    MissingTailCallTarget {
        /// The program array's name.
        map: String,
        /// Slot index.
        index: u32,
        /// Program name.
        program: String,
    },
}

impl RuntimeError {
    /// The instruction the error is about, when there is one, so that a
    /// caller with line info can name the source line.
    pub fn insn(&self) -> Option<usize> {
        match self {
            RuntimeError::BadMapIndex { insn, .. }
            | RuntimeError::BadValueOffset { insn, .. }
            | RuntimeError::NotAddressable { insn, .. }
            | RuntimeError::UnresolvedLoad { insn, .. } => Some(*insn),
            RuntimeError::Context { source, .. } => source.insn(),
            RuntimeError::Load(e) => e.pc(),
            RuntimeError::Decode(e) => Some(e.index),
            _ => None,
        }
    }
}
