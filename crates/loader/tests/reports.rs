//! The user-facing reports against their references: `btf dump` output
//! byte for byte against bpftool, `prog dump` listings against
//! `bpftool prog dump xlated ... linum` of the same objects loaded by the
//! kernel, source annotations against the C sources, and the `prog load`
//! listing against the object's own definitions.

use std::process::Command;

use apiary_loader::{BtfDumpFormat, btf_dump};

fn corpus() -> Option<&'static [apiary_corpus::CorpusObject]> {
    match apiary_corpus::objects() {
        Ok(objects) => Some(objects),
        Err(e) => {
            eprintln!("SKIPPED: report tests because {e}");
            None
        }
    }
}

fn bpftool_available() -> bool {
    let ok = Command::new("bpftool")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIPPED: bpftool comparison because bpftool is not runnable");
    }
    ok
}

fn bpftool(args: &[&str]) -> String {
    let out = Command::new("bpftool")
        .args(args)
        .output()
        .expect("bpftool");
    assert!(
        out.status.success(),
        "bpftool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("bpftool prints UTF-8")
}

fn ours_btf(bytes: &[u8], format: BtfDumpFormat) -> String {
    let mut out = Vec::new();
    btf_dump(bytes, format, &mut out).expect("btf dump");
    String::from_utf8(out).expect("utf8")
}

#[test]
fn btf_dump_matches_bpftool_for_every_corpus_object() {
    let Some(objects) = corpus() else { return };
    if !bpftool_available() {
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
    let path = "/sys/kernel/btf/vmlinux";
    let Ok(bytes) = std::fs::read(path) else {
        eprintln!("SKIPPED: vmlinux BTF dump because {path} is not readable");
        return;
    };
    if !bpftool_available() {
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
    let path = "/sys/kernel/btf/vmlinux";
    let Ok(bytes) = std::fs::read(path) else {
        eprintln!("SKIPPED: helper table check because {path} is not readable");
        return;
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
