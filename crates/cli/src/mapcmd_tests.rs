//! `apiary map` on Apiary's pin files against bpftool 7.1 on kernel maps:
//! both sides get the same map (kernel pinned in bpffs, Apiary pinned in a
//! temporary directory under the same file name) and the same commands,
//! and must print the same stdout and stderr and exit with the same status.

use std::path::{Path, PathBuf};
use std::process::Command;

use apiary_maps::pin::{self, MapBtf};
use apiary_maps::{Map, MapDef, MapType};

use super::render;
use crate::progrun::OutputFormat;

/// A bpffs directory for the kernel's pins and a plain one for Apiary's,
/// both removed at the end.
struct Dirs {
    kernel: PathBuf,
    apiary: PathBuf,
}

impl Drop for Dirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.kernel);
        let _ = std::fs::remove_dir_all(&self.apiary);
    }
}

fn dirs(test: &str) -> Option<Dirs> {
    let skipped = format!("apiary map vs bpftool ({test})");
    if let Err(e) = apiary_kernel::probe() {
        return apiary_testskip::missing(&skipped, format!("bpf() is unavailable: {e}"));
    }
    if let Err(reason) = apiary_testskip::tool("bpftool", "version") {
        return apiary_testskip::skip(&skipped, reason);
    }
    let id = std::process::id();
    let dirs = Dirs {
        kernel: PathBuf::from(format!("/sys/fs/bpf/apiary-mapcmd-{test}-{id}")),
        apiary: std::env::temp_dir().join(format!("apiary-mapcmd-{test}-{id}")),
    };
    std::fs::create_dir_all(&dirs.kernel).expect("bpffs directory");
    std::fs::create_dir_all(&dirs.apiary).expect("temporary directory");
    Some(dirs)
}

fn cpus() -> u32 {
    apiary_kernel::possible_cpus().expect("possible CPUs") as u32
}

/// (stdout, stderr, exit status) of one side.
type Printed = (String, String, u8);

fn bpftool(args: &[&str]) -> Printed {
    let out = Command::new("bpftool")
        .args(args)
        .output()
        .expect("bpftool runs");
    let status = out.status.code().unwrap_or(-1) as u8;
    let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8 output");
    (text(out.stdout), text(out.stderr), status)
}

/// Runs `map COMMAND pinned <pin> ARGS` on both sides and compares.
fn both(
    dirs: &Dirs,
    pin_name: &str,
    command: &str,
    args: &[&str],
    format: OutputFormat,
) -> Printed {
    let kernel_pin = dirs.kernel.join(pin_name);
    let apiary_pin = dirs.apiary.join(pin_name);
    let mut kernel_args = match format {
        OutputFormat::Text => vec![],
        OutputFormat::Json => vec!["-j"],
        OutputFormat::PrettyJson => vec!["-p"],
    };
    kernel_args.extend(["map", command, "pinned", kernel_pin.to_str().expect("path")]);
    kernel_args.extend(args);
    let expected = bpftool(&kernel_args);
    let mut words = vec![command.to_owned(), "pinned".to_owned()];
    words.push(apiary_pin.to_str().expect("path").to_owned());
    words.extend(args.iter().map(|a| a.to_string()));
    let outcome = render(&words, format);
    let fix = |s: &str| {
        s.replace(
            dirs.apiary.to_str().expect("path"),
            dirs.kernel.to_str().expect("path"),
        )
    };
    let got = (
        fix(&outcome.stdout),
        outcome.stderr.map(|l| fix(&l) + "\n").unwrap_or_default(),
        outcome.status,
    );
    assert_eq!(got, expected, "map {command} {args:?} ({format:?})");
    expected
}

/// Runs a command in plain, `-j` and `-p` form.
fn both_forms(dirs: &Dirs, pin_name: &str, command: &str, args: &[&str]) {
    both(dirs, pin_name, command, args, OutputFormat::Text);
    both(dirs, pin_name, command, args, OutputFormat::Json);
    both(dirs, pin_name, command, args, OutputFormat::PrettyJson);
}

