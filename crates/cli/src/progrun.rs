//! `apiary prog run`: bpftool's `prog run` keyword grammar and output over
//! an object file instead of a pinned program, plus capture replay
//! (`--pcap`), the backend choice (`--backend vm|kernel|both`) and pinned
//! map directories (`--pin-maps`).

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use apiary_btf::BpftoolJson;
use apiary_loader::{Object, parse_c_number};
use apiary_verifier::ProgramVerdict;

use crate::CliResult;
use crate::coretarget::CoreTarget;
use crate::error::CliError;
use crate::objects::{OpenedObject, open_object};
use apiary_difftest::objects::{
    BackendError, KernelBackend, ReadyProgram, RunRequest, RunResult, VmBackend, compare_maps,
    compare_runs, select_program,
};

/// bpftool's output buffer size when `data_size_out`/`ctx_size_out` is not given.
const DEFAULT_SIZE_OUT: u32 = 32 * 1024;

/// Largest `data_in`/`ctx_in`/object read (bpftool's limit is 4 GiB; no
/// packet or context comes near this).
const MAX_RUN_INPUT: u64 = 256 << 20;

/// Where `prog run` runs the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// Apiary's interpreter.
    Vm,
    /// The running kernel.
    Kernel,
    /// Both, comparing the results.
    Both,
}

/// Everything `prog run` was asked, after parsing.
#[derive(Debug)]
pub struct RunOptions {
    /// The object file.
    pub file: PathBuf,
    /// `--prog NAME`.
    pub program: Option<String>,
    /// `--type` and `--section`.
    pub typing: apiary_loader::UserTyping,
    /// The bpftool keywords and their values.
    pub words: Vec<String>,
    /// `--pcap IN`.
    pub pcap: Option<PathBuf>,
    /// `--out OUT.pcapng`.
    pub out: Option<PathBuf>,
    /// `--backend`.
    pub backend: BackendChoice,
    /// `--engine jit`: Apiary runs native code rather than interpreting.
    pub jit: bool,
    /// Verify the program before Apiary runs it (not `--no-verify`).
    pub verify: bool,
    /// `--pin-maps DIR`.
    pub pin_maps: Option<PathBuf>,
    /// What CO-RE relocations resolve against (`--target-btf` or the default).
    pub core_target: CoreTarget,
    /// `--budget`: the interpreter's instruction budget per run.
    pub budget: Budget,
    /// `-j`, `-p` or plain text.
    pub format: OutputFormat,
}

/// The interpreter's instruction budget per run (`--budget`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Stop after this many executed instructions.
    Limit(u64),
    /// `--budget unlimited`: a program that never ends never returns.
    Unlimited,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::Limit(apiary_vm::DEFAULT_BUDGET)
    }
}

impl Budget {
    fn instructions(self) -> Option<u64> {
        match self {
            Budget::Limit(n) => Some(n),
            Budget::Unlimited => None,
        }
    }
}

/// Reads `--budget`: a positive count (decimal or `0x` hex) or
/// `unlimited`. 0 is refused rather than read as "no limit", so that a
/// typo cannot remove the bound silently.
pub fn parse_budget(text: &str) -> Result<Budget, String> {
    if text == "unlimited" {
        return Ok(Budget::Unlimited);
    }
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse::<u64>(),
    };
    match parsed {
        Ok(0) => Err("0 instructions cannot run anything; use 'unlimited' for no limit".to_owned()),
        Ok(n) => Ok(Budget::Limit(n)),
        Err(_) => Err(format!(
            "expected a number of instructions or 'unlimited', got {text:?}"
        )),
    }
}

/// A backend's failure, with the option that helps when the interpreter
/// spent its budget.
pub fn describe_failure(error: &BackendError) -> String {
    match error.run_error.as_deref() {
        Some(apiary_vm::RunError::BudgetExhausted { .. }) => {
            format!("{error}; raise the budget with --budget N (or --budget unlimited)")
        }
        _ => error.to_string(),
    }
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// bpftool's plain text.
    Text,
    /// Compact JSON (`-j`).
    Json,
    /// Pretty JSON (`-p`).
    PrettyJson,
}

