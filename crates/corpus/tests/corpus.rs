//! Checks the corpus against independent evidence: the compiled ELF objects
//! themselves (sections, .BTF.ext CO-RE relocations, disassembly by
//! llvm-objdump-19, map definitions as dumped by bpftool), the required
//! coverage list of the loader issue, and the kernel on this machine
//! (`bpftool prog loadall` of every object marked loadable).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use apiary_corpus::{CorpusObject, KernelLoads};
use object::{Object, ObjectSection};

/// The coverage the loader issue asks for. Removing a feature from every
/// manifest entry must make this test fail.
const REQUIRED_FEATURES: &[&str] = &[
    // program types by libbpf section name
    "sec:socket",
    "sec:xdp",
    "sec:xdp.frags",
    "sec:xdp/devmap",
    "sec:xdp/cpumap",
    "sec:tc",
    "sec:tc/ingress",
    "sec:tc/egress",
    "sec:tcx/ingress",
    "sec:tcx/egress",
    "sec:classifier",
    "sec:action",
    "sec:kprobe/",
    "sec:kretprobe/",
    "sec:ksyscall/",
    "sec:uprobe/",
    "sec:uretprobe/",
    "sec:usdt/",
    "sec:tracepoint/",
    "sec:tp/",
    "sec:raw_tracepoint/",
    "sec:raw_tp/",
    "sec:tp_btf/",
    "sec:fentry/",
    "sec:fexit/",
    "sec:fmod_ret/",
    "sec:lsm/",
    "sec:iter/",
    "sec:cgroup_skb/ingress",
    "sec:cgroup_skb/egress",
    "sec:cgroup/sock_create",
    "sec:cgroup/connect4",
    "sec:cgroup/bind4",
    "sec:cgroup/getsockopt",
    "sec:cgroup/sysctl",
    "sec:cgroup/dev",
    "sec:sockops",
    "sec:sk_skb/stream_parser",
    "sec:sk_skb/stream_verdict",
    "sec:sk_msg",
    "sec:sk_lookup",
    "sec:flow_dissector",
    "sec:perf_event",
    "sec:struct_ops/",
    "sec:syscall",
    "sec:lwt_in",
    "sec:lwt_out",
    "sec:lwt_xmit",
    "sec:netfilter",
    // map definition styles
    "mapdef:btf_type",
    "mapdef:key_size",
    "mapdef:map_flags",
    "mapdef:numa_node",
    "mapdef:pinning",
    "mapdef:map_extra",
    "mapdef:inner_map_array",
    "mapdef:inner_map_init",
    "mapdef:prog_array_init",
    "mapdef:legacy_maps_section",
    // map types
    "map:array",
    "map:percpu_array",
    "map:hash",
    "map:percpu_hash",
    "map:lru_hash",
    "map:lru_percpu_hash",
    "map:lpm_trie",
    "map:queue",
    "map:stack",
    "map:bloom_filter",
    "map:ringbuf",
    "map:perf_event_array",
    "map:prog_array",
    "map:array_of_maps",
    "map:hash_of_maps",
    "map:devmap",
    "map:devmap_hash",
    "map:cpumap",
    "map:xskmap",
    "map:task_storage",
    "map:sk_storage",
    // global data and externs
    "data:.data",
    "data:.rodata",
    "data:.bss",
    "data:.rodata.str1.1",
    "data:.data.",
    "data:.rodata.",
    "extern:kconfig",
    "extern:kconfig_weak",
    "extern:ksym",
    "extern:kfunc",
    "kfunc:iter_num",
    // calls
    "call:static_subprog",
    "call:global_subprog",
    "call:shared_subprog",
    "call:depth3",
    "call:bpf_loop",
    "call:for_each_map_elem",
    "call:tail_call",
    // CO-RE: all 13 relocation kinds, bitfields, flavors
    "core:field_byte_offset",
    "core:field_byte_size",
    "core:field_exists",
    "core:field_signed",
    "core:field_lshift_u64",
    "core:field_rshift_u64",
    "core:type_id_local",
    "core:type_id_target",
    "core:type_exists",
    "core:type_size",
    "core:enumval_exists",
    "core:enumval_value",
    "core:type_matches",
    "core:bitfield",
    "core:flavor",
    // object structure and instructions
    "obj:multi_prog_section",
    "obj:multi_prog",
    "insn:atomic",
    "insn:atomic_fetch",
    "insn:ldsx",
    "insn:movsx",
    "insn:sdiv",
    "insn:bswap",
    "insn:gotol",
    // packets and helpers
    "pkt:eth",
    "pkt:vlan",
    "pkt:ipv4",
    "pkt:ipv6",
    "pkt:tcp",
    "pkt:udp",
    "helper:ntohs",
    "helper:csum",
    "helper:xdp_adjust_head",
    "helper:xdp_adjust_tail",
    "helper:skb_store_bytes",
    "helper:redirect_map",
    "helper:ringbuf",
    "helper:perf_output",
    "helper:printk",
    "map:spin_lock",
    "helper:prandom",
    "helper:ktime",
];

