//! `apiary verify FILE.o`: the verifier's verdict on each program, and with
//! `--backend kernel|both` the running kernel's, compared.

use std::path::Path;
use std::process::ExitCode;

use std::time::Duration;

use apiary_backend::{KernelObject, LoadOptions, load_object};
use apiary_kernel::log_level;
use apiary_verifier::{LogLevel, ProgramVerdict};
use serde_json::{Value, json};

use crate::CliResult;
use crate::coretarget::CoreTarget;
use crate::error::CliError;
use crate::objects::open_object;
use crate::progrun::{OutputFormat, emit};

/// What `prog load` and `prog run` do with the verifier's `verdicts`
/// before anything runs: the first refusal has its diagnostic printed on
/// stderr, and the command fails naming the program.
pub fn refuse_rejected<'a>(
    file: &Path,
    verdicts: impl IntoIterator<Item = &'a apiary_verifier::ProgramVerdict>,
) -> Result<(), CliError> {
    for verdict in verdicts {
        if let Err(rejection) = &verdict.result {
            let mut shown = (*rejection).clone();
            if let Ok(dir) = std::env::current_dir() {
                shown.relative_to(&dir.to_string_lossy());
            }
            eprint!("{}", shown.render());
            return Err(CliError::at(
                file.display(),
                format!(
                    "the verifier refuses program {} at insn {} (--no-verify runs it unverified)",
                    verdict.name, rejection.insn
                ),
            ));
        }
    }
    Ok(())
}

/// Which verifier decides.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum VerifyBackend {
    /// Apiary's verifier.
    Vm,
    /// The running kernel's.
    Kernel,
    /// Both, with whether they agree.
    Both,
}

/// What `apiary verify` is asked.
pub struct VerifyRequest<'a> {
    /// Only this program.
    pub program: Option<&'a str>,
    /// Whose verdict.
    pub backend: VerifyBackend,
    /// The verifier log to print with each verdict.
    pub log_level: LogLevel,
}

/// The kernel's answer for one program: its verdict and what its load
/// cost, from the wall clock and from its own statistics lines.
pub(crate) struct KernelVerdict {
    /// Accepted, or the message lines of its log, the final error line last.
    pub(crate) result: Result<(), Vec<String>>,
    /// Wall time of the program's `BPF_PROG_LOAD`.
    pub(crate) load_time: Option<Duration>,
    /// `verification time N usec`: the kernel's own timing of its verifier.
    pub(crate) verification_us: Option<u64>,
    /// `processed N insns (limit 1000000) max_states_per_insn ...`.
    pub(crate) stats: Option<String>,
    /// The kernel's whole log, when a log level was asked.
    log: Option<String>,
}

impl KernelVerdict {
    /// The kernel's answer for `name` in `kernel`, loaded with
    /// [`log_level::STATS`]; `None` when the backend skipped it.
    pub(crate) fn of(kernel: &KernelObject, name: &str, keep_log: bool) -> Option<Self> {
        let (result, log) = match (kernel.program(name), kernel.rejected.get(name)) {
            (Some(_), _) => (Ok(()), kernel.logs.get(name).map_or("", String::as_str)),
            (None, Some(apiary_kernel::Error::ProgLoad { log, .. })) if !log.trim().is_empty() => {
                (Err(apiary_difftest::rejection_lines(log)), log.as_str())
            }
            (None, Some(other)) => (Err(vec![other.to_string()]), ""),
            (None, None) => return None,
        };
        Some(KernelVerdict {
            result,
            load_time: kernel.load_times.get(name).copied(),
            verification_us: log.lines().find_map(|line| {
                line.strip_prefix("verification time ")?
                    .strip_suffix(" usec")?
                    .parse()
                    .ok()
            }),
            stats: log.lines().rev().find_map(|line| {
                // Some messages lack their newline: the statistics follow
                // them on the same line.
                let at = line.find("processed ")?;
                line[at..]
                    .contains(" insns (limit ")
                    .then(|| line[at..].trim().to_string())
            }),
            log: keep_log.then(|| log.to_string()),
        })
    }
}