/// The keywords of `bpftool prog run`, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunWords {
    /// `data_in FILE` (`-` for stdin).
    pub data_in: Option<String>,
    /// `data_out FILE` (`-` for stdout).
    pub data_out: Option<String>,
    /// `data_size_out L`.
    pub data_size_out: Option<u32>,
    /// `ctx_in FILE` (`-` for stdin).
    pub ctx_in: Option<String>,
    /// `ctx_out FILE` (`-` for stdout).
    pub ctx_out: Option<String>,
    /// `ctx_size_out M`.
    pub ctx_size_out: Option<u32>,
    /// `repeat N`. bpftool sends 1 when it is not given, which raw
    /// tracepoint and syscall programs refuse; not sending it means the same
    /// single run for every other type.
    pub repeat: Option<u32>,
}

const KEYWORDS: [&str; 7] = [
    "data_in",
    "data_out",
    "data_size_out",
    "ctx_in",
    "ctx_out",
    "ctx_size_out",
    "repeat",
];

/// Parses bpftool's `prog run` keywords: each keyword may be abbreviated
/// to any unambiguous prefix, as bpftool's `is_prefix` allows.
pub fn parse_run_words(words: &[String]) -> Result<RunWords, String> {
    let mut parsed = RunWords::default();
    let mut rest = words.iter();
    while let Some(word) = rest.next() {
        let matching: Vec<&str> = KEYWORDS
            .iter()
            .copied()
            .filter(|k| !word.is_empty() && k.starts_with(word.as_str()))
            .collect();
        let keyword = match matching.as_slice() {
            [one] => *one,
            [] => {
                return Err(format!(
                    "expected no more arguments, 'data_in', 'data_out', 'data_size_out', 'ctx_in', 'ctx_out', 'ctx_size_out' or 'repeat', got: '{word}'?"
                ));
            }
            many => {
                return Err(format!(
                    "ambiguous prefix: '{word}' could be '{}'",
                    many.join("' or '")
                ));
            }
        };
        let value = rest
            .next()
            .ok_or_else(|| format!("'{keyword}' needs a value"))?;
        match keyword {
            "data_in" => parsed.data_in = Some(value.clone()),
            "data_out" => parsed.data_out = Some(value.clone()),
            "ctx_in" => parsed.ctx_in = Some(value.clone()),
            "ctx_out" => parsed.ctx_out = Some(value.clone()),
            "data_size_out" => {
                parsed.data_size_out = Some(
                    parse_c_number(value)
                        .ok_or_else(|| format!("can't parse {value} as output data size"))?,
                );
            }
            "ctx_size_out" => {
                parsed.ctx_size_out = Some(
                    parse_c_number(value)
                        .ok_or_else(|| format!("can't parse {value} as output context size"))?,
                );
            }
            _ => {
                parsed.repeat = Some(
                    parse_c_number(value)
                        .ok_or_else(|| format!("can't parse {value} as repeat number"))?,
                );
            }
        }
        if parsed.data_in.as_deref() == Some("-") && parsed.ctx_in.as_deref() == Some("-") {
            return Err("cannot use standard input for both data_in and ctx_in".to_owned());
        }
    }
    Ok(parsed)
}

/// Reads `data_in`/`ctx_in`: a file, or stdin for `-`.
pub fn read_run_data(name: &str, what: &str) -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    let outcome = if name == "-" {
        std::io::stdin()
            .lock()
            .take(MAX_RUN_INPUT + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(name).and_then(|f| f.take(MAX_RUN_INPUT + 1).read_to_end(&mut bytes))
    };
    outcome.map_err(|e| CliError::at(format!("{what} {name}"), format!("failed to open: {e}")))?;
    if bytes.len() as u64 > MAX_RUN_INPUT {
        return Err(CliError::at(
            format!("{what} {name}"),
            format!("longer than {MAX_RUN_INPUT} bytes"),
        ));
    }
    Ok(bytes)
}

/// bpftool's `hex_print`: offset, 16 bytes in groups of two, and the
/// printable characters with a gap after the eighth.
pub fn hex_dump(data: &[u8]) -> String {
    let mut text = String::new();
    for (row, chunk) in data.chunks(16).enumerate() {
        let _ = write!(text, "{:07x}\t", row * 16);
        for column in 0..16 {
            let separator = if column % 2 == 1 { " " } else { "" };
            match chunk.get(column) {
                Some(byte) => {
                    let _ = write!(text, "{byte:02x}{separator}");
                }
                None => {
                    let _ = write!(text, "  {separator}");
                }
            }
        }
        text.push_str("| ");
        for (column, &byte) in chunk.iter().enumerate() {
            text.push(if (b' '..=b'~').contains(&byte) {
                char::from(byte)
            } else {
                '.'
            });
            if column == 7 {
                text.push(' ');
            }
        }
        text.push('\n');
    }
    text
}

