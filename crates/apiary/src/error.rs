//! The facade's error type: one enum a user matches on, carrying the
//! program, instruction and source line where they are known.

use std::path::PathBuf;

use apiary_loader::LoadError;
use apiary_maps::MapError;
use apiary_runtime::{RuntimeError, TestRunError};
use thiserror::Error;

/// A source position from the object's BTF line info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    /// Source file as the compiler recorded it.
    pub file: String,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
    /// The text of the line.
    pub text: String,
}

impl std::fmt::Display for SourceLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.text.trim())
    }
}

/// Shows ` (at file:line: text)` after a message when the line is known.
pub(crate) struct AtLine<'a>(pub &'a Option<SourceLine>);

impl std::fmt::Display for AtLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(line) => write!(f, " (at {line})"),
            None => Ok(()),
        }
    }
}

/// Everything that can go wrong between opening an object and reading the
/// result of a run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The object file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The ELF object, its BTF or its relocations are malformed.
    #[error("{object}: {source}")]
    Parse {
        /// Object name.
        object: String,
        /// The loader's reason.
        source: Box<LoadError>,
    },
    /// [`crate::OpenObject::set_program_type`] named no program type.
    #[error(transparent)]
    UnknownProgramType(#[from] apiary_loader::UnknownProgramType),
    /// No `.rodata`, `.data` or `.bss` variable has this name.
    #[error("no global variable {name:?} in the object's data sections")]
    NoSuchGlobal {
        /// The variable asked for.
        name: String,
    },
    /// The value given for a global does not have the variable's size.
    #[error("global {name:?} is {expected} bytes, the value given is {given}")]
    GlobalSize {
        /// The variable.
        name: String,
        /// Its size per BTF.
        expected: u32,
        /// The size of the value given.
        given: usize,
    },
    /// Globals can only be set when the object carries BTF describing them.
    #[error("cannot set global {name:?}: the object has no BTF describing its data sections")]
    NoDataBtf {
        /// The variable asked for.
        name: String,
    },
    /// No map has this name.
    #[error("no map named {name:?}")]
    NoSuchMap {
        /// The name asked for.
        name: String,
    },
    /// `max_entries` of 0 is refused by every map type.
    #[error("map {name:?}: max_entries must be at least 1")]
    ZeroMaxEntries {
        /// The map.
        name: String,
    },
    /// No program has this name.
    #[error("no program named {name:?} (programs: {available})")]
    NoSuchProgram {
        /// The name asked for.
        name: String,
        /// The object's program names, comma-separated.
        available: String,
    },
    /// The program exists but is of another type than the one asked for.
    #[error("program {name:?} is a {actual} program, not {expected}")]
    WrongProgramType {
        /// Program name.
        name: String,
        /// What the caller asked for.
        expected: &'static str,
        /// What the object says (`SEC()`).
        actual: String,
    },
    /// The loader could not make a program of this section.
    #[error("program {name:?} could not be loaded: {reason}")]
    ProgramUnavailable {
        /// Program name.
        name: String,
        /// The loader's or runtime's reason.
        reason: String,
    },
    /// The program did not pass the checks made when it was loaded (a
    /// context access its type may not make, a helper Apiary lacks, a bad
    /// map reference, ...).
    #[error("program {program:?} was rejected{}{}: {source}", insn.map(|i| format!(" at instruction {i}")).unwrap_or_default(), AtLine(line))]
    ProgramRejected {
        /// Program name.
        program: String,
        /// The instruction at fault, when the reason names one.
        insn: Option<usize>,
        /// Its source line, when the object has line info.
        line: Option<SourceLine>,
        /// The runtime's reason.
        source: std::sync::Arc<RuntimeError>,
    },
    /// The verifier refused the program, as the kernel would; the
    /// rejection says where, why, in terms of the source when the object
    /// has line info, and how to fix it ([`apiary_verifier::Rejection::render`]
    /// prints it as a compiler does). [`crate::OpenObject::set_verify`]
    /// skips verification.
    #[error("program {program:?} was refused by the verifier: {rejection}")]
    Rejected {
        /// Program name.
        program: String,
        /// The verifier's rejection.
        rejection: std::sync::Arc<apiary_verifier::Rejection>,
    },
    /// The JIT could not compile a program ([`crate::Engine::Jit`]).
    #[error("program {program:?}: the JIT refused it: {reason}")]
    Jit {
        /// Program name.
        program: String,
        /// The JIT's reason.
        reason: String,
    },
    /// Applying CO-RE relocations failed.
    #[error("CO-RE relocation: {0}")]
    Core(Box<LoadError>),
    /// The target BTF for CO-RE could not be read or parsed.
    #[error("target BTF {}: {reason}", path.display())]
    TargetBtf {
        /// The BTF file.
        path: PathBuf,
        /// Why it could not be used.
        reason: String,
    },
    /// Creating a map or preparing programs failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A map operation or typed view failed.
    #[error("map {name:?}: {source}")]
    Map {
        /// The map.
        name: String,
        /// The map crate's reason.
        source: MapError,
    },
    /// A test-run's input was refused, as `BPF_PROG_TEST_RUN` refuses it.
    #[error("program {program:?}: {source}")]
    TestRun {
        /// Program name.
        program: String,
        /// The runtime's reason.
        source: Box<TestRunError>,
    },
    /// The program ran its whole instruction budget without ending (a
    /// loop that never ends: the kernel's verifier would refuse it).
    #[error(
        "program {program:?} ran its budget of {budget} instructions without ending (stopped at instruction {insn}{}); raise it with Runner::set_budget(Some(n)), or None for no limit",
        AtLine(line)
    )]
    BudgetExhausted {
        /// Program name.
        program: String,
        /// The budget that was spent.
        budget: u64,
        /// The instruction it stopped at.
        insn: usize,
        /// Its source line, when the object has line info.
        line: Option<SourceLine>,
    },
    /// The program faulted while running.
    #[error("program {program:?}, instruction {insn}{}: {source}", AtLine(line))]
    Run {
        /// Program name.
        program: String,
        /// The instruction that failed.
        insn: usize,
        /// Its source line, when the object has line info.
        line: Option<SourceLine>,
        /// The interpreter's reason.
        source: Box<apiary_vm::RunError>,
    },
}

/// `Result` with [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
