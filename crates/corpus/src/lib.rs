//! The corpus of C eBPF programs in `tests/progs/` (and the legacy-style
//! objects of `tests/progs/legacy/`) and the documented example
//! programs in `examples/<name>/`, compiled at build time with
//! `clang-19 -target bpf -O2 -g -mcpu=<manifest cpu>` exactly as users build
//! them against libbpf's headers; and the generator of the bundled packet
//! capture `examples/pcap/traffic.pcap` ([`traffic`]).
//!
//! This crate owns the lists of corpus objects and examples with their
//! manifest metadata (compile flags, covered features, whether this
//! machine's kernel loads them through libbpf/bpftool) and the bytes of the
//! generated traffic. It must not parse, load or run the objects: that is
//! the job of the loader, verifier, runtime and CLI crates that test against
//! it.
//!
//! When clang was not available at build time the crate still builds;
//! [`objects`] and [`examples`] then return [`Unavailable`] carrying the
//! reason, which tests pass on when they skip (apiary-testskip).

use std::path::Path;

pub mod traffic;

/// Whether the kernel of the machine the corpus was measured on loads the
/// object with `bpftool prog loadall` (libbpf 1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelLoads {
    /// `bpftool prog loadall` succeeds.
    Yes,
    /// It does not, for the stated reason (legacy map section, section name
    /// unknown to libbpf 1.1, kernel refusal measured on this machine, ...).
    No {
        /// Why loading is expected to fail.
        reason: &'static str,
    },
}

/// One compiled corpus object or example and its manifest entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorpusObject {
    /// File stem of the C source, e.g. `"xdp_firewall"` (unique within the
    /// corpus and within the examples, not across them).
    pub name: &'static str,
    object_path: &'static str,
    source_path: &'static str,
    /// The `-mcpu` value the object was compiled with (`"v1"` to `"v4"`).
    pub cpu: &'static str,
    /// Features the manifest claims the object covers (`sec:xdp`,
    /// `map:hash`, `core:field_exists`, ...).
    pub features: &'static [&'static str],
    /// Whether the kernel loads it through libbpf.
    pub kernel_loads: KernelLoads,
}

impl CorpusObject {
    /// The compiled ELF object (in cargo's `OUT_DIR`).
    pub fn path(&self) -> &'static Path {
        Path::new(self.object_path)
    }

    /// The C source (`tests/progs/<name>.c` or `examples/<name>/<name>.c`).
    pub fn source(&self) -> &'static Path {
        Path::new(self.source_path)
    }

    /// Whether the manifest lists `feature` for this object.
    pub fn covers(&self, feature: &str) -> bool {
        self.features.contains(&feature)
    }

    /// Reads the compiled object.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.path())
    }
}

/// The corpus was not compiled (clang missing at build time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the eBPF corpus was not compiled: {reason}")]
pub struct Unavailable {
    /// What the build script found missing.
    pub reason: &'static str,
}

/// Why [`object`] found no object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The corpus was not compiled.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// No manifest entry has this name.
    #[error("no corpus object or example named {0:?}")]
    NotFound(&'static str),
}

include!(concat!(env!("OUT_DIR"), "/corpus_table.rs"));

/// Every corpus object, in manifest order.
pub fn objects() -> Result<&'static [CorpusObject], Unavailable> {
    match UNAVAILABLE {
        Some(reason) => Err(Unavailable { reason }),
        None => Ok(OBJECTS),
    }
}

/// The manifest entries even when the corpus was not compiled (their
/// [`CorpusObject::path`] then does not exist).
pub fn manifest() -> &'static [CorpusObject] {
    OBJECTS
}

/// The object compiled from `tests/progs/<name>.c`.
pub fn object(name: &'static str) -> Result<&'static CorpusObject, LookupError> {
    objects()?
        .iter()
        .find(|o| o.name == name)
        .ok_or(LookupError::NotFound(name))
}

/// Every example program (`examples/manifest.toml`), in manifest order.
pub fn examples() -> Result<&'static [CorpusObject], Unavailable> {
    match UNAVAILABLE {
        Some(reason) => Err(Unavailable { reason }),
        None => Ok(EXAMPLES),
    }
}

/// The examples' manifest entries even when they were not compiled.
pub fn examples_manifest() -> &'static [CorpusObject] {
    EXAMPLES
}

/// Every legacy-style object (`tests/progs/legacy/manifest.toml`): built
/// as older clang and loaders left them (no BTF, `NOTYPE` or no program
/// symbols, `maps` section definitions), in manifest order.
pub fn legacy() -> Result<&'static [CorpusObject], Unavailable> {
    match LEGACY_UNAVAILABLE {
        Some(reason) => Err(Unavailable { reason }),
        None => Ok(LEGACY),
    }
}

/// The legacy object compiled from `tests/progs/legacy/<name>.c`.
pub fn legacy_object(name: &'static str) -> Result<&'static CorpusObject, LookupError> {
    legacy()?
        .iter()
        .find(|o| o.name == name)
        .ok_or(LookupError::NotFound(name))
}

/// The example compiled from `examples/<name>/<name>.c`.
pub fn example(name: &'static str) -> Result<&'static CorpusObject, LookupError> {
    examples()?
        .iter()
        .find(|o| o.name == name)
        .ok_or(LookupError::NotFound(name))
}
