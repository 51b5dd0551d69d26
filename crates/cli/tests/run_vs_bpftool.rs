//! The acceptance test of `apiary prog run` (issue 5): every corpus program
//! and every example that a test run can execute is run by the `apiary`
//! binary and by the kernel on the same input, and both must give the same
//! return value, output packet and output context.
//!
//! - Packet programs (XDP, socket filter, tc classifier/action) get every
//!   frame of the bundled capture `examples/pcap/traffic.pcap`, in order,
//!   with a context (`ctx_in`) as the kernel accepts it. The kernel side is
//!   the object loaded by `bpftool prog loadall` (libbpf) and run with
//!   `bpftool prog run pinned ...`; maps live on across the frames there, so
//!   the Apiary side keeps its maps across runs with `--pin-maps`.
//! - `syscall` and `raw_tracepoint` programs take only a context. bpftool
//!   7.1 cannot run them (it always sends `repeat`, which they refuse), so
//!   their kernel side is `apiary prog run --backend kernel` (Apiary's
//!   loader, the kernel's verifier and `BPF_PROG_TEST_RUN`).
//! - Every other program is listed with the reason the kernel cannot run it
//!   in `crates/corpus/run-vs-kernel-exclusions.txt`; the test checks that
//!   each listed program exists and that the kernel really refuses it, and
//!   fails on any unlisted program it cannot compare.
//!
//! Then one test per example checks its documented behaviour (from its
//! README) on both sides, with expectations computed here from the frames
//! themselves: the firewall drops exactly the blocked sources, the counter
//! counts each protocol, the load balancer's output carries the chosen
//! backend and checksums that verify, the classifier's marks, priorities
//! and redirects, the event producer's counters.
//!
//! Without bpf()/bpftool the kernel side is skipped (apiary-testskip) and
//! the Apiary side must still run every input.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use apiary_corpus::{CorpusObject, KernelLoads, traffic};
use serde_json::Value;

const APIARY: &str = env!("CARGO_BIN_EXE_apiary");
const EXCLUSIONS_FILE: &str = "crates/corpus/run-vs-kernel-exclusions.txt";
const EXCLUSIONS: &str = include_str!("../../corpus/run-vs-kernel-exclusions.txt");
/// Maps of the corpus pinned by name (`LIBBPF_PIN_BY_NAME`) land in the
/// bpffs root and would carry state from one load to the next.
const PINNED_BY_NAME: &[&str] = &["apiary_corpus_pinned"];
const BPFFS: &str = "/sys/fs/bpf";

// ---------------------------------------------------------------------------
// Running one program: inputs and results on either side.

/// What one run gets.
#[derive(Clone, Default)]
struct RunInput {
    data_in: Option<Vec<u8>>,
    ctx_in: Option<Vec<u8>>,
}

/// What one run gives back.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RunResult {
    retval: u32,
    data_out: Option<Vec<u8>>,
    ctx_out: Option<Vec<u8>>,
}

static SCRATCH_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Scratch {
        let n = SCRATCH_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "apiary-run-vs-kernel-{}-{n}-{what}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("creating a scratch directory");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The keyword arguments of `prog run` shared by bpftool and apiary: input
/// files written into `scratch`, outputs read back after the run.
struct RunFiles {
    words: Vec<String>,
    data_out: Option<PathBuf>,
    ctx_out: Option<PathBuf>,
}

impl RunFiles {
    fn write(scratch: &Scratch, input: &RunInput) -> RunFiles {
        let mut words = Vec::new();
        let mut data_out = None;
        let mut ctx_out = None;
        let mut add = |keyword: &str, path: &Path| {
            words.push(keyword.to_owned());
            words.push(path.display().to_string());
        };
        if let Some(data) = &input.data_in {
            let (in_path, out_path) = (scratch.path("data_in"), scratch.path("data_out"));
            std::fs::write(&in_path, data).expect("writing data_in");
            let _ = std::fs::remove_file(&out_path);
            add("data_in", &in_path);
            add("data_out", &out_path);
            data_out = Some(out_path);
        }
        if let Some(ctx) = &input.ctx_in {
            let (in_path, out_path) = (scratch.path("ctx_in"), scratch.path("ctx_out"));
            std::fs::write(&in_path, ctx).expect("writing ctx_in");
            let _ = std::fs::remove_file(&out_path);
            add("ctx_in", &in_path);
            // For syscall programs apiary reports the context the kernel
            // writes back as ctx_out (bpftool never runs them here).
            add("ctx_out", &out_path);
            ctx_out = Some(out_path);
        }
        RunFiles {
            words,
            data_out,
            ctx_out,
        }
    }

    /// Parses `{"retval":N,...}` from a tool's stdout and reads the outputs.
    fn result(&self, tool: &str, output: &Output) -> Result<RunResult, String> {
        if !output.status.success() {
            return Err(format!("{tool} failed: {}", one_line(&output.stderr)));
        }
        let json: Value = serde_json::from_slice(&output.stdout).map_err(|e| {
            format!(
                "{tool}: output is not JSON ({e}): {}",
                one_line(&output.stdout)
            )
        })?;
        let retval = json["retval"]
            .as_u64()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| format!("{tool}: no retval in {json}"))?;
        // An output the tool did not write is compared as absent.
        let read = |path: &Option<PathBuf>| -> Result<Option<Vec<u8>>, String> {
            match path.as_ref().map(std::fs::read) {
                None => Ok(None),
                Some(Ok(bytes)) => Ok(Some(bytes)),
                Some(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Some(Err(e)) => Err(format!("{tool}: reading an output: {e}")),
            }
        };
        Ok(RunResult {
            retval,
            data_out: read(&self.data_out)?,
            ctx_out: read(&self.ctx_out)?,
        })
    }
}

fn one_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines.len().saturating_sub(6);
    lines[tail..].join(" | ")
}

/// One side of a comparison: a program that can be run and maps that can be
/// read and written between runs.
trait Side {
    fn label(&self) -> &'static str;
    fn run(&mut self, input: &RunInput) -> Result<RunResult, String>;
    /// `map update ... key K value V` (bpftool's grammar, any flag).
    fn update_map(&mut self, map: &str, key: &[u8], value: &[u8]) -> Result<(), String>;
    /// `map dump -j`, bpftool's JSON.
    fn dump_map(&mut self, map: &str) -> Result<Value, String>;
}

fn byte_words(bytes: &[u8]) -> Vec<String> {
    bytes.iter().map(u8::to_string).collect()
}

fn map_update_words(key: &[u8], value: &[u8]) -> Vec<String> {
    let mut words = vec!["key".to_owned()];
    words.extend(byte_words(key));
    words.push("value".to_owned());
    words.extend(byte_words(value));
    words
}

