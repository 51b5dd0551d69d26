//! Live XDP frames (`Runtime::run_xdp_frame`): the program sees the real
//! device and queue, its edits come back as the frame to send, and bad
//! frames and faults are typed errors.

use apiary_isa::{RawInsn, encode_program};
use apiary_kernel::types::ProgType;
use apiary_runtime::{Event, LiveVerdict, Runtime, RxQueue, TaskInfo, TestRunError};
use apiary_vm::Runner;

fn code(text: &str) -> Vec<RawInsn> {
    encode_program(&apiary_asm::assemble(text).expect("test program assembles"))
}

fn frame(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

/// Runs the XDP program `text` once on a `len`-byte frame arrived on `rx`,
/// as CPU 0; returns the verdict and the frame to send.
fn run_once(text: &str, len: usize, rx: RxQueue) -> (LiveVerdict, Vec<u8>) {
    let runtime = Runtime::new(2);
    let prog = runtime
        .load_program("live", ProgType::XDP, &code(text), &[])
        .unwrap();
    let mut bytes = frame(len);
    let verdict = runtime
        .run_xdp_frame(
            &mut Runner::new(),
            prog,
            &mut bytes,
            rx,
            0,
            &TaskInfo::default(),
        )
        .unwrap();
    (verdict, bytes)
}

const ETH0: RxQueue = RxQueue {
    ifindex: 2,
    queue: 0,
};

/// `xdp_md`: data 0, data_end 4, data_meta 8, ingress_ifindex 12, rx_queue_index 16.
#[test]
fn the_program_reads_the_real_device_and_queue() {
    let text = "r2 = *(u32 *)(r1 + 12)\nr3 = *(u32 *)(r1 + 16)\nr3 <<= 16\nr2 |= r3\nr0 = r2\nexit";
    let rx = RxQueue {
        ifindex: 7,
        queue: 3,
    };
    let (verdict, bytes) = run_once(text, 60, rx);
    assert_eq!(verdict.action, 7 | (3 << 16));
    assert_eq!(bytes, frame(60), "an untouched frame comes back unchanged");
}

#[test]
fn head_and_tail_changes_are_what_is_sent() {
    // bpf_xdp_adjust_head(ctx, 4); bpf_xdp_adjust_tail(ctx, -6); return XDP_TX.
    let text = "r6 = r1\nr2 = 4\ncall 44\nr1 = r6\nr2 = -6\ncall 65\nr0 = 3\nexit";
    let (verdict, bytes) = run_once(text, 64, ETH0);
    assert_eq!(verdict.action, 3);
    assert_eq!(bytes, frame(64)[4..58].to_vec());
}

#[test]
fn redirects_are_reported_with_their_target() {
    // bpf_redirect(9, 0)
    let (verdict, _) = run_once("r1 = 9\nr2 = 0\ncall 23\nexit", 42, ETH0);
    assert_eq!(verdict.action, 4, "bpf_redirect returns XDP_REDIRECT");
    assert_eq!(
        verdict.events,
        vec![Event::Redirect {
            ifindex: 9,
            flags: 0
        }]
    );
}

#[test]
fn runts_giants_and_faults_are_typed_errors() {
    let runtime = Runtime::new(1);
    let pass = runtime
        .load_program("pass", ProgType::XDP, &code("r0 = 2\nexit"), &[])
        .unwrap();
    let rx = RxQueue {
        ifindex: 2,
        queue: 0,
    };
    let task = TaskInfo::default();
    let mut runner = Runner::new();
    for len in [0, 13] {
        let error = runtime
            .run_xdp_frame(&mut runner, pass, &mut frame(len), rx, 0, &task)
            .unwrap_err();
        assert!(
            matches!(error, TestRunError::Invalid { .. }),
            "{len}: {error}"
        );
    }
    let jumbo = runtime.run_xdp_frame(&mut runner, pass, &mut frame(9000), rx, 0, &task);
    assert_eq!(
        jumbo.unwrap().action,
        2,
        "a jumbo frame goes into fragments"
    );
    let giant = runtime.run_xdp_frame(
        &mut runner,
        pass,
        &mut frame(3520 + 18 * 4096),
        rx,
        0,
        &task,
    );
    assert!(matches!(giant, Err(TestRunError::Invalid { .. })));
    // A load from address 0 faults: a run error the caller counts as aborted.
    let fault = runtime
        .load_program(
            "fault",
            ProgType::XDP,
            &code("r2 = 0\nr0 = *(u8 *)(r2 + 0)\nexit"),
            &[],
        )
        .unwrap();
    let error = runtime.run_xdp_frame(&mut runner, fault, &mut frame(60), rx, 0, &task);
    assert!(matches!(error, Err(TestRunError::Run(_))));
    let socket = runtime
        .load_program("sock", ProgType::SOCKET_FILTER, &code("r0 = 0\nexit"), &[])
        .unwrap();
    let error = runtime.run_xdp_frame(&mut runner, socket, &mut frame(60), rx, 0, &task);
    assert!(matches!(error, Err(TestRunError::NotSupported { .. })));
}

/// One `LiveXdp` reused over frames of different sizes gives what a fresh
/// run of each frame gives: nothing of an earlier frame shows through
/// (headroom exposed by `bpf_xdp_adjust_head`, tail grown by
/// `bpf_xdp_adjust_tail`).
#[test]
fn a_reused_live_program_answers_as_fresh_runs_do() {
    let runtime = Runtime::new(1);
    // adjust_head(-8), adjust_tail(+16): the frame gains 8 bytes of
    // headroom in front and 16 zero bytes behind; XDP_TX.
    let text = "r6 = r1\nr2 = -8\ncall 44\nr1 = r6\nr2 = 16\ncall 65\nr0 = 3\nexit";
    let prog = runtime
        .load_program("grow", ProgType::XDP, &code(text), &[])
        .unwrap();
    let rx = RxQueue {
        ifindex: 4,
        queue: 0,
    };
    let task = TaskInfo::default();
    let mut runner = Runner::new();
    let mut live = runtime.live_xdp(prog, 0, &task).unwrap();
    for len in [200, 60, 1500, 14, 300, 9000, 64] {
        let filled: Vec<u8> = (0..len).map(|i| (i as u8) | 0x80).collect();
        let (mut reused, mut fresh) = (Vec::new(), filled.clone());
        let action = live.run(&mut runner, &filled, rx).unwrap();
        live.output(&mut reused);
        let a = LiveVerdict {
            action,
            events: live.events().to_vec(),
            trace: live.trace().to_vec(),
        };
        let b = runtime
            .run_xdp_frame(&mut runner, prog, &mut fresh, rx, 0, &task)
            .unwrap();
        assert_eq!(a, b, "{len}");
        assert_eq!(reused, fresh, "{len}-byte frame");
        assert_eq!(&reused[..8], &[0; 8], "the headroom shown is zero");
    }
}

/// Headroom that one frame's run exposed and wrote is zero again when the
/// next frame exposes it, and each frame's context names its own queue,
/// although a reused `LiveXdp` only rewrites what a run can change.
#[test]
fn a_reused_live_program_never_shows_an_earlier_frame() {
    let runtime = Runtime::new(1);
    // adjust_head(-8); r0 = the first 4 bytes now in front (0 unless an
    // earlier frame's bytes show through) | rx_queue_index << 8; then
    // write 0xffffffff there.
    let text = "r6 = r1\nr2 = -8\ncall 44\nr2 = *(u32 *)(r6 + 0)\nr3 = *(u32 *)(r6 + 4)\n\
                r4 = r2\nr4 += 8\nr0 = 99\nif r4 > r3 goto +6\nr0 = *(u32 *)(r2 + 0)\n\
                r7 = *(u32 *)(r6 + 16)\nr7 <<= 8\nr0 |= r7\nr5 = -1\n*(u32 *)(r2 + 0) = r5\nexit";
    let prog = runtime
        .load_program("scribble", ProgType::XDP, &code(text), &[])
        .unwrap();
    let mut runner = Runner::new();
    let mut live = runtime.live_xdp(prog, 0, &TaskInfo::default()).unwrap();
    for queue in [1, 2, 3] {
        let rx = RxQueue { ifindex: 9, queue };
        let action = live.run(&mut runner, &frame(60), rx).unwrap();
        assert_eq!(action, queue << 8, "frame on queue {queue}");
        let mut out = Vec::new();
        live.output(&mut out);
        assert_eq!(out.len(), 68);
        assert_eq!(&out[..4], &[0xff; 4], "the run's own write is sent");
        assert_eq!(&out[8..], &frame(60)[..]);
    }
}
