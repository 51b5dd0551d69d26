//! `dump_value` against bpftool 7.1: kernel maps are created with a
//! hand-built BTF covering every kind the dumper prints (signed/unsigned/
//! char/bool/128-bit ints, char strings and non-strings, arrays, enums and
//! enum64 with and without a matching name, pointers, typedef/const chains,
//! unions, bitfields of both encodings, floats, a data section), filled with
//! byte patterns, pinned, and `bpftool map lookup` (plain and `-j`) must
//! print exactly what Apiary prints for the same bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

use apiary_btf::{BpftoolJson, Btf, TypeId, dump_value, value_to_json};
use apiary_kernel::types::MapType;
use apiary_kernel::{BtfFd, MapCreateAttrs, MapFd};

mod common;
use common::{
    ARRAY, Builder, CONST, DATASEC, ENUM, ENUM64, FLOAT, INT, PTR, STRUCT, TYPEDEF, UNION, VAR,
};

/// Type-at-a-time helpers over [`Builder`] that return the new type's id.
struct Types {
    b: Builder,
    count: u32,
}

impl Types {
    fn new() -> Self {
        Types {
            b: Builder::new(),
            count: 0,
        }
    }

    fn add(
        &mut self,
        name: &str,
        kind: u32,
        vlen: u32,
        kflag: bool,
        size_or_type: u32,
        extra: &[u32],
    ) -> u32 {
        let name = if name.is_empty() { 0 } else { self.b.str(name) };
        self.b.ty(name, kind, vlen, kflag, size_or_type, extra);
        self.count += 1;
        self.count
    }

    fn int(&mut self, name: &str, size: u32, encoding: u32, bits: u32) -> u32 {
        self.add(name, INT, 0, false, size, &[(encoding << 24) | bits])
    }

    fn array(&mut self, elem: u32, index: u32, n: u32) -> u32 {
        self.add("", ARRAY, 0, false, 0, &[elem, index, n])
    }

    /// Members as (name, type, bit offset, bitfield size).
    fn composite(
        &mut self,
        kind: u32,
        name: &str,
        size: u32,
        members: &[(&str, u32, u32, u32)],
    ) -> u32 {
        let kflag = members.iter().any(|m| m.3 != 0);
        let mut extra = Vec::new();
        for &(n, ty, off, bits) in members {
            let n = if n.is_empty() { 0 } else { self.b.str(n) };
            extra.extend([n, ty, if kflag { (bits << 24) | off } else { off }]);
        }
        self.add(name, kind, members.len() as u32, kflag, size, &extra)
    }

    /// Enumerators as (name, low word, high word); `kind` ENUM or ENUM64.
    fn enumeration(&mut self, kind: u32, name: &str, size: u32, values: &[(&str, u64)]) -> u32 {
        let mut extra = Vec::new();
        for &(n, v) in values {
            extra.push(self.b.str(n));
            extra.push(v as u32);
            if kind == ENUM64 {
                extra.push((v >> 32) as u32);
            }
        }
        self.add(name, kind, values.len() as u32, kind == ENUM, size, &extra)
    }
}

struct TestTypes {
    blob: Vec<u8>,
    key: u32,
    value: u32,
    value_size: u32,
    float_value: u32,
    datasec: u32,
    uint: u32,
}