/// Maps pinned by name (`pinning = LIBBPF_PIN_BY_NAME`) land in /sys/fs/bpf
/// itself; loading removes them before and after.
const PINNED_BY_NAME: &[&str] = &["apiary_corpus_pinned"];

/// The corpus objects followed by the examples: the manifest claims of
/// both are checked the same way.
fn compiled_objects(test: &str) -> Option<Vec<&'static CorpusObject>> {
    match (apiary_corpus::objects(), apiary_corpus::examples()) {
        (Ok(objects), Ok(examples)) => Some(objects.iter().chain(examples).collect()),
        (Err(e), _) | (_, Err(e)) => apiary_testskip::missing(test, e),
    }
}

#[test]
fn manifest_covers_required_features() {
    let claimed: BTreeSet<&str> = apiary_corpus::manifest()
        .iter()
        .flat_map(|o| o.features.iter().copied())
        .collect();
    let missing: Vec<&str> = REQUIRED_FEATURES
        .iter()
        .copied()
        .filter(|f| !claimed.contains(f))
        .collect();
    assert!(
        missing.is_empty(),
        "required features no corpus object covers: {missing:?}"
    );
    assert!(
        apiary_corpus::manifest().len() >= 45,
        "the corpus must hold at least 45 programs"
    );
}

#[test]
fn unloadable_objects_say_why() {
    let manifests = apiary_corpus::manifest()
        .iter()
        .chain(apiary_corpus::examples_manifest());
    for object in manifests {
        if let KernelLoads::No { reason } = object.kernel_loads {
            assert!(
                reason.len() > 20,
                "{}: reason too vague: {reason:?}",
                object.name
            );
        }
        assert!(object.source().is_file(), "{} has no source", object.name);
    }
}

fn parse_elf<'a>(object: &CorpusObject, bytes: &'a [u8]) -> object::File<'a> {
    let elf = object::File::parse(bytes)
        .unwrap_or_else(|e| panic!("{}: not an ELF object: {e}", object.name));
    assert_eq!(
        elf.architecture(),
        object::Architecture::Bpf,
        "{}",
        object.name
    );
    elf
}

#[test]
fn every_object_compiled_with_license_and_btf() {
    let Some(objects) = compiled_objects("every_object_compiled_with_license_and_btf") else {
        return;
    };
    for object in objects {
        let bytes = object
            .read()
            .unwrap_or_else(|e| panic!("{}: {e}", object.name));
        let elf = parse_elf(object, &bytes);
        let license = elf
            .section_by_name("license")
            .unwrap_or_else(|| panic!("{}: no license section", object.name));
        let license = license.data().unwrap_or_default();
        assert!(
            license.starts_with(b"GPL"),
            "{}: license {license:?}",
            object.name
        );
        assert!(
            elf.section_by_name(".BTF").is_some(),
            "{}: no .BTF",
            object.name
        );
        assert!(
            elf.section_by_name(".BTF.ext").is_some(),
            "{}: no .BTF.ext",
            object.name
        );
    }
}

