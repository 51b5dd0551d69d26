//! Code compiled with the verifier's proofs keeps every check the proofs
//! do not cover: accesses the verifier accepted without a proof (the
//! context), proven packet accesses in runs whose packet pointers the
//! embedder did not vouch for (no `PacketBuffer` region), and the budget
//! of a run given less than the verifier's bound. Hostile contexts there
//! fault with the interpreter's error, address included; were a check
//! missing, the unmapped addresses below would crash the test.

use apiary_asm::assemble_slots;
use apiary_isa::RawInsn;
use apiary_kernel::types::ProgType;
use apiary_verifier::{Accepted, AccessProof, JumpSide, Program as Verified, verify};
use apiary_vm::{Engine, Program, RunError, Runner};

fn slots(text: &str) -> Vec<RawInsn> {
    assemble_slots(text).expect("assembling the test program")
}

fn accepted_as_xdp(slots: &[RawInsn]) -> Accepted {
    verify(&Verified::bare(slots, ProgType::XDP, &[]))
        .unwrap_or_else(|r| panic!("the verifier refused it: {}", r.kernel))
}

/// `slots` run on `ctx` as the only memory (no packet region), in the
/// interpreter and compiled with the verifier's proofs (the programs here
/// do not write it, so both runs see the same bytes at the same address),
/// each with `budget`.
fn both_tiers(
    slots: &[RawInsn],
    accepted: &Accepted,
    ctx: &mut [u8],
    budget: Option<u64>,
) -> [Result<u64, RunError>; 2] {
    let helpers = apiary_conformance::conformance_helpers();
    let interpreted = Program::new(slots, helpers.clone()).expect("preparing");
    let compiled = Program::new(slots, helpers).expect("preparing");
    apiary_jit::compile_verified(&compiled, accepted).expect("compiling");
    let mut runner = Runner::new();
    runner.set_budget(budget);
    runner.set_engine(Engine::Interpreter);
    let a = runner.run_on_memory(&interpreted, &mut (), ctx);
    runner.set_engine(Engine::Compiled);
    let b = runner.run_on_memory(&compiled, &mut (), ctx);
    [a, b]
}

/// Reads one byte of the packet after proving it inside `data..data_end`.
const PACKET_READ: &str = "
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r4 = r2
    r4 += 1
    if r4 > r3 goto +2
    r0 = *(u8 *)(r2 + 0)
    exit
    r0 = 7
    exit
";

#[test]
fn a_proven_packet_read_keeps_its_check_when_the_packet_is_not_vouched_for() {
    let program = slots(PACKET_READ);
    let accepted = accepted_as_xdp(&program);
    assert_eq!(
        accepted.proofs.get(5),
        Some(AccessProof::Packet),
        "the packet read is proven"
    );
    // `data` = 0x1000 and `data_end` = 0x2000: unmapped low memory that
    // the context claims is the packet.
    let mut ctx = [0u8; 8];
    ctx[0..4].copy_from_slice(&0x1000u32.to_le_bytes());
    ctx[4..8].copy_from_slice(&0x2000u32.to_le_bytes());
    let [interpreted, compiled] = both_tiers(&program, &accepted, &mut ctx, None);
    assert!(
        matches!(interpreted, Err(RunError::MemoryFault { .. })),
        "{interpreted:?}"
    );
    assert_eq!(compiled, interpreted);
}

#[test]
fn a_proven_context_read_keeps_its_check_when_the_context_is_too_short() {
    // `ingress_ifindex` is a field the verifier allows; the run's context
    // is only 8 bytes long.
    let program = slots("r0 = *(u32 *)(r1 + 12)\nexit");
    let accepted = accepted_as_xdp(&program);
    assert_eq!(accepted.proofs.get(0), Some(AccessProof::Context));
    let [interpreted, compiled] = both_tiers(&program, &accepted, &mut [0u8; 8], None);
    assert!(
        matches!(interpreted, Err(RunError::MemoryFault { .. })),
        "{interpreted:?}"
    );
    assert_eq!(compiled, interpreted);
    // Long enough, the context holds the field for both.
    let mut ctx = [0u8; 16];
    ctx[12..].copy_from_slice(&0xabcdu32.to_le_bytes());
    let [interpreted, compiled] = both_tiers(&program, &accepted, &mut ctx, None);
    assert_eq!((interpreted, compiled), (Ok(0xabcd), Ok(0xabcd)));
}

/// Spills 5 and reads it back through a copy of the frame pointer.
const STACK_ROUND_TRIP: &str = "
        r2 = 5
        *(u64 *)(r10 - 8) = r2
        r3 = r10
        r3 += -8
        r0 = *(u64 *)(r3 + 0)
        exit
";