fn build_types() -> TestTypes {
    let mut b = Types::new();
    let int = b.int("int", 4, 1, 32);
    let uint = b.int("unsigned int", 4, 0, 32);
    let char_ = b.int("char", 1, 1, 8);
    let uchar = b.int("unsigned char", 1, 0, 8);
    let ll = b.int("long long", 8, 1, 64);
    let bool_ = b.int("_Bool", 1, 4, 8);
    let i128 = b.int("unsigned __int128", 16, 0, 128);
    let cchar = b.int("mychar", 1, 2, 8);
    let short = b.int("short", 2, 1, 16);
    let name_arr = b.array(char_, int, 8);
    let int_arr = b.array(int, int, 3);
    let color = b.enumeration(
        ENUM,
        "color",
        4,
        &[("RED", 1), ("MINUS_TWO", -2i32 as u32 as u64)],
    );
    let big = b.enumeration(ENUM64, "big", 8, &[("HIGH", 0xffff_ffff_0000_0000)]);
    let ptr = b.add("", PTR, 0, false, int, &[]);
    let u32_t = b.add("u32_t", TYPEDEF, 0, false, uint, &[]);
    let const_u32 = b.add("", CONST, 0, false, u32_t, &[]);
    let bytes4 = b.array(uchar, int, 4);
    let union_ = b.composite(
        UNION,
        "",
        4,
        &[("as_int", int, 0, 0), ("as_bytes", bytes4, 0, 0)],
    );
    let bits = b.composite(
        STRUCT,
        "bits",
        4,
        &[
            ("x", uint, 0, 3),
            ("y", uint, 3, 5),
            ("z", int, 8, 20),
            ("w", uint, 28, 4),
        ],
    );
    // A bitfield without the kind flag: a 5-bit INT at bit 10 of a struct.
    let int5 = b.int("", 4, 0, 5);
    let legacy_bits = b.composite(STRUCT, "legacy", 4, &[("five", int5, 10, 0)]);
    let value = b.composite(
        STRUCT,
        "value",
        96,
        &[
            ("i", int, 0, 0),
            ("u", const_u32, 32, 0),
            ("name", name_arr, 64, 0),
            ("arr", int_arr, 128, 0),
            ("e", color, 224, 0),
            ("e64", big, 256, 0),
            ("p", ptr, 320, 0),
            ("bl", bool_, 384, 0),
            ("c", cchar, 392, 0),
            ("uc", uchar, 400, 0),
            ("s", short, 416, 0),
            ("", union_, 448, 0),
            ("bits", bits, 480, 0),
            ("big", i128, 512, 0),
            ("ll", ll, 640, 0),
            ("legacy", legacy_bits, 704, 0),
        ],
    );
    let key = b.composite(
        STRUCT,
        "key",
        4,
        &[
            ("port", short, 0, 0),
            ("tag", char_, 16, 0),
            ("kind", cchar, 24, 0),
        ],
    );
    let float = b.add("float", FLOAT, 0, false, 4, &[]);
    let float_value = b.composite(
        STRUCT,
        "with_float",
        12,
        &[("a", int, 0, 0), ("f", float, 32, 0), ("after", int, 64, 0)],
    );
    let runs = b.add("runs", VAR, 0, false, ll, &[1]);
    let tag = b.add("tag", VAR, 0, false, name_arr, &[1]);
    let datasec = b.add(".bss", DATASEC, 2, false, 16, &[runs, 0, 8, tag, 8, 8]);
    TestTypes {
        blob: b.b.build(),
        key,
        value,
        value_size: 96,
        float_value,
        datasec,
        uint,
    }
}

/// Value patterns: printable strings, non-strings, negative numbers, enum
/// values with and without names, NULL and non-NULL pointers.
fn value_patterns() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for seed in 0u8..6 {
        let mut v: Vec<u8> = (0..96u32)
            .map(|i| {
                (i as u8)
                    .wrapping_mul(37)
                    .wrapping_add(seed.wrapping_mul(91))
            })
            .collect();
        match seed {
            0 => {
                v[8..16].copy_from_slice(b"apiary\0x");
                v[28..32].copy_from_slice(&1i32.to_le_bytes());
                v[32..40].copy_from_slice(&0xffff_ffff_0000_0000u64.to_le_bytes());
                v[40..48].fill(0);
                v[48] = 1;
                v[49] = b'A';
                v[64..80].copy_from_slice(&5u128.to_le_bytes());
            }
            1 => {
                v[8..16].copy_from_slice(b"q\"t'\\z\0\0");
                v[28..32].copy_from_slice(&(-2i32).to_le_bytes());
                v[49] = 0;
            }
            2 => {
                v[8..16].copy_from_slice(b"no nul!!");
                v[28..32].copy_from_slice(&7i32.to_le_bytes());
                v[49] = 0x7f;
            }
            3 => {
                v[8..16].fill(0);
                v[49] = b'"';
            }
            4 => {
                v[8..16].copy_from_slice(&[0x80, 0x41, 0, 0, 0, 0, 0, 0]);
                v[49] = b'\\';
                v[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
            }
            _ => v.fill(0),
        }
        out.push(v);
    }
    out
}

