//! `apiary xdp run --backend kernel`: the same object attached to the
//! kernel's own XDP hook of the interface (through `apiary-backend` and a
//! BPF link), so that its throughput, verdicts and maps can be compared
//! with Apiary's on the same traffic, in the same counters. The kernel
//! counts runs and their time (`kernel.bpf_stats_enabled`, switched on for
//! the run and restored after); verdicts come from an fexit program on the
//! XDP program (`apiary_net::KernelVerdicts`: exact, per program), or
//! where the host refuses fexit programs from the driver's own XDP
//! counters (`ethtool -S`: the whole device, aborted counted as drops,
//! pass derived), or are reported as unavailable, with a line saying which.

use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::Instant;

use apiary_kernel::LinkFd;
use apiary_net::{DriverXdpCounts, Interface, KernelVerdicts, NetError, Snapshot};

use crate::CliResult;
use crate::error::CliError;
use crate::signals::{catch_stop_signals, stop_requested};
use crate::xdprun::{REPORT_EVERY, TICK, XdpRunOptions, should_end};
use apiary_difftest::objects::KernelBackend;

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

/// `kernel.bpf_stats_enabled` on while it lives, then as it was.
struct StatsOn {
    before: String,
}

impl StatsOn {
    fn enable() -> Result<StatsOn, CliError> {
        let before = std::fs::read_to_string(BPF_STATS)
            .map_err(|e| CliError::at(BPF_STATS, e))?
            .trim()
            .to_owned();
        std::fs::write(BPF_STATS, "1").map_err(|e| CliError::at(BPF_STATS, e))?;
        Ok(StatsOn { before })
    }
}

impl Drop for StatsOn {
    fn drop(&mut self) {
        let _ = std::fs::write(BPF_STATS, &self.before);
    }
}

/// Runs and nanoseconds the kernel counted for the program.
fn counters(kernel: &KernelBackend) -> Result<(u64, u64), CliError> {
    let prog = kernel
        .prog()
        .ok_or_else(|| CliError::at("kernel", "the program is not loaded"))?;
    let info = prog.info(false).map_err(|e| CliError::at("kernel", e))?;
    Ok((info.run_cnt, info.run_time_ns))
}

/// Where the kernel's verdict counts come from.
enum Verdicts {
    /// The fexit counter on the program: exact.
    Fexit(KernelVerdicts),
    /// The driver's XDP counters of the device, from this baseline.
    Driver(Interface, DriverXdpCounts),
    /// Neither is available.
    Unavailable,
}

impl Verdicts {
    /// The fexit counter, else the driver's counters, else none; a line
    /// on stderr says which and why.
    fn open(prog: &apiary_kernel::ProgFd, name: &str, iface: &Interface) -> Verdicts {
        let why = match KernelVerdicts::attach(prog, name) {
            Ok(counter) => return Verdicts::Fexit(counter),
            Err(why) => why,
        };
        match apiary_net::driver_xdp_counts(iface) {
            Ok(Some(baseline)) => {
                eprintln!(
                    "apiary: xdp run: kernel verdicts from {}'s driver counters (the whole \
                     device; XDP_ABORTED counted as XDP_DROP, XDP_PASS derived): {why}",
                    iface.name
                );
                Verdicts::Driver(iface.clone(), baseline)
            }
            Ok(None) => Verdicts::unavailable(&why, "the driver keeps no XDP counters"),
            Err(e) => Verdicts::unavailable(&why, &e.to_string()),
        }
    }

    fn unavailable(fexit: &NetError, driver: &str) -> Verdicts {
        eprintln!("apiary: xdp run: kernel verdict counts unavailable: {fexit}; {driver}");
        Verdicts::Unavailable
    }

