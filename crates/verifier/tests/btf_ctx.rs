//! BTF-typed tracing contexts where the kernel's BTF cannot type them:
//! the verdict is the kernel's refusal of a program without an attach
//! point, with a cause that says why, never a panic or a guess. The
//! contexts themselves are checked against the kernel's verdicts in
//! `tests/verifier/btf_ctx.s` (through `tests/cases.rs`).

use apiary_kernel::types::{AttachType, ProgType};
use apiary_verifier::{Program, verify};

fn tp_btf<'a>(
    insns: &'a [apiary_isa::RawInsn],
    target: Option<&'a str>,
    btf: Option<&'a apiary_btf::Btf>,
) -> Program<'a> {
    Program {
        attach_type: AttachType::TRACE_RAW_TP,
        attach_target: target,
        kernel_btf: btf,
        ..Program::bare(insns, ProgType::TRACING, &[])
    }
}

fn reads_next_pid() -> Vec<apiary_isa::RawInsn> {
    apiary_asm::assemble_slots("r2 = *(u64 *)(r1 + 16)\nr0 = *(u32 *)(r2 + 0)\nr0 = 0\nexit")
        .expect("assembles")
}

#[test]
fn without_the_kernels_btf_a_typed_program_is_refused_saying_so() {
    let insns = reads_next_pid();
    let refused = verify(&tp_btf(&insns, Some("sched_switch"), None)).unwrap_err();
    assert_eq!(refused.kernel, "Tracing programs must provide btf_id");
    assert_eq!(refused.insn, 0);
    assert!(
        refused.cause.contains("does not provide"),
        "cause: {}",
        refused.cause
    );
}

#[test]
fn a_tracing_program_without_an_attach_point_is_refused() {
    let insns = reads_next_pid();
    let refused = verify(&tp_btf(&insns, None, None)).unwrap_err();
    assert_eq!(refused.kernel, "Tracing programs must provide btf_id");
    assert!(
        refused.cause.contains("none is named"),
        "cause: {}",
        refused.cause
    );
}

#[test]
fn an_attach_point_missing_from_the_kernels_btf_is_refused_by_name() {
    let btf = match apiary_verifier::kernel_btf() {
        Ok(btf) => btf,
        Err(reason) => {
            return apiary_testskip::missing(
                "an_attach_point_missing_from_the_kernels_btf_is_refused_by_name",
                reason,
            );
        }
    };
    let insns = reads_next_pid();
    let program = tp_btf(&insns, Some("no_such_tracepoint_here"), Some(btf));
    let refused = verify(&program).unwrap_err();
    assert_eq!(refused.kernel, "Tracing programs must provide btf_id");
    assert!(
        refused.cause.contains("btf_trace_no_such_tracepoint_here"),
        "cause: {}",
        refused.cause
    );
    let accepted = verify(&tp_btf(&insns, Some("sched_switch"), Some(btf)));
    assert!(accepted.is_ok(), "{accepted:?}");
}
