//! The running kernel's BTF (`/sys/kernel/btf/vmlinux`), read and parsed
//! once per process, and only for the programs whose context it types or
//! that reach kernel objects ([`needs_kernel_btf`]): the verdict asked of
//! the verifier is this machine's kernel's.

use std::fmt;
use std::sync::OnceLock;

use apiary_btf::Btf;

use crate::helpers::{ArgKind, RetKind, helper_proto};

/// Where the kernel publishes its BTF.
pub const KERNEL_BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

/// Why the running kernel's BTF is not available.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelBtfError {
    /// The file could not be read (no `CONFIG_DEBUG_INFO_BTF`, not Linux).
    Read(String),
    /// The file is not BTF this crate can parse.
    Parse(String),
}

impl fmt::Display for KernelBtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelBtfError::Read(e) => write!(f, "reading {KERNEL_BTF_PATH}: {e}"),
            KernelBtfError::Parse(e) => write!(f, "parsing {KERNEL_BTF_PATH}: {e}"),
        }
    }
}

impl std::error::Error for KernelBtfError {}

/// The running kernel's BTF, read on the first call.
pub fn kernel_btf() -> Result<&'static Btf, KernelBtfError> {
    static BTF: OnceLock<Result<Btf, KernelBtfError>> = OnceLock::new();
    BTF.get_or_init(|| {
        let bytes =
            std::fs::read(KERNEL_BTF_PATH).map_err(|e| KernelBtfError::Read(e.to_string()))?;
        let btf = Btf::parse(&bytes).map_err(|e| KernelBtfError::Parse(e.to_string()))?;
        // The first lookup by name sorts every name; doing it here puts
        // that cost in reading the BTF, once, rather than in the first
        // program's verification time (the kernel's index is built at boot).
        btf.find_by_name("task_struct");
        Ok(btf)
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The `call` opcode; `src` 0 calls a helper, 2 a kernel function.
const CALL: u8 = 0x85;

/// Whether a program whose context is not BTF-typed still needs the
/// kernel's BTF: it calls a kernel function, or a helper that returns or
/// takes a kernel struct by its BTF type (`bpf_get_current_task_btf`,
/// `bpf_task_storage_get`), whose fields the kernel then checks.
pub fn needs_kernel_btf(insns: &[apiary_isa::RawInsn]) -> bool {
    crate::kfunc::calls_kfuncs(insns)
        || insns.iter().any(|raw| {
            raw.code == CALL
                && raw.src == 0
                && helper_proto(raw.imm).is_some_and(|proto| {
                    proto.ret == RetKind::TrustedTask
                        || proto
                            .args
                            .iter()
                            .any(|a| matches!(a, ArgKind::PtrToBtfId | ArgKind::PtrToBtfIdOrNull))
                })
        })
}
