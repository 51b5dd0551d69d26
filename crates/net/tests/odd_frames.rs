//! Frames no veth delivers but a NIC or a ring may: runts shorter than an
//! Ethernet header and frames the ring cut short. They come from a port
//! that hands out fixed frames (the kernel's packet paths refuse to send
//! such frames, so no namespace test can produce them); the worker counts
//! each as refused with a line saying why, runs the others, and goes on.

use apiary_net::ring::RxFrame;
use apiary_net::{Action, Control, NetError, Port, QueueStats, RuntimeProgram, SendFailure};
use apiary_runtime::Runtime;
use apiary_vm::Runner;

/// Hands out its frames (bytes and wire length) in one batch.
struct FixedPort {
    frames: Vec<(Vec<u8>, u32)>,
    sent: usize,
}

impl Port for FixedPort {
    fn ifindex(&self) -> u32 {
        7
    }

    fn queue(&self) -> u32 {
        0
    }

    fn wait(&mut self, _timeout_ms: i32) -> Result<(), NetError> {
        Ok(())
    }

    fn receive(&mut self, each: &mut dyn FnMut(RxFrame<'_>)) -> usize {
        for (bytes, wire_len) in &self.frames {
            each(RxFrame {
                bytes,
                wire_len: *wire_len,
            });
        }
        self.frames.len()
    }

    fn send(&mut self, _ifindex: u32, _frame: &[u8]) -> Result<(), SendFailure> {
        self.sent += 1;
        Ok(())
    }

    fn pass(&mut self, _frame: &[u8]) -> Result<(), SendFailure> {
        Ok(())
    }

    fn kernel_drops(&mut self) -> u64 {
        0
    }

    fn kernel_has_copy(&self) -> bool {
        false
    }
}

/// Runs the program `text` on `frames` (bytes, wire length) through a
/// worker; returns the counters, the line shown last and frames sent.
fn run(text: &str, frames: Vec<(Vec<u8>, u32)>) -> (apiary_net::Snapshot, Option<String>, usize) {
    let runtime = Runtime::new(1);
    let code = apiary_isa::encode_program(&apiary_asm::assemble(text).expect("asm"));
    let prog = runtime
        .load_program("test", apiary_kernel::types::ProgType::XDP, &code, &[])
        .expect("loads");
    let mut program = RuntimeProgram::new(&runtime, prog, Runner::new(), 0).expect("XDP");
    let control = Control::new(Some(frames.len() as u64));
    let mut port = FixedPort { frames, sent: 0 };
    let stats = QueueStats::default();
    apiary_net::run_queue(&mut port, &mut program, &stats, &control).expect("runs");
    (stats.snapshot(), stats.take_problem(), port.sent)
}

#[test]
fn runts_and_cut_frames_are_refused_with_a_line_and_the_rest_run() {
    let (counted, line, sent) = run(
        "r0 = 1\nexit",
        vec![
            (vec![0xaa; 60], 60),
            (Vec::new(), 0),
            (vec![0xbb; 13], 13),
            (vec![0xcc; 14], 14),
            (vec![0xdd; 100], 1514),
        ],
    );
    assert_eq!(counted.frames, 2, "the 60- and 14-byte frames ran");
    assert_eq!(counted.action(Action::Drop), 2);
    assert_eq!(counted.bytes, 74);
    assert_eq!(counted.refused, 3, "two runts and a cut frame: {counted:?}");
    assert_eq!(
        line.as_deref(),
        Some("a 1514-byte frame was cut to 100 bytes by the receive ring"),
        "the last refusal is the line shown"
    );
    assert_eq!(sent, 0);
}

#[test]
fn a_runt_is_refused_as_shorter_than_an_ethernet_header() {
    let (counted, line, _) = run("r0 = 2\nexit", vec![(vec![0xbb; 13], 13)]);
    assert_eq!(counted.refused, 1);
    let line = line.expect("a line");
    assert!(
        line.contains("a 13-byte frame is shorter than an Ethernet header (14)"),
        "{line}"
    );
}
