//! One program of a clang-built object on every engine: Apiary's JIT,
//! Apiary's interpreter, the kernel (`BPF_PROG_TEST_RUN` with `repeat`) and
//! rbpf 0.4's JIT, first checked to agree on the return value and the packet,
//! then timed in batches (`apiary bench`).
//!
//! How each engine is timed:
//! - the kernel: its own mean duration per run, as `BPF_PROG_TEST_RUN`
//!   reports it (whole nanoseconds, the syscall excluded);
//! - Apiary's tiers: the time of a test run with `repeat` runs divided by
//!   `repeat`, so the test run's setup (packet copy, context) is counted
//!   against Apiary, spread over the runs;
//! - rbpf: the time of `repeat` calls of its JIT code on the same packet,
//!   divided by `repeat`.
//!
//! Both in this thread's CPU time ([`crate::cpu_clock`]): the kernel's
//! figure leaves out the time its loop was rescheduled, and so must ours.
//!
//! Every batch runs on the same packet, which runs may change (as the
//! kernel's test run leaves it); each engine's result is taken before its
//! timed batches, from one run on the packet as given.

use apiary_difftest::objects::{BackendError, KernelBackend, RunRequest, RunResult, VmBackend};
use apiary_kernel::types::ProgType;
use apiary_loader::Object;
use thiserror::Error;

use crate::cpu_clock::cpu_ns_per_run;
use crate::rbpf_xdp::RbpfXdp;

/// The engines, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// Apiary's x86-64 JIT.
    Jit,
    /// Apiary's interpreter.
    Interpreter,
    /// The running kernel's JIT, through `BPF_PROG_TEST_RUN`.
    Kernel,
    /// rbpf 0.4's x86-64 JIT.
    Rbpf,
}

impl Engine {
    /// Every engine, in report order.
    pub const ALL: [Engine; 4] = [
        Engine::Jit,
        Engine::Interpreter,
        Engine::Kernel,
        Engine::Rbpf,
    ];

    /// The engine's name in the table and the JSON.
    pub fn label(self) -> &'static str {
        match self {
            Engine::Jit => "apiary-jit",
            Engine::Interpreter => "apiary-interp",
            Engine::Kernel => "kernel",
            Engine::Rbpf => "rbpf-jit",
        }
    }
}

/// What to run and how long.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The packet and context, as `BPF_PROG_TEST_RUN` takes them (`repeat`
    /// is ignored: [`BenchOptions::repeat`] sets it).
    pub request: RunRequest,
    /// Runs per batch; `None`: chosen per engine so that a batch lasts
    /// about [`TARGET_BATCH_NS`].
    pub repeat: Option<u32>,
    /// Timed batches per engine (after one untimed warm-up batch); the
    /// median is reported.
    pub batches: u32,
}

/// How long an automatically sized batch lasts, in nanoseconds.
pub const TARGET_BATCH_NS: f64 = 20_000_000.0;
/// How long the trial batch that sizes an automatic repeat lasts at least.
const CALIBRATION_NS: f64 = 5_000_000.0;
/// The largest automatic batch.
const MAX_AUTO_REPEAT: u32 = 50_000_000;

/// One engine's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// The median of the batches' nanoseconds per run.
    pub ns_per_run: f64,
    /// Every batch's nanoseconds per run, in the order they ran.
    pub batches: Vec<f64>,
    /// Runs per batch.
    pub repeat: u32,
}

/// One engine's line of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineReport {
    /// The engine.
    pub engine: Engine,
    /// Its figures, or why it was not measured.
    pub timing: Result<Timing, String>,
}

/// The comparison of one program on every engine.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    /// How the JIT column's code was compiled: with the verifier's proofs
    /// (and how many accesses they freed of checks), or why without.
    pub jit_compile: String,
    /// The return value every measured engine gave.
    pub retval: u32,
    /// Whether a packet came back (and was compared).
    pub packet_compared: bool,
    /// One line per engine, in [`Engine::ALL`]'s order.
    pub engines: Vec<EngineReport>,
}

impl BenchReport {
    /// `engine`'s nanoseconds per run over the kernel's, when both were measured.
    pub fn ratio_to_kernel(&self, engine: Engine) -> Option<f64> {
        let ns = |wanted: Engine| {
            self.engines
                .iter()
                .find(|e| e.engine == wanted)
                .and_then(|e| e.timing.as_ref().ok())
                .map(|t| t.ns_per_run)
        };
        let kernel = ns(Engine::Kernel).filter(|&k| k > 0.0)?;
        Some(ns(engine)? / kernel)
    }
}

/// Why the comparison could not be made.
#[derive(Debug, Error)]
pub enum BenchError {
    /// The interpreter, the reference every engine is compared with, could
    /// not load or run the program.
    #[error("{0}")]
    Reference(BackendError),
    /// Two engines gave different results: nothing is timed.
    #[error("{engine} disagrees with the interpreter: {difference}")]
    Disagree {
        /// The engine that differs.
        engine: &'static str,
        /// What differs.
        difference: String,
    },
}