fn section_names(elf: &object::File<'_>) -> Vec<String> {
    elf.sections()
        .filter_map(|s| s.name().ok().map(str::to_owned))
        .collect()
}

fn name_matches(claimed: &str, actual: &str) -> bool {
    if claimed.ends_with('/') || claimed.ends_with('.') {
        actual.starts_with(claimed)
    } else {
        actual == claimed
    }
}

#[test]
fn claimed_sections_exist() {
    let Some(objects) = compiled_objects("claimed_sections_exist") else {
        return;
    };
    for object in objects {
        let bytes = object
            .read()
            .unwrap_or_else(|e| panic!("{}: {e}", object.name));
        let names = section_names(&parse_elf(object, &bytes));
        for feature in object.features {
            let claimed = match feature.split_once(':') {
                Some(("sec" | "data", name)) => name,
                _ => continue,
            };
            assert!(
                names.iter().any(|n| name_matches(claimed, n)),
                "{}: claims {feature} but its sections are {names:?}",
                object.name
            );
        }
    }
}

const CORE_KINDS: [&str; 13] = [
    "field_byte_offset",
    "field_byte_size",
    "field_exists",
    "field_signed",
    "field_lshift_u64",
    "field_rshift_u64",
    "type_id_local",
    "type_id_target",
    "type_exists",
    "type_size",
    "enumval_exists",
    "enumval_value",
    "type_matches",
];

fn u32_at(bytes: &[u8], offset: usize) -> Option<u32> {
    let raw = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes(raw.try_into().ok()?))
}

/// The CO-RE relocation kinds recorded in a .BTF.ext section (layout in the
/// kernel's Documentation/bpf/btf.rst, "BTF Ext Section").
fn core_relocation_kinds(btf_ext: &[u8]) -> BTreeSet<u32> {
    let magic = btf_ext.get(..2).expect(".BTF.ext header");
    assert_eq!(magic, [0x9f, 0xeb], "little-endian .BTF.ext magic");
    let header_len = u32_at(btf_ext, 4).expect("hdr_len") as usize;
    let mut kinds = BTreeSet::new();
    if header_len < 32 {
        return kinds; // no core_relo fields in the header
    }
    let relo_off = header_len + u32_at(btf_ext, 24).expect("core_relo_off") as usize;
    let relo_len = u32_at(btf_ext, 28).expect("core_relo_len") as usize;
    if relo_len == 0 {
        return kinds;
    }
    let section = btf_ext
        .get(relo_off..relo_off + relo_len)
        .expect("core_relo inside .BTF.ext");
    let record_size = u32_at(section, 0).expect("record size") as usize;
    assert!(record_size >= 16, "core_relo record size {record_size}");
    let mut at = 4;
    while at < section.len() {
        let count = u32_at(section, at + 4).expect("num_info") as usize;
        at += 8;
        for _ in 0..count {
            kinds.insert(u32_at(section, at + 12).expect("relocation kind"));
            at += record_size;
        }
    }
    kinds
}

#[test]
fn claimed_core_relocations_exist() {
    let Some(objects) = compiled_objects("claimed_core_relocations_exist") else {
        return;
    };
    for object in objects {
        let claimed: Vec<&str> = object
            .features
            .iter()
            .filter_map(|f| f.strip_prefix("core:"))
            .collect();
        let bytes = object
            .read()
            .unwrap_or_else(|e| panic!("{}: {e}", object.name));
        let elf = parse_elf(object, &bytes);
        let btf_ext = elf.section_by_name(".BTF.ext").and_then(|s| s.data().ok());
        let kinds = btf_ext.map(core_relocation_kinds).unwrap_or_default();
        for kind in claimed {
            let Some(index) = CORE_KINDS.iter().position(|k| *k == kind) else {
                continue; // bitfield / flavor are source-level properties
            };
            assert!(
                kinds.contains(&(index as u32)),
                "{}: claims core:{kind} but .BTF.ext has relocation kinds {kinds:?}",
                object.name
            );
        }
    }
}

