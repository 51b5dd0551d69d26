//! `packet` mode on a veth pair between two namespaces the test creates:
//! verdicts counted exactly, `XDP_TX` frames back at the sender with the
//! program's edits, the firewall example's block list obeyed.

use std::sync::Arc;

use apiary_isa::encode_program;
use apiary_kernel::types::ProgType;
use apiary_net::{
    Action, Control, Interface, PacketPort, QueueStats, RingGeometry, RuntimeProgram, Snapshot,
    run_queue,
};
use apiary_runtime::{ProgId, Runtime};
use apiary_vm::Runner;

use apiary_net::netns::{Link, is_root};
use apiary_net::traffic::{exchange, udp_frame};

/// The test's link, or `None` after a loud SKIPPED line when not root.
fn link(test: &str) -> Option<Link> {
    if !is_root() {
        eprintln!("SKIPPED: {test} because network namespaces and packet sockets need root");
        return None;
    }
    Some(Link::new(test).expect("namespaces and veth pair"))
}

/// Runs `prog` on `ap0` until `count` frames were seen, while the traffic
/// side sends `frames` and collects `expect_back` frames; returns the
/// queue's counters and what came back.
fn run(
    link: &Link,
    runtime: &Arc<Runtime>,
    prog: ProgId,
    frames: &[Vec<u8>],
    expect_back: usize,
) -> (Snapshot, Vec<Vec<u8>>) {
    let mut port = link
        .apiary
        .run(|| {
            let ap0 = Interface::by_name(Link::APIARY_IFACE)?;
            PacketPort::open(&ap0, 0, None, RingGeometry::default())
        })
        .expect("enter the apiary namespace")
        .expect("packet port on ap0");
    let control = Control::new(Some(frames.len() as u64));
    let stats = QueueStats::default();
    let mut program = RuntimeProgram::new(Arc::clone(runtime), prog, Runner::new(), 0);
    let back = std::thread::scope(|scope| {
        let worker = scope.spawn(|| run_queue(&mut port, &mut program, &stats, &control));
        let back = exchange(link, frames, expect_back).expect("traffic");
        // The worker stops by itself once it has seen every frame; a lost
        // frame must not hang the test, so it gets five seconds at most.
        for _ in 0..500 {
            if control.stopped() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        control.stop();
        worker.join().expect("worker").expect("worker ran");
        back
    });
    (stats.snapshot(), back)
}

fn asm_program(runtime: &Runtime, text: &str) -> ProgId {
    let code = encode_program(&apiary_asm::assemble(text).expect("assembles"));
    runtime
        .load_program("test", ProgType::XDP, &code, &[])
        .expect("loads")
}

#[test]
fn xdp_tx_returns_every_frame_to_the_sender_with_the_programs_edits() {
    let Some(link) = link("tx") else {
        return;
    };
    let runtime = Runtime::new(1);
    // Swap the MAC addresses (as a reflector does), then XDP_TX.
    let prog = asm_program(
        &runtime,
        "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 14\n\
         if r4 > r3 goto +11\n\
         r5 = *(u32 *)(r2 + 0)\nr6 = *(u16 *)(r2 + 4)\n\
         r7 = *(u32 *)(r2 + 6)\nr8 = *(u16 *)(r2 + 10)\n\
         *(u32 *)(r2 + 0) = r7\n*(u16 *)(r2 + 4) = r8\n\
         *(u32 *)(r2 + 6) = r5\n*(u16 *)(r2 + 10) = r6\n\
         r0 = 3\nexit\nr0 = 1\nexit",
    );
    let frames: Vec<Vec<u8>> = (0..50).map(|i| udp_frame([192, 0, 2, 1], i)).collect();
    let (stats, back) = run(&link, &runtime, prog, &frames, frames.len());
    assert_eq!(stats.frames, 50);
    assert_eq!(stats.action(Action::Tx), 50);
    assert_eq!(stats.sent, 50);
    assert_eq!(back.len(), 50, "every XDP_TX frame came back");
    let mut expected: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut swapped = f.clone();
            swapped[0..6].copy_from_slice(&f[6..12]);
            swapped[6..12].copy_from_slice(&f[0..6]);
            swapped
        })
        .collect();
    let mut back = back;
    back.sort();
    expected.sort();
    assert_eq!(
        back, expected,
        "the frames came back with their MACs swapped"
    );
}

#[test]
fn the_firewall_example_drops_exactly_the_listed_sources() {
    let Some(link) = link("fw") else {
        return;
    };
    let example = match apiary_corpus::example("xdp_firewall").map(|e| e.read()) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => panic!("xdp_firewall.o: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: firewall on a live link because the example is unavailable: {e}");
            return;
        }
    };
    let object = apiary_loader::Object::parse(&example, "xdp_firewall").expect("parses");
    let runtime = Runtime::new(1);
    let loaded = runtime.load_object(&object).expect("loads");
    let prog = loaded.program("xdp_firewall").expect("program");
    let blocklist = runtime
        .map(runtime.map_by_name("blocklist").expect("blocklist"))
        .expect("map");
    // 192.0.2.0/24 is rule 1, 198.51.100.128/25 is rule 3.
    blocklist
        .update(&[24, 0, 0, 0, 192, 0, 2, 0], &1u32.to_ne_bytes(), 0, 0)
        .expect("rule 1");
    blocklist
        .update(&[25, 0, 0, 0, 198, 51, 100, 128], &3u32.to_ne_bytes(), 0, 0)
        .expect("rule 3");
    let sources: [([u8; 4], bool); 6] = [
        ([192, 0, 2, 10], true),
        ([192, 0, 3, 1], false),
        ([198, 51, 100, 200], true),
        ([198, 51, 100, 5], false),
        ([203, 0, 113, 7], false),
        ([192, 0, 2, 255], true),
    ];
    let frames: Vec<Vec<u8>> = (0..60)
        .map(|i| udp_frame(sources[i % sources.len()].0, i as u32))
        .collect();
    let blocked = (0..60).filter(|i| sources[i % sources.len()].1).count() as u64;
    let (stats, _) = run(&link, &runtime, prog, &frames, 0);
    assert_eq!(stats.frames, 60);
    assert_eq!(stats.action(Action::Drop), blocked);
    assert_eq!(stats.action(Action::Pass), 60 - blocked);
    let hits = runtime
        .map(runtime.map_by_name("rule_hits").expect("rule_hits"))
        .expect("map");
    let packets = |rule: u32| {
        let value = hits.lookup(&rule.to_ne_bytes(), 0).expect("lookup");
        value.map_or(0, |v| {
            u64::from_ne_bytes(v.read()[..8].try_into().expect("u64"))
        })
    };
    assert_eq!(packets(1), 20, "192.0.2.10 and 192.0.2.255, 10 frames each");
    assert_eq!(packets(3), 10, "198.51.100.200");
}
