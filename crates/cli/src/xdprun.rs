//! `apiary xdp run`: an XDP object on a live interface, one worker per
//! receive queue pinned to its CPU (which is also its slot in per-CPU
//! maps), live counters each second, a summary at the end.
//!
//! `afxdp` mode (the default where it works) takes the frames away from
//! the stack, so verdicts are enforced; `XDP_PASS` hands a frame back to
//! the host through a TAP device. `packet` mode observes a copy of each
//! frame: the host's stack receives every frame whatever the program
//! decides, so XDP_DROP does not stop a frame there.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apiary_kernel::types::ProgType;
use apiary_net::{
    Control, Interface, NetError, PacketPort, Port, QueueStats, RingGeometry, RuntimeProgram,
    Snapshot, Tap, XskOptions, XskPort, XskRedirect, pin_to_cpu, run_queue, usable_cpus,
};
use apiary_vm::{Engine, Runner};

use crate::CliResult;
use crate::coretarget::CoreTarget;
use crate::error::CliError;
use crate::livepins::LivePins;
use crate::objects::{OpenedObject, open_object};
use crate::signals::{catch_stop_signals, stop_requested};
use apiary_difftest::objects::select_program;

/// How `xdp run` receives frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// AF_PACKET with a TPACKET_V3 ring: a copy of each frame.
    Packet,
    /// AF_XDP sockets: the frames themselves.
    Afxdp,
}

impl Mode {
    /// The name `--mode` takes.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Packet => "packet",
            Mode::Afxdp => "afxdp",
        }
    }
}

/// Everything `xdp run` was asked.
#[derive(Debug)]
pub struct XdpRunOptions {
    /// The object file.
    pub file: PathBuf,
    /// `--prog NAME`.
    pub program: Option<String>,
    /// `--iface IF`.
    pub iface: String,
    /// `--queues N` (default: the interface's receive queues).
    pub queues: Option<u32>,
    /// `--mode` (`None`: afxdp, or packet where afxdp cannot be set up).
    pub mode: Option<Mode>,
    /// `--pin-maps DIR`.
    pub pin_maps: Option<PathBuf>,
    /// `--count N`: stop after N frames.
    pub count: Option<u64>,
    /// `--duration S`: stop after S seconds.
    pub duration: Option<f64>,
    /// `-j`: JSON lines.
    pub json: bool,
    /// What CO-RE relocations resolve against.
    pub core_target: CoreTarget,
    /// `--backend kernel`: attach the object to the kernel's XDP hook instead.
    pub in_kernel: bool,
    /// `--zero-copy`: AF_XDP zero-copy instead of copy mode.
    pub zero_copy: bool,
    /// `--engine jit`: the workers run native code rather than interpreting.
    pub jit: bool,
}

/// Whether `--duration` has passed since `started`.
pub fn should_end(options: &XdpRunOptions, started: Instant) -> bool {
    options
        .duration
        .is_some_and(|limit| started.elapsed().as_secs_f64() >= limit)
}

/// How often the counters are shown, and maps saved to `--pin-maps`.
pub const REPORT_EVERY: Duration = Duration::from_secs(1);
/// How often the main thread looks at signals and workers.
pub const TICK: Duration = Duration::from_millis(50);

