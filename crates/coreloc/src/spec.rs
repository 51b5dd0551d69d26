//! Access specifications: parsing a relocation's access string against the
//! local BTF (libbpf's `bpf_core_parse_spec`) and matching it against a
//! target candidate (`bpf_core_spec_match`, `bpf_core_match_member`).

use apiary_btf::{Btf, CoreReloKind, Kind, Type, TypeId};

use crate::compat::{essential_name, fields_are_compat, skip, types_are_compat, types_match};
use crate::error::CoreError;

/// Longest access path libbpf accepts (`BPF_CORE_SPEC_MAX_LEN`).
pub const MAX_SPEC_LEN: usize = 64;

/// Which family a relocation kind belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Field,
    Type,
    Enumval,
}

pub(crate) fn family(kind: CoreReloKind) -> Family {
    use CoreReloKind::*;
    match kind {
        FieldByteOffset | FieldByteSize | FieldExists | FieldSigned | FieldLShiftU64
        | FieldRShiftU64 => Family::Field,
        TypeIdLocal | TypeIdTarget | TypeExists | TypeSize | TypeMatches => Family::Type,
        EnumvalExists | EnumvalValue => Family::Enumval,
    }
}

/// One semantically meaningful step of an access: a named member, an array
/// element (`name == None`), or an enumerator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Accessor<'b> {
    /// The struct/union owning the member, the array element type, or the
    /// enum (modifiers and typedefs skipped).
    pub type_id: TypeId,
    /// Member, element or enumerator index.
    pub idx: u32,
    /// Member or enumerator name; `None` for array elements.
    pub name: Option<&'b str>,
    /// The member's own type for named members, `void` otherwise.
    pub member_type: TypeId,
}

impl Accessor<'_> {
    /// An array element (or root) accessor.
    fn element(type_id: TypeId, idx: u32) -> Self {
        Accessor {
            type_id,
            idx,
            name: None,
            member_type: TypeId::VOID,
        }
    }
}

/// A parsed or matched access: the high-level accessors, the low-level
/// index path (one entry per struct/union/array level, anonymous members
/// included) and the resulting bit offset from the root.
#[derive(Debug, Clone)]
pub(crate) struct Spec<'b> {
    pub btf: &'b Btf,
    pub root_type_id: TypeId,
    pub accessors: Vec<Accessor<'b>>,
    pub raw: Vec<u32>,
    pub bit_offset: u64,
}

impl<'b> Spec<'b> {
    fn new(btf: &'b Btf, root_type_id: TypeId) -> Self {
        Spec {
            btf,
            root_type_id,
            accessors: Vec::new(),
            raw: Vec::new(),
            bit_offset: 0,
        }
    }

    fn push_raw(&mut self, index: u32) -> Result<(), CoreError> {
        if self.raw.len() >= MAX_SPEC_LEN {
            return Err(CoreError::SpecTooLong {
                limit: MAX_SPEC_LEN,
            });
        }
        self.raw.push(index);
        Ok(())
    }

    fn add_bits(&mut self, bits: u64) -> Result<(), CoreError> {
        self.bit_offset = self
            .bit_offset
            .checked_add(bits)
            .filter(|b| *b <= u64::from(u32::MAX))
            .ok_or(CoreError::OffsetOverflow)?;
        Ok(())
    }

    /// The bit offset, which `add_bits` keeps within 32 bits.
    pub fn bit_offset32(&self) -> u32 {
        u32::try_from(self.bit_offset).unwrap_or(u32::MAX)
    }
}

fn element_bits(btf: &Btf, elem: TypeId, index: u32) -> Result<u64, CoreError> {
    let size = btf.size_of(elem)?;
    u64::from(index)
        .checked_mul(u64::from(size) * 8)
        .ok_or(CoreError::OffsetOverflow)
}

/// libbpf's `is_flex_arr`: a zero-length array that is the last member of
/// the struct named by the previous accessor.
fn is_flex_array(
    btf: &Btf,
    previous: Option<&Accessor<'_>>,
    nelems: u32,
) -> Result<bool, CoreError> {
    let Some(acc) = previous.filter(|a| a.name.is_some()) else {
        return Ok(false);
    };
    if nelems > 0 {
        return Ok(false);
    }
    let vlen = btf.members(acc.type_id)?.len();
    Ok(acc.idx as usize + 1 == vlen)
}

