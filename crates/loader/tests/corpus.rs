//! Every corpus object loads; program types, map definitions and
//! instruction counts match what libbpf/bpftool produce for the objects
//! this machine's kernel loads.

mod common;

use apiary_kernel::types::{MapType, ProgType};
use apiary_loader::{MapOrigin, Object, ProgramError};
use common::{Pinned, bpftool_available, bpftool_json, corpus};

fn load(obj: &apiary_corpus::CorpusObject) -> Object {
    Object::open(obj.path()).unwrap_or_else(|e| panic!("{}: {e}", obj.name))
}

#[test]
fn every_corpus_object_loads_and_only_unknown_sections_fail() {
    let Some(objects) = corpus("every_corpus_object_loads_and_only_unknown_sections_fail") else {
        return;
    };
    for obj in objects {
        let object = load(obj);
        assert!(!object.programs.is_empty(), "{}: no programs", obj.name);
        for program in &object.programs {
            match program {
                Ok(p) => assert!(!p.insns.is_empty(), "{}: {} empty", obj.name, p.name),
                // ksyms.c uses kernel symbols, which this loader refuses by name.
                Err(ProgramError::Unsupported { what, .. }) if obj.name == "ksyms" => {
                    assert!(
                        what.contains("bpf_prog_active") || what.contains("kernel symbol"),
                        "{what}"
                    );
                }
                Err(e) => panic!("{}: {e}", obj.name),
            }
        }
    }
}

#[test]
fn global_data_maps_are_named_and_flagged_as_libbpf_does() {
    let Some(objects) = corpus("global_data_maps_are_named_and_flagged_as_libbpf_does") else {
        return;
    };
    let Some(obj) = objects.iter().find(|o| o.name == "global_data") else {
        return;
    };
    let object = load(obj);
    let rodata = object
        .maps
        .iter()
        .find(|m| {
            m.origin
                == MapOrigin::GlobalData {
                    section: ".rodata".into(),
                }
        })
        .expect(".rodata map");
    // libbpf: 8 characters of the object name, then the section.
    assert_eq!(rodata.name, "global_d.rodata");
    assert_eq!(rodata.map_flags, 0x480);
    assert_eq!(rodata.map_type, MapType::ARRAY);
    assert_eq!(rodata.max_entries, 1);
    assert_eq!(rodata.initial_data.len() as u32, rodata.value_size);
}

#[test]
fn subprograms_are_appended_and_calls_point_at_them() {
    let Some(objects) = corpus("subprograms_are_appended_and_calls_point_at_them") else {
        return;
    };
    let Some(obj) = objects.iter().find(|o| o.name == "subprograms") else {
        return;
    };
    let object = load(obj);
    for p in object.programs.iter().flatten() {
        assert!(!p.subprograms.is_empty(), "{} calls subprograms", p.name);
        let decoded =
            apiary_isa::decode_program(&p.insns).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        for (i, insn) in decoded.iter().enumerate() {
            if let Some(apiary_isa::Insn::Call(apiary_isa::CallTarget::Local(off))) = insn {
                let target = i as i64 + i64::from(*off) + 1;
                assert!(
                    p.subprograms
                        .iter()
                        .any(|(_, start)| *start as i64 == target),
                    "{}: call at {i} to {target}",
                    p.name
                );
            }
        }
        // func_info starts with the program itself, then one per subprogram.
        assert_eq!(p.func_info.first().map(|f| f.insn_index), Some(0));
        assert_eq!(p.func_info.len(), p.subprograms.len() + 1, "{}", p.name);
    }
}

#[test]
fn legacy_maps_and_unknown_sections_are_reported() {
    let Some(objects) = corpus("legacy_maps_and_unknown_sections_are_reported") else {
        return;
    };
    let Some(obj) = objects.iter().find(|o| o.name == "legacy_maps") else {
        return;
    };
    let object = load(obj);
    assert!(object.maps.iter().any(|m| m.origin == MapOrigin::Legacy));
    let unknown = Object::parse(&obj.read().expect("read"), "x").expect("parse");
    assert_eq!(unknown.programs.len(), object.programs.len());
}

/// `bpftool prog loadall` each kernel-loadable object, then compare the
/// kernel's view (program names/types/xlated lengths, map definitions)
/// with ours.
#[test]
fn matches_bpftool_loadall() {
    let Some(objects) = corpus("matches_bpftool_loadall") else {
        return;
    };
    if !bpftool_available("matches_bpftool_loadall") {
        return;
    }
    let mut compared = 0;
    for obj in objects
        .iter()
        .filter(|o| o.kernel_loads == apiary_corpus::KernelLoads::Yes)
    {
        let object = load(obj);
        let pinned = Pinned::load(obj, "loader_test");
        compare_pinned(&object, &pinned.dir.display().to_string());
        compared += 1;
    }
    assert!(compared > 20, "compared only {compared} objects");
}

