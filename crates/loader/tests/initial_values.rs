//! What libbpf puts into maps at load time, checked against the kernel
//! through `bpftool prog loadall ... pinmaps` and `bpftool map dump`:
//! pointers in global data (left as clang wrote them), map-in-map and
//! program-array slots, `.kconfig` values; and the special value fields
//! (`bpf_spin_lock`, `bpf_timer`) the kernel finds in map values.

mod common;

use std::process::Command;

use apiary_loader::{
    DataRelocation, InitialSlot, InitialSlotTarget, Kconfig, KconfigValue, LoadError, MapOrigin,
    Object, kernel_version_code,
};
use common::{
    Pinned, bpftool_available, bpftool_json, compile_test_object, first_value_bytes, hex_bytes,
};

fn open(path: &std::path::Path) -> Object {
    Object::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn data_map<'a>(object: &'a Object, section: &str) -> &'a apiary_loader::MapSpec {
    object
        .maps
        .iter()
        .find(|m| {
            m.origin
                == MapOrigin::GlobalData {
                    section: section.to_owned(),
                }
        })
        .unwrap_or_else(|| panic!("no {section} map"))
}

fn reloc(offset: u32, symbol: &str, section: &str, target_offset: u64) -> DataRelocation {
    DataRelocation {
        offset,
        width: 8,
        symbol: symbol.to_owned(),
        target_section: Some(section.to_owned()),
        target_offset,
    }
}

#[test]
fn pointers_in_global_data_are_reported_and_left_as_libbpf_leaves_them() {
    let Some(path) = compile_test_object(
        "pointers_in_global_data_are_reported_and_left_as_libbpf_leaves_them",
        "data_relocs",
    ) else {
        return;
    };
    let object = open(&path);
    let data = data_map(&object, ".data");
    // data_relocs.c: counter @0, counters[4] @4, counter_ptr @24,
    // third_counter = &counters[2] @32, fn_ptr = helper_fn (.text+0) @40.
    assert_eq!(
        data.data_relocations,
        vec![
            reloc(24, "counter", ".data", 0),
            reloc(32, "counters", ".data", 12),
            reloc(40, ".text", ".text", 0),
        ]
    );
    let rodata = data_map(&object, ".rodata");
    assert_eq!(
        rodata.data_relocations,
        vec![reloc(8, "limit", ".rodata", 0)]
    );
    assert!(object.program("use_data").is_some());

    if !bpftool_available("pointers_in_global_data_are_reported_and_left_as_libbpf_leaves_them") {
        return;
    }
    // libbpf accepts the object, skips the relocations and stores the raw
    // section bytes (the addend 8 for third_counter, zeros elsewhere).
    let pinned = Pinned::load_file(&path, "data_relocs", "datarel", true);
    for (map, pin) in [(data, "data_rel_data"), (rodata, "data_rel_rodata")] {
        let dump = bpftool_json(&["map", "dump", "pinned", &pinned.map(pin)]);
        assert_eq!(first_value_bytes(&dump), map.initial_data, "{}", map.name);
    }
}

#[test]
fn data_relocation_outside_its_section_is_a_typed_error() {
    let Some(path) = compile_test_object(
        "data_relocation_outside_its_section_is_a_typed_error",
        "data_relocs",
    ) else {
        return;
    };
    let mut bytes = std::fs::read(&path).expect("object");
    // Find .rel.data's first entry (r_offset 24 = 0x18, R_BPF_64_ABS64) by
    // its bytes and point it past the 48-byte .data section.
    let needle: Vec<u8> = 0x18u64.to_le_bytes().to_vec();
    let rel_data = find_rel_entry(&bytes, &needle, 2).expect(".rel.data entry");
    bytes[rel_data..rel_data + 8].copy_from_slice(&0x2cu64.to_le_bytes());
    let err = Object::parse(&bytes, "data_relocs").expect_err("pointer past the section");
    match &err {
        LoadError::Relocation {
            section,
            offset,
            reason,
        } => {
            assert_eq!(section, ".data");
            assert_eq!(*offset, 0x2c);
            assert!(reason.contains("counter"), "{reason}");
        }
        other => panic!("unexpected {other}"),
    }
}

