//! Helpers shared by the integration tests: the corpus, bpftool and clang
//! (each skipping the test through apiary-testskip when missing), and
//! objects loaded by the kernel through `bpftool prog loadall`.

#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;

/// The corpus, or `None` (after skipping `test`) when it was not built.
pub fn corpus(test: &str) -> Option<&'static [apiary_corpus::CorpusObject]> {
    match apiary_corpus::objects() {
        Ok(objects) => Some(objects),
        Err(e) => apiary_testskip::missing(test, e),
    }
}

/// Whether bpftool runs and bpffs is mounted; skips `test` when not.
pub fn bpftool_available(test: &str) -> bool {
    if let Err(reason) = apiary_testskip::tool("bpftool", "version") {
        return apiary_testskip::skip(test, reason);
    }
    if !Path::new("/sys/fs/bpf").exists() {
        return apiary_testskip::missing(test, "/sys/fs/bpf (bpffs) is not mounted");
    }
    true
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

/// Compiles `tests/data/<name>.c` with `clang-19 -target bpf -O2 -g` into
/// a fresh `<temp>/apiary-loader-<pid>-<n>/<name>.o` (tests run in
/// parallel, so each call gets its own file); `None` (after skipping
/// `test`) when clang-19 is missing. Panics when compilation fails.
pub fn compile_test_object(test: &str, name: &str) -> Option<PathBuf> {
    compile_test_object_for(test, name, "bpf")
}

/// [`compile_test_object`] for clang target `target` (`bpf`, `bpfeb`).
pub fn compile_test_object_for(test: &str, name: &str, target: &str) -> Option<PathBuf> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(format!("{name}.c"));
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("apiary-loader-{}-{call}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let output = dir.join(format!("{name}.o"));
    let arch_include = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let result = Command::new("clang-19")
        .args(["-target", target, "-O2", "-g", &arch_include, "-c"])
        .arg(&source)
        .arg("-o")
        .arg(&output)
        .output();
    match result {
        Err(e) => apiary_testskip::missing(test, format!("clang-19 does not run: {e}")),
        Ok(out) => {
            assert!(
                out.status.success(),
                "clang-19 {name}.c: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(output)
        }
    }
}

/// The value bytes of key 0 in `bpftool -j map dump` output.
pub fn first_value_bytes(dump: &serde_json::Value) -> Vec<u8> {
    let entry = dump.get(0).expect("map has an entry");
    hex_bytes(&entry["value"])
}

/// bpftool's `["0x01", ...]` byte lists.
pub fn hex_bytes(list: &serde_json::Value) -> Vec<u8> {
    list.as_array()
        .expect("byte list")
        .iter()
        .map(|b| {
            let text = b.as_str().expect("hex byte");
            u8::from_str_radix(text.trim_start_matches("0x"), 16).expect("hex byte")
        })
        .collect()
}

/// An object's programs loaded by the kernel and pinned in a bpffs
/// directory, which is removed when this is dropped (the test passing or
/// failing), with the maps the object pins by name.
pub struct Pinned {
    /// The pin directory; programs are pinned under their names.
    pub dir: PathBuf,
    /// The object's maps with `pinning = LIBBPF_PIN_BY_NAME`, which libbpf
    /// pins in the bpffs root, outside `dir`.
    by_name: Vec<PathBuf>,
}

impl Pinned {
    /// The guard of what loading the object at `path` into `dir` pins.
    pub fn guard(dir: PathBuf, path: &Path) -> Pinned {
        let object = apiary_loader::Object::open(path).expect("the object opens");
        let by_name = object
            .maps
            .iter()
            .filter(|map| map.pinning == 1)
            .map(|map| Path::new("/sys/fs/bpf").join(&map.name))
            .collect();
        Pinned { dir, by_name }
    }

    /// `bpftool prog loadall OBJ DIR`; panics when the kernel refuses.
    pub fn load(obj: &apiary_corpus::CorpusObject, tag: &str) -> Pinned {
        Pinned::load_file(obj.path(), obj.name, tag, false)
    }

    /// `bpftool prog loadall PATH DIR [pinmaps DIR/maps]`; panics when the
    /// kernel refuses. Pinning the maps keeps program arrays filled: the
    /// kernel empties them when their last user reference closes.
    pub fn load_file(path: &Path, name: &str, tag: &str, pin_maps: bool) -> Pinned {
        let dir = PathBuf::from(format!(
            "/sys/fs/bpf/apiary_{tag}_{}_{name}",
            std::process::id(),
        ));
        let pinned = Pinned::guard(dir, path);
        let mut command = Command::new("bpftool");
        command.args(["prog", "loadall"]).arg(path).arg(&pinned.dir);
        if pin_maps {
            command.arg("pinmaps").arg(pinned.dir.join("maps"));
        }
        let out = command.output().expect("bpftool");
        assert!(
            out.status.success(),
            "{name}: bpftool loadall failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pinned
    }

    /// The pinned path of map `name` (loaded with `pin_maps`).
    pub fn map(&self, name: &str) -> String {
        self.dir.join("maps").join(name).display().to_string()
    }

    /// The pinned path of program `name`.
    pub fn program(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        for pin in &self.by_name {
            let _ = std::fs::remove_file(pin);
        }
    }
}
