//! An x86-64 JIT: Apiary's second execution tier.
//!
//! This crate owns native code generation for programs the vm prepared:
//! [`compile`] turns a [`Program`]'s ops into x86-64 machine code and
//! attaches it to the program; any [`apiary_vm::Runner`] whose engine is
//! [`apiary_vm::Engine::Compiled`] (the default) then runs that code
//! instead of interpreting. It must not decide anything the interpreter
//! decides (which memory is accessible, what a helper does, what an error
//! says, how the budget is counted): it calls back into the vm for all of
//! that, so both tiers give the same results, errors, budget and memory.
//!
//! # The seam
//! The vm defines the contract ([`apiary_vm::CompiledCode`]) and exposes
//! what a tier needs through [`apiary_vm::TierRun`]: the stack layout, the
//! region lookup, the helper table with its pending stop/failure/tail call
//! handling, `LD_ABS`/`LD_IND`, the budget, and the constructors of every
//! `RunError`. The compiled code is stored in the `Program`, so tail calls
//! and callbacks (which the vm starts) run compiled too, and choosing a
//! tier is one switch: compile (or not), or set the runner's engine. The
//! alternative, an `Engine` enum wrapping two program types, would have
//! made the runtime, the facade and every helper that holds a program know
//! about both tiers.
//!
//! # Assembler
//! dynasm-rs: instruction templates are assembled at Rust compile time,
//! so generating code is appending bytes and patching labels, the fastest
//! way towards the goal of compiling 10,000 instructions in under a
//! millisecond (`cargo bench -p apiary-jit` measures it; the time now goes
//! mostly to faulting in and copying the code's pages, not to encoding).
//! iced-x86's code assembler builds and encodes an instruction object per
//! instruction at run time, several times slower; iced-x86's formatter is
//! still the right tool for printing the code (`prog dump jited`), which
//! needs no assembler.
//!
//! # Memory safety
//! [`compile`]: every access is checked as the interpreter checks it (see
//! `emit_mem`), inline where the answer is cheap, else in the vm; only
//! accesses at a constant offset inside `r10`'s frame go unchecked, as
//! they cannot leave it. The code is mapped writable while it is written
//! and executable afterwards, never both (`exec_mem`).
//!
//! [`compile_verified`]: an access the verifier proved in bounds on every
//! run ([`apiary_verifier::AccessProof`]) is a plain `mov`. Why that is as
//! safe as the check, kind by kind, given that the verifier is sound for
//! memory bounds (its known unsound accepts are about locks, timers,
//! recursion depth, BTF signatures and attach types, none about bounds;
//! see `apiary_verifier::proofs` for what it leaves unproven):
//! - stack: the pointer derives from some live frame's `r10`, and the
//!   verifier kept the access inside that frame's 512 bytes, which the vm
//!   allocates for every frame up to the deepest;
//! - map value: the pointer is one a helper handed out (a region the vm
//!   registered, `value_size` bytes of map memory that never moves or is
//!   freed while the runtime lives) or global data (a region given to the
//!   run); writes only to maps not read-only for programs, which the
//!   runtime makes its read-only regions;
//! - packet: the pointer derives from the context's `data_meta`/`data`
//!   fields and the verifier kept the access below a comparison with
//!   `data_end`, so it lies in the packet only if the embedder wrote those
//!   fields. The code that skips these checks runs only in runs given a
//!   [`apiary_vm::RegionKind::PacketBuffer`] region, by which the embedder
//!   vouches for them (the runtime's test runs and live frames do; a run on
//!   plain context memory does not): other runs take a second body of code
//!   with the packet checks in (see `compile`);
//! - context: the base register is the context pointer the run started
//!   with in `r1`, unmoved, so the access lies at a constant offset from
//!   it; the runtime may have rewritten that offset and size to its own
//!   layout, so the verifier's field rules do not bound it. The code that
//!   skips these checks runs only in activations that start at op 0 with
//!   `r1` pointing into a region holding every proven context access's
//!   bytes (writable if one writes), checked when the activation starts;
//!   others take the second body (see `compile`);
//! - map lookups: a `bpf_map_lookup_elem` call the verifier saw given
//!   the same map on every path ([`apiary_verifier::CallMaps`]), in a map
//!   the embedder described ([`apiary_vm::MapLookup`]), is, when the key
//!   lies on the stack (`emit_lookup`), the kernel's inline address
//!   arithmetic in an array ([`apiary_vm::ArrayLookup`]; the embedder
//!   gives every run the whole array) and a direct call of the map's
//!   search in a hash table or trie ([`apiary_vm::DirectLookup`]; a value
//!   found is registered as the helper would), the helper otherwise;
//! - ring buffer reservations: a `bpf_ringbuf_reserve` in a ring the
//!   verifier saw on every path, in a map the embedder described
//!   ([`apiary_vm::DirectReserve`]), is a direct call of the ring's own
//!   reservation (`emit_reserve`): a full ring answers NULL without leaving
//!   the code, a sample reserved is registered as the helper does, and
//!   recorded unless the program releases it without the helpers;
//! - ring buffer commits: where every reservation is such a call, in a
//!   verified program with no `callx`, `bpf_ringbuf_submit` and
//!   `bpf_ringbuf_discard` are direct calls of the embedder's commits
//!   ([`apiary_vm::DirectCommits`], `emit_commit`), which find the ring
//!   from the sample's header;
//! - everything else (helper memory, sockets, accesses reached with two
//!   kinds, code the verifier never reached) keeps its check.
//!
//! In both compiles, a call of the helper the embedder names as copying
//! packet bytes ([`apiary_vm::packet_load`], `bpf_skb_load_bytes`) is a
//! copy in the code where it surely succeeds: the bytes inside the run's
//! packet span, the destination inside a live frame's stack, both checked
//! at run time (`emit_packet_load`); every other call takes the helper.
//!
//! # Budget
//! Compiled code counts the budget as the interpreter does (see
//! `compile`). When the verifier bounds a run (no callbacks, tail calls,
//! `may_goto` or global functions, and loops only as far as its walk
//! followed them: `Accepted::run_bound`), a run that starts with at least
//! that much budget cannot exhaust it, so the fast body does not count; a
//! run with less takes the counting body.
//!
//! # Code quality
//! The fast body (verified, not counting the budget) is where speed
//! counts, and where ops that nothing jumps into are fused beyond what
//! the kernel's JIT does (see `compile`): byte loads and copies combined
//! into wide ones, sums reordered by when their operands are ready, a
//! remainder taken from the division that gave its quotient, outermost
//! loop heads aligned to 64 bytes. Each keeps results identical (`tests/combined.rs`,
//! `tests/fused.rs`, and the differential tests).
//!
//! # Repeated runs
//! An activation may run the program many times
//! ([`apiary_vm::Runner::run_repeat`], a test run with `repeat`): the
//! entry sets the context up once and starts each run itself, with the
//! registers, budget and `may_goto` counter a fresh run has; after a run
//! that called a helper it has the vm set the next one up (see
//! `emit_call::prologue` and `slow::between`): in full, unless every helper
//! the run called keeps the input ([`apiary_vm::Program::helper_keeps_input`]),
//! and keeping what it derived from the input when the vm found it the same.
//!
//! # Constant blinding
//! With [`Options::blind_constants`] no immediate of the program appears in
//! the code as written (`blind`), as with the kernel's `bpf_jit_harden`.
//!
//! # Registers
//! eBPF `r0`..`r10` live in rax, rdi, rsi, rdx, rcx, r8, rbx, r13, r14,
//! r15, rbp (the kernel's mapping); r9 holds the remaining budget, r12 the
//! activation's context, r10 and r11 are scratch. Around calls into Rust
//! `r0..r5` (in caller-saved registers) are saved and restored, since the
//! interpreter keeps `r1..r5` across helper calls and programs it runs may
//! read them; `r6..r9` stay in callee-saved registers, which Rust keeps,
//! and reach the context only when the activation leaves for a tail call
//! or hands a group to the interpreter because the budget runs short.