fn compare_pinned(object: &Object, pin_dir: &str) {
    let mut kernel_map_ids = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(pin_dir).expect("pin dir") {
        let path = entry.expect("entry").path();
        let info = bpftool_json(&["prog", "show", "pinned", path.to_str().expect("utf8")]);
        let name = info["name"].as_str().expect("name");
        // The kernel keeps 15 bytes of the name; bpftool prints the full
        // one from BTF when it has it.
        let ours = object
            .programs
            .iter()
            .flatten()
            .find(|p| p.name == name || p.name.get(..15) == Some(name))
            .unwrap_or_else(|| {
                panic!(
                    "{}: kernel program {name} not found by the loader",
                    object.name
                )
            });
        let kernel_type = info["type"].as_str().expect("type");
        assert_eq!(
            ProgType::from_name(kernel_type),
            Some(ours.prog_type),
            "{}: {name}",
            object.name
        );
        for id in info["map_ids"].as_array().into_iter().flatten() {
            kernel_map_ids.insert(id.as_u64().expect("id"));
        }
        // The kernel rewrites context accesses and inlines helpers, so the
        // xlated length is not ours; its function records (one "proto" per
        // BTF func_info) show the same appended subprograms.
        let xlated = bpftool_json(&[
            "prog",
            "dump",
            "xlated",
            "pinned",
            path.to_str().expect("utf8"),
        ]);
        let kernel_funcs = xlated
            .as_array()
            .expect("xlated array")
            .iter()
            .filter(|i| i.get("proto").is_some())
            .count();
        assert_eq!(
            kernel_funcs,
            ours.func_info.len(),
            "{}: {name} functions",
            object.name
        );
    }
    for id in kernel_map_ids {
        let info = bpftool_json(&["map", "show", "id", &id.to_string()]);
        let name = info["name"].as_str().expect("map name");
        let ours = object
            .maps
            .iter()
            .find(|m| m.name.get(..15).unwrap_or(&m.name) == name)
            .unwrap_or_else(|| {
                panic!("{}: kernel map {name} not found by the loader", object.name)
            });
        assert_eq!(
            MapType::from_name(info["type"].as_str().expect("type")),
            Some(ours.map_type),
            "{}: {name}",
            object.name
        );
        assert_eq!(
            info["bytes_key"].as_u64(),
            Some(u64::from(ours.key_size)),
            "{}: {name} key",
            object.name
        );
        assert_eq!(
            info["bytes_value"].as_u64(),
            Some(u64::from(ours.value_size)),
            "{}: {name} value",
            object.name
        );
        // libbpf sizes a perf event array without max_entries to the
        // possible CPUs at creation.
        let max_entries = match (ours.map_type, ours.max_entries) {
            (MapType::PERF_EVENT_ARRAY, 0) => {
                apiary_kernel::possible_cpus().expect("possible cpus") as u32
            }
            (_, n) => n,
        };
        assert_eq!(
            info["max_entries"].as_u64(),
            Some(u64::from(max_entries)),
            "{}: {name} max",
            object.name
        );
        // The kernel itself adds BPF_F_RDONLY_PROG to devmaps at creation.
        let kernel_added = if matches!(ours.map_type, MapType::DEVMAP | MapType::DEVMAP_HASH) {
            0x80
        } else {
            0
        };
        assert_eq!(
            info["flags"].as_u64(),
            Some(u64::from(ours.map_flags | kernel_added)),
            "{}: {name} flags",
            object.name
        );
    }
}

/// Functions defined `__hidden` (libbpf's usdt.bpf.h helpers) are listed:
/// libbpf gives them static BTF linkage, so the kernel verifies them with
/// their callers; the program itself is global and not hidden.
#[test]
fn hidden_functions_are_listed() {
    let Some(objects) = corpus("hidden_functions_are_listed") else {
        return;
    };
    let Some(obj) = objects.iter().find(|o| o.name == "usdt") else {
        panic!("the corpus has no usdt object");
    };
    let object = load(obj);
    assert!(
        object.hidden_functions.contains("bpf_usdt_arg"),
        "{:?}",
        object.hidden_functions
    );
    assert!(!object.hidden_functions.contains("on_setjmp"));
}
