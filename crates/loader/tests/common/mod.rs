//! Helpers shared by the integration tests: the corpus, bpftool, and
//! objects loaded by the kernel through `bpftool prog loadall`.

#![allow(dead_code)] // each test file uses a different subset

use std::path::PathBuf;
use std::process::Command;

/// The corpus, or `None` (after a loud SKIPPED line) when it was not built.
pub fn corpus() -> Option<&'static [apiary_corpus::CorpusObject]> {
    match apiary_corpus::objects() {
        Ok(objects) => Some(objects),
        Err(e) => {
            eprintln!("SKIPPED: corpus tests because {e}");
            None
        }
    }
}

/// Whether bpftool runs and bpffs is mounted; prints SKIPPED when not.
pub fn bpftool_available() -> bool {
    let runs = Command::new("bpftool")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !runs {
        eprintln!("SKIPPED: bpftool comparison because bpftool is not runnable");
    } else if !std::path::Path::new("/sys/fs/bpf").exists() {
        eprintln!("SKIPPED: bpftool comparison because /sys/fs/bpf is not mounted");
        return false;
    }
    runs
}

/// bpftool's standard output; panics when bpftool fails.
pub fn bpftool(args: &[&str]) -> String {
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

/// `bpftool -j ARGS` parsed.
pub fn bpftool_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["-j"];
    all.extend_from_slice(args);
    serde_json::from_str(&bpftool(&all)).expect("bpftool json")
}

/// An object's programs loaded by the kernel and pinned in a bpffs
/// directory, which is removed when this is dropped.
pub struct Pinned {
    /// The pin directory; programs are pinned under their names.
    pub dir: PathBuf,
}

impl Pinned {
    /// `bpftool prog loadall OBJ DIR`; panics when the kernel refuses.
    pub fn load(obj: &apiary_corpus::CorpusObject, tag: &str) -> Pinned {
        let dir = PathBuf::from(format!(
            "/sys/fs/bpf/apiary_{tag}_{}_{}",
            std::process::id(),
            obj.name
        ));
        let pinned = Pinned { dir };
        let out = Command::new("bpftool")
            .args(["prog", "loadall"])
            .arg(obj.path())
            .arg(&pinned.dir)
            .output()
            .expect("bpftool");
        assert!(
            out.status.success(),
            "{}: bpftool loadall failed: {}",
            obj.name,
            String::from_utf8_lossy(&out.stderr)
        );
        pinned
    }

    /// The pinned path of program `name`.
    pub fn program(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
