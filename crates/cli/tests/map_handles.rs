//! `apiary map` with bpftool's whole `MAP` grammar: kernel maps by `id`
//! and `name` and pins bpftool made on a bpffs, read through `bpf()` and
//! printed exactly as bpftool prints them; `map show|list` of the kernel's
//! maps, of a pin directory and of an object file; and `--pin-maps`
//! creating only the last component of its directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{apiary, assert_one_line_error, firewall, kernel_and_bpftool, scratch, text};

/// A directory on the bpffs, removed with everything pinned in it on drop.
struct BpffsDir(PathBuf);

impl BpffsDir {
    fn new(test: &str) -> BpffsDir {
        let dir = PathBuf::from(format!("/sys/fs/bpf/apiary-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        BpffsDir(dir)
    }
}

impl Drop for BpffsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn bpftool(args: &[&str]) -> Output {
    Command::new("bpftool")
        .args(args)
        .output()
        .expect("running bpftool")
}

/// stdout, stderr and status, for comparing both tools.
fn printed(output: &Output) -> (String, String, Option<i32>) {
    (
        text(&output.stdout),
        text(&output.stderr),
        output.status.code(),
    )
}

fn assert_same(args: &[&str]) {
    let ours = printed(&apiary(&[&["map"], args].concat()));
    let theirs = printed(&bpftool(&[&["map"], args].concat()));
    assert_eq!(
        ours, theirs,
        "apiary (left) and bpftool differ on map {args:?}"
    );
}

fn map_id(pin: &str) -> String {
    let shown = bpftool(&["-j", "map", "show", "pinned", pin]);
    let info: serde_json::Value = serde_json::from_slice(&shown.stdout).expect("bpftool's JSON");
    info["id"].as_u64().expect("an id").to_string()
}

/// `apiary prog run OBJECT data_in FRAME --pin-maps DIR`.
fn run_with_pins(object: &Path, frame: &Path, dir: &Path) -> Output {
    apiary(&[
        "prog",
        "run",
        object.to_str().unwrap(),
        "data_in",
        frame.to_str().unwrap(),
        "--pin-maps",
        dir.to_str().unwrap(),
    ])
}

/// Maps bpftool loaded and pinned, read by pin, id and name: every read
/// prints what bpftool prints, and changes through `id` are the kernel's.
#[test]
fn kernel_maps_by_pin_id_and_name_print_as_bpftool() {
    let test = "kernel maps by pin, id and name";
    let (true, Some(object)) = (kernel_and_bpftool(test), firewall(test)) else {
        return;
    };
    let dir = BpffsDir::new("map-handles");
    let progs = dir.0.join("progs");
    let maps = dir.0.join("maps");
    std::fs::create_dir_all(&dir.0).unwrap();
    let loaded = bpftool(&[
        "prog",
        "loadall",
        object.to_str().unwrap(),
        progs.to_str().unwrap(),
        "pinmaps",
        maps.to_str().unwrap(),
    ]);
    assert!(loaded.status.success(), "{}", text(&loaded.stderr));
    let blocklist = maps.join("blocklist");
    let blocklist = blocklist.to_str().unwrap();
    let rule_hits = maps.join("rule_hits");
    let rule_hits = rule_hits.to_str().unwrap();
    let key = ["key", "24", "0", "0", "0", "192", "0", "2", "0"];
    let added = bpftool(
        &[
            &["map", "update", "pinned", blocklist],
            &key[..],
            &["value", "1", "0", "0", "0"],
        ]
        .concat(),
    );
    assert!(added.status.success(), "{}", text(&added.stderr));

    let id = map_id(blocklist);
    for pin in [blocklist, rule_hits] {
        assert_same(&["dump", "pinned", pin]);
        assert_same(&["-j", "dump", "pinned", pin]);
        assert_same(&["show", "pinned", pin]);
        assert_same(&["-j", "show", "pinned", pin]);
        assert_same(&["getnext", "pinned", pin]);
    }
    assert_same(&["dump", "id", &id]);
    assert_same(&["show", "id", &id]);
    assert_same(&[&["lookup", "id", &id], &key[..]].concat());
    assert_same(&["dump", "id", "4294967295"]);
    assert_same(&["dump", "id", "12x"]);

    // A changed element through `id` is the kernel's change.
    let changed = apiary(
        &[
            &["map", "update", "id", &id],
            &key[..],
            &["value", "9", "0", "0", "0"],
        ]
        .concat(),
    );
    assert!(changed.status.success(), "{}", text(&changed.stderr));
    let seen = bpftool(&[&["-j", "map", "lookup", "pinned", blocklist], &key[..]].concat());
    let seen: serde_json::Value = serde_json::from_slice(&seen.stdout).unwrap();
    assert_eq!(seen["formatted"]["value"], 9, "{seen}");
    let removed = apiary(&[&["map", "delete", "pinned", blocklist], &key[..]].concat());
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    assert_same(&["dump", "pinned", blocklist]);

    // A name no other map has: bpftool creates the map, both read it.
    let name = format!("apt{}", std::process::id() % 1_000_000);
    let named = dir.0.join("named");
    let created = bpftool(&[
        "map",
        "create",
        named.to_str().unwrap(),
        "type",
        "hash",
        "key",
        "4",
        "value",
        "8",
        "entries",
        "8",
        "name",
        &name,
    ]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let value = ["value", "5", "0", "0", "0", "0", "0", "0", "0"];
    let filled = bpftool(
        &[
            &["map", "update", "name", &name, "key", "1", "0", "0", "0"],
            &value[..],
        ]
        .concat(),
    );
    assert!(filled.status.success(), "{}", text(&filled.stderr));
    assert_same(&["dump", "name", &name]);
    assert_same(&["show", "name", &name]);
    assert_same(&["-j", "show", "name", &name]);
    // A second map of the same name: dump and show take both, each under
    // its header; commands on one element refuse the ambiguity.
    let twin = dir.0.join("twin");
    let created = bpftool(&[
        "map",
        "create",
        twin.to_str().unwrap(),
        "type",
        "array",
        "key",
        "4",
        "value",
        "4",
        "entries",
        "2",
        "name",
        &name,
    ]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    assert_same(&["dump", "name", &name]);
    assert_same(&["-j", "dump", "name", &name]);
    assert_same(&["-p", "dump", "name", &name]);
    assert_same(&["show", "name", &name]);
    assert_same(&["lookup", "name", &name, "key", "1", "0", "0", "0"]);
    // bpftool prints nothing for a name no map has; Apiary says so.
    let none = apiary(&["map", "dump", "name", "apiary_none"]);
    assert_eq!(text(&none.stderr), "Error: no map named 'apiary_none'\n");
    assert_eq!(none.status.code(), Some(255));

    // `map show DIR` on the bpffs lists the pins with bpftool's lines
    // for each, and `map show` alone lists them among all.
    let listed = text(&apiary(&["map", "show", maps.to_str().unwrap()]).stdout);
    for pin in [blocklist, rule_hits] {
        let one = text(&bpftool(&["map", "show", "pinned", pin]).stdout);
        let (header, rest) = one.split_once('\n').unwrap();
        let (sizes, btf) = rest.split_once('\n').unwrap();
        let expected = format!("{header}\n{sizes}\n\tpinned {pin}\n{btf}");
        assert!(listed.contains(&expected), "{listed}\nlacks\n{expected}");
    }
    let all = text(&apiary(&["map", "list"]).stdout);
    let one = text(&bpftool(&["map", "show", "pinned", blocklist]).stdout);
    assert!(all.contains(&one), "{all}\nlacks\n{one}");

    // An object's maps are those the kernel made of it.
    let from_object: serde_json::Value =
        serde_json::from_slice(&apiary(&["-j", "map", "show", object.to_str().unwrap()]).stdout)
            .unwrap();
    let from_object = from_object.as_array().unwrap();
    assert_eq!(from_object.len(), 2, "{from_object:?}");
    for map in from_object {
        let pin = maps.join(map["name"].as_str().unwrap());
        let kernel: serde_json::Value = serde_json::from_slice(
            &bpftool(&["-j", "map", "show", "pinned", pin.to_str().unwrap()]).stdout,
        )
        .unwrap();
        for key in [
            "type",
            "name",
            "flags",
            "bytes_key",
            "bytes_value",
            "max_entries",
        ] {
            assert_eq!(map[key], kernel[key], "{key} of {map}");
        }
    }
}

/// Per-CPU values, queues and bloom filters of kernel maps print as
/// bpftool prints them, and popping through Apiary takes the kernel's head.
#[test]
fn kernel_per_cpu_queue_and_bloom_maps_print_as_bpftool() {
    if !kernel_and_bpftool("kernel per-CPU, queue and bloom maps") {
        return;
    }
    let dir = BpffsDir::new("map-types");
    std::fs::create_dir_all(&dir.0).unwrap();
    let pin = |name: &str| dir.0.join(name).to_str().unwrap().to_owned();
    let (percpu, queue, bloom) = (pin("percpu"), pin("queue"), pin("bloom"));
    for args in [
        &[
            "map",
            "create",
            &percpu,
            "type",
            "percpu_hash",
            "key",
            "4",
            "value",
            "4",
            "entries",
            "4",
            "name",
            "t_percpu",
        ][..],
        &[
            "map", "update", "pinned", &percpu, "key", "1", "0", "0", "0", "value", "3", "0", "0",
            "0",
        ][..],
        &[
            "map", "create", &queue, "type", "queue", "key", "0", "value", "4", "entries", "4",
            "name", "t_queue",
        ][..],
        &["map", "push", "pinned", &queue, "value", "5", "0", "0", "0"][..],
        &["map", "push", "pinned", &queue, "value", "6", "0", "0", "0"][..],
        &[
            "map",
            "create",
            &bloom,
            "type",
            "bloom_filter",
            "key",
            "0",
            "value",
            "4",
            "entries",
            "4",
            "name",
            "t_bloom",
        ][..],
        &["map", "push", "pinned", &bloom, "value", "9", "0", "0", "0"][..],
    ] {
        let made = bpftool(args);
        assert!(
            made.status.success(),
            "bpftool {args:?}: {}",
            text(&made.stderr)
        );
    }
    assert_same(&["dump", "pinned", &percpu]);
    assert_same(&["-j", "dump", "pinned", &percpu]);
    assert_same(&["lookup", "pinned", &percpu, "key", "1", "0", "0", "0"]);
    assert_same(&["peek", "pinned", &queue]);
    assert_same(&["dump", "pinned", &queue]);
    assert_same(&["peek", "pinned", &bloom, "value", "9", "0", "0", "0"]);
    assert_same(&["-j", "show", "pinned", &bloom]);
    // Apiary pops the head (5), bpftool the next (6), in the same shape.
    let ours = text(&apiary(&["-j", "map", "pop", "pinned", &queue]).stdout);
    assert_same(&["peek", "pinned", &queue]);
    let theirs = text(&bpftool(&["-j", "map", "pop", "pinned", &queue]).stdout);
    assert!(ours.contains("\"0x05\""), "{ours}");
    assert_eq!(ours.replace("0x05", "0x06"), theirs);
}

/// Apiary's own pins: `map show DIR` lists what `--pin-maps DIR` saved,
/// `-j` with bpftool's keys.
#[test]
fn map_show_lists_a_pin_directory() {
    let Some(object) = firewall("map show of a pin directory") else {
        return;
    };
    let dir = scratch("show-pins");
    let _ = std::fs::remove_dir_all(&dir);
    let frames = scratch("show-pins.bin");
    let mut frame = vec![0u8; 60];
    frame[12] = 0x08;
    frame[14] = 0x45;
    std::fs::write(&frames, frame).unwrap();
    let run = run_with_pins(&object, &frames, &dir);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let listed = text(&apiary(&["map", "show", dir.to_str().unwrap()]).stdout);
    let blocklist = dir.join("blocklist");
    assert!(
        listed.contains(&format!(
            "{}: lpm_trie  name blocklist  flags 0x1\n\tkey 8B  value 4B  max_entries 4096\n",
            blocklist.display()
        )),
        "{listed}"
    );
    let json: serde_json::Value = serde_json::from_slice(
        &apiary(&["-j", "map", "list", "pinned", dir.to_str().unwrap()]).stdout,
    )
    .unwrap();
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["blocklist", "rule_hits"]);
    assert_eq!(json[0]["pinned"][0], blocklist.to_str().unwrap());
    assert_eq!(json[1]["bytes_value"], 16);
    let one: serde_json::Value = serde_json::from_slice(
        &apiary(&["-j", "map", "show", "pinned", blocklist.to_str().unwrap()]).stdout,
    )
    .unwrap();
    assert_eq!(one["type"], "lpm_trie", "{one}");
}

/// The selectors bpftool takes are understood (no "expected 'id', got:
/// 'id'"), and bad ones get bpftool's one-line errors.
#[test]
fn map_selectors_follow_bpftools_grammar() {
    let unparsed = apiary(&["map", "dump", "id", "12x"]);
    assert_eq!(text(&unparsed.stderr), "Error: can't parse 12x as ID\n");
    let unknown = apiary(&["map", "dump", "idx", "1"]);
    assert_eq!(
        text(&unknown.stderr),
        "Error: expected 'id', 'name' or 'pinned', got: 'idx'?\n"
    );
    let long = apiary(&["map", "dump", "name", "a_name_of_sixteen"]);
    assert_eq!(text(&long.stderr), "Error: can't parse name\n");
    let by_id = text(&apiary(&["map", "dump", "id", "4294967295"]).stderr);
    assert!(!by_id.contains("expected 'id'"), "{by_id}");
    assert!(
        by_id == "Error: get map by id (4294967295): No such file or directory\n"
            || by_id.contains("is a kernel map: reading it needs bpf()"),
        "{by_id}"
    );
}

/// `--pin-maps` makes only its last component, inside an existing
/// directory, as bpftool's `pinmaps` does, and says so before running.
#[test]
fn pin_maps_creates_only_the_last_component() {
    let Some(object) = firewall("--pin-maps directory creation") else {
        return;
    };
    let frames = scratch("pin-dir.bin");
    std::fs::write(&frames, [0u8; 60]).unwrap();
    let run = |dir: &Path| run_with_pins(&object, &frames, dir);
    let missing = scratch("no-such-parent");
    let _ = std::fs::remove_dir_all(&missing);
    let nested = missing.join("dir").join("x");
    assert_one_line_error(&run(&nested), "only the last component of DIR is created");
    assert!(!missing.exists(), "a parent directory was created");
    let leaf = scratch("pin-leaf");
    let _ = std::fs::remove_dir_all(&leaf);
    let made = run(&leaf);
    assert!(made.status.success(), "{}", text(&made.stderr));
    assert!(leaf.join("blocklist").is_file());
}

/// Without the privileges `bpf()` needs, kernel maps (by id, by name, a
/// bpffs pin, the listing) each get one line saying so; Apiary's own pins
/// still work. Runs the binary as user `nobody` through `setpriv`.
#[test]
fn kernel_maps_without_privileges_say_what_is_needed() {
    let test = "map commands without privileges";
    let as_root = Command::new("id").arg("-u").output();
    if !as_root.is_ok_and(|o| text(&o.stdout).trim() == "0") {
        return apiary_testskip::missing(test, "root (the test drops root privileges)");
    }
    let unprivileged = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_apiary"))
            .args(args)
            .current_dir(std::env::temp_dir())
            .output()
    };
    let probe = match unprivileged(&["--version"]) {
        Ok(probe) => probe,
        Err(e) => return apiary_testskip::missing(test, format!("setpriv cannot be run: {e}")),
    };
    if !probe.status.success() {
        return apiary_testskip::refused(
            test,
            "running the binary as user nobody",
            text(&probe.stderr),
        );
    }
    for (args, expected) in [
        (
            &["map", "dump", "id", "1"][..],
            "Error: map id 1 is a kernel map: reading it needs bpf(): ",
        ),
        (
            &["map", "dump", "name", "counters"][..],
            "Error: map name counters names kernel maps: reading it needs bpf(): ",
        ),
        (
            &["map", "dump", "pinned", "/sys/fs/bpf/apiary-none"][..],
            "Error: /sys/fs/bpf/apiary-none is a kernel pin (on bpffs): reading it needs bpf(): ",
        ),
        (
            &["map", "show"][..],
            "Error: listing the kernel's maps needs bpf(): ",
        ),
    ] {
        let out = unprivileged(args).expect("setpriv ran before");
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(255), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(expected) && stderr.lines().count() == 1,
            "{args:?}: {stderr}"
        );
    }
}
