//! Pinning on bpffs and getting objects back.

mod common;

use std::path::{Path, PathBuf};

use apiary_kernel::types::{MapType, ProgType};
use apiary_kernel::{Error, MapCreateAttrs, MapFd, ObjectKind, ProgFd, ProgLoadAttrs};

const BPFFS: &str = "/sys/fs/bpf";

/// A fresh directory on bpffs, removed (with its pins) on drop.
struct PinDir(PathBuf);

impl PinDir {
    /// Mounts bpffs if needed; `None` (after a skip) when that is impossible.
    fn new(test: &str) -> Option<PinDir> {
        if let Err(error) = apiary_kernel::ensure_bpffs(Path::new(BPFFS)) {
            return apiary_testskip::missing(
                test,
                format!("no bpffs at {BPFFS} and mounting one failed: {error}"),
            );
        }
        let dir = Path::new(BPFFS).join(format!("apiary-kernel-{test}-{}", std::process::id()));
        std::fs::create_dir(&dir).expect("mkdir on bpffs");
        Some(PinDir(dir))
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        // bpffs removes pins with unlink; best effort on the way out.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn pin_and_get_map_and_program() {
    require_bpf!("pin_and_get_map_and_program");
    let Some(dir) = PinDir::new("pin_and_get") else {
        return;
    };
    assert!(apiary_kernel::is_bpffs(&dir.0).expect("statfs"));

    let map = MapFd::create(&MapCreateAttrs {
        map_type: MapType::HASH,
        key_size: 4,
        value_size: 4,
        max_entries: 8,
        name: "pinned_map",
        ..MapCreateAttrs::default()
    })
    .expect("map");
    map.update(&1u32.to_ne_bytes(), &99u32.to_ne_bytes(), 0)
        .expect("update");
    let map_path = dir.0.join("map");
    map.pin(&map_path).expect("pin map");
    let again = map.pin(&map_path).expect_err("pinning twice");
    assert_eq!(again.errno().map(|e| e.0), Some(libc::EEXIST));

    let reopened = MapFd::from_pinned(&map_path).expect("get pinned map");
    assert_eq!(
        reopened.info().expect("info").id,
        map.info().expect("info").id
    );
    assert_eq!(
        (
            reopened.map_type(),
            reopened.key_size(),
            reopened.value_size()
        ),
        (MapType::HASH, 4, 4)
    );
    assert_eq!(
        reopened.lookup(&1u32.to_ne_bytes(), 0).expect("lookup"),
        Some(99u32.to_ne_bytes().to_vec())
    );

    let insns = common::return_imm(2);
    let prog = ProgFd::load(&ProgLoadAttrs {
        prog_type: ProgType::XDP,
        insns: &insns,
        license: "GPL",
        name: "pinned_prog",
        ..ProgLoadAttrs::default()
    })
    .expect("load")
    .prog;
    let prog_path = dir.0.join("prog");
    prog.pin(&prog_path).expect("pin prog");
    let reopened = ProgFd::from_pinned(&prog_path).expect("get pinned prog");
    assert_eq!(
        reopened.info(false).expect("info").id,
        prog.info(false).expect("info").id
    );

    if let Some(shown) = common::bpftool_json(
        "pin_and_get_map_and_program",
        &["prog", "show", "pinned", prog_path.to_str().expect("utf-8")],
    ) {
        assert_eq!(shown["name"], "pinned_prog");
    }

    // Wrong kinds are refused by name, not misread.
    match MapFd::from_pinned(&prog_path) {
        Err(Error::WrongObjectKind {
            wanted: ObjectKind::Map,
            found: ObjectKind::Prog,
        }) => {}
        other => panic!("expected a kind mismatch, got {other:?}"),
    }
    assert!(matches!(
        ProgFd::from_pinned(&map_path),
        Err(Error::WrongObjectKind { .. })
    ));

    let missing = MapFd::from_pinned(&dir.0.join("nothing")).expect_err("nothing pinned");
    assert_eq!(missing.errno().map(|e| e.0), Some(libc::ENOENT));
}

#[test]
fn pinning_outside_bpffs_is_refused() {
    require_bpf!("pinning_outside_bpffs_is_refused");
    let map = common::create_map(MapType::ARRAY, 4, 4, 1);
    let path = std::env::temp_dir().join(format!("apiary-kernel-not-bpffs-{}", std::process::id()));
    assert!(!apiary_kernel::is_bpffs(&std::env::temp_dir()).expect("statfs"));
    let error = map.pin(&path).expect_err("not a bpffs");
    assert_eq!(error.errno().map(|e| e.0), Some(libc::EPERM), "{error}");
}
