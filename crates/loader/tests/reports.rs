//! The user-facing reports against their references: `btf dump` output
//! byte for byte against bpftool, `prog dump` listings against
//! `bpftool prog dump xlated ... linum` of the same objects loaded by the
//! kernel, source annotations against the C sources, and the `prog load`
//! listing against the object's own definitions.

mod common;

use apiary_loader::{BtfDumpFormat, Object, XlatedOptions, btf_dump, dump_xlated};
use common::{Pinned, bpftool, bpftool_available, bpftool_json, corpus};

fn ours_btf(bytes: &[u8], format: BtfDumpFormat) -> String {
    let mut out = Vec::new();
    btf_dump(bytes, format, &mut out).expect("btf dump");
    String::from_utf8(out).expect("utf8")
}

#[test]
fn btf_dump_matches_bpftool_for_every_corpus_object() {
    let Some(objects) = corpus("btf_dump_matches_bpftool_for_every_corpus_object") else {
        return;
    };
    if !bpftool_available("btf_dump_matches_bpftool_for_every_corpus_object") {
        return;
    }
    for obj in objects {
        let path = obj.path().to_str().expect("utf8 path");
        let bytes = obj.read().expect("read object");
        for (format, name) in [(BtfDumpFormat::Raw, "raw"), (BtfDumpFormat::C, "c")] {
            let expected = bpftool(&["btf", "dump", "file", path, "format", name]);
            let ours = ours_btf(&bytes, format);
            assert!(ours == expected, "{} format {name} differs", obj.name);
        }
    }
}

#[test]
fn btf_dump_of_raw_vmlinux_matches_bpftool() {
    let path = apiary_testskip::VMLINUX;
    let bytes = match apiary_testskip::vmlinux_btf() {
        Ok(bytes) => bytes,
        Err(reason) => {
            return apiary_testskip::skip("btf_dump_of_raw_vmlinux_matches_bpftool", reason);
        }
    };
    if !bpftool_available("btf_dump_of_raw_vmlinux_matches_bpftool") {
        return;
    }
    let expected = bpftool(&["btf", "dump", "file", path]);
    assert!(
        ours_btf(&bytes, BtfDumpFormat::Raw) == expected,
        "vmlinux raw dump differs"
    );
}

#[test]
fn btf_dump_rejects_an_object_without_btf_and_garbage() {
    // A valid eBPF ELF header and nothing else is not an object at all.
    assert!(btf_dump(b"\x7fELF", BtfDumpFormat::Raw, &mut Vec::new()).is_err());
    assert!(btf_dump(b"not btf", BtfDumpFormat::C, &mut Vec::new()).is_err());
    assert!(btf_dump(&[], BtfDumpFormat::Raw, &mut Vec::new()).is_err());
}

/// The kernel's helper numbering, read from `enum bpf_func_id` in the
/// running kernel's BTF, agrees with the loader's table.
#[test]
fn helper_names_match_the_kernel_enum() {
    let bytes = match apiary_testskip::vmlinux_btf() {
        Ok(bytes) => bytes,
        Err(reason) => return apiary_testskip::skip("helper_names_match_the_kernel_enum", reason),
    };
    let btf = apiary_btf::Btf::parse(&bytes).expect("vmlinux BTF");
    let id = btf
        .find_by_name_kind("bpf_func_id", apiary_btf::BtfKind::Enum)
        .expect("enum bpf_func_id");
    let apiary_btf::Kind::Enum(e) = &btf.type_by_id(id).expect("type").kind else {
        panic!("bpf_func_id is not an enum");
    };
    let mut checked = 0;
    for v in &e.values {
        let name = btf.str_at(v.name_off).expect("name");
        let Some(bare) = name.strip_prefix("BPF_FUNC_") else {
            continue;
        };
        let value = v.raw as i32;
        if bare == "unspec" {
            assert_eq!(apiary_loader::helpers::helper_name(value), None);
            continue;
        }
        assert_eq!(
            apiary_loader::helpers::helper_name(value).as_deref(),
            Some(format!("bpf_{bare}").as_str()),
            "helper {value}"
        );
        checked += 1;
    }
    assert!(checked >= 211, "only {checked} helpers in the kernel enum");
}

