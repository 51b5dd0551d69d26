//! `prepare` must accept exactly the context accesses the running kernel
//! accepts: for every covered program type, every offset around its context
//! and every access form (loads of 1/2/4/8 bytes, sign-extending loads,
//! stores of a register and of an immediate, atomic adds, load-acquire and
//! store-release), a four-instruction program is loaded into the kernel and
//! given to `prepare`.

use apiary_context::{ContextError, prepare_for};
use apiary_isa::{AluOp, AtomicOp, Insn, RawInsn, Reg, Size, Source, Width, encode_program};
use apiary_kernel::types::{AttachType, ProgType};

mod common;

#[derive(Clone, Copy, Debug)]
enum Form {
    Load(Size),
    LoadSignExtend(Size),
    Store(Size),
    StoreImm(Size),
    AtomicAdd(Size),
    LoadAcquire(Size),
    StoreRelease(Size),
}

const FORMS: [Form; 25] = [
    Form::Load(Size::B),
    Form::Load(Size::H),
    Form::Load(Size::W),
    Form::Load(Size::DW),
    Form::LoadSignExtend(Size::B),
    Form::LoadSignExtend(Size::H),
    Form::LoadSignExtend(Size::W),
    Form::Store(Size::B),
    Form::Store(Size::H),
    Form::Store(Size::W),
    Form::Store(Size::DW),
    Form::StoreImm(Size::B),
    Form::StoreImm(Size::H),
    Form::StoreImm(Size::W),
    Form::StoreImm(Size::DW),
    Form::AtomicAdd(Size::W),
    Form::AtomicAdd(Size::DW),
    Form::LoadAcquire(Size::B),
    Form::LoadAcquire(Size::H),
    Form::LoadAcquire(Size::W),
    Form::LoadAcquire(Size::DW),
    Form::StoreRelease(Size::B),
    Form::StoreRelease(Size::H),
    Form::StoreRelease(Size::W),
    Form::StoreRelease(Size::DW),
];

/// `r2 = 1; <access through r1 + off>; r0 = 0; exit`.
fn program(form: Form, off: i16) -> Vec<RawInsn> {
    let access = match form {
        Form::Load(size) | Form::LoadSignExtend(size) => Insn::Load {
            size,
            sign_extend: matches!(form, Form::LoadSignExtend(_)),
            dst: Reg::R3,
            src: Reg::R1,
            off,
        },
        Form::Store(size) => Insn::Store {
            size,
            dst: Reg::R1,
            off,
            src: Source::Reg(Reg::R2),
        },
        Form::StoreImm(size) => Insn::Store {
            size,
            dst: Reg::R1,
            off,
            src: Source::Imm(1),
        },
        Form::AtomicAdd(size) => Insn::Atomic {
            size,
            op: AtomicOp::Add { fetch: false },
            dst: Reg::R1,
            src: Reg::R2,
            off,
        },
        Form::LoadAcquire(size) => Insn::LoadAcquire {
            size,
            dst: Reg::R3,
            src: Reg::R1,
            off,
        },
        Form::StoreRelease(size) => Insn::StoreRelease {
            size,
            dst: Reg::R1,
            src: Reg::R2,
            off,
        },
    };
    let mov = |dst, imm| Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src: Source::Imm(imm),
    };
    encode_program(&[mov(Reg::R2, 1), access, mov(Reg::R0, 0), Insn::Exit])
}

/// The kernel's verdict: `Ok(())` or why it refused.
fn kernel_verdict(
    prog_type: ProgType,
    attach_type: AttachType,
    insns: &[RawInsn],
) -> Result<(), String> {
    common::kernel_load(prog_type, attach_type, insns)
        .map_err(|log| common::refusal_reason(&log).to_string())
}

struct Case {
    prog_type: ProgType,
    attach_type: AttachType,
    offsets: Vec<i16>,
}

fn case(prog_type: ProgType, offsets: impl IntoIterator<Item = i16>) -> Case {
    Case {
        prog_type,
        attach_type: AttachType::default(),
        offsets: offsets.into_iter().collect(),
    }
}

