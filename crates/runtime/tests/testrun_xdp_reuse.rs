//! XDP test runs in a row on one runtime (a capture replayed by `prog run
//! --pcap`) reuse the frame buffers of the run before; each must still
//! answer as a first run on a fresh runtime does.

use apiary_isa::{RawInsn, encode_program};
use apiary_kernel::types::ProgType;
use apiary_runtime::{Runtime, TestRunInput, TestRunOutput};
use apiary_vm::Runner;

fn code(text: &str) -> Vec<RawInsn> {
    encode_program(&apiary_asm::assemble(text).expect("test program assembles"))
}

/// adjust_head(-8); r0 = the 4 bytes now in front (0 unless an earlier
/// run's bytes show through) plus the packet's length; those bytes are
/// then overwritten, and the tail grown by 16 (zeros unless an earlier
/// run's bytes show through).
const SCRIBBLE: &str = "r6 = r1\nr2 = -8\ncall 44\nr1 = r6\nr2 = 16\ncall 65\n\
    r2 = *(u32 *)(r6 + 0)\nr3 = *(u32 *)(r6 + 4)\nr4 = r2\nr4 += 8\nr0 = 99\n\
    if r4 > r3 goto +5\nr0 = *(u32 *)(r2 + 0)\nr5 = -1\n*(u32 *)(r2 + 0) = r5\n\
    r3 -= r2\nr0 += r3\nexit";

fn run(
    runtime: &std::sync::Arc<Runtime>,
    prog: apiary_runtime::ProgId,
    data: &[u8],
    ctx: Option<&[u8]>,
) -> TestRunOutput {
    let input = TestRunInput {
        data_in: Some(data),
        ctx_in: ctx,
        data_size_out: Some(0),
        ..TestRunInput::default()
    };
    let mut output = runtime
        .test_run(&mut Runner::new(), prog, &input)
        .expect("the test run succeeds");
    output.duration_ns = 0;
    output
}

#[test]
fn xdp_test_runs_in_a_row_answer_as_first_runs() {
    let reused = Runtime::new(1);
    let prog = reused
        .load_program("scribble", ProgType::XDP, &code(SCRIBBLE), &[])
        .unwrap();
    // An xdp_md naming the loopback device's queue 0 and the whole packet.
    let md = |len: u32| {
        let mut md = vec![0u8; 24];
        md[4..8].copy_from_slice(&len.to_le_bytes());
        md[12..16].copy_from_slice(&1u32.to_le_bytes());
        md
    };
    for (len, with_ctx) in [
        (200, false),
        (60, false),
        (1500, true),
        (14, false),
        (3000, false),
        (9000, false),
        (64, true),
    ] {
        let data: Vec<u8> = (0..len).map(|i| (i as u8) | 0x80).collect();
        let ctx = with_ctx.then(|| md(len as u32));
        let fresh = Runtime::new(1);
        let fresh_prog = fresh
            .load_program("scribble", ProgType::XDP, &code(SCRIBBLE), &[])
            .unwrap();
        let expected = run(&fresh, fresh_prog, &data, ctx.as_deref());
        let got = run(&reused, prog, &data, ctx.as_deref());
        assert_eq!(got, expected, "{len}-byte packet");
        let out = got.data_out.expect("the packet comes back");
        assert_eq!(&out[..4], &[0xff; 4], "{len}: the run's own write");
        assert_eq!(
            &out[4..8],
            &[0; 4],
            "{len}: the rest of the headroom shown is zero"
        );
    }
}

/// [`SCRIBBLE`], except that a 77-byte packet makes it read far past its
/// frame: the run fails with a memory fault.
fn scribble_or_fault() -> String {
    format!(
        "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr3 -= r2\n\
         if r3 != 77 goto +1\nr0 = *(u8 *)(r2 + 8000)\n{SCRIBBLE}"
    )
}

#[test]
fn test_runs_after_failed_runs_and_without_data_out_answer_as_first_runs() {
    let program = code(&scribble_or_fault());
    let reused = Runtime::new(1);
    let prog = reused
        .load_program("scribble", ProgType::XDP, &program, &[])
        .unwrap();
    let mut runner = Runner::new();
    for (step, len) in [200usize, 77, 60, 1500, 77, 14, 3000, 77, 64]
        .into_iter()
        .enumerate()
    {
        let data: Vec<u8> = (0..len).map(|i| (i as u8) | 0x80).collect();
        let skip_data_out = step % 2 == 1;
        let input = TestRunInput {
            data_in: Some(&data),
            data_size_out: Some(0),
            skip_data_out,
            ..TestRunInput::default()
        };
        let fresh = Runtime::new(1);
        let fresh_prog = fresh
            .load_program("scribble", ProgType::XDP, &program, &[])
            .unwrap();
        let whole = TestRunInput {
            skip_data_out: false,
            ..input.clone()
        };
        let expected = fresh.test_run(&mut Runner::new(), fresh_prog, &whole);
        let got = reused.test_run(&mut runner, prog, &input);
        match (got, expected) {
            (Ok(mut got), Ok(mut expected)) => {
                assert!(len != 77, "a 77-byte packet faults");
                (got.duration_ns, expected.duration_ns) = (0, 0);
                if skip_data_out {
                    assert_eq!(got.data_out, None, "{len}: no packet asked for");
                    expected.data_out = None;
                }
                assert_eq!(got, expected, "{len}-byte packet");
            }
            (Err(got), Err(expected)) => {
                assert_eq!(len, 77);
                assert_eq!(got.to_string(), expected.to_string());
            }
            (got, expected) => panic!("{len}: {got:?} against a fresh runtime's {expected:?}"),
        }
    }
}

#[test]
fn skb_test_runs_without_data_out_give_everything_else() {
    // tc: the packet's length, after a write of its first byte.
    let text = "r2 = *(u32 *)(r1 + 76)\nr3 = *(u32 *)(r1 + 80)\nr4 = r2\nr4 += 1\n\
        r0 = 0\nif r4 > r3 goto +3\nr5 = 7\n*(u8 *)(r2 + 0) = r5\nr0 = *(u32 *)(r1 + 0)\nexit";
    let runtime = Runtime::new(1);
    let prog = runtime
        .load_program("len", ProgType::SCHED_CLS, &code(text), &[])
        .unwrap();
    let data: Vec<u8> = (0..98u8).collect();
    let mut runner = Runner::new();
    let mut run = |skip_data_out| {
        let input = TestRunInput {
            data_in: Some(&data),
            skip_data_out,
            ..TestRunInput::default()
        };
        let mut output = runtime.test_run(&mut runner, prog, &input).unwrap();
        output.duration_ns = 0;
        output
    };
    let whole = run(false);
    let packet = whole.data_out.clone().expect("the packet comes back");
    assert_eq!((whole.retval, packet[0]), (98, 7));
    let skipped = run(true);
    assert_eq!(skipped.data_out, None);
    assert_eq!(
        skipped,
        apiary_runtime::TestRunOutput {
            data_out: None,
            ..whole
        }
    );
}
