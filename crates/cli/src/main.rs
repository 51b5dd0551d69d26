//! `apiary`: the command-line interface of Apiary, a user-space eBPF
//! implementation in Rust.
//!
//! This binary owns argument parsing, file handling and output formats. It
//! must not implement instruction syntax, semantics or the conformance
//! format itself: those belong to `apiary-asm`, `apiary-vm` and
//! `apiary-conformance`. Every failure is one line on stderr,
//! `apiary: <file>:<line>: <problem>`, and a non-zero exit status.

mod bench;
mod capture;
mod commands;
mod coretarget;
mod elf;
mod error;
mod fuzz;
mod hex;
mod jited;
mod liveclient;
mod livepins;
mod liveserve;
mod livewire;
mod mapcmd;
mod mapshow;
mod mapsource;
mod objects;
mod pinning;
mod progrun;
mod signals;
mod verify;
mod verify_bench;
mod xdpkernel;
mod xdpreplay;
mod xdprun;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::coretarget::CoreTarget;
use crate::error::CliError;
use crate::progrun::OutputFormat;

/// Apiary: eBPF in user space. Runs clang/libbpf objects as the kernel's
/// BPF_PROG_TEST_RUN would (`prog run`, also on pcap captures), inspects
/// objects, maps and BTF with bpftool's grammar, assembles, disassembles and
/// runs conformance tests.
#[derive(Parser)]
#[command(name = "apiary", version)]
struct Cli {
    /// Print JSON (bpftool's `-j`), for commands that support it.
    #[arg(short = 'j', long, global = true)]
    json: bool,
    /// Print pretty JSON (bpftool's `-p`; implies `-j`).
    #[arg(short = 'p', long, global = true)]
    pretty: bool,
    #[command(subcommand)]
    command: Command,
}

/// Assembly syntax of the disassembler's output.
#[derive(Clone, Copy, ValueEnum)]
enum SyntaxArg {
    /// Kernel/LLVM syntax: `r0 = 1`, `if r1 > r2 goto +3`.
    Llvm,
    /// uBPF syntax: `mov %r0, 1`, `jgt %r1, %r2, +3`.
    Ubpf,
}

