//! `apiary bench verify PATH...`: how long Apiary's verifier takes against
//! the running kernel's on every program of the objects given (a directory
//! stands for its `*.o` files), in one run. Each side is timed `--rounds`
//! times and the fastest kept: Apiary's `verify_program`, the kernel's
//! `BPF_PROG_LOAD` (wall clock) and its own `verification time N usec`
//! statistics line. Prints per program both times and their ratio, the
//! processed-instruction counts of both, then the totals over the programs
//! both sides timed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use apiary_backend::{LoadOptions, load_object};
use apiary_kernel::log_level;
use apiary_loader::UserTyping;
use serde_json::{Value, json};

use crate::CliResult;
use crate::coretarget::CoreTarget;
use crate::error::CliError;
use crate::objects::open_object;
use crate::progrun::{OutputFormat, emit};
use crate::verify::KernelVerdict;

/// What `apiary bench verify` was asked.
pub struct VerifyBenchArgs {
    /// Object files, and directories whose `*.o` files are taken.
    pub paths: Vec<PathBuf>,
    /// Times each side verifies each program; the fastest counts.
    pub rounds: u32,
    /// Where CO-RE relocations resolve.
    pub core_target: CoreTarget,
    /// Text or JSON.
    pub format: OutputFormat,
}

/// One program's fastest times on both sides.
struct ProgramTimes {
    object: String,
    name: String,
    apiary: Duration,
    apiary_accepts: bool,
    apiary_insns: Option<u64>,
    /// `None` when the kernel did not answer for this program (the object
    /// did not load, or the backend skipped it).
    kernel: Option<KernelTimes>,
}

/// The kernel's answer and its fastest times for one program.
struct KernelTimes {
    accepts: bool,
    load: Option<Duration>,
    verification_us: Option<u64>,
    insns: Option<u64>,
}

impl KernelTimes {
    fn from(verdict: &KernelVerdict) -> Self {
        KernelTimes {
            accepts: verdict.result.is_ok(),
            load: verdict.load_time,
            verification_us: verdict.verification_us,
            insns: verdict.stats.as_deref().and_then(processed_insns),
        }
    }

    /// Keeps the fastest of two rounds.
    fn merge(&mut self, other: KernelTimes) {
        self.load = min_some(self.load, other.load);
        self.verification_us = min_some(self.verification_us, other.verification_us);
    }
}

fn min_some<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// N of the kernel's `processed N insns (limit ...) ...` line.
fn processed_insns(stats: &str) -> Option<u64> {
    stats
        .strip_prefix("processed ")?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// The object files `paths` name, directories expanded to their `*.o`
/// files in name order.
fn object_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|e| CliError::at(path.display(), e))?;
        let mut found = Vec::new();
        for entry in entries {
            let file = entry.map_err(|e| CliError::at(path.display(), e))?.path();
            if file.extension().is_some_and(|e| e == "o") {
                found.push(file);
            }
        }
        found.sort();
        files.extend(found);
    }
    if files.is_empty() {
        return Err(CliError::at("arguments", "no object files to verify"));
    }
    Ok(files)
}

/// Times every program of `file` on both sides, `rounds` times each.
fn time_object(file: &Path, args: &VerifyBenchArgs) -> Result<Vec<ProgramTimes>, CliError> {
    let opened = open_object(file, &args.core_target, &UserTyping::default())?;
    let object = &opened.object;
    // With its directory: the corpus and the examples share names.
    let name_of = |p: Option<&std::ffi::OsStr>| p.map(|s| s.to_string_lossy().into_owned());
    let stem = name_of(file.file_stem()).unwrap_or_default();
    let object_name = match name_of(file.parent().and_then(Path::file_name)) {
        Some(dir) => format!("{dir}/{stem}"),
        None => stem,
    };
    let mut programs: Vec<ProgramTimes> = Vec::new();
    for spec in object.programs.iter().filter_map(|p| p.as_ref().ok()) {
        let mut fastest: Option<apiary_verifier::ProgramVerdict> = None;
        for _ in 0..args.rounds {
            let verdict = apiary_verifier::verify_program(object, spec);
            if fastest.as_ref().is_none_or(|f| verdict.time < f.time) {
                fastest = Some(verdict);
            }
        }
        let Some(verdict) = fastest else { continue };
        programs.push(ProgramTimes {
            object: object_name.clone(),
            name: spec.name.clone(),
            apiary: verdict.time,
            apiary_accepts: verdict.result.is_ok(),
            apiary_insns: verdict
                .result
                .as_ref()
                .ok()
                .map(|a| a.stats.insns_processed),
            kernel: None,
        });
    }
    let options = LoadOptions {
        elf: Some(&opened.elf),
        keep_going: true,
        log_level: log_level::STATS,
    };
    for _ in 0..args.rounds {
        // An object the kernel refuses as a whole (a map it cannot create)
        // leaves its programs without a kernel time, not the run failed.
        let Ok(kernel) = load_object(object, &options) else {
            break;
        };
        for program in &mut programs {
            let Some(verdict) = KernelVerdict::of(&kernel, &program.name, false) else {
                continue;
            };
            let times = KernelTimes::from(&verdict);
            match &mut program.kernel {
                Some(kept) => kept.merge(times),
                None => program.kernel = Some(times),
            }
        }
    }
    Ok(programs)
}