/// `bpftool prog dump xlated pinned P linum` with each `map[id:N]`
/// replaced by `map[NAME]` (the kernel's map name, as bpftool shows it)
/// so that it can be compared with an unloaded object's listing.
fn kernel_listing(pinned: &str) -> String {
    let text = bpftool(&["prog", "dump", "xlated", "pinned", pinned, "linum"]);
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("map[id:") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + "map[id:".len()..];
        let end = tail.find(']').expect("closing bracket");
        let id = &tail[..end];
        let info = bpftool_json(&["map", "show", "id", id]);
        out.push_str(&format!(
            "map[{}]",
            info["name"].as_str().expect("map name")
        ));
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Loads `obj` with `bpftool prog loadall` and returns, per pinned
/// program, our listing and the kernel's; `None` (after skipping `test`)
/// when bpftool is missing.
fn listings(
    test: &str,
    obj: &apiary_corpus::CorpusObject,
) -> Option<Vec<(String, String, String)>> {
    if !bpftool_available(test) {
        return None;
    }
    let object = Object::open(obj.path()).expect("object loads");
    let pinned = Pinned::load(obj, "xlated");
    let mut result = Vec::new();
    for program in object.programs.iter().flatten() {
        let theirs = kernel_listing(&pinned.program(&program.name));
        let ours = dump_xlated(&object, program, XlatedOptions { linum: true });
        result.push((program.name.clone(), ours, theirs));
    }
    Some(result)
}

/// Programs the kernel leaves as the object has them (no context
/// rewrites, inlined helpers or dead code removal): their listings must be
/// identical to bpftool's, prototypes, `linum` source lines and all.
const UNREWRITTEN: [(&str, &str); 9] = [
    ("xdp_redirect_maps", "xdp_cpumap_rx"),
    ("ksyscall", "kill_exit"),
    ("raw_tracepoints", "raw_task_rename"),
    ("cgroup_sockopt_sysctl_dev", "rewrite_tos"),
    ("cgroup_sockopt_sysctl_dev", "device_policy"),
    ("struct_ops_tcp_ca", "apiary_init"),
    ("kconfig", "check_kernel"),
    ("tail_calls", "handle_ipv4"),
    ("tail_calls", "handle_ipv6"),
];

fn is_annotation(line: &&str) -> bool {
    !line.trim_start().starts_with(|c: char| c.is_ascii_digit())
}

/// Whether `sub` is `full` with some lines left out.
fn is_subsequence(sub: &[&str], full: &[&str]) -> bool {
    let mut rest = full.iter();
    sub.iter().all(|line| rest.any(|l| l == line))
}

#[test]
fn prog_dump_matches_bpftool_xlated_linum() {
    let Some(objects) = corpus("prog_dump_matches_bpftool_xlated_linum") else {
        return;
    };
    let mut identical = Vec::new();
    for obj in objects
        .iter()
        .filter(|o| o.kernel_loads == apiary_corpus::KernelLoads::Yes)
    {
        let Some(list) = listings("prog_dump_matches_bpftool_xlated_linum", obj) else {
            return;
        };
        for (name, ours, theirs) in list {
            if UNREWRITTEN.contains(&(obj.name, name.as_str())) {
                assert!(
                    ours == theirs,
                    "{} {name}:\nours:\n{ours}\nbpftool:\n{theirs}",
                    obj.name
                );
                identical.push(name.clone());
            }
            // Elsewhere the kernel rewrites instructions, but prototypes
            // and source lines survive, minus those of code it removed.
            let ours: Vec<&str> = ours.lines().filter(is_annotation).collect();
            let theirs: Vec<&str> = theirs.lines().filter(is_annotation).collect();
            assert!(
                is_subsequence(&theirs, &ours),
                "{} {name}: annotations differ:\nours: {ours:#?}\nbpftool: {theirs:#?}",
                obj.name
            );
        }
    }
    assert_eq!(identical.len(), UNREWRITTEN.len(), "compared {identical:?}");
}