/// Offset of a 16-byte `Elf64_Rel` whose `r_offset` is `offset` and whose
/// type is `r_type`, scanning at 8-byte alignment.
fn find_rel_entry(bytes: &[u8], offset: &[u8], r_type: u32) -> Option<usize> {
    (0..bytes.len().saturating_sub(16)).step_by(8).find(|&at| {
        bytes.get(at..at + 8) == Some(offset)
            && bytes
                .get(at + 8..at + 12)
                .is_some_and(|t| u32::from_le_bytes(t.try_into().unwrap_or_default()) == r_type)
    })
}

/// `bpftool -j map dump pinned PATH` as (key, value) byte lists.
fn dump_entries(path: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let dump = bpftool_json(&["map", "dump", "pinned", path]);
    dump.as_array()
        .expect("dump is a list")
        .iter()
        .map(|e| (hex_bytes(&e["key"]), hex_bytes(&e["value"])))
        .collect()
}

fn u32_of(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("4 bytes"))
}

#[test]
fn map_in_map_and_prog_array_slots_match_what_libbpf_fills() {
    let Some(path) = compile_test_object(
        "map_in_map_and_prog_array_slots_match_what_libbpf_fills",
        "initvals",
    ) else {
        return;
    };
    let object = open(&path);
    let index_of = |name: &str| object.maps.iter().position(|m| m.name == name).unwrap();
    let outer = object.map("outer").expect("outer");
    assert_eq!(
        outer.initial_slots,
        vec![
            InitialSlot {
                index: 0,
                target: InitialSlotTarget::Map(index_of("inner_a")),
            },
            InitialSlot {
                index: 2,
                target: InitialSlotTarget::Map(index_of("inner_b")),
            },
        ]
    );
    let inner = outer.inner.as_deref().expect("inner template");
    assert_eq!(
        (inner.key_size, inner.value_size, inner.max_entries),
        (4, 8, 2)
    );
    let jumps = object.map("jumps").expect("jumps");
    assert_eq!(
        jumps.initial_slots,
        vec![InitialSlot {
            index: 1,
            target: InitialSlotTarget::Program("tail_target".to_owned()),
        }]
    );

    if !bpftool_available("map_in_map_and_prog_array_slots_match_what_libbpf_fills") {
        return;
    }
    let pinned = Pinned::load_file(&path, "initvals", "slots", true);
    let name_of_map = |id: u32| {
        bpftool_json(&["map", "show", "id", &id.to_string()])["name"]
            .as_str()
            .expect("map name")
            .to_owned()
    };
    let outer_slots: Vec<(u32, String)> = dump_entries(&pinned.map("outer"))
        .iter()
        .map(|(k, v)| (u32_of(k), name_of_map(u32_of(v))))
        .collect();
    let expected: Vec<(u32, String)> = outer
        .initial_slots
        .iter()
        .map(|s| match &s.target {
            InitialSlotTarget::Map(i) => (s.index, object.maps[*i].name.clone()),
            InitialSlotTarget::Program(p) => panic!("program {p} in a map-in-map"),
        })
        .collect();
    assert_eq!(outer_slots, expected);

    let prog_slots: Vec<(u32, String)> = dump_entries(&pinned.map("jumps"))
        .iter()
        .map(|(k, v)| {
            let id = u32_of(v).to_string();
            let name = bpftool_json(&["prog", "show", "id", &id])["name"]
                .as_str()
                .expect("prog name")
                .to_owned();
            (u32_of(k), name)
        })
        .collect();
    assert_eq!(prog_slots, vec![(1, "tail_target".to_owned())]);
}

#[test]
fn spin_lock_and_timer_offsets_come_from_the_value_type() {
    let Some(path) = compile_test_object(
        "spin_lock_and_timer_offsets_come_from_the_value_type",
        "initvals",
    ) else {
        return;
    };
    let object = open(&path);
    // struct locked_value { u64 hits; bpf_spin_lock lock; u32 pad;
    // bpf_timer timer; }: lock at 8, timer (8-aligned) at 16, 32 bytes
    // (the kernel reported bytes_value 32 for this map).
    let locked = object.map("locked").expect("locked");
    assert_eq!(locked.value_size, 32);
    assert_eq!(locked.spin_lock_offset, Some(8));
    assert_eq!(locked.timer_offset, Some(16));
    for map in ["outer", "jumps", "inner_a"] {
        let spec = object.map(map).expect(map);
        assert_eq!((spec.spin_lock_offset, spec.timer_offset), (None, None));
    }

    // The corpus rate limiter keeps its lock first in the bucket.
    let Some(objects) = common::corpus("spin_lock_and_timer_offsets_come_from_the_value_type")
    else {
        return;
    };
    let spin_lock = objects
        .iter()
        .find(|o| o.name == "spin_lock")
        .expect("spin_lock corpus object");
    let buckets = Object::open(spin_lock.path()).expect("spin_lock loads");
    let bucket = buckets.map("buckets").expect("buckets");
    assert_eq!(bucket.spin_lock_offset, Some(0));
    assert_eq!(bucket.timer_offset, None);
}

