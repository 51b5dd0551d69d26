//! Which BTF CO-RE relocations resolve against.

use std::path::PathBuf;

use apiary_btf::Btf;

use crate::error::{Error, Result};

/// The target of CO-RE relocations.
#[derive(Debug, Clone, Default)]
pub(crate) enum CoreTarget {
    /// Apiary's own context types: what programs actually run with.
    #[default]
    ApiaryContexts,
    /// A kernel BTF file such as `/sys/kernel/btf/vmlinux`.
    File(PathBuf),
}

impl CoreTarget {
    pub(crate) fn load(&self) -> Result<Btf> {
        match self {
            CoreTarget::ApiaryContexts => {
                apiary_coreloc::context_btf().map_err(|e| Error::TargetBtf {
                    path: PathBuf::from("<apiary contexts>"),
                    reason: e.to_string(),
                })
            }
            CoreTarget::File(path) => {
                let bytes = std::fs::read(path).map_err(|e| Error::TargetBtf {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                Btf::parse(&bytes).map_err(|e| Error::TargetBtf {
                    path: path.clone(),
                    reason: e.to_string(),
                })
            }
        }
    }
}
