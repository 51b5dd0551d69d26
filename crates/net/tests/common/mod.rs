//! A worker on `ap0` of a test link in either mode, the traffic side
//! sending and collecting, and the programs the tests run.

use std::sync::Arc;

use apiary_isa::encode_program;
use apiary_kernel::types::ProgType;
use apiary_net::netns::Link;
use apiary_net::traffic::{send_and_collect, udp_frame};
use apiary_net::{
    Action, Control, Interface, NetError, PacketPort, Port, QueueStats, RingGeometry,
    RuntimeProgram, Snapshot, Tap, XskOptions, XskPort, XskRedirect, run_queue,
};
use apiary_runtime::{ProgId, Runtime};
use apiary_vm::Runner;

/// How the worker receives frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Packet,
    Afxdp,
}

/// The test's link, or `None` after skipping `test` when not root
/// (namespaces and packet sockets need it).
pub fn link(test: &str) -> Option<Link> {
    if let Err(reason) = apiary_testskip::root() {
        return apiary_testskip::skip(test, reason);
    }
    Some(Link::new(test).expect("namespaces and veth pair"))
}

/// A port on `ap0` and what must live as long as it.
pub struct Opened {
    pub port: Box<dyn Port>,
    pub _redirect: Option<XskRedirect>,
}

/// Opens queue 0 of `ap0` in `mode`, inside the data plane's namespace.
pub fn open(link: &Link, mode: Mode) -> Opened {
    link.apiary
        .run(|| -> Result<Opened, NetError> {
            let ap0 = Interface::by_name(Link::APIARY_IFACE)?;
            Ok(match mode {
                Mode::Packet => Opened {
                    port: Box::new(PacketPort::open(&ap0, 0, None, RingGeometry::default())?),
                    _redirect: None,
                },
                Mode::Afxdp => {
                    let redirect = XskRedirect::attach(ap0.ifindex, 1, 0)?;
                    let mac = ap0.mac().expect("ap0 has an address");
                    let tap = Arc::new(Tap::create("apiary-pass", mac)?);
                    let port = XskPort::open(&ap0, 0, &redirect, tap, XskOptions::default())?;
                    Opened {
                        port: Box::new(port),
                        _redirect: Some(redirect),
                    }
                }
            })
        })
        .expect("enter the apiary namespace")
        .expect("port on ap0")
}

/// Runs `prog` on `ap0` in `mode` until it has seen every frame, while
/// the traffic side sends `frames` out of `tx0` and collects `expect_back`
/// frames arriving on `tx0`; returns the queue's counters and what came
/// back.
pub fn run(
    link: &Link,
    mode: Mode,
    runtime: &Arc<Runtime>,
    prog: ProgId,
    frames: &[Vec<u8>],
    expect_back: usize,
) -> Ran {
    let traffic = Traffic {
        frames,
        back_on: Link::TRAFFIC_IFACE,
        expect_back,
        frames_run: frames.len() as u64,
    };
    run_back_on(link, mode, runtime, prog, traffic)
}

/// What a run did: the queue's counters, the frames that came back, and
/// the program's trace lines.
pub struct Ran {
    pub stats: Snapshot,
    pub back: Vec<Vec<u8>>,
    pub trace: Vec<String>,
}

/// What the traffic side sends and collects, and how many frames the
/// worker runs before it stops.
pub struct Traffic<'a> {
    pub frames: &'a [Vec<u8>],
    pub back_on: &'a str,
    pub expect_back: usize,
    pub frames_run: u64,
}

