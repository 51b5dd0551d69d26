//! Frames per second on a veth pair, one queue, for the same program in
//! three data planes: Apiary's `packet` mode, Apiary's `afxdp` mode, and
//! the kernel's own XDP hook (native XDP on the veth), with the same
//! traffic (the `replay` example gives the ceiling without I/O). The
//! traffic: `FRAMES` 64-byte UDP frames flooded from the peer namespace
//! (sendmmsg, qdisc bypassed) on one core. Apiary runs the programs on its
//! JIT, or on the interpreter when the second argument is `interp`.
//!
//! ```sh
//! cargo run --release -p apiary-net --example veth_throughput -- 200000 [jit|interp]
//! ```
//!
//! Needs root (namespaces, packet and AF_XDP sockets, bpf()). Rates are
//! the frames the data plane ran divided by the time from the flood's
//! start to the last frame it ran; what the veth dropped before the data
//! plane saw it is the difference between sent and ran.

mod common;

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apiary_kernel::{LinkFd, ProgFd};
use apiary_net::netns::{Link, is_root};
use apiary_net::traffic::flood;
use apiary_net::{
    Control, Interface, NetError, PacketPort, Port, QueueStats, RingGeometry, RuntimeProgram, Tap,
    XskOptions, XskPort, XskRedirect, run_queue,
};
use apiary_runtime::{ProgId, Runtime};
use apiary_vm::{Engine, Runner};

use common::frames;

/// What one data plane did with a flood.
struct Measured {
    sent: u64,
    flood_s: f64,
    ran: u64,
    run_s: f64,
    ns_per_frame: u64,
}

/// Polls `ran` until it stops growing for 300 ms; returns the count and
/// the seconds from `start` to its last growth.
fn settle(start: Instant, ran: impl Fn() -> u64) -> (u64, f64) {
    let (mut last, mut last_change) = (ran(), start.elapsed());
    let mut quiet = Instant::now();
    while quiet.elapsed() < Duration::from_millis(300) {
        std::thread::sleep(Duration::from_millis(5));
        let now = ran();
        if now != last {
            (last, last_change) = (now, start.elapsed());
            quiet = Instant::now();
        }
    }
    (last, last_change.as_secs_f64())
}

fn apiary(
    mode: &str,
    runtime: &Arc<Runtime>,
    prog: ProgId,
    engine: Engine,
    total: u64,
) -> Measured {
    let link = Link::new(&format!("bench-{mode}")).expect("link");
    let (mut port, _feeding) = link
        .apiary
        .run(
            || -> Result<(Box<dyn Port>, Option<XskRedirect>), NetError> {
                let ap0 = Interface::by_name(Link::APIARY_IFACE)?;
                if mode == "packet" {
                    let port = PacketPort::open(&ap0, 0, None, RingGeometry::default())?;
                    return Ok((Box::new(port), None));
                }
                let redirect = XskRedirect::attach(ap0.ifindex, 1, 0)?;
                let tap = Arc::new(Tap::create(
                    "apiary-bench",
                    ap0.mac().unwrap_or([2, 0, 0, 0, 0, 1]),
                )?);
                let port = XskPort::open(&ap0, 0, &redirect, tap, XskOptions::default())?;
                Ok((Box::new(port), Some(redirect)))
            },
        )
        .expect("enter")
        .expect("port");
    let control = Control::new(None);
    let stats = QueueStats::default();
    let mut runner = Runner::new();
    runner.set_engine(engine);
    let mut program = RuntimeProgram::new(runtime, prog, runner, 0).expect("an XDP program");
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let _ = apiary_net::pin_to_cpu(0);
            run_queue(port.as_mut(), &mut program, &stats, &control)
        });
        let start = Instant::now();
        let sent = flood(&link.traffic, Link::TRAFFIC_IFACE, &frames(), total).expect("flood");
        let (ran, run_s) = settle(start, || stats.snapshot().frames);
        control.stop();
        worker.join().expect("worker").expect("ran");
        Measured {
            sent: sent.sent,
            flood_s: sent.seconds,
            ran,
            run_s,
            ns_per_frame: stats.snapshot().ns_per_frame(),
        }
    })
}

fn kernel(prog: &ProgFd, total: u64) -> Measured {
    let link = Link::new("bench-kernel").expect("link");
    let _attached = link
        .apiary
        .run(|| {
            let ap0 = Interface::by_name(Link::APIARY_IFACE).expect("ap0");
            LinkFd::xdp(prog.as_fd(), ap0.ifindex, 0)
        })
        .expect("enter")
        .expect("attach in the kernel");
    let stats_file = "/proc/sys/kernel/bpf_stats_enabled";
    let before = std::fs::read_to_string(stats_file).unwrap_or_else(|_| "0".into());
    std::fs::write(stats_file, "1").expect("enable bpf_stats");
    let info = || prog.info(false).expect("prog info");
    let (cnt0, ns0) = (info().run_cnt, info().run_time_ns);
    let start = Instant::now();
    let sent = flood(&link.traffic, Link::TRAFFIC_IFACE, &frames(), total).expect("flood");
    let (ran, run_s) = settle(start, || info().run_cnt - cnt0);
    let ns = info().run_time_ns - ns0;
    let _ = std::fs::write(stats_file, before.trim());
    Measured {
        sent: sent.sent,
        flood_s: sent.seconds,
        ran,
        run_s,
        ns_per_frame: ns.checked_div(ran).unwrap_or(0),
    }
}

fn print(label: &str, m: &Measured) {
    println!(
        "{label:<28} sent {:>8} ({:>6.2} Mf/s)  ran {:>8} ({:>6.3} Mf/s)  {:>5} ns/frame in the program",
        m.sent,
        m.sent as f64 / m.flood_s / 1e6,
        m.ran,
        m.ran as f64 / m.run_s / 1e6,
        m.ns_per_frame
    );
}

fn main() {
    if !is_root() {
        eprintln!("veth_throughput needs root (namespaces, AF_XDP, bpf())");
        std::process::exit(1);
    }
    let total: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let engine = match std::env::args().nth(2).as_deref() {
        Some("interp") => Engine::Interpreter,
        _ => Engine::Compiled,
    };
    let programs = common::programs(2, true);
    let kernel_programs = programs.kernel.as_ref().expect("kernel programs");
    println!("{total} frames of 64 bytes per run, one queue, veth, one flooding core");
    let runtime = &programs.runtime;
    for (name, prog, kprog) in [
        ("drop", programs.drop, &kernel_programs.drop),
        ("firewall", programs.firewall, kernel_programs.firewall()),
    ] {
        print(
            &format!("{name}: apiary packet"),
            &apiary("packet", runtime, prog, engine, total),
        );
        print(
            &format!("{name}: apiary afxdp"),
            &apiary("afxdp", runtime, prog, engine, total),
        );
        print(&format!("{name}: kernel native XDP"), &kernel(kprog, total));
    }
}