/// Runs `apiary verify`.
pub fn verify(
    file: &Path,
    request: &VerifyRequest,
    target: &CoreTarget,
    typing: &apiary_loader::UserTyping,
    format: OutputFormat,
) -> CliResult {
    let (program, backend, level) = (request.program, request.backend, request.log_level);
    let opened = open_object(file, target, typing)?;
    let object = &opened.object;
    let specs: Vec<_> = object
        .programs
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .filter(|p| program.is_none_or(|name| p.name == name))
        .collect();
    if specs.is_empty() {
        // Programs the loader could not prepare (a kfunc call, say) are
        // not verifiable: say why rather than that there are none.
        let refused = object.programs.iter().filter_map(|p| p.as_ref().err());
        let why = match program {
            Some(n) => format!("the object has no program named {n:?}"),
            None => refused
                .map(ToString::to_string)
                .reduce(|a, b| format!("{a}; {b}"))
                .unwrap_or_else(|| "the object has no program".to_string()),
        };
        return Err(CliError::at(file.display(), why));
    }
    let kernel = if backend == VerifyBackend::Vm {
        None
    } else {
        let options = LoadOptions {
            elf: Some(&opened.elf),
            keep_going: true,
            // The statistics alone unless a log is asked: the load is
            // timed, and a log has the kernel print what it walks.
            log_level: log_level::STATS
                | match level {
                    LogLevel::Off => log_level::NONE,
                    LogLevel::Basic => log_level::BASIC,
                    LogLevel::Verbose => log_level::VERBOSE,
                },
        };
        Some(load_object(object, &options).map_err(|e| CliError::at(file.display(), e))?)
    };
    let mut all_ok = true;
    let mut records = Vec::new();
    let mut text = String::new();
    for spec in specs {
        let kernel_verdict = kernel
            .as_ref()
            .and_then(|k| KernelVerdict::of(k, &spec.name, level != LogLevel::Off));
        let verdict = (backend != VerifyBackend::Kernel)
            .then(|| apiary_verifier::verify_program_logged(object, spec, level));
        let agree = match (&verdict, &kernel_verdict) {
            (Some(v), Some(k)) => Some(v.result.is_ok() == k.result.is_ok()),
            _ => None,
        };
        all_ok &= agree.unwrap_or(true)
            && verdict.as_ref().is_none_or(|v| v.result.is_ok())
            && kernel_verdict.as_ref().is_none_or(|k| k.result.is_ok());
        text.push_str(&describe(
            &spec.name,
            verdict.as_ref(),
            kernel_verdict.as_ref(),
            agree,
        ));
        records.push(record(
            &spec.name,
            verdict.as_ref(),
            kernel_verdict.as_ref(),
            agree,
        ));
    }
    match format {
        OutputFormat::Text => emit(&text)?,
        OutputFormat::Json => emit(&format!("{}\n", Value::Array(records)))?,
        OutputFormat::PrettyJson => emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&Value::Array(records)).unwrap_or_default()
        ))?,
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn describe(
    name: &str,
    verdict: Option<&ProgramVerdict>,
    kernel: Option<&KernelVerdict>,
    agree: Option<bool>,
) -> String {
    let mut out = String::new();
    if let Some(v) = verdict {
        out.push_str(&v.log);
        match &v.result {
            Ok(a) => out.push_str(&format!(
                "{name}: accepted ({} insns processed, {} us)\n{name}: {}\n",
                a.stats.insns_processed,
                v.time.as_micros(),
                a.stats
            )),
            Err(r) => {
                out.push_str(&format!("{name}: rejected at insn {}\n", r.insn));
                let mut shown = r.clone();
                if let Ok(dir) = std::env::current_dir() {
                    shown.relative_to(&dir.to_string_lossy());
                }
                out.push_str(&shown.render());
            }
        }
    }
    if let Some(k) = kernel {
        if let Some(log) = &k.log {
            out.push_str(&format!("{name}: kernel log:\n{log}"));
            if !log.ends_with('\n') {
                out.push('\n');
            }
        }
        match &k.result {
            Ok(()) => out.push_str(&format!("{name}: kernel: accepted\n")),
            Err(lines) => {
                let (last, context) = lines.split_last().map_or(("", &[][..]), |(l, c)| (l, c));
                for line in context {
                    out.push_str(&format!("{name}: kernel: {line}\n"));
                }
                out.push_str(&format!("{name}: kernel: rejected: {last}\n"));
            }
        }
        if let Some(stats) = &k.stats {
            out.push_str(&format!("{name}: kernel: {stats}\n"));
        }
    }
    if let (Some(v), Some(k)) = (verdict, kernel) {
        out.push_str(&format!(
            "{name}: time: apiary {} us, kernel BPF_PROG_LOAD {} (its verifier {})\n",
            v.time.as_micros(),
            k.load_time
                .map_or("unknown".to_string(), |t| format!("{} us", t.as_micros())),
            k.verification_us
                .map_or("unknown".to_string(), |us| format!("{us} us")),
        ));
    }
    match agree {
        Some(true) => out.push_str(&format!("{name}: verdicts agree\n")),
        Some(false) => out.push_str(&format!("{name}: verdicts DISAGREE\n")),
        None => {}
    }
    out
}

fn record(
    name: &str,
    verdict: Option<&ProgramVerdict>,
    kernel: Option<&KernelVerdict>,
    agree: Option<bool>,
) -> Value {
    let mut record = json!({ "name": name });
    if let Some(v) = verdict {
        record["verdict"] = json!(if v.result.is_ok() { "accept" } else { "reject" });
        if !v.log.is_empty() {
            record["log"] = json!(v.log);
        }
        record["time_us"] = json!(v.time.as_micros() as u64);
        match &v.result {
            Ok(a) => {
                record["insns_processed"] = json!(a.stats.insns_processed);
                record["stats"] = json!({
                    "max_states_per_insn": a.stats.max_states_per_insn,
                    "total_states": a.stats.total_states,
                    "peak_states": a.stats.peak_states,
                    "line": a.stats.to_string(),
                });
            }
            Err(r) => {
                record["error"] = json!({
                    "insn": r.insn,
                    "kernel": r.kernel,
                    "kernel_context": r.kernel_context,
                    "cause": r.cause,
                    "help": r.help,
                    "registers": r.regs,
                    "source": r.source.as_ref().map(|s| json!({
                        "file": s.file, "line": s.line, "column": s.column, "text": s.text,
                    })),
                });
            }
        }
    }
    if let Some(k) = kernel {
        let mut answer = match &k.result {
            Ok(()) => json!({ "verdict": "accept" }),
            Err(lines) => json!({
                "verdict": "reject",
                "error": lines.last(),
                "context": lines.split_last().map_or(&[][..], |(_, c)| c),
            }),
        };
        answer["load_time_us"] = json!(k.load_time.map(|t| t.as_micros() as u64));
        answer["verification_time_us"] = json!(k.verification_us);
        answer["stats"] = json!(k.stats);
        if let Some(log) = &k.log {
            answer["log"] = json!(log);
        }
        record["kernel"] = answer;
    }
    if let Some(agree) = agree {
        record["agree"] = json!(agree);
    }
    record
}
