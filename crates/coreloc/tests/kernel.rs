//! End to end against the real kernel: compile `tests/data/core_kernel.c`
//! with clang-19, relocate it against `/sys/kernel/btf/vmlinux` with this
//! crate, load the same object with `bpftool -d prog load` (libbpf), and
//! compare every relocation with what libbpf reports having patched, then
//! check the relocated instructions survive in the kernel's xlated program.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use apiary_btf::{Btf, BtfExt, CoreRelo};
use apiary_coreloc::{AppliedRelo, CoreRelocator, OnUnsatisfied, POISON_HELPER_ID};
use apiary_isa::RawInsn;
use object::{Object, ObjectSection};

const BPFFS: &str = "/sys/fs/bpf";

/// A pin on bpffs, removed when the test ends, passing or failing.
struct Pin(PathBuf);

impl Drop for Pin {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
const PROG_SECTION: &str = "tp_btf/sched_switch";

/// What libbpf's debug log says it did for one relocation record.
#[derive(Debug, Default, PartialEq, Eq)]
struct LibbpfRelo {
    /// (instruction index, original value, new value) of a patch.
    patched: Option<(usize, u64, u64)>,
    /// Memory size change of a load/store.
    mem_size: Option<(u32, u32)>,
    /// Instructions replaced by the invalid call.
    poisoned: Vec<usize>,
}

/// Parses `libbpf: prog 'P': relo #N: ...` lines.
fn parse_libbpf_log(log: &str, prog: &str) -> BTreeMap<usize, LibbpfRelo> {
    let prefix = format!("libbpf: prog '{prog}': relo #");
    let mut out: BTreeMap<usize, LibbpfRelo> = BTreeMap::new();
    for line in log.lines() {
        let Some(rest) = line.strip_prefix(&prefix) else {
            continue;
        };
        let Some((num, msg)) = rest.split_once(": ") else {
            continue;
        };
        let Ok(num) = num.parse::<usize>() else {
            continue;
        };
        let insn_of = |s: &str| -> usize {
            s.split_once("insn #")
                .and_then(|(_, r)| r.split(' ').next())
                .and_then(|n| n.parse().ok())
                .expect("instruction number in libbpf log")
        };
        let arrow = |s: &str| -> (u64, u64) {
            let words: Vec<&str> = s.split_whitespace().collect();
            let n = words.len();
            assert_eq!(words[n - 2], "->", "unexpected libbpf line {s:?}");
            (words[n - 3].parse().unwrap(), words[n - 1].parse().unwrap())
        };
        let entry = out.entry(num).or_default();
        if msg.starts_with("substituting insn #") {
            entry.poisoned.push(insn_of(msg));
        } else if msg.starts_with("patched insn #") && msg.contains(" mem_sz ") {
            let (a, b) = arrow(msg);
            entry.mem_size = Some((a as u32, b as u32));
        } else if msg.starts_with("patched insn #") {
            let (a, b) = arrow(msg);
            entry.patched = Some((insn_of(msg), a, b));
        }
    }
    out
}

struct Compiled {
    dir: PathBuf,
    object: PathBuf,
}

impl Drop for Compiled {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn compile() -> Compiled {
    let dir = std::env::temp_dir().join(format!("apiary-coreloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/core_kernel.c");
    let object = dir.join("core_kernel.o");
    let arch = std::env::consts::ARCH;
    let out = Command::new("clang-19")
        .args(["-target", "bpf", "-O2", "-g", "-c"])
        .arg(format!("-I/usr/include/{arch}-linux-gnu"))
        .arg(&source)
        .arg("-o")
        .arg(&object)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "clang-19 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Compiled { dir, object }
}

/// Our relocation of the program section: (records, original slots,
/// relocated slots, applied records).
fn relocate_ourselves(
    object_bytes: &[u8],
    vmlinux: &Btf,
) -> (Vec<CoreRelo>, Vec<RawInsn>, Vec<RawInsn>, Vec<AppliedRelo>) {
    let file = object::File::parse(object_bytes).unwrap();
    let section = |name: &str| {
        file.section_by_name(name)
            .unwrap_or_else(|| panic!("section {name}"))
            .data()
            .unwrap()
            .to_vec()
    };
    let local = Btf::parse(&section(".BTF")).unwrap();
    let ext = BtfExt::parse(&section(".BTF.ext")).unwrap();
    let relos: Vec<CoreRelo> = ext
        .core_relos
        .iter()
        .find(|s| local.str_at(s.sec_name_off).unwrap() == PROG_SECTION)
        .expect("CO-RE records for the program section")
        .records
        .clone();
    let original = apiary_isa::slots_from_bytes(&section(PROG_SECTION)).unwrap();
    let mut insns = original.clone();
    let applied = CoreRelocator::new(&local, vmlinux)
        .relocate(&relos, &mut insns, OnUnsatisfied::Poison)
        .unwrap();
    (relos, original, insns, applied)
}

/// An instruction as the kernel's xlated dump shows it (lddw as one entry
/// with a 64-bit immediate).
#[derive(Debug, PartialEq, Eq)]
struct XlatedInsn {
    code: u8,
    dst: u8,
    src: u8,
    off: i16,
    imm: u64,
}

fn hex_bytes(v: &serde_json::Value) -> Vec<u8> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|b| u8::from_str_radix(b.as_str().unwrap().trim_start_matches("0x"), 16).unwrap())
        .collect()
}

fn dump_xlated(pin: &Path) -> Vec<XlatedInsn> {
    let out = Command::new("bpftool")
        .args(["-j", "prog", "dump", "xlated", "pinned"])
        .arg(pin)
        .arg("opcodes")
        .output()
        .unwrap();
    assert!(out.status.success(), "bpftool dump xlated failed");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let hex = |v: &serde_json::Value| {
        u8::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    };
    json.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let op = &e["opcodes"];
            let off = hex_bytes(&op["off"]);
            let imm = hex_bytes(&op["imm"]);
            // lddw shows 12 bytes: low imm, the second slot's 4 zero
            // fields, high imm.
            let low = u32::from_le_bytes(imm[0..4].try_into().unwrap());
            let high = imm
                .get(8..12)
                .map_or(0, |h| u32::from_le_bytes(h.try_into().unwrap()));
            XlatedInsn {
                code: hex(&op["code"]),
                dst: hex(&op["dst_reg"]),
                src: hex(&op["src_reg"]),
                off: i16::from_le_bytes([off[0], off[1]]),
                imm: u64::from(high) << 32 | u64::from(low),
            }
        })
        .collect()
}

