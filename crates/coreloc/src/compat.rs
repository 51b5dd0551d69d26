//! Name and type compatibility rules between a local and a target BTF
//! (libbpf's `bpf_core_essential_name_len`, `bpf_core_types_are_compat`,
//! `bpf_core_fields_are_compat` and `bpf_core_types_match`).

use apiary_btf::{Btf, BtfKind, FwdKind, IntEncoding, Kind, MAX_RESOLVE_DEPTH, Type, TypeId};

use crate::error::CoreError;

/// How many nested function prototypes / composites the recursive
/// comparisons follow, as libbpf passes `level = 32`.
const MAX_LEVEL: u32 = 32;

/// Length of `name` without its flavor suffix: everything from the last
/// `X___Y` triple underscore on (X and Y not underscores) is ignored, so
/// `task_struct___old` and `task_struct` are the same type to CO-RE.
pub fn essential_name_len(name: &str) -> usize {
    name.as_bytes()
        .windows(5)
        .rposition(|w| matches!(w, [x, b'_', b'_', b'_', y] if *x != b'_' && *y != b'_'))
        .map_or(name.len(), |i| i + 1)
}

/// `name` without its flavor suffix (see [`essential_name_len`]).
pub fn essential_name(name: &str) -> &str {
    // The cut is before an ASCII underscore, hence on a char boundary.
    name.get(..essential_name_len(name)).unwrap_or(name)
}

fn is_any_enum(kind: &Kind) -> bool {
    matches!(kind, Kind::Enum(_) | Kind::Enum64(_))
}

/// libbpf's `btf_kind_core_compat`: same kind, or both some enum.
pub(crate) fn kinds_core_compat(a: &Kind, b: &Kind) -> bool {
    a.tag() == b.tag() || (is_any_enum(a) && is_any_enum(b))
}

fn int_offset_zero(kind: &Kind) -> bool {
    matches!(kind, Kind::Int(i) if i.offset == 0)
}

/// Follows modifiers and typedefs, returning the id reached and its type.
pub(crate) fn skip(btf: &Btf, id: TypeId) -> Result<(TypeId, &Type), CoreError> {
    let id = btf.skip_modifiers_and_typedefs(id)?;
    Ok((id, btf.type_by_id(id)?))
}

/// Whether two names are the same modulo flavor suffixes, as libbpf's
/// `bpf_core_names_match`: an anonymous target matches only an anonymous
/// local.
fn names_match(local: &str, target: &str) -> bool {
    if target.is_empty() {
        return local.is_empty();
    }
    essential_name(local) == essential_name(target)
}

/// Type compatibility for type-based relocations (`bpf_core_types_are_compat`).
///
/// Root names are assumed to match already. Modifiers and typedefs are
/// skipped; structs, unions, enums, forwards and `void` are compatible with
/// any type of the same kind; integers unless one is a legacy bitfield
/// integer; pointers and arrays by their pointee / element; function
/// prototypes by arity and recursively compatible parameter and return
/// types.
pub fn types_are_compat(
    local: &Btf,
    local_id: TypeId,
    target: &Btf,
    target_id: TypeId,
) -> Result<bool, CoreError> {
    types_are_compat_level(local, local_id, target, target_id, MAX_LEVEL)
}

