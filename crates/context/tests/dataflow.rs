//! The ctx-pointer dataflow on the shapes clang produces: copies, spills,
//! subprogram arguments, loops, conflicting paths and modified pointers.
//! Each program's expected verdict is also checked against the kernel.

use apiary_context::{AccessKind, ContextError, SKB_DATA, SKB_DATA_END, prepare, prepare_for};
use apiary_isa::RawInsn;
use apiary_kernel::types::{AttachType, ProgType};

mod common;

fn asm(text: &str) -> Vec<RawInsn> {
    apiary_asm::assemble_slots(text).unwrap_or_else(|e| panic!("assembling {text}: {e}"))
}

/// Loads into the kernel when it can: `Some(Ok(()))` accepted,
/// `Some(Err(reason))` refused, `None` (after a skip) when `bpf()` is
/// unavailable.
fn kernel_verdict(prog_type: ProgType, insns: &[RawInsn]) -> Option<Result<(), String>> {
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(
            &format!("kernel cross-check of a {prog_type} program"),
            reason,
        );
    }
    let verdict = common::kernel_load(prog_type, AttachType::default(), insns);
    Some(verdict.map_err(|log| common::refusal_reason(&log).to_string()))
}

/// `prepare`'s verdict, after checking that the kernel agrees on accept/refuse.
fn both(prog_type: ProgType, text: &str) -> Result<Vec<RawInsn>, ContextError> {
    let insns = asm(text);
    let ours = prepare(prog_type, &insns);
    if let Some(kernel) = kernel_verdict(prog_type, &insns) {
        assert_eq!(
            kernel.is_ok(),
            ours.is_ok(),
            "kernel and prepare disagree on\n{text}\nkernel: {kernel:?}\nprepare: {ours:?}"
        );
    }
    ours
}

#[test]
fn ctx_copied_to_a_callee_saved_register_is_tracked() {
    let out = both(
        ProgType::SCHED_CLS,
        "r6 = r1
         call 7
         r0 = *(u32 *)(r6 + 76)
         exit",
    )
    .expect("accepted");
    // The data load became a 64-bit load of the internal pointer.
    assert_eq!(out[2].code, 0x79);
    assert_eq!(out[2].off as u32, SKB_DATA);
    assert_eq!((out[2].dst, out[2].src), (0, 6));
}

#[test]
fn ctx_spilled_and_reloaded_is_tracked() {
    let out = both(
        ProgType::SCHED_CLS,
        "*(u64 *)(r10 - 8) = r1
         r1 = 0
         r2 = *(u64 *)(r10 - 8)
         r0 = *(u32 *)(r2 + 80)
         exit",
    )
    .expect("accepted");
    assert_eq!((out[3].code, out[3].off as u32), (0x79, SKB_DATA_END));
}

