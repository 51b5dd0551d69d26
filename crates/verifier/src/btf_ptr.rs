//! Loads through `btf_id` pointers to kernel structs
//! (`check_ptr_to_btf_access`, `btf_struct_access`, `btf_struct_walk`): a
//! load must fall inside one field of the struct's layout in the kernel's
//! BTF, nested structs, unions and arrays followed; a pointer field read
//! whole gives a `btf_id` pointer to its struct, trusted only where the
//! kernel's `__safe_*` lists (in its BTF) say so; anything else gives a
//! number. Writes are refused, as tracing programs have no
//! `btf_struct_access` of their own. Also the check of a helper's
//! `ARG_PTR_TO_BTF_ID` argument (`btf_struct_ids_match`).

use apiary_btf::{Btf, Composite, Kind, TypeId};

use crate::error::Rejection;
use crate::helpers::HelperProto;
use crate::program::Program;
use crate::regs::{RegState, RegType, Trust};

/// What a walk to `off` found (`enum bpf_struct_walk_result`).
enum Walked<'b> {
    /// A number.
    Scalar,
    /// A pointer field to the struct `id`, read whole.
    Ptr {
        id: TypeId,
        field: &'b str,
        tag: Option<&'b str>,
        through_union: bool,
    },
    /// A pointer field to something that is not a struct: read-only
    /// memory of no size (`WALK_PTR_UNTRUSTED`).
    UntrustedMem,
}

/// The name of the `user`, `percpu` or `rcu` type tag `pointee` starts
/// with, if any (`btf_type_is_type_tag` without the kind flag).
pub(crate) fn memory_tag(btf: &Btf, pointee: TypeId) -> Option<&str> {
    let t = btf.type_by_id(pointee).ok()?;
    if !matches!(t.kind, Kind::TypeTag(_)) || btf.is_attribute_tag(pointee) {
        return None;
    }
    btf.str_at(t.name_off)
        .ok()
        .filter(|n| matches!(*n, "user" | "percpu" | "rcu"))
}

fn composite(btf: &Btf, id: TypeId) -> Option<(&Composite, bool)> {
    match &btf.type_by_id(id).ok()?.kind {
        Kind::Struct(c) => Some((c, false)),
        Kind::Union(c) => Some((c, true)),
        _ => None,
    }
}

/// A member's type resolved to its size (`__btf_resolve_size`): the
/// resolved type, the element's size and the element count (1 if not an
/// array), or `None` for a type without a size.
fn resolve(btf: &Btf, mut id: TypeId) -> Option<(TypeId, u32, u32, bool)> {
    let mut nelems: u32 = 1;
    let mut array = false;
    for _ in 0..apiary_btf::MAX_RESOLVE_DEPTH {
        let kind = &btf.type_by_id(id).ok()?.kind;
        let size = match kind {
            Kind::Int(i) => i.size,
            Kind::Struct(c) | Kind::Union(c) => c.size,
            Kind::Enum(e) | Kind::Enum64(e) => e.size,
            Kind::Float { size } => *size,
            Kind::Ptr(_) => 8,
            Kind::Array(a) => {
                array = true;
                nelems = nelems.checked_mul(a.nelems)?;
                id = a.elem_type;
                continue;
            }
            Kind::Typedef(t) | Kind::Volatile(t) | Kind::Const(t) | Kind::Restrict(t) => {
                id = *t;
                continue;
            }
            Kind::TypeTag(t) => {
                id = *t;
                continue;
            }
            _ => return None,
        };
        size.checked_mul(nelems)?;
        return Some((id, size, nelems, array));
    }
    None
}

