//! Compiles every C program listed in `tests/progs/manifest.toml` with
//! clang into `OUT_DIR/progs/<name>.o` and generates the table the crate
//! exposes (`OUT_DIR/corpus_table.rs`).
//!
//! A missing clang is not an error: the table then records why, so tests can
//! skip loudly. A malformed manifest, a `.c` file missing from the manifest or
//! a compile error in any corpus file fails the build: the corpus must stay
//! compilable and completely described.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One `[[object]]` of the manifest, validated.
struct ManifestEntry {
    file: String,
    cpu: String,
    features: Vec<String>,
    not_loadable_because: Option<String>,
}

const ALLOWED_CPUS: [&str; 4] = ["v1", "v2", "v3", "v4"];

fn main() {
    let crate_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let progs_dir = crate_dir.join("../../tests/progs");
    let progs_dir = progs_dir
        .canonicalize()
        .unwrap_or_else(|e| panic!("corpus directory {}: {e}", progs_dir.display()));
    let manifest_path = progs_dir.join("manifest.toml");
    let out_dir = PathBuf::from(env("OUT_DIR"));

    println!("cargo:rerun-if-changed={}", progs_dir.display());
    println!("cargo:rerun-if-changed={}", manifest_path.display());
    println!("cargo:rerun-if-env-changed=APIARY_CLANG");

    let entries = read_manifest(&manifest_path);
    check_every_source_listed(&progs_dir, &entries);
    for entry in &entries {
        println!(
            "cargo:rerun-if-changed={}",
            progs_dir.join(&entry.file).display()
        );
    }

    let clang = std::env::var("APIARY_CLANG").unwrap_or_else(|_| "clang-19".to_owned());
    let unavailable = match Command::new(&clang).arg("--version").output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "`{clang} --version` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!(
            "cannot run `{clang}`: {e} (install clang-19 or set APIARY_CLANG)"
        )),
    };

    let objects_dir = out_dir.join("progs");
    if unavailable.is_none() {
        std::fs::create_dir_all(&objects_dir)
            .unwrap_or_else(|e| panic!("creating {}: {e}", objects_dir.display()));
        compile_all(&clang, &progs_dir, &objects_dir, &entries);
    } else if let Some(reason) = &unavailable {
        println!("cargo:warning=apiary-corpus: corpus not compiled: {reason}");
    }

    let table = render_table(&progs_dir, &objects_dir, &entries, unavailable.as_deref());
    let table_path = out_dir.join("corpus_table.rs");
    std::fs::write(&table_path, table)
        .unwrap_or_else(|e| panic!("writing {}: {e}", table_path.display()));
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo did not set {name}"))
}

fn read_manifest(path: &Path) -> Vec<ManifestEntry> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let table: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("{}: not valid TOML: {e}", path.display()));
    let objects = table
        .get("object")
        .and_then(toml::Value::as_array)
        .unwrap_or_else(|| panic!("{}: expected [[object]] entries", path.display()));
    let mut seen = BTreeSet::new();
    objects
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let entry = parse_entry(value)
                .unwrap_or_else(|e| panic!("{}: object #{}: {e}", path.display(), index + 1));
            if !seen.insert(entry.file.clone()) {
                panic!("{}: {} is listed twice", path.display(), entry.file);
            }
            entry
        })
        .collect()
}

fn parse_entry(value: &toml::Value) -> Result<ManifestEntry, String> {
    let table = value.as_table().ok_or("not a table")?;
    for key in table.keys() {
        if ![
            "file",
            "cpu",
            "features",
            "kernel_loads",
            "not_loadable_because",
        ]
        .contains(&key.as_str())
        {
            return Err(format!("unknown key `{key}`"));
        }
    }
    let string = |key: &str| -> Result<Option<String>, String> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("`{key}` must be a string")),
        }
    };
    let file = string("file")?.ok_or("missing `file`")?;
    if !file.ends_with(".c") || file.contains('/') || file.starts_with('.') {
        return Err(format!(
            "`file` = {file:?} must name a .c file in tests/progs"
        ));
    }
    let cpu = string("cpu")?.ok_or("missing `cpu`")?;
    if !ALLOWED_CPUS.contains(&cpu.as_str()) {
        return Err(format!("`cpu` = {cpu:?} is not one of {ALLOWED_CPUS:?}"));
    }
    let features = table
        .get("features")
        .and_then(toml::Value::as_array)
        .ok_or("missing `features` array")?
        .iter()
        .map(|f| {
            f.as_str()
                .map(str::to_owned)
                .ok_or("features must be strings")
        })
        .collect::<Result<Vec<_>, _>>()?;
    if features.is_empty() {
        return Err("`features` is empty".into());
    }
    let loads = table
        .get("kernel_loads")
        .and_then(toml::Value::as_bool)
        .ok_or("missing boolean `kernel_loads`")?;
    let reason = string("not_loadable_because")?;
    let not_loadable_because = match (loads, reason) {
        (true, None) => None,
        (false, Some(reason)) if !reason.trim().is_empty() => Some(reason),
        (true, Some(_)) => {
            return Err("`not_loadable_because` given but kernel_loads = true".into());
        }
        (false, _) => return Err("kernel_loads = false needs `not_loadable_because`".into()),
    };
    Ok(ManifestEntry {
        file,
        cpu,
        features,
        not_loadable_because,
    })
}