/// Splits `"0:1:2"` into indices, as libbpf's parser (stricter about
/// whitespace and signs, which clang never emits).
fn parse_indices(access: &str) -> Result<Vec<u32>, CoreError> {
    let bad = |reason| CoreError::BadAccessString {
        access: access.to_owned(),
        reason,
    };
    if access.is_empty() {
        return Err(bad("empty"));
    }
    let mut out = Vec::new();
    for part in access.split(':') {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("elements must be non-empty decimal numbers"));
        }
        let index: u32 = part
            .parse()
            .ok()
            .filter(|i| i32::try_from(*i).is_ok())
            .ok_or(bad("index exceeds the 32-bit signed range"))?;
        if out.len() == MAX_SPEC_LEN {
            return Err(CoreError::SpecTooLong {
                limit: MAX_SPEC_LEN,
            });
        }
        out.push(index);
    }
    Ok(out)
}

/// Parses `access` for a relocation of `kind` rooted at local type `root`.
pub(crate) fn parse_spec<'b>(
    btf: &'b Btf,
    root: TypeId,
    access: &str,
    kind: CoreReloKind,
) -> Result<Spec<'b>, CoreError> {
    let mut spec = Spec::new(btf, root);
    if family(kind) == Family::Type {
        if access != "0" {
            return Err(CoreError::BadAccessString {
                access: access.to_owned(),
                reason: "type-based relocations must use \"0\"",
            });
        }
        return Ok(spec);
    }
    spec.raw = parse_indices(access)?;
    let out_of_range = |position: usize, index: u32, type_id: TypeId, t: &Type, limit: usize| {
        CoreError::AccessOutOfRange {
            access: access.to_owned(),
            position,
            index,
            type_id,
            kind: t.kind_tag(),
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
        }
    };
    let unexpected = |position: usize, type_id: TypeId, t: &Type| CoreError::UnexpectedKind {
        access: access.to_owned(),
        position,
        type_id,
        kind: t.kind_tag(),
    };
    let (mut id, t) = skip(btf, root)?;
    let first = spec.raw.first().copied().unwrap_or(0);
    if family(kind) == Family::Enumval {
        let (Kind::Enum(e) | Kind::Enum64(e)) = &t.kind else {
            return Err(unexpected(0, id, t));
        };
        if spec.raw.len() > 1 {
            return Err(CoreError::BadAccessString {
                access: access.to_owned(),
                reason: "enum value relocations take a single index",
            });
        }
        let value = e
            .values
            .get(first as usize)
            .ok_or_else(|| out_of_range(0, first, id, t, e.values.len()))?;
        spec.accessors.push(Accessor {
            type_id: id,
            idx: first,
            name: Some(btf.str_at(value.name_off)?),
            member_type: TypeId::VOID,
        });
        return Ok(spec);
    }
    spec.accessors.push(Accessor::element(id, first));
    spec.add_bits(element_bits(btf, id, first)?)?;
    let raw = spec.raw.clone();
    for (position, &index) in raw.iter().enumerate().skip(1) {
        let (skipped, t) = skip(btf, id)?;
        id = skipped;
        match &t.kind {
            Kind::Struct(c) | Kind::Union(c) => {
                let m = c
                    .members
                    .get(index as usize)
                    .ok_or_else(|| out_of_range(position, index, id, t, c.members.len()))?;
                spec.add_bits(u64::from(m.bit_offset))?;
                if m.name_off != 0 {
                    spec.accessors.push(Accessor {
                        type_id: id,
                        idx: index,
                        name: Some(btf.str_at(m.name_off)?),
                        member_type: m.ty,
                    });
                }
                id = m.ty;
            }
            Kind::Array(a) => {
                let (elem, _) = skip(btf, a.elem_type)?;
                let flex = is_flex_array(btf, spec.accessors.last(), a.nelems)?;
                if !flex && index >= a.nelems {
                    return Err(out_of_range(position, index, id, t, a.nelems as usize));
                }
                id = elem;
                spec.accessors.push(Accessor::element(id, index));
                spec.add_bits(element_bits(btf, id, index)?)?;
            }
            _ => return Err(unexpected(position, id, t)),
        }
    }
    Ok(spec)
}

