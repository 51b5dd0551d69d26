//! Byte-for-byte comparison of our dumps with bpftool's, on objects clang
//! compiles from `tests/data/*.c` and on the running kernel's vmlinux BTF;
//! BTF.ext checked against the C sources the objects came from.

use std::path::{Path, PathBuf};
use std::process::Command;

use apiary_btf::{Btf, BtfExt, BtfKind, CoreReloKind, Kind, dump_c, dump_raw};
use object::{Object, ObjectSection};

const VMLINUX: &str = apiary_testskip::VMLINUX;

/// Whether clang-19 and bpftool are present; skips `test` when not.
fn tools_present(test: &str) -> bool {
    for (tool, arg) in [("clang-19", "--version"), ("bpftool", "version")] {
        if let Err(reason) = apiary_testskip::tool(tool, arg) {
            return apiary_testskip::skip(test, reason);
        }
    }
    true
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Compiles `tests/data/<name>.c` for BPF into a per-process temp dir.
fn compile(name: &str) -> PathBuf {
    let out_dir = std::env::temp_dir().join(format!("apiary-btf-test-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).expect("create temp dir");
    let object = out_dir.join(format!("{name}.o"));
    let arch = std::env::consts::ARCH;
    let output = Command::new("clang-19")
        .args(["-target", "bpf", "-O2", "-g", "-c"])
        .arg(format!("-I/usr/include/{arch}-linux-gnu"))
        .arg(data_dir().join(format!("{name}.c")))
        .arg("-o")
        .arg(&object)
        .output()
        .expect("run clang-19");
    assert!(
        output.status.success(),
        "clang-19 failed on {name}.c: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    object
}

fn section(object: &Path, name: &str) -> Vec<u8> {
    let bytes = std::fs::read(object).expect("read object");
    let file = object::File::parse(&*bytes).expect("parse ELF");
    let data = file
        .section_by_name(name)
        .unwrap_or_else(|| panic!("{} has no {name} section", object.display()))
        .data()
        .expect("section data");
    data.to_vec()
}

fn bpftool_dump(path: &Path, c_format: bool) -> String {
    let mut cmd = Command::new("bpftool");
    cmd.args(["btf", "dump", "file"]).arg(path);
    if c_format {
        cmd.args(["format", "c"]);
    }
    let output = cmd.output().expect("run bpftool");
    assert!(
        output.status.success(),
        "bpftool failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("bpftool output is UTF-8")
}

fn our_dumps(btf: &Btf) -> (String, String) {
    let mut raw = Vec::new();
    dump_raw(btf, &mut raw).expect("raw dump");
    let mut c = Vec::new();
    dump_c(btf, &mut c).expect("C dump");
    (
        String::from_utf8(raw).expect("raw UTF-8"),
        String::from_utf8(c).expect("C UTF-8"),
    )
}

/// Asserts equality showing the first differing line rather than two
/// multi-megabyte strings.
fn assert_same(what: &str, ours: &str, theirs: &str) {
    if ours == theirs {
        return;
    }
    let first_diff = ours
        .lines()
        .zip(theirs.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b);
    match first_diff {
        Some((n, (a, b))) => panic!("{what}: line {} differs\n ours: {a}\n bpftool: {b}", n + 1),
        None => panic!(
            "{what}: one output is a prefix of the other ({} vs {} lines)",
            ours.lines().count(),
            theirs.lines().count()
        ),
    }
}

fn compare_object(name: &str) {
    if !tools_present(&format!("compare_{name}")) {
        return;
    }
    let object = compile(name);
    let btf = Btf::parse(&section(&object, ".BTF")).expect("our parser accepts clang's BTF");
    let (raw, c) = our_dumps(&btf);
    assert_same(&format!("{name} raw"), &raw, &bpftool_dump(&object, false));
    assert_same(
        &format!("{name} format c"),
        &c,
        &bpftool_dump(&object, true),
    );
}

#[test]
fn kinds_object_dumps_like_bpftool() {
    compare_object("kinds");
}

#[test]
fn layout_object_dumps_like_bpftool() {
    compare_object("layout");
}

#[test]
fn core_object_dumps_like_bpftool() {
    compare_object("core");
}

#[test]
fn kinds_object_has_every_kind_clang_emits() {
    if !tools_present("kinds_object_has_every_kind_clang_emits") {
        return;
    }
    let btf = Btf::parse(&section(&compile("kinds"), ".BTF")).expect("parse");
    let present: Vec<BtfKind> = btf.types().map(|(_, t)| t.kind_tag()).collect();
    for kind in [
        BtfKind::Int,
        BtfKind::Ptr,
        BtfKind::Array,
        BtfKind::Struct,
        BtfKind::Union,
        BtfKind::Enum,
        BtfKind::Fwd,
        BtfKind::Typedef,
        BtfKind::Volatile,
        BtfKind::Const,
        BtfKind::Restrict,
        BtfKind::Func,
        BtfKind::FuncProto,
        BtfKind::Var,
        BtfKind::Datasec,
        BtfKind::Float,
        BtfKind::DeclTag,
        BtfKind::TypeTag,
        BtfKind::Enum64,
    ] {
        assert!(present.contains(&kind), "kinds.c produced no {kind}");
    }
    // Queries against what the C source says.
    let nested = btf
        .find_by_name_kind("nested", BtfKind::Struct)
        .expect("struct nested");
    let flat = btf.flat_members(nested).expect("flat members");
    let hi = flat
        .iter()
        .find(|m| m.name == "hi")
        .expect("anonymous member hi");
    // union at byte 16, inner struct at 0, `hi` after the short `lo`.
    assert_eq!(hi.bit_offset, 16 * 8 + 16);
    assert_eq!(hi.access_path, vec![2, 1, 1]);
    assert_eq!(btf.size_of(nested).expect("size"), 192);
    let point = btf
        .find_by_name_kind("point", BtfKind::Struct)
        .expect("point");
    assert_eq!(btf.size_of(point).expect("size"), 8);
    let cmy = btf.find_by_name("const_my_u32").expect("typedef");
    let base = btf.skip_modifiers_and_typedefs(cmy).expect("resolve");
    assert_eq!(btf.name(base).expect("name"), "unsigned int");
    let wide = btf
        .find_by_name_kind("wide_signed", BtfKind::Enum64)
        .expect("enum64");
    match &btf.type_by_id(wide).expect("type").kind {
        Kind::Enum64(e) => {
            assert!(e.signed);
            assert_eq!(e.values[0].raw as i64, -0x12_3456_789a);
        }
        other => panic!("wide_signed is {other:?}"),
    }
}

#[test]
fn core_object_ext_matches_source() {
    if !tools_present("core_object_ext_matches_source") {
        return;
    }
    let object = compile("core");
    let btf = Btf::parse(&section(&object, ".BTF")).expect("parse BTF");
    let ext = BtfExt::parse(&section(&object, ".BTF.ext")).expect("parse BTF.ext");
    let sections = ext.resolve(&btf).expect("resolve");
    let source = std::fs::read_to_string(data_dir().join("core.c")).expect("source");
    let lines: Vec<&str> = source.lines().collect();

    let prog = sections
        .iter()
        .find(|s| s.name == "tp/sched/sched_switch")
        .expect("program section");
    let func = prog.func_info.first().expect("func_info");
    assert_eq!(func.insn_off, 0);
    assert_eq!(btf.name(func.type_id).expect("name"), "core_prog");
    assert!(
        sections
            .iter()
            .any(|s| s.name == "xdp" && s.func_info.len() == 1)
    );

    assert!(!prog.line_info.is_empty());
    for li in &prog.line_info {
        assert!(li.file_name.ends_with("core.c"), "file {}", li.file_name);
        let line = lines.get(li.line as usize - 1).expect("line within file");
        assert_eq!(*line, li.line_text, "line {} text", li.line);
    }

    let task = btf
        .find_by_name_kind("task", BtfKind::Struct)
        .expect("struct task");
    let state = btf
        .find_by_name_kind("task_state", BtfKind::Enum)
        .expect("enum task_state");
    let has = |kind: CoreReloKind, access: &str| {
        prog.core_relos.iter().any(|r| {
            r.kind == kind
                && r.access_str == access
                && btf.skip_modifiers_and_typedefs(r.type_id).ok()
                    == Some(match kind {
                        CoreReloKind::EnumvalExists | CoreReloKind::EnumvalValue => state,
                        _ => task,
                    })
        })
    };
    // Access strings follow struct task's member order in core.c.
    assert!(has(CoreReloKind::FieldByteOffset, "0:1:1"), "anon.b");
    assert!(has(CoreReloKind::FieldExists, "0:2:2"), "arr[2]");
    assert!(has(CoreReloKind::FieldByteSize, "0:5"), "big");
    assert!(has(CoreReloKind::FieldSigned, "0:4"), "level");
    assert!(has(CoreReloKind::FieldLShiftU64, "0:3"), "flags");
    assert!(has(CoreReloKind::FieldRShiftU64, "0:3"), "flags");
    for kind in [
        CoreReloKind::TypeIdLocal,
        CoreReloKind::TypeIdTarget,
        CoreReloKind::TypeExists,
        CoreReloKind::TypeSize,
        CoreReloKind::TypeMatches,
    ] {
        assert!(has(kind, "0"), "{kind:?}");
    }
    assert!(has(CoreReloKind::EnumvalExists, "1"), "TASK_SLEEPING");
    assert!(has(CoreReloKind::EnumvalValue, "0"), "TASK_RUNNING");
}

#[test]
fn vmlinux_dumps_like_bpftool() {
    const TEST: &str = "vmlinux_dumps_like_bpftool";
    let data = match apiary_testskip::vmlinux_btf() {
        Ok(data) => data,
        Err(reason) => return apiary_testskip::skip(TEST, reason),
    };
    if let Err(reason) = apiary_testskip::tool("bpftool", "version") {
        return apiary_testskip::skip(TEST, reason);
    }
    let btf = Btf::parse(&data).expect("parse vmlinux BTF");
    let (raw, c) = our_dumps(&btf);
    assert_same(
        "vmlinux raw",
        &raw,
        &bpftool_dump(Path::new(VMLINUX), false),
    );
    assert_same(
        "vmlinux format c",
        &c,
        &bpftool_dump(Path::new(VMLINUX), true),
    );

    let task = btf
        .find_by_name_kind("task_struct", BtfKind::Struct)
        .expect("task_struct");
    let pid = btf
        .flat_members(task)
        .expect("members")
        .into_iter()
        .find(|m| m.name == "pid")
        .expect("pid");
    assert_eq!(
        btf.name(btf.skip_modifiers_and_typedefs(pid.ty).expect("resolve"))
            .expect("name"),
        "int"
    );
    assert_eq!(btf.pointer_size(), 8);
}