fn check_every_source_listed(progs_dir: &Path, entries: &[ManifestEntry]) {
    let listed: BTreeSet<&str> = entries.iter().map(|e| e.file.as_str()).collect();
    let dir = std::fs::read_dir(progs_dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", progs_dir.display()));
    for item in dir {
        let item = item.unwrap_or_else(|e| panic!("listing {}: {e}", progs_dir.display()));
        let name = item.file_name().to_string_lossy().into_owned();
        if name.ends_with(".c") && !listed.contains(name.as_str()) {
            panic!("tests/progs/{name} is not listed in tests/progs/manifest.toml");
        }
    }
    for file in &listed {
        if !progs_dir.join(file).is_file() {
            panic!("manifest lists {file}, which is not in tests/progs");
        }
    }
}

/// The `-I` directory for `asm/types.h` and the `__TARGET_ARCH_*` macro
/// bpf_tracing.h wants, both derived from the machine the build runs on
/// (the corpus describes programs for the local kernel).
fn host_arch_flags() -> Vec<String> {
    let (triple_arch, target_arch) = match std::env::consts::ARCH {
        "x86_64" => ("x86_64", "x86"),
        "aarch64" => ("aarch64", "arm64"),
        "s390x" => ("s390x", "s390"),
        "powerpc64" => ("powerpc64le", "powerpc"),
        "riscv64" => ("riscv64", "riscv"),
        other => (other, other),
    };
    vec![
        format!("-I/usr/include/{triple_arch}-linux-gnu"),
        format!("-D__TARGET_ARCH_{target_arch}"),
    ]
}

fn compile_all(clang: &str, progs_dir: &Path, objects_dir: &Path, entries: &[ManifestEntry]) {
    let arch_flags = host_arch_flags();
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    let chunk = entries.len().div_ceil(workers).max(1);
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .map(|group| {
                let arch_flags = &arch_flags;
                scope.spawn(move || {
                    group
                        .iter()
                        .filter_map(|e| {
                            compile_one(clang, progs_dir, objects_dir, arch_flags, e).err()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["compiler thread panicked".into()])
            })
            .collect()
    });
    if !failures.is_empty() {
        panic!("corpus compilation failed:\n{}", failures.join("\n"));
    }
}

fn compile_one(
    clang: &str,
    progs_dir: &Path,
    objects_dir: &Path,
    arch_flags: &[String],
    entry: &ManifestEntry,
) -> Result<(), String> {
    let source = progs_dir.join(&entry.file);
    let object = objects_dir.join(object_file_name(&entry.file));
    let output = Command::new(clang)
        .args(["-target", "bpf", "-O2", "-g", "-Wall", "-c"])
        .arg(format!("-mcpu={}", entry.cpu))
        .args(arch_flags)
        .arg(&source)
        .arg("-o")
        .arg(&object)
        .output()
        .map_err(|e| format!("{}: cannot run {clang}: {e}", entry.file))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("{} ({}):\n{stderr}", entry.file, output.status));
    }
    for line in stderr.lines().filter(|l| l.contains("warning:")) {
        println!("cargo:warning={line}");
    }
    Ok(())
}

fn object_file_name(source: &str) -> String {
    format!("{}.o", source.trim_end_matches(".c"))
}

fn render_table(
    progs_dir: &Path,
    objects_dir: &Path,
    entries: &[ManifestEntry],
    unavailable: Option<&str>,
) -> String {
    let mut out = String::from("// Generated by build.rs from tests/progs/manifest.toml.\n");
    let _ = writeln!(out, "const UNAVAILABLE: Option<&str> = {unavailable:?};");
    out.push_str("const OBJECTS: &[CorpusObject] = &[\n");
    for entry in entries {
        let name = entry.file.trim_end_matches(".c");
        let source = progs_dir.join(&entry.file);
        let object = objects_dir.join(object_file_name(&entry.file));
        let loads = match &entry.not_loadable_because {
            None => "KernelLoads::Yes".to_owned(),
            Some(reason) => format!("KernelLoads::No {{ reason: {reason:?} }}"),
        };
        let _ = writeln!(
            out,
            "    CorpusObject {{ name: {name:?}, object_path: {:?}, source_path: {:?}, cpu: {:?}, features: &{:?}, kernel_loads: {loads} }},",
            object.to_string_lossy(),
            source.to_string_lossy(),
            entry.cpu,
            entry.features,
        );
    }
    out.push_str("];\n");
    out
}
