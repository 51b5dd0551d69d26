//! Calls of kernel functions (`extern ... __ksym` functions): the loader
//! leaves them as `BPF_PSEUDO_KFUNC_CALL` with BTF id 0, and
//! [`Object::relocate_core`] gives each the id of the function of that
//! name in the target kernel's BTF, as libbpf's
//! `bpf_object__resolve_ksym_func_btf_id` and `RELO_EXTERN_CALL` do
//! (`off` 0: the function is vmlinux's, not a module's).

use apiary_btf::{Btf, BtfKind, Kind, TypeId};

use crate::{LoadError, Object};

/// One call of a kernel function in a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KfuncCall {
    /// Slot index of the `call` in [`crate::ProgramSpec::insns`].
    pub insn_index: usize,
    /// The extern's name as the object spells it (a `___flavor` suffix
    /// is ignored when looking it up).
    pub name: String,
    /// The extern's `FUNC` in the object's BTF (`None` when the object
    /// has no BTF for it, which libbpf refuses).
    pub local_func: Option<TypeId>,
    /// Declared `__weak`: a kernel without it leaves the call with id 0
    /// instead of failing the load.
    pub weak: bool,
    /// Whether [`Object::relocate_core`] has given the call its id (0
    /// for a weak extern the kernel lacks).
    pub resolved: bool,
}

impl Object {
    /// Whether any program calls a kernel function whose BTF id is not
    /// resolved yet.
    pub fn has_unresolved_kfuncs(&self) -> bool {
        self.programs
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .any(|p| p.kfunc_calls.iter().any(|c| !c.resolved))
    }

    /// Gives every kfunc call the BTF id of its function in `kernel` and
    /// marks it resolved. A weak extern the
    /// kernel lacks keeps id 0; a strong one, or one whose prototype does
    /// not match the kernel's, fails the load with libbpf's message.
    pub(crate) fn resolve_kfuncs(&mut self, kernel: &Btf) -> Result<(), LoadError> {
        let Object { programs, btf, .. } = self;
        for program in programs.iter_mut().filter_map(|p| p.as_mut().ok()) {
            for call in program.kfunc_calls.iter_mut().filter(|c| !c.resolved) {
                let id = resolve(btf.as_ref(), kernel, call)?;
                if let Some(insn) = program.insns.get_mut(call.insn_index) {
                    insn.imm = id.map_or(0, |id| id.0 as i32);
                    insn.off = 0;
                }
                call.resolved = true;
            }
        }
        Ok(())
    }
}

/// The kernel BTF id `call` resolves to, `None` for a weak extern left
/// unresolved.
fn resolve(
    local: Option<&Btf>,
    kernel: &Btf,
    call: &KfuncCall,
) -> Result<Option<TypeId>, LoadError> {
    let failed = |reason: String| LoadError::Kfunc {
        name: call.name.clone(),
        reason,
    };
    let (Some(local), Some(local_func)) = (local, call.local_func) else {
        return Err(failed("failed to find BTF for extern".to_owned()));
    };
    let local_proto = match local.type_by_id(local_func)?.kind {
        Kind::Func { proto, .. } => proto,
        _ => {
            return Err(failed(
                "extern is not a function in the object's BTF".to_owned(),
            ));
        }
    };
    let essential = apiary_coreloc::essential_name(&call.name);
    let Some(kernel_func) = kernel.find_by_name_kind(essential, BtfKind::Func) else {
        return if call.weak {
            Ok(None)
        } else {
            Err(failed("not found in kernel or module BTFs".to_owned()))
        };
    };
    let kernel_proto = match kernel.type_by_id(kernel_func)?.kind {
        Kind::Func { proto, .. } => proto,
        _ => return Err(failed("kernel BTF names no function".to_owned())),
    };
    // libbpf 1.1 (this machine's) refuses a mismatch even for a weak
    // extern; later versions leave a weak one unresolved.
    let compatible =
        apiary_coreloc::types_are_compat(local, local_proto, kernel, kernel_proto).unwrap_or(false);
    if compatible {
        Ok(Some(kernel_func))
    } else {
        Err(failed(format!(
            "func_proto [{}] incompatible with kernel [{}]",
            local_proto.0, kernel_proto.0
        )))
    }
}
