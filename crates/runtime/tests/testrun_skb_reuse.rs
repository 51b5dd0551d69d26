//! skb test runs in a row on one runtime (a capture replayed by `prog run
//! --pcap`) reuse the packet buffers of the run before; each must still
//! answer as a first run on a fresh runtime does: after runs that grew,
//! moved or rewrote the packet and its context, after failed runs, with
//! packets of other sizes, with and without a `__sk_buff` context, and
//! across program types that start at different headers.

use apiary_isa::{RawInsn, encode_program};
use apiary_kernel::types::ProgType;
use apiary_runtime::{BPF_F_TEST_SKB_CHECKSUM_COMPLETE, ProgId, Runtime, TestRunInput};
use apiary_vm::Runner;

fn code(text: &str) -> Vec<RawInsn> {
    encode_program(&apiary_asm::assemble(text).expect("test program assembles"))
}

/// tc. r7 = mark + cb[0] + priority + tc_index as the run finds them (what
/// the context gave, never what an earlier run wrote), then all four are
/// overwritten; a 77-byte packet makes it read far past its frame (the run
/// fails); then the head grows by 8 (`bpf_skb_change_head`), the room
/// after the MAC header by 8 (`bpf_skb_adjust_room`, mode MAC), the tail by
/// 16 (`bpf_skb_change_tail`), and 4 bytes at offset 2 are overwritten
/// (`bpf_skb_store_bytes`); each helper's answer is added to r7. r0 = r7
/// plus the packet's first and last 4 bytes (zeros unless an earlier run's
/// bytes show through), its length, and 4 bytes 1400 bytes after its start,
/// read unchecked (an unverified program may read its whole frame: zeros
/// past the packet unless an earlier, longer packet shows through).
const SCRIBBLE: &str = "r6 = r1\n\
    r7 = *(u32 *)(r6 + 8)\nr8 = *(u32 *)(r6 + 48)\nr7 += r8\n\
    r8 = *(u32 *)(r6 + 32)\nr7 += r8\nr8 = *(u32 *)(r6 + 44)\nr7 += r8\n\
    r5 = 85\n*(u32 *)(r6 + 8) = r5\n*(u32 *)(r6 + 48) = r5\n\
    *(u32 *)(r6 + 32) = r5\n*(u32 *)(r6 + 44) = r5\n\
    r2 = *(u32 *)(r6 + 0)\nif r2 != 77 goto +2\nr2 = *(u32 *)(r6 + 76)\n\
    r0 = *(u8 *)(r2 + 30000)\n\
    r1 = r6\nr2 = 8\nr3 = 0\ncall 43\nr7 += r0\n\
    r1 = r6\nr2 = 8\nr3 = 1\nr4 = 0\ncall 50\nr7 += r0\n\
    r1 = r6\nr2 = *(u32 *)(r6 + 0)\nr2 += 16\nr3 = 0\ncall 38\nr7 += r0\n\
    r1 = -1\n*(u32 *)(r10 - 8) = r1\nr1 = r6\nr2 = 2\nr3 = r10\nr3 += -8\n\
    r4 = 4\nr5 = 0\ncall 9\nr7 += r0\n\
    r2 = *(u32 *)(r6 + 76)\nr3 = *(u32 *)(r6 + 80)\nr4 = r2\nr4 += 4\n\
    r0 = *(u32 *)(r2 + 1400)\nr0 += r7\nif r4 > r3 goto +6\nr4 = *(u32 *)(r2 + 0)\nr0 += r4\n\
    r3 -= 4\nr4 = *(u32 *)(r3 + 0)\nr0 += r4\nr4 = *(u32 *)(r6 + 0)\nr0 += r4\n\
    exit";

/// socket filter (data at the network header). The packet's first 4 bytes
/// (`bpf_skb_load_bytes`) plus its length, mark and cb[1], then cb[1]
/// overwritten.
const FILTER: &str = "r6 = r1\nr1 = r6\nr2 = 0\nr3 = r10\nr3 += -8\nr4 = 4\ncall 26\n\
    r7 = r0\nr0 = *(u32 *)(r10 - 8)\nr0 += r7\nr4 = *(u32 *)(r6 + 0)\nr0 += r4\n\
    r4 = *(u32 *)(r6 + 8)\nr0 += r4\nr4 = *(u32 *)(r6 + 52)\nr0 += r4\n\
    r5 = 99\n*(u32 *)(r6 + 52) = r5\nexit";

/// tc: the packet's byte 20, in the IPv4 header, overwritten (without
/// updating `skb->csum`).
const WRITE: &str = "r2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)\nr4 = r2\nr4 += 21\n\
    r0 = 0\nif r4 > r3 goto +2\nr5 = 7\n*(u8 *)(r2 + 20) = r5\nexit";