#[test]
fn spill_through_a_copied_frame_pointer_is_tracked() {
    let text = "r2 = r10
         r2 += -16
         *(u64 *)(r2 + 0) = r1
         r3 = *(u64 *)(r10 - 16)
         r0 = *(u32 *)(r3 + 0)
         *(u32 *)(r3 + 0) = r0
         exit";
    let err = both(ProgType::SOCKET_FILTER, text).expect_err("len is read-only");
    assert!(
        matches!(
            err,
            ContextError::Access {
                insn: 5,
                access: AccessKind::Write,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "insn 5: socket_filter programs may not write __sk_buff.len (offset 0, 4 bytes): read-only"
    );
}

#[test]
fn ctx_passed_to_a_subprogram_is_checked_there() {
    let out = both(
        ProgType::SCHED_CLS,
        "call sub
         exit
         sub:
         r0 = *(u32 *)(r1 + 76)
         exit",
    )
    .expect("accepted");
    assert_eq!((out[2].code, out[2].off as u32), (0x79, SKB_DATA));

    let err = both(
        ProgType::SCHED_CLS,
        "r2 = r1
         r1 = 0
         call sub
         exit
         sub:
         r0 = 1
         *(u32 *)(r2 + 4) = r0
         exit",
    )
    .expect_err("pkt_type is read-only");
    assert!(matches!(err, ContextError::Access { insn: 5, .. }), "{err}");
    assert!(err.to_string().contains("__sk_buff.pkt_type"), "{err}");
}

#[test]
fn registers_after_a_call_are_not_ctx_but_callee_saved_ones_are() {
    let prepared = prepare_for(
        ProgType::SCHED_CLS,
        AttachType::default(),
        &asm("r6 = r1
              r2 = r1
              call sub
              r0 = *(u32 *)(r6 + 0)
              exit
              sub:
              r0 = 0
              exit"),
    )
    .expect("accepted");
    let at: Vec<usize> = prepared.accesses.iter().map(|a| a.insn).collect();
    assert_eq!(at, [3]);
}

#[test]
fn ctx_on_one_path_and_stack_on_another_is_refused() {
    let err = both(
        ProgType::SOCKET_FILTER,
        "*(u64 *)(r10 - 8) = 0
         r2 = r10
         r2 += -8
         r3 = *(u32 *)(r1 + 0)
         if r3 == 0 goto +1
         r2 = r1
         r0 = *(u32 *)(r2 + 0)
         exit",
    )
    .expect_err("mixed pointers");
    assert_eq!(err, ContextError::MixedPointers { insn: 6, reg: 2 });
}

#[test]
fn a_subprogram_called_with_ctx_and_with_stack_is_refused() {
    let err = both(
        ProgType::SOCKET_FILTER,
        "*(u64 *)(r10 - 8) = 0
         r6 = r1
         call sub
         r1 = r10
         r1 += -8
         call sub
         r0 = 0
         exit
         sub:
         r0 = *(u32 *)(r1 + 0)
         exit",
    )
    .expect_err("mixed pointers");
    assert_eq!(err, ContextError::MixedPointers { insn: 8, reg: 1 });
}

#[test]
fn modified_ctx_pointers_are_refused() {
    let err = both(
        ProgType::SOCKET_FILTER,
        "r1 += 4
         r0 = *(u32 *)(r1 + 0)
         exit",
    )
    .expect_err("modified ctx");
    assert!(
        matches!(
            err,
            ContextError::ModifiedCtx {
                insn: 1,
                reg: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("off=4"), "{err}");

    let err = both(
        ProgType::SOCKET_FILTER,
        "r2 = *(u32 *)(r1 + 0)
         r2 &= 4
         r1 += r2
         r0 = *(u32 *)(r1 + 0)
         exit",
    )
    .expect_err("variable offset");
    assert!(
        matches!(err, ContextError::ModifiedCtx { insn: 3, .. }),
        "{err}"
    );

    // Back at offset 0 the pointer is clean again.
    both(
        ProgType::SOCKET_FILTER,
        "r1 += 8
         r1 -= 8
         r0 = *(u32 *)(r1 + 0)
         exit",
    )
    .expect("accepted");
}

#[test]
fn a_ctx_pointer_bumped_in_a_loop_is_refused() {
    let err = both(
        ProgType::SOCKET_FILTER,
        "r2 = r1
         r3 = 0
         loop:
         r0 = *(u32 *)(r2 + 0)
         r2 += 4
         r3 += 1
         if r3 < 3 goto loop
         exit",
    )
    .expect_err("modified in the loop");
    assert!(
        matches!(err, ContextError::ModifiedCtx { insn: 2, .. }),
        "{err}"
    );
}

#[test]
fn legacy_packet_loads_need_ctx_in_r6_and_an_skb_type() {
    both(
        ProgType::SOCKET_FILTER,
        "r6 = r1
         r0 = *(u8 *)skb[12]
         exit",
    )
    .expect("accepted");
    let err = both(
        ProgType::SOCKET_FILTER,
        "r6 = 0
         r0 = *(u8 *)skb[12]
         exit",
    )
    .expect_err("r6 is not ctx");
    assert!(
        matches!(err, ContextError::LegacyPacketLoad { insn: 1, .. }),
        "{err}"
    );
    let err = both(
        ProgType::XDP,
        "r6 = r1
         r0 = *(u8 *)skb[12]
         exit",
    )
    .expect_err("not for xdp");
    assert!(
        matches!(err, ContextError::LegacyPacketLoad { insn: 1, .. }),
        "{err}"
    );
}

#[test]
fn jumps_out_of_a_function_are_refused() {
    let err = both(
        ProgType::SOCKET_FILTER,
        "call sub
         r0 = 0
         exit
         sub:
         goto -2
         exit",
    )
    .expect_err("jump into the caller");
    assert!(
        matches!(err, ContextError::ControlFlow { insn: 3, .. }),
        "{err}"
    );
}

#[test]
fn xdp_pointer_loads_are_rewritten_and_others_kept() {
    let out = both(
        ProgType::XDP,
        "r2 = *(u32 *)(r1 + 0)
         r3 = *(u32 *)(r1 + 4)
         r4 = *(u32 *)(r1 + 8)
         r5 = *(u32 *)(r1 + 12)
         r0 = 2
         exit",
    )
    .expect("accepted");
    let loads: Vec<(u8, i16)> = out[..4].iter().map(|i| (i.code, i.off)).collect();
    assert_eq!(loads, [(0x79, 24), (0x79, 32), (0x79, 40), (0x61, 12)]);
}

#[test]
fn unreached_code_is_not_checked() {
    let insns = asm("goto +1
                     r0 = *(u32 *)(r1 + 4000)
                     r0 = 0
                     exit");
    assert!(prepare(ProgType::SOCKET_FILTER, &insns).is_ok());
}

#[test]
fn the_embedder_type_accepts_anything_that_decodes() {
    let insns = asm("r1 += 4
                     lock *(u64 *)(r1 + 4000) += r1
                     r0 = 0
                     exit");
    assert_eq!(prepare(ProgType::UNSPEC, &insns).expect("accepted"), insns);
}

#[test]
fn uncovered_types_are_refused_clearly() {
    let err = prepare(ProgType::SK_REUSEPORT, &asm("r0 = 0\nexit")).expect_err("uncovered");
    assert_eq!(
        err.to_string(),
        "context rules for sk_reuseport programs are not implemented"
    );
}

#[test]
fn max_ctx_offset_is_the_end_of_the_furthest_access() {
    let prepared = prepare_for(
        ProgType::RAW_TRACEPOINT,
        AttachType::default(),
        &asm("r2 = *(u64 *)(r1 + 8)
              r3 = *(u32 *)(r1 + 24)
              r0 = 0
              exit"),
    )
    .expect("accepted");
    assert_eq!(prepared.max_ctx_offset, 28);
    assert!(prepared.accesses.iter().all(|a| !a.rewritten));
}

#[test]
fn ctx_returned_by_a_subprogram_is_tracked() {
    let out = both(
        ProgType::SCHED_CLS,
        "call sub
         r0 = *(u32 *)(r0 + 76)
         exit
         sub:
         r0 = r1
         exit",
    )
    .expect("accepted");
    assert_eq!((out[1].code, out[1].off as u32), (0x79, SKB_DATA));
    let err = both(
        ProgType::SCHED_CLS,
        "call sub
         r1 = 1
         *(u32 *)(r0 + 0) = r1
         r0 = 0
         exit
         sub:
         r0 = r1
         exit",
    )
    .expect_err("len is read-only");
    assert!(matches!(err, ContextError::Access { insn: 2, .. }), "{err}");
}

#[test]
fn a_pointer_into_the_callers_frame_is_not_the_callees_frame() {
    // The callee stores ctx through the caller's frame pointer, then reads
    // its own slot at the same offset: that slot never held the context.
    let prepared = prepare_for(
        ProgType::SOCKET_FILTER,
        AttachType::default(),
        &asm("*(u64 *)(r10 - 8) = 0
              r2 = r10
              r2 += -8
              call sub
              r0 = 0
              exit
              sub:
              *(u64 *)(r2 + 0) = r1
              r3 = *(u64 *)(r10 - 8)
              r0 = *(u32 *)(r3 + 4000)
              r0 = 0
              exit"),
    )
    .expect("no context access");
    assert!(prepared.accesses.is_empty(), "{:?}", prepared.accesses);
}

#[test]
fn refusals_name_the_field_and_the_rule() {
    let cases = [
        (
            ProgType::XDP,
            "*(u32 *)(r1 + 0) = 1\nr0 = 0\nexit",
            "insn 0: xdp programs may not write an immediate to xdp_md.data (offset 0, 4 bytes): read-only",
        ),
        (
            ProgType::XDP,
            "r0 = *(u32 *)(r1 + 24)\nexit",
            "insn 0: xdp programs may not read xdp_md+24 (past the end) (offset 24, 4 bytes): outside the 24-byte context",
        ),
        (
            ProgType::KPROBE,
            "r0 = *(u32 *)(r1 + 130)\nexit",
            "insn 0: kprobe programs may not read pt_regs.ip+2 (offset 130, 4 bytes): misaligned: the offset is not a multiple of the size",
        ),
        (
            ProgType::TRACEPOINT,
            "r0 = *(u32 *)(r1 + 4)\nexit",
            "insn 0: tracepoint programs may not read tracepoint record.common_pid (offset 4, 4 bytes): not available to this program type",
        ),
        (
            ProgType::PERF_EVENT,
            "r0 = *(u32 *)(r1 + 8)\nexit",
            "insn 0: perf_event programs may not read bpf_perf_event_data.regs[1] (offset 8, 4 bytes): must be exactly 8 bytes wide",
        ),
        (
            ProgType::SCHED_CLS,
            "r0 = *(u8 *)(r1 + 182)\nexit",
            "insn 0: sched_cls programs may not read __sk_buff+182 (padding) (offset 182, 1 bytes): padding between fields",
        ),
        (
            ProgType::SCHED_CLS,
            "r0 = *(u64 *)(r1 + 64)\nexit",
            "insn 0: sched_cls programs may not read __sk_buff.cb[4] (offset 64, 8 bytes): runs past the end of the field",
        ),
        (
            ProgType::SCHED_CLS,
            "r0 = *(u64 *)(r1 + 0)\nexit",
            "insn 0: sched_cls programs may not read __sk_buff.len (offset 0, 8 bytes): loads must be at most 4 bytes wide",
        ),
        (
            ProgType::SCHED_CLS,
            "lock *(u32 *)(r1 + 8) += r1\nr0 = 0\nexit",
            "insn 0: sched_cls programs may not atomically access __sk_buff.mark (offset 8, 4 bytes): atomic operations on the context are refused",
        ),
    ];
    for (prog_type, text, expected) in cases {
        let err = both(prog_type, text).expect_err(expected);
        assert_eq!(err.to_string(), expected);
    }
}

#[test]
fn branches_on_known_constants_are_folded_like_the_kernel() {
    for setup in ["r2 = 1", "*(u64 *)(r10 - 8) = 1\nr2 = *(u64 *)(r10 - 8)"] {
        let text = format!(
            "{setup}
             if r2 == 0 goto bad
             r0 = *(u32 *)(r1 + 0)
             exit
             bad:
             r0 = *(u32 *)(r1 + 4000)
             exit"
        );
        both(ProgType::SOCKET_FILTER, &text).expect("the bad side is dead");
    }
    // An unknown value keeps both sides.
    let err = both(
        ProgType::SOCKET_FILTER,
        "r2 = *(u32 *)(r1 + 8)
         if r2 == 0 goto bad
         r0 = 0
         exit
         bad:
         r0 = *(u32 *)(r1 + 4000)
         exit",
    )
    .expect_err("the bad side is live");
    assert!(matches!(err, ContextError::Access { insn: 4, .. }), "{err}");
}