/// The running kernel's configuration text, from `/proc/config.gz`, or
/// `None` after skipping `test`.
fn running_config(test: &str) -> Option<String> {
    match Command::new("zcat").arg("/proc/config.gz").output() {
        Ok(out) if out.status.success() => Some(String::from_utf8_lossy(&out.stdout).into()),
        Ok(out) => apiary_testskip::refused(
            test,
            "reading /proc/config.gz (CONFIG_IKCONFIG_PROC)",
            String::from_utf8_lossy(&out.stderr).trim(),
        ),
        Err(e) => apiary_testskip::missing(test, format!("zcat does not run: {e}")),
    }
}

#[test]
fn kconfig_values_match_libbpf_for_the_running_config_and_default_to_zero() {
    let Some(path) = compile_test_object(
        "kconfig_values_match_libbpf_for_the_running_config_and_default_to_zero",
        "initvals",
    ) else {
        return;
    };
    let Some(config_text) =
        running_config("kconfig_values_match_libbpf_for_the_running_config_and_default_to_zero")
    else {
        return;
    };
    let bytes = std::fs::read(&path).expect("object");
    let with_config =
        Object::parse_with_kconfig(&bytes, "initvals", &Kconfig::parse_config(&config_text))
            .expect("loads with the running config");
    let kconfig = with_config.map("initval.kconfig").expect("kconfig map");
    assert_eq!(kconfig.origin, MapOrigin::Kconfig);

    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    let version = kernel_version_code(release.trim()).expect("release parses");
    let version_bytes = version.to_le_bytes();
    let version_at = kconfig
        .initial_data
        .windows(4)
        .position(|w| w == version_bytes)
        .expect("LINUX_KERNEL_VERSION in the value");

    // Without a table every CONFIG_ extern here is __weak and reads 0.
    let defaults = Object::parse(&bytes, "initvals").expect("loads with defaults");
    let default_data = &defaults
        .map("initval.kconfig")
        .expect("kconfig")
        .initial_data;
    let mut expected_default = vec![0u8; kconfig.initial_data.len()];
    expected_default[version_at..version_at + 4].copy_from_slice(&version_bytes);
    assert_eq!(default_data, &expected_default);

    // A user table changes exactly the named values.
    let mut table = Kconfig::parse_config(&config_text);
    table
        .values
        .insert("CONFIG_HZ".to_owned(), KconfigValue::Number(1000));
    table.kernel_version = Some(kernel_version_code("5.10.3").expect("version"));
    let custom = Object::parse_with_kconfig(&bytes, "initvals", &table).expect("custom table");
    let custom_data = &custom.map("initval.kconfig").expect("kconfig").initial_data;
    let hz_at = kconfig
        .initial_data
        .windows(4)
        .position(|w| w == 250u32.to_le_bytes())
        .filter(|_| config_text.contains("CONFIG_HZ=250\n"));
    if let Some(hz_at) = hz_at {
        assert_eq!(custom_data[hz_at..hz_at + 4], 1000u32.to_le_bytes());
    }
    assert_eq!(
        custom_data[version_at..version_at + 4],
        0x050a03u32.to_le_bytes()
    );

    if !bpftool_available("kconfig_values_match_libbpf_for_the_running_config_and_default_to_zero")
    {
        return;
    }
    let pinned = Pinned::load_file(&path, "initvals", "kconfig", true);
    let dump = bpftool_json(&["map", "dump", "pinned", &pinned.map("initval_kconfig")]);
    assert_eq!(first_value_bytes(&dump), kconfig.initial_data);
}
