//! Candidate search and computation of relocated values
//! (libbpf's `bpf_core_add_cands`, `bpf_core_calc_relo_insn` and the
//! `bpf_core_calc_*_relo` functions).

use std::collections::HashMap;

use apiary_btf::{Btf, CoreRelo, CoreReloKind, IntEncoding, Kind, TypeId};

use crate::compat::{essential_name, kinds_core_compat, skip};
use crate::error::CoreError;
use crate::spec::{Family, Spec, family, match_spec, parse_spec};

/// The outcome of resolving one CO-RE relocation: what the instruction
/// holds now (per the local BTF) and what it must hold for the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreResolution {
    /// The relocation kind.
    pub kind: CoreReloKind,
    /// Value computed from the local BTF; the instruction is expected to
    /// carry it when `validate` is set.
    pub orig: u64,
    /// Value for the target.
    pub new: u64,
    /// The relocation cannot be satisfied: the instruction must be replaced
    /// by an invalid helper call (libbpf's poisoning).
    pub poison: bool,
    /// Whether patching checks the instruction against `orig` (off for
    /// bitfield aspects and type ids, which the compiler may compute
    /// differently).
    pub validate: bool,
    /// The field size changed in a way a load/store cannot follow (not a
    /// pointer, not unsigned integers); loads/stores get poisoned.
    pub fail_memsz_adjust: bool,
    /// Local field (or array element) size for byte-offset relocations,
    /// 0 otherwise; a load/store must access this many bytes.
    pub orig_size: u32,
    /// Target field size; loads/stores are resized to it.
    pub new_size: u32,
    /// The matching target type chosen, if any candidate matched.
    pub target_type: Option<TypeId>,
    /// Low-level access path in the target (`"0:3:1"` form as indices),
    /// empty for type-based relocations or without a match.
    pub target_access: Vec<u32>,
}

/// Aspects of a field computed for one spec (libbpf's
/// `bpf_core_calc_field_relo` outputs).
struct FieldValue {
    value: u64,
    size: u32,
    type_id: TypeId,
    validate: bool,
}

/// Every type in `target` that may stand for local type `local_id`: same
/// kind (enum and enum64 interchangeable) and same name modulo flavor
/// suffixes, in id order.
pub fn find_candidates(
    local: &Btf,
    local_id: TypeId,
    target: &Btf,
) -> Result<Vec<TypeId>, CoreError> {
    let local_type = local.type_by_id(local_id)?;
    let wanted = essential_name(local.str_at(local_type.name_off)?);
    let mut out = Vec::new();
    if wanted.is_empty() {
        return Ok(out);
    }
    for (id, t) in target.types() {
        if t.name_off == 0 || !kinds_core_compat(&t.kind, &local_type.kind) {
            continue;
        }
        if essential_name(target.str_at(t.name_off)?) == wanted {
            out.push(id);
        }
    }
    Ok(out)
}

/// Resolves CO-RE relocations of one local BTF against one target BTF,
/// caching candidate lists per local root type and pruning them as libbpf
/// does (candidates that failed to match a relocation are dropped for the
/// following relocations of the same root type, unless none matched).
#[derive(Debug)]
pub struct CoreRelocator<'l, 't> {
    local: &'l Btf,
    target: &'t Btf,
    candidates: HashMap<TypeId, Vec<TypeId>>,
}

impl<'l, 't> CoreRelocator<'l, 't> {
    /// A relocator with an empty candidate cache.
    pub fn new(local: &'l Btf, target: &'t Btf) -> Self {
        CoreRelocator {
            local,
            target,
            candidates: HashMap::new(),
        }
    }