/// Apiary's time over the kernel's verifier's, for programs both timed.
fn ratio(apiary: Duration, kernel_us: u64) -> Option<f64> {
    (kernel_us > 0).then(|| apiary.as_secs_f64() * 1e6 / kernel_us as f64)
}

fn insns(n: Option<u64>) -> String {
    n.map_or("-".to_string(), |n| n.to_string())
}

fn table(programs: &[ProgramTimes], rounds: u32) -> String {
    let mut out = format!(
        "verification time, fastest of {rounds} per side (us); ratio: apiary / kernel verifier\n\
         {:<48} {:>9} {:>9} {:>9} {:>10} {:>9} {:>9}  verdicts\n",
        "dir/object/program", "apiary", "kernel", "load", "ratio", "insns", "k-insns"
    );
    let (mut apiary_sum, mut kernel_sum, mut load_sum) = (Duration::ZERO, 0u64, Duration::ZERO);
    let mut counted = 0usize;
    for p in programs {
        let kernel = p.kernel.as_ref();
        let verification = kernel.and_then(|k| k.verification_us);
        let load = kernel.and_then(|k| k.load);
        if let (Some(us), Some(load)) = (verification, load) {
            apiary_sum += p.apiary;
            kernel_sum += us;
            load_sum += load;
            counted += 1;
        }
        let verdicts = match kernel {
            None => "no kernel answer",
            Some(k) if k.accepts != p.apiary_accepts => "DISAGREE",
            Some(k) if k.accepts => "both accept",
            Some(_) => "both reject",
        };
        out.push_str(&format!(
            "{:<48} {:>9} {:>9} {:>9} {:>10} {:>9} {:>9}  {verdicts}\n",
            format!("{}/{}", p.object, p.name),
            p.apiary.as_micros(),
            verification.map_or("-".to_string(), |us| us.to_string()),
            load.map_or("-".to_string(), |t| t.as_micros().to_string()),
            verification
                .and_then(|us| ratio(p.apiary, us))
                .map_or("-".to_string(), |r| format!("{r:.2}x")),
            insns(p.apiary_insns),
            insns(kernel.and_then(|k| k.insns)),
        ));
    }
    out.push_str(&format!(
        "total over {counted} of {} programs: apiary {} us, kernel verifier {} us ({}), \
         kernel BPF_PROG_LOAD {} us ({})\n",
        programs.len(),
        apiary_sum.as_micros(),
        kernel_sum,
        ratio(apiary_sum, kernel_sum).map_or("-".to_string(), |r| format!("{r:.2}x")),
        load_sum.as_micros(),
        ratio(apiary_sum, load_sum.as_micros() as u64)
            .map_or("-".to_string(), |r| format!("{r:.2}x")),
    ));
    out
}

fn record(p: &ProgramTimes) -> Value {
    let kernel = p.kernel.as_ref().map(|k| {
        json!({
            "verdict": if k.accepts { "accept" } else { "reject" },
            "verification_time_us": k.verification_us,
            "load_time_us": k.load.map(|t| t.as_micros() as u64),
            "insns_processed": k.insns,
        })
    });
    json!({
        "object": p.object,
        "name": p.name,
        "verdict": if p.apiary_accepts { "accept" } else { "reject" },
        "time_us": p.apiary.as_micros() as u64,
        "insns_processed": p.apiary_insns,
        "kernel": kernel,
        "ratio": p.kernel.as_ref()
            .and_then(|k| k.verification_us)
            .and_then(|us| ratio(p.apiary, us)),
    })
}

/// Runs the benchmark and prints it; fails when a verdict differs.
pub fn run(args: &VerifyBenchArgs) -> CliResult {
    if args.rounds == 0 {
        return Err(CliError::at("arguments", "--rounds must be at least 1"));
    }
    let mut programs = Vec::new();
    for file in object_files(&args.paths)? {
        // An object the loader refuses has nothing to time; the others
        // still do.
        match time_object(&file, args) {
            Ok(timed) => programs.extend(timed),
            Err(e) => eprintln!("apiary: {e} (skipped)"),
        }
    }
    match args.format {
        OutputFormat::Text => emit(&table(&programs, args.rounds))?,
        OutputFormat::Json => emit(&format!(
            "{}\n",
            Value::Array(programs.iter().map(record).collect())
        ))?,
        OutputFormat::PrettyJson => emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&Value::Array(programs.iter().map(record).collect()))
                .unwrap_or_default()
        ))?,
    }
    let agree = programs.iter().all(|p| {
        p.kernel
            .as_ref()
            .is_none_or(|k| k.accepts == p.apiary_accepts)
    });
    Ok(if agree {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