/// Every `; line` annotation is the text of that line of the C source it
/// names (the corpus sources and libbpf's headers).
#[test]
fn source_annotations_quote_the_c_sources() {
    let Some(objects) = corpus("source_annotations_quote_the_c_sources") else {
        return;
    };
    let mut checked = 0;
    for obj in objects {
        let object = Object::open(obj.path()).expect("object loads");
        for program in object.programs.iter().flatten() {
            let listing = dump_xlated(&object, program, XlatedOptions { linum: true });
            for line in &program.line_info {
                let source = match std::fs::read_to_string(&line.file) {
                    Ok(source) => source,
                    Err(e) => {
                        apiary_testskip::missing::<()>(
                            &format!("source_annotations_quote_the_c_sources ({})", line.file),
                            format!("the source {} is unreadable: {e}", line.file),
                        );
                        continue;
                    }
                };
                let text = source
                    .lines()
                    .nth((line.line as usize).saturating_sub(1))
                    .unwrap_or_else(|| panic!("{}: no line {}", line.file, line.line));
                let expected = format!(
                    "; {} [file:{} line_num:{} line_col:{}]",
                    text.trim_start(),
                    line.file,
                    line.line,
                    line.column
                );
                assert!(
                    listing.lines().any(|l| l == expected),
                    "{}: {expected}",
                    program.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "only {checked} line records checked");
}

/// The `prog load` JSON names each program's type and maps as the kernel
/// reports them after `bpftool prog loadall` (type names, and the maps in
/// `map_ids` order, names cut to the kernel's 15 bytes).
#[test]
fn prog_load_json_agrees_with_the_kernel() {
    let Some(objects) = corpus("prog_load_json_agrees_with_the_kernel") else {
        return;
    };
    if !bpftool_available("prog_load_json_agrees_with_the_kernel") {
        return;
    }
    for name in [
        "xdp_proto_counter",
        "tail_calls",
        "global_data",
        "map_in_map",
    ] {
        let Some(obj) = objects.iter().find(|o| o.name == name) else {
            continue;
        };
        let object = Object::open(obj.path()).expect("object loads");
        let report = apiary_loader::object_json(&object);
        let pinned = Pinned::load(obj, "report");
        let mut checked = 0;
        for program in report["programs"].as_array().expect("programs") {
            let pname = program["name"].as_str().expect("name");
            let info = bpftool_json(&["prog", "show", "pinned", &pinned.program(pname)]);
            assert_eq!(program["type"], info["type"], "{name} {pname}");
            let kernel_maps: Vec<String> = info["map_ids"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|id| {
                    let map = bpftool_json(&["map", "show", "id", &id.to_string()]);
                    map["name"].as_str().expect("map name").to_owned()
                })
                .collect();
            let ours: Vec<String> = program["maps"]
                .as_array()
                .expect("maps")
                .iter()
                .map(|m| m.as_str().expect("name").chars().take(15).collect())
                .collect();
            assert_eq!(ours, kernel_maps, "{name} {pname}");
            checked += 1;
        }
        assert!(checked > 0, "{name}: no programs");
        for (map, spec) in report["maps"]
            .as_array()
            .expect("maps")
            .iter()
            .zip(&object.maps)
        {
            assert_eq!(map["bytes_key"], spec.key_size);
            assert_eq!(map["bytes_value"], spec.value_size);
            assert_eq!(map["max_entries"], spec.max_entries);
            assert_eq!(map["flags"], spec.map_flags);
            assert_eq!(map["type"], spec.map_type.to_string());
        }
    }
}

/// Programs that fail keep their slot in the listing, with the reason.
#[test]
fn prog_load_listing_shows_failed_programs_with_their_error() {
    let Some(objects) = corpus("prog_load_listing_shows_failed_programs_with_their_error") else {
        return;
    };
    let Some(obj) = objects.iter().find(|o| o.name == "ksyms") else {
        return;
    };
    let object = Object::open(obj.path()).expect("object loads");
    let failed: Vec<_> = object
        .programs
        .iter()
        .filter_map(|p| p.as_ref().err())
        .collect();
    assert!(
        !failed.is_empty(),
        "ksyms.c uses kernel symbols the loader refuses"
    );
    let listing = apiary_loader::object_listing(&object);
    let report = apiary_loader::object_json(&object);
    for e in failed {
        assert!(
            listing.contains(&format!("error  name {}\n\t{e}\n", e.program())),
            "{listing}"
        );
        let entry = report["programs"]
            .as_array()
            .expect("programs")
            .iter()
            .find(|p| p["name"] == e.program())
            .expect("failed program listed");
        assert_eq!(entry["error"], e.to_string());
    }
}

#[test]
fn prog_load_listing_has_bpftool_show_lines() {
    let Some(objects) = corpus("prog_load_listing_has_bpftool_show_lines") else {
        return;
    };
    let Some(obj) = objects.iter().find(|o| o.name == "xdp_proto_counter") else {
        return;
    };
    let object = Object::open(obj.path()).expect("object loads");
    let listing = apiary_loader::object_listing(&object);
    let source = std::fs::read_to_string(obj.source()).expect("source");
    assert!(source.contains("SEC(\"xdp\")"));
    let program = object.programs.iter().flatten().next().expect("a program");
    assert!(
        listing.contains(&format!(
            "0: xdp  name {}  section xdp  gpl\n\tinsns {}  xlated {}B",
            program.name,
            program.insns.len(),
            program.insns.len() * 8
        )),
        "{listing}"
    );
    for (i, map) in object.maps.iter().enumerate() {
        assert!(listing.contains(&format!(
            "{i}: {}  name {}  flags {:#x}\n\tkey {}B  value {}B  max_entries {}\n",
            map.map_type, map.name, map.map_flags, map.key_size, map.value_size, map.max_entries
        )));
    }
}

#[test]
fn prog_dump_selects_by_name_and_reports_missing_or_failed_programs() {
    let Some(objects) = corpus("prog_dump_selects_by_name_and_reports_missing_or_failed_programs")
    else {
        return;
    };
    let (Some(tail), Some(ksyms)) = (
        objects.iter().find(|o| o.name == "tail_calls"),
        objects.iter().find(|o| o.name == "ksyms"),
    ) else {
        return;
    };
    let object = Object::open(tail.path()).expect("object loads");
    let options = XlatedOptions::default();
    let one = apiary_loader::dump_object_xlated(&object, Some("handle_ipv4"), options)
        .expect("program exists");
    let spec = object.program("handle_ipv4").expect("loaded");
    assert_eq!(one, dump_xlated(&object, spec, options));
    assert!(!one.contains("line_num:"), "linum off: {one}");
    let all = apiary_loader::dump_object_xlated(&object, None, options).expect("all load");
    assert!(all.contains(&format!("handle_ipv4:\n{one}")));
    assert!(matches!(
        apiary_loader::dump_object_xlated(&object, Some("nope"), options),
        Err(apiary_loader::ReportError::NoSuchProgram(_))
    ));
    let object = Object::open(ksyms.path()).expect("object loads");
    let failed = object
        .programs
        .iter()
        .find_map(|p| p.as_ref().err())
        .expect("a failure");
    assert!(matches!(
        apiary_loader::dump_object_xlated(&object, Some(failed.program()), options),
        Err(apiary_loader::ReportError::Program(_))
    ));
}