/// Walks the struct `id` to `size` bytes at `off` (`btf_struct_walk`,
/// restarted on nested structs as `btf_struct_access` does).
fn walk(btf: &Btf, mut id: TypeId, mut off: u32, size: u32) -> Result<Walked<'_>, String> {
    let mut through_union = false;
    'again: for _ in 0..apiary_btf::MAX_RESOLVE_DEPTH {
        id = btf
            .skip_modifiers_and_typedefs(id)
            .map_err(|e| e.to_string())?;
        let tname = btf.name(id).unwrap_or("");
        let Some((t, union)) = composite(btf, id) else {
            return Err(format!("Type '{tname}' is not a struct"));
        };
        if union && t.members.len() != 1 {
            through_union = true;
        }
        if off.saturating_add(size) > t.size {
            // A flexible array at the end may be read past the size.
            let beyond = format!("access beyond struct {tname} at off {off} size {size}");
            let Some(last) = t.members.last() else {
                return Err(beyond);
            };
            let Ok(last_ty) = btf.skip_modifiers_and_typedefs(last.ty) else {
                return Err(beyond);
            };
            let Ok(Kind::Array(a)) = btf.type_by_id(last_ty).map(|t| &t.kind) else {
                return Err(beyond);
            };
            let moff = last.bit_offset / 8;
            if a.nelems != 0 || off < moff {
                return Err(beyond);
            }
            let elem = btf
                .skip_modifiers_and_typedefs(a.elem_type)
                .map_err(|e| e.to_string())?;
            match btf.type_by_id(elem).map(|t| &t.kind) {
                Ok(Kind::Int(_)) => return Ok(Walked::Scalar),
                Ok(Kind::Struct(c) | Kind::Union(c)) if c.size > 0 => {
                    off = (off - moff) % c.size;
                    id = elem;
                    continue 'again;
                }
                _ => return Err(beyond),
            }
        }
        for member in &t.members {
            let mut moff = member.bit_offset / 8;
            if off.saturating_add(size) <= moff {
                break;
            }
            if member.bitfield_size != 0 {
                let end_bit = member
                    .bit_offset
                    .saturating_add(u32::from(member.bitfield_size));
                if off <= moff && end_bit.div_ceil(8) <= off.saturating_add(size) {
                    return Ok(Walked::Scalar);
                }
                continue;
            }
            if off < moff {
                break;
            }
            let mname = btf.str_at(member.name_off).unwrap_or("");
            let Some((mut mtype, mut msize, nelems, array)) = resolve(btf, member.ty) else {
                return Err(format!("field {mname} doesn't have size"));
            };
            msize *= nelems;
            let mtrue_end = moff.saturating_add(msize);
            if off >= mtrue_end {
                continue;
            }
            if array {
                if moff == mtrue_end {
                    continue;
                }
                msize /= nelems;
                moff += (off - moff) / msize * msize;
            }
            let kind = &btf.type_by_id(mtype).map_err(|e| e.to_string())?.kind;
            match kind {
                Kind::Struct(_) | Kind::Union(_) => {
                    off -= moff;
                    id = mtype;
                    continue 'again;
                }
                Kind::Ptr(pointee) => {
                    if msize != size || off != moff {
                        return Err(format!(
                            "cannot access ptr member {mname} with moff {moff} in struct {tname} with off {off} size {size}"
                        ));
                    }
                    let tag = memory_tag(btf, *pointee);
                    mtype = btf
                        .skip_modifiers_and_typedefs(*pointee)
                        .map_err(|e| e.to_string())?;
                    if composite(btf, mtype).is_some() {
                        return Ok(Walked::Ptr {
                            id: mtype,
                            field: mname,
                            tag,
                            through_union,
                        });
                    }
                    return Ok(Walked::UntrustedMem);
                }
                _ => {}
            }
            if off.saturating_add(size) > mtrue_end && !through_union {
                return Err(format!(
                    "access beyond the end of member {mname} (mend:{mtrue_end}) in struct {tname} with off {off} size {size}"
                ));
            }
            return Ok(Walked::Scalar);
        }
        return Err(format!("struct {tname} doesn't have field at offset {off}"));
    }
    Err(format!("struct at offset {off} nests too deep"))
}