#[test]
fn stack_accesses_are_proven_and_run_unchecked_with_the_same_result() {
    let program = slots(STACK_ROUND_TRIP);
    let accepted = accepted_as_xdp(&program);
    assert_eq!(accepted.run_bound, Some(6));
    assert_eq!(accepted.proofs.get(1), Some(AccessProof::Stack));
    assert_eq!(accepted.proofs.get(4), Some(AccessProof::Stack));
    let [interpreted, compiled] = both_tiers(&program, &accepted, &mut [0u8; 8], None);
    assert_eq!(interpreted, Ok(5));
    assert_eq!(compiled, interpreted);
}

#[test]
fn a_budget_below_the_verifiers_bound_is_still_counted() {
    let program = slots(STACK_ROUND_TRIP);
    let accepted = accepted_as_xdp(&program);
    let [interpreted, compiled] = both_tiers(&program, &accepted, &mut [0u8; 8], Some(4));
    assert!(
        matches!(interpreted, Err(RunError::BudgetExhausted { .. })),
        "{interpreted:?}"
    );
    assert_eq!(compiled, interpreted);
}

/// Eight iterations adding 0 or 2 to r2 by the bits of the receive
/// queue's index (context bytes 16..20), which the walk prunes: its bound
/// (69) is the run with every bit set.
const PRUNED_LOOP: &str = "
    r2 = 0
    r3 = *(u32 *)(r1 + 16)
    r4 = 8
    r5 = r3
    r5 &= 1
    if r5 != 0 goto +1
    goto +2
    r2 += 1
    r2 += 1
    r3 >>= 1
    r4 += -1
    if r4 != 0 goto -9
    r0 = r2
    exit
";

#[test]
fn a_loop_runs_uncounted_from_its_bound_and_counted_below_it_with_the_same_results() {
    let program = slots(PRUNED_LOOP);
    let accepted = accepted_as_xdp(&program);
    assert_eq!(accepted.run_bound, Some(69));
    for queue in [0u32, 0x5a, 0xff] {
        let mut ctx = [0u8; 20];
        ctx[16..].copy_from_slice(&queue.to_le_bytes());
        for budget in 1..=72 {
            let [interpreted, compiled] = both_tiers(&program, &accepted, &mut ctx, Some(budget));
            assert_eq!(compiled, interpreted, "queue {queue:#x}, budget {budget}");
            if queue == 0xff {
                // The longest run: exactly the bound, so the check right below
                // it is the one a wrong bound would miss.
                let done = budget >= 69;
                assert_eq!(
                    interpreted.is_ok(),
                    done,
                    "budget {budget}: {interpreted:?}"
                );
            }
        }
    }
}

/// A packet bound checked twice (the second time decided by the first),
/// a jump on a constant that never jumps and one that always jumps over
/// an op nothing else reaches.
const DECIDED_JUMPS: &str = "
    r0 = 0
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r4 = r2
    r4 += 8
    if r4 > r3 goto +7
    if r4 > r3 goto +6
    r5 = 3
    if r5 != 3 goto +1
    r0 = 1
    if r5 == 3 goto +1
    r0 = 7
    r0 += 1
    exit
";

#[test]
fn only_jumps_on_numbers_lose_their_comparison_and_both_tiers_agree_on_any_context() {
    let program = slots(DECIDED_JUMPS);
    let accepted = accepted_as_xdp(&program);
    let sides = &accepted.jump_sides;
    // Pointer comparisons keep theirs: the context may hold any addresses.
    assert_eq!((sides.get(5), sides.get(6)), (None, None));
    assert_eq!(sides.get(8), Some(JumpSide::FallThrough));
    assert_eq!(sides.get(10), Some(JumpSide::Taken));
    assert_eq!(sides.count(), 2);
    // data..data_end as given, including data_end below data.
    for (data, end) in [(64u32, 200u32), (64, 70), (200, 64), (64, 72)] {
        let mut ctx = [0u8; 8];
        ctx[..4].copy_from_slice(&data.to_le_bytes());
        ctx[4..].copy_from_slice(&end.to_le_bytes());
        for budget in std::iter::once(None).chain((1..=14).map(Some)) {
            let [interpreted, compiled] = both_tiers(&program, &accepted, &mut ctx, budget);
            assert_eq!(compiled, interpreted, "data {data}, data_end {end}");
        }
    }
}

#[test]
fn proofs_for_another_program_are_refused() {
    let accepted = accepted_as_xdp(&slots("r0 = 0\nexit"));
    let other = Program::new(
        &slots("r0 = 0\nr0 = 1\nexit"),
        apiary_conformance::conformance_helpers(),
    )
    .expect("preparing");
    assert!(matches!(
        apiary_jit::compile_verified(&other, &accepted),
        Err(apiary_jit::JitError::ProofsMismatch {
            slots: 3,
            proofs: 2
        })
    ));
}
