//! `apiary xdp run --backend kernel`: the same object attached to the
//! kernel's own XDP hook of the interface (through `apiary-backend` and a
//! BPF link), so that its throughput and maps can be compared with
//! Apiary's on the same traffic. The kernel counts runs and their time
//! (`kernel.bpf_stats_enabled`, switched on for the run and restored
//! after), not verdicts: verdict counts are the object's own maps' to
//! keep, as in Apiary's runs.

use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::Instant;

use apiary_kernel::LinkFd;
use apiary_net::Interface;

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

fn line(json: bool, frames: u64, ns: u64, seconds: f64, elapsed: f64) -> String {
    let rate = if seconds > 0.0 {
        frames as f64 / seconds
    } else {
        0.0
    };
    let per_frame = ns.checked_div(frames).unwrap_or(0);
    if json {
        format!(
            "{{\"elapsed_s\":{elapsed:.3},\"backend\":\"kernel\",\"frames\":{frames},\"frames_per_sec\":{rate:.1},\"ns_per_frame\":{per_frame}}}"
        )
    } else {
        format!("kernel {rate:.0} f/s {per_frame} ns/f (frames {frames})")
    }
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
    let link = LinkFd::xdp(prog.as_fd(), iface.ifindex, 0)
        .map_err(|e| CliError::at(&options.iface, format!("attaching in the kernel: {e}")))?;
    catch_stop_signals().map_err(|e| CliError::at("signals", e))?;
    let (first_runs, first_ns) = counters(&kernel)?;
    let started = Instant::now();
    let mut last = (Instant::now(), first_runs, first_ns);
    loop {
        std::thread::sleep(TICK);
        let (runs, ns) = counters(&kernel)?;
        let done = runs - first_runs;
        if stop_requested()
            || should_end(options, started)
            || options.count.is_some_and(|n| done >= n)
        {
            break;
        }
        if last.0.elapsed() >= REPORT_EVERY {
            let seconds = last.0.elapsed().as_secs_f64();
            let text = line(
                options.json,
                runs - last.1,
                ns - last.2,
                seconds,
                started.elapsed().as_secs_f64(),
            );
            println!("{text}");
            last = (Instant::now(), runs, ns);
        }
    }
    drop(link);
    let (runs, ns) = counters(&kernel)?;
    drop(stats);
    if let Some(dir) = &options.pin_maps {
        crate::pinning::save_pinned(dir, object, None, Some(&kernel))?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let summary = line(
        options.json,
        runs - first_runs,
        ns - first_ns,
        seconds,
        seconds,
    );
    if options.json {
        println!("{{\"summary\":{summary}}}");
    } else {
        println!("summary: {summary} over {seconds:.1} s (verdicts: see the object's maps)");
    }
    Ok(ExitCode::SUCCESS)
}
