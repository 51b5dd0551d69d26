//! Compiles every C program listed in `tests/progs/manifest.toml` with
//! clang into `OUT_DIR/progs/<name>.o`, every example listed in
//! `examples/manifest.toml` into `OUT_DIR/examples/<name>.o`, and generates
//! the tables the crate exposes (`OUT_DIR/corpus_table.rs`).
//!
//! A missing clang is not an error: the table then records why, so tests can
//! skip loudly. A malformed manifest, a `.c` file missing from its manifest
//! or a compile error in any corpus or example file fails the build: both
//! collections must stay compilable and completely described.

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
    /// Compile with `-g` (BTF); older clang objects have none.
    debug: bool,
    /// Symbols turned from `STT_FUNC` into global `STT_NOTYPE`, as older
    /// clang wrote program symbols.
    notype: Vec<String>,
    /// Symbols removed, leaving their section to name the program.
    strip: Vec<String>,
}

const ALLOWED_CPUS: [&str; 4] = ["v1", "v2", "v3", "v4"];

/// How a collection lays out its sources.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `tests/progs/<name>.c`.
    Flat,
    /// `examples/<name>/<name>.c`.
    DirectoryPerProgram,
}

/// One manifest-described set of C programs and where its objects go.
struct Collection {
    /// Source root, relative to the workspace root (for messages).
    label: &'static str,
    layout: Layout,
    /// Subdirectory of OUT_DIR for the objects.
    out_subdir: &'static str,
    /// Name of the generated `&[CorpusObject]` constant.
    table_name: &'static str,
    /// Whether entries may rewrite their symbols (`debug`, `notype`,
    /// `strip`), which needs llvm-objcopy.
    legacy: bool,
}

const COLLECTIONS: [Collection; 3] = [
    Collection {
        label: "tests/progs",
        layout: Layout::Flat,
        out_subdir: "progs",
        table_name: "OBJECTS",
        legacy: false,
    },
    Collection {
        label: "examples",
        layout: Layout::DirectoryPerProgram,
        out_subdir: "examples",
        table_name: "EXAMPLES",
        legacy: false,
    },
    Collection {
        label: "tests/progs/legacy",
        layout: Layout::Flat,
        out_subdir: "legacy",
        table_name: "LEGACY",
        legacy: true,
    },
];

/// The LLVM tool that removes legacy objects' symbols.
const OBJCOPY: &str = "llvm-objcopy-19";

/// Why `tool --version` cannot run, if it cannot.
fn missing(tool: &str) -> Option<String> {
    match Command::new(tool).arg("--version").output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!("`{tool} --version` failed ({})", out.status)),
        Err(e) => Some(format!("cannot run `{tool}`: {e}")),
    }
}

/// Makes cargo run this script again once `tool` appears on `PATH`:
/// otherwise a build made before clang was installed keeps its empty corpus
/// (cargo reruns a script whose watched path does not exist).
fn watch_for_install(tool: &str) {
    let candidates: Vec<PathBuf> = if tool.contains('/') {
        vec![PathBuf::from(tool)]
    } else {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|dir| dir.join(tool))
            .collect()
    };
    // The path itself reruns the script while it is missing; its directory
    // (whose mtime an install changes) once it exists, as installed files
    // keep their package's older mtimes.
    for path in candidates {
        println!("cargo:rerun-if-changed={}", path.display());
        if let Some(dir) = path.parent() {
            println!("cargo:rerun-if-changed={}", dir.display());
        }
    }
}