/// The backends the run uses (the vm's boxed: it holds the whole runtime,
/// several times the kernel's handle).
enum Backends {
    Vm(Box<VmBackend>),
    Kernel(KernelBackend),
    Both(Box<VmBackend>, KernelBackend),
}

/// Compiles a loaded program for `fuzz diff`'s third tier, every access checked.
pub(crate) fn jit(program: &apiary_vm::Program<apiary_runtime::Env>) -> Result<(), String> {
    apiary_jit::compile(program).map_err(|e| format!("the JIT refused the program: {e}"))
}

/// Readies each loaded program for `--engine jit`: compiled with the
/// verifier's proofs where `verdicts` has it accepted (the accesses it
/// proved in bounds run unchecked), with every access checked otherwise.
pub(crate) fn jit_for(
    verdicts: Vec<ProgramVerdict>,
) -> impl Fn(&str, &apiary_vm::Program<apiary_runtime::Env>) -> Result<(), String> {
    move |name, program| {
        let accepted = verdicts
            .iter()
            .find(|verdict| verdict.name == name)
            .and_then(|verdict| verdict.result.as_ref().ok());
        apiary_jit::compile_by_verdict(program, accepted)
            .map_err(|e| format!("the JIT refused the program: {e}"))
    }
}

/// Loads `object` into a new runtime for running `program` (its other
/// programs as tail-call targets), on the JIT when given the verifier's
/// `jit` verdicts (each program compiled with the proofs of its own), on
/// the interpreter otherwise.
pub(crate) fn open_vm(
    object: &Object,
    program: &str,
    jit: Option<Vec<ProgramVerdict>>,
) -> Result<VmBackend, BackendError> {
    let prepare = jit.map(jit_for);
    let ready = prepare.as_ref().map(|f| f as ReadyProgram<'_>);
    VmBackend::open_on(object, program, ready)
}

impl Backends {
    #[allow(clippy::too_many_arguments)]
    fn open(
        choice: BackendChoice,
        jit: bool,
        verdicts: Vec<ProgramVerdict>,
        elf: &[u8],
        object: &Object,
        program: &str,
        budget: Budget,
    ) -> Result<Backends, CliError> {
        let fail = |e: BackendError| CliError::at("--backend", e);
        let vm = || {
            let mut vm = open_vm(object, program, jit.then_some(verdicts)).map_err(fail)?;
            vm.set_budget(budget.instructions());
            Ok::<_, CliError>(Box::new(vm))
        };
        let kernel = || KernelBackend::open(object, elf, program).map_err(fail);
        Ok(match choice {
            BackendChoice::Vm => Backends::Vm(vm()?),
            BackendChoice::Kernel => Backends::Kernel(kernel()?),
            BackendChoice::Both => Backends::Both(vm()?, kernel()?),
        })
    }

    fn vm(&self) -> Option<&VmBackend> {
        match self {
            Backends::Vm(vm) | Backends::Both(vm, _) => Some(vm),
            Backends::Kernel(_) => None,
        }
    }

    fn kernel(&self) -> Option<&KernelBackend> {
        match self {
            Backends::Kernel(kernel) | Backends::Both(_, kernel) => Some(kernel),
            Backends::Vm(_) => None,
        }
    }

    /// Runs the request on every backend: the vm's result first, and the
    /// kernel's beside it when both run.
    fn run(
        &mut self,
        request: &RunRequest,
    ) -> Result<(RunResult, Option<RunResult>), BackendError> {
        match self {
            Backends::Vm(vm) => Ok((vm.run(request)?, None)),
            Backends::Kernel(kernel) => Ok((kernel.run(request)?, None)),
            // Both always run, so that a failure on one side is reported
            // with what the other side did.
            Backends::Both(vm, kernel) => match (vm.run(request), kernel.run(request)) {
                (Ok(vm), Ok(kernel)) => Ok((vm, Some(kernel))),
                (Err(vm), Ok(kernel)) => Err(BackendError {
                    problem: format!("{} (the kernel returned {})", vm.problem, kernel.retval),
                    ..vm
                }),
                (Ok(vm), Err(kernel)) => Err(BackendError {
                    problem: format!("{} (the vm returned {})", kernel.problem, vm.retval),
                    ..kernel
                }),
                (Err(vm), Err(kernel)) => Err(BackendError {
                    problem: format!("{}; kernel: {}", vm.problem, kernel.problem),
                    ..vm
                }),
            },
        }
    }
}

/// `apiary prog run FILE.o [--prog NAME] [data_in FILE] ... [--pcap IN [--out OUT]]`.
pub fn prog_run(options: &RunOptions) -> CliResult {
    let words = parse_run_words(&options.words).map_err(|e| CliError::at("arguments", e))?;
    if let Some(dir) = &options.pin_maps {
        crate::pinning::check_pin_dir(dir)?;
    }
    let OpenedObject { elf, object, .. } =
        open_object(&options.file, &options.core_target, &options.typing)?;
    let program = choose_program(
        &object,
        options.program.as_deref(),
        options.typing.section.as_deref(),
    )
    .map_err(|e| CliError::at(options.file.display(), e))?;
    // The kernel verifies what it runs; Apiary's side is verified here,
    // every program for the JIT's proofs (tail-call targets too), only the
    // one that runs for the interpreter.
    let verdicts = if options.verify && !matches!(options.backend, BackendChoice::Kernel) {
        let verdicts = if options.jit {
            apiary_verifier::verify_object(&object)
        } else {
            vec![apiary_verifier::verify_program(&object, program)]
        };
        let chosen = verdicts.iter().filter(|v| v.name == program.name);
        crate::verify::refuse_rejected(&options.file, chosen)?;
        verdicts
    } else {
        Vec::new()
    };
    let prog_type = program.prog_type;
    let program = program.name.clone();
    let mut backends = Backends::open(
        options.backend,
        options.jit,
        verdicts,
        &elf,
        &object,
        &program,
        options.budget,
    )?;
    if let Some(dir) = &options.pin_maps {
        crate::pinning::load_pinned(dir, &object.maps, backends.vm(), backends.kernel())?;
    }
    let compared = matches!(backends, Backends::Both(..));
    let outcome = match &options.pcap {
        Some(capture) => crate::capture::replay(
            &mut |request: &RunRequest| backends.run(request),
            compared,
            prog_type,
            &words,
            capture,
            options.out.as_deref(),
            options.format,
        ),
        None => single_run(&mut backends, &words, options.format),
    };
    if let Some(dir) = &options.pin_maps {
        crate::pinning::save_pinned(dir, &object, backends.vm(), backends.kernel())?;
    }
    let code = outcome?;
    if let Backends::Both(vm, kernel) = &backends {
        let vm_maps = vm.dump_maps();
        let differences = compare_maps(&vm_maps, &kernel.dump_maps());
        if !differences.is_empty() {
            for difference in &differences {
                eprintln!("apiary: differs: {difference}");
            }
            return Ok(ExitCode::FAILURE);
        }
        if code == ExitCode::SUCCESS && options.format == OutputFormat::Text {
            eprintln!(
                "apiary: vm and kernel agree (retval, returned packet and context, {} maps)",
                vm_maps.iter().filter(|m| m.contents.is_ok()).count()
            );
        }
    }
    Ok(code)
}

/// The output room for a packet of `frame_len` bytes: `data_size_out`
/// when given; bpftool's fixed 32 KiB when `data_out` is asked for without
/// it (bpftool's behaviour, `ENOSPC` included); otherwise the frame's
/// length plus 32 KiB, so that a jumbo frame whose packet nobody asked to
/// see (and every frame of `--pcap`) comes back whole instead of failing
/// with `ENOSPC` about a size the user never gave.
pub fn data_room(words: &RunWords, frame_len: usize) -> u32 {
    match words.data_size_out.filter(|&n| n > 0) {
        Some(given) => given,
        None if words.data_out.is_some() => DEFAULT_SIZE_OUT,
        None => u32::try_from(frame_len)
            .unwrap_or(u32::MAX)
            .saturating_add(DEFAULT_SIZE_OUT),
    }
}

/// The program `--prog` names, else the first of the `--section` named,
/// else the object's only one; when none loads, the message says what
/// became of each skipped section and the option that would load it.
pub(crate) fn choose_program<'o>(
    object: &'o Object,
    name: Option<&str>,
    section: Option<&str>,
) -> Result<&'o apiary_loader::ProgramSpec, String> {
    if let (None, Some(section)) = (name, section) {
        return object
            .programs
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .find(|p| p.section == section)
            .ok_or_else(|| {
                format!(
                    "section {section:?} has no loaded program{}",
                    skipped_sections(object)
                )
            });
    }
    select_program(object, name).map_err(|e| format!("{e}{}", skipped_sections(object)))
}