/// Whether `tool --version` runs; skips `test` when not.
fn tool_available(tool: &str, test: &str) -> bool {
    match apiary_testskip::tool(tool, "--version") {
        Ok(()) => true,
        Err(reason) => apiary_testskip::skip(test, reason),
    }
}

/// Instruction classes as llvm-objdump-19 prints them.
fn disassembly_has(kind: &str, text: &str) -> Option<bool> {
    let has_any = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    Some(match kind {
        "atomic" => has_any(&["lock *(", "atomic_fetch_", "cmpxchg", "xchg"]),
        "atomic_fetch" => has_any(&["atomic_fetch_", "cmpxchg", "xchg"]),
        "ld_abs" => text
            .lines()
            .any(|l| l.contains("skb[") && !l.contains("skb[r")),
        "ld_ind" => text.contains("skb[r"),
        "ldsx" => has_any(&["*(s8 *)", "*(s16 *)", "*(s32 *)"]),
        "movsx" => has_any(&["= (s8)", "= (s16)", "= (s32)"]),
        "sdiv" => has_any(&["s/=", "s%="]),
        "bswap" => has_any(&["bswap16", "bswap32", "bswap64"]),
        "gotol" => text.contains("gotol"),
        _ => return None,
    })
}

#[test]
fn claimed_instructions_exist() {
    let Some(objects) = compiled_objects("claimed_instructions_exist") else {
        return;
    };
    if !tool_available("llvm-objdump-19", "claimed_instructions_exist") {
        return;
    }
    for object in objects {
        let claimed: Vec<&str> = object
            .features
            .iter()
            .filter_map(|f| f.strip_prefix("insn:"))
            .collect();
        if claimed.is_empty() {
            continue;
        }
        let out = Command::new("llvm-objdump-19")
            .arg("-d")
            .arg(format!("--mcpu={}", object.cpu))
            .arg(object.path())
            .output()
            .expect("llvm-objdump-19 runs");
        assert!(out.status.success(), "{}: llvm-objdump failed", object.name);
        let text = String::from_utf8_lossy(&out.stdout);
        for kind in claimed {
            let found = disassembly_has(kind, &text).unwrap_or_else(|| {
                panic!("{}: unknown instruction class insn:{kind}", object.name)
            });
            assert!(
                found,
                "{}: claims insn:{kind}, not in the disassembly",
                object.name
            );
        }
    }
}

/// Map type names as in the kernel's `enum bpf_map_type` (BPF_MAP_TYPE_<NAME>).
const MAP_TYPES: &[(&str, u64)] = &[
    ("hash", 1),
    ("array", 2),
    ("prog_array", 3),
    ("perf_event_array", 4),
    ("percpu_hash", 5),
    ("percpu_array", 6),
    ("stack_trace", 7),
    ("cgroup_array", 8),
    ("lru_hash", 9),
    ("lru_percpu_hash", 10),
    ("lpm_trie", 11),
    ("array_of_maps", 12),
    ("hash_of_maps", 13),
    ("devmap", 14),
    ("sockmap", 15),
    ("cpumap", 16),
    ("xskmap", 17),
    ("sockhash", 18),
    ("cgroup_storage", 19),
    ("reuseport_sockarray", 20),
    ("percpu_cgroup_storage", 21),
    ("queue", 22),
    ("stack", 23),
    ("sk_storage", 24),
    ("devmap_hash", 25),
    ("struct_ops", 26),
    ("ringbuf", 27),
    ("inode_storage", 28),
    ("task_storage", 29),
    ("bloom_filter", 30),
];