/// A kernel map made by `bpftool map create` (of bpftool's type name
/// `kind`) and the same Apiary map, both pinned under the map's name.
fn create_pair(dirs: &Dirs, kind: &str, def: MapDef) {
    let kernel_pin = dirs.kernel.join(&def.name);
    let numbers = [def.key_size, def.value_size, def.max_entries].map(|n| n.to_string());
    let flags = format!("{:#x}", def.map_flags);
    let mut args = vec![
        "map",
        "create",
        kernel_pin.to_str().expect("path"),
        "type",
        kind,
        "key",
        &numbers[0],
        "value",
        &numbers[1],
        "entries",
        &numbers[2],
        "name",
        &def.name,
        "flags",
        &flags,
    ];
    // A map of maps gets an inner array made and pinned first.
    let inner_pin = dirs.kernel.join(format!("{}_inner", def.name));
    if let Some(inner) = &def.inner {
        let sizes = [inner.key_size, inner.value_size, inner.max_entries].map(|n| n.to_string());
        let (_, stderr, status) = bpftool(&[
            "map",
            "create",
            inner_pin.to_str().expect("path"),
            "type",
            "array",
            "key",
            &sizes[0],
            "value",
            &sizes[1],
            "entries",
            &sizes[2],
            "name",
            "inner",
        ]);
        assert_eq!(status, 0, "bpftool map create (inner): {stderr}");
        args.extend(["inner_map", "pinned", inner_pin.to_str().expect("path")]);
    }
    let (_, stderr, status) = bpftool(&args);
    assert_eq!(status, 0, "bpftool map create: {stderr}");
    let apiary_pin = dirs.apiary.join(&def.name);
    let map = Map::create(def, cpus()).expect("apiary map");
    pin::save(&apiary_pin, &map, None).expect("apiary pin");
}