    /// Runs per action so far (zeros when unavailable).
    fn actions(&self) -> [u64; 5] {
        match self {
            Verdicts::Fexit(counter) => counter.counts().unwrap_or_default(),
            Verdicts::Driver(iface, baseline) => apiary_net::driver_xdp_counts(iface)
                .ok()
                .flatten()
                .map(|now| {
                    let ran = now.since(baseline);
                    [0, ran.drop, ran.pass().unwrap_or(0), ran.tx, ran.redirect]
                })
                .unwrap_or_default(),
            Verdicts::Unavailable => [0; 5],
        }
    }

    fn source(&self) -> &'static str {
        match self {
            Verdicts::Fexit(_) => "fexit",
            Verdicts::Driver(..) => "driver",
            Verdicts::Unavailable => "unavailable",
        }
    }
}

/// The kernel's counters as Apiary's workers count: runs, time, verdicts.
fn snapshot(kernel: &KernelBackend, verdicts: &Verdicts) -> Result<Snapshot, CliError> {
    let (frames, run_ns) = counters(kernel)?;
    Ok(Snapshot {
        frames,
        run_ns,
        actions: verdicts.actions(),
        ..Snapshot::default()
    })
}

/// Attaches program `name` of the object in `elf` to the interface and
/// reports the kernel's counts until the run ends.
pub fn run_in_kernel(
    options: &XdpRunOptions,
    object: &apiary_loader::Object,
    elf: &[u8],
    name: &str,
) -> CliResult {
    let kernel = KernelBackend::open(object, elf, name)
        .map_err(|e| CliError::at(options.file.display(), e))?;
    if let Some(dir) = &options.pin_maps {
        crate::pinning::load_pinned(dir, &object.maps, None, Some(&kernel))?;
    }
    let iface = Interface::by_name(&options.iface).map_err(|e| CliError::at("--iface", e))?;
    let prog = kernel
        .prog()
        .ok_or_else(|| CliError::at("kernel", "the program is not loaded"))?;
    let stats = StatsOn::enable()?;
    let verdicts = Verdicts::open(prog, name, &iface);
    let link = LinkFd::xdp(prog.as_fd(), iface.ifindex, 0)
        .map_err(|e| CliError::at(&options.iface, format!("attaching in the kernel: {e}")))?;
    catch_stop_signals().map_err(|e| CliError::at("signals", e))?;
    let first = snapshot(&kernel, &verdicts)?;
    let started = Instant::now();
    let mut last = (Instant::now(), first);
    loop {
        std::thread::sleep(TICK);
        let now = snapshot(&kernel, &verdicts)?;
        let done = now.since(&first).frames;
        if stop_requested()
            || should_end(options, started)
            || options.count.is_some_and(|n| done >= n)
        {
            break;
        }
        if last.0.elapsed() >= REPORT_EVERY {
            let seconds = last.0.elapsed().as_secs_f64();
            let interval = now.since(&last.1);
            if options.json {
                println!(
                    "{{\"elapsed_s\":{:.3},\"backend\":\"kernel\",\"total\":{}}}",
                    started.elapsed().as_secs_f64(),
                    interval.json(None, Some(seconds))
                );
            } else {
                println!("{}", interval.rate_line("kernel", seconds));
            }
            last = (Instant::now(), now);
        }
    }
    drop(link);
    let total = snapshot(&kernel, &verdicts)?.since(&first);
    drop(stats);
    if let Some(dir) = &options.pin_maps {
        crate::pinning::save_pinned(dir, object, None, Some(&kernel))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    if options.json {
        println!(
            "{{\"summary\":{{\"iface\":{:?},\"backend\":\"kernel\",\"verdicts_from\":\"{}\",\"seconds\":{seconds:.3},\"total\":{}}}}}",
            options.iface,
            verdicts.source(),
            total.json(None, Some(seconds))
        );
    } else {
        println!("{}", total.summary_line("kernel:"));
        let rate = total.frames as f64 / seconds.max(f64::MIN_POSITIVE);
        println!(
            "{rate:.0} frames/s over {seconds:.1} s (verdicts: {})",
            verdicts.source()
        );
    }
    Ok(ExitCode::SUCCESS)
}
