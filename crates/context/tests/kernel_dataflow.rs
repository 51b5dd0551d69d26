//! Random programs that move the context around (copies, constant offsets, subprogram arguments and return values,
//! spills through r10 and through copied frame pointers, helper calls that
//! clobber r0-r5, branches on unknown values) are given to the kernel and to
//! `prepare`. `prepare` must accept every program the kernel accepts, and
//! must refuse every program the kernel refuses for a context reason; when
//! the kernel refuses for another reason (a scalar dereferenced, packet
//! bounds), either verdict is fine: that is a verifier's business.
//!
//! Other seeds (`CONTEXT_DATAFLOW_SEED=n`) find about one program in 8,000
//! that the kernel accepts and `prepare` refuses: a subprogram returning its
//! argument, called with the context from one site and a scalar from
//! another (the documented cost of joining call sites).

use apiary_context::prepare;
use apiary_kernel::types::{AttachType, ProgType};

mod common;

/// What the kernel says when it refuses a context access.
const CONTEXT_REASONS: [&str; 6] = [
    "invalid bpf_context access",
    "dereference of modified ctx ptr",
    "variable ctx access",
    "same insn cannot be used with different pointers",
    "negative offset ctx ptr",
    "into R",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.next() as usize % items.len()]
    }
}

fn random_program(rng: &mut Rng) -> String {
    const DST: [u8; 6] = [1, 2, 3, 6, 7, 8];
    const SRC: [u8; 8] = [0, 1, 2, 3, 6, 7, 8, 10];
    const SLOT: [i16; 3] = [8, 16, 24];
    const LOAD_OFF: [(i16, &str); 12] = [
        (0, "u32"),
        (4, "u32"),
        (8, "u32"),
        (16, "u16"),
        (18, "u16"),
        (48, "u64"),
        (52, "u8"),
        (76, "u32"),
        (80, "u32"),
        (2, "u32"),
        (200, "u32"),
        (76, "u16"),
    ];
    const STORE_OFF: [i16; 4] = [8, 0, 48, 32];
    let ops = 4 + rng.next() % 14;
    let mut text = String::from(
        "r0 = 0\nr2 = 0\nr3 = 0\nr4 = 0\nr5 = 0\nr6 = r1\nr7 = r1\nr8 = 0\nr9 = 0\n\
         *(u64 *)(r10 - 8) = r1\n*(u64 *)(r10 - 16) = 0\n*(u64 *)(r10 - 24) = 0\n",
    );
    for op in 0..ops {
        text.push_str(&format!("l{op}:\n"));
        let (a, b) = (rng.pick(&DST), rng.pick(&SRC));
        let line = match rng.next() % 15 {
            0 | 1 => format!("r{a} = r{b}"),
            2 => format!("r{a} += {}", rng.pick(&[0, 4, 8, -4])),
            3 => format!("r{a} -= {}", rng.pick(&[4, 8])),
            4 => format!("*(u64 *)(r10 - {}) = r{b}", rng.pick(&SLOT)),
            5 => format!("r{a} = *(u64 *)(r10 - {})", rng.pick(&SLOT)),
            6 | 7 => {
                let (off, size) = rng.pick(&LOAD_OFF);
                format!("r0 = *({size} *)(r{b} + {off})")
            }
            8 => format!("*(u32 *)(r{b} + {}) = r0", rng.pick(&STORE_OFF)),
            9 => {
                let target = op + 1 + rng.next() % (ops - op);
                format!("call 7\nif r0 > 5 goto l{target}")
            }
            10 => format!("r{a} += r0"),
            11 => "call deref_r2".to_string(),
            12 => "call return_r1".to_string(),
            13 => {
                let target = op + 1 + rng.next() % (ops - op);
                let cond = rng.pick(&["==", "!="]);
                format!("if r{a} {cond} 0 goto l{target}")
            }
            _ => format!(
                "r{a} = r10\nr{a} += -{}\n*(u64 *)(r{a} + 0) = r{b}",
                rng.pick(&SLOT)
            ),
        };
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str(&format!("l{ops}:\nr0 = 0\nexit\n"));
    // Subprograms (the kernel refuses unreachable code, so only those
    // called): one dereferences its second argument, one returns its first.
    if text.contains("call deref_r2") {
        let off = rng.pick(&[0, 8, 76, 4]);
        text.push_str(&format!(
            "deref_r2:\nr0 = *(u32 *)(r2 + {off})\nr0 = 0\nexit\n"
        ));
    }
    if text.contains("call return_r1") {
        text.push_str("return_r1:\nr0 = r1\nexit\n");
    }
    text
}

/// `Ok(())` or the verifier log.
fn kernel_verdict(text: &str) -> Result<(), String> {
    let insns = apiary_asm::assemble_slots(text).expect("assemble");
    common::kernel_load(ProgType::SCHED_CLS, AttachType::default(), &insns)
}

#[test]
fn prepare_agrees_with_the_kernel_on_random_context_flows() {
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(
            "prepare_agrees_with_the_kernel_on_random_context_flows",
            reason,
        );
    }
    // CONTEXT_DATAFLOW_SEED explores other programs; the default is fixed.
    let seed = std::env::var("CONTEXT_DATAFLOW_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0de_1234_5678);
    let mut rng = Rng(seed);
    let mut mismatches = Vec::new();
    let (mut both_accept, mut ctx_refusals, mut other_refusals) = (0, 0, 0);
    for _ in 0..8000 {
        let text = random_program(&mut rng);
        let insns = apiary_asm::assemble_slots(&text).expect("assemble");
        let ours = prepare(ProgType::SCHED_CLS, &insns);
        match (kernel_verdict(&text), &ours) {
            (Ok(()), Ok(_)) => both_accept += 1,
            (Ok(()), Err(e)) => {
                mismatches.push(format!("kernel accepts, prepare refuses: {e}\n{text}"))
            }
            (Err(log), _) if CONTEXT_REASONS.iter().any(|r| log.contains(r)) => {
                ctx_refusals += 1;
                if ours.is_ok() {
                    let reason = common::refusal_reason(&log).to_string();
                    mismatches.push(format!(
                        "kernel refuses ({reason}), prepare accepts\n{text}"
                    ));
                }
            }
            (Err(log), _) => {
                other_refusals += 1;
                if std::env::var_os("CONTEXT_DATAFLOW_REASONS").is_some() {
                    eprintln!("OTHER: {}", common::refusal_reason(&log));
                }
            }
        }
    }
    eprintln!(
        "random context flows: {both_accept} accepted by both, {ctx_refusals} refused by the kernel for the context, {other_refusals} for other reasons; {} mismatches",
        mismatches.len()
    );
    for m in mismatches.iter().take(5) {
        eprintln!("MISMATCH: {m}");
    }
    assert!(
        both_accept > 100 && ctx_refusals > 100,
        "the generator lost its balance"
    );
    assert!(mismatches.is_empty(), "{} mismatches", mismatches.len());
}