fn main() {
    let crate_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(env("OUT_DIR"));
    println!("cargo:rerun-if-env-changed=APIARY_CLANG");

    let collections: Vec<(&Collection, PathBuf, Vec<ManifestEntry>)> = COLLECTIONS
        .iter()
        .map(|collection| {
            let root = crate_dir.join("../..").join(collection.label);
            let root = root.canonicalize().unwrap_or_else(|e| {
                panic!("{} directory {}: {e}", collection.label, root.display())
            });
            let manifest_path = root.join("manifest.toml");
            println!("cargo:rerun-if-changed={}", root.display());
            println!("cargo:rerun-if-changed={}", manifest_path.display());
            let entries = read_manifest(&manifest_path, collection);
            check_every_source_listed(&root, collection, &entries);
            for entry in &entries {
                println!(
                    "cargo:rerun-if-changed={}",
                    root.join(&entry.file).display()
                );
            }
            (collection, root, entries)
        })
        .collect();

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

    if unavailable.is_some() {
        watch_for_install(&clang);
    }

    let mut table = String::from(
        "// Generated by build.rs from tests/progs/manifest.toml and examples/manifest.toml.\n",
    );
    let legacy_unavailable = unavailable.clone().or_else(|| missing(OBJCOPY));
    let _ = writeln!(table, "const UNAVAILABLE: Option<&str> = {unavailable:?};");
    let _ = writeln!(
        table,
        "const LEGACY_UNAVAILABLE: Option<&str> = {legacy_unavailable:?};"
    );
    for (collection, root, entries) in &collections {
        let objects_dir = out_dir.join(collection.out_subdir);
        let skip = if collection.legacy {
            &legacy_unavailable
        } else {
            &unavailable
        };
        if skip.is_none() {
            std::fs::create_dir_all(&objects_dir)
                .unwrap_or_else(|e| panic!("creating {}: {e}", objects_dir.display()));
            compile_all(&clang, root, &objects_dir, entries);
        }
        render_table(
            &mut table,
            collection.table_name,
            root,
            &objects_dir,
            entries,
        );
    }
    if let Some(reason) = &unavailable {
        println!("cargo:warning=apiary-corpus: corpus and examples not compiled: {reason}");
    }
    let table_path = out_dir.join("corpus_table.rs");
    std::fs::write(&table_path, table)
        .unwrap_or_else(|e| panic!("writing {}: {e}", table_path.display()));
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("cargo did not set {name}"))
}

fn read_manifest(path: &Path, collection: &Collection) -> Vec<ManifestEntry> {
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
            let entry = parse_entry(value, collection)
                .unwrap_or_else(|e| panic!("{}: object #{}: {e}", path.display(), index + 1));
            if !seen.insert(entry.file.clone()) {
                panic!("{}: {} is listed twice", path.display(), entry.file);
            }
            entry
        })
        .collect()
}

fn parse_entry(value: &toml::Value, collection: &Collection) -> Result<ManifestEntry, String> {
    let table = value.as_table().ok_or("not a table")?;
    for key in table.keys() {
        if ![
            "file",
            "cpu",
            "features",
            "kernel_loads",
            "not_loadable_because",
            "debug",
            "notype",
            "strip",
        ]
        .contains(&key.as_str())
        {
            return Err(format!("unknown key `{key}`"));
        }
        if !collection.legacy && ["debug", "notype", "strip"].contains(&key.as_str()) {
            return Err(format!("`{key}` is only for tests/progs/legacy"));
        }
    }
    let names = |key: &str| -> Result<Vec<String>, String> {
        table.get(key).map_or(Ok(Vec::new()), |value| {
            value
                .as_array()
                .ok_or(format!("`{key}` must be an array of symbol names"))?
                .iter()
                .map(|n| {
                    n.as_str()
                        .map(str::to_owned)
                        .ok_or(format!("`{key}` must hold strings"))
                })
                .collect()
        })
    };
    let debug = match table.get("debug") {
        None => true,
        Some(value) => value.as_bool().ok_or("`debug` must be a boolean")?,
    };
    let string = |key: &str| -> Result<Option<String>, String> {
        match table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("`{key}` must be a string")),
        }
    };
    let file = string("file")?.ok_or("missing `file`")?;
    let well_formed = file.ends_with(".c")
        && !file.starts_with('.')
        && match collection.layout {
            Layout::Flat => !file.contains('/'),
            Layout::DirectoryPerProgram => file
                .split_once('/')
                .is_some_and(|(dir, name)| name.strip_suffix(".c") == Some(dir)),
        };
    if !well_formed {
        let expected = match collection.layout {
            Layout::Flat => "<name>.c",
            Layout::DirectoryPerProgram => "<name>/<name>.c",
        };
        return Err(format!(
            "`file` = {file:?} must be {expected} in {}",
            collection.label
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
        debug,
        notype: names("notype")?,
        strip: names("strip")?,
    })
}

/// The `.c` files of a collection, relative to its root: directly in it
/// (flat) or one directory down (one directory per program).
fn c_sources(root: &Path, layout: Layout) -> Vec<String> {
    let list = |dir: &Path| -> Vec<(String, bool)> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
            .map(|item| {
                let item = item.unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
                let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
                (item.file_name().to_string_lossy().into_owned(), is_dir)
            })
            .collect()
    };
    let mut sources = Vec::new();
    for (name, is_dir) in list(root) {
        match layout {
            Layout::Flat if name.ends_with(".c") => sources.push(name),
            Layout::DirectoryPerProgram if is_dir => sources.extend(
                list(&root.join(&name))
                    .into_iter()
                    .filter(|(file, _)| file.ends_with(".c"))
                    .map(|(file, _)| format!("{name}/{file}")),
            ),
            _ => {}
        }
    }
    sources
}

