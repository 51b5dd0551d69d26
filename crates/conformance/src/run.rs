//! Running programs and test files with the conformance setup.

use std::fmt;
use std::path::{Path, PathBuf};

use apiary_isa::{RawInsn, encode_program};
use apiary_vm::{LoadError, Program, RunError, Runner};
use thiserror::Error;

use crate::data::{AsmText, TestCase};
use crate::expect::{ErrorClass, classify_decode_error, classify_ubpf_message};
use crate::helpers::conformance_helpers;

/// Instructions one conformance run may execute; the suites' programs need
/// a few thousand, and a program still running after this many loops forever.
pub const CONFORMANCE_BUDGET: u64 = 50_000_000;

/// Largest `.data` file read; the suites' largest is a few kilobytes.
const MAX_DATA_FILE_BYTES: u64 = 16 << 20;

/// A finished run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Execution {
    /// The program's return value.
    pub r0: u64,
    /// Instruction slots of the program.
    pub slots: usize,
}

/// Why a program did not produce a result.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ExecError {
    /// The VM refused the program.
    #[error("load failed: {0}")]
    Load(#[from] LoadError),
    /// The program stopped abnormally.
    #[error("run failed: {0}")]
    Run(#[from] RunError),
    /// The tier could not prepare the program (e.g. the JIT refused it).
    #[error("preparing for the tier failed: {0}")]
    Prepare(String),
}

/// Readies a decoded program for the tier that runs it (the JIT compiles
/// it); without one, the interpreter runs it.
pub type Prepare = fn(&Program<()>) -> Result<(), String>;

impl ExecError {
    /// The class of this failure, for comparison with uBPF's expected errors.
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            ExecError::Load(LoadError::Decode(e)) => Some(classify_decode_error(&e.kind)),
            ExecError::Load(LoadError::TooLarge { .. }) => Some(ErrorClass::TooManyInstructions),
            ExecError::Load(LoadError::MissingHelper { .. }) => Some(ErrorClass::UnknownHelper),
            ExecError::Load(LoadError::WritesFramePointer { .. }) => Some(ErrorClass::BadRegister),
            ExecError::Load(LoadError::BadTarget { .. }) => Some(ErrorClass::JumpOutOfRange),
            ExecError::Run(RunError::MemoryFault { .. }) => Some(ErrorClass::MemoryAccess),
            ExecError::Run(RunError::BudgetExhausted { .. }) => Some(ErrorClass::InfiniteLoop),
            ExecError::Run(RunError::UnknownHelper { .. }) => Some(ErrorClass::UnknownHelper),
            ExecError::Run(RunError::FellOffEnd { .. }) => Some(ErrorClass::FallThroughSubprogram),
            _ => None,
        }
    }
}

/// Runs `slots` with the conformance setup: `memory` at r1, its length in
/// r2, a 512-byte stack, uBPF's test helpers 0-5 and [`CONFORMANCE_BUDGET`].
pub fn execute(slots: &[RawInsn], memory: &mut [u8]) -> Result<Execution, ExecError> {
    execute_on(slots, memory, None)
}

/// [`execute`] on the tier `prepare` readies the program for.
pub fn execute_on(
    slots: &[RawInsn],
    memory: &mut [u8],
    prepare: Option<Prepare>,
) -> Result<Execution, ExecError> {
    let program = Program::new(slots, conformance_helpers())?;
    if let Some(prepare) = prepare {
        prepare(&program).map_err(ExecError::Prepare)?;
    }
    let mut runner = Runner::new();
    runner.set_budget(Some(CONFORMANCE_BUDGET));
    let r0 = runner.run_on_memory(&program, &mut (), memory)?;
    Ok(Execution {
        r0,
        slots: program.slot_count(),
    })
}