fn run_tool(program: &str, args: &[String]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

fn parse_json(tool: &str, output: &Output) -> Result<Value, String> {
    if !output.status.success() {
        return Err(format!("{tool} failed: {}", one_line(&output.stderr)));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("{tool}: not JSON ({e}): {}", one_line(&output.stdout)))
}

// ---------------------------------------------------------------------------
// The kernel through bpftool.

/// Why the kernel side cannot run here, if it cannot.
fn kernel_unavailable() -> Option<String> {
    let bpftool = Command::new("bpftool").arg("version").output();
    if !bpftool.is_ok_and(|o| o.status.success()) {
        return Some("bpftool is not installed".into());
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned));
    if euid.as_deref() != Some("0") {
        return Some("loading programs with bpf() needs root".into());
    }
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let bpffs = mounts.lines().any(|l| {
        let mut fields = l.split_whitespace();
        fields.nth(1) == Some(BPFFS) && fields.next() == Some("bpf")
    });
    if !bpffs {
        return Some(format!("no bpf filesystem is mounted at {BPFFS}"));
    }
    None
}

/// An object loaded into the kernel by `bpftool prog loadall`, with its
/// maps pinned where libbpf allows it; the pins are removed on drop.
struct KernelObject {
    progs: PathBuf,
    maps: PathBuf,
    /// The object pins maps by name in the bpffs root (removed before and
    /// after, so that no state carries over between loads).
    pins_by_name: bool,
}

impl KernelObject {
    /// Loads the object with its maps pinned: the pins keep the maps' user
    /// references after bpftool exits, without which the kernel empties
    /// prog arrays (tail calls would fall through). libbpf refuses
    /// `pinmaps` for objects with maps pinned by name; those load without.
    fn load(object: &CorpusObject) -> Result<KernelObject, String> {
        let n = SCRATCH_COUNTER.fetch_add(1, Ordering::Relaxed);
        let base = format!("apiary-rvk-{}-{n}-{}", std::process::id(), object.name);
        let loaded = KernelObject {
            progs: Path::new(BPFFS).join(&base),
            maps: Path::new(BPFFS).join(format!("{base}-maps")),
            pins_by_name: object.covers("mapdef:pinning"),
        };
        let mut command = Command::new("bpftool");
        command
            .args(["prog", "loadall"])
            .arg(object.path())
            .arg(&loaded.progs);
        if loaded.pins_by_name {
            remove_pinned_by_name();
        } else {
            command.arg("pinmaps").arg(&loaded.maps);
        }
        let output = command
            .output()
            .map_err(|e| format!("running bpftool: {e}"))?;
        if output.status.success() {
            Ok(loaded)
        } else {
            Err(format!(
                "bpftool prog loadall {}: {}",
                object.name,
                one_line(&output.stderr)
            ))
        }
    }

    fn side(&self, program: &str) -> Bpftool<'_> {
        Bpftool {
            object: self,
            program: program.to_owned(),
            scratch: Scratch::new("kernel"),
        }
    }
}

impl Drop for KernelObject {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.progs);
        let _ = std::fs::remove_dir_all(&self.maps);
        if self.pins_by_name {
            remove_pinned_by_name();
        }
    }
}

fn remove_pinned_by_name() {
    for name in PINNED_BY_NAME {
        let _ = std::fs::remove_file(Path::new(BPFFS).join(name));
    }
}

/// One program of a [`KernelObject`].
struct Bpftool<'a> {
    object: &'a KernelObject,
    program: String,
    scratch: Scratch,
}

impl Side for Bpftool<'_> {
    fn label(&self) -> &'static str {
        "kernel (bpftool)"
    }

    fn run(&mut self, input: &RunInput) -> Result<RunResult, String> {
        let files = RunFiles::write(&self.scratch, input);
        let mut args: Vec<String> = ["-j", "prog", "run", "pinned"].map(str::to_owned).to_vec();
        args.push(self.object.progs.join(&self.program).display().to_string());
        args.extend(files.words.iter().cloned());
        args.extend(["repeat".to_owned(), "1".to_owned()]);
        files.result("bpftool", &run_tool("bpftool", &args))
    }

    fn update_map(&mut self, map: &str, key: &[u8], value: &[u8]) -> Result<(), String> {
        let mut args: Vec<String> = ["map", "update", "pinned"].map(str::to_owned).to_vec();
        args.push(self.object.maps.join(map).display().to_string());
        args.extend(map_update_words(key, value));
        let output = run_tool("bpftool", &args);
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("bpftool map update: {}", one_line(&output.stderr)))
        }
    }

    fn dump_map(&mut self, map: &str) -> Result<Value, String> {
        let path = self.object.maps.join(map).display().to_string();
        let args: Vec<String> = vec![
            "-j".into(),
            "map".into(),
            "dump".into(),
            "pinned".into(),
            path,
        ];
        parse_json("bpftool map dump", &run_tool("bpftool", &args))
    }
}

// ---------------------------------------------------------------------------
// Apiary through its CLI.

/// One program of an object run by `apiary prog run`, its maps kept in a
/// `--pin-maps` directory between runs.
struct ApiaryCli {
    object: PathBuf,
    program: String,
    backend: &'static str,
    scratch: Scratch,
    pins: Scratch,
}

/// Programs Apiary's verifier refuses although the kernel accepts them
/// (`crates/verifier/tests/known_disagreements.txt`, `OBJECT/PROGRAM`
/// lines): they run unverified here, as what is compared is the run.
fn verifier_disagrees(object: &std::path::Path, program: &str) -> bool {
    let list = include_str!("../../verifier/tests/known_disagreements.txt");
    let stem = object
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    list.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_whitespace().next())
        .any(|id| id == format!("{stem}/{program}"))
}

impl ApiaryCli {
    fn new(object: &CorpusObject, program: &str, backend: &'static str) -> ApiaryCli {
        ApiaryCli {
            object: object.path().to_owned(),
            program: program.to_owned(),
            backend,
            scratch: Scratch::new("apiary"),
            pins: Scratch::new("apiary-pins"),
        }
    }

    fn run_output(&self, input: &RunInput) -> (RunFiles, Output) {
        let files = RunFiles::write(&self.scratch, input);
        let mut args: Vec<String> = vec!["-j".into(), "prog".into(), "run".into()];
        args.push(self.object.display().to_string());
        args.extend(["--prog".to_owned(), self.program.clone()]);
        args.extend(["--backend".to_owned(), self.backend.to_owned()]);
        args.extend(["--pin-maps".to_owned(), self.pins.0.display().to_string()]);
        if verifier_disagrees(&self.object, &self.program) {
            args.push("--no-verify".to_owned());
        }
        // The kernel side resolves CO-RE against the running kernel's BTF,
        // as libbpf does; the vm side must too for the same instructions
        // (its own default is Apiary's context types).
        args.extend([
            "--target-btf".to_owned(),
            "/sys/kernel/btf/vmlinux".to_owned(),
        ]);
        args.extend(files.words.iter().cloned());
        let output = run_tool(APIARY, &args);
        (files, output)
    }

    fn pin(&self, map: &str) -> String {
        self.pins.path(map).display().to_string()
    }
}