fn cases() -> Vec<Case> {
    let skb = -8..=200;
    let mut cases: Vec<Case> = [
        ProgType::SOCKET_FILTER,
        ProgType::SCHED_CLS,
        ProgType::SCHED_ACT,
        ProgType::CGROUP_SKB,
        ProgType::LWT_IN,
        ProgType::LWT_OUT,
        ProgType::LWT_XMIT,
        ProgType::LWT_SEG6LOCAL,
        ProgType::SK_SKB,
        ProgType::FLOW_DISSECTOR,
    ]
    .into_iter()
    .map(|t| case(t, skb.clone()))
    .collect();
    cases.push(case(ProgType::XDP, -8..=48));
    cases.push(Case {
        attach_type: AttachType::XDP_DEVMAP,
        ..case(ProgType::XDP, -8..=48)
    });
    cases.push(case(ProgType::KPROBE, -8..=184));
    cases.push(case(ProgType::PERF_EVENT, -8..=200));
    cases.push(case(ProgType::RAW_TRACEPOINT, -8..=112));
    cases.push(case(ProgType::TRACEPOINT, (-8..=40).chain(8168..=8200)));
    cases.push(case(ProgType::SYSCALL, (-8..=40).chain(32752..=32767)));
    cases.push(case(ProgType::CGROUP_DEVICE, -8..=24));
    cases.push(case(ProgType::CGROUP_SYSCTL, -8..=24));
    let attached = |prog_type, attach_type, offsets: std::ops::RangeInclusive<i16>| Case {
        prog_type,
        attach_type,
        offsets: offsets.collect(),
    };
    for attach in [
        AttachType::CGROUP_INET_SOCK_CREATE,
        AttachType::CGROUP_INET_SOCK_RELEASE,
        AttachType::CGROUP_INET4_POST_BIND,
        AttachType::CGROUP_INET6_POST_BIND,
    ] {
        cases.push(attached(ProgType::CGROUP_SOCK, attach, -8..=88));
    }
    for attach in [
        AttachType::CGROUP_INET4_CONNECT,
        AttachType::CGROUP_INET6_BIND,
        AttachType::CGROUP_UDP4_SENDMSG,
        AttachType::CGROUP_UDP6_SENDMSG,
        AttachType::CGROUP_UNIX_CONNECT,
    ] {
        cases.push(attached(ProgType::CGROUP_SOCK_ADDR, attach, -8..=80));
    }
    for attach in [AttachType::CGROUP_GETSOCKOPT, AttachType::CGROUP_SETSOCKOPT] {
        cases.push(attached(ProgType::CGROUP_SOCKOPT, attach, -8..=48));
    }
    cases.push(attached(
        ProgType::SK_LOOKUP,
        AttachType::SK_LOOKUP,
        -8..=80,
    ));
    cases.push(attached(
        ProgType::NETFILTER,
        AttachType::NETFILTER,
        -8..=24,
    ));
    cases.push(case(ProgType::SK_MSG, -8..=88));
    cases.push(case(ProgType::SOCK_OPS, -8..=232));
    cases
}

#[test]
fn prepare_accepts_exactly_what_the_kernel_accepts() {
    const TEST: &str = "prepare_accepts_exactly_what_the_kernel_accepts";
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(TEST, reason);
    }
    let baseline = encode_program(&[
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: Reg::R0,
            src: Source::Imm(0),
        },
        Insn::Exit,
    ]);
    let mut mismatches = Vec::new();
    let mut compared = 0usize;
    let mut accepted = 0usize;
    for case in cases() {
        if let Err(why) = kernel_verdict(case.prog_type, case.attach_type, &baseline) {
            apiary_testskip::refused::<()>(
                &format!("{TEST} ({} programs)", case.prog_type),
                format!(
                    "BPF_PROG_LOAD of a {} program (r0 = 0; exit)",
                    case.prog_type
                ),
                why,
            );
            continue;
        }
        for &off in &case.offsets {
            for form in FORMS {
                let insns = program(form, off);
                let kernel = kernel_verdict(case.prog_type, case.attach_type, &insns);
                let ours = prepare_for(case.prog_type, case.attach_type, &insns);
                compared += 1;
                accepted += usize::from(kernel.is_ok());
                match (&kernel, &ours) {
                    (Ok(()), Ok(_)) | (Err(_), Err(ContextError::Access { .. })) => {}
                    _ => mismatches.push(format!(
                        "{} (attach {}) {form:?} at offset {off}: kernel {}, prepare {}",
                        case.prog_type,
                        case.attach_type,
                        match &kernel {
                            Ok(()) => "accepts".to_string(),
                            Err(why) => format!("refuses ({why})"),
                        },
                        match &ours {
                            Ok(_) => "accepts".to_string(),
                            Err(e) => format!("refuses ({e})"),
                        },
                    )),
                }
            }
        }
    }
    eprintln!(
        "compared {compared} programs with the kernel ({accepted} accepted), {} mismatches",
        mismatches.len()
    );
    for line in mismatches.iter().take(40) {
        eprintln!("MISMATCH: {line}");
    }
    assert!(compared > 10_000, "too few programs compared: {compared}");
    assert!(mismatches.is_empty(), "{} mismatches", mismatches.len());
}