/// Matches a parsed local spec against target candidate `target_id`:
/// `Ok(None)` when the candidate does not fit.
pub(crate) fn match_spec<'t>(
    local: &Spec<'_>,
    kind: CoreReloKind,
    target: &'t Btf,
    target_id: TypeId,
) -> Result<Option<Spec<'t>>, CoreError> {
    let mut spec = Spec::new(target, target_id);
    match family(kind) {
        Family::Type => {
            let matched = if kind == CoreReloKind::TypeMatches {
                types_match(local.btf, local.root_type_id, target, target_id)?
            } else {
                types_are_compat(local.btf, local.root_type_id, target, target_id)?
            };
            Ok(matched.then_some(spec))
        }
        Family::Enumval => {
            let (id, t) = skip(target, target_id)?;
            let (Kind::Enum(e) | Kind::Enum64(e)) = &t.kind else {
                return Ok(None);
            };
            let wanted = essential_name(local.accessors.first().and_then(|a| a.name).unwrap_or(""));
            for (idx, value) in (0u32..).zip(&e.values) {
                let name = target.str_at(value.name_off)?;
                if essential_name(name) == wanted {
                    spec.accessors.push(Accessor {
                        type_id: id,
                        idx,
                        name: Some(name),
                        member_type: TypeId::VOID,
                    });
                    spec.push_raw(idx)?;
                    return Ok(Some(spec));
                }
            }
            Ok(None)
        }
        Family::Field => {
            let mut id = target_id;
            for (i, local_acc) in local.accessors.iter().enumerate() {
                let (skipped, t) = skip(target, id)?;
                id = skipped;
                if local_acc.name.is_some() {
                    match match_member(local.btf, local_acc, target, id, &mut spec)? {
                        Some(next) => id = next,
                        None => return Ok(None),
                    }
                    continue;
                }
                if i > 0 {
                    let Kind::Array(a) = &t.kind else {
                        return Ok(None);
                    };
                    let flex = is_flex_array(target, spec.accessors.last(), a.nelems)?;
                    if !flex && local_acc.idx >= a.nelems {
                        return Ok(None);
                    }
                    id = target.skip_modifiers_and_typedefs(a.elem_type)?;
                }
                spec.push_raw(local_acc.idx)?;
                spec.accessors.push(Accessor::element(id, local_acc.idx));
                spec.add_bits(element_bits(target, id, local_acc.idx)?)?;
            }
            Ok(Some(spec))
        }
    }
}

/// Finds the target member named like the local accessor's member inside
/// composite `target_id`, descending into anonymous members; on success the
/// accessor is pushed to `spec` and the member's type returned.
///
/// Like libbpf, a name match with an incompatible type ends the search and
/// leaves the low-level path as it was, since the spec is then discarded.
fn match_member<'t>(
    local: &Btf,
    local_acc: &Accessor<'_>,
    target: &'t Btf,
    target_id: TypeId,
    spec: &mut Spec<'t>,
) -> Result<Option<TypeId>, CoreError> {
    let (target_id, t) = skip(target, target_id)?;
    let Some(members) = t.kind.members() else {
        return Ok(None);
    };
    let local_name = local_acc.name.unwrap_or("");
    for (i, m) in (0u32..).zip(members) {
        spec.push_raw(i)?;
        spec.add_bits(u64::from(m.bit_offset))?;
        let name = target.str_at(m.name_off)?;
        if name.is_empty() {
            if let Some(found) = match_member(local, local_acc, target, m.ty, spec)? {
                return Ok(Some(found));
            }
        } else if name == local_name {
            if !fields_are_compat(local, local_acc.member_type, target, m.ty)? {
                return Ok(None);
            }
            spec.accessors.push(Accessor {
                type_id: target_id,
                idx: i,
                name: Some(name),
                member_type: m.ty,
            });
            return Ok(Some(m.ty));
        }
        spec.raw.pop();
        spec.bit_offset -= u64::from(m.bit_offset);
    }
    Ok(None)
}
