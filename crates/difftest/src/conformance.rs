//! The bpf_conformance suite run inside the kernel.
//!
//! Each test runs as a `syscall` program whose context is the test's memory
//! followed by 8 bytes for the result (at the next multiple of 8). The kernel's return value has only
//! 32 bits, so, like the suite's libbpf plugin, a prologue calls the test
//! as a subprogram and stores its 64-bit r0 itself:
//!
//! ```text
//! r6 = r1; r2 = LEN; call +3; *(u64 *)(r6 + LEN8) = r0; r0 = 0; exit; <test>
//! ```

use std::path::{Path, PathBuf};

use apiary_conformance::{TestCase, execute};
use apiary_isa::{
    AluOp, CallTarget, Insn, Reg, Size, Source, Width, encode_program, slots_to_bytes,
};

use crate::backend::{RunFailure, kernel_load, kernel_run};

/// How one conformance test fared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelVerdict {
    /// The test has no program or memory too large for a context; not run.
    NotApplicable(String),
    /// The verifier refused the test, with its reason.
    Rejected(String),
    /// Kernel and Apiary agree on r0 and memory.
    Agree,
    /// They disagree; both results described.
    Diverge(String),
}

/// Largest context a `syscall` program takes (`U16_MAX` in the kernel).
const MAX_SYSCALL_CTX: usize = u16::MAX as usize;

/// The prologue that runs `test` as a subprogram (r2 = `len`) and stores its r0 at `r0_at`.
fn wrapped(test: &[apiary_isa::RawInsn], len: i16, r0_at: i16) -> Vec<u8> {
    let prologue = [
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: Reg::R6,
            src: Source::Reg(Reg::R1),
        },
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: Reg::R2,
            src: Source::Imm(len.into()),
        },
        Insn::Call(CallTarget::Local(3)),
        Insn::Store {
            size: Size::DW,
            dst: Reg::R6,
            off: r0_at,
            src: Source::Reg(Reg::R0),
        },
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: Reg::R0,
            src: Source::Imm(0),
        },
        Insn::Exit,
    ];
    let mut slots = encode_program(&prologue);
    slots.extend_from_slice(test);
    slots_to_bytes(&slots)
}

/// Runs one parsed test in the kernel and in Apiary (with the conformance setup) and compares.
pub fn check_case(case: &TestCase) -> KernelVerdict {
    let slots = match (&case.raw, &case.asm) {
        (Some(raw), _) => raw.clone(),
        (None, Some(asm)) => match apiary_asm::assemble(&asm.text) {
            Ok(insns) => encode_program(&insns),
            Err(e) => return KernelVerdict::NotApplicable(format!("does not assemble: {e}")),
        },
        (None, None) => return KernelVerdict::NotApplicable("no program".into()),
    };
    let len = case.memory.len();
    // The verifier wants the 8-byte r0 store aligned.
    let r0_at = len.next_multiple_of(8);
    let Some(off) = i16::try_from(r0_at)
        .ok()
        .filter(|_| r0_at + 8 <= MAX_SYSCALL_CTX)
    else {
        return KernelVerdict::NotApplicable(format!("{len} bytes of memory exceed a context"));
    };
    let off_len = off - (r0_at - len) as i16;
    let prog = match kernel_load(&wrapped(&slots, off_len, off), &[]) {
        Ok(prog) => prog,
        Err(RunFailure::Rejected(reason)) => return KernelVerdict::Rejected(reason),
        Err(other) => return KernelVerdict::Diverge(other.to_string()),
    };
    let mut ctx = case.memory.clone();
    ctx.resize(r0_at + 8, 0);
    let kernel_ctx = match kernel_run(&prog, &ctx) {
        Ok((_, ctx)) => ctx,
        Err(e) => return KernelVerdict::Diverge(e.to_string()),
    };
    let kernel_memory = kernel_ctx.get(..len).unwrap_or_default();
    let kernel_r0 = kernel_ctx
        .get(r0_at..)
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map(u64::from_le_bytes);
    let mut memory = case.memory.clone();
    match execute(&slots, &mut memory) {
        Ok(run) if Some(run.r0) == kernel_r0 && memory == kernel_memory => KernelVerdict::Agree,
        Ok(run) => KernelVerdict::Diverge(format!(
            "kernel r0 {kernel_r0:#x?}, apiary r0 {:#x}; memory {}",
            run.r0,
            if memory == kernel_memory {
                "same"
            } else {
                "differs"
            }
        )),
        Err(e) => KernelVerdict::Diverge(format!("kernel r0 {kernel_r0:#x?}, apiary: {e}")),
    }
}

/// Runs a `.data` file; unreadable or unparsable files are `NotApplicable`.
pub fn check_file(path: &Path) -> KernelVerdict {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => return KernelVerdict::NotApplicable(format!("unreadable: {e}")),
    };
    match TestCase::parse(&text) {
        Ok(case) => check_case(&case),
        Err(e) => KernelVerdict::NotApplicable(format!("does not parse: {e:?}")),
    }
}

/// The `.data` files under `dir`, sorted.
pub fn data_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    apiary_conformance::collect_data_files(dir, &mut files)?;
    files.sort();
    Ok(files)
}