/// `; section "X" skipped: why; load with --type TYPE` for every skipped
/// executable section.
fn skipped_sections(object: &Object) -> String {
    object
        .sections
        .iter()
        .filter_map(|s| match &s.outcome {
            apiary_loader::SectionOutcome::Skipped { reason, hint } => Some(format!(
                "; section {:?} skipped: {reason}{}",
                s.name,
                hint.as_ref()
                    .map(|h| format!("; load with {h}"))
                    .unwrap_or_default()
            )),
            _ => None,
        })
        .collect()
}

/// Builds the request bpftool would send for these keywords.
pub fn request_from_words(
    words: &RunWords,
    data_in: Option<Vec<u8>>,
) -> Result<RunRequest, CliError> {
    let ctx_in = words
        .ctx_in
        .as_deref()
        .map(|name| read_run_data(name, "ctx_in"))
        .transpose()?;
    Ok(RunRequest {
        data_size_out: data_in.as_ref().map(|data| data_room(words, data.len())),
        ctx_size_out: ctx_in.as_ref().map(|_| {
            words
                .ctx_size_out
                .filter(|&n| n > 0)
                .unwrap_or(DEFAULT_SIZE_OUT)
        }),
        data_in,
        ctx_in,
        repeat: words.repeat.unwrap_or(0),
    })
}