/// Opens the object on Apiary's JIT tier: every program the verifier
/// accepts is compiled with its proofs (the accesses proven in bounds
/// unchecked), the others with every check. Says how `program` was compiled.
fn open_jit(object: &Object, program: &str) -> Result<(VmBackend, String), String> {
    let vm = VmBackend::open(object, program).map_err(|e| e.problem)?;
    let runtime = vm.runtime();
    let compiled = apiary_jit::compile_each(&apiary_verifier::verify_object(object), |name| {
        runtime
            .program_by_name(name)
            .and_then(|id| runtime.program(id))
    })
    .map_err(|e| format!("the JIT refused the program: {e}"))?;
    let described = compiled
        .into_iter()
        .find(|(name, _)| name == program)
        .map_or_else(|| "not compiled".to_owned(), |(_, how)| how.to_string());
    Ok((vm, described))
}

/// A prepared engine: one run for the result, batches for the time.
enum Prepared<'a> {
    Vm(Box<VmBackend>),
    Kernel(KernelBackend),
    Rbpf(RbpfXdp<'a>),
}

impl Prepared<'_> {
    /// One run on the packet as given: the return value and the packet after.
    fn result(&mut self, request: &RunRequest) -> Result<(u32, Option<Vec<u8>>), String> {
        let run = |result: Result<RunResult, BackendError>| {
            result
                .map(|r| (r.retval, r.data_out))
                .map_err(|e| e.problem)
        };
        match self {
            Prepared::Vm(vm) => run(vm.run(request)),
            Prepared::Kernel(kernel) => run(kernel.run(request)),
            Prepared::Rbpf(rbpf) => {
                let retval = rbpf.run().map_err(|e| e.to_string())?;
                Ok((retval, Some(rbpf.packet())))
            }
        }
    }

    /// Nanoseconds per run over a batch of `repeat` runs.
    fn batch(&mut self, request: &RunRequest, repeat: u32) -> Result<f64, String> {
        let request = RunRequest {
            repeat,
            ..request.clone()
        };
        match self {
            Prepared::Vm(vm) => {
                let (result, ns) = cpu_ns_per_run(repeat, || vm.run(&request));
                result.map_err(|e| e.problem)?;
                Ok(ns)
            }
            Prepared::Kernel(kernel) => Ok(f64::from(
                kernel.run(&request).map_err(|e| e.problem)?.duration_ns,
            )),
            Prepared::Rbpf(rbpf) => rbpf.time(repeat).map_err(|e| e.to_string()),
        }
    }

    /// The batches: a repeat that fills [`TARGET_BATCH_NS`] unless one is
    /// given, one warm-up batch, then `batches` timed ones.
    fn time(&mut self, options: &BenchOptions) -> Result<Timing, String> {
        let repeat = match options.repeat {
            Some(repeat) => repeat.max(1),
            None => self.calibrate(&options.request)?,
        };
        self.batch(&options.request, repeat)?;
        let batches = (0..options.batches.max(1))
            .map(|_| self.batch(&options.request, repeat))
            .collect::<Result<Vec<f64>, String>>()?;
        Ok(Timing {
            ns_per_run: median(&batches),
            batches,
            repeat,
        })
    }

    /// Grows a trial batch until it lasts [`CALIBRATION_NS`] (long enough
    /// that a one-off stall does not skew the estimate), then sizes the
    /// repeat for [`TARGET_BATCH_NS`].
    fn calibrate(&mut self, request: &RunRequest) -> Result<u32, String> {
        let mut repeat: u32 = 16;
        loop {
            let ns = self.batch(request, repeat)?;
            let total = ns * f64::from(repeat);
            if total >= CALIBRATION_NS || repeat >= MAX_AUTO_REPEAT {
                let wanted = TARGET_BATCH_NS / ns.max(0.5);
                return Ok(wanted.clamp(1.0, f64::from(MAX_AUTO_REPEAT)) as u32);
            }
            repeat = repeat.saturating_mul(8).min(MAX_AUTO_REPEAT);
        }
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    } else {
        sorted[middle]
    }
}