/// Whether the kernel's BTF lists `field` (a pointer to `pointee`) of the
/// struct `outer` in its `<outer><suffix>` struct (`__safe_trusted`,
/// `__safe_rcu`, ...: `btf_nested_type_is_trusted`).
fn listed(btf: &Btf, outer: TypeId, field: &str, pointee: TypeId, suffix: &str) -> bool {
    let Ok(name) = btf.name(outer) else {
        return false;
    };
    let kind = btf.type_by_id(outer).map(|t| t.kind_tag());
    let Some(safe) = kind
        .ok()
        .and_then(|k| btf.find_by_name_kind(&format!("{name}{suffix}"), k))
    else {
        return false;
    };
    let Some((list, _)) = composite(btf, safe) else {
        return false;
    };
    list.members.iter().any(|m| {
        let Ok(Kind::Ptr(p)) = btf.type_by_id(m.ty).map(|t| &t.kind) else {
            return false;
        };
        btf.str_at(m.name_off) == Ok(field) && btf.skip_modifiers_and_typedefs(*p) == Ok(pointee)
    })
}

/// The trust and NULL-ness of a pointer read from `field` of the struct
/// `reg` points to (the flags `check_ptr_to_btf_access` gives the result).
fn loaded_trust(
    btf: &Btf,
    prog: &Program,
    reg: &RegState,
    field: &str,
    pointee: TypeId,
    rcu_tag: bool,
    through_union: bool,
) -> (Trust, bool) {
    let outer = TypeId(reg.btf_id);
    let list = |suffix| listed(btf, outer, field, pointee, suffix);
    if through_union || reg.trust == Trust::Untrusted {
        return (Trust::Untrusted, false);
    }
    if !matches!(reg.trust, Trust::Trusted | Trust::Rcu) {
        return (Trust::Plain, false);
    }
    if list("__safe_trusted") {
        return (Trust::Trusted, false);
    }
    if list("__safe_trusted_or_null") {
        return (Trust::Trusted, true);
    }
    // Without RCU read locks (kfuncs, not modelled), a program is inside
    // an RCU read section exactly when it cannot sleep.
    if prog.sleepable {
        return (Trust::Untrusted, false);
    }
    // Any other pointer read from a trusted struct is untrusted
    // (`untrusted_ptr_`, measured on Linux 6.18: `task->mm` from a
    // tracepoint's task), loads through it allowed, helpers refusing it.
    if list("__safe_rcu") {
        (Trust::Rcu, false)
    } else if rcu_tag || list("__safe_rcu_or_null") {
        (Trust::Rcu, true)
    } else {
        (Trust::Untrusted, false)
    }
}

/// A load or store through a pointer to a kernel struct: the instruction,
/// the pointer's register and state, the offset (the pointer's fixed one
/// added), the width, and whether it writes.
#[derive(Clone, Copy)]
pub(crate) struct StructAccess<'a> {
    pub prog: &'a Program<'a>,
    pub insn: usize,
    pub regno: u8,
    pub reg: &'a RegState,
    pub off: i32,
    pub bytes: i32,
    pub writes: bool,
}

impl StructAccess<'_> {
    /// Refuses the access with the kernel's `line`.
    pub(crate) fn refuse<T>(&self, line: String, cause: String) -> Result<T, Rejection> {
        Err(Rejection::new(self.insn, line)
            .reg(self.regno, *self.reg)
            .cause(cause))
    }
}