impl Side for ApiaryCli {
    fn label(&self) -> &'static str {
        match self.backend {
            "kernel" => "kernel (apiary --backend kernel)",
            _ => "apiary",
        }
    }

    fn run(&mut self, input: &RunInput) -> Result<RunResult, String> {
        let (files, output) = self.run_output(input);
        files.result("apiary prog run", &output)
    }

    fn update_map(&mut self, map: &str, key: &[u8], value: &[u8]) -> Result<(), String> {
        let mut args: Vec<String> = vec!["map".into(), "update".into(), "pinned".into()];
        args.push(self.pin(map));
        args.extend(map_update_words(key, value));
        let output = run_tool(APIARY, &args);
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("apiary map update: {}", one_line(&output.stderr)))
        }
    }

    fn dump_map(&mut self, map: &str) -> Result<Value, String> {
        let args: Vec<String> = vec![
            "-j".into(),
            "map".into(),
            "dump".into(),
            "pinned".into(),
            self.pin(map),
        ];
        parse_json("apiary map dump", &run_tool(APIARY, &args))
    }
}

// ---------------------------------------------------------------------------
// Inputs.

/// The frames of the bundled capture (checked equal to the generator's by
/// apiary-corpus's tests).
fn frames() -> Vec<traffic::Packet> {
    traffic::packets()
}

/// The context the kernel accepts with a packet: a zeroed `struct
/// __sk_buff` for skb programs, an `xdp_md` whose `data_end` is the packet
/// length for XDP.
fn packet_ctx(prog_type: &str, frame: &[u8]) -> Vec<u8> {
    match prog_type {
        "xdp" => {
            let mut ctx = vec![0u8; 24];
            let len = u32::try_from(frame.len()).expect("frame length");
            ctx[4..8].copy_from_slice(&len.to_le_bytes());
            ctx
        }
        _ => vec![0u8; 192],
    }
}

/// The context for `syscall` / `raw_tracepoint` programs: what their source
/// header documents, else 16 zero bytes (two zero arguments).
fn ctx_only_input(object: &str, program: &str) -> Vec<u8> {
    let words: &[u64] = match (object, program) {
        // struct args {a, b, sum, product}: a = 6, b = 7.
        ("syscall_prog", _) => &[6, 7, 0, 0],
        // struct loop_args {n, iterations; sum; map_total; elems_visited, first_big_key}: n = 10.
        ("callbacks", _) => &[10, 0, 0, 0],
        // args[0] = 0, args[1] = syscall number 59 (execve).
        ("raw_tracepoints", _) => &[0, 59],
        _ => &[0, 0],
    };
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// The context a syscall program writes back, as its source header
/// documents the kernel's result for [`ctx_only_input`]. The kernel side
/// (`apiary prog run --backend kernel`) cannot read a written-back context,
/// so Apiary's is checked against this instead.
fn documented_write_back(object: &str) -> Option<Vec<u8>> {
    let words: [u64; 4] = match object {
        // {a = 6, b = 7, sum = 13, product = 42}.
        "syscall_prog" => [6, 7, 13, 42],
        // {n = 10, iterations = 10; sum = 45; map_total = 60;
        //  elems_visited = 3, first_big_key = 2}.
        "callbacks" => [10 | 10 << 32, 45, 60, 3 | 2 << 32],
        _ => return None,
    };
    Some(words.iter().flat_map(|w| w.to_le_bytes()).collect())
}

// ---------------------------------------------------------------------------
// Which programs are compared, and the exclusion list.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunKind {
    /// A packet (`data_in`) and a context.
    Packet,
    /// Only a context (`ctx_in`).
    ContextOnly,
}

struct ProgramRef {
    object: &'static CorpusObject,
    name: String,
    prog_type: String,
    section: String,
}

impl ProgramRef {
    fn id(&self) -> String {
        format!("{}/{}", self.object.name, self.name)
    }

    /// How `apiary prog run` runs it (issue 5: packet types and
    /// ctx-only types), `None` for other program types.
    fn kind(&self) -> Option<RunKind> {
        match self.prog_type.as_str() {
            // Every type the kernel runs through bpf_prog_test_run_skb.
            "socket_filter" | "sched_cls" | "sched_act" | "cgroup_skb" | "lwt_in" | "lwt_out"
            | "lwt_xmit" => Some(RunKind::Packet),
            // Programs for devmap/cpumap entries are XDP programs too, with
            // another expected attach type.
            "xdp" if !self.section.starts_with("xdp/") => Some(RunKind::Packet),
            // bpf_prog_test_run_flow_dissector: a frame in, the dissected
            // struct bpf_flow_keys back as data_out.
            "flow_dissector" => Some(RunKind::Packet),
            "syscall" | "raw_tracepoint" => Some(RunKind::ContextOnly),
            _ => None,
        }
    }
}

/// Every program of every kernel-loadable corpus object and of every
/// example, as the loader reads them.
fn all_programs() -> Result<Vec<ProgramRef>, String> {
    let corpus = apiary_corpus::objects().map_err(|e| e.to_string())?;
    let examples = apiary_corpus::examples().map_err(|e| e.to_string())?;
    let mut programs = Vec::new();
    for object in corpus.iter().chain(examples) {
        if let KernelLoads::No { reason } = object.kernel_loads {
            eprintln!(
                "NOTE: {}: not compared, the kernel does not load it ({reason})",
                object.name
            );
            continue;
        }
        let loaded = apiary_loader::Object::open(object.path())
            .map_err(|e| format!("{}: {e}", object.name))?;
        for program in loaded.programs {
            let spec = program.map_err(|e| format!("{}: {e}", object.name))?;
            programs.push(ProgramRef {
                object,
                prog_type: spec.prog_type.name().unwrap_or("unknown").to_owned(),
                name: spec.name,
                section: spec.section,
            });
        }
    }
    Ok(programs)
}

/// `object/program` -> reason, from the exclusion file.
fn exclusions() -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for (number, line) in EXCLUSIONS.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (id, reason) = line.split_once(": ").unwrap_or_else(|| {
            panic!(
                "{EXCLUSIONS_FILE}:{}: expected `object/program: reason`",
                number + 1
            )
        });
        assert!(
            reason.trim().len() > 15,
            "{EXCLUSIONS_FILE}:{}: reason too vague: {reason:?}",
            number + 1
        );
        let previous = map.insert(id.trim().to_owned(), reason.trim().to_owned());
        assert!(previous.is_none(), "{EXCLUSIONS_FILE}: {id} listed twice");
    }
    map
}

// ---------------------------------------------------------------------------
// Comparing runs.

/// Runs `input` on both sides: the right side's result when they agree,
/// else a description of each difference.
fn compare_one(
    what: &str,
    left: &mut dyn Side,
    right: &mut dyn Side,
    input: &RunInput,
) -> Result<RunResult, Vec<String>> {
    // A context-only run's reference may have no context to show (see
    // documented_write_back); the right side's is then checked elsewhere.
    let a = left
        .run(input)
        .map_err(|e| vec![format!("{what}: {}: {e}", left.label())])?;
    let b = right
        .run(input)
        .map_err(|e| vec![format!("{what}: {}: {e}", right.label())])?;
    let mut differences = Vec::new();
    if a.retval != b.retval {
        differences.push(format!(
            "{what}: retval {} {}, {} {}",
            left.label(),
            a.retval,
            right.label(),
            b.retval
        ));
    }
    let ctx_only_without_reference = input.data_in.is_none() && a.ctx_out.is_none();
    for (name, x, y) in [
        ("data_out", &a.data_out, &b.data_out),
        ("ctx_out", &a.ctx_out, &b.ctx_out),
    ] {
        if x != y && !(name == "ctx_out" && ctx_only_without_reference) {
            differences.push(format!(
                "{what}: {name} {}: {}; {}: {}",
                left.label(),
                describe_bytes(x.as_deref()),
                right.label(),
                describe_bytes(y.as_deref()),
            ));
        }
    }
    if differences.is_empty() {
        Ok(b)
    } else {
        Err(differences)
    }
}