/// `apiary xdp run`.
pub fn xdp_run(options: &XdpRunOptions) -> CliResult {
    let OpenedObject { object, elf, .. } = open_object(
        &options.file,
        &options.core_target,
        &apiary_loader::UserTyping::default(),
    )?;
    let spec = select_program(&object, options.program.as_deref())
        .map_err(|e| CliError::at(options.file.display(), e))?;
    if spec.prog_type != ProgType::XDP {
        return Err(CliError::at(
            options.file.display(),
            format!(
                "program {} is a {} program (section {}); xdp run needs an XDP program",
                spec.name, spec.prog_type, spec.section
            ),
        ));
    }
    if options.in_kernel {
        return crate::xdpkernel::run_in_kernel(options, &object, &elf, &spec.name);
    }
    // Programs the verifier accepts run their proven accesses unchecked.
    let proofs = options.jit.then(|| apiary_verifier::verify_object(&object));
    let vm = crate::progrun::open_vm(&object, &spec.name, proofs)
        .map_err(|e| CliError::at(options.file.display(), e))?;
    let mut pins = match &options.pin_maps {
        Some(dir) => {
            crate::pinning::load_pinned(dir, &object.maps, Some(&vm), None)?;
            Some(LivePins::start(dir, &object, &vm)?)
        }
        None => None,
    };
    let iface = Interface::by_name(&options.iface).map_err(|e| CliError::at("--iface", e))?;
    let cpus = worker_cpus(options.queues, &iface, vm.runtime().nr_cpus())?;
    let queues = cpus.len() as u32;
    let xsk = XskOptions {
        zero_copy: options.zero_copy,
        ..XskOptions::default()
    };
    let (mode, Ports { ports, feeding }) = open_ports(options.mode, &iface, queues, xsk)?;
    if mode == Mode::Packet {
        eprintln!(
            "apiary: xdp run: packet mode observes a COPY of each frame: the host stack receives \
             every frame, XDP_DROP included (dropped frames are counted, not stopped); \
             enforcement needs --mode afxdp"
        );
    }
    let device_queues = iface.rx_queues();
    if mode == Mode::Afxdp && queues < device_queues {
        eprintln!(
            "apiary: {}: {queues} of its {device_queues} receive queues are served: frames \
             arriving on queues {queues} to {} reach the host WITHOUT the program (serve \
             them all with --queues {device_queues} on as many CPUs, or give the device \
             fewer queues: ethtool -L)",
            iface.name,
            device_queues - 1
        );
    }
    catch_stop_signals().map_err(|e| CliError::at("signals", e))?;
    let control = Control::new(options.count);
    let stats: Vec<QueueStats> = (0..queues).map(|_| QueueStats::default()).collect();
    let started = Instant::now();
    let outcome = std::thread::scope(|scope| {
        let workers: Vec<_> = ports
            .into_iter()
            .zip(&stats)
            .zip(&cpus)
            .map(|((mut port, stats), &cpu)| {
                let mut runner = Runner::new();
                runner.set_engine(if options.jit {
                    Engine::Compiled
                } else {
                    Engine::Interpreter
                });
                let program = RuntimeProgram::new(vm.runtime(), vm.prog(), runner, cpu);
                let control = &control;
                scope.spawn(move || {
                    let result = program
                        .map_err(|e| NetError::Config(e.to_string()))
                        .and_then(|mut program| {
                            pin_to_cpu(cpu as usize)?;
                            run_queue(port.as_mut(), &mut program, stats, control)
                        });
                    // One worker's end (the interface went away) ends the run.
                    control.stop();
                    result
                })
            })
            .collect();
        report_while_running(options, &control, &stats, started, pins.as_mut());
        workers
            .into_iter()
            .enumerate()
            .map(|(queue, worker)| match worker.join() {
                Ok(result) => result.map_err(|e| (queue, e.to_string())),
                Err(_) => Err((queue, "the worker panicked (a bug)".to_owned())),
            })
            .collect::<Vec<_>>()
    });
    // The workers are done: detach the redirect program, remove the TAP.
    drop(feeding);
    for (queue, stats) in stats.iter().enumerate() {
        print_trace(&options.iface, queue, stats);
    }
    if let Some(pins) = pins {
        for note in pins.finish()? {
            eprintln!("apiary: {note}");
        }
    }
    print_summary(options, mode, &stats, started.elapsed());
    if let Some((queue, error)) = outcome.into_iter().find_map(Result::err) {
        return Err(CliError::at(
            format!("{} queue {queue}", options.iface),
            error,
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// The CPU of each worker: one per receive queue unless told otherwise,
/// each a CPU this process may use, below `cpus` (the per-CPU maps'
/// slots): the worker runs pinned there and is that CPU for the program.
fn worker_cpus(asked: Option<u32>, iface: &Interface, cpus: u32) -> Result<Vec<u32>, CliError> {
    let usable: Vec<u32> = usable_cpus()
        .map_err(|e| CliError::at("xdp run", e))?
        .into_iter()
        .filter_map(|cpu| u32::try_from(cpu).ok())
        .filter(|&cpu| cpu < cpus)
        .collect();
    let available = usable.len() as u32;
    let queues = asked.unwrap_or_else(|| iface.rx_queues().min(available));
    if queues == 0 {
        return Err(CliError::at("--queues", "at least one queue is needed"));
    }
    if queues > available {
        return Err(CliError::at(
            "--queues",
            format!(
                "{queues} workers but {available} usable CPUs: each worker is one CPU (its \
                 slot in per-CPU maps), so at most {available}"
            ),
        ));
    }
    Ok(usable[..queues as usize].to_vec())
}

/// The ports of every queue and what keeps them fed.
struct Ports {
    ports: Vec<Box<dyn Port>>,
    /// afxdp: the redirect program (detached when dropped) and the TAP
    /// (removed when dropped), kept until the workers are done.
    feeding: Option<(XskRedirect, Arc<Tap>)>,
}

/// Opens every queue in `asked` mode; without one, afxdp, or packet mode
/// after a line saying why afxdp could not be set up.
fn open_ports(
    asked: Option<Mode>,
    iface: &Interface,
    queues: u32,
    xsk: XskOptions,
) -> Result<(Mode, Ports), CliError> {
    let fail = |e: NetError| CliError::at(&iface.name, e);
    match asked {
        Some(Mode::Packet) => Ok((Mode::Packet, packet_ports(iface, queues).map_err(fail)?)),
        Some(Mode::Afxdp) => Ok((Mode::Afxdp, afxdp_ports(iface, queues, xsk).map_err(fail)?)),
        None => match afxdp_ports(iface, queues, xsk) {
            Ok(ports) => Ok((Mode::Afxdp, ports)),
            // Packet mode would need the same privileges.
            Err(e @ NetError::Privilege { .. }) => Err(fail(e)),
            Err(why) => {
                eprintln!(
                    "apiary: {}: afxdp mode unavailable ({why}); using packet mode",
                    iface.name
                );
                Ok((Mode::Packet, packet_ports(iface, queues).map_err(fail)?))
            }
        },
    }
}

/// One packet port per queue, opened in queue order so that the fanout
/// group gives socket `i` the frames of receive queue `i`.
fn packet_ports(iface: &Interface, queues: u32) -> Result<Ports, NetError> {
    let fanout = (queues > 1).then_some((std::process::id() & 0xffff) as u16);
    let ports = (0..queues)
        .map(|queue| {
            PacketPort::open(iface, queue, fanout, RingGeometry::default())
                .map(|port| Box::new(port) as Box<dyn Port>)
        })
        .collect::<Result<_, _>>()?;
    Ok(Ports {
        ports,
        feeding: None,
    })
}

/// One AF_XDP socket per queue, the redirect program attached, and the
/// TAP that `XDP_PASS` frames go to (named after the interface's index).
fn afxdp_ports(iface: &Interface, queues: u32, xsk: XskOptions) -> Result<Ports, NetError> {
    let mac = iface
        .mac()
        .ok_or_else(|| NetError::Config("the interface has no hardware address".into()))?;
    let tap = Arc::new(Tap::create(&format!("apiary{}", iface.ifindex), mac)?);
    let redirect = XskRedirect::attach(iface.ifindex, queues, 0)?;
    let ports = (0..queues)
        .map(|queue| {
            XskPort::open(iface, queue, &redirect, Arc::clone(&tap), xsk)
                .map(|port| Box::new(port) as Box<dyn Port>)
        })
        .collect::<Result<_, _>>()?;
    Ok(Ports {
        ports,
        feeding: Some((redirect, tap)),
    })
}

/// Shows the counters every second until the run ends (frame budget,
/// duration, a signal, or a worker's end), and synchronises the pinned
/// maps with their files (both ways) as often.
fn report_while_running(
    options: &XdpRunOptions,
    control: &Control,
    stats: &[QueueStats],
    started: Instant,
    mut pins: Option<&mut LivePins>,
) {
    let tty = !options.json && std::io::stdout().is_terminal();
    let mut last = (Instant::now(), snapshots(stats));
    while !control.stopped() {
        std::thread::sleep(TICK);
        if stop_requested() {
            control.stop();
        }
        if should_end(options, started) {
            control.stop();
        }
        if last.0.elapsed() < REPORT_EVERY {
            continue;
        }
        let now = (Instant::now(), snapshots(stats));
        let seconds = now.0.duration_since(last.0).as_secs_f64();
        let deltas: Vec<Snapshot> = now.1.iter().zip(&last.1).map(|(n, l)| n.since(l)).collect();
        for (queue, stats) in stats.iter().enumerate() {
            if let Some(problem) = stats.take_problem() {
                eprintln!("apiary: {} queue {queue}: {problem}", options.iface);
            }
            print_trace(&options.iface, queue, stats);
        }
        if options.json {
            println!("{}", interval_json(&deltas, seconds, started.elapsed()));
        } else if tty {
            let line = deltas
                .iter()
                .enumerate()
                .map(|(q, d)| d.rate_line(&format!("q{q}"), seconds))
                .collect::<Vec<_>>()
                .join(" | ");
            print!("\r\x1b[K{line}");
            let _ = std::io::stdout().flush();
        }
        if let Some(pins) = pins.as_deref_mut() {
            match pins.sync() {
                Ok(notes) => notes.iter().for_each(|note| eprintln!("apiary: {note}")),
                Err(error) => eprintln!("apiary: {error}"),
            }
        }
        last = now;
    }
    if tty {
        println!();
    }
}

/// The program's `bpf_trace_printk` lines on stderr, as trace_pipe shows
/// them, and how many did not fit.
fn print_trace(iface: &str, queue: usize, stats: &QueueStats) {
    let (lines, dropped) = stats.take_trace();
    let mut err = std::io::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "{}", line.trim_end_matches('\n'));
    }
    if dropped > 0 {
        let _ = writeln!(
            err,
            "apiary: {iface} queue {queue}: {dropped} trace line(s) dropped (more than {} a second)",
            apiary_net::stats::MAX_TRACE_WAITING
        );
    }
}

fn snapshots(stats: &[QueueStats]) -> Vec<Snapshot> {
    stats.iter().map(QueueStats::snapshot).collect()
}

/// One JSON line for an interval: per queue and in total.
fn interval_json(deltas: &[Snapshot], seconds: f64, elapsed: Duration) -> String {
    let queues = deltas
        .iter()
        .enumerate()
        .map(|(q, d)| d.json(Some(q as u32), Some(seconds)))
        .collect::<Vec<_>>()
        .join(",");
    let total = Snapshot::total(deltas).json(None, Some(seconds));
    format!(
        "{{\"elapsed_s\":{:.3},\"queues\":[{queues}],\"total\":{total}}}",
        elapsed.as_secs_f64()
    )
}

/// The tier the workers ran on, as `--engine` names it.
fn engine_name(options: &XdpRunOptions) -> &'static str {
    if options.jit { "jit" } else { "interp" }
}

/// The final counters: per queue and in total, as text or one JSON line.
fn print_summary(options: &XdpRunOptions, mode: Mode, stats: &[QueueStats], elapsed: Duration) {
    let all = snapshots(stats);
    let total = Snapshot::total(&all);
    let seconds = elapsed.as_secs_f64();
    if options.json {
        let queues = all
            .iter()
            .enumerate()
            .map(|(q, s)| s.json(Some(q as u32), Some(seconds)))
            .collect::<Vec<_>>()
            .join(",");
        println!(
            "{{\"summary\":{{\"iface\":{:?},\"mode\":\"{}\",\"engine\":\"{}\",\"seconds\":{seconds:.3},\"queues\":[{queues}],\"total\":{}}}}}",
            options.iface,
            mode.name(),
            engine_name(options),
            total.json(None, Some(seconds))
        );
        return;
    }
    for (queue, snapshot) in all.iter().enumerate() {
        println!("{}", snapshot.summary_line(&format!("queue {queue}:")));
    }
    println!("{}", total.summary_line("total:"));
    println!("engine: {}", engine_name(options));
    let rate = if seconds > 0.0 {
        total.frames as f64 / seconds
    } else {
        0.0
    };
    println!("{:.0} frames/s over {seconds:.1} s", rate);
}