#[derive(Subcommand)]
enum Command {
    /// Assemble a program (kernel/LLVM or uBPF syntax) into raw bytecode.
    Asm {
        /// The assembler source.
        file: PathBuf,
        /// Output file (default: the input with extension .bin; `-` for stdout).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Disassemble raw bytecode, or every executable section of an ELF object.
    Disasm {
        /// Raw bytecode or an ELF object.
        file: PathBuf,
        /// Output syntax.
        #[arg(long, value_enum, default_value = "llvm")]
        syntax: SyntaxArg,
    },
    /// Run a program (assembler source, or raw bytecode ending in .bin) and print r0.
    Run {
        /// `.s`/`.asm` source or raw bytecode.
        file: PathBuf,
        /// Memory given to the program as hex bytes (r1 points to it, r2 is its length).
        #[arg(long, conflicts_with = "mem_file")]
        mem: Option<String>,
        /// File whose bytes are the program's memory.
        #[arg(long)]
        mem_file: Option<PathBuf>,
    },
    /// List, dump and run the programs of an eBPF ELF object, as bpftool's `prog`.
    Prog {
        #[command(subcommand)]
        command: ProgCommand,
    },
    /// List, read and change maps as bpftool's `map`: `show|list [MAP | DIR | FILE.o]`, `dump|lookup|peek|getnext|update|push|enqueue|delete|pop|dequeue MAP [key [hex] BYTES] [value [hex] BYTES] [any|exist|noexist]`, MAP := `pinned FILE` (an Apiary pin, or a kernel pin on bpffs) | `id ID` | `name NAME` (kernel maps, root).
    Map {
        /// `COMMAND MAP [ARGS]`, in bpftool's grammar.
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true, value_name = "COMMAND MAP [ARGS]")]
        words: Vec<String>,
    },
    /// Dump BTF, as bpftool's `btf dump file FILE [format raw|c]`.
    Btf {
        #[command(subcommand)]
        command: BtfCommand,
    },
    /// Run `.data` conformance tests (files or directories, searched recursively).
    Conformance {
        /// Test files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run XDP programs on live interfaces: `xdp run FILE.o --iface IF`.
    Xdp {
        #[command(subcommand)]
        command: XdpCommand,
    },
    /// Verify the programs of an object as the kernel's verifier would:
    /// `PROG: accepted (N insns processed, T us)` or why not.
    Verify {
        /// The eBPF ELF object.
        file: PathBuf,
        /// Only this program.
        #[arg(long = "prog", value_name = "NAME")]
        program: Option<String>,
        /// Whose verdict: Apiary's verifier, the kernel's, or both compared.
        #[arg(long, value_enum, default_value = "vm")]
        backend: BackendArg,
        /// Print the kernel-style verifier log of each program before its
        /// verdict: 1, the path to the verdict; 2, every path (the
        /// kernel's own log too with --backend kernel|both).
        #[arg(long, value_name = "LEVEL", value_parser = clap::value_parser!(u32).range(1..=2))]
        log_level: Option<u32>,
        /// Resolve CO-RE relocations against this BTF. Default: the running
        /// kernel's /sys/kernel/btf/vmlinux, as libbpf would.
        #[arg(long, value_name = "FILE")]
        target_btf: Option<PathBuf>,
        #[command(flatten)]
        typing: TypingArgs,
    },
    /// Time one program on Apiary's JIT and interpreter, the kernel
    /// (BPF_PROG_TEST_RUN) and rbpf's JIT, after checking that all give the
    /// same return value and packet: ns/run and the ratio to the kernel.
    /// `apiary bench verify PATH...` times the verifiers instead.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Bench {
        #[command(subcommand)]
        command: Option<BenchCommand>,
        /// The eBPF ELF object.
        #[arg(required = true)]
        file: Option<PathBuf>,
        /// bpftool's keywords: `[data_in FILE|-] [ctx_in FILE|-] [repeat N]`
        /// (`repeat`: runs per batch; default: sized per engine for ~20 ms batches).
        #[arg(value_name = "KEYWORD VALUE")]
        words: Vec<String>,
        /// The program to time (needed when the object has more than one).
        #[arg(long = "prog", value_name = "NAME")]
        program: Option<String>,
        /// Timed batches per engine, after one warm-up batch; the median is reported.
        #[arg(long, value_name = "N", default_value_t = 7)]
        batches: u32,
        /// Resolve CO-RE relocations against this BTF (default: the running
        /// kernel's, for every engine).
        #[arg(long, value_name = "FILE")]
        target_btf: Option<PathBuf>,
        #[command(flatten)]
        typing: TypingArgs,
    },
    /// Differential fuzzing against the running kernel.
    Fuzz {
        #[command(subcommand)]
        command: FuzzCommand,
    },
    /// Plugin for bpf_conformance's runner: program as hex on stdin, r0 in hex on stdout.
    ConformancePlugin {
        /// The program's memory as hex bytes.
        memory: Option<String>,
        /// Accepted for the runner's ELF mode, which Apiary's plugin does not support.
        #[arg(long)]
        elf: bool,
    },
}

/// The program type a user chooses, as bpftool's `prog load ... type` and
/// tc's `sec`.
#[derive(clap::Args, Clone, Default)]
struct TypingArgs {
    /// Program type for sections whose name gives none (legacy tc/iproute2
    /// entry sections, `.text`-only objects) and for tc tail-call sections
    /// `ID/KEY`: a SEC() name as bpftool's `type` takes it (xdp, tc,
    /// classifier, action, socket, kprobe, tracepoint, cgroup/skb, lwt_in,
    /// ...) or a kernel type name (sched_cls, socket_filter, ...).
    #[arg(long = "type", value_name = "TYPE")]
    prog_type: Option<String>,
    /// With --type: the one section to type, overriding its name, as
    /// `tc filter ... bpf obj FILE sec NAME` does; for `prog run`, also the
    /// section whose program runs.
    #[arg(long, value_name = "NAME")]
    section: Option<String>,
}

impl TypingArgs {
    fn parse(self) -> Result<apiary_loader::UserTyping, CliError> {
        let program_type = self
            .prog_type
            .map(|name| apiary_loader::ProgramTypeChoice::parse(&name))
            .transpose()
            .map_err(|e| CliError::at("--type", e))?;
        Ok(apiary_loader::UserTyping {
            program_type,
            section: self.section,
        })
    }
}