#[cfg(target_arch = "x86_64")]
mod blind;
#[cfg(target_arch = "x86_64")]
mod code;
#[cfg(target_arch = "x86_64")]
mod combine;
#[cfg(target_arch = "x86_64")]
mod compile;
#[cfg(target_arch = "x86_64")]
mod ctx;
#[cfg(target_arch = "x86_64")]
mod divmod;
mod dump;
#[cfg(target_arch = "x86_64")]
mod emit_alu;
#[cfg(target_arch = "x86_64")]
mod emit_call;
#[cfg(target_arch = "x86_64")]
mod emit_commit;
#[cfg(target_arch = "x86_64")]
mod emit_jmp;
#[cfg(target_arch = "x86_64")]
mod emit_lookup;
#[cfg(target_arch = "x86_64")]
mod emit_mem;
#[cfg(target_arch = "x86_64")]
mod emit_packet_load;
mod emit_reserve;
#[cfg(target_arch = "x86_64")]
mod exec_mem;
#[cfg(target_arch = "x86_64")]
mod reassoc;
#[cfg(target_arch = "x86_64")]
mod slow;
mod verified;

use apiary_verifier::Accepted;
use apiary_vm::Program;
use thiserror::Error;

#[cfg(target_arch = "x86_64")]
pub use code::JitCode;
pub use dump::{X86Insn, disassemble};
pub use verified::{Compiled, compile_by_verdict, compile_each};