/// Prepares rbpf's JIT, or says why it cannot run the program.
fn prepare_rbpf<'a>(
    object: &Object,
    program: &str,
    bytecode: &'a [u8],
    request: &RunRequest,
    kernel_loaded: Result<(), &str>,
) -> Result<RbpfXdp<'a>, String> {
    let spec = object
        .program(program)
        .ok_or_else(|| format!("the object has no program {program:?}"))?;
    if spec.prog_type != ProgType::XDP {
        return Err("runs XDP programs only here (rbpf has no socket buffer context)".to_owned());
    }
    let Some(packet) = request.data_in.as_deref() else {
        return Err("an XDP program needs a packet (data_in)".to_owned());
    };
    if request.ctx_in.is_some() {
        return Err("rbpf's run cannot take ctx_in".to_owned());
    }
    if let Err(why) = kernel_loaded {
        return Err(format!(
            "rbpf's JIT checks no access, so it runs only what the kernel's verifier accepted, and the kernel could not load it: {why}"
        ));
    }
    // SAFETY: the kernel's verifier accepted this very program as XDP
    // (checked just above), which is `RbpfXdp::new`'s contract.
    unsafe { RbpfXdp::new(&spec.insns, bytecode, packet) }.map_err(|e| e.to_string())
}

/// Runs `program` of `object` (`elf` is the object file, which the
/// kernel's loader needs) on every engine: checks that all give the
/// interpreter's return value and packet, then times each.
pub fn bench(
    object: &Object,
    elf: &[u8],
    program: &str,
    options: &BenchOptions,
) -> Result<BenchReport, BenchError> {
    let request = RunRequest {
        repeat: 1,
        ..options.request.clone()
    };
    let bytecode = object
        .program(program)
        .map(|spec| apiary_isa::slots_to_bytes(&spec.insns))
        .unwrap_or_default();
    let interpreter = VmBackend::open(object, program).map_err(BenchError::Reference)?;
    let jit = open_jit(object, program);
    let jit_compile = match &jit {
        Ok((_, described)) => described.clone(),
        Err(why) => why.clone(),
    };
    let jit = jit.map(|(vm, _)| vm);
    let kernel = KernelBackend::open(object, elf, program).map_err(|e| e.problem);
    let rbpf = prepare_rbpf(
        object,
        program,
        &bytecode,
        &request,
        kernel.as_ref().map(|_| ()).map_err(String::as_str),
    );
    let mut prepared: Vec<(Engine, Result<Prepared<'_>, String>)> = vec![
        (Engine::Jit, jit.map(|vm| Prepared::Vm(Box::new(vm)))),
        (Engine::Interpreter, Ok(Prepared::Vm(Box::new(interpreter)))),
        (Engine::Kernel, kernel.map(Prepared::Kernel)),
        (Engine::Rbpf, rbpf.map(Prepared::Rbpf)),
    ];

    let reference = match &mut prepared[1].1 {
        Ok(interpreter) => interpreter.result(&request),
        Err(why) => Err(why.clone()),
    };
    let (retval, packet) = reference.map_err(|problem| {
        BenchError::Reference(BackendError {
            backend: apiary_difftest::objects::BackendKind::Vm,
            problem,
            run_error: None,
        })
    })?;
    for (engine, slot) in &mut prepared {
        let (Ok(engine_state), false) = (&mut *slot, *engine == Engine::Interpreter) else {
            continue;
        };
        match engine_state.result(&request) {
            Ok((other_retval, other_packet)) => {
                if let Some(difference) = compare(
                    retval,
                    packet.as_deref(),
                    other_retval,
                    other_packet.as_deref(),
                ) {
                    return Err(BenchError::Disagree {
                        engine: engine.label(),
                        difference,
                    });
                }
            }
            Err(why) => *slot = Err(format!("the run failed: {why}")),
        }
    }
    let engines = prepared
        .into_iter()
        .map(|(engine, slot)| EngineReport {
            engine,
            timing: slot.and_then(|mut state| state.time(options)),
        })
        .collect();
    Ok(BenchReport {
        jit_compile,
        retval,
        packet_compared: packet.is_some(),
        engines,
    })
}

/// The first difference between the reference result and another, if any.
fn compare(
    retval: u32,
    packet: Option<&[u8]>,
    other_retval: u32,
    other_packet: Option<&[u8]>,
) -> Option<String> {
    if retval != other_retval {
        return Some(format!("retval {other_retval}, the interpreter's {retval}"));
    }
    let (Some(packet), Some(other)) = (packet, other_packet) else {
        return None;
    };
    if packet.len() != other.len() {
        return Some(format!(
            "packet of {} bytes, the interpreter's {} bytes",
            other.len(),
            packet.len()
        ));
    }
    let at = packet.iter().zip(other).position(|(a, b)| a != b)?;
    Some(format!(
        "packet byte {at} is {:#04x}, the interpreter's {:#04x}",
        other[at], packet[at]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_batches() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
    }

    #[test]
    fn comparison_names_the_first_difference() {
        assert_eq!(compare(2, Some(&[1, 2]), 2, Some(&[1, 2])), None);
        assert_eq!(
            compare(2, None, 1, None).as_deref(),
            Some("retval 1, the interpreter's 2")
        );
        assert_eq!(
            compare(2, Some(&[1, 2]), 2, Some(&[1, 3])).as_deref(),
            Some("packet byte 1 is 0x03, the interpreter's 0x02")
        );
    }
}