#[test]
fn hostile_pin_files_give_one_error_line() {
    let dir = std::env::temp_dir().join(format!("apiary-mapcmd-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let map = Map::create(MapDef::new(MapType::Hash, 4, 4, 4).with_name("h"), 1).expect("map");
    map.sys_update(&[1, 0, 0, 0], &[2, 0, 0, 0], 0)
        .expect("update");
    let good = pin::encode(&map, None).expect("encode");
    let cases: [(&str, Vec<u8>); 3] = [
        ("garbage", b"not a pin".to_vec()),
        ("truncated", good[..good.len() - 3].to_vec()),
        ("empty", Vec::new()),
    ];
    for (name, bytes) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write");
        let words = [
            "dump".to_owned(),
            "pinned".to_owned(),
            path.display().to_string(),
        ];
        let plain = render(&words, OutputFormat::Text);
        assert_eq!(plain.status, 255, "{name}");
        assert_eq!(plain.stdout, "", "{name}");
        let line = plain.stderr.expect("an error line");
        assert!(
            line.starts_with("Error: ") && !line.contains('\n'),
            "{name}: {line}"
        );
        assert!(
            line.contains("not a usable apiary pinned map"),
            "{name}: {line}"
        );
        let json = render(&words, OutputFormat::Json);
        let parsed: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON error");
        assert!(
            parsed["error"].as_str().is_some_and(|e| e.contains(name)),
            "{name}"
        );
        assert_eq!((json.stderr, json.status), (None, 255));
    }
    // A write to an unchanged, valid pin keeps it loadable.
    let path = dir.join("good");
    std::fs::write(&path, &good).expect("write");
    let words = |w: &[&str]| {
        let mut v = vec![
            "update".to_owned(),
            "pinned".to_owned(),
            path.display().to_string(),
        ];
        v.extend(w.iter().map(|s| s.to_string()));
        v
    };
    let outcome = render(
        &words(&["key", "3", "0", "0", "0", "value", "4", "0", "0", "0"]),
        OutputFormat::Text,
    );
    assert_eq!(outcome.status, 0);
    let back = pin::load(&path).expect("saved back");
    assert_eq!(back.map.sys_lookup(&[3, 0, 0, 0], 0), Ok(vec![4, 0, 0, 0]));
    assert_eq!(back.map.sys_lookup(&[1, 0, 0, 0], 0), Ok(vec![2, 0, 0, 0]));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn array_commands_match_bpftool() {
    let Some(dirs) = dirs("array") else { return };
    create_pair(
        &dirs,
        "array",
        MapDef::new(MapType::Array, 4, 8, 4)
            .with_flags(0)
            .with_name("arr"),
    );
    let steps: &[(&str, &[&str])] = &[
        ("dump", &[]),
        (
            "update",
            &[
                "key", "1", "0", "0", "0", "value", "1", "2", "3", "4", "5", "6", "7", "8",
            ],
        ),
        (
            "update",
            &[
                "key", "hex", "02", "00", "00", "00", "value", "hex", "ff", "ee", "dd", "cc", "bb",
                "aa", "99", "88", "exist",
            ],
        ),
        (
            "update",
            &[
                "value", "0x10", "010", "0377", "0x1ff", "", "+7", "9", "10", "key", "3", "0", "0",
                "0",
            ],
        ),
        (
            "update",
            &[
                "key", "4", "0", "0", "0", "value", "0", "0", "0", "0", "0", "0", "0", "0",
            ],
        ),
        (
            "update",
            &[
                "key", "1", "0", "0", "0", "value", "1", "2", "3", "4", "5", "6", "7", "8",
                "noexist",
            ],
        ),
        ("update", &["key", "1", "0", "0", "0"]),
        (
            "update",
            &[
                "key", "1", "0", "0", "0", "value", "1", "2", "3", "4", "5", "6", "7", "8", "any",
                "exist",
            ],
        ),
        (
            "update",
            &[
                "key", "1", "0", "0", "0", "value", "1", "2", "3", "4", "5", "6", "7", "0x1g",
            ],
        ),
        ("update", &["key", "1", "0", "0", "0", "valeur", "1"]),
        ("delete", &["key", "1", "0", "0", "0"]),
        ("lookup", &["key", "2", "0", "0", "0"]),
        ("lookup", &["key", "9", "0", "0", "0"]),
        ("lookup", &["key", "1", "0", "0"]),
        ("lookup", &["key", "1", "0", "0", "0", "value", "1"]),
        ("lookup", &["key", "1", "0", "0", "0", "key", "1"]),
        ("getnext", &[]),
        ("getnext", &["key", "1", "0", "0", "0"]),
        ("getnext", &["key", "3", "0", "0", "0"]),
        ("getnext", &["key", "7", "0", "0", "0"]),
        ("dump", &[]),
        ("pop", &[]),
    ];
    for (command, args) in steps {
        both_forms(&dirs, "arr", command, args);
    }
    // Unknown pins fail the same way.
    both_forms(&dirs, "missing", "lookup", &["key", "1", "0", "0", "0"]);

    create_pair(
        &dirs,
        "array",
        MapDef::new(MapType::Array, 4, 20, 2)
            .with_flags(0)
            .with_name("wide"),
    );
    let value: Vec<String> = (0..20).map(|i| (i * 13).to_string()).collect();
    let mut args = vec!["key", "1", "0", "0", "0", "value"];
    args.extend(value.iter().map(String::as_str));
    both_forms(&dirs, "wide", "update", &args);
    both_forms(&dirs, "wide", "dump", &[]);
    both_forms(&dirs, "wide", "lookup", &["key", "1", "0", "0", "0"]);
}

#[test]
fn hash_commands_match_bpftool() {
    let Some(dirs) = dirs("hash") else { return };
    // BPF_F_ZERO_SEED: both sides put keys in the same buckets.
    create_pair(
        &dirs,
        "hash",
        MapDef::new(MapType::Hash, 4, 4, 16)
            .with_flags(0x40)
            .with_name("h"),
    );
    for k in [7u8, 1, 200, 33, 64, 5] {
        let k = k.to_string();
        both(
            &dirs,
            "h",
            "update",
            &["key", &k, "0", "0", "1", "value", &k, "1", "2", "3"],
            OutputFormat::Text,
        );
    }
    let steps: &[(&str, &[&str])] = &[
        ("dump", &[]),
        ("delete", &["key", "33", "0", "0", "1"]),
        ("delete", &["key", "33", "0", "0", "1"]),
        (
            "update",
            &[
                "key", "9", "9", "9", "9", "value", "1", "1", "1", "1", "exist",
            ],
        ),
        (
            "update",
            &[
                "key", "7", "0", "0", "1", "value", "1", "1", "1", "1", "noexist",
            ],
        ),
        (
            "update",
            &[
                "key", "7", "0", "0", "1", "value", "2", "2", "2", "2", "exist",
            ],
        ),
        ("lookup", &["key", "7", "0", "0", "1"]),
        ("lookup", &["key", "8", "0", "0", "1"]),
        ("getnext", &[]),
        ("getnext", &["key", "200", "0", "0", "1"]),
        ("getnext", &["key", "8", "8", "8", "8"]),
        ("dump", &[]),
    ];
    for (command, args) in steps {
        both_forms(&dirs, "h", command, args);
    }

    // Long keys and values: bpftool's line breaking.
    create_pair(
        &dirs,
        "hash",
        MapDef::new(MapType::Hash, 20, 40, 4)
            .with_flags(0x40)
            .with_name("long"),
    );
    let key: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    let value: Vec<String> = (0..40).map(|i| (255 - i).to_string()).collect();
    let mut args = vec!["key"];
    args.extend(key.iter().map(String::as_str));
    args.push("value");
    args.extend(value.iter().map(String::as_str));
    both_forms(&dirs, "long", "update", &args);
    both_forms(&dirs, "long", "dump", &[]);
    let mut lookup = vec!["key"];
    lookup.extend(key.iter().map(String::as_str));
    both_forms(&dirs, "long", "lookup", &lookup);
    both_forms(&dirs, "long", "getnext", &lookup);
}

#[test]
fn lpm_trie_and_lru_commands_match_bpftool() {
    let Some(dirs) = dirs("lpm") else { return };
    // BPF_F_NO_PREALLOC, which the kernel requires of tries.
    create_pair(
        &dirs,
        "lpm_trie",
        MapDef::new(MapType::LpmTrie, 8, 4, 8)
            .with_flags(1)
            .with_name("trie"),
    );
    for (prefix, a, b) in [
        ("24", "10", "1"),
        ("8", "10", "2"),
        ("32", "192", "3"),
        ("16", "10", "4"),
    ] {
        let key = ["key", prefix, "0", "0", "0", a, "0", "7", "0"];
        let mut args = key.to_vec();
        args.extend(["value", b, "0", "0", "0"]);
        both(&dirs, "trie", "update", &args, OutputFormat::Text);
    }
    both_forms(&dirs, "trie", "dump", &[]);
    both_forms(&dirs, "trie", "getnext", &[]);
    both_forms(
        &dirs,
        "trie",
        "getnext",
        &["key", "8", "0", "0", "0", "10", "0", "7", "0"],
    );
    both_forms(
        &dirs,
        "trie",
        "lookup",
        &["key", "32", "0", "0", "0", "10", "0", "7", "9"],
    );
    both_forms(
        &dirs,
        "trie",
        "delete",
        &["key", "24", "0", "0", "0", "10", "0", "7", "0"],
    );
    both_forms(
        &dirs,
        "trie",
        "delete",
        &["key", "24", "0", "0", "0", "10", "0", "7", "0"],
    );
    both_forms(&dirs, "trie", "dump", &[]);

    create_pair(
        &dirs,
        "lru_hash",
        MapDef::new(MapType::LruHash, 4, 4, 8)
            .with_flags(0x40)
            .with_name("lru"),
    );
    for k in ["1", "2", "3", "250"] {
        both(
            &dirs,
            "lru",
            "update",
            &["key", k, "0", "0", "0", "value", k, "0", "0", "0"],
            OutputFormat::Text,
        );
    }
    both_forms(&dirs, "lru", "dump", &[]);
    both_forms(&dirs, "lru", "delete", &["key", "2", "0", "0", "0"]);
    both_forms(&dirs, "lru", "dump", &[]);
}

#[test]
fn keyless_and_fd_maps_match_bpftool() {
    let Some(dirs) = dirs("special") else { return };
    create_pair(
        &dirs,
        "perf_event_array",
        MapDef::new(MapType::PerfEventArray, 4, 4, 2).with_name("pe"),
    );
    both_forms(&dirs, "pe", "dump", &[]);
    create_pair(
        &dirs,
        "ringbuf",
        MapDef::new(MapType::Ringbuf, 0, 0, 4096).with_name("rb"),
    );
    both_forms(&dirs, "rb", "dump", &[]);
    create_pair(
        &dirs,
        "bloom_filter",
        MapDef::new(MapType::BloomFilter, 0, 4, 16).with_name("bf"),
    );
    both_forms(&dirs, "bf", "push", &["value", "1", "2", "3", "4"]);
    both_forms(&dirs, "bf", "peek", &[]);
    both_forms(&dirs, "bf", "dump", &[]);
    create_pair(
        &dirs,
        "devmap",
        MapDef::new(MapType::Devmap, 4, 4, 2).with_name("dm"),
    );
    both_forms(&dirs, "dm", "dump", &[]);
    // ifindex 1 is the loopback device.
    both_forms(
        &dirs,
        "dm",
        "update",
        &["key", "1", "0", "0", "0", "value", "1", "0", "0", "0"],
    );
    both_forms(&dirs, "dm", "dump", &[]);
    create_pair(
        &dirs,
        "cpumap",
        MapDef::new(MapType::Cpumap, 4, 4, 2).with_name("cm"),
    );
    both_forms(
        &dirs,
        "cm",
        "update",
        &["key", "1", "0", "0", "0", "value", "0", "1", "0", "0"],
    );
    both_forms(&dirs, "cm", "dump", &[]);
    create_pair(
        &dirs,
        "xskmap",
        MapDef::new(MapType::Xskmap, 4, 4, 2).with_name("xs"),
    );
    both_forms(&dirs, "xs", "dump", &[]);
    for (kind, ty, name) in [
        ("array_of_maps", MapType::ArrayOfMaps, "aom"),
        ("hash_of_maps", MapType::HashOfMaps, "hom"),
    ] {
        let mut def = MapDef::new(ty, 4, 4, 2).with_name(name);
        def.inner = Some(Box::new(MapDef::new(MapType::Array, 4, 4, 1)));
        create_pair(&dirs, kind, def);
        both_forms(&dirs, name, "dump", &[]);
        both_forms(&dirs, name, "lookup", &["key", "0", "0", "0", "0"]);
    }
    create_pair(
        &dirs,
        "prog_array",
        MapDef::new(MapType::ProgArray, 4, 4, 2).with_name("pa"),
    );
    both_forms(&dirs, "pa", "dump", &[]);
    both_forms(&dirs, "pa", "lookup", &["key", "0", "0", "0", "0"]);
    both_forms(&dirs, "pa", "getnext", &[]);
}

#[test]
fn percpu_commands_match_bpftool() {
    let Some(dirs) = dirs("percpu") else { return };
    let def = MapDef::new(MapType::PercpuArray, 4, 4, 2).with_name("pa");
    create_pair(&dirs, "percpu_array", def);
    both_forms(
        &dirs,
        "pa",
        "update",
        &["key", "1", "0", "0", "0", "value", "1", "2", "3", "4"],
    );
    both_forms(&dirs, "pa", "dump", &[]);
    both_forms(&dirs, "pa", "lookup", &["key", "1", "0", "0", "0"]);
    let def = MapDef::new(MapType::PercpuHash, 4, 20, 4)
        .with_flags(0x40)
        .with_name("ph");
    create_pair(&dirs, "percpu_hash", def);
    let value: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    let mut args = vec!["key", "1", "2", "3", "4", "value"];
    args.extend(value.iter().map(String::as_str));
    both_forms(&dirs, "ph", "update", &args);
    both_forms(&dirs, "ph", "dump", &[]);
    both_forms(&dirs, "ph", "lookup", &["key", "1", "2", "3", "4"]);
    both_forms(&dirs, "ph", "lookup", &["key", "1", "2", "3", "5"]);
}

#[test]
fn queue_and_stack_commands_match_bpftool() {
    let Some(dirs) = dirs("queue") else { return };
    for (name, ty, kind) in [
        ("q", MapType::Queue, "queue"),
        ("s", MapType::Stack, "stack"),
    ] {
        create_pair(&dirs, kind, MapDef::new(ty, 0, 4, 3).with_name(name));
        let steps: &[(&str, &[&str])] = &[
            ("peek", &[]),
            ("pop", &[]),
            ("push", &["value", "1", "0", "0", "0"]),
            ("enqueue", &["value", "2", "0", "0", "0"]),
            ("push", &["value", "3", "0", "0", "0"]),
            ("push", &["value", "4", "0", "0", "0"]),
            ("push", &["value", "5", "0", "0", "0", "exist"]),
            ("push", &["key", "1", "value", "5", "0", "0", "0"]),
            ("peek", &[]),
            ("dump", &[]),
            ("pop", &[]),
            ("dequeue", &[]),
            ("pop", &[]),
            ("pop", &[]),
        ];
        for (command, args) in steps {
            both(&dirs, name, command, args, OutputFormat::Text);
        }
        both(
            &dirs,
            name,
            "push",
            &["value", "9", "0", "0", "0"],
            OutputFormat::Json,
        );
        both(&dirs, name, "peek", &[], OutputFormat::Json);
        both(&dirs, name, "pop", &[], OutputFormat::Json);
        both(&dirs, name, "pop", &[], OutputFormat::Json);
    }
}

/// Loads a corpus object into the kernel with `bpftool prog loadall ...
/// pinmaps` and makes the Apiary pin of map `map` from the loader's spec
/// and the object's BTF.
fn corpus_pair(dirs: &Dirs, object: &'static str, map: &str) -> Option<String> {
    let corpus = match apiary_corpus::object(object) {
        Ok(o) => o,
        Err(e) => return apiary_testskip::missing(&format!("{object} vs bpftool"), e),
    };
    let path = corpus.path();
    let progs = dirs.kernel.join("progs");
    let (_, stderr, status) = bpftool(&[
        "prog",
        "loadall",
        path.to_str()?,
        progs.to_str()?,
        "pinmaps",
        dirs.kernel.to_str()?,
    ]);
    assert_eq!(status, 0, "bpftool prog loadall {object}: {stderr}");
    let (apiary_map, btf) = corpus_spec(object, map);
    let spec_name = apiary_map.def().name.clone();
    let file = pin::pin_file_name(&spec_name).expect("pin name");
    assert!(
        Path::new(&dirs.kernel.join(&file)).exists(),
        "bpftool pinned {file}"
    );
    pin::save(&dirs.apiary.join(&file), &apiary_map, btf.as_ref()).expect("apiary pin");
    Some(file)
}

#[test]
fn btf_percpu_and_struct_key_maps_match_bpftool() {
    let Some(dirs) = dirs("btfpercpu") else {
        return;
    };
    let Some(counts) = corpus_pair(&dirs, "xdp_firewall", "verdict_count") else {
        return;
    };
    both_forms(&dirs, &counts, "dump", &[]);
    let update = [
        "key", "2", "0", "0", "0", "value", "7", "0", "0", "0", "0", "0", "0", "1",
    ];
    both_forms(&dirs, &counts, "update", &update);
    both_forms(&dirs, &counts, "lookup", &["key", "2", "0", "0", "0"]);
    both_forms(&dirs, &counts, "lookup", &["key", "9", "0", "0", "0"]);
    both_forms(&dirs, &counts, "dump", &[]);

    // struct rule_key { u8 proto; u8 pad; u16 dport; } -> u32 action
    let rules = pin::pin_file_name("rules").expect("pin name");
    let (kernel_rules, apiary_rules) = (dirs.kernel.join(&rules), dirs.apiary.join(&rules));
    assert!(kernel_rules.exists(), "bpftool pinned {rules}");
    let rules_spec = corpus_spec("xdp_firewall", "rules");
    pin::save(&apiary_rules, &rules_spec.0, rules_spec.1.as_ref()).expect("apiary pin");
    let update = ["key", "6", "0", "0x50", "0", "value", "1", "0", "0", "0"];
    both_forms(&dirs, &rules, "update", &update);
    both_forms(&dirs, &rules, "dump", &[]);
    both_forms(&dirs, &rules, "lookup", &["key", "6", "0", "0x50", "0"]);
    both_forms(&dirs, &rules, "getnext", &[]);
}

#[test]
fn global_data_maps_match_bpftool() {
    let Some(dirs) = dirs("globaldata") else {
        return;
    };
    let names = [
        "global_d.bss",
        "global_d.data",
        "global_d.rodata",
        ".data.counters",
        ".rodata.limits",
        ".rodata.str1.1",
    ];
    let Some(first) = corpus_pair(&dirs, "global_data", names[0]) else {
        return;
    };
    both_forms(&dirs, &first, "dump", &[]);
    for name in &names[1..] {
        let file = pin::pin_file_name(name).expect("pin name");
        let (map, btf) = corpus_spec("global_data", name);
        pin::save(&dirs.apiary.join(&file), &map, btf.as_ref()).expect("apiary pin");
        both_forms(&dirs, &file, "dump", &[]);
        both_forms(&dirs, &file, "lookup", &["key", "0", "0", "0", "0"]);
    }
    let update = [
        "key", "0", "0", "0", "0", "value", "7", "0", "0", "0", "0", "0", "0", "0",
    ];
    let mut update = update.to_vec();
    update.extend(["5", "0", "0", "0"]);
    both_forms(&dirs, &first, "update", &update);
    both_forms(&dirs, &first, "dump", &[]);
}

#[test]
fn pin_file_names_are_those_of_bpftool_pinmaps() {
    for object in [
        "global_data",
        "xdp_firewall",
        "map_in_map",
        "cgroup_sock_addr",
    ] {
        let Some(dirs) = dirs(object) else { return };
        let corpus = match apiary_corpus::object(object) {
            Ok(o) => o,
            Err(e) => return apiary_testskip::missing(&format!("pin names of {object}"), e),
        };
        let progs = dirs.kernel.join("progs");
        let maps = dirs.kernel.join("maps");
        let (_, stderr, status) = bpftool(&[
            "prog",
            "loadall",
            corpus.path().to_str().expect("path"),
            progs.to_str().expect("path"),
            "pinmaps",
            maps.to_str().expect("path"),
        ]);
        assert_eq!(status, 0, "bpftool prog loadall {object}: {stderr}");
        let mut kernel: Vec<String> = std::fs::read_dir(&maps)
            .expect("pinmaps directory")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        kernel.sort();
        let loaded = apiary_loader::Object::open(corpus.path()).expect("loader");
        let mut ours: Vec<String> = loaded
            .maps
            .iter()
            .map(|m| pin::pin_file_name(&m.name).expect("pin name"))
            .collect();
        ours.sort();
        assert_eq!(ours, kernel, "{object}");
    }
}

/// An Apiary map made from the loader's spec of `map` in a corpus
/// object, as the runtime creates it (with its initial data), and the
/// BTF `prog run --pin-maps` saves with it.
fn corpus_spec(object: &'static str, map: &str) -> (Map, Option<MapBtf>) {
    let path = apiary_corpus::object(object).expect("corpus object").path();
    let loaded = apiary_loader::Object::open(path).expect("loader opens the corpus object");
    let spec = loaded
        .maps
        .iter()
        .find(|m| m.name == map)
        .expect("map in object");
    let created =
        Map::create(apiary_runtime::map_def_for(spec, cpus()), cpus()).expect("apiary map");
    if !spec.initial_data.is_empty() {
        created
            .sys_update(&0u32.to_ne_bytes(), &spec.initial_data, 0)
            .expect("initial data");
    }
    (created, crate::pinning::map_btf(&loaded, spec))
}

/// `-j map dump` elements sorted, for maps whose hash seed is random.
fn sorted_dump(dirs: &Dirs, file: &str) {
    let kernel = bpftool(&[
        "-j",
        "map",
        "dump",
        "pinned",
        dirs.kernel.join(file).to_str().expect("path"),
    ]);
    let apiary = render(
        &[
            "dump".into(),
            "pinned".into(),
            dirs.apiary.join(file).to_str().expect("path").into(),
        ],
        OutputFormat::Json,
    );
    let sorted = |text: &str| {
        let mut v: Vec<serde_json::Value> = serde_json::from_str(text).expect("JSON array");
        v.sort_by_key(|e| e.to_string());
        v
    };
    assert_eq!(sorted(&apiary.stdout), sorted(&kernel.0));
}

#[test]
fn btf_struct_maps_from_corpus_objects_match_bpftool() {
    let Some(dirs) = dirs("btf") else { return };
    let Some(buckets) = corpus_pair(&dirs, "spin_lock", "buckets") else {
        return;
    };
    // struct bucket { bpf_spin_lock lock; u32 tokens, burst, rate_per_sec; u64 last_refill_ns; }
    let mut value = vec!["9", "9", "9", "9"];
    value.extend([
        "100", "0", "0", "0", "200", "0", "0", "0", "0xff", "0xff", "0", "0",
    ]);
    value.extend(["1", "2", "3", "4", "5", "6", "7", "0x80"]);
    let mut update = vec!["key", "5", "0", "0", "0", "value"];
    update.extend(&value);
    both_forms(&dirs, &buckets, "update", &update);
    both_forms(&dirs, &buckets, "dump", &[]);
    both_forms(&dirs, &buckets, "lookup", &["key", "5", "0", "0", "0"]);
    both_forms(&dirs, &buckets, "lookup", &["key", "6", "0", "0", "0"]);
    both_forms(&dirs, &buckets, "getnext", &[]);
    update[1] = "6";
    both_forms(&dirs, &buckets, "update", &update);
    sorted_dump(&dirs, &buckets);
    both_forms(&dirs, &buckets, "delete", &["key", "5", "0", "0", "0"]);
    both_forms(&dirs, &buckets, "dump", &[]);

    let Some(redirects) = corpus_pair(&dirs, "cgroup_sock_addr", "redirects") else {
        return;
    };
    let endpoint = ["10", "0", "0", "1", "0x1f", "0x90", "0", "0"];
    let mut update = vec!["key"];
    update.extend(endpoint);
    update.push("value");
    update.extend(["127", "0", "0", "1", "0", "80", "0", "0"]);
    both_forms(&dirs, &redirects, "update", &update);
    both_forms(&dirs, &redirects, "dump", &[]);
    let mut lookup = vec!["key"];
    lookup.extend(endpoint);
    both_forms(&dirs, &redirects, "lookup", &lookup);
    lookup[1] = "11";
    both_forms(&dirs, &redirects, "lookup", &lookup);
}