fn single_run(backends: &mut Backends, words: &RunWords, format: OutputFormat) -> CliResult {
    let data_in = words
        .data_in
        .as_deref()
        .map(|name| read_run_data(name, "data_in"))
        .transpose()?;
    let request = request_from_words(words, data_in)?;
    let (result, kernel) = backends
        .run(&request)
        .map_err(|e| CliError::at("run", describe_failure(&e)))?;
    report_side_effects(&result, &mut std::io::stderr().lock());
    let differences = kernel
        .as_ref()
        .map(|k| compare_runs(&result, k))
        .unwrap_or_default();
    let mut stdout = String::new();
    // bpftool's writer, so that `-j` and `-p` print exactly as bpftool does.
    let mut writer = match format {
        OutputFormat::Text => None,
        OutputFormat::Json => Some(BpftoolJson::new(false, false)),
        OutputFormat::PrettyJson => Some(BpftoolJson::new(true, false)),
    };
    if let Some(w) = writer.as_mut() {
        w.start_object();
    }
    let outputs = [
        (
            "data_out",
            words.data_out.as_deref(),
            result.data_out.as_deref(),
        ),
        (
            "ctx_out",
            words.ctx_out.as_deref(),
            result.ctx_out.as_deref(),
        ),
    ];
    for (key, destination, bytes) in outputs {
        let (Some(destination), Some(bytes)) = (destination, bytes) else {
            continue;
        };
        if destination == "-" {
            match writer.as_mut() {
                Some(w) => {
                    w.name(key);
                    byte_array(w, bytes);
                }
                None => stdout.push_str(&hex_dump(bytes)),
            }
        } else {
            std::fs::write(destination, bytes)
                .map_err(|e| CliError::at(format!("{key} {destination}"), e))?;
        }
    }
    if let Some(mut w) = writer {
        summary_json(&mut w, &result);
        if !result.redirects.is_empty() {
            w.name("redirects");
            w.start_array();
            for redirect in &result.redirects {
                w.start_object();
                w.name("via");
                w.string(redirect.via);
                w.name("target");
                w.string(&redirect.target);
                w.end_object();
            }
            w.end_array();
        }
        if let Some(kernel) = &kernel {
            w.name("kernel");
            w.start_object();
            summary_json(&mut w, kernel);
            w.end_object();
            w.name("differences");
            w.start_array();
            for difference in &differences {
                w.string(&difference.to_string());
            }
            w.end_array();
        }
        w.end_object();
        stdout.push_str(&w.finish());
    } else {
        let average = if words.repeat > Some(1) {
            " (average)"
        } else {
            ""
        };
        let mut summary = |prefix: &str, run: &RunResult| {
            let _ = writeln!(
                stdout,
                "{prefix}Return value: {}, duration{average}: {}ns",
                run.retval, run.duration_ns
            );
        };
        summary("", &result);
        if let Some(kernel) = &kernel {
            summary("kernel: ", kernel);
        }
    }
    emit(&stdout)?;
    for difference in &differences {
        eprintln!("apiary: differs: {difference}");
    }
    Ok(if differences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Trace lines and redirect targets go to `stderr` (the process's, or a
/// buffer in front of it), where `trace_pipe` and bpftool's messages would
/// be, leaving stdout to bpftool's output.
pub fn report_side_effects(result: &RunResult, stderr: &mut impl std::io::Write) {
    for line in &result.trace {
        let _ = writeln!(stderr, "{line}");
    }
    for redirect in &result.redirects {
        let _ = writeln!(stderr, "redirect: {} to {}", redirect.via, redirect.target);
    }
}

/// bpftool's `print_data_json`: the bytes as an array of decimal numbers.
fn byte_array(w: &mut BpftoolJson, bytes: &[u8]) {
    w.start_array();
    for byte in bytes {
        w.raw(&byte.to_string());
    }
    w.end_array();
}

/// The `retval` and `duration` members bpftool ends its object with.
fn summary_json(w: &mut BpftoolJson, run: &RunResult) {
    w.name("retval");
    w.raw(&run.retval.to_string());
    w.name("duration");
    w.raw(&run.duration_ns.to_string());
}

/// Writes `text` to stdout; a reader that went away (`| head`) is not an error.
pub fn emit(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(CliError::at("stdout", e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn keywords_parse_with_prefixes_and_c_numbers() {
        let parsed =
            parse_run_words(&words("data_i pkt data_o - data_s 0x40 ctx_i c rep 010")).unwrap();
        assert_eq!(
            parsed,
            RunWords {
                data_in: Some("pkt".into()),
                data_out: Some("-".into()),
                data_size_out: Some(64),
                ctx_in: Some("c".into()),
                ctx_out: None,
                ctx_size_out: None,
                repeat: Some(8),
            }
        );
        assert_eq!(parse_run_words(&[]).unwrap().repeat, None);
        assert_eq!(parse_c_number("0"), Some(0));
        assert_eq!(parse_c_number("0x"), None);
        assert_eq!(parse_c_number("09"), None);
        assert_eq!(parse_c_number("4294967296"), None);
    }

    #[test]
    fn grammar_errors_are_bpftools() {
        assert_eq!(
            parse_run_words(&words("data x")).unwrap_err(),
            "ambiguous prefix: 'data' could be 'data_in' or 'data_out' or 'data_size_out'"
        );
        assert_eq!(
            parse_run_words(&words("repeat 1x")).unwrap_err(),
            "can't parse 1x as repeat number"
        );
        assert_eq!(
            parse_run_words(&words("data_in - ctx_in -")).unwrap_err(),
            "cannot use standard input for both data_in and ctx_in"
        );
        assert!(
            parse_run_words(&words("bogus 1"))
                .unwrap_err()
                .starts_with("expected no more arguments")
        );
        assert_eq!(
            parse_run_words(&words("repeat")).unwrap_err(),
            "'repeat' needs a value"
        );
    }

    #[test]
    fn hex_dump_matches_bpftool() {
        // Captured from `bpftool prog run ... data_out -` on this machine.
        let data: Vec<u8> = (0u8..20).chain(*b"hello apiary!!").collect();
        let expected = "0000000\t0001 0203 0405 0607 0809 0a0b 0c0d 0e0f | ........ ........\n\
                        0000010\t1011 1213 6865 6c6c 6f20 6170 6961 7279 | ....hell o apiary\n\
                        0000020\t2121                                    | !!\n";
        assert_eq!(hex_dump(&data), expected);
    }
}
