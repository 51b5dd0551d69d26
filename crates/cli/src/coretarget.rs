//! Which BTF the `prog` commands resolve CO-RE relocations against (issue
//! 3): Apiary's own context types by default, since those are the layouts
//! the interpreter gives programs; the running kernel's
//! `/sys/kernel/btf/vmlinux` when the kernel runs the program, as libbpf
//! would choose on this machine; or any BTF file the user names.

use std::path::{Path, PathBuf};

use apiary_btf::Btf;

use crate::error::CliError;

/// Where libbpf finds the running kernel's BTF.
pub const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

/// The target of an object's CO-RE relocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreTarget {
    /// `apiary_coreloc::context_btf()`: the context structures Apiary runs
    /// programs with.
    ApiaryContexts,
    /// A BTF file: raw BTF such as `/sys/kernel/btf/vmlinux`, or an ELF
    /// object with a `.BTF` section.
    File(PathBuf),
}

impl CoreTarget {
    /// `--target-btf` when given; otherwise the kernel's BTF when the kernel
    /// runs the program (so that both backends of `--backend both` run the
    /// same relocated instructions), else Apiary's contexts.
    pub fn choose(explicit: Option<PathBuf>, kernel_runs: bool) -> CoreTarget {
        match explicit {
            Some(path) => CoreTarget::File(path),
            None if kernel_runs => CoreTarget::File(PathBuf::from(KERNEL_BTF)),
            None => CoreTarget::ApiaryContexts,
        }
    }

    /// How messages name the target.
    pub fn label(&self) -> String {
        match self {
            CoreTarget::ApiaryContexts => "Apiary's context types".to_owned(),
            CoreTarget::File(path) => path.display().to_string(),
        }
    }

    /// The target's types.
    pub fn load(&self) -> Result<Btf, CliError> {
        match self {
            CoreTarget::ApiaryContexts => {
                apiary_coreloc::context_btf().map_err(|e| CliError::at("Apiary's context types", e))
            }
            CoreTarget::File(path) => load_file(path),
        }
    }
}

/// Largest target BTF read (this machine's vmlinux BTF is about 6 MiB).
const MAX_TARGET_BTF: u64 = 256 << 20;

fn load_file(path: &Path) -> Result<Btf, CliError> {
    use std::io::Read;
    let fail = |e: String| CliError::at(format!("--target-btf {}", path.display()), e);
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_TARGET_BTF + 1).read_to_end(&mut bytes))
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_TARGET_BTF {
        return Err(fail(format!("longer than {MAX_TARGET_BTF} bytes")));
    }
    apiary_loader::btf_from_file_bytes(&bytes).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_backend_defaults_to_the_kernels_btf() {
        assert_eq!(CoreTarget::choose(None, false), CoreTarget::ApiaryContexts);
        assert_eq!(
            CoreTarget::choose(None, true),
            CoreTarget::File(PathBuf::from(KERNEL_BTF))
        );
        let given = PathBuf::from("/tmp/x.btf");
        assert_eq!(
            CoreTarget::choose(Some(given.clone()), true),
            CoreTarget::File(given)
        );
    }

    #[test]
    fn apiary_contexts_describe_xdp_md() {
        let btf = CoreTarget::ApiaryContexts.load().expect("context BTF");
        assert!(
            btf.find_by_name_kind("xdp_md", apiary_btf::BtfKind::Struct)
                .is_some()
        );
    }

    #[test]
    fn a_missing_or_bad_file_is_one_error_naming_it() {
        let missing = CoreTarget::File(PathBuf::from("/nonexistent/apiary.btf"))
            .load()
            .expect_err("missing file");
        let text = missing.to_string();
        assert!(text.contains("/nonexistent/apiary.btf") && !text.contains('\n'));
        let garbage = std::env::temp_dir().join(format!("apiary-bad-btf-{}", std::process::id()));
        std::fs::write(&garbage, b"not BTF at all").expect("write");
        let bad = CoreTarget::File(garbage.clone())
            .load()
            .expect_err("garbage");
        assert!(bad.to_string().contains(&garbage.display().to_string()));
        let _ = std::fs::remove_file(garbage);
    }
}