fn describe_bytes(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "none".into(),
        Some(b) => {
            let hex: String = b.iter().take(64).map(|x| format!("{x:02x}")).collect();
            format!(
                "{} bytes {hex}{}",
                b.len(),
                if b.len() > 64 { ".." } else { "" }
            )
        }
    }
}

/// The inputs a program of `kind` is compared on.
fn inputs_for(program: &ProgramRef, kind: RunKind) -> Vec<(String, RunInput)> {
    match kind {
        RunKind::Packet => frames()
            .into_iter()
            .enumerate()
            .map(|(index, packet)| {
                let input = RunInput {
                    ctx_in: Some(packet_ctx(&program.prog_type, &packet.frame)),
                    data_in: Some(packet.frame),
                };
                (format!("frame {} ({})", index + 1, packet.summary), input)
            })
            .collect(),
        RunKind::ContextOnly => vec![(
            "ctx_in".to_owned(),
            RunInput {
                data_in: None,
                ctx_in: Some(ctx_only_input(program.object.name, &program.name)),
            },
        )],
    }
}

/// The reference side a program is compared against (the kernel), when it
/// can run here.
fn reference_side<'a>(
    program: &ProgramRef,
    kind: RunKind,
    loaded: Option<&'a KernelObject>,
) -> Option<Box<dyn Side + 'a>> {
    match (kind, loaded) {
        (RunKind::Packet, Some(loaded)) => Some(Box::new(loaded.side(&program.name))),
        (RunKind::ContextOnly, Some(_)) => Some(Box::new(ApiaryCli::new(
            program.object,
            &program.name,
            "kernel",
        ))),
        (_, None) => None,
    }
}

/// The first problems of one program, then how many inputs had others.
fn summarize(id: &str, inputs: usize, problems: Vec<String>) -> Vec<String> {
    const SHOWN: usize = 3;
    let more = problems.len().saturating_sub(SHOWN);
    let mut lines: Vec<String> = problems.into_iter().take(SHOWN).collect();
    if more > 0 {
        lines.push(format!("{id}: ... and {more} more of {inputs} inputs"));
    }
    lines
}

/// Who cannot run a listed program: the reason starts with `kernel:` or
/// `apiary:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refuser {
    Kernel,
    Apiary,
}

fn refuser(reason: &str) -> Option<Refuser> {
    if reason.starts_with("kernel:") {
        Some(Refuser::Kernel)
    } else if reason.starts_with("apiary:") {
        Some(Refuser::Apiary)
    } else {
        None
    }
}

/// Checks that whoever a listed program's reason names really refuses to
/// run it (on the capture's first frame), so that the list cannot keep
/// programs that could be compared.
fn check_really_excluded(
    program: &ProgramRef,
    reason: &str,
    loaded: Option<&KernelObject>,
) -> Option<String> {
    let id = program.id();
    let Some(who) = refuser(reason) else {
        return Some(format!(
            "{EXCLUSIONS_FILE}: the reason for {id} must start with `kernel:` or `apiary:`"
        ));
    };
    if program.kind() == Some(RunKind::ContextOnly) {
        // Listed because bpftool sends `repeat`; compared through
        // `apiary prog run --backend kernel` instead.
        return None;
    }
    let frame = frames().remove(0).frame;
    let input = RunInput {
        ctx_in: None,
        data_in: Some(frame),
    };
    let runs = match (who, loaded) {
        (Refuser::Kernel, Some(loaded)) => loaded.side(&program.name).run(&input).is_ok(),
        (Refuser::Apiary, _) => ApiaryCli::new(program.object, &program.name, "vm")
            .run(&input)
            .is_ok(),
        (Refuser::Kernel, None) => return None,
    };
    runs.then(|| {
        format!("{id} is listed in {EXCLUSIONS_FILE} ({reason}) but runs: compare it instead")
    })
}

