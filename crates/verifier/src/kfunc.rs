//! Calls of kernel functions (`BPF_PSEUDO_KFUNC_CALL`, the BTF id of the
//! function in `imm`): before the walk, the kernel looks each one up in its
//! own BTF (`add_kfunc_call`) and refuses an id that names no function.
//! What a kfunc takes and returns is not modelled: a call of a real one is
//! refused at the walk, saying so.

use apiary_btf::{Kind, TypeId};

use crate::error::Rejection;
use crate::program::Program;

/// The `call` opcode with `src` = `BPF_PSEUDO_KFUNC_CALL`.
const CALL: u8 = 0x85;
const PSEUDO_KFUNC_CALL: u8 = 2;

/// Whether `prog` calls a kernel function (it then needs the kernel's BTF).
pub fn calls_kfuncs(insns: &[apiary_isa::RawInsn]) -> bool {
    insns
        .iter()
        .any(|raw| raw.code == CALL && raw.src == PSEUDO_KFUNC_CALL)
}

/// Refuses the first call of a vmlinux BTF id that is not a function, as
/// the kernel does before the walk. Module functions (a BTF fd index in
/// `off`) and hosts without the kernel's BTF are left to the walk.
pub(crate) fn check(prog: &Program) -> Result<(), Rejection> {
    let Some(btf) = prog.kernel_btf else {
        return Ok(());
    };
    for (insn, raw) in prog.insns.iter().enumerate() {
        if raw.code != CALL || raw.src != PSEUDO_KFUNC_CALL || raw.off != 0 {
            continue;
        }
        let id = raw.imm as u32;
        let is_func = btf
            .type_by_id(TypeId(id))
            .is_ok_and(|t| matches!(t.kind, Kind::Func { .. }));
        if !is_func {
            return Err(
                Rejection::new(insn, format!("kernel btf_id {id} is not a function"))
                    .cause(format!(
                        "the kfunc call names BTF type {id}, which is not a function of this kernel"
                    ))
                    .help("call the kfunc by its declaration (`extern ... __ksym`) so that libbpf resolves its id"),
            );
        }
    }
    Ok(())
}
