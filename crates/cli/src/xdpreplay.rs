//! `apiary xdp replay`: the frames of a capture, held in memory, through
//! an XDP program on one pinned worker per CPU (each that CPU for per-CPU
//! maps), without I/O: the frames per second the live data plane could
//! reach on these frames, and how it scales with cores
//! (`apiary_net::replay`).

use std::path::PathBuf;
use std::process::ExitCode;

use apiary_kernel::types::ProgType;
use apiary_net::{Action, RuntimeProgram, replay, usable_cpus};
use apiary_vm::{Engine, Runner};

use crate::CliResult;
use crate::coretarget::CoreTarget;
use crate::error::CliError;
use crate::objects::{OpenedObject, open_object};
use apiary_difftest::objects::select_program;

/// Everything `xdp replay` was asked.
#[derive(Debug)]
pub struct XdpReplayOptions {
    /// The object file.
    pub file: PathBuf,
    /// `--prog NAME`.
    pub program: Option<String>,
    /// `--pcap FILE`: the frames.
    pub pcap: PathBuf,
    /// `--cores N`: workers, one per CPU.
    pub cores: u32,
    /// `--frames N`: frames each worker runs (the capture over and over).
    pub frames: u64,
    /// `--engine jit`.
    pub jit: bool,
    /// `-j`.
    pub json: bool,
}

/// The verdict counts, each written by `each`, joined by `sep`.
fn verdicts(
    replayed: &apiary_net::Replayed,
    each: impl Fn(&str, u64) -> String,
    sep: &str,
) -> String {
    Action::ALL
        .iter()
        .map(|a| each(a.name(), replayed.actions[a.index()]))
        .collect::<Vec<_>>()
        .join(sep)
}

/// `apiary xdp replay`.
pub fn xdp_replay(options: &XdpReplayOptions) -> CliResult {
    let where_ = options.file.display();
    let OpenedObject { object, .. } = open_object(
        &options.file,
        &CoreTarget::choose(None, false),
        &apiary_loader::UserTyping::default(),
    )?;
    let spec = select_program(&object, options.program.as_deref())
        .map_err(|e| CliError::at(&where_, e))?;
    if spec.prog_type != ProgType::XDP {
        return Err(CliError::at(
            &where_,
            format!(
                "program {} is a {} program; xdp replay needs XDP",
                spec.name, spec.prog_type
            ),
        ));
    }
    let bytes =
        std::fs::read(&options.pcap).map_err(|e| CliError::at(options.pcap.display(), e))?;
    let capture = crate::capture::read_capture(&bytes)
        .map_err(|e| CliError::at(options.pcap.display(), e))?;
    if let Some(broken) = &capture.broken {
        eprintln!(
            "apiary: {}: {broken}; replaying the frames before it",
            options.pcap.display()
        );
    }
    let frames: Vec<Vec<u8>> = capture.packets.into_iter().map(|p| p.data).collect();
    if frames.is_empty() {
        return Err(CliError::at(
            options.pcap.display(),
            "the capture holds no frames",
        ));
    }
    // Programs the verifier accepts run their proven accesses unchecked.
    let proofs = options.jit.then(|| apiary_verifier::verify_object(&object));
    let vm = crate::progrun::open_vm(&object, &spec.name, proofs)
        .map_err(|e| CliError::at(&where_, e))?;
    let usable: Vec<usize> = usable_cpus()
        .map_err(|e| CliError::at("xdp replay", e))?
        .into_iter()
        .filter(|&cpu| cpu < vm.runtime().nr_cpus() as usize)
        .collect();
    let cores = options.cores as usize;
    if cores == 0 || cores > usable.len() {
        return Err(CliError::at(
            "--cores",
            format!(
                "{cores} workers but {} usable CPUs (one worker per CPU)",
                usable.len()
            ),
        ));
    }
    let engine = if options.jit {
        Engine::Compiled
    } else {
        Engine::Interpreter
    };
    // The backend's own runner stays behind: each worker gets its own.
    let (runtime, prog) = (vm.runtime(), vm.prog());
    let replayed = replay(&frames, options.frames, &usable[..cores], 1, |cpu| {
        let mut runner = Runner::new();
        runner.set_engine(engine);
        RuntimeProgram::new(runtime, prog, runner, cpu)
    })
    .map_err(|e| CliError::at("xdp replay", e))?;
    let tier = if options.jit { "jit" } else { "interp" };
    if options.json {
        let workers = replayed
            .workers
            .iter()
            .map(|w| {
                format!(
                    "{{\"cpu\":{},\"frames\":{},\"seconds\":{:.6},\"cpu_ns\":{},\"frames_per_cpu_sec\":{:.1}}}",
                    w.cpu,
                    w.frames,
                    w.seconds,
                    w.cpu_ns,
                    w.frames_per_cpu_second()
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        let actions = verdicts(&replayed, |name, n| format!("\"{name}\":{n}"), ",");
        println!(
            "{{\"program\":{:?},\"engine\":\"{tier}\",\"capture_frames\":{},\"frames\":{},\"seconds\":{:.6},\"frames_per_sec\":{:.1},\"cpu_ns_per_frame\":{:.1},{actions},\"faults\":{},\"workers\":[{workers}]}}",
            spec.name,
            frames.len(),
            replayed.frames(),
            replayed.seconds,
            replayed.frames_per_second(),
            replayed.cpu_ns_per_frame(),
            replayed.faults
        );
        return Ok(ExitCode::SUCCESS);
    }
    for w in &replayed.workers {
        println!(
            "cpu {}: {} frames in {:.3} s, {:.2} Mf/s per CPU second",
            w.cpu,
            w.frames,
            w.seconds,
            w.frames_per_cpu_second() / 1e6
        );
    }
    let actions = verdicts(&replayed, |name, n| format!("{name} {n}"), " ");
    println!(
        "{} on {tier}, {} core(s), {} frames of {} captured: {:.2} Mf/s, {:.1} CPU ns/frame; {actions}; faults {}",
        spec.name,
        cores,
        replayed.frames(),
        frames.len(),
        replayed.frames_per_second() / 1e6,
        replayed.cpu_ns_per_frame(),
        replayed.faults
    );
    Ok(ExitCode::SUCCESS)
}