/// `apiary prog ...`.
#[derive(Subcommand)]
enum ProgCommand {
    /// List the object's programs and maps as libbpf would load them
    /// (also `show` and `list`, bpftool's names for listing programs).
    #[command(visible_alias = "show", alias = "list")]
    Load {
        /// The eBPF ELF object.
        file: PathBuf,
        /// Resolve CO-RE relocations against this BTF (raw BTF such as
        /// /sys/kernel/btf/vmlinux, or an object's .BTF). Default: Apiary's
        /// own context types, the layouts its interpreter runs programs with.
        #[arg(long, value_name = "FILE")]
        target_btf: Option<PathBuf>,
        /// List the programs without verifying them first (by default a
        /// program the verifier refuses fails the load, as in the kernel).
        #[arg(long)]
        no_verify: bool,
        #[command(flatten)]
        typing: TypingArgs,
    },
    /// Run a program as `bpftool prog run` does: `run FILE.o [--prog NAME] [data_in FILE] ...`.
    Run(RunArgs),
    /// Print programs as `bpftool prog dump xlated|jited` does: `dump [xlated] FILE.o [PROG]
    /// [linum]`, or `dump jited FILE.o [PROG] [linum] [opcodes]` for the JIT's x86-64 code.
    Dump {
        /// `[xlated|jited] FILE.o [PROG] [linum] [opcodes]`.
        #[arg(
            required = true,
            num_args = 1..=5,
            value_name = "[xlated|jited] FILE [PROG] [linum] [opcodes]"
        )]
        words: Vec<String>,
        /// Resolve CO-RE relocations against this BTF (e.g.
        /// /sys/kernel/btf/vmlinux). Default: Apiary's own context types.
        #[arg(long, value_name = "FILE")]
        target_btf: Option<PathBuf>,
    },
}

/// Where `prog run` runs the program.
#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    /// Apiary's interpreter.
    Vm,
    /// The running kernel (`BPF_PROG_TEST_RUN`).
    Kernel,
    /// Both, comparing return value, packet, context and maps; exit 0 only when they agree.
    Both,
}

/// Which of Apiary's tiers `prog run` uses.
#[derive(Clone, Copy, ValueEnum)]
enum EngineArg {
    /// Native x86-64 code (the default on x86-64).
    Jit,
    /// The interpreter (the default elsewhere).
    Interp,
}

/// The engine `prog run` uses when none is named: the JIT where it runs.
const DEFAULT_ENGINE: &str = if cfg!(target_arch = "x86_64") {
    "jit"
} else {
    "interp"
};

/// `apiary prog run`: bpftool's `prog run` on a program of an object file.
#[derive(clap::Args)]
struct RunArgs {
    /// The eBPF ELF object.
    file: PathBuf,
    /// bpftool's keywords: `[data_in FILE|-] [data_out FILE|-] [data_size_out L]
    /// [ctx_in FILE|-] [ctx_out FILE|-] [ctx_size_out M] [repeat N]`.
    #[arg(value_name = "KEYWORD VALUE")]
    words: Vec<String>,
    /// The program to run (needed when the object has more than one).
    #[arg(long = "prog", value_name = "NAME")]
    program: Option<String>,
    /// Run the program on every packet of this pcap or pcapng capture.
    #[arg(long, value_name = "IN")]
    pcap: Option<PathBuf>,
    /// With --pcap: write the packets the program lets through here (pcapng).
    #[arg(long, value_name = "OUT", requires = "pcap")]
    out: Option<PathBuf>,
    /// Where to run: Apiary's interpreter, the kernel, or both compared.
    #[arg(long, value_enum, default_value = "vm")]
    backend: BackendArg,
    /// Apiary's tier: native code or the interpreter (same results).
    #[arg(long, value_enum, default_value = DEFAULT_ENGINE)]
    engine: EngineArg,
    /// Reuse the maps saved in DIR before the run and save them there after it
    /// (one file per map, named as `bpftool prog loadall ... pinmaps DIR`
    /// names its pins; read them with `apiary map dump pinned DIR/NAME`).
    #[arg(long, value_name = "DIR")]
    pin_maps: Option<PathBuf>,
    /// Stop each run of the interpreter after N executed instructions
    /// (`unlimited`: never). Default 1073741824 (2^30): enough for a
    /// `bpf_loop` of the kernel's 8,388,608 iterations with a 128-instruction
    /// body; a program that never ends stops with an error naming it.
    #[arg(long, value_name = "N|unlimited", value_parser = progrun::parse_budget)]
    budget: Option<progrun::Budget>,
    /// Resolve CO-RE relocations against this BTF. Default: Apiary's own
    /// context types with `--backend vm`; with `--backend kernel|both`, the
    /// running kernel's /sys/kernel/btf/vmlinux, as libbpf would use, for
    /// both sides so that they run the same instructions.
    #[arg(long, value_name = "FILE")]
    target_btf: Option<PathBuf>,
    /// Run the program without verifying it first, in the checked
    /// interpreter (by default a program the verifier refuses does not run
    /// in Apiary, as the kernel would not load it).
    #[arg(long)]
    no_verify: bool,
    #[command(flatten)]
    typing: TypingArgs,
}

