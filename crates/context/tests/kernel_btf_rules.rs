//! `prepare` against the running kernel for BTF-typed programs: a tp_btf,
//! fentry, fexit or lsm program is loaded with the `attach_btf_id` of a real
//! kernel attach point (trampoline kinds only where the host allows them),
//! and every access form at every offset around its argument slots must get
//! the same verdict from `prepare_btf` (told the attach point's arguments)
//! as from the kernel; `prepare_for`, which is not
//! told, may accept only what the arguments' count and pointer types
//! refuse.

use apiary_btf::{Btf, BtfKind};
use apiary_context::{
    BtfArguments, BtfArgumentsError, ContextError, btf_arguments, prepare_btf, prepare_for,
};
use apiary_isa::{AluOp, Insn, RawInsn, Reg, Size, Source, Width, encode_program};
use apiary_kernel::types::{AttachType, ProgType};

mod common;

/// `r2 = 1; <access through r1 + off>; r0 = 0; exit`.
fn program(access: Insn) -> Vec<RawInsn> {
    let mov = |dst, imm| Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src: Source::Imm(imm),
    };
    encode_program(&[mov(Reg::R2, 1), access, mov(Reg::R0, 0), Insn::Exit])
}

fn accesses(off: i16) -> Vec<Insn> {
    let mut all = Vec::new();
    for size in [Size::B, Size::H, Size::W, Size::DW] {
        for sign_extend in [false, true] {
            if sign_extend && size == Size::DW {
                continue;
            }
            all.push(Insn::Load {
                size,
                sign_extend,
                dst: Reg::R3,
                src: Reg::R1,
                off,
            });
        }
        all.push(Insn::Store {
            size,
            dst: Reg::R1,
            off,
            src: Source::Reg(Reg::R2),
        });
        all.push(Insn::Store {
            size,
            dst: Reg::R1,
            off,
            src: Source::Imm(1),
        });
    }
    all
}

struct Target {
    prog_type: ProgType,
    attach_type: AttachType,
    function: &'static str,
    /// The attach point's arguments, from its prototype.
    args: BtfArguments,
}

fn kernel_verdict(target: &Target, btf_id: u32, insns: &[RawInsn]) -> Result<(), String> {
    common::kernel_load_attached(target.prog_type, target.attach_type, btf_id, insns)
        .map_err(|log| common::refusal_reason(&log).to_string())
}

/// The attach points compared: BTF tracepoints (attached through their
/// `btf_trace_<name>` typedef) and the trampoline kinds (fentry, fexit on
/// `bpf_fentry_test1`, lsm on `file_open`, attached through the FUNC),
/// each with its arguments from its prototype as `(slots, pointer mask)`.
const ATTACH_POINTS: [(AttachType, &str, u8, u16); 7] = [
    (AttachType::TRACE_RAW_TP, "sched_switch", 4, 0b0110),
    (AttachType::TRACE_RAW_TP, "sched_process_fork", 2, 0b11),
    (AttachType::TRACE_RAW_TP, "sys_enter", 2, 0b01),
    (AttachType::TRACE_RAW_TP, "kfree_skb", 4, 0b1011),
    (AttachType::TRACE_FENTRY, "bpf_fentry_test1", 1, 0),
    (AttachType::TRACE_FEXIT, "bpf_fentry_test1", 2, 0),
    (AttachType::LSM_MAC, "file_open", 2, 0b01),
];

/// The kernel BTF id a program attached at `function` names, or why this
/// kernel has none.
fn attach_btf_id(vmlinux: &Btf, attach_type: AttachType, function: &str) -> Option<u32> {
    let (name, kind) = match attach_type {
        AttachType::TRACE_RAW_TP => (format!("btf_trace_{function}"), BtfKind::Typedef),
        AttachType::LSM_MAC => (format!("bpf_lsm_{function}"), BtfKind::Func),
        _ => (function.to_owned(), BtfKind::Func),
    };
    vmlinux.find_by_name_kind(&name, kind).map(|id| id.0)
}

