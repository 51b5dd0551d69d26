//! Frames per second on a veth pair, one queue, for the same program in
//! three data planes: Apiary's `packet` mode, Apiary's `afxdp` mode, and
//! the kernel's own XDP hook (native XDP on the veth), with the same
//! traffic, after the same frames replayed in memory (no I/O, the
//! interpreter's ceiling on one core). The traffic: `FRAMES` 64-byte UDP frames flooded from the peer namespace
//! (sendmmsg, qdisc bypassed) on one core.
//!
//! ```sh
//! cargo run --release -p apiary-net --example veth_throughput -- 200000
//! ```
//!
//! Needs root (namespaces, packet and AF_XDP sockets, bpf()). Rates are
//! the frames the data plane ran divided by the time from the flood's
//! start to the last frame it ran; what the veth dropped before the data
//! plane saw it is the difference between sent and ran.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apiary_kernel::types::ProgType;
use apiary_kernel::{LinkFd, ProgFd, ProgLoadAttrs};
use apiary_net::netns::{Link, is_root};
use apiary_net::traffic::{flood, udp_frame};
use apiary_net::{
    Control, Interface, NetError, PacketPort, Port, QueueStats, RingGeometry, RuntimeProgram, Tap,
    XskOptions, XskPort, XskRedirect, run_queue,
};
use apiary_runtime::{ProgId, Runtime};
use apiary_vm::Runner;

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

/// The flood's frames: sources cycling through a blocked and open ones.
fn frames() -> Vec<Vec<u8>> {
    let sources = [
        [192, 0, 2, 7],
        [198, 51, 100, 5],
        [203, 0, 113, 9],
        [10, 0, 0, 1],
    ];
    (0..64)
        .map(|i| udp_frame(sources[i % 4], i as u32))
        .collect()
}

fn apiary(mode: &str, runtime: &Arc<Runtime>, prog: ProgId, total: u64) -> Measured {
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
    let mut program = RuntimeProgram::new(runtime, prog, Runner::new(), 0).expect("an XDP program");
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

/// The same frames through the program in memory, no I/O: the data
/// plane's ceiling, on `cores` threads (each its own CPU, pinned), with
/// `total` frames each. Its ns per frame is CPU time (copying the frame in
/// included), so that a loaded machine does not inflate it.
fn replay(runtime: &Arc<Runtime>, prog: ProgId, total: u64, cores: u32) -> Measured {
    use apiary_net::FrameProgram;
    let frames = frames();
    let start = Instant::now();
    let cpu_ns: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cores)
            .map(|cpu| {
                let frames = &frames;
                scope.spawn(move || {
                    let _ = apiary_net::pin_to_cpu(cpu as usize);
                    let mut program =
                        RuntimeProgram::new(runtime, prog, Runner::new(), cpu).expect("XDP");
                    let rx = apiary_runtime::RxQueue {
                        ifindex: 2,
                        queue: cpu,
                    };
                    let mut frame = Vec::with_capacity(2048);
                    for i in 0..total {
                        frame.clear();
                        frame.extend_from_slice(&frames[i as usize % frames.len()]);
                        program.run(&mut frame, rx).expect("runs");
                    }
                    thread_cpu_ns()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("replay")).sum()
    });
    let seconds = start.elapsed().as_secs_f64();
    let all = total * u64::from(cores);
    Measured {
        sent: all,
        flood_s: seconds,
        ran: all,
        run_s: seconds,
        ns_per_frame: cpu_ns / all,
    }
}

/// CPU time the calling thread has used: on a machine shared with other
/// work, wall time overstates what a frame costs.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
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
    let example = apiary_corpus::example("xdp_firewall").expect("the firewall example");
    let elf = example.read().expect("read");
    let object = apiary_loader::Object::parse(&elf, "xdp_firewall").expect("parse");
    let runtime = Runtime::new(2);
    let loaded = runtime.load_object(&object).expect("load");
    let firewall = loaded.program("xdp_firewall").expect("program");
    let blocklist = runtime
        .map(runtime.map_by_name("blocklist").expect("map"))
        .expect("map");
    blocklist
        .update(&[24, 0, 0, 0, 192, 0, 2, 0], &1u32.to_ne_bytes(), 0, 0)
        .expect("rule");
    let code = apiary_asm::assemble("r0 = 1\nexit").expect("asm");
    let raw: Vec<u8> = apiary_isa::encode_program(&code)
        .iter()
        .flat_map(|i| i.to_le_bytes())
        .collect();
    let drop = runtime
        .load_program(
            "drop",
            ProgType::XDP,
            &apiary_isa::encode_program(&code),
            &[],
        )
        .expect("drop");
    let kernel_drop = ProgFd::load(&ProgLoadAttrs {
        prog_type: ProgType::XDP,
        insns: &raw,
        license: "GPL",
        name: "bench_drop",
        ..ProgLoadAttrs::default()
    })
    .expect("kernel drop program")
    .prog;
    let kernel_object = apiary_backend::load_object(
        &object,
        &apiary_backend::LoadOptions {
            elf: Some(&elf),
            log_level: 0,
            ..Default::default()
        },
    )
    .expect("firewall in the kernel");
    let kernel_blocklist = kernel_object.map("blocklist").expect("kernel blocklist");
    kernel_blocklist
        .update(&[24, 0, 0, 0, 192, 0, 2, 0], &1u32.to_ne_bytes(), 0)
        .expect("kernel rule");
    let kernel_firewall = kernel_object
        .program("xdp_firewall")
        .expect("kernel program");
    println!("{total} frames of 64 bytes per run, one queue, veth, one flooding core");
    for (name, prog, kprog) in [
        ("drop", drop, &kernel_drop),
        ("firewall", firewall, kernel_firewall),
    ] {
        print(
            &format!("{name}: in memory, 1 core"),
            &replay(&runtime, prog, total * 4, 1),
        );
        print(
            &format!("{name}: in memory, 2 cores"),
            &replay(&runtime, prog, total * 2, 2),
        );
        print(
            &format!("{name}: apiary packet"),
            &apiary("packet", &runtime, prog, total),
        );
        print(
            &format!("{name}: apiary afxdp"),
            &apiary("afxdp", &runtime, prog, total),
        );
        print(&format!("{name}: kernel native XDP"), &kernel(kprog, total));
    }
}
