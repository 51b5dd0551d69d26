//! Typed errors: [`LoadError`] fails the whole object (as `bpf_object__open`
//! would), [`ProgramError`] fails one program and is kept in the result.

/// Why an object could not be loaded at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// Reading the file failed.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// The path given to [`crate::Object::open`].
        path: String,
        /// The operating system's message.
        reason: String,
    },
    /// The ELF container itself is malformed (headers, section table,
    /// string or symbol tables).
    #[error("malformed ELF: {0}")]
    Elf(String),
    /// The ELF is well formed but not an eBPF relocatable object.
    #[error("not an eBPF object: {0}")]
    NotBpf(String),
    /// The object is big-endian (`clang -target bpfeb`). libbpf opens such
    /// objects only to inspect or link them and refuses to load them on a
    /// little-endian host; Apiary's programs run with the host's little-endian
    /// eBPF, so it refuses them when opened.
    #[error(
        "big-endian eBPF object (clang -target bpfeb): Apiary runs little-endian programs, and libbpf loads only objects of the host's byte order; rebuild with -target bpf"
    )]
    BigEndian,
    /// A section's contents are malformed.
    #[error("section {section:?}: {reason}")]
    Section {
        /// Section name.
        section: String,
        /// What is wrong.
        reason: String,
    },
    /// A symbol is malformed or points outside its section.
    #[error("symbol {symbol}: {reason}")]
    Symbol {
        /// Symbol name or index.
        symbol: String,
        /// What is wrong.
        reason: String,
    },
    /// A relocation that is not part of one program is malformed.
    #[error("relocation at offset {offset:#x} in {section:?}: {reason}")]
    Relocation {
        /// The section the relocation applies to.
        section: String,
        /// Byte offset of the relocated location.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A kernel function the object calls cannot be resolved against the
    /// kernel's BTF (libbpf's `extern (func ksym) ...` failures).
    #[error("extern (func ksym) '{name}': {reason}")]
    Kfunc {
        /// The extern's name.
        name: String,
        /// libbpf's words for what failed.
        reason: String,
    },
    /// `.BTF` does not parse.
    #[error("invalid .BTF: {0}")]
    Btf(#[from] apiary_btf::BtfError),
    /// `.BTF.ext` does not parse or does not match `.BTF`.
    #[error("invalid .BTF.ext: {0}")]
    BtfExt(#[from] apiary_btf::BtfExtError),
    /// A map definition is malformed.
    #[error("map {map:?}: {reason}")]
    Map {
        /// Map (variable or symbol) name.
        map: String,
        /// What is wrong.
        reason: String,
    },
    /// A `.kconfig` extern cannot be given a value.
    #[error("kconfig extern {name}: {reason}")]
    Kconfig {
        /// Extern name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A CO-RE relocation of a program could not be resolved or applied
    /// against the target BTF (unsatisfiable ones are poisoned instead).
    #[error("program {program:?}: CO-RE: {source}")]
    Core {
        /// The program.
        program: String,
        /// What went wrong.
        source: apiary_coreloc::CoreError,
    },
    /// The object has CO-RE relocations but no `.BTF` to resolve them from.
    #[error("program {program:?} has CO-RE relocations but the object has no .BTF")]
    CoreWithoutBtf {
        /// The program.
        program: String,
    },
}

/// Why one program of an object could not be produced; the other programs
/// are unaffected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    /// A static (local) function outside `.text` cannot be a program.
    #[error(
        "program {program:?} in section {section:?} is static; libbpf supports only global programs"
    )]
    StaticProgram {
        /// Program name.
        program: String,
        /// ELF section name.
        section: String,
    },
    /// An instruction does not decode.
    #[error("program {program:?}: {source}")]
    Decode {
        /// Program name.
        program: String,
        /// The decoder's error (instruction index within the program's
        /// section).
        source: apiary_isa::DecodeError,
    },
    /// A relocation against this program's code is malformed or refers to
    /// something the loader cannot resolve.
    #[error("program {program:?}: relocation at instruction {insn_index}: {reason}")]
    Relocation {
        /// Program name.
        program: String,
        /// Instruction index within the function the relocation applies to.
        insn_index: usize,
        /// What is wrong.
        reason: String,
    },
    /// A call or function reference that does not reach a `.text`
    /// subprogram.
    #[error("program {program:?}: instruction {insn_index}: {reason}")]
    BadCall {
        /// Program name.
        program: String,
        /// Instruction index within the function holding the call.
        insn_index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The program uses a feature this loader does not support.
    #[error("program {program:?}: unsupported: {what}")]
    Unsupported {
        /// Program name.
        program: String,
        /// What is unsupported (names the symbol).
        what: String,
    },
}

impl ProgramError {
    /// The name of the program that failed.
    pub fn program(&self) -> &str {
        match self {
            ProgramError::StaticProgram { program, .. }
            | ProgramError::Decode { program, .. }
            | ProgramError::Relocation { program, .. }
            | ProgramError::BadCall { program, .. }
            | ProgramError::Unsupported { program, .. } => program,
        }
    }
}
