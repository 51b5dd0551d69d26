//! `sk_msg` helpers on an Apiary test run's message (one linear buffer):
//! `bpf_msg_pull_data` moves `data..data_end` to the bytes asked for,
//! counted from the message's first byte, and refuses what the kernel's
//! `bpf_msg_pull_data` refuses for a single scatterlist element
//! (net/core/filter.c): flags, empty or reversed ranges, ranges past the
//! message. `bpf_msg_cork_bytes` and `bpf_msg_apply_bytes` return 0.

use apiary_isa::encode_program;
use apiary_kernel::types::ProgType;
use apiary_runtime::{Runtime, TestRunInput};
use apiary_vm::Runner;

const EINVAL: u32 = (-22i32) as u32;
const MESSAGE: &[u8] = b"hello world";

/// Pulls `start..end` with `flags`; then, if that worked, returns the
/// first byte at `data` times 256 plus `data_end - data`, else the
/// helper's error.
fn pull(pulls: &[(u32, u32, u64)]) -> u32 {
    let mut text = String::from("r6 = r1\n");
    for (n, (start, end, flags)) in pulls.iter().enumerate() {
        text.push_str(&format!(
            "r1 = r6\n r2 = {start}\n r3 = {end}\n r4 = {flags}\n call 63\n \
             if r0 != 0 goto fail{n}\n"
        ));
    }
    text.push_str(
        "r2 = *(u64 *)(r6 + 0)\n r3 = *(u64 *)(r6 + 8)\n r4 = r2\n r4 += 1\n \
         if r4 > r3 goto empty\n r0 = *(u8 *)(r2 + 0)\n r0 <<= 8\n r3 -= r2\n r0 += r3\n exit\n\
         empty:\n r0 = 0\n exit\n",
    );
    for n in 0..pulls.len() {
        text.push_str(&format!("fail{n}:\n exit\n"));
    }
    let rt = Runtime::new(1);
    let code = encode_program(&apiary_asm::assemble(&text).expect("assembles"));
    let prog = rt
        .load_program("pull", ProgType::SK_MSG, &code, &[])
        .expect("loads");
    rt.test_run(
        &mut Runner::new(),
        prog,
        &TestRunInput {
            data_in: Some(MESSAGE),
            ..TestRunInput::default()
        },
    )
    .expect("runs")
    .retval
}

#[test]
fn pull_data_exposes_the_range_asked_for() {
    assert_eq!(pull(&[(6, 11, 0)]), u32::from(b'w') << 8 | 5);
    assert_eq!(pull(&[(0, 1, 0)]), u32::from(b'h') << 8 | 1);
    // Offsets count from the message, not from where data points.
    assert_eq!(pull(&[(6, 11, 0), (1, 3, 0)]), u32::from(b'e') << 8 | 2);
}

#[test]
fn pull_data_refuses_what_the_kernel_refuses() {
    assert_eq!(pull(&[(6, 11, 1)]), EINVAL, "flags");
    assert_eq!(pull(&[(3, 3, 0)]), EINVAL, "empty range");
    assert_eq!(pull(&[(5, 2, 0)]), EINVAL, "reversed range");
    assert_eq!(pull(&[(11, 12, 0)]), EINVAL, "start past the message");
    assert_eq!(pull(&[(6, 12, 0)]), EINVAL, "end past the message");
}

#[test]
fn cork_and_apply_bytes_return_zero() {
    let text =
        "r6 = r1\n r2 = 100\n call 62\n r7 = r0\n r1 = r6\n r2 = 5\n call 61\n r0 += r7\n exit";
    let rt = Runtime::new(1);
    let code = encode_program(&apiary_asm::assemble(text).expect("assembles"));
    let prog = rt
        .load_program("cork", ProgType::SK_MSG, &code, &[])
        .expect("loads");
    let out = rt
        .test_run(
            &mut Runner::new(),
            prog,
            &TestRunInput {
                data_in: Some(MESSAGE),
                ..TestRunInput::default()
            },
        )
        .expect("runs");
    assert_eq!(out.retval, 0);
}