fn types_are_compat_level(
    local: &Btf,
    mut local_id: TypeId,
    target: &Btf,
    mut target_id: TypeId,
    level: u32,
) -> Result<bool, CoreError> {
    let too_deep = CoreError::TooDeep {
        local: local_id,
        target: target_id,
    };
    if !kinds_core_compat(
        &local.type_by_id(local_id)?.kind,
        &target.type_by_id(target_id)?.kind,
    ) {
        return Ok(false);
    }
    for _ in 0..MAX_RESOLVE_DEPTH {
        let (_, lt) = skip(local, local_id)?;
        let (_, tt) = skip(target, target_id)?;
        if !kinds_core_compat(&lt.kind, &tt.kind) {
            return Ok(false);
        }
        match (&lt.kind, &tt.kind) {
            (
                Kind::Void
                | Kind::Struct(_)
                | Kind::Union(_)
                | Kind::Enum(_)
                | Kind::Fwd(_)
                | Kind::Enum64(_),
                _,
            ) => return Ok(true),
            (Kind::Int(_), _) => return Ok(int_offset_zero(&lt.kind) && int_offset_zero(&tt.kind)),
            (Kind::Ptr(l), Kind::Ptr(t)) => (local_id, target_id) = (*l, *t),
            (Kind::Array(l), Kind::Array(t)) => (local_id, target_id) = (l.elem_type, t.elem_type),
            (Kind::FuncProto(l), Kind::FuncProto(t)) => {
                if l.params.len() != t.params.len() {
                    return Ok(false);
                }
                for (lp, tp) in l.params.iter().zip(&t.params) {
                    if level == 0 {
                        return Err(too_deep);
                    }
                    let lp_id = local.skip_modifiers_and_typedefs(lp.ty)?;
                    let tp_id = target.skip_modifiers_and_typedefs(tp.ty)?;
                    if !types_are_compat_level(local, lp_id, target, tp_id, level - 1)? {
                        return Ok(false);
                    }
                }
                local_id = local.skip_modifiers_and_typedefs(l.ret_type)?;
                target_id = target.skip_modifiers_and_typedefs(t.ret_type)?;
            }
            // libbpf warns "unexpected kind relocated" (FLOAT, FUNC...).
            _ => return Ok(false),
        }
    }
    Err(too_deep)
}

/// Field type compatibility for field relocations
/// (`bpf_core_fields_are_compat`): any two composites match; pointers and
/// floats match their kind; enums and forwards need equal essential names
/// unless one is anonymous; integers unless a legacy bitfield integer;
/// arrays by element type.
pub fn fields_are_compat(
    local: &Btf,
    mut local_id: TypeId,
    target: &Btf,
    mut target_id: TypeId,
) -> Result<bool, CoreError> {
    let (start_local, start_target) = (local_id, target_id);
    for _ in 0..MAX_RESOLVE_DEPTH {
        let (_, lt) = skip(local, local_id)?;
        let (_, tt) = skip(target, target_id)?;
        if lt.kind.members().is_some() && tt.kind.members().is_some() {
            return Ok(true);
        }
        if !kinds_core_compat(&lt.kind, &tt.kind) {
            return Ok(false);
        }
        match (&lt.kind, &tt.kind) {
            (Kind::Ptr(_) | Kind::Float { .. }, _) => return Ok(true),
            (Kind::Fwd(_) | Kind::Enum(_) | Kind::Enum64(_), _) => {
                let l = essential_name(local.str_at(lt.name_off)?);
                let t = essential_name(target.str_at(tt.name_off)?);
                return Ok(l.is_empty() || t.is_empty() || l == t);
            }
            (Kind::Int(_), _) => return Ok(int_offset_zero(&lt.kind) && int_offset_zero(&tt.kind)),
            (Kind::Array(l), Kind::Array(t)) => (local_id, target_id) = (l.elem_type, t.elem_type),
            _ => return Ok(false),
        }
    }
    Err(CoreError::TooDeep {
        local: start_local,
        target: start_target,
    })
}

/// Structural match for TYPE_MATCHES relocations (`bpf_core_types_match`):
/// same kinds (enum and enum64 interchangeable; a struct or union behind a
/// pointer also matches a forward declaration of the same flavor), equal
/// names modulo flavors, integers of equal size and signedness, arrays of
/// equal length, every local member or enumerator present by name in the
/// target, enums of equal size, prototypes with matching parameters.
pub fn types_match(
    local: &Btf,
    local_id: TypeId,
    target: &Btf,
    target_id: TypeId,
) -> Result<bool, CoreError> {
    types_match_level(local, local_id, target, target_id, false, MAX_LEVEL)
}

