//! Helpers shared by the integration tests: skipping when bpf() is unusable, encoding a few
//! instructions, a hand-made BTF blob and asking bpftool.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::process::Command;

use apiary_kernel::types::MapType;
use apiary_kernel::{MapCreateAttrs, MapFd};

/// Creation parameters with just a type and a shape.
pub fn map_attrs(
    map_type: MapType,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
) -> MapCreateAttrs<'static> {
    MapCreateAttrs {
        map_type,
        key_size,
        value_size,
        max_entries,
        ..MapCreateAttrs::default()
    }
}

/// Creates a map of that shape, panicking with the kernel's answer on failure.
pub fn create_map(map_type: MapType, key_size: u32, value_size: u32, max_entries: u32) -> MapFd {
    MapFd::create(&map_attrs(map_type, key_size, value_size, max_entries))
        .unwrap_or_else(|e| panic!("create {map_type}: {e}"))
}

/// Returns from the test through the skip mechanism when bpf() is unusable.
#[macro_export]
macro_rules! require_bpf {
    ($test:literal) => {
        if let Err(reason) = apiary_kernel::probe() {
            return apiary_testskip::missing($test, reason);
        }
    };
}

/// Encodes one `struct bpf_insn` (little-endian hosts put dst in the low nibble).
pub fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut slot = [0u8; 8];
    slot[0] = code;
    slot[1] = if cfg!(target_endian = "little") {
        dst | (src << 4)
    } else {
        (dst << 4) | src
    };
    slot[2..4].copy_from_slice(&off.to_ne_bytes());
    slot[4..8].copy_from_slice(&imm.to_ne_bytes());
    slot
}

/// Concatenates instruction slots into the byte form the kernel takes.
pub fn program(slots: &[[u8; 8]]) -> Vec<u8> {
    slots.concat()
}

/// `r0 = imm; exit`.
pub fn return_imm(imm: i32) -> Vec<u8> {
    program(&[insn(0xb7, 0, 0, 0, imm), insn(0x95, 0, 0, 0, 0)])
}

/// `ld_imm64 dst, map_fd` (BPF_PSEUDO_MAP_FD), two slots.
pub fn ld_map_fd(dst: u8, fd: i32) -> [[u8; 8]; 2] {
    [insn(0x18, dst, 1, 0, fd), insn(0, 0, 0, 0, 0)]
}

/// Offset of `name` in a BTF string section (names are NUL-delimited).
pub fn str_off(strings: &[u8], name: &str) -> u32 {
    let needle = format!("\0{name}\0");
    let at = strings
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .expect("string present");
    at as u32 + 1
}

/// `info` word of a BTF type: kind in bits 24-28, vlen in bits 0-15.
pub fn btf_info(kind: u32, vlen: u32) -> u32 {
    (kind << 24) | vlen
}

/// A `.BTF` blob from type words and a string section, laid out as
/// `include/uapi/linux/btf.h` describes (24-byte header, types, strings).
pub fn btf_blob(types: &[u32], strings: &[u8]) -> Vec<u8> {
    let type_bytes: Vec<u8> = types.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let mut blob = Vec::new();
    blob.extend(0xeb9f_u16.to_ne_bytes());
    blob.push(1); // version
    blob.push(0); // flags
    blob.extend(24_u32.to_ne_bytes()); // hdr_len
    blob.extend(0_u32.to_ne_bytes()); // type_off
    blob.extend((type_bytes.len() as u32).to_ne_bytes()); // type_len
    blob.extend((type_bytes.len() as u32).to_ne_bytes()); // str_off
    blob.extend((strings.len() as u32).to_ne_bytes()); // str_len
    blob.extend(type_bytes);
    blob.extend(strings);
    blob
}

/// BTF for `int` (id 1), `struct bpf_spin_lock { int val; }` (id 2) and
/// `struct val { struct bpf_spin_lock lock; int cnt; }` (id 3).
pub fn spin_lock_btf() -> Vec<u8> {
    let strings = b"\0int\0bpf_spin_lock\0val\0lock\0cnt\0";
    let name = |s| str_off(strings, s);
    let types = [
        // [1] INT int size 4, signed, 32 bits.
        name("int"),
        btf_info(1, 0),
        4,
        (1 << 24) | 32,
        // [2] STRUCT bpf_spin_lock size 4 { val: int @0 }.
        name("bpf_spin_lock"),
        btf_info(4, 1),
        4,
        name("val"),
        1,
        0,
        // [3] STRUCT val size 8 { lock: bpf_spin_lock @0, cnt: int @32 bits }.
        name("val"),
        btf_info(4, 2),
        8,
        name("lock"),
        2,
        0,
        name("cnt"),
        1,
        32,
    ];
    btf_blob(&types, strings)
}

/// Runs `bpftool -j <args>` and parses its JSON, or None (after a skip of
/// `test`) when bpftool is missing.
pub fn bpftool_json(test: &str, args: &[&str]) -> Option<serde_json::Value> {
    let output = match Command::new("bpftool").arg("-j").args(args).output() {
        Ok(output) => output,
        Err(error) => {
            return apiary_testskip::missing(test, format!("bpftool cannot run: {error}"));
        }
    };
    assert!(
        output.status.success(),
        "bpftool {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).expect("bpftool prints JSON"))
}