fn as_xlated(insns: &[RawInsn], index: usize) -> XlatedInsn {
    let first = insns[index];
    let imm = if first.code == 0x18 {
        u64::from(first.imm as u32) | u64::from(insns[index + 1].imm as u32) << 32
    } else {
        // A 32-bit immediate as the dump prints it: its own 4 bytes.
        u64::from(first.imm as u32)
    };
    XlatedInsn {
        code: first.code,
        dst: first.dst,
        src: first.src,
        off: first.off,
        imm,
    }
}

#[test]
fn relocations_match_libbpf_against_the_running_kernel() {
    const TEST: &str = "relocations_match_libbpf_against_the_running_kernel";
    for (tool, arg) in [("clang-19", "--version"), ("bpftool", "version")] {
        if let Err(reason) = apiary_testskip::tool(tool, arg) {
            return apiary_testskip::skip(TEST, reason);
        }
    }
    let vmlinux = match apiary_testskip::vmlinux_btf() {
        Ok(bytes) => Btf::parse(&bytes).unwrap(),
        Err(reason) => return apiary_testskip::skip(TEST, reason),
    };
    if let Err(reason) = apiary_testskip::root() {
        return apiary_testskip::skip(TEST, reason);
    }
    if !Path::new(BPFFS).is_dir() {
        return apiary_testskip::missing(TEST, format!("{BPFFS} (bpffs) is missing"));
    }
    let compiled = compile();
    let object_bytes = std::fs::read(&compiled.object).unwrap();
    let (relos, original, ours, applied) = relocate_ourselves(&object_bytes, &vmlinux);
    assert!(
        relos.len() >= 40,
        "the C file has {} relocations",
        relos.len()
    );

    let pin = Pin(PathBuf::from(format!(
        "{BPFFS}/apiary_coreloc_{}",
        std::process::id()
    )));
    let load = Command::new("bpftool")
        .args(["-d", "prog", "load"])
        .arg(&compiled.object)
        .arg(&pin.0)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&load.stderr).into_owned();
    if !load.status.success() {
        if log.contains("Operation not permitted") {
            // Root was checked: the host forbids tp_btf programs.
            return apiary_testskip::refused(
                TEST,
                "bpftool prog load of core_kernel.o (a tp_btf program)",
                "Operation not permitted",
            );
        }
        panic!("bpftool prog load failed:\n{log}");
    }
    let xlated = dump_xlated(&pin.0);
    drop(pin);

    let libbpf = parse_libbpf_log(&log, "core_kernel");
    assert_eq!(libbpf.len(), relos.len(), "libbpf reported every record");
    let mut poisoned = 0;
    for (record, a) in applied.iter().enumerate() {
        let theirs = &libbpf[&record];
        let what = format!(
            "record #{record} ({:?} at insn {}): ours {:?}, libbpf {theirs:?}",
            a.relo.kind, a.insn_index, a.resolution
        );
        if a.resolution.poison || a.resolution.fail_memsz_adjust {
            poisoned += 1;
            let mut expect = vec![a.insn_index];
            if original[a.insn_index].code == 0x18 {
                expect.push(a.insn_index + 1);
            }
            let mut got = theirs.poisoned.clone();
            got.sort_unstable();
            assert_eq!(got, expect, "{what}");
            for &i in &expect {
                assert_eq!(
                    (ours[i].code, ours[i].imm),
                    (0x85, POISON_HELPER_ID),
                    "{what}"
                );
            }
            continue;
        }
        let (insn, orig, new) = theirs.patched.unwrap_or_else(|| panic!("{what}"));
        assert_eq!(insn, a.insn_index, "{what}");
        assert_eq!(new, a.resolution.new, "{what}");
        if a.resolution.validate {
            assert_eq!(orig, a.resolution.orig, "{what}");
        }
        let size_change = (a.resolution.orig_size != a.resolution.new_size)
            .then_some((a.resolution.orig_size, a.resolution.new_size));
        assert_eq!(theirs.mem_size, size_change, "{what}");
    }
    assert!(
        poisoned >= 3,
        "the guarded unsatisfiable relocations were exercised"
    );

    // The kernel's xlated program still holds our relocated instructions,
    // in order (dead code after the poisoned branches is dropped).
    let mut pos = 0;
    for a in applied
        .iter()
        .filter(|a| !a.resolution.poison && !a.resolution.fail_memsz_adjust)
    {
        let want = as_xlated(&ours, a.insn_index);
        let found = xlated[pos..].iter().position(|x| *x == want);
        let Some(found) = found else {
            panic!(
                "relocated insn #{} {want:?} not in xlated program after entry {pos}",
                a.insn_index
            );
        };
        pos += found + 1;
    }
}
