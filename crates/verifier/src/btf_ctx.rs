//! The context of BTF-typed tracing programs (tp_btf, fentry, fexit,
//! fmod_ret, lsm, iter): an array of u64 arguments whose types come from
//! the attach point's prototype in the kernel's BTF (`btf_ctx_access`). A
//! pointer to a struct becomes a `btf_id` pointer (trusted and maybe NULL
//! as the kernel decides), integers, enums and other pointers numbers.
//!
//! A parameter whose name ends in `__nullable`, or a tracepoint argument
//! in `raw_tp_nullable`'s table, may be NULL. Not modelled: `__user` and
//! `__percpu` pointers (numbers here: dereferencing
//! one is refused either way, with another message), iterator buffers
//! (`void *` key and value of map iterators: numbers here), struct
//! arguments passed by value in two slots, and struct_ops members.

use apiary_btf::{Btf, Kind, TypeId};
use apiary_context::{AttachPoint, BtfArguments, Rule};
use apiary_kernel::types::{AttachType, ProgType};

use crate::error::Rejection;
use crate::program::Program;
use crate::regs::{RegState, RegType, Trust};

/// What loading one argument slot gives.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Slot {
    /// A number.
    Scalar,
    /// A pointer to a kernel struct; `typed` is the line the kernel logs
    /// on typing it (`None` for an iterator's object, typed without it).
    Ptr {
        btf_id: TypeId,
        trust: Trust,
        maybe_null: bool,
        typed: Option<String>,
    },
    /// `btf_ctx_access` refuses a load of it, saying this.
    Refused(String),
}

/// A BTF-typed program's context, resolved once per program.
#[derive(Debug)]
pub(crate) struct BtfCtx {
    /// The slots and pointer slots, for `apiary-context`'s rules.
    pub args: BtfArguments,
    slots: Vec<Slot>,
    /// The attach point as the kernel's log names it (`sched_switch`).
    func: String,
}

/// LSM hooks whose arguments the kernel does not trust
/// (`untrusted_lsm_hooks`): objects being created or freed.
const UNTRUSTED_LSM_HOOKS: &[&str] = &[
    "bpf_lsm_bpf_map_free",
    "bpf_lsm_bpf_prog_free",
    "bpf_lsm_file_alloc_security",
    "bpf_lsm_file_free_security",
    "bpf_lsm_sk_alloc_security",
    "bpf_lsm_sk_free_security",
    "bpf_lsm_task_free",
];

/// Iterators whose object argument the kernel registers as trusted
/// (`PTR_TO_BTF_ID_OR_NULL | PTR_TRUSTED` in their `ctx_arg_info`); the
/// others' are plain `PTR_TO_BTF_ID_OR_NULL`.
const TRUSTED_ITERATORS: &[&str] = &["bpf_iter_task", "bpf_iter_cgroup"];

/// Whether the context of `prog_type`/`attach` is typed from BTF here.
pub(crate) fn typed(prog_type: ProgType, attach: AttachType) -> bool {
    match prog_type {
        ProgType::TRACING => matches!(
            attach,
            AttachType::TRACE_RAW_TP
                | AttachType::TRACE_FENTRY
                | AttachType::TRACE_FEXIT
                | AttachType::MODIFY_RETURN
                | AttachType::TRACE_ITER
        ),
        ProgType::LSM => attach == AttachType::LSM_MAC,
        _ => false,
    }
}

/// The kernel refuses a tracing program without an attach point before it
/// looks at an instruction (`bpf_check_attach_target`).
fn no_attach_point(cause: String) -> Rejection {
    Rejection::new(0, "Tracing programs must provide btf_id")
        .cause(cause)
        .help("name the attach point in the section (e.g. SEC(\"tp_btf/sched_switch\")) and verify on a kernel with BTF (/sys/kernel/btf/vmlinux)")
}