fn bpftool(args: &[&str]) -> String {
    let out = Command::new("bpftool")
        .args(args)
        .output()
        .expect("bpftool runs");
    assert!(
        out.status.success(),
        "bpftool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// What bpftool's `map lookup` prints for a BTF map, framed as bpftool
/// frames it (`print_key_value` → `do_dump_btf`), around `dump_value`.
fn apiary_lookup(
    btf: &Btf,
    key_type: u32,
    value_type: u32,
    key: &[u8],
    value: &[u8],
    json: bool,
) -> String {
    if json {
        let mut w = BpftoolJson::new(false, false);
        w.start_object();
        w.name("key");
        w.hex_bytes(key);
        w.name("value");
        w.hex_bytes(value);
        w.name("formatted");
        w.start_object();
        if key_type != 0 {
            w.name("key");
            dump_value(btf, TypeId(key_type), key, &mut w).expect("key dumps");
        }
        w.name("value");
        let _ = dump_value(btf, TypeId(value_type), value, &mut w);
        w.end_object();
        w.end_object();
        w.finish()
    } else {
        let mut w = BpftoolJson::new(true, true);
        w.start_object();
        if key_type != 0 {
            w.name("key");
            dump_value(btf, TypeId(key_type), key, &mut w).expect("key dumps");
        }
        w.name("value");
        let _ = dump_value(btf, TypeId(value_type), value, &mut w);
        w.end_object();
        w.finish()
    }
}

struct PinDir(PathBuf);

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The test types loaded in Apiary and in the kernel, and a bpffs directory
/// for this test's pins; `None` (after a skip) without bpf() or bpftool.
fn setup(test: &str) -> Option<(PinDir, TestTypes, Btf, BtfFd)> {
    let dir = kernel_ready(test)?;
    let types = build_types();
    let btf = Btf::parse(&types.blob).expect("test BTF parses");
    let kbtf = BtfFd::load(&types.blob, 0)
        .expect("kernel accepts the test BTF")
        .btf;
    Some((dir, types, btf, kbtf))
}

fn kernel_ready(test: &str) -> Option<PinDir> {
    if let Err(e) = apiary_kernel::probe() {
        return apiary_testskip::missing(test, format!("bpf() is unavailable: {e}"));
    }
    if let Err(reason) = apiary_testskip::tool("bpftool", "version") {
        return apiary_testskip::skip(test, reason);
    }
    let dir = PathBuf::from(format!(
        "/sys/fs/bpf/apiary-btf-{test}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("bpffs directory");
    Some(PinDir(dir))
}

/// Creates and pins a kernel map; a keyless map (key type 0) must be a
/// one-entry array of a data section, as the kernel requires.
fn kernel_map(
    btf: &BtfFd,
    ty: MapType,
    key_size: u32,
    value_size: u32,
    key_type: u32,
    value_type: u32,
    pin: &Path,
) -> MapFd {
    let map = MapFd::create(&MapCreateAttrs {
        map_type: ty,
        key_size,
        value_size,
        max_entries: if key_type == 0 { 1 } else { 8 },
        name: "btf_values",
        btf_fd: Some(std::os::fd::AsFd::as_fd(btf)),
        btf_key_type_id: key_type,
        btf_value_type_id: value_type,
        ..Default::default()
    })
    .expect("kernel accepts the map with its BTF");
    map.pin(pin).expect("pin");
    map
}

fn check_lookup(btf: &Btf, pin: &Path, key_type: u32, value_type: u32, key: &[u8], value: &[u8]) {
    let path = pin.to_str().expect("UTF-8 path");
    let mut args = vec!["map", "lookup", "pinned", path, "key", "hex"];
    let key_hex: Vec<String> = key.iter().map(|b| format!("{b:02x}")).collect();
    args.extend(key_hex.iter().map(String::as_str));
    let plain = bpftool(&args);
    assert_eq!(
        apiary_lookup(btf, key_type, value_type, key, value, false),
        plain,
        "plain lookup of {value:02x?}"
    );
    let mut json_args = vec!["-j"];
    json_args.extend(&args);
    let json = bpftool(&json_args);
    assert_eq!(
        apiary_lookup(btf, key_type, value_type, key, value, true),
        json,
        "-j lookup of {value:02x?}"
    );
    // The serde form equals bpftool's `formatted` value, except where
    // bpftool's escaping bug turns a backslash into `\n` (the serde form
    // keeps the real text).
    let parsed = serde_json::from_str::<serde_json::Value>(&json).ok();
    if let Some(parsed) = parsed.filter(|_| !json.contains("\\n")) {
        let ours = value_to_json(btf, TypeId(value_type), value);
        if let Ok(ours) = ours {
            assert_eq!(
                ours, parsed["formatted"]["value"],
                "serde value of {value:02x?}"
            );
        }
    }
}

#[test]
fn struct_values_print_as_bpftool_prints_them() {
    let Some((dir, types, btf, kbtf)) = setup("struct") else {
        return;
    };

    let hash_pin = dir.0.join("hash");
    let hash = kernel_map(
        &kbtf,
        MapType::HASH,
        4,
        types.value_size,
        types.key,
        types.value,
        &hash_pin,
    );
    for (n, value) in value_patterns().iter().enumerate() {
        let key = [n as u8, 0x80, b'k', if n % 2 == 0 { b'z' } else { 3 }];
        hash.update(&key, value, 0).expect("update");
        check_lookup(&btf, &hash_pin, types.key, types.value, &key, value);
    }
}

#[test]
fn floats_stop_the_dump_where_bpftool_stops() {
    let Some((dir, types, btf, kbtf)) = setup("float") else {
        return;
    };
    let pin = dir.0.join("float");
    let map = kernel_map(
        &kbtf,
        MapType::ARRAY,
        4,
        12,
        types.uint,
        types.float_value,
        &pin,
    );
    let value: Vec<u8> = (1..=12).collect();
    map.update(&3u32.to_ne_bytes(), &value, 0).expect("update");
    check_lookup(
        &btf,
        &pin,
        types.uint,
        types.float_value,
        &3u32.to_ne_bytes(),
        &value,
    );
    assert!(value_to_json(&btf, TypeId(types.float_value), &value).is_err());
}

#[test]
fn data_sections_print_as_bpftool_prints_global_data() {
    let Some((dir, types, btf, kbtf)) = setup("datasec") else {
        return;
    };
    let pin = dir.0.join("bss");
    let map = kernel_map(&kbtf, MapType::ARRAY, 4, 16, 0, types.datasec, &pin);
    let mut value = (-5i64).to_le_bytes().to_vec();
    value.extend_from_slice(b"apiary\0\0");
    map.update(&0u32.to_ne_bytes(), &value, 0).expect("update");
    check_lookup(&btf, &pin, 0, types.datasec, &0u32.to_ne_bytes(), &value);
}

#[test]
fn hostile_types_and_short_values_are_errors() {
    let types = build_types();
    let btf = Btf::parse(&types.blob).expect("test BTF parses");
    let short = [0u8; 10];
    let mut w = BpftoolJson::new(true, true);
    assert!(dump_value(&btf, TypeId(types.value), &short, &mut w).is_err());
    assert!(value_to_json(&btf, TypeId(types.value), &short).is_err());
    assert!(value_to_json(&btf, TypeId(9999), &short).is_err());

    // An array of 2^32-1 empty structs touches no bytes: bounded, not endless.
    let mut b = Types::new();
    let int = b.int("int", 4, 1, 32);
    let empty = b.composite(STRUCT, "empty", 0, &[]);
    let huge = b.array(empty, int, u32::MAX);
    let btf = Btf::parse(&b.b.build()).expect("parses");
    assert!(value_to_json(&btf, TypeId(huge), &[]).is_err());
}