#[test]
fn every_runnable_program_agrees_with_the_kernel() {
    let programs = match all_programs() {
        Ok(programs) => programs,
        Err(e) => {
            return apiary_testskip::missing("every_runnable_program_agrees_with_the_kernel", e);
        }
    };
    let excluded = exclusions();
    let known: BTreeSet<String> = programs.iter().map(ProgramRef::id).collect();
    let stale: Vec<&String> = excluded.keys().filter(|id| !known.contains(*id)).collect();
    assert!(
        stale.is_empty(),
        "{EXCLUSIONS_FILE} lists programs that do not exist: {stale:?}"
    );

    let kernel_missing = kernel_unavailable();
    if let Some(reason) = &kernel_missing {
        apiary_testskip::missing::<()>(
            "every_runnable_program_agrees_with_the_kernel (kernel side)",
            reason,
        );
    }

    let mut failures = Vec::new();
    let mut agreed = Vec::new();
    let mut apiary_only = Vec::new();
    // Examples and corpus objects may share a name: group by object.
    let mut objects: Vec<(&'static CorpusObject, Vec<&ProgramRef>)> = Vec::new();
    for program in &programs {
        match objects
            .iter_mut()
            .find(|(o, _)| std::ptr::eq(*o, program.object))
        {
            Some((_, list)) => list.push(program),
            None => objects.push((program.object, vec![program])),
        }
    }

    for (object, object_programs) in objects {
        let loaded = match &kernel_missing {
            Some(_) => None,
            None => match KernelObject::load(object) {
                Ok(loaded) => Some(loaded),
                Err(e) => {
                    failures.push(format!(
                        "{}: the manifest says the kernel loads it: {e}",
                        object.name
                    ));
                    continue;
                }
            },
        };
        for program in object_programs {
            let id = program.id();
            let listed = excluded.get(&id);
            if let Some(reason) = listed {
                failures.extend(check_really_excluded(program, reason, loaded.as_ref()));
            }
            let kind = match (program.kind(), listed) {
                (Some(RunKind::ContextOnly), Some(_)) => RunKind::ContextOnly,
                (Some(RunKind::Packet), None) => RunKind::Packet,
                (_, Some(_)) => continue,
                (Some(RunKind::ContextOnly), None) => {
                    failures.push(format!(
                        "{id}: bpftool 7.1 cannot run {} programs; list it in {EXCLUSIONS_FILE}",
                        program.prog_type
                    ));
                    continue;
                }
                (None, None) => {
                    failures.push(format!(
                        "{id} ({}) is not a type apiary prog run runs; list it in {EXCLUSIONS_FILE} with the reason",
                        program.prog_type
                    ));
                    continue;
                }
            };
            let inputs = inputs_for(program, kind);
            let mut apiary = ApiaryCli::new(program.object, &program.name, "vm");
            match reference_side(program, kind, loaded.as_ref()) {
                Some(mut reference) => {
                    let mut differences = Vec::new();
                    for (what, input) in &inputs {
                        let what = format!("{id}: {what}");
                        match compare_one(&what, reference.as_mut(), &mut apiary, input) {
                            Err(found) => differences.push(found.join("\n")),
                            Ok(result) if kind == RunKind::ContextOnly => {
                                let documented = documented_write_back(program.object.name);
                                if documented.is_some() && result.ctx_out != documented {
                                    differences.push(format!(
                                        "{what}: written-back context {}, documented {}",
                                        describe_bytes(result.ctx_out.as_deref()),
                                        describe_bytes(documented.as_deref())
                                    ));
                                }
                            }
                            Ok(_) => {}
                        }
                    }
                    if differences.is_empty() {
                        agreed.push(format!("{id} ({} inputs)", inputs.len()));
                    }
                    failures.extend(summarize(&id, inputs.len(), differences));
                }
                None => {
                    // Without the kernel, Apiary must still run it.
                    let errors: Vec<String> = inputs
                        .iter()
                        .filter_map(|(what, input)| {
                            let error = apiary.run(input).err()?;
                            Some(format!("{id}: {what}: apiary: {error}"))
                        })
                        .collect();
                    failures.extend(summarize(&id, inputs.len(), errors));
                    apiary_only.push(id);
                }
            }
        }
    }

    eprintln!("agree with the kernel: {}", agreed.len());
    for line in &agreed {
        eprintln!("  {line}");
    }
    if !apiary_only.is_empty() {
        eprintln!(
            "ran in Apiary only (no kernel here): {}",
            apiary_only.join(", ")
        );
    }
    eprintln!(
        "not compared, listed in {EXCLUSIONS_FILE}: {}",
        excluded.len()
    );
    let shown: Vec<&str> = failures.iter().take(200).map(String::as_str).collect();
    assert!(
        failures.is_empty(),
        "{} problems (first {}):\n{}",
        failures.len(),
        shown.len(),
        shown.join("\n")
    );
}

// ---------------------------------------------------------------------------
// The examples' documented behaviour, on each side that runs here.

/// Runs `check` on the example's program in the kernel (loaded with its maps
/// pinned) and in Apiary, each when it can run here, and fails with every
/// problem either side shows.
fn check_example_on_each_side(
    example: &'static str,
    program: &str,
    check: fn(&mut dyn Side) -> Vec<String>,
) {
    let object = match apiary_corpus::example(example) {
        Ok(object) => object,
        Err(e) => {
            return apiary_testskip::missing(&format!("the {example} example's behaviour"), e);
        }
    };
    let mut problems = Vec::new();
    let mut sides_run = 0;
    match kernel_unavailable() {
        Some(reason) => {
            apiary_testskip::missing(&format!("the {example} example in the kernel"), reason)
        }
        None => match KernelObject::load(object) {
            Ok(loaded) => {
                let mut side = loaded.side(program);
                problems.extend(
                    check(&mut side)
                        .into_iter()
                        .map(|p| format!("kernel (bpftool): {p}")),
                );
                sides_run += 1;
            }
            Err(e) => problems.push(e),
        },
    }
    let mut side = ApiaryCli::new(object, program, "vm");
    problems.extend(check(&mut side).into_iter().map(|p| format!("apiary: {p}")));
    sides_run += 1;
    eprintln!("{example}: documented behaviour checked on {sides_run} side(s)");
    assert!(problems.is_empty(), "{example}:\n{}", problems.join("\n"));
}

/// The frame's EtherType behind at most `max_tags` VLAN tags (802.1Q, and
/// 802.1ad when `qinq`), and the offset of what follows.
fn behind_vlan_tags(frame: &[u8], max_tags: usize, qinq: bool) -> Option<(u16, usize)> {
    let mut at = 12;
    let mut tags = 0;
    loop {
        let ethertype = u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]);
        let is_tag = ethertype == 0x8100 || (qinq && ethertype == 0x88a8);
        if !is_tag || tags == max_tags {
            return Some((ethertype, at + 2));
        }
        tags += 1;
        at += 4;
    }
}

/// The IPv4 header fields the examples look at.
struct Ipv4Fields {
    proto: u8,
    header_len: usize,
    /// A fragment other than the first (no transport header).
    later_fragment: bool,
    source: [u8; 4],
    destination: [u8; 4],
}

fn ipv4_fields(frame: &[u8], l3: usize) -> Option<Ipv4Fields> {
    let header = frame.get(l3..l3 + 20)?;
    Some(Ipv4Fields {
        proto: header[9],
        header_len: usize::from(header[0] & 0x0f) * 4,
        later_fragment: u16::from_be_bytes([header[6], header[7]]) & 0x1fff != 0,
        source: header[12..16].try_into().ok()?,
        destination: header[16..20].try_into().ok()?,
    })
}

fn ports_at(frame: &[u8], l4: usize) -> Option<(u16, u16)> {
    let ports = frame.get(l4..l4 + 4)?;
    Some((
        u16::from_be_bytes([ports[0], ports[1]]),
        u16::from_be_bytes([ports[2], ports[3]]),
    ))
}

fn hex_byte(value: &Value) -> Option<u8> {
    u8::from_str_radix(value.as_str()?.trim_start_matches("0x"), 16).ok()
}

fn hex_bytes(value: &Value) -> Option<Vec<u8>> {
    value.as_array()?.iter().map(hex_byte).collect()
}

/// One element of bpftool's `map dump -j`: the key and the value (one per
/// CPU for per-CPU maps).
struct MapEntry {
    key: Vec<u8>,
    values: Vec<Vec<u8>>,
}

fn dump_entries(dump: &Value) -> Result<Vec<MapEntry>, String> {
    let entries = dump
        .as_array()
        .ok_or_else(|| format!("map dump is not an array: {dump}"))?;
    entries
        .iter()
        .map(|entry| {
            let key = hex_bytes(&entry["key"])
                .ok_or_else(|| format!("entry without hex key: {entry}"))?;
            let values = match entry.get("values") {
                Some(per_cpu) => per_cpu
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|v| hex_bytes(&v["value"]))
                    .collect::<Option<Vec<_>>>(),
                None => hex_bytes(&entry["value"]).map(|v| vec![v]),
            }
            .ok_or_else(|| format!("entry without hex value: {entry}"))?;
            Ok(MapEntry { key, values })
        })
        .collect()
}

/// A map keyed by u32 whose values start with two u64 counters (packets,
/// bytes), summed over CPUs; keys whose packet count is 0 are left out.
fn counters_by_key(side: &mut dyn Side, map: &str) -> Result<BTreeMap<u32, (u64, u64)>, String> {
    let entries = dump_entries(&side.dump_map(map)?)?;
    Ok(entries
        .iter()
        .map(|entry| {
            let sum = |offset| entry.values.iter().map(|v| u64_at(v, offset)).sum::<u64>();
            (u32_at(&entry.key, 0), (sum(0), sum(8)))
        })
        .filter(|(_, (packets, _))| *packets != 0)
        .collect())
}

