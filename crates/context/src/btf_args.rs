//! The argument slots of a BTF-typed program's attach point, read from the
//! kernel's BTF as `btf_ctx_access` reads them.

use apiary_btf::{Btf, BtfKind, Kind, Param, TypeId};
use apiary_kernel::types::AttachType;

use crate::BtfArguments;
use crate::layouts::BTF_ARGS;

/// Why an attach point's arguments could not be read from BTF.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BtfArgumentsError {
    /// The BTF has no function or tracepoint of that name.
    #[error("the kernel's BTF has no {kind} named {name}")]
    Missing {
        /// What was looked for (`FUNC`, `TYPEDEF`).
        kind: &'static str,
        /// The name looked for.
        name: String,
    },
    /// The name does not lead to a function prototype.
    #[error("{name} is not a function or a pointer to a function prototype")]
    NotAFunction {
        /// The name looked up.
        name: String,
    },
    /// More arguments than the kernel's `MAX_BPF_FUNC_ARGS`.
    #[error("{name} has {count} argument slots, more than 12")]
    TooMany {
        /// The name looked up.
        name: String,
        /// Slots it would need.
        count: usize,
    },
    /// This attach type's arguments do not come from one prototype.
    #[error("the arguments of {attach_type} programs are not derived from BTF here")]
    NotDerivable {
        /// The attach type.
        attach_type: AttachType,
    },
    /// The BTF is inconsistent.
    #[error("malformed BTF: {0}")]
    Btf(#[from] apiary_btf::BtfError),
}

/// A BTF-typed program's attach point as the kernel resolves it
/// (`bpf_check_attach_target`): the type `attach_btf_id` names and the
/// prototype `btf_ctx_access` types the context's slots from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachPoint {
    /// The `FUNC` (or, for tp_btf, the `btf_trace_<name>` `TYPEDEF`) a
    /// loader passes as `attach_btf_id`.
    pub id: TypeId,
    /// Its name, as the kernel's messages give it (`btf_trace_sched_switch`,
    /// `bpf_iter_task`, `bpf_lsm_file_open`).
    pub name: String,
    /// Each argument slot's parameter (its name and type), in order: for
    /// tp_btf the tracepoint's arguments without its leading `void *` data.
    pub params: Vec<Param>,
    /// The return value's type, which fexit, fmod_ret and lsm programs
    /// read in the slot after the arguments.
    pub ret: Option<TypeId>,
}

impl AttachPoint {
    /// The slots a program may read and which of them are pointers.
    pub fn arguments(&self, btf: &Btf) -> Result<BtfArguments, BtfArgumentsError> {
        let count = self.params.len() + usize::from(self.ret.is_some());
        if count > BTF_ARGS as usize {
            return Err(BtfArgumentsError::TooMany {
                name: self.name.clone(),
                count,
            });
        }
        let mut pointers = 0u16;
        let types = self.params.iter().map(|p| p.ty);
        for (slot, ty) in types.chain(self.ret).enumerate() {
            if is_pointer(btf, ty)? {
                pointers |= 1 << slot;
            }
        }
        Ok(BtfArguments {
            slots: count as u8,
            pointers,
        })
    }
}

/// The attach point of a BTF-typed program attached at `target`, from the
/// kernel's BTF: `target` is what follows the section prefix
/// (`fentry/bpf_fentry_test1`, `tp_btf/sched_switch`, `lsm/file_open`,
/// `iter/task`), resolved as the kernel resolves it (`btf_trace_<name>`
/// for tracepoints, `bpf_lsm_<name>` for LSM hooks, `bpf_iter_<name>` for
/// iterators). struct_ops members are not covered.
pub fn attach_point(
    btf: &Btf,
    attach_type: AttachType,
    target: &str,
) -> Result<AttachPoint, BtfArgumentsError> {
    let (name, kind, skip, return_slot) = match attach_type {
        AttachType::TRACE_FENTRY => (target.to_owned(), BtfKind::Func, 0, false),
        AttachType::TRACE_FEXIT | AttachType::MODIFY_RETURN => {
            (target.to_owned(), BtfKind::Func, 0, true)
        }
        AttachType::LSM_MAC => (format!("bpf_lsm_{target}"), BtfKind::Func, 0, true),
        AttachType::TRACE_ITER => (format!("bpf_iter_{target}"), BtfKind::Func, 0, false),
        // The tracepoint's first argument is the probe's data, not the
        // program's.
        AttachType::TRACE_RAW_TP => (format!("btf_trace_{target}"), BtfKind::Typedef, 1, false),
        other => return Err(BtfArgumentsError::NotDerivable { attach_type: other }),
    };
    let id = btf
        .find_by_name_kind(&name, kind)
        .ok_or_else(|| BtfArgumentsError::Missing {
            kind: kind.bpftool_name(),
            name: name.clone(),
        })?;
    let proto = function_proto(btf, id)
        .ok_or_else(|| BtfArgumentsError::NotAFunction { name: name.clone() })??;
    let Kind::FuncProto(proto) = &btf.type_by_id(proto)?.kind else {
        return Err(BtfArgumentsError::NotAFunction { name });
    };
    Ok(AttachPoint {
        id,
        params: proto.params.iter().skip(skip).copied().collect(),
        ret: return_slot.then_some(proto.ret_type),
        name,
    })
}

/// The argument slots a BTF-typed program attached at `target` reads
/// ([`attach_point`]'s): a slot is a pointer, which loads must read whole,
/// when its argument (or return value) has a pointer type.
pub fn btf_arguments(
    btf: &Btf,
    attach_type: AttachType,
    target: &str,
) -> Result<BtfArguments, BtfArgumentsError> {
    attach_point(btf, attach_type, target)?.arguments(btf)
}

/// The `FUNC_PROTO` behind a function, or behind a typedef of a pointer to
/// one.
fn function_proto(btf: &Btf, id: TypeId) -> Option<Result<TypeId, apiary_btf::BtfError>> {
    let ty = match btf.type_by_id(id) {
        Ok(ty) => ty,
        Err(e) => return Some(Err(e)),
    };
    match &ty.kind {
        Kind::Func { proto, .. } => Some(Ok(*proto)),
        Kind::Typedef(_) => {
            let pointer = match btf.skip_modifiers_and_typedefs(id) {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            };
            match btf.type_by_id(pointer).map(|t| &t.kind) {
                Ok(Kind::Ptr(target)) => Some(btf.skip_modifiers(*target)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        }
        _ => None,
    }
}

/// Whether `ty` is a pointer (through modifiers and typedefs): the kernel
/// refuses narrow loads of pointer arguments, `void *` included (measured
/// on Linux 6.18).
fn is_pointer(btf: &Btf, ty: TypeId) -> Result<bool, apiary_btf::BtfError> {
    let resolved = btf.skip_modifiers_and_typedefs(ty)?;
    Ok(matches!(btf.type_by_id(resolved)?.kind, Kind::Ptr(_)))
}