/// [`run`] with the traffic described in full.
pub fn run_back_on(
    link: &Link,
    mode: Mode,
    runtime: &Arc<Runtime>,
    prog: ProgId,
    traffic: Traffic<'_>,
) -> Ran {
    let mut opened = open(link, mode);
    let control = Control::new(Some(traffic.frames_run));
    let stats = QueueStats::default();
    let mut program = RuntimeProgram::new(runtime, prog, Runner::new(), 0).expect("an XDP program");
    let back = std::thread::scope(|scope| {
        let port = opened.port.as_mut();
        let worker = scope.spawn(|| run_queue(port, &mut program, &stats, &control));
        let back = send_and_collect(
            &link.traffic,
            Link::TRAFFIC_IFACE,
            traffic.back_on,
            traffic.frames,
            traffic.expect_back,
        )
        .expect("traffic");
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
    Ran {
        stats: stats.snapshot(),
        back,
        trace: stats.take_trace().0,
    }
}

/// An XDP program assembled from `text`.
pub fn asm_program(runtime: &Runtime, text: &str) -> ProgId {
    let code = encode_program(&apiary_asm::assemble(text).expect("assembles"));
    runtime
        .load_program("test", ProgType::XDP, &code, &[])
        .expect("loads")
}

/// Swaps the MAC addresses (as a reflector does), then `XDP_TX`.
const REFLECTOR: &str = "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 14\n\
     if r4 > r3 goto +11\n\
     r5 = *(u32 *)(r2 + 0)\nr6 = *(u16 *)(r2 + 4)\n\
     r7 = *(u32 *)(r2 + 6)\nr8 = *(u16 *)(r2 + 10)\n\
     *(u32 *)(r2 + 0) = r7\n*(u16 *)(r2 + 4) = r8\n\
     *(u32 *)(r2 + 6) = r5\n*(u16 *)(r2 + 10) = r6\n\
     r0 = 3\nexit\nr0 = 1\nexit";

/// `frame` with its MAC addresses swapped.
fn reflected(frame: &[u8]) -> Vec<u8> {
    let mut swapped = frame.to_vec();
    swapped[0..6].copy_from_slice(&frame[6..12]);
    swapped[6..12].copy_from_slice(&frame[0..6]);
    swapped
}

/// The firewall example in `runtime` with 192.0.2.0/24 (rule 1) and
/// 198.51.100.128/25 (rule 3) blocked, or `None` after skipping `test`
/// when the examples were not built.
pub fn firewall(test: &str, runtime: &Runtime) -> Option<ProgId> {
    let example = match apiary_corpus::example("xdp_firewall").map(|e| e.read()) {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => panic!("xdp_firewall.o: {e}"),
        Err(e) => return apiary_testskip::missing(test, format!("the firewall example: {e}")),
    };
    let object = apiary_loader::Object::parse(&example, "xdp_firewall").expect("parses");
    let loaded = runtime.load_object(&object).expect("loads");
    let blocklist = runtime
        .map(runtime.map_by_name("blocklist").expect("blocklist"))
        .expect("map");
    blocklist
        .update(&[24, 0, 0, 0, 192, 0, 2, 0], &1u32.to_ne_bytes(), 0, 0)
        .expect("rule 1");
    blocklist
        .update(&[25, 0, 0, 0, 198, 51, 100, 128], &3u32.to_ne_bytes(), 0, 0)
        .expect("rule 3");
    loaded.program("xdp_firewall")
}

/// Sources and whether the firewall blocks them.
pub const SOURCES: [([u8; 4], bool); 6] = [
    ([192, 0, 2, 10], true),
    ([192, 0, 3, 1], false),
    ([198, 51, 100, 200], true),
    ([198, 51, 100, 5], false),
    ([203, 0, 113, 7], false),
    ([192, 0, 2, 255], true),
];

/// Packets counted for `rule` in the firewall's `rule_hits`.
pub fn rule_packets(runtime: &Runtime, rule: u32) -> u64 {
    let hits = runtime
        .map(runtime.map_by_name("rule_hits").expect("rule_hits"))
        .expect("map");
    let value = hits.lookup(&rule.to_ne_bytes(), 0).expect("lookup");
    value.map_or(0, |v| {
        u64::from_ne_bytes(v.read()[..8].try_into().expect("u64"))
    })
}

/// The reflector on `ap0` in `mode`: every one of 50 frames comes back to
/// the sender with its MAC addresses swapped.
pub fn reflector_returns_every_frame(test: &str, mode: Mode) {
    let frames: Vec<Vec<u8>> = (0..50).map(|i| udp_frame([192, 0, 2, 1], i)).collect();
    reflector_returns(test, mode, &frames, None);
}

/// The reflector on `ap0` in `mode` (both ends of the veth pair given
/// `mtu` first when asked): every one of `frames` runs and comes back to
/// the sender whole, with its MAC addresses swapped.
pub fn reflector_returns(test: &str, mode: Mode, frames: &[Vec<u8>], mtu: Option<u32>) {
    let Some(link) = link(test) else {
        return;
    };
    if let Some(mtu) = mtu {
        let mtu = mtu.to_string();
        for (netns, iface) in [
            (&link.apiary, Link::APIARY_IFACE),
            (&link.traffic, Link::TRAFFIC_IFACE),
        ] {
            netns.ip(&["link", "set", iface, "mtu", &mtu]).expect("mtu");
        }
    }
    let runtime = Runtime::new(1);
    let prog = asm_program(&runtime, REFLECTOR);
    let n = frames.len() as u64;
    let Ran {
        stats, mut back, ..
    } = run(&link, mode, &runtime, prog, frames, frames.len());
    assert_eq!(stats.frames, n, "{mode:?}: {stats:?}");
    assert_eq!(
        stats.bytes,
        frames.iter().map(|f| f.len() as u64).sum::<u64>(),
        "{mode:?}: every frame ran whole"
    );
    assert_eq!(stats.action(Action::Tx), n);
    assert_eq!(stats.sent, n);
    assert_eq!(back.len(), frames.len(), "every XDP_TX frame came back");
    let mut expected: Vec<Vec<u8>> = frames.iter().map(|f| reflected(f)).collect();
    back.sort();
    expected.sort();
    assert!(
        back == expected,
        "{mode:?}: the frames came back whole with their MACs swapped (lengths back {:?})",
        back.iter().map(Vec::len).collect::<Vec<_>>()
    );
}