/// `a` through the `btf_id` pointer `a.reg`.
pub(crate) fn access(a: &StructAccess, next_id: &mut u32) -> Result<RegState, Rejection> {
    let (regno, reg, off) = (a.regno, a.reg, a.off);
    let Some(btf) = a.prog.kernel_btf.filter(|_| reg.btf_id != 0) else {
        // A kernel object of a type not known here (a typed ksym): loads
        // give numbers, as before the types were read.
        if a.writes {
            return a.refuse(
                format!("R{regno} invalid mem access 'ptr_'"),
                "kernel objects cannot be written".into(),
            );
        }
        return Ok(RegState::unknown());
    };
    let tname = btf.name(TypeId(reg.btf_id)).unwrap_or("");
    if !a.prog.gpl {
        return a.refuse(
            format!("Cannot access kernel 'struct {tname}' from non-GPL compatible program"),
            "only GPL-compatible programs may read kernel structs".into(),
        );
    }
    if off < 0 {
        return a.refuse(
            format!("R{regno} is ptr_{tname} invalid negative access: off={off}"),
            format!("the access is {} bytes before the struct {tname}", -off),
        );
    }
    if !reg.value.var_off.equals_const(0) {
        return a.refuse(
            format!(
                "R{regno} is ptr_{tname} invalid variable offset: off={off}, var_off={}",
                reg.value.var_off
            ),
            format!("the pointer to struct {tname} was moved by a variable amount"),
        );
    }
    if a.writes {
        return a.refuse(
            "only read is supported".into(),
            format!("a tracing program may only read the kernel's struct {tname}"),
        );
    }
    read_field(btf, a, next_id)
}

/// What the read `a` (at an offset not negative) inside the kernel struct
/// `a.reg` points to gives (`btf_struct_access`, then `mark_btf_ld_reg`):
/// a number, memory, or a pointer to the member's struct.
pub(crate) fn read_field(
    btf: &Btf,
    a: &StructAccess,
    next_id: &mut u32,
) -> Result<RegState, Rejection> {
    let (reg, off, bytes) = (a.reg, a.off, a.bytes);
    let tname = btf.name(TypeId(reg.btf_id)).unwrap_or("");
    let walked =
        walk(btf, TypeId(reg.btf_id), off as u32, bytes as u32).map_err(|line| {
            Rejection::new(a.insn, line).reg(a.regno, *reg).cause(format!(
            "the {bytes}-byte read at offset {off} is not inside one field of struct {tname}"
        ))
        })?;
    Ok(match walked {
        Walked::Scalar => RegState::unknown(),
        Walked::UntrustedMem => RegState {
            mem_size: 0,
            trust: Trust::Untrusted,
            ..RegState::pointer(RegType::Mem)
        },
        // `__user` and `__percpu` pointers may not be dereferenced; a
        // number cannot be either.
        Walked::Ptr {
            tag: Some("user" | "percpu"),
            ..
        } => RegState::unknown(),
        Walked::Ptr {
            id,
            field,
            tag,
            through_union,
        } => {
            let (trust, maybe_null) = loaded_trust(
                btf,
                a.prog,
                reg,
                field,
                id,
                tag == Some("rcu"),
                through_union,
            );
            RegState {
                btf_id: id.0,
                trust,
                maybe_null,
                id: if maybe_null {
                    *next_id += 1;
                    *next_id
                } else {
                    0
                },
                ..RegState::pointer(RegType::BtfId)
            }
        }
    })
}

/// `size` bytes a helper reads (or fills) at the trusted `btf_id` pointer
/// `reg`, checked as one load of that size (`check_helper_mem_access`).
pub(crate) fn helper_memory(
    prog: &Program,
    insn: usize,
    regno: u8,
    reg: &RegState,
    size: i64,
) -> Result<(), Rejection> {
    let load = StructAccess {
        prog,
        insn,
        regno,
        reg,
        off: reg.off,
        bytes: i32::try_from(size).unwrap_or(i32::MAX),
        writes: false,
    };
    // The load's result goes nowhere, nor does a fresh id.
    access(&load, &mut 0).map(drop)
}

/// What `bpf_get_current_task_btf` returns: a trusted `task_struct`
/// (of no known layout without the kernel's BTF).
pub(crate) fn current_task(prog: &Program) -> RegState {
    let task = prog
        .kernel_btf
        .and_then(|btf| btf.find_by_name_kind("task_struct", apiary_btf::BtfKind::Struct));
    RegState {
        btf_id: task.map_or(0, |id| id.0),
        trust: Trust::Trusted,
        ..RegState::pointer(RegType::BtfId)
    }
}