/// `apiary xdp ...`.
#[derive(Subcommand)]
enum XdpCommand {
    /// Run an XDP program on every frame arriving on an interface, one
    /// worker per receive queue, until Ctrl-C, --count or --duration.
    ///
    /// --mode afxdp (the default where it can be set up) takes the frames
    /// from the stack: verdicts are enforced, XDP_PASS frames reach the host
    /// through a TAP device (`apiaryIFINDEX`). PACKET MODE OBSERVES A COPY:
    /// the host's stack receives every frame whatever the program returns,
    /// so XDP_DROP is counted but does NOT stop the frame.
    Run(XdpRunArgs),
    /// Replay the frames of a capture, held in memory, through an XDP program on one
    /// pinned worker per CPU, without I/O: frames per second on one core and on more.
    Replay {
        /// The eBPF ELF object.
        file: PathBuf,
        /// The frames (pcap or pcapng, Ethernet), run over and over.
        #[arg(long, value_name = "FILE")]
        pcap: PathBuf,
        /// The program to run (needed when the object has more than one).
        #[arg(long = "prog", value_name = "NAME")]
        program: Option<String>,
        /// Workers, one per CPU (each that CPU for per-CPU maps).
        #[arg(long, value_name = "N", default_value_t = 1)]
        cores: u32,
        /// Frames each worker runs.
        #[arg(long, value_name = "N", default_value_t = 1_000_000)]
        frames: u64,
        /// Native x86-64 code (`jit`, the default on x86-64) or the interpreter.
        #[arg(long, value_enum, default_value = DEFAULT_ENGINE)]
        engine: EngineArg,
    },
}

/// How `xdp run` receives frames.
#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    /// AF_PACKET with a TPACKET_V3 ring: sees a copy of each frame (XDP_DROP cannot drop it).
    Packet,
    /// AF_XDP sockets: the frames themselves, verdicts enforced.
    Afxdp,
}

/// `apiary xdp run`.
#[derive(clap::Args)]
struct XdpRunArgs {
    /// The eBPF ELF object.
    file: PathBuf,
    /// The interface whose frames the program sees.
    #[arg(long, value_name = "IF")]
    iface: String,
    /// The program to run (needed when the object has more than one).
    #[arg(long = "prog", value_name = "NAME")]
    program: Option<String>,
    /// Workers, one per receive queue and CPU (default: the interface's queues, at most the CPUs).
    #[arg(long, value_name = "N")]
    queues: Option<u32>,
    /// How frames are received (default: afxdp, or packet where afxdp cannot be set up).
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// afxdp: ask the driver for zero-copy (fails where it has none; copy mode otherwise).
    #[arg(long)]
    zero_copy: bool,
    /// Share the maps through pin files in DIR, both ways, every second: `apiary map
    /// dump pinned DIR/NAME` reads the running maps, `apiary map update pinned ...`
    /// changes them.
    #[arg(long, value_name = "DIR")]
    pin_maps: Option<PathBuf>,
    /// Stop after N frames.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop after S seconds.
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
    /// Resolve CO-RE relocations against this BTF. Default: Apiary's own context types
    /// (with --backend kernel: the running kernel's).
    #[arg(long, value_name = "FILE")]
    target_btf: Option<PathBuf>,
    /// Where the program runs: Apiary (`vm`), or the kernel's own XDP hook of the
    /// interface (`kernel`, for comparing throughput and maps on the same traffic).
    #[arg(long, value_enum, default_value = "vm")]
    backend: XdpBackendArg,
    /// Apiary's execution tier: native x86-64 code (`jit`, the default on x86-64) or the
    /// interpreter (`interp`).
    #[arg(long, value_enum, default_value = DEFAULT_ENGINE)]
    engine: EngineArg,
}