/// What happened to one test file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The outcome matches the expectation.
    Pass,
    /// The file could not be read or parsed.
    BadFile(String),
    /// The `-- asm` section does not assemble (line is the `.data` file's).
    AsmFailed {
        /// 1-based line in the `.data` file.
        line: usize,
        /// The assembler's message.
        message: String,
    },
    /// The `-- asm` section assembles to other words than `-- raw` lists.
    AsmMismatch {
        /// The `-- raw` words.
        expected: Vec<u64>,
        /// The assembler's words.
        got: Vec<u64>,
    },
    /// A result was expected and a different one, or an error, came.
    WrongResult {
        /// The expected r0.
        expected: u64,
        /// What Apiary produced.
        got: Result<u64, String>,
    },
    /// An error was expected and the program succeeded or failed differently.
    WrongError {
        /// uBPF's message.
        expected: String,
        /// The class that message maps to (`None`: unmapped message).
        expected_class: Option<ErrorClass>,
        /// What Apiary produced.
        got: Result<u64, String>,
        /// The class of Apiary's error.
        got_class: Option<ErrorClass>,
    },
}

impl Verdict {
    /// Whether the test passed.
    pub fn is_pass(&self) -> bool {
        matches!(self, Verdict::Pass)
    }
}

fn show(got: &Result<u64, String>) -> String {
    match got {
        Ok(r0) => format!("r0 = {r0:#x}"),
        Err(e) => format!("error: {e}"),
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass => f.write_str("passed"),
            Verdict::BadFile(problem) => write!(f, "bad test file: {problem}"),
            Verdict::AsmFailed { line, message } => {
                write!(f, "line {line}: does not assemble: {message}")
            }
            Verdict::AsmMismatch { expected, got } => {
                write!(f, "assembles to {got:#018x?}, expected {expected:#018x?}")
            }
            Verdict::WrongResult { expected, got } => {
                write!(f, "expected r0 = {expected:#x}, got {}", show(got))
            }
            Verdict::WrongError {
                expected,
                expected_class,
                got,
                got_class,
            } => write!(
                f,
                "expected error {expected:?} ({expected_class:?}), got {} ({got_class:?})",
                show(got)
            ),
        }
    }
}

/// The outcome of one `.data` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileOutcome {
    /// The file.
    pub path: PathBuf,
    /// What happened.
    pub verdict: Verdict,
}

/// Assembles the `-- asm` section, classifying a failure for tests that expect one.
fn assemble_case(asm: &AsmText) -> Result<Vec<RawInsn>, (Verdict, Option<ErrorClass>)> {
    apiary_asm::assemble(&asm.text)
        .map(|insns| encode_program(&insns))
        .map_err(|e| {
            // uBPF's suite writes one load error in assembly: an `%r11` operand.
            let class = matches!(e.kind, apiary_asm::AsmErrorKind::BadRegister(_))
                .then_some(ErrorClass::BadRegister);
            let verdict = Verdict::AsmFailed {
                line: asm.first_line + e.line.saturating_sub(1),
                message: e.kind.to_string(),
            };
            (verdict, class)
        })
}

/// Runs a parsed test case and judges its outcome.
pub fn run_case(case: &TestCase) -> Verdict {
    run_case_on(case, None)
}

/// [`run_case`] on the tier `prepare` readies programs for.
pub fn run_case_on(case: &TestCase, prepare: Option<Prepare>) -> Verdict {
    let assembled = match case.asm.as_ref().map(assemble_case).transpose() {
        Ok(assembled) => assembled,
        Err((Verdict::AsmFailed { message, .. }, class)) if case.error.is_some() => {
            return judge(case, &Err(message), class);
        }
        Err((verdict, _)) => return verdict,
    };
    let slots = match (assembled, &case.raw) {
        (Some(assembled), Some(raw)) if assembled != *raw => {
            return Verdict::AsmMismatch {
                expected: raw.iter().map(|s| s.to_u64()).collect(),
                got: assembled.iter().map(|s| s.to_u64()).collect(),
            };
        }
        (_, Some(raw)) => raw.clone(),
        (Some(assembled), None) => assembled,
        (None, None) => return Verdict::BadFile("no program".to_string()),
    };
    if case.result.is_none() && case.error.is_none() {
        // An assembler test: the words matched and nothing runs.
        return Verdict::Pass;
    }
    let mut memory = case.memory.clone();
    let outcome = execute_on(&slots, &mut memory, prepare);
    let class = outcome.as_ref().err().and_then(ExecError::class);
    let got = outcome.map(|e| e.r0).map_err(|e| e.to_string());
    judge(case, &got, class)
}