    /// The local (program) BTF.
    pub fn local(&self) -> &'l Btf {
        self.local
    }

    /// The target BTF.
    pub fn target(&self) -> &'t Btf {
        self.target
    }

    /// Computes the relocated value of `relo` (libbpf's
    /// `bpf_core_calc_relo_insn`). An unsatisfiable relocation is not an
    /// error here: it yields `poison: true`.
    pub fn resolve(&mut self, relo: &CoreRelo) -> Result<CoreResolution, CoreError> {
        let local = self.local;
        let root = relo.type_id;
        let local_type = local.type_by_id(root)?;
        let access = local.str_at(relo.access_str_off)?;
        let local_spec = parse_spec(local, root, access, relo.kind)?;

        if relo.kind == CoreReloKind::TypeIdLocal {
            return Ok(CoreResolution {
                kind: relo.kind,
                orig: u64::from(root.0),
                new: u64::from(root.0),
                poison: false,
                validate: false,
                fail_memsz_adjust: false,
                orig_size: 0,
                new_size: 0,
                target_type: None,
                target_access: Vec::new(),
            });
        }
        if local_type.name_off == 0 || local.str_at(local_type.name_off)?.is_empty() {
            return Err(CoreError::AnonymousType {
                type_id: root,
                kind: relo.kind,
            });
        }

        let candidates = match self.candidates.get(&root) {
            Some(c) => c.clone(),
            None => find_candidates(local, root, self.target)?,
        };
        let mut kept = Vec::new();
        let mut chosen: Option<(CoreResolution, u32)> = None;
        for &cand in &candidates {
            let Some(cand_spec) = match_spec(&local_spec, relo.kind, self.target, cand)? else {
                continue;
            };
            let res = calc_relo(relo.kind, &local_spec, Some(&cand_spec))?;
            let bit_offset = cand_spec.bit_offset32();
            if let Some((first, first_bits)) = &chosen {
                let first_id = first.target_type.unwrap_or(TypeId::VOID);
                if *first_bits != bit_offset {
                    return Err(CoreError::AmbiguousOffset {
                        first: first_id,
                        first_bit_offset: *first_bits,
                        second: cand,
                        second_bit_offset: bit_offset,
                    });
                }
                if first.poison != res.poison || first.new != res.new {
                    return Err(CoreError::AmbiguousValue {
                        first: first_id,
                        first_value: first.new,
                        first_poison: first.poison,
                        second: cand,
                        second_value: res.new,
                        second_poison: res.poison,
                    });
                }
            } else {
                chosen = Some((res, bit_offset));
            }
            kept.push(cand);
        }
        self.candidates
            .insert(root, if kept.is_empty() { candidates } else { kept });
        match chosen {
            Some((res, _)) => Ok(res),
            None => calc_relo(relo.kind, &local_spec, None),
        }
    }

    /// The (possibly pruned) candidate list cached for local type
    /// `local_id`, searching the target on first use.
    pub fn candidates(&mut self, local_id: TypeId) -> Result<&[TypeId], CoreError> {
        if !self.candidates.contains_key(&local_id) {
            let found = find_candidates(self.local, local_id, self.target)?;
            self.candidates.insert(local_id, found);
        }
        Ok(self
            .candidates
            .get(&local_id)
            .map(Vec::as_slice)
            .unwrap_or_default())
    }
}

/// Resolves a single relocation without a shared candidate cache.
pub fn resolve(local: &Btf, relo: &CoreRelo, target: &Btf) -> Result<CoreResolution, CoreError> {
    CoreRelocator::new(local, target).resolve(relo)
}

/// libbpf's `bpf_core_calc_relo`: local and target values of one candidate
/// (`target == None` when no candidate matched).
fn calc_relo(
    kind: CoreReloKind,
    local: &Spec<'_>,
    target: Option<&Spec<'_>>,
) -> Result<CoreResolution, CoreError> {
    let mut res = CoreResolution {
        kind,
        orig: 0,
        new: 0,
        poison: false,
        validate: true,
        fail_memsz_adjust: false,
        orig_size: 0,
        new_size: 0,
        target_type: target.map(|t| t.root_type_id),
        target_access: target.map(|t| t.raw.clone()).unwrap_or_default(),
    };
    match family(kind) {
        Family::Field => {
            let orig = field_value(kind, Some(local))?;
            let Some(orig) = orig else {
                // A local spec always exists, so this is unreachable in
                // practice; treat it like a missing target.
                res.poison = true;
                return Ok(res);
            };
            res.orig = orig.value;
            res.orig_size = orig.size;
            res.validate = orig.validate;
            let Some(new) = field_value(kind, target)? else {
                res.poison = true;
                return Ok(res);
            };
            res.new = new.value;
            res.new_size = new.size;
            if res.orig_size != res.new_size {
                let (Some(target), orig_t) = (target, local.btf.type_by_id(orig.type_id)?) else {
                    return Ok(res);
                };
                let new_t = target.btf.type_by_id(new.type_id)?;
                let unsigned =
                    |k: &Kind| matches!(k, Kind::Int(i) if i.encoding != IntEncoding::Signed);
                let safe = matches!((&orig_t.kind, &new_t.kind), (Kind::Ptr(_), Kind::Ptr(_)))
                    || (unsigned(&orig_t.kind) && unsigned(&new_t.kind));
                res.fail_memsz_adjust = !safe;
            }
        }
        Family::Type => {
            res.orig = type_value(kind, Some(local))?;
            res.new = type_value(kind, target)?;
            res.validate = kind != CoreReloKind::TypeIdTarget;
        }
        Family::Enumval => {
            res.orig = enum_value(kind, Some(local))?.unwrap_or(0);
            match enum_value(kind, target)? {
                Some(v) => res.new = v,
                None => res.poison = true,
            }
        }
    }
    Ok(res)
}