/// The `type` of every map defined in `.maps`, read from `bpftool btf dump
/// file -j` (`__uint(type, N)` is a member of type pointer to array of N).
fn btf_map_types(path: &Path) -> BTreeSet<u64> {
    let out = Command::new("bpftool")
        .args(["-j", "btf", "dump", "file"])
        .arg(path)
        .output()
        .expect("bpftool runs");
    assert!(
        out.status.success(),
        "bpftool btf dump {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    let types = json["types"].as_array().expect("types array");
    let by_id = |id: &serde_json::Value| types.iter().find(|t| t["id"] == *id);
    let mut found = BTreeSet::new();
    for datasec in types
        .iter()
        .filter(|t| t["kind"] == "DATASEC" && t["name"] == ".maps")
    {
        for var in datasec["vars"].as_array().into_iter().flatten() {
            let Some(var) = by_id(&var["type_id"]) else {
                continue;
            };
            let Some(def) = by_id(&var["type_id"]) else {
                continue;
            };
            let members = def["members"].as_array().into_iter().flatten();
            for member in members.filter(|m| m["name"] == "type") {
                let ptr = by_id(&member["type_id"]).expect("type member type");
                let array = by_id(&ptr["type_id"]).expect("pointee of type member");
                found.insert(array["nr_elems"].as_u64().expect("array length"));
            }
        }
    }
    found
}

#[test]
fn claimed_map_types_are_defined() {
    let Some(objects) = compiled_objects("claimed_map_types_are_defined") else {
        return;
    };
    if !tool_available("bpftool", "claimed_map_types_are_defined") {
        return;
    }
    for object in objects {
        let claimed: Vec<&str> = object
            .features
            .iter()
            .filter_map(|f| f.strip_prefix("map:"))
            .filter(|m| *m != "spin_lock")
            .collect();
        if claimed.is_empty() {
            continue;
        }
        let defined = btf_map_types(object.path());
        for name in claimed {
            let number = MAP_TYPES
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{}: unknown map type map:{name}", object.name))
                .1;
            assert!(
                defined.contains(&number),
                "{}: claims map:{name} ({number}) but .maps defines types {defined:?}",
                object.name
            );
        }
    }
}

fn ensure_bpffs() -> Result<PathBuf, String> {
    let root = PathBuf::from("/sys/fs/bpf");
    let mounts =
        std::fs::read_to_string("/proc/mounts").map_err(|e| format!("/proc/mounts: {e}"))?;
    let mounted = mounts.lines().any(|l| {
        let mut fields = l.split_whitespace();
        fields.nth(1) == Some("/sys/fs/bpf") && fields.next() == Some("bpf")
    });
    if !mounted {
        let status = Command::new("mount")
            .args(["-t", "bpf", "bpf", "/sys/fs/bpf"])
            .status()
            .map_err(|e| format!("running mount: {e}"))?;
        if !status.success() {
            return Err(format!("mount -t bpf failed: {status}"));
        }
    }
    Ok(root)
}

/// The maps pinned by name in the bpffs root: removed when made and when
/// dropped, so that they go when the test ends, passing or failing.
struct PinnedByName(PathBuf);

impl PinnedByName {
    fn clear(bpffs: &Path) -> Self {
        let pins = PinnedByName(bpffs.to_owned());
        pins.remove();
        pins
    }

    fn remove(&self) {
        for name in PINNED_BY_NAME {
            let _ = std::fs::remove_file(self.0.join(name));
        }
    }
}

impl Drop for PinnedByName {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A pin directory on bpffs, removed when dropped.
struct PinDir(PathBuf);

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `bpftool prog loadall` into a fresh pin directory and removes it.
fn bpftool_loadall(object: &CorpusObject, bpffs: &Path) -> Result<(), String> {
    let pin_dir = PinDir(bpffs.join(format!(
        "apiary-corpus-{}-{}",
        std::process::id(),
        object.name
    )));
    let out = Command::new("bpftool")
        .args(["prog", "loadall"])
        .arg(object.path())
        .arg(&pin_dir.0)
        .output()
        .map_err(|e| format!("running bpftool: {e}"))?;
    drop(pin_dir);
    if out.status.success() {
        Ok(())
    } else {
        let log = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        Err(tail.into_iter().rev().collect::<Vec<_>>().join("\n"))
    }
}

#[test]
fn loadable_objects_load_into_the_kernel() {
    let Some(objects) = compiled_objects("loadable_objects_load_into_the_kernel") else {
        return;
    };
    if !tool_available("bpftool", "loadable_objects_load_into_the_kernel") {
        return;
    }
    const TEST: &str = "loadable_objects_load_into_the_kernel";
    if let Err(reason) = apiary_testskip::root() {
        return apiary_testskip::skip(TEST, reason);
    }
    let bpffs = match ensure_bpffs() {
        Ok(path) => path,
        Err(e) => return apiary_testskip::missing(TEST, format!("bpffs is unavailable: {e}")),
    };
    let pinned_by_name = PinnedByName::clear(&bpffs);
    let mut failures = Vec::new();
    let (mut loaded, mut refused) = (0, 0);
    for object in objects {
        let result = bpftool_loadall(object, &bpffs);
        match (object.kernel_loads, result) {
            (KernelLoads::Yes, Ok(())) => loaded += 1,
            (KernelLoads::Yes, Err(log)) => failures.push(format!("{}:\n{log}", object.name)),
            (KernelLoads::No { .. }, Err(_)) => refused += 1,
            (KernelLoads::No { reason }, Ok(())) => eprintln!(
                "NOTE: {} is marked not loadable ({reason}) but loaded here; update the manifest",
                object.name
            ),
        }
    }
    drop(pinned_by_name);
    eprintln!(
        "bpftool prog loadall: {loaded} objects loaded, {refused} refused as the manifest says"
    );
    assert!(
        failures.is_empty(),
        "objects that must load failed:\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn objects_are_found_by_name() {
    let Some(objects) = compiled_objects("objects_are_found_by_name") else {
        return;
    };
    let firewall = apiary_corpus::object("xdp_firewall").expect("xdp_firewall is in the corpus");
    assert_eq!(
        firewall.source().file_name().and_then(|n| n.to_str()),
        Some("xdp_firewall.c")
    );
    assert!(firewall.covers("sec:xdp"));
    assert_eq!(
        apiary_corpus::object("no_such_program"),
        Err(apiary_corpus::LookupError::NotFound("no_such_program"))
    );
    for collection in [
        apiary_corpus::manifest(),
        apiary_corpus::examples_manifest(),
    ] {
        let names: BTreeSet<&str> = collection.iter().map(|o| o.name).collect();
        assert_eq!(names.len(), collection.len(), "object names are unique");
    }
    assert_eq!(
        objects.len(),
        apiary_corpus::manifest().len() + apiary_corpus::examples_manifest().len()
    );
}

/// The five documented examples, each in `examples/<name>/` with its
/// README and a line in examples/README.md.
const EXAMPLES: [&str; 5] = [
    "xdp_firewall",
    "proto_counter",
    "nat_lb",
    "tc_mark_redirect",
    "ringbuf_events",
];

#[test]
fn examples_are_found_by_name_and_documented() {
    let names: Vec<&str> = apiary_corpus::examples_manifest()
        .iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(names, EXAMPLES);
    let index = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/README.md"),
    )
    .expect("examples/README.md");
    for name in EXAMPLES {
        let readme = apiary_corpus::examples_manifest()
            .iter()
            .find(|o| o.name == name)
            .map(|o| o.source().with_file_name("README.md"))
            .expect("listed");
        let text = std::fs::read_to_string(&readme)
            .unwrap_or_else(|e| panic!("{}: {e}", readme.display()));
        assert!(
            text.contains("apiary prog run"),
            "{}: says how to run it",
            readme.display()
        );
        assert!(
            index.contains(&format!("[{name}]({name}/")),
            "examples/README.md has no entry linking {name}/"
        );
    }
    if apiary_corpus::examples().is_ok() {
        let firewall = apiary_corpus::example("xdp_firewall").expect("found");
        assert!(firewall.path().ends_with("examples/xdp_firewall.o"));
        assert!(firewall.covers("map:lpm_trie"));
        assert_eq!(
            apiary_corpus::example("xdp_proto_counter"),
            Err(apiary_corpus::LookupError::NotFound("xdp_proto_counter")),
            "corpus names are not example names"
        );
    }
}

/// Members of the BTF struct `name` as (member, bit offset), from `bpftool
/// btf dump file -j`.
fn btf_struct_layout(path: &Path, name: &str) -> (u64, Vec<(String, u64)>) {
    let out = Command::new("bpftool")
        .args(["-j", "btf", "dump", "file"])
        .arg(path)
        .output()
        .expect("bpftool runs");
    assert!(out.status.success(), "bpftool btf dump {}", path.display());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    let found = json["types"]
        .as_array()
        .expect("types array")
        .iter()
        .find(|t| t["kind"] == "STRUCT" && t["name"] == name)
        .unwrap_or_else(|| panic!("{}: no struct {name} in BTF", path.display()));
    let members = found["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["name"].as_str().expect("member name").to_owned(),
                m["bits_offset"].as_u64().expect("bits_offset"),
            )
        })
        .collect();
    (found["size"].as_u64().expect("size"), members)
}