/// Why a program could not be compiled.
#[derive(Debug, Error)]
pub enum JitError {
    /// This machine is not x86-64.
    #[error("the JIT only runs on x86-64")]
    UnsupportedArch,
    /// An op the JIT has no code for.
    #[error("op {op} has no native code")]
    Unsupported {
        /// Op index.
        op: usize,
    },
    /// The assembler refused the code (a bug in the JIT).
    #[error("assembling failed: {0}")]
    Assemble(String),
    /// Executable memory could not be mapped.
    #[error("mapping executable memory failed: {0}")]
    Map(std::io::Error),
    /// The program already has native code attached.
    #[error("the program already has native code")]
    AlreadyCompiled,
    /// The verifier's proofs are for a program of another length.
    #[error("the verifier's proofs cover {proofs} instructions, the program has {slots}")]
    ProofsMismatch {
        /// Instruction slots of the program.
        slots: usize,
        /// Instruction slots the proofs cover.
        proofs: usize,
    },
}

/// How to compile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Constant blinding, as the kernel's `net.core.bpf_jit_harden`: no
    /// immediate of the program appears in the machine code as written
    /// (each is rebuilt from two random-looking halves), which defeats
    /// JIT spraying at the cost of an instruction or two per immediate.
    pub blind_constants: bool,
}

/// Compiles `program` and attaches the code to it; runners then run it
/// natively unless their engine is [`apiary_vm::Engine::Interpreter`].
pub fn compile<E: 'static>(program: &Program<E>) -> Result<(), JitError> {
    compile_with(program, Options::default())
}

/// [`compile`] with `options`.
pub fn compile_with<E: 'static>(program: &Program<E>, options: Options) -> Result<(), JitError> {
    attach(program, options, None)
}

/// [`compile`] for a program the verifier accepted: `accepted` is its
/// verdict on this very program (the instructions the runtime prepared
/// from the same loader spec; the runtime's rewrites keep every
/// instruction where it was). Accesses it proved in bounds are emitted
/// without the region check (see the crate doc's safety argument), and
/// conditional jumps it found going one way on every run
/// ([`apiary_verifier::JumpSides`]) without their comparison.
pub fn compile_verified<E: 'static>(
    program: &Program<E>,
    accepted: &Accepted,
) -> Result<(), JitError> {
    compile_verified_with(program, accepted, Options::default())
}

/// [`compile_verified`] with `options`.
pub fn compile_verified_with<E: 'static>(
    program: &Program<E>,
    accepted: &Accepted,
    options: Options,
) -> Result<(), JitError> {
    attach(program, options, Some(accepted))
}

fn attach<E: 'static>(
    program: &Program<E>,
    options: Options,
    accepted: Option<&Accepted>,
) -> Result<(), JitError> {
    #[cfg(target_arch = "x86_64")]
    {
        let code = compile::compile(program, options, accepted)?;
        program
            .attach_compiled(Box::new(code))
            .map_err(|_| JitError::AlreadyCompiled)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (program, options, accepted);
        Err(JitError::UnsupportedArch)
    }
}