/// The struct a helper's `ARG_PTR_TO_BTF_ID` argument must point to.
fn helper_struct(proto: &HelperProto) -> Option<&'static str> {
    match proto.name {
        "seq_printf" | "seq_write" | "seq_printf_btf" => Some("seq_file"),
        "task_storage_get" | "task_storage_delete" | "get_task_stack" => Some("task_struct"),
        "sk_storage_get" | "sk_storage_delete" => Some("sock_common"),
        "cgrp_storage_get" | "cgrp_storage_delete" => Some("cgroup"),
        _ => None,
    }
}

/// Whether the struct `id` is `need`, or holds it at offset `off`
/// through nested struct members (`btf_struct_ids_match`, not strict).
fn ids_match(btf: &Btf, mut id: TypeId, mut off: u32, need: TypeId) -> bool {
    if off == 0 && id == need {
        return true;
    }
    for _ in 0..apiary_btf::MAX_RESOLVE_DEPTH {
        let Some((t, _)) = composite(btf, id) else {
            return false;
        };
        let holding = t.members.iter().find(|m| {
            let start = m.bit_offset / 8;
            let size = btf.size_of(m.ty).unwrap_or(0);
            m.bitfield_size == 0 && start <= off && off < start + size
        });
        let Some(m) = holding else { return false };
        let Ok(next) = btf.skip_modifiers_and_typedefs(m.ty) else {
            return false;
        };
        if composite(btf, next).is_none() {
            return false;
        }
        let start = m.bit_offset / 8;
        if start == off && next == need {
            return true;
        }
        off -= start;
        id = next;
    }
    false
}

/// A helper's `ARG_PTR_TO_BTF_ID` argument (`check_reg_type` for
/// `btf_ptr_types`, then `check_func_arg_reg_off`); `or_null` for
/// `ARG_PTR_TO_BTF_ID_OR_NULL`, which also takes a pointer that may be
/// NULL (the NULL constant never gets here).
pub(crate) fn helper_arg(
    prog: &Program,
    insn: usize,
    regno: u8,
    reg: &RegState,
    proto: &HelperProto,
    or_null: bool,
) -> Result<(), Rejection> {
    const EXPECTED: &str = "ptr_, trusted_ptr_, rcu_ptr_";
    if reg.kind != RegType::BtfId || (reg.maybe_null && !or_null) || reg.trust == Trust::Untrusted {
        return Err(Rejection::new(
            insn,
            format!("R{regno} type={} expected={EXPECTED}", reg.type_name()),
        )
        .reg(regno, reg)
        .cause(if reg.maybe_null {
            format!("argument {regno} of {} may be NULL", proto.name)
        } else {
            format!(
                "argument {regno} of {} must be a kernel object, not {}",
                proto.name,
                reg.type_name()
            )
        }));
    }
    let (Some(btf), Some(need)) = (prog.kernel_btf, helper_struct(proto)) else {
        return Ok(());
    };
    let need_id = btf.find_by_name_kind(need, apiary_btf::BtfKind::Struct);
    if let Some(need_id) = need_id
        && reg.btf_id != 0
        && !(reg.off >= 0 && ids_match(btf, TypeId(reg.btf_id), reg.off as u32, need_id))
    {
        let have = btf.name(TypeId(reg.btf_id)).unwrap_or("");
        return Err(Rejection::new(
            insn,
            format!("R{regno} is of type {have} but {need} is expected"),
        )
        .reg(regno, reg)
        .cause(format!(
            "argument {regno} of {} must point to a struct {need}",
            proto.name
        )));
    }
    if !reg.value.var_off.equals_const(0) {
        return Err(Rejection::new(
            insn,
            format!(
                "variable ptr_ access var_off={} disallowed",
                reg.value.var_off
            ),
        )
        .reg(regno, reg));
    }
    Ok(())
}