/// The ring buffer event layout documented in ringbuf_events.c and its
/// README (the facade's reader depends on it) is the compiled one.
#[test]
fn ringbuf_event_layout_matches_its_documentation() {
    if !tool_available("bpftool", "ringbuf_event_layout_matches_its_documentation") {
        return;
    }
    let example = match apiary_corpus::example("ringbuf_events") {
        Ok(example) => example,
        Err(e) => {
            return apiary_testskip::missing("ringbuf_event_layout_matches_its_documentation", e);
        }
    };
    let (size, members) = btf_struct_layout(example.path(), "flow_event");
    let documented: Vec<(String, u64)> = [
        ("seq", 0),
        ("len", 8),
        ("eth_proto", 12),
        ("ip_proto", 14),
        ("flags", 15),
        ("saddr", 16),
        ("daddr", 32),
        ("sport", 48),
        ("dport", 50),
        ("reserved", 52),
    ]
    .iter()
    .map(|(name, byte)| ((*name).to_owned(), byte * 8))
    .collect();
    assert_eq!(size, 56);
    assert_eq!(members, documented);
}

/// The legacy objects look like their era: no BTF, the claimed sections,
/// global NOTYPE program symbols (`sym:notype`), a program section no
/// symbol names (`sym:none`), only `.text` as code (`obj:text_only`).
#[test]
fn legacy_objects_have_the_shape_of_their_era() {
    use object::{Object as _, ObjectSection as _, ObjectSymbol as _, SectionKind, SymbolKind};
    let objects = match apiary_corpus::legacy() {
        Ok(objects) => objects,
        Err(e) => return apiary_testskip::missing("legacy_objects_have_the_shape_of_their_era", e),
    };
    for object in objects {
        let bytes = object.read().expect("read legacy object");
        let elf = parse_elf(object, &bytes);
        assert!(
            elf.section_by_name(".BTF").is_none(),
            "{}: has .BTF",
            object.name
        );
        let names = section_names(&elf);
        let code: Vec<_> = elf
            .sections()
            .filter(|s| s.kind() == SectionKind::Text && s.size() > 0)
            .collect();
        let symbols_in = |index| {
            elf.symbols().filter(move |s| {
                s.section_index() == Some(index) && s.kind() != SymbolKind::Section
            })
        };
        for feature in object.features {
            let holds = match feature.split_once(':') {
                Some(("sec", name)) => names.iter().any(|n| name_matches(name, n)),
                Some(("sym", "notype")) => code.iter().any(|s| {
                    symbols_in(s.index())
                        .any(|sym| sym.kind() == SymbolKind::Unknown && sym.is_global())
                }),
                Some(("sym", "none")) => code
                    .iter()
                    .any(|s| s.name() != Ok(".text") && symbols_in(s.index()).next().is_none()),
                Some(("obj", "text_only")) => {
                    code.iter().all(|s| s.name() == Ok(".text")) && !code.is_empty()
                }
                _ => continue,
            };
            assert!(holds, "{}: claims {feature}", object.name);
        }
    }
}