fn check_every_source_listed(root: &Path, collection: &Collection, entries: &[ManifestEntry]) {
    let label = collection.label;
    let listed: BTreeSet<&str> = entries.iter().map(|e| e.file.as_str()).collect();
    for name in c_sources(root, collection.layout) {
        if !listed.contains(name.as_str()) {
            panic!("{label}/{name} is not listed in {label}/manifest.toml");
        }
    }
    for file in &listed {
        if !root.join(file).is_file() {
            panic!("{label}/manifest.toml lists {file}, which does not exist");
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
        .args(["-target", "bpf", "-O2", "-Wall", "-c"])
        .args(entry.debug.then_some("-g"))
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
    rewrite_symbols(&object, entry)
}

/// Gives the object the symbols older clang wrote: `notype` symbols
/// become `STT_NOTYPE` of size 0 in place (so that relocations naming them
/// still do), `strip` ones vanish (llvm-objcopy).
fn rewrite_symbols(object: &Path, entry: &ManifestEntry) -> Result<(), String> {
    let fail = |what: String| format!("{}: {what}", entry.file);
    if !entry.notype.is_empty() {
        let mut bytes = std::fs::read(object).map_err(|e| fail(e.to_string()))?;
        for name in &entry.notype {
            let at = symbol_entry(&bytes, name)
                .ok_or_else(|| fail(format!("no symbol {name} to make NOTYPE")))?;
            // st_info keeps its binding (high nibble); STT_NOTYPE is 0.
            bytes[at + 4] &= 0xf0;
            bytes[at + 16..at + 24].fill(0);
        }
        std::fs::write(object, bytes).map_err(|e| fail(e.to_string()))?;
    }
    if entry.strip.is_empty() {
        return Ok(());
    }
    let args: Vec<String> = entry
        .strip
        .iter()
        .map(|name| format!("--strip-symbol={name}"))
        .collect();
    let output = Command::new(OBJCOPY)
        .args(&args)
        .arg(object)
        .output()
        .map_err(|e| fail(format!("cannot run {OBJCOPY}: {e}")))?;
    if !output.status.success() {
        return Err(fail(format!(
            "{OBJCOPY} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(())
}

/// File offset of the ELF64 little-endian symbol-table entry named `name`
/// (the objects are clang's own output, so only their names are unknown).
fn symbol_entry(elf: &[u8], name: &str) -> Option<usize> {
    let word = |at: usize, len: usize| -> Option<usize> {
        let bytes = elf.get(at..at + len)?;
        let mut value = [0u8; 8];
        value[..len].copy_from_slice(bytes);
        usize::try_from(u64::from_le_bytes(value)).ok()
    };
    let (shoff, shentsize, shnum) = (word(0x28, 8)?, word(0x3a, 2)?, word(0x3c, 2)?);
    let header = |index: usize| shoff + index * shentsize;
    let symtab = (0..shnum)
        .map(header)
        .find(|&h| word(h + 4, 4) == Some(2))?;
    let strings = word(header(word(symtab + 0x28, 4)?) + 0x18, 8)?;
    let (start, size) = (word(symtab + 0x18, 8)?, word(symtab + 0x20, 8)?);
    (start..start + size).step_by(24).find(|&sym| {
        word(sym, 4)
            .and_then(|off| elf.get(strings + off..))
            .and_then(|rest| rest.split(|b| *b == 0).next())
            == Some(name.as_bytes())
    })
}

/// `<stem>.o` for `<stem>.c` or `<dir>/<stem>.c`.
fn object_file_name(source: &str) -> String {
    format!("{}.o", program_name(source))
}

fn program_name(source: &str) -> &str {
    let file = source.rsplit('/').next().unwrap_or(source);
    file.trim_end_matches(".c")
}

fn render_table(
    out: &mut String,
    table_name: &str,
    progs_dir: &Path,
    objects_dir: &Path,
    entries: &[ManifestEntry],
) {
    let _ = writeln!(out, "const {table_name}: &[CorpusObject] = &[");
    for entry in entries {
        let name = program_name(&entry.file);
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
}