impl BtfCtx {
    /// The typed context of `prog`, `None` for program types whose context
    /// is not typed from BTF; refused as the kernel refuses a program whose
    /// attach point it cannot find. Without the kernel's BTF the verdict
    /// is that refusal, saying so: the types are not there to check with.
    pub(crate) fn resolve(prog: &Program) -> Result<Option<BtfCtx>, Rejection> {
        if !typed(prog.prog_type, prog.attach_type) {
            return Ok(None);
        }
        let Some(target) = prog.attach_target else {
            return Err(no_attach_point(format!(
                "a {} program ({}) needs an attach point, and none is named",
                prog.prog_type, prog.attach_type
            )));
        };
        let Some(btf) = prog.kernel_btf else {
            return Err(no_attach_point(format!(
                "the context of `{target}` is typed by the kernel's BTF, which this host does not provide"
            )));
        };
        let point = apiary_context::attach_point(btf, prog.attach_type, target)
            .map_err(|e| no_attach_point(format!("attach point `{target}`: {e}")))?;
        let args = point
            .arguments(btf)
            .map_err(|e| no_attach_point(format!("attach point `{target}`: {e}")))?;
        let params = point.params.iter().map(|p| Some(p.name_off));
        let returned = point.ret.map(|_| None);
        let types = point.params.iter().map(|p| p.ty).chain(point.ret);
        let slots = params
            .chain(returned)
            .zip(types)
            .enumerate()
            .map(|(arg, (name_off, ty))| slot(btf, prog, &point, arg, name_off, ty))
            .collect::<Result<_, apiary_btf::BtfError>>()
            .map_err(|e| no_attach_point(format!("malformed kernel BTF: {e}")))?;
        let func = kernel_name(&point).to_string();
        Ok(Some(BtfCtx { args, slots, func }))
    }

    /// What loading the slot at `off` gives (the load already passed the
    /// slot rules), or the kernel's refusal.
    pub(crate) fn load(
        &self,
        insn: usize,
        off: i16,
        bytes: i32,
        next_id: &mut u32,
    ) -> Result<RegState, Rejection> {
        let slot = usize::try_from(off / 8)
            .ok()
            .and_then(|i| self.slots.get(i));
        Ok(match slot {
            None | Some(Slot::Scalar) => RegState::unknown(),
            Some(Slot::Refused(why)) => {
                return Err(Rejection::new(
                    insn,
                    format!("invalid bpf_context access off={off} size={bytes}"),
                )
                .context(why.clone())
                .cause(why.clone()));
            }
            Some(Slot::Ptr {
                btf_id,
                trust,
                maybe_null,
                ..
            }) => RegState {
                btf_id: btf_id.0,
                trust: *trust,
                maybe_null: *maybe_null,
                id: if *maybe_null {
                    *next_id += 1;
                    *next_id
                } else {
                    0
                },
                ..RegState::pointer(RegType::BtfId)
            },
        })
    }

    /// The line `btf_ctx_access` logs before refusing a load of `bytes`
    /// at `off` for breaking `rule`, if it logs one: a slot past the
    /// arguments, a pointer argument loaded narrow.
    pub(crate) fn refusal_line(&self, rule: Rule, off: i16, bytes: i32) -> Option<String> {
        let func = &self.func;
        match rule {
            // Offsets past the 12 slots fail before `btf_ctx_access`.
            Rule::OutOfRange { .. } if (0..8 * 12).contains(&off) => Some(format!(
                "func '{func}' doesn't have {}-th argument",
                off / 8 + 1
            )),
            Rule::MustBeSize(8) => Some(format!("func '{func}' size {bytes} must be 8")),
            _ => None,
        }
    }

    /// Per argument slot, the line the kernel logs when a load types it
    /// from BTF (`func 'sched_switch' arg1 has btf_id 114 type STRUCT
    /// 'task_struct'`).
    pub(crate) fn typed_lines(&self) -> Vec<Option<String>> {
        self.slots
            .iter()
            .map(|slot| match slot {
                Slot::Ptr { typed, .. } => typed.clone(),
                _ => None,
            })
            .collect()
    }
}

/// The kernel's name of a type's kind in messages (`btf_type_str`).
fn kind_str(btf: &Btf, ty: TypeId) -> &'static str {
    match btf.type_by_id(ty).map(|t| &t.kind) {
        Ok(Kind::Void) | Err(_) => "UNKN",
        Ok(kind) => kind.tag().bpftool_name(),
    }
}

