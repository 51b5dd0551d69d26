//! Extern kernel functions (`__ksym`) resolved against the running
//! kernel's BTF as libbpf does: the ids compared with bpftool's dump of
//! `/sys/kernel/btf/vmlinux`, the failures with libbpf's own messages
//! (bpftool's `prog loadall` on the same object).

mod common;

use std::path::Path;
use std::process::Command;

use apiary_btf::Btf;
use apiary_isa::opcode::BPF_PSEUDO_KFUNC_CALL;
use apiary_loader::{LoadError, Object};

fn vmlinux(test: &str) -> Option<Btf> {
    match apiary_testskip::vmlinux_btf() {
        Ok(bytes) => Some(Btf::parse(&bytes).expect("vmlinux BTF parses")),
        Err(reason) => apiary_testskip::skip(test, reason),
    }
}

/// The id bpftool gives the kernel FUNC `name` (`[ID] FUNC 'name' ...`).
fn bpftool_func_id(name: &str) -> i32 {
    let dump = common::bpftool(&["btf", "dump", "file", "/sys/kernel/btf/vmlinux"]);
    let needle = format!("] FUNC '{name}' ");
    let line = dump
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap_or_else(|| panic!("vmlinux has no FUNC {name}"));
    line.trim_start_matches('[')
        .split(']')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("bpftool prints [id]")
}

/// libbpf's first warning when bpftool loads the object at `path`.
fn libbpf_refusal(path: &Path, tag: &str) -> String {
    let dir = format!("/sys/fs/bpf/apiary_kfunc_{}_{tag}", std::process::id());
    let out = Command::new("bpftool")
        .args(["prog", "loadall"])
        .arg(path)
        .arg(&dir)
        .output()
        .expect("bpftool runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success(), "libbpf loaded {}", path.display());
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("libbpf: "))
        .expect("libbpf says why")
        .to_owned()
}

#[test]
fn iterator_kfuncs_get_the_kernels_btf_ids() {
    const TEST: &str = "iterator_kfuncs_get_the_kernels_btf_ids";
    let Some(vmlinux) = vmlinux(TEST) else { return };
    if !common::bpftool_available(TEST) {
        return;
    }
    let corpus = match apiary_corpus::object("iter_num") {
        Ok(obj) => obj,
        Err(e) => return apiary_testskip::missing(TEST, e),
    };
    let mut object = Object::open(corpus.path()).expect("iter_num opens");
    let spec = object.program("sum_bytes").expect("sum_bytes loads");
    let names: Vec<&str> = spec.kfunc_calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bpf_iter_num_new",
            "bpf_iter_num_next",
            "bpf_iter_num_next",
            "bpf_iter_num_destroy"
        ]
    );
    for call in &spec.kfunc_calls {
        let insn = spec.insns[call.insn_index];
        assert_eq!(
            (insn.code, insn.src, insn.imm),
            (0x85, BPF_PSEUDO_KFUNC_CALL, 0)
        );
    }
    let calls = spec.kfunc_calls.clone();
    assert!(
        object.needs_core(),
        "unresolved kfuncs need the kernel's BTF"
    );
    object.relocate_core(&vmlinux).expect("kfuncs resolve");
    assert!(!object.needs_core());
    let spec = object.program("sum_bytes").expect("sum_bytes loads");
    assert!(spec.kfunc_calls.iter().all(|c| c.resolved));
    for call in calls {
        let insn = spec.insns[call.insn_index];
        assert_eq!(insn.src, BPF_PSEUDO_KFUNC_CALL);
        assert_eq!(insn.off, 0, "a vmlinux function has no module index");
        assert_eq!(insn.imm, bpftool_func_id(&call.name), "{}", call.name);
    }
}

#[test]
fn weak_kfuncs_the_kernel_lacks_keep_id_zero_and_flavors_are_ignored() {
    const TEST: &str = "weak_kfuncs_the_kernel_lacks_keep_id_zero_and_flavors_are_ignored";
    let Some(vmlinux) = vmlinux(TEST) else { return };
    if !common::bpftool_available(TEST) {
        return;
    }
    let Some(path) = common::compile_test_object(TEST, "kfunc_weak") else {
        return;
    };
    let mut object = Object::open(&path).expect("opens");
    object
        .relocate_core(&vmlinux)
        .expect("weak externs never fail");
    let spec = object.program("calls_weak").expect("calls_weak loads");
    let kfunc_imms: Vec<i32> = spec
        .insns
        .iter()
        .filter(|i| i.code == 0x85 && i.src == BPF_PSEUDO_KFUNC_CALL)
        .map(|i| i.imm)
        .collect();
    assert_eq!(kfunc_imms, [0, bpftool_func_id("bpf_iter_num_destroy")]);
    let _ = std::fs::remove_dir_all(path.parent().expect("temp dir"));
}

#[test]
fn unresolvable_kfuncs_fail_with_libbpfs_message() {
    const TEST: &str = "unresolvable_kfuncs_fail_with_libbpfs_message";
    let Some(vmlinux) = vmlinux(TEST) else { return };
    if !common::bpftool_available(TEST) {
        return;
    }
    for name in ["kfunc_strong_missing", "kfunc_incompatible"] {
        let Some(path) = common::compile_test_object(TEST, name) else {
            return;
        };
        let mut object = Object::open(&path).expect("opens");
        let err = object.relocate_core(&vmlinux).expect_err(name);
        assert!(matches!(err, LoadError::Kfunc { .. }), "{name}: {err:?}");
        assert_eq!(err.to_string(), libbpf_refusal(&path, name), "{name}");
        let _ = std::fs::remove_dir_all(path.parent().expect("temp dir"));
    }
}
