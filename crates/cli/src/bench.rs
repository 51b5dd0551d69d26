//! `apiary bench FILE.o [--prog P] [data_in F] [ctx_in F] [repeat N]`: the
//! table (or JSON) of `apiary_bench::object_bench`'s comparison.

use std::path::PathBuf;
use std::process::ExitCode;

use apiary_bench::object_bench::{BenchOptions, BenchReport, bench};
use apiary_loader::UserTyping;
use serde_json::json;

use crate::CliResult;
use crate::coretarget::CoreTarget;
use crate::error::CliError;
use crate::objects::{OpenedObject, open_object};
use crate::progrun::{OutputFormat, choose_program, emit, parse_run_words, read_run_data};

/// What `apiary bench` was asked.
pub struct BenchArgs {
    /// The object file.
    pub file: PathBuf,
    /// `--prog NAME`.
    pub program: Option<String>,
    /// bpftool's keywords: `data_in`, `ctx_in`, `repeat`.
    pub words: Vec<String>,
    /// Timed batches per engine.
    pub batches: u32,
    /// Where CO-RE relocations resolve.
    pub core_target: CoreTarget,
    /// `--type`/`--section`.
    pub typing: UserTyping,
    /// Text or JSON.
    pub format: OutputFormat,
}

/// Runs the comparison and prints it; fails when the engines disagree.
pub fn run(args: &BenchArgs) -> CliResult {
    let words = parse_run_words(&args.words).map_err(|e| CliError::at("arguments", e))?;
    if words.data_out.is_some() || words.ctx_out.is_some() {
        return Err(CliError::at(
            "arguments",
            "bench writes no packet or context out (data_out, ctx_out)",
        ));
    }
    let read = |name: &Option<String>, what| {
        name.as_deref()
            .map(|name| read_run_data(name, what))
            .transpose()
    };
    let data_in = read(&words.data_in, "data_in")?;
    let request = apiary_difftest::objects::RunRequest {
        // Room for a program that grows the packet (bpf_xdp_adjust_tail).
        data_size_out: data_in.as_ref().map(|d| {
            u32::try_from(d.len())
                .unwrap_or(u32::MAX)
                .saturating_add(4096)
        }),
        data_in,
        ctx_in: read(&words.ctx_in, "ctx_in")?,
        ctx_size_out: None,
        repeat: 1,
    };
    let OpenedObject { elf, object, .. } =
        open_object(&args.file, &args.core_target, &args.typing)?;
    let program = choose_program(
        &object,
        args.program.as_deref(),
        args.typing.section.as_deref(),
    )
    .map_err(|e| CliError::at(args.file.display(), e))?
    .name
    .clone();
    let options = BenchOptions {
        request,
        repeat: words.repeat,
        batches: args.batches,
    };
    let report = bench(&object, &elf, &program, &options)
        .map_err(|e| CliError::at(format!("{}: {program}", args.file.display()), e))?;
    let text = match args.format {
        OutputFormat::Text => table(&program, &report, args.batches),
        OutputFormat::Json => to_json(&program, &report).to_string(),
        OutputFormat::PrettyJson => serde_json::to_string_pretty(&to_json(&program, &report))
            .map_err(|e| CliError::at("output", e))?,
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn table(program: &str, report: &BenchReport, batches: u32) -> String {
    let mut out = format!(
        "{program}: every engine gives retval {}{}; median of {batches} batches\n",
        report.retval,
        if report.packet_compared {
            " and the same packet"
        } else {
            ""
        }
    );
    out.push_str(&format!("apiary-jit code: {}\n", report.jit_compile));
    out.push_str(&format!(
        "{:<14} {:>12} {:>10} {:>10}\n",
        "engine", "ns/run", "vs kernel", "repeat"
    ));
    for line in &report.engines {
        match &line.timing {
            Ok(timing) => out.push_str(&format!(
                "{:<14} {:>12.1} {:>10} {:>10}\n",
                line.engine.label(),
                timing.ns_per_run,
                report
                    .ratio_to_kernel(line.engine)
                    .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x")),
                timing.repeat
            )),
            Err(why) => out.push_str(&format!(
                "{:<14} not measured: {why}\n",
                line.engine.label()
            )),
        }
    }
    out
}

fn to_json(program: &str, report: &BenchReport) -> serde_json::Value {
    let engines: Vec<serde_json::Value> = report
        .engines
        .iter()
        .map(|line| match &line.timing {
            Ok(timing) => json!({
                "engine": line.engine.label(),
                "ns_per_run": timing.ns_per_run,
                "ratio_to_kernel": report.ratio_to_kernel(line.engine),
                "repeat": timing.repeat,
                "batches_ns_per_run": timing.batches,
            }),
            Err(why) => json!({
                "engine": line.engine.label(),
                "not_measured": why,
            }),
        })
        .collect();
    json!({
        "program": program,
        "retval": report.retval,
        "packet_compared": report.packet_compared,
        "jit_compile": report.jit_compile,
        "engines": engines,
    })
}
