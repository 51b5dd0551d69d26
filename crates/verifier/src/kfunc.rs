//! Calls of kernel functions (`BPF_PSEUDO_KFUNC_CALL`, the BTF id of the
//! function in `imm`): before the walk, the kernel looks each one up in its
//! own BTF (`add_kfunc_call`) and refuses an id that names no function, or
//! any kfunc call from a program whose license is not GPL-compatible. At
//! the walk, a call is known by its function's name: the numeric iterator
//! kfuncs are checked by [`crate::iter`]; any other is refused as not
//! supported by Apiary's verifier yet.

use apiary_btf::{Kind, TypeId};

use crate::error::Rejection;
use crate::iter::IterKfunc;
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
    let first = prog
        .insns
        .iter()
        .position(|raw| raw.code == CALL && raw.src == PSEUDO_KFUNC_CALL);
    if let (Some(insn), false) = (first, prog.gpl) {
        return Err(Rejection::new(
            insn,
            "cannot call kernel function from non-GPL compatible program",
        )
        .cause("kernel functions may only be called by GPL-compatible programs")
        .help("declare a GPL-compatible license: `char LICENSE[] SEC(\"license\") = \"GPL\";`"));
    }
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

/// The kernel function a call at `insn` names, when Apiary's verifier
/// checks its calls; otherwise the refusal saying it does not yet.
pub(crate) fn supported(
    prog: &Program,
    insn: usize,
    btf_id: i32,
    module: i16,
) -> Result<IterKfunc, Rejection> {
    let name = prog
        .kernel_btf
        .filter(|_| module == 0)
        .and_then(|btf| btf.name(TypeId(btf_id as u32)).ok());
    if let Some(kfunc) = name.and_then(IterKfunc::by_name) {
        return Ok(kfunc);
    }
    let what = match name {
        Some(name) => format!("kernel function {name}"),
        None if module != 0 => format!("kernel function {btf_id} of module BTF {module}"),
        None => format!("kernel function {btf_id} (this host has no kernel BTF to name it)"),
    };
    Err(Rejection::new(
        insn,
        format!("calling {what} is not supported by apiary's verifier yet"),
    )
    .cause("Apiary's verifier checks the numeric iterator kfuncs (bpf_iter_num_new/next/destroy) only")
    .help("verify this program with the kernel (--backend kernel), or run it unverified (--no-verify)"))
}

/// The iterator `next` calls of `prog`: each is a checkpoint the walk
/// always saves (`is_force_checkpoint`) and a prune point.
pub(crate) fn iter_next_calls(prog: &Program) -> impl Iterator<Item = usize> {
    prog.insns
        .iter()
        .enumerate()
        .filter_map(move |(insn, raw)| {
            let is_next = raw.code == CALL
                && raw.src == PSEUDO_KFUNC_CALL
                && raw.off == 0
                && prog
                    .kernel_btf
                    .and_then(|btf| btf.name(TypeId(raw.imm as u32)).ok())
                    .and_then(IterKfunc::by_name)
                    == Some(IterKfunc::Next);
            is_next.then_some(insn)
        })
}
