//! `prepare` against the running kernel for BTF-typed programs: a tp_btf
//! program is loaded with the `attach_btf_id` of a real kernel tracepoint, and every access form at every offset around its
//! argument slots must get the same verdict from `prepare_btf` (told the
//! attach point's arguments) as from the kernel; `prepare_for`, which is not
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

#[test]
fn btf_argument_rules_match_the_kernel() {
    if let Err(reason) = apiary_kernel::probe() {
        eprintln!("SKIPPED: kernel BTF-context comparison because {reason}");
        return;
    }
    let vmlinux = match std::fs::read("/sys/kernel/btf/vmlinux") {
        Ok(bytes) => Btf::parse(&bytes).expect("vmlinux BTF parses"),
        Err(e) => {
            eprintln!("SKIPPED: kernel BTF-context comparison because vmlinux BTF: {e}");
            return;
        }
    };
    // Trampoline programs (fentry, fexit, fmod_ret, lsm) share these rules
    // but this machine's kernel refuses to load any of them (EPERM, see
    // tests/progs/manifest.toml); BTF tracepoints load.
    let targets: Vec<Target> = [
        ("sched_switch", 4, 0b0110),
        ("sched_process_fork", 2, 0b11),
        ("sys_enter", 2, 0b01),
        ("kfree_skb", 4, 0b1011),
    ]
    .into_iter()
    .map(|(tracepoint, slots, pointers)| {
        let args = btf_arguments(&vmlinux, AttachType::TRACE_RAW_TP, tracepoint)
            .unwrap_or_else(|e| panic!("{tracepoint}: {e}"));
        // The prototypes in include/trace/events: sched_switch(bool
        // preempt, task *prev, task *next, unsigned int prev_state),
        // sched_process_fork(task *parent, task *child), sys_enter(struct
        // pt_regs *regs, long id), kfree_skb(struct sk_buff *skb, void
        // *location, enum skb_drop_reason reason, struct sock *rx_sk).
        assert_eq!(
            args,
            BtfArguments { slots, pointers },
            "{tracepoint}'s arguments from vmlinux BTF"
        );
        Target {
            prog_type: ProgType::TRACING,
            attach_type: AttachType::TRACE_RAW_TP,
            function: tracepoint,
            args,
        }
    })
    .collect();
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for target in &targets {
        let typedef = format!("btf_trace_{}", target.function);
        let Some(btf_id) = vmlinux.find_by_name_kind(&typedef, BtfKind::Typedef) else {
            eprintln!(
                "SKIPPED: {} because vmlinux has no such function",
                target.function
            );
            continue;
        };
        let baseline = program(Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: Reg::R3,
            src: Source::Imm(0),
        });
        if let Err(why) = kernel_verdict(target, btf_id.0, &baseline) {
            eprintln!(
                "SKIPPED: {} on {} because the kernel refuses even a trivial program: {why}",
                target.attach_type, target.function
            );
            continue;
        }
        let end = i16::from(target.args.slots) * 8;
        for off in -8..end + 16 {
            for access in accesses(off) {
                let insns = program(access);
                let kernel = kernel_verdict(target, btf_id.0, &insns);
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

/// `btf_arguments` on attach points this kernel cannot load programs for,
/// against their C prototypes: bpf_fentry_test1(int a),
/// bpf_modify_return_test(int a, int *b), bpf_lsm_file_open(struct file
/// *file), bpf_iter_task(struct bpf_iter_meta *meta, struct task_struct
/// *task); fexit, fmod_ret and lsm read the return value after the
/// arguments.
#[test]
fn btf_arguments_follow_the_prototypes() {
    let vmlinux = match std::fs::read("/sys/kernel/btf/vmlinux") {
        Ok(bytes) => Btf::parse(&bytes).expect("vmlinux BTF parses"),
        Err(e) => {
            eprintln!("SKIPPED: BTF argument prototypes because vmlinux BTF: {e}");
            return;
        }
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