/// Field aspect of `spec`; `None` requests poisoning (no target).
fn field_value(
    kind: CoreReloKind,
    spec: Option<&Spec<'_>>,
) -> Result<Option<FieldValue>, CoreError> {
    let plain = |value| FieldValue {
        value,
        size: 0,
        type_id: TypeId::VOID,
        validate: true,
    };
    if kind == CoreReloKind::FieldExists {
        return Ok(Some(plain(u64::from(spec.is_some()))));
    }
    let Some(spec) = spec else {
        return Ok(None);
    };
    let btf = spec.btf;
    let Some(acc) = spec.accessors.last() else {
        return Err(CoreError::ArrayAccessKind { kind });
    };
    let innermost_elem_size = |id: TypeId| -> Result<u32, CoreError> {
        let (mut elem, mut t) = skip(btf, id)?;
        for _ in 0..apiary_btf::MAX_RESOLVE_DEPTH {
            let Kind::Array(a) = &t.kind else { break };
            (elem, t) = skip(btf, a.elem_type)?;
        }
        Ok(btf.size_of(elem)?)
    };
    let bit_off = spec.bit_offset32();

    if acc.name.is_none() {
        return match kind {
            CoreReloKind::FieldByteOffset => Ok(Some(FieldValue {
                value: u64::from(bit_off / 8),
                size: innermost_elem_size(acc.type_id)?,
                type_id: acc.type_id,
                validate: true,
            })),
            CoreReloKind::FieldByteSize => Ok(Some(plain(u64::from(btf.size_of(acc.type_id)?)))),
            _ => Err(CoreError::ArrayAccessKind { kind }),
        };
    }

    let member = btf
        .members(acc.type_id)?
        .get(acc.idx as usize)
        .copied()
        .ok_or(CoreError::ArrayAccessKind { kind })?;
    let (field_type_id, mt) = skip(btf, member.ty)?;
    let mut bit_sz = u32::from(member.bitfield_size);
    let bitfield = bit_sz > 0;
    let (byte_off, byte_sz) = if bitfield {
        let mut byte_sz = btf.size_of(field_type_id)?;
        if byte_sz == 0 {
            return Err(CoreError::BitfieldTooWide {
                bit_offset: bit_off,
                bit_size: bit_sz,
            });
        }
        let mut byte_off = bit_off / 8 / byte_sz * byte_sz;
        while u64::from(bit_off) + u64::from(bit_sz) - u64::from(byte_off) * 8
            > u64::from(byte_sz) * 8
        {
            if byte_sz >= 8 {
                return Err(CoreError::BitfieldTooWide {
                    bit_offset: bit_off,
                    bit_size: bit_sz,
                });
            }
            byte_sz *= 2;
            byte_off = bit_off / 8 / byte_sz * byte_sz;
        }
        (byte_off, byte_sz)
    } else {
        let byte_sz = btf.size_of(field_type_id)?;
        bit_sz = byte_sz.wrapping_mul(8);
        (bit_off / 8, byte_sz)
    };
    let value = match kind {
        CoreReloKind::FieldByteOffset => {
            return Ok(Some(FieldValue {
                value: u64::from(byte_off),
                size: if bitfield {
                    0
                } else {
                    innermost_elem_size(field_type_id)?
                },
                type_id: if bitfield {
                    TypeId::VOID
                } else {
                    field_type_id
                },
                validate: !bitfield,
            }));
        }
        CoreReloKind::FieldByteSize => u64::from(byte_sz),
        CoreReloKind::FieldSigned => {
            let signed = match &mt.kind {
                Kind::Enum(e) | Kind::Enum64(e) => e.signed,
                Kind::Int(i) => i.encoding == IntEncoding::Signed,
                _ => false,
            };
            return Ok(Some(plain(u64::from(signed))));
        }
        // libbpf computes both shifts in 32-bit unsigned arithmetic.
        CoreReloKind::FieldLShiftU64 => u64::from(
            64u32.wrapping_sub(
                bit_off
                    .wrapping_add(bit_sz)
                    .wrapping_sub(byte_off.wrapping_mul(8)),
            ),
        ),
        CoreReloKind::FieldRShiftU64 => {
            return Ok(Some(plain(u64::from(64u32.wrapping_sub(bit_sz)))));
        }
        _ => return Err(CoreError::ArrayAccessKind { kind }),
    };
    Ok(Some(FieldValue {
        value,
        size: 0,
        type_id: TypeId::VOID,
        validate: !bitfield,
    }))
}

/// Type aspect of `spec`; 0 when no target matched.
fn type_value(kind: CoreReloKind, spec: Option<&Spec<'_>>) -> Result<u64, CoreError> {
    let Some(spec) = spec else { return Ok(0) };
    Ok(match kind {
        CoreReloKind::TypeIdTarget | CoreReloKind::TypeIdLocal => u64::from(spec.root_type_id.0),
        CoreReloKind::TypeSize => u64::from(spec.btf.size_of(spec.root_type_id)?),
        _ => 1,
    })
}

/// Enumerator aspect of `spec`; `None` requests poisoning.
fn enum_value(kind: CoreReloKind, spec: Option<&Spec<'_>>) -> Result<Option<u64>, CoreError> {
    if kind == CoreReloKind::EnumvalExists {
        return Ok(Some(u64::from(spec.is_some())));
    }
    let Some(acc) = spec.and_then(|s| s.accessors.first().map(|a| (s.btf, a))) else {
        return Ok(None);
    };
    let (btf, acc) = acc;
    let t = btf.type_by_id(acc.type_id)?;
    Ok(match &t.kind {
        // A 32-bit enumerator is a C `int`, sign-extended into the u64.
        Kind::Enum(e) => e
            .values
            .get(acc.idx as usize)
            .map(|v| i64::from(v.raw as u32 as i32) as u64),
        Kind::Enum64(e) => e.values.get(acc.idx as usize).map(|v| v.raw),
        _ => None,
    })
}