/// The attach point's name in the kernel's log lines: a tracepoint's
/// without its typedef's prefix.
fn kernel_name(point: &AttachPoint) -> &str {
    point.name.strip_prefix("btf_trace_").unwrap_or(&point.name)
}

/// What slot `arg` (of type `ty`; `name_off` for a parameter, `None` for
/// the return value) loads as (`btf_ctx_access` after its size rules).
fn slot(
    btf: &Btf,
    prog: &Program,
    point: &AttachPoint,
    arg: usize,
    name_off: Option<u32>,
    ty: TypeId,
) -> Result<Slot, apiary_btf::BtfError> {
    let func = kernel_name(point);
    let t = btf.skip_modifiers_and_typedefs(ty)?;
    let kind = &btf.type_by_id(t)?.kind;
    if name_off.is_none() && prog.attach_type == AttachType::MODIFY_RETURN {
        if !matches!(kind, Kind::Int(i) if i.size <= 8) {
            return Ok(Slot::Refused(format!(
                "ret type {} not allowed for fmod_ret",
                kind_str(btf, t)
            )));
        }
        return Ok(Slot::Scalar);
    }
    let pointee = match kind {
        Kind::Int(i) if i.size <= 8 => return Ok(Slot::Scalar),
        Kind::Enum(_) | Kind::Enum64(_) | Kind::Struct(_) | Kind::Union(_) => {
            return Ok(Slot::Scalar);
        }
        Kind::Ptr(pointee) => *pointee,
        _ => {
            return Ok(Slot::Refused(format!(
                "func '{func}' arg{arg} '{}' has type {}. Only pointer access is allowed",
                btf.name(t).unwrap_or(""),
                kind_str(btf, t)
            )));
        }
    };
    // `void *` and pointers to integers are numbers to the verifier.
    if pointee == TypeId::VOID {
        return Ok(Slot::Scalar);
    }
    let target = btf.skip_modifiers_and_typedefs(pointee)?;
    if matches!(btf.type_by_id(target)?.kind, Kind::Int(_)) {
        return Ok(Slot::Scalar);
    }
    if crate::btf_ptr::memory_tag(btf, pointee).is_some() {
        return Ok(Slot::Scalar);
    }
    if !matches!(
        btf.type_by_id(target)?.kind,
        Kind::Struct(_) | Kind::Union(_)
    ) {
        return Ok(Slot::Refused(format!(
            "func '{func}' arg{arg} type {} is not a struct",
            kind_str(btf, target)
        )));
    }
    // An iterator's object (every argument after `meta`) may be NULL at the
    // end of the iteration (its `ctx_arg_info`).
    if prog.attach_type == AttachType::TRACE_ITER && arg > 0 {
        let trust = if TRUSTED_ITERATORS.contains(&func) {
            Trust::Trusted
        } else {
            Trust::Plain
        };
        return Ok(Slot::Ptr {
            btf_id: target,
            trust,
            maybe_null: true,
            typed: None,
        });
    }
    let trusted = match prog.prog_type {
        ProgType::TRACING => matches!(
            prog.attach_type,
            AttachType::TRACE_RAW_TP | AttachType::TRACE_ITER
        ),
        _ => !UNTRUSTED_LSM_HOOKS.contains(&func),
    };
    let nullable = match name_off {
        Some(off) => btf.str_at(off)?.ends_with("__nullable"),
        None => false,
    } || (prog.attach_type == AttachType::TRACE_RAW_TP
        && crate::raw_tp_nullable::may_be_null(func, arg));
    Ok(Slot::Ptr {
        btf_id: target,
        trust: if trusted {
            Trust::Trusted
        } else {
            Trust::Plain
        },
        maybe_null: nullable,
        typed: Some(format!(
            "func '{func}' arg{arg} has btf_id {} type {} '{}'",
            target.0,
            kind_str(btf, target),
            btf.name(target)?
        )),
    })
}