#[test]
fn btf_argument_rules_match_the_kernel() {
    const TEST: &str = "btf_argument_rules_match_the_kernel";
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(TEST, reason);
    }
    let vmlinux = match apiary_testskip::vmlinux_btf() {
        Ok(bytes) => Btf::parse(&bytes).expect("vmlinux BTF parses"),
        Err(reason) => return apiary_testskip::skip(TEST, reason),
    };
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for (attach_type, function, slots, pointers) in ATTACH_POINTS {
        let args = btf_arguments(&vmlinux, attach_type, function)
            .unwrap_or_else(|e| panic!("{function}: {e}"));
        // The prototypes in include/trace/events: sched_switch(bool
        // preempt, task *prev, task *next, unsigned int prev_state),
        // sched_process_fork(task *parent, task *child), sys_enter(struct
        // pt_regs *regs, long id), kfree_skb(struct sk_buff *skb, void
        // *location, enum skb_drop_reason reason, struct sock *rx_sk);
        // bpf_fentry_test1(int a) (fexit adds the return value),
        // file_open(struct file *file) (lsm adds the return value).
        assert_eq!(
            args,
            BtfArguments { slots, pointers },
            "{function}'s arguments from vmlinux BTF"
        );
        let target = Target {
            prog_type: if attach_type == AttachType::LSM_MAC {
                ProgType::LSM
            } else {
                ProgType::TRACING
            },
            attach_type,
            function,
            args,
        };
        let point = format!("{TEST} ({attach_type} {function})");
        let Some(btf_id) = attach_btf_id(&vmlinux, attach_type, function) else {
            apiary_testskip::refused::<()>(
                &point,
                format!("an attach point {function} in {}", apiary_testskip::VMLINUX),
                "this kernel has none",
            );
            continue;
        };
        // The trivial program probes whether this host loads programs of
        // this kind at all: some refuse every trampoline (fentry, fexit,
        // lsm) with EPERM, even to root.
        let baseline = program(Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: Reg::R3,
            src: Source::Imm(0),
        });
        if let Err(why) = kernel_verdict(&target, btf_id, &baseline) {
            apiary_testskip::refused::<()>(
                &point,
                format!(
                    "BPF_PROG_LOAD of a {} program attached to {function} (r3 = 0; r0 = 0; exit)",
                    target.prog_type
                ),
                why,
            );
            continue;
        }
        let end = i16::from(target.args.slots) * 8;
        for off in -8..end + 16 {
            for access in accesses(off) {
                let insns = program(access);
                let kernel = kernel_verdict(&target, btf_id, &insns);
                let told = prepare_btf(target.prog_type, target.attach_type, target.args, &insns);
                let untold = prepare_for(target.prog_type, target.attach_type, &insns);
                compared += 1;
                // Without the arguments, prepare must accept everything the
                // kernel accepts, and refuse everything the kernel refuses
                // for reasons other than the arguments' count and types.
                let untold_ok = match (&kernel, &untold) {
                    (Ok(()), Ok(_)) | (Err(_), Err(ContextError::Access { .. })) => true,
                    (Err(_), Ok(_)) => off >= end || access_is_narrow_load(&access),
                    _ => false,
                };
                let told_ok = matches!(
                    (&kernel, &told),
                    (Ok(()), Ok(_)) | (Err(_), Err(ContextError::Access { .. }))
                );
                if !told_ok || !untold_ok {
                    mismatches.push(format!(
                        "{} ({}) {access:?}: kernel {kernel:?}, prepare_btf {:?}, prepare_for {:?}",
                        target.function,
                        target.attach_type,
                        told.map(|_| ()).map_err(|e| e.to_string()),
                        untold.map(|_| ()).map_err(|e| e.to_string())
                    ));
                }
            }
        }
    }
    for line in mismatches.iter().take(40) {
        eprintln!("MISMATCH: {line}");
    }
    assert!(compared > 200, "too few programs compared: {compared}");
    assert!(mismatches.is_empty(), "{} mismatches", mismatches.len());
}

fn access_is_narrow_load(insn: &Insn) -> bool {
    matches!(insn, Insn::Load { size, .. } if *size != Size::DW)
}

/// `btf_arguments` on attach points some hosts cannot load programs for,
/// against their C prototypes: bpf_fentry_test1(int a),
/// bpf_modify_return_test(int a, int *b), bpf_lsm_file_open(struct file
/// *file), bpf_iter_task(struct bpf_iter_meta *meta, struct task_struct
/// *task); fexit, fmod_ret and lsm read the return value after the
/// arguments.
#[test]
fn btf_arguments_follow_the_prototypes() {
    let vmlinux = match apiary_testskip::vmlinux_btf() {
        Ok(bytes) => Btf::parse(&bytes).expect("vmlinux BTF parses"),
        Err(reason) => return apiary_testskip::skip("btf_arguments_follow_the_prototypes", reason),
    };
    let args = |attach, target| btf_arguments(&vmlinux, attach, target);
    let known = |slots, pointers| Ok(BtfArguments { slots, pointers });
    assert_eq!(
        args(AttachType::TRACE_FENTRY, "bpf_fentry_test1"),
        known(1, 0)
    );
    assert_eq!(
        args(AttachType::TRACE_FEXIT, "bpf_fentry_test1"),
        known(2, 0)
    );
    assert_eq!(
        args(AttachType::MODIFY_RETURN, "bpf_modify_return_test"),
        known(3, 0b010)
    );
    assert_eq!(args(AttachType::LSM_MAC, "file_open"), known(2, 0b01));
    assert_eq!(args(AttachType::TRACE_ITER, "task"), known(2, 0b11));
    assert_eq!(
        args(AttachType::TRACE_FENTRY, "no_such_function_here")
            .unwrap_err()
            .to_string(),
        "the kernel's BTF has no FUNC named no_such_function_here"
    );
    assert!(matches!(
        args(AttachType::STRUCT_OPS, "ssthresh"),
        Err(BtfArgumentsError::NotDerivable { .. })
    ));
}