fn types_match_level(
    local: &Btf,
    mut local_id: TypeId,
    target: &Btf,
    mut target_id: TypeId,
    mut behind_ptr: bool,
    level: u32,
) -> Result<bool, CoreError> {
    let too_deep = CoreError::TooDeep {
        local: local_id,
        target: target_id,
    };
    if level == 0 {
        return Err(too_deep);
    }
    for _ in 0..MAX_RESOLVE_DEPTH {
        let (_, lt) = skip(local, local_id)?;
        let (_, tt) = skip(target, target_id)?;
        if !names_match(local.str_at(lt.name_off)?, target.str_at(tt.name_off)?) {
            return Ok(false);
        }
        let (lk, tk) = (lt.kind_tag(), tt.kind_tag());
        match (&lt.kind, &tt.kind) {
            (Kind::Void, _) => return Ok(tk == BtfKind::Void),
            (Kind::Fwd(lf), _) => {
                return Ok(match &tt.kind {
                    Kind::Fwd(tf) => lf == tf,
                    Kind::Struct(_) if behind_ptr => *lf == FwdKind::Struct,
                    Kind::Union(_) if behind_ptr => *lf == FwdKind::Union,
                    _ => false,
                });
            }
            (Kind::Enum(l) | Kind::Enum64(l), Kind::Enum(t) | Kind::Enum64(t)) => {
                if l.size != t.size || l.values.len() > t.values.len() {
                    return Ok(false);
                }
                for lv in &l.values {
                    let lname = local.str_at(lv.name_off)?;
                    let mut found = false;
                    for tv in &t.values {
                        if names_match(lname, target.str_at(tv.name_off)?) {
                            found = true;
                            break;
                        }
                    }
                    if !found {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            (Kind::Enum(_) | Kind::Enum64(_), _) => return Ok(false),
            (Kind::Struct(l) | Kind::Union(l), _) => {
                if behind_ptr {
                    return Ok(lk == tk
                        || matches!(tt.kind, Kind::Fwd(f) if (f == FwdKind::Union) == (lk == BtfKind::Union)));
                }
                let Some(t_members) = tt.kind.members().filter(|_| lk == tk) else {
                    return Ok(false);
                };
                if l.members.len() > t_members.len() {
                    return Ok(false);
                }
                for lm in &l.members {
                    let lname = local.str_at(lm.name_off)?;
                    let mut found = false;
                    for tm in t_members {
                        if !names_match(lname, target.str_at(tm.name_off)?) {
                            continue;
                        }
                        if types_match_level(local, lm.ty, target, tm.ty, behind_ptr, level - 1)? {
                            found = true;
                            break;
                        }
                    }
                    if !found {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            (Kind::Int(l), Kind::Int(t)) => {
                let signed = |e: IntEncoding| e == IntEncoding::Signed;
                return Ok(l.size == t.size && signed(l.encoding) == signed(t.encoding));
            }
            (Kind::Ptr(l), Kind::Ptr(t)) => {
                behind_ptr = true;
                (local_id, target_id) = (*l, *t);
            }
            (Kind::Array(l), Kind::Array(t)) => {
                if l.nelems != t.nelems {
                    return Ok(false);
                }
                (local_id, target_id) = (l.elem_type, t.elem_type);
            }
            (Kind::FuncProto(l), Kind::FuncProto(t)) => {
                if l.params.len() != t.params.len() {
                    return Ok(false);
                }
                for (lp, tp) in l.params.iter().zip(&t.params) {
                    if !types_match_level(local, lp.ty, target, tp.ty, behind_ptr, level - 1)? {
                        return Ok(false);
                    }
                }
                (local_id, target_id) = (l.ret_type, t.ret_type);
            }
            // Different kinds, or kinds libbpf does not expect (FLOAT...).
            _ => return Ok(false),
        }
    }
    Err(too_deep)
}
