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

/// Apiary's verdict on `text` attached at `target` with the host's BTF:
/// `Ok(())` or the final line. `None` (after saying so) without the BTF.
fn verdict(attach: AttachType, target: &str, text: &str) -> Option<Result<(), String>> {
    let btf = match apiary_verifier::kernel_btf() {
        Ok(btf) => btf,
        Err(reason) => return apiary_testskip::missing("btf_ctx fentry and fmod_ret", reason),
    };
    let insns = apiary_asm::assemble_slots(text).expect("assembles");
    let program = Program {
        attach_type: attach,
        attach_target: Some(target),
        kernel_btf: Some(btf),
        ..Program::bare(&insns, ProgType::TRACING, &[])
    };
    Some(verify(&program).map(drop).map_err(|r| r.kernel.clone()))
}

// This host refuses fentry and fmod_ret programs with EPERM, so these
// follow btf.c's rules (`btf_ctx_access`: fentry arguments are untrusted
// `ptr_`, integer pointers numbers, fmod_ret reads the int it returns
// after its arguments) without a recorded kernel verdict.
#[test]
fn fentry_and_fmod_ret_arguments_follow_btf_ctx_access() {
    let fentry = AttachType::TRACE_FENTRY;
    let Some(walk) = verdict(
        fentry,
        "bpf_fentry_test7",
        "r2 = *(u64 *)(r1 + 0)\nr3 = *(u64 *)(r2 + 0)\nr0 = *(u64 *)(r3 + 0)\nr0 = 0\nexit",
    ) else {
        return;
    };
    assert_eq!(walk, Ok(()));
    let beyond = verdict(
        fentry,
        "bpf_fentry_test7",
        "r2 = *(u64 *)(r1 + 0)\nr0 = *(u64 *)(r2 + 8)\nr0 = 0\nexit",
    );
    assert_eq!(
        beyond,
        Some(Err(
            "access beyond struct bpf_fentry_test_t at off 8 size 8".into()
        ))
    );
    let int_pointer = verdict(
        fentry,
        "bpf_fentry_test9",
        "r2 = *(u64 *)(r1 + 0)\nr0 = *(u32 *)(r2 + 0)\nr0 = 0\nexit",
    );
    assert_eq!(
        int_pointer,
        Some(Err("R2 invalid mem access 'scalar'".into()))
    );
    let untrusted_as_memory = verdict(
        fentry,
        "bpf_fentry_test7",
        "r1 = *(u64 *)(r1 + 0)\nr2 = 8\ncall 6\nr0 = 0\nexit",
    );
    assert_eq!(
        untrusted_as_memory,
        Some(Err(
            "R1 type=ptr_ expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_"
                .into()
        ))
    );
    let fmod_ret = AttachType::MODIFY_RETURN;
    let returned = verdict(
        fmod_ret,
        "bpf_modify_return_test",
        "r0 = *(u64 *)(r1 + 16)\nr0 = 0\nexit",
    );
    assert_eq!(returned, Some(Ok(())));
    let past = verdict(
        fmod_ret,
        "bpf_modify_return_test",
        "r0 = *(u64 *)(r1 + 24)\nr0 = 0\nexit",
    );
    assert_eq!(
        past,
        Some(Err("invalid bpf_context access off=24 size=8".into()))
    );
}