/// Where `xdp run` runs the program.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum XdpBackendArg {
    /// Apiary (its JIT or interpreter, `--engine`) on frames from AF_XDP or AF_PACKET sockets.
    Vm,
    /// The kernel's XDP hook (native where the driver has it).
    Kernel,
}

/// `apiary bench verify ...`.
#[derive(Subcommand)]
enum BenchCommand {
    /// Verify every program of the objects with Apiary and load it in the
    /// kernel: per program both verification times (the kernel's from its
    /// `verification time` statistics), the ratio and the processed
    /// instructions, then the totals.
    Verify {
        /// Object files, or directories whose `*.o` files are taken (the
        /// corpus: target/release/build/apiary-corpus-*/out/{progs,examples}).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Times each side verifies each program; the fastest counts.
        #[arg(long, value_name = "N", default_value_t = 3)]
        rounds: u32,
        /// Resolve CO-RE relocations against this BTF (default: the running
        /// kernel's).
        #[arg(long, value_name = "FILE")]
        target_btf: Option<PathBuf>,
    },
}

/// `apiary fuzz ...`.
#[derive(Subcommand)]
enum FuzzCommand {
    /// Run random programs in the kernel (as syscall programs) and in Apiary, and compare r0, the context and the maps; watch the kernel log for verifier warnings and oopses.
    Diff {
        /// Number of programs.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// Seed of the first program (program i uses SEED + i).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Directory for shrunk reproducers of divergences and of programs that made the kernel log a warning.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify random programs, most made unsafe on purpose, with Apiary's verifier and the kernel's, and compare the verdicts; fails on any program Apiary accepts and the kernel refuses.
    Verdicts {
        /// Number of programs.
        #[arg(long, default_value_t = 1000)]
        count: u64,
        /// Seed of the first program (program i uses SEED + i).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Disagreements of each kind to print.
        #[arg(long, default_value_t = 3)]
        examples: usize,
        /// Worker threads, each verifying and loading whole programs (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
    },
}

/// `apiary btf ...`.
#[derive(Subcommand)]
enum BtfCommand {
    /// Print BTF of an object or raw BTF file: `dump [file] FILE [format raw|c]`.
    Dump {
        /// `[file] FILE [format raw|c]`.
        #[arg(required = true, num_args = 1..=4, value_name = "[file] FILE [format raw|c]")]
        words: Vec<String>,
    },
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown location".to_string());
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        eprintln!("apiary: internal error (a bug) at {location}: {payload}");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return report_usage_error(error),
    };
    let json = cli.json || cli.pretty;
    let format = match (cli.pretty, cli.json) {
        (true, _) => OutputFormat::PrettyJson,
        (false, true) => OutputFormat::Json,
        (false, false) => OutputFormat::Text,
    };
    let outcome = match cli.command {
        Command::Asm { file, output } => commands::assemble_file(&file, output.as_deref()),
        Command::Disasm { file, syntax } => commands::disassemble_file(&file, syntax.into()),
        Command::Run {
            file,
            mem,
            mem_file,
        } => commands::run_file(&file, mem.as_deref(), mem_file.as_deref(), json),
        Command::Prog {
            command:
                ProgCommand::Load {
                    file,
                    target_btf,
                    no_verify,
                    typing,
                },
        } => typing.parse().and_then(|typing| {
            objects::prog_load(
                &file,
                &CoreTarget::choose(target_btf, false),
                &typing,
                !no_verify,
                format,
            )
        }),
        Command::Prog {
            command: ProgCommand::Run(args),
        } => args.typing.parse().and_then(|typing| {
            progrun::prog_run(&progrun::RunOptions {
                typing,
                core_target: CoreTarget::choose(
                    args.target_btf,
                    !matches!(args.backend, BackendArg::Vm),
                ),
                file: args.file,
                program: args.program,
                words: args.words,
                pcap: args.pcap,
                out: args.out,
                backend: match args.backend {
                    BackendArg::Vm => progrun::BackendChoice::Vm,
                    BackendArg::Kernel => progrun::BackendChoice::Kernel,
                    BackendArg::Both => progrun::BackendChoice::Both,
                },
                jit: matches!(args.engine, EngineArg::Jit),
                verify: !args.no_verify,
                pin_maps: args.pin_maps,
                budget: args.budget.unwrap_or_default(),
                format,
            })
        }),
        Command::Prog {
            command: ProgCommand::Dump { words, target_btf },
        } => objects::prog_dump(&words, &CoreTarget::choose(target_btf, false), format),
        Command::Btf {
            command: BtfCommand::Dump { words },
        } => objects::btf_dump(&words),
        Command::Verify {
            file,
            program,
            backend,
            log_level,
            target_btf,
            typing,
        } => typing.parse().and_then(|typing| {
            verify::verify(
                &file,
                &verify::VerifyRequest {
                    program: program.as_deref(),
                    backend: match backend {
                        BackendArg::Vm => verify::VerifyBackend::Vm,
                        BackendArg::Kernel => verify::VerifyBackend::Kernel,
                        BackendArg::Both => verify::VerifyBackend::Both,
                    },
                    log_level: log_level
                        .and_then(apiary_verifier::LogLevel::from_number)
                        .unwrap_or_default(),
                },
                &CoreTarget::choose(target_btf, true),
                &typing,
                format,
            )
        }),
        Command::Map { words } => mapcmd::run(&words, format),
        Command::Xdp {
            command: XdpCommand::Run(args),
        } => xdprun::xdp_run(&xdprun::XdpRunOptions {
            core_target: CoreTarget::choose(args.target_btf, args.backend == XdpBackendArg::Kernel),
            in_kernel: args.backend == XdpBackendArg::Kernel,
            zero_copy: args.zero_copy,
            jit: matches!(args.engine, EngineArg::Jit),
            file: args.file,
            program: args.program,
            iface: args.iface,
            queues: args.queues,
            mode: args.mode.map(|mode| match mode {
                ModeArg::Packet => xdprun::Mode::Packet,
                ModeArg::Afxdp => xdprun::Mode::Afxdp,
            }),
            pin_maps: args.pin_maps,
            count: args.count,
            duration: args.duration,
            json,
        }),
        Command::Xdp {
            command:
                XdpCommand::Replay {
                    file,
                    pcap,
                    program,
                    cores,
                    frames,
                    engine,
                },
        } => xdpreplay::xdp_replay(&xdpreplay::XdpReplayOptions {
            file,
            program,
            pcap,
            cores,
            frames,
            jit: matches!(engine, EngineArg::Jit),
            json,
        }),
        Command::Bench {
            command:
                Some(BenchCommand::Verify {
                    paths,
                    rounds,
                    target_btf,
                }),
            ..
        } => verify_bench::run(&verify_bench::VerifyBenchArgs {
            paths,
            rounds,
            core_target: CoreTarget::choose(target_btf, true),
            format,
        }),
        Command::Bench {
            command: None,
            file,
            words,
            program,
            batches,
            target_btf,
            typing,
        } => typing.parse().and_then(|typing| {
            bench::run(&bench::BenchArgs {
                file: file.unwrap_or_default(),
                program,
                words,
                batches,
                core_target: CoreTarget::choose(target_btf, true),
                typing,
                format,
            })
        }),
        Command::Conformance { paths } => commands::conformance(&paths),
        Command::Fuzz {
            command: FuzzCommand::Diff { count, seed, out },
        } => fuzz::diff(count, seed, out.as_deref()),
        Command::Fuzz {
            command:
                FuzzCommand::Verdicts {
                    count,
                    seed,
                    examples,
                    jobs,
                },
        } => fuzz::verdicts(count, seed, examples, jobs),
        Command::ConformancePlugin { memory, elf } => {
            commands::conformance_plugin(memory.as_deref(), elf)
        }
    };
    let _ = std::io::stdout().flush();
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("apiary: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Prints help and version as clap does, and argument errors as one line.
fn report_usage_error(error: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = error.print();
        return ExitCode::SUCCESS;
    }
    let rendered = error.render().to_string();
    // clap puts what is missing on the lines after the first; the usage
    // block after the blank line is left to --help.
    let problem = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let problem = problem.strip_prefix("error: ").unwrap_or(&problem);
    let problem = if problem.is_empty() {
        "bad arguments"
    } else {
        problem
    };
    eprintln!("apiary: arguments: {problem} (see apiary --help)");
    ExitCode::from(2)
}

impl From<SyntaxArg> for apiary_asm::Syntax {
    fn from(syntax: SyntaxArg) -> Self {
        match syntax {
            SyntaxArg::Llvm => apiary_asm::Syntax::Llvm,
            SyntaxArg::Ubpf => apiary_asm::Syntax::Ubpf,
        }
    }
}

/// Result of a command: the exit status on success, one error line otherwise.
pub type CliResult = Result<ExitCode, CliError>;