/// The u64 value of every element of an array map, in key order.
fn array_u64s(side: &mut dyn Side, map: &str) -> Result<Vec<u64>, String> {
    let entries = dump_entries(&side.dump_map(map)?)?;
    Ok(entries
        .iter()
        .map(|entry| entry.values.first().map_or(u64::MAX, |v| u64_at(v, 0)))
        .collect())
}

/// Compares what `read` finds with `expected`, describing a mismatch.
fn expect_state<T: PartialEq + std::fmt::Debug>(
    what: &str,
    read: Result<T, String>,
    expected: &T,
) -> Option<String> {
    match read {
        Ok(found) if found == *expected => None,
        Ok(found) => Some(format!("{what} {found:?}, expected {expected:?}")),
        Err(e) => Some(e),
    }
}

/// Two u64 `.bss` variables of an example, read from the raw bytes of its
/// global-data map at the offsets the object's symbol table gives them (so
/// the check does not depend on BTF formatting of the dump).
fn bss_pair(
    side: &mut dyn Side,
    example: &'static str,
    map: &str,
    names: [&str; 2],
) -> Result<(u64, u64), String> {
    let entries = dump_entries(&side.dump_map(map)?)?;
    let value = entries
        .first()
        .and_then(|entry| entry.values.first())
        .ok_or_else(|| format!("{map}: empty dump"))?;
    let read = |name| bss_offset(example, name).map(|offset| u64_at(value, offset));
    Ok((read(names[0])?, read(names[1])?))
}