/// A frame of `len` bytes: IPv4 after the Ethernet header when one fits,
/// an unknown ethertype otherwise; the rest non-zero.
fn frame(len: usize) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..len).map(|i| (i as u8) | 0x80).collect();
    if len >= 34 {
        bytes[12..14].copy_from_slice(&[0x08, 0x00]);
        bytes[14] = 0x45;
    }
    bytes
}

/// A `__sk_buff` giving mark, priority, ifindex and cb[0], cb[1], cb[4].
fn sk_buff() -> Vec<u8> {
    let mut ctx = vec![0u8; 192];
    for (off, value) in [
        (8, 0x1234u32),
        (32, 7),
        (40, 1),
        (48, 0xabc),
        (52, 5),
        (64, 0xdef),
    ] {
        ctx[off..off + 4].copy_from_slice(&value.to_le_bytes());
    }
    ctx
}

/// One test run of each step on `reused` (with `runner`) and on a fresh
/// runtime, which must answer the same.
struct Step {
    prog_type: ProgType,
    text: &'static str,
    len: usize,
    with_ctx: bool,
    flags: u32,
}

fn load(runtime: &Runtime, step: &Step) -> ProgId {
    runtime
        .load_program("reuse", step.prog_type, &code(step.text), &[])
        .expect("the program loads")
}

fn check_steps(steps: &[Step]) -> usize {
    let reused = Runtime::new(1);
    let mut runner = Runner::new();
    let mut loaded = std::collections::HashMap::new();
    let mut failures = 0;
    for (index, step) in steps.iter().enumerate() {
        let data = frame(step.len);
        let ctx = step.with_ctx.then(sk_buff);
        let input = TestRunInput {
            data_in: Some(&data),
            ctx_in: ctx.as_deref(),
            data_size_out: Some(0),
            flags: step.flags,
            ..TestRunInput::default()
        };
        let prog = *loaded
            .entry((step.prog_type, step.text))
            .or_insert_with(|| load(&reused, step));
        let fresh = Runtime::new(1);
        let fresh_prog = load(&fresh, step);
        let expected = fresh.test_run(&mut Runner::new(), fresh_prog, &input);
        let got = reused.test_run(&mut runner, prog, &input);
        let what = format!("step {index}: {:?}, {} bytes", step.prog_type, step.len);
        match (got, expected) {
            (Ok(mut got), Ok(mut expected)) => {
                (got.duration_ns, expected.duration_ns) = (0, 0);
                assert_eq!(got, expected, "{what}");
            }
            (Err(got), Err(expected)) => {
                assert_eq!(got.to_string(), expected.to_string(), "{what}");
                failures += 1;
            }
            (got, expected) => panic!("{what}: {got:?} against a fresh runtime's {expected:?}"),
        }
    }
    failures
}

fn tc(len: usize, with_ctx: bool) -> Step {
    Step {
        prog_type: ProgType::SCHED_CLS,
        text: SCRIBBLE,
        len,
        with_ctx,
        flags: 0,
    }
}

#[test]
fn skb_test_runs_in_a_row_answer_as_first_runs() {
    let steps = [
        tc(200, false),
        tc(60, true),
        tc(1500, false),
        tc(34, true),
        tc(3000, true),
        tc(98, false),
        tc(64, true),
    ];
    assert_eq!(check_steps(&steps), 0);
}

#[test]
fn skb_test_runs_after_failed_runs_answer_as_first_runs() {
    let steps = [
        tc(200, true),
        tc(77, true),
        tc(60, false),
        tc(14, false),
        tc(1500, true),
        tc(20, false),
        tc(77, false),
        Step {
            text: WRITE,
            flags: BPF_F_TEST_SKB_CHECKSUM_COMPLETE,
            ..tc(300, true)
        },
        tc(300, true),
        tc(64, false),
    ];
    // The 77-byte packets fault; the checksum-complete run changes the
    // packet without updating skb->csum (EBADMSG).
    assert_eq!(check_steps(&steps), 3);
}

#[test]
fn skb_test_runs_of_other_program_types_in_between_answer_as_first_runs() {
    let filter = |len, with_ctx| Step {
        prog_type: ProgType::SOCKET_FILTER,
        text: FILTER,
        len,
        with_ctx,
        flags: 0,
    };
    let steps = [
        tc(1500, true),
        filter(200, true),
        tc(60, false),
        filter(1500, false),
        filter(34, true),
        tc(200, true),
        filter(64, false),
    ];
    assert_eq!(check_steps(&steps), 0);
}