fn judge(case: &TestCase, got: &Result<u64, String>, got_class: Option<ErrorClass>) -> Verdict {
    match (&case.error, case.result) {
        (Some(expected), _) => {
            let expected_class = classify_ubpf_message(&expected.message);
            if got.is_err() && expected_class.is_some() && expected_class == got_class {
                Verdict::Pass
            } else {
                Verdict::WrongError {
                    expected: expected.message.clone(),
                    expected_class,
                    got: got.clone(),
                    got_class,
                }
            }
        }
        (None, Some(expected)) if got.as_ref() == Ok(&expected) => Verdict::Pass,
        (None, Some(expected)) => Verdict::WrongResult {
            expected,
            got: got.clone(),
        },
        // Parsing guarantees a result or an error.
        (None, None) => Verdict::BadFile("no expectation".to_string()),
    }
}

/// Reads, parses, runs and judges one `.data` file.
pub fn run_file(path: &Path) -> FileOutcome {
    run_file_on(path, None)
}

/// [`run_file`] on the tier `prepare` readies programs for.
pub fn run_file_on(path: &Path, prepare: Option<Prepare>) -> FileOutcome {
    let verdict = match read_data_file(path) {
        Ok(text) => match TestCase::parse(&text) {
            Ok(case) => run_case_on(&case, prepare),
            Err(e) => Verdict::BadFile(format!("line {e}")),
        },
        Err(problem) => Verdict::BadFile(problem),
    };
    FileOutcome {
        path: path.to_path_buf(),
        verdict,
    }
}

fn read_data_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    file.take(MAX_DATA_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_DATA_FILE_BYTES {
        return Err(format!("larger than {MAX_DATA_FILE_BYTES} bytes"));
    }
    Ok(text)
}

/// Adds `path` (a `.data` file) or every `.data` file under it (a
/// directory, recursively, sorted) to `files`.
pub fn collect_data_files(path: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !path.is_dir() {
        std::fs::metadata(path)?;
        files.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_data_files(&entry, files)?;
        } else if entry.extension().is_some_and(|e| e == "data") {
            files.push(entry);
        }
    }
    Ok(())
}

/// One line per outcome that is not a pass: the file and its verdict.
pub fn failures(outcomes: &[FileOutcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter(|o| !o.verdict.is_pass())
        .map(|o| format!("{}: {}", o.path.display(), o.verdict))
        .collect()
}

/// How many tests the bpf_conformance suite in `../shared` holds; a run
/// that saw fewer lost files on the way.
pub const BPF_CONFORMANCE_SUITE_SIZE: usize = 313;

/// Whether `outcomes` are the whole bpf_conformance suite with every test
/// passed; the error lists the failures or says how many tests are missing.
pub fn whole_suite_passed(outcomes: &[FileOutcome]) -> Result<(), String> {
    let failed = failures(outcomes);
    if !failed.is_empty() {
        return Err(format!("{} failures:\n{}", failed.len(), failed.join("\n")));
    }
    if outcomes.len() != BPF_CONFORMANCE_SUITE_SIZE {
        return Err(format!(
            "{} tests ran, the suite has {BPF_CONFORMANCE_SUITE_SIZE}",
            outcomes.len()
        ));
    }
    Ok(())
}

/// Runs every file and returns one outcome each.
pub fn run_files(paths: &[PathBuf]) -> Vec<FileOutcome> {
    run_files_on(paths, None)
}

/// [`run_files`] on the tier `prepare` readies programs for.
pub fn run_files_on(paths: &[PathBuf], prepare: Option<Prepare>) -> Vec<FileOutcome> {
    paths.iter().map(|p| run_file_on(p, prepare)).collect()
}