/// The offset of a `.bss` variable in an example's object.
fn bss_offset(example: &'static str, name: &str) -> Result<usize, String> {
    use object::{Object, ObjectSection, ObjectSymbol};
    let path = apiary_corpus::example(example)
        .map_err(|e| e.to_string())?
        .path();
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let elf = object::File::parse(&*bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    elf.symbols()
        .find(|symbol| {
            symbol.name() == Ok(name)
                && symbol
                    .section_index()
                    .and_then(|index| elf.section_by_index(index).ok())
                    .is_some_and(|section| section.name() == Ok(".bss"))
        })
        .and_then(|symbol| usize::try_from(symbol.address()).ok())
        .ok_or_else(|| format!("{}: no .bss symbol {name}", path.display()))
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    bytes
        .get(offset..offset + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(u64::MAX, u64::from_le_bytes)
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    bytes
        .get(offset..offset + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(u32::MAX, u32::from_le_bytes)
}

/// Runs every frame of the capture with the context the kernel accepts;
/// returns (frame, result) pairs, or the problems.
fn run_capture(
    side: &mut dyn Side,
    prog_type: &str,
) -> Result<Vec<(traffic::Packet, RunResult)>, Vec<String>> {
    let mut results = Vec::new();
    let mut problems = Vec::new();
    for packet in frames() {
        let input = RunInput {
            ctx_in: Some(packet_ctx(prog_type, &packet.frame)),
            data_in: Some(packet.frame.clone()),
        };
        match side.run(&input) {
            Ok(result) => results.push((packet, result)),
            Err(e) => problems.push(format!("{}: {e}", packet.summary)),
        }
    }
    if problems.is_empty() {
        Ok(results)
    } else {
        Err(problems)
    }
}

/// The firewall example's block list: (prefix, length, rule id).
const BLOCK_LIST: [([u8; 4], u32, u32); 4] = [
    ([192, 0, 2, 0], 24, 1),
    ([192, 0, 2, 64], 26, 2),
    ([198, 51, 100, 128], 25, 3),
    ([203, 0, 113, 7], 32, 4),
];

/// The rule the firewall must apply to a source: the longest listed prefix.
fn blocking_rule(source: [u8; 4]) -> Option<u32> {
    let address = u32::from_be_bytes(source);
    BLOCK_LIST
        .iter()
        .filter(|(prefix, len, _)| {
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            address & mask == u32::from_be_bytes(*prefix) & mask
        })
        .max_by_key(|(_, len, _)| *len)
        .map(|(_, _, rule)| *rule)
}

fn firewall_behaviour(side: &mut dyn Side) -> Vec<String> {
    // A first run creates Apiary's pinned maps; the ARP frame touches none.
    let arp = frames().pop().expect("ARP frame").frame;
    let warm_up = RunInput {
        ctx_in: Some(packet_ctx("xdp", &arp)),
        data_in: Some(arp),
    };
    if let Err(e) = side.run(&warm_up) {
        return vec![format!("warm-up run: {e}")];
    }
    for (prefix, len, rule) in BLOCK_LIST {
        let key = [&len.to_le_bytes()[..], &prefix].concat();
        if let Err(e) = side.update_map("blocklist", &key, &rule.to_le_bytes()) {
            return vec![e];
        }
    }
    let results = match run_capture(side, "xdp") {
        Ok(results) => results,
        Err(problems) => return problems,
    };
    let mut problems = Vec::new();
    let mut expected_hits: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    let mut dropped = 0;
    for (packet, result) in &results {
        let rule = behind_vlan_tags(&packet.frame, 2, true)
            .filter(|(ethertype, _)| *ethertype == 0x0800)
            .and_then(|(_, l3)| ipv4_fields(&packet.frame, l3))
            .and_then(|ip| blocking_rule(ip.source));
        let expected = if rule.is_some() { 1 } else { 2 };
        if let Some(rule) = rule {
            let hits = expected_hits.entry(rule).or_default();
            hits.0 += 1;
            hits.1 += packet.frame.len() as u64;
            dropped += 1;
        }
        if result.retval != expected {
            problems.push(format!(
                "{}: verdict {}, expected {expected}",
                packet.summary, result.retval
            ));
        }
        if result.data_out.as_deref() != Some(&packet.frame[..]) {
            problems.push(format!("{}: the packet was modified", packet.summary));
        }
    }
    if dropped != 7 {
        problems.push(format!(
            "the capture should hold 7 blocked frames, the test found {dropped}"
        ));
    }
    problems.extend(expect_state(
        "rule_hits",
        counters_by_key(side, "rule_hits"),
        &expected_hits,
    ));
    problems
}

#[test]
fn xdp_firewall_drops_exactly_the_blocked_sources() {
    check_example_on_each_side("xdp_firewall", "xdp_firewall", firewall_behaviour);
}

/// The transport protocol proto_counter must count a frame under, or
/// `Err(true)` for a non-IP frame, `Err(false)` for a truncated one.
fn counted_protocol(frame: &[u8]) -> Result<u8, bool> {
    let (ethertype, l3) = behind_vlan_tags(frame, 1, false).ok_or(false)?;
    match ethertype {
        0x0800 => frame.get(l3 + 9).copied().ok_or(false),
        0x86dd => {
            let mut next = *frame.get(l3 + 6).ok_or(false)?;
            let mut at = l3 + 40;
            for _ in 0..4 {
                let length = match next {
                    44 => 8,
                    0 | 43 | 60 => (usize::from(*frame.get(at + 1).ok_or(false)?) + 1) * 8,
                    _ => break,
                };
                next = *frame.get(at).ok_or(false)?;
                at += length;
            }
            Ok(next)
        }
        _ => Err(true),
    }
}

fn proto_counter_behaviour(side: &mut dyn Side) -> Vec<String> {
    let results = match run_capture(side, "xdp") {
        Ok(results) => results,
        Err(problems) => return problems,
    };
    let mut problems = Vec::new();
    let mut expected: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    let (mut not_ip, mut truncated) = (0, 0);
    for (packet, result) in &results {
        if result.retval != 2 || result.data_out.as_deref() != Some(&packet.frame[..]) {
            problems.push(format!(
                "{}: retval {} or a modified packet, expected XDP_PASS unchanged",
                packet.summary, result.retval
            ));
        }
        match counted_protocol(&packet.frame) {
            Ok(proto) => {
                let slot = expected.entry(u32::from(proto)).or_default();
                slot.0 += 1;
                slot.1 += packet.frame.len() as u64;
            }
            Err(true) => not_ip += 1,
            Err(false) => truncated += 1,
        }
    }
    problems.extend(expect_state(
        "proto_stats summed over CPUs",
        counters_by_key(side, "proto_stats"),
        &expected,
    ));
    problems.extend(expect_state(
        "(not_ip, truncated)",
        bss_pair(
            side,
            "proto_counter",
            "proto_co_bss",
            ["not_ip", "truncated"],
        ),
        &(not_ip, truncated),
    ));
    problems
}

#[test]
fn proto_counter_counts_each_protocol() {
    check_example_on_each_side("proto_counter", "count_protocols", proto_counter_behaviour);
}

/// (backend index, address, port, MAC) of nat_lb's default configuration.
const BACKENDS: [([u8; 4], u16); 5] = [
    ([10, 1, 0, 1], 8080),
    ([10, 1, 0, 2], 8080),
    ([10, 1, 0, 3], 8080),
    ([10, 1, 0, 11], 5353),
    ([10, 1, 0, 12], 5353),
];

/// The backend nat_lb must pick for a frame, by its README's formula, with
/// the offsets of the IPv4 and transport headers.
fn chosen_backend(frame: &[u8]) -> Option<(usize, usize, usize)> {
    let (ethertype, l3) = behind_vlan_tags(frame, 1, false)?;
    if ethertype != 0x0800 {
        return None;
    }
    let ip = ipv4_fields(frame, l3)?;
    let l4 = l3 + ip.header_len;
    let (sport, dport) = ports_at(frame, l4)?;
    if ip.later_fragment || ip.destination != [10, 0, 0, 100] {
        return None;
    }
    let source = ip.source;
    let (first, count) = match (ip.proto, dport) {
        (6, 80) => (0, 3),
        (17, 53) => (3, 2),
        _ => return None,
    };
    let hash = u32::from_be_bytes(source)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(u32::from(sport).wrapping_mul(40503));
    Some((first + (hash % count) as usize, l3, l4))
}

/// One's-complement sum of big-endian words, folded: 0xffff when a
/// checksum over these bytes verifies.
fn checksum_total(parts: &[&[u8]]) -> u16 {
    let bytes = parts.concat();
    let mut total: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(pair[0]) << 8 | u32::from(pair.get(1).copied().unwrap_or(0)))
        .sum();
    while total > 0xffff {
        total = (total >> 16) + (total & 0xffff);
    }
    total as u16
}

/// Problems with one rewritten frame: every byte equal to the input except
/// the documented rewrites, and both checksums verifying.
fn check_rewritten(
    input: &[u8],
    output: &[u8],
    backend: usize,
    l3: usize,
    l4: usize,
) -> Vec<String> {
    let (address, port) = BACKENDS[backend];
    let mut expected = input.to_vec();
    expected[..6].copy_from_slice(&[2, 0, 0, 0, 1, backend as u8 + 1]);
    expected[6..12].copy_from_slice(&input[..6]);
    expected[l3 + 16..l3 + 20].copy_from_slice(&address);
    expected[l4 + 2..l4 + 4].copy_from_slice(&port.to_be_bytes());
    let proto = input[l3 + 9];
    let l4_check = if proto == 6 { l4 + 16 } else { l4 + 6 };
    let mut problems = Vec::new();
    if output.len() != input.len() {
        return vec![format!(
            "output length {} != input length {}",
            output.len(),
            input.len()
        )];
    }
    for (index, (want, got)) in expected.iter().zip(output).enumerate() {
        let is_checksum =
            (l3 + 10..l3 + 12).contains(&index) || (l4_check..l4_check + 2).contains(&index);
        if !is_checksum && want != got {
            problems.push(format!("byte {index}: {got:#04x}, expected {want:#04x}"));
        }
    }
    let header_len = usize::from(output[l3] & 0x0f) * 4;
    if checksum_total(&[&output[l3..l3 + header_len]]) != 0xffff {
        problems.push("the IPv4 header checksum does not verify".into());
    }
    let segment = &output[l4..];
    if proto == 17 && input[l4_check..l4_check + 2] == [0, 0] {
        if segment[6..8] != [0, 0] {
            problems.push("a UDP datagram without checksum got one".into());
        }
    } else {
        let length = u16::try_from(segment.len())
            .unwrap_or(u16::MAX)
            .to_be_bytes();
        let pseudo = [&output[l3 + 12..l3 + 20], &[0, proto], &length[..]].concat();
        if checksum_total(&[&pseudo, segment]) != 0xffff {
            problems.push("the TCP/UDP checksum does not verify".into());
        }
    }
    problems
}

fn nat_lb_behaviour(side: &mut dyn Side) -> Vec<String> {
    let results = match run_capture(side, "xdp") {
        Ok(results) => results,
        Err(problems) => return problems,
    };
    let mut problems = Vec::new();
    let mut expected_counts = [0u64; 8];
    for (packet, result) in &results {
        let output = result.data_out.as_deref().unwrap_or_default();
        match chosen_backend(&packet.frame) {
            Some((backend, l3, l4)) => {
                expected_counts[backend] += 1;
                if result.retval != 3 {
                    problems.push(format!(
                        "{}: retval {}, expected XDP_TX (3)",
                        packet.summary, result.retval
                    ));
                }
                problems.extend(
                    check_rewritten(&packet.frame, output, backend, l3, l4)
                        .into_iter()
                        .map(|p| format!("{} (backend {backend}): {p}", packet.summary)),
                );
            }
            None => {
                if result.retval != 2 || output != packet.frame {
                    problems.push(format!(
                        "{}: retval {} or a modified packet, expected XDP_PASS unchanged",
                        packet.summary, result.retval
                    ));
                }
            }
        }
    }
    if expected_counts[..5].contains(&0) {
        problems.push(format!(
            "the capture should reach every backend: {expected_counts:?}"
        ));
    }
    problems.extend(expect_state(
        "backend_packets",
        array_u64s(side, "backend_packets"),
        &expected_counts.to_vec(),
    ));
    problems
}

#[test]
fn nat_lb_rewrites_to_the_chosen_backend_with_valid_checksums() {
    check_example_on_each_side("nat_lb", "nat_lb", nat_lb_behaviour);
}

/// tc_mark_redirect's default rules: (protocol, port, mark, priority,
/// redirect ifindex).
const TC_RULES: [(u8, u16, u32, u32, u32); 4] = [
    (6, 22, 0x16, 6, 0),
    (17, 53, 0x35, 6, 0),
    (6, 443, 0x1bb, 0, 4),
    (17, 4789, 0x12b5, 2, 5),
];

/// The index of the rule that must match a frame.
fn matching_tc_rule(frame: &[u8]) -> Option<usize> {
    let (ethertype, l3) = behind_vlan_tags(frame, 1, false)?;
    let (proto, l4) = match ethertype {
        0x0800 => {
            let ip = ipv4_fields(frame, l3)?;
            if ip.later_fragment {
                return None;
            }
            (ip.proto, l3 + ip.header_len)
        }
        0x86dd => (*frame.get(l3 + 6)?, l3 + 40),
        _ => return None,
    };
    let (_, dport) = ports_at(frame, l4)?;
    TC_RULES
        .iter()
        .position(|(p, port, ..)| *p == proto && *port == dport)
}

fn tc_mark_redirect_behaviour(side: &mut dyn Side) -> Vec<String> {
    let results = match run_capture(side, "sched_cls") {
        Ok(results) => results,
        Err(problems) => return problems,
    };
    let mut problems = Vec::new();
    let mut expected_hits = [0u64; 8];
    for (packet, result) in &results {
        let (retval, mark, priority) = match matching_tc_rule(&packet.frame) {
            Some(index) => {
                expected_hits[index] += 1;
                let (_, _, mark, priority, ifindex) = TC_RULES[index];
                (if ifindex == 0 { 0 } else { 7 }, mark, priority)
            }
            None => (0, 0, 0),
        };
        let ctx = result.ctx_out.as_deref().unwrap_or_default();
        let found = (result.retval, u32_at(ctx, 8), u32_at(ctx, 32));
        if found != (retval, mark, priority) {
            problems.push(format!(
                "{}: (retval, mark, priority) {found:?}, expected ({retval}, {mark:#x}, {priority})",
                packet.summary
            ));
        }
        if result.data_out.as_deref() != Some(&packet.frame[..]) {
            problems.push(format!("{}: the packet was modified", packet.summary));
        }
    }
    problems.extend(expect_state(
        "rule_hits",
        array_u64s(side, "rule_hits"),
        &expected_hits.to_vec(),
    ));
    problems
}

#[test]
fn tc_mark_redirect_marks_prioritizes_and_redirects_by_rule() {
    check_example_on_each_side(
        "tc_mark_redirect",
        "mark_redirect",
        tc_mark_redirect_behaviour,
    );
}

fn ringbuf_events_behaviour(side: &mut dyn Side) -> Vec<String> {
    let results = match run_capture(side, "sched_cls") {
        Ok(results) => results,
        Err(problems) => return problems,
    };
    let mut problems: Vec<String> = results
        .iter()
        .filter(|(packet, result)| {
            result.retval != 0 || result.data_out.as_deref() != Some(&packet.frame[..])
        })
        .map(|(packet, result)| {
            format!(
                "{}: retval {} or a modified packet, expected TC_ACT_OK unchanged",
                packet.summary, result.retval
            )
        })
        .collect();
    problems.extend(expect_state(
        "(packets_seen, lost_events)",
        bss_pair(
            side,
            "ringbuf_events",
            "ringbuf__bss",
            ["packets_seen", "lost_events"],
        ),
        &(results.len() as u64, 0),
    ));
    problems
}

#[test]
fn ringbuf_events_sees_every_packet_without_losses() {
    check_example_on_each_side("ringbuf_events", "flow_events", ringbuf_events_behaviour);
}

/// `apiary prog run --pcap` on the bundled file itself: the verdict
/// histogram of the load balancer and of the firewall (block list filled
/// through `--pin-maps` and `apiary map update`) match the verdicts the
/// per-frame checks above expect, and every frame is written out.
#[test]
fn bundled_capture_through_pcap_mode() {
    let (Ok(nat_lb), Ok(firewall)) = (
        apiary_corpus::example("nat_lb"),
        apiary_corpus::example("xdp_firewall"),
    ) else {
        return apiary_testskip::missing(
            "bundled_capture_through_pcap_mode",
            "the examples were not compiled (clang-19 was missing at build time)",
        );
    };
    let capture = traffic::bundled_pcap_path().display().to_string();
    let scratch = Scratch::new("pcap");
    let pcap_run = |object: &CorpusObject, program: &str, pins: &Path| -> Value {
        let out = scratch.path(&format!("{program}.pcapng"));
        let args: Vec<String> = vec![
            "-j".into(),
            "prog".into(),
            "run".into(),
            object.path().display().to_string(),
            "--prog".into(),
            program.into(),
            "--pcap".into(),
            capture.clone(),
            "--out".into(),
            out.display().to_string(),
            "--pin-maps".into(),
            pins.display().to_string(),
        ];
        let json = parse_json("apiary prog run --pcap", &run_tool(APIARY, &args))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.is_file(), "--out {} was not written", out.display());
        json
    };
    let frames = frames();

    let balanced = frames
        .iter()
        .filter(|p| chosen_backend(&p.frame).is_some())
        .count();
    let json = pcap_run(nat_lb, "nat_lb", &scratch.path("nat_lb-pins"));
    assert_eq!(json["packets"], frames.len(), "{json}");
    assert_eq!(
        json["written"],
        frames.len(),
        "XDP_TX and XDP_PASS frames are written: {json}"
    );
    assert_eq!(json["verdicts"]["XDP_TX"], balanced, "{json}");
    assert_eq!(
        json["verdicts"]["XDP_PASS"],
        frames.len() - balanced,
        "{json}"
    );

    // A first pass creates the pins; fill the block list; a second pass
    // drops the blocked sources.
    let mut side = ApiaryCli::new(firewall, "xdp_firewall", "vm");
    let json = pcap_run(firewall, "xdp_firewall", &side.pins.0);
    assert_eq!(
        json["verdicts"]["XDP_PASS"],
        frames.len(),
        "empty block list: {json}"
    );
    for (prefix, len, rule) in BLOCK_LIST {
        let key = [&len.to_le_bytes()[..], &prefix].concat();
        side.update_map("blocklist", &key, &rule.to_le_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let blocked = frames
        .iter()
        .filter(|p| {
            behind_vlan_tags(&p.frame, 2, true)
                .filter(|(ethertype, _)| *ethertype == 0x0800)
                .and_then(|(_, l3)| ipv4_fields(&p.frame, l3))
                .and_then(|ip| blocking_rule(ip.source))
                .is_some()
        })
        .count();
    let json = pcap_run(firewall, "xdp_firewall", &side.pins.0);
    assert_eq!(json["verdicts"]["XDP_DROP"], blocked, "{json}");
    assert_eq!(
        json["written"],
        frames.len() - blocked,
        "dropped frames are not written: {json}"
    );
}
