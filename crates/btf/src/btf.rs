//! Parsing of a `.BTF` blob into a validated [`Btf`], and queries on it.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::bytes::{ByteView, Endianness};
use crate::error::BtfError;
use crate::types::{
    Array, BtfKind, Composite, Datasec, Enum, EnumValue, FuncLinkage, FuncProto, FwdKind, Int,
    IntEncoding, Kind, Member, Param, Type, TypeId, VarLinkage, VarSecinfo,
};

/// Size of `struct btf_header`, the only header layout defined so far.
const HEADER_LEN: usize = 24;
/// Size of `struct btf_type` (name_off, info, size/type).
const TYPE_HEADER_LEN: usize = 12;
/// Largest string offset BTF can encode (`BTF_MAX_NAME_OFFSET`).
const MAX_STR_OFFSET: u32 = 0x7fff_ffff;
/// Largest number of types BTF can encode (`BTF_MAX_NR_TYPES`).
const MAX_NR_TYPES: u32 = 0x7fff_ffff;
/// How many references a resolution follows before giving up, as libbpf's
/// `MAX_RESOLVE_DEPTH`; longer chains are loops or hostile input.
pub const MAX_RESOLVE_DEPTH: usize = 32;
/// Pointer size assumed when no `long` type tells it (libbpf uses the host's
/// `sizeof(void *)`; every BPF host Apiary targets is 64-bit).
const DEFAULT_POINTER_SIZE: u32 = 8;

static VOID_TYPE: Type = Type {
    name_off: 0,
    kind: Kind::Void,
};

/// Parsed, validated BTF: a type table indexed by [`TypeId`] plus strings.
///
/// Every type id and string offset stored in the table has been checked at
/// parse time, so lookups of ids taken from the table itself cannot fail.
#[derive(Debug)]
pub struct Btf {
    endianness: Endianness,
    strings: Box<str>,
    /// Index 0 is `void`.
    types: Vec<Type>,
    pointer_size: u32,
    /// Type ids (without void) sorted by name, built on first lookup.
    by_name: OnceLock<Vec<TypeId>>,
    /// Type and decl tags with the kind flag set (attribute tags), in id
    /// order: [`Kind`] has no room for the flag, [`Btf::to_bytes`] needs it.
    flagged_tags: Vec<TypeId>,
}

/// A named member of a struct or union, reached through any number of
/// anonymous struct/union members (see [`Btf::flat_members`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlatMember<'a> {
    /// Member name.
    pub name: &'a str,
    /// Member type.
    pub ty: TypeId,
    /// Offset from the start of the outermost aggregate, in bits.
    pub bit_offset: u64,
    /// Bitfield width, 0 if not a bitfield.
    pub bitfield_size: u8,
    /// Member indices from the outermost aggregate down to this member
    /// (the CO-RE access-string form, without the leading array index).
    pub access_path: Vec<u32>,
}

impl Btf {
    /// Parses and validates a complete `.BTF` blob (an object file's section
    /// or raw `/sys/kernel/btf/vmlinux`), in either byte order.
    pub fn parse(data: &[u8]) -> Result<Btf, BtfError> {
        let header = parse_header(data)?;
        let view = ByteView::new(data, header.endianness);
        let after_header = &data[header.hdr_len..];
        let str_start = header.str_off as usize;
        let strings_bytes = &after_header[str_start..str_start + header.str_len as usize];
        let strings = parse_strings(strings_bytes)?;
        let type_start = header.hdr_len + header.type_off as usize;
        let type_view = ByteView::new(
            &data[type_start..type_start + header.type_len as usize],
            view.order,
        );
        let (types, flagged_tags) = parse_types(type_view)?;
        let mut btf = Btf {
            endianness: header.endianness,
            strings,
            types,
            pointer_size: DEFAULT_POINTER_SIZE,
            by_name: OnceLock::new(),
            flagged_tags,
        };
        btf.validate()?;
        btf.pointer_size = btf.guess_pointer_size();
        Ok(btf)
    }

    /// Byte order the blob was encoded in.
    pub fn endianness(&self) -> Endianness {
        self.endianness
    }

    /// Number of types including `void` (libbpf's `btf__type_cnt`): valid
    /// ids are `0..type_count()`.
    pub fn type_count(&self) -> u32 {
        // parse_types caps the count at MAX_NR_TYPES.
        self.types.len() as u32
    }

    /// All types except `void`, in id order.
    pub fn types(&self) -> impl ExactSizeIterator<Item = (TypeId, &Type)> + '_ {
        self.types
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, t)| (TypeId(i as u32), t))
    }

    /// The type with the given id; id 0 is `void`.
    pub fn type_by_id(&self, id: TypeId) -> Result<&Type, BtfError> {
        self.types
            .get(id.index())
            .ok_or(BtfError::TypeIdOutOfRange {
                id: 0,
                target: id.0,
                count: self.type_count(),
            })
    }

    /// The string at `off` in the string section (without its NUL).
    pub fn str_at(&self, off: u32) -> Result<&str, BtfError> {
        let start = off as usize;
        let tail = self
            .strings
            .as_bytes()
            .get(start..)
            .filter(|t| !t.is_empty())
            .ok_or(BtfError::StringOffsetOutOfRange {
                off,
                len: self.strings.len(),
            })?;
        // The section ends with NUL (checked at parse time).
        let len = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        self.strings
            .get(start..start + len)
            .ok_or(BtfError::InvalidUtf8(off))
    }

    /// The name of type `id`; `""` for anonymous types and `void`.
    pub fn name(&self, id: TypeId) -> Result<&str, BtfError> {
        self.str_at(self.type_by_id(id)?.name_off)
    }

    /// Whether the type or decl tag `id` has its kind flag set (an
    /// attribute tag rather than a plain one).
    pub fn is_attribute_tag(&self, id: TypeId) -> bool {
        self.flagged_tags.binary_search(&id).is_ok()
    }

    /// The whole string section, NULs included.
    pub(crate) fn string_section(&self) -> &str {
        &self.strings
    }

    /// Mutable access to a type's payload, for fix-ups that keep every
    /// reference valid (data section sizes and offsets).
    pub(crate) fn kind_mut(&mut self, id: TypeId) -> Option<&mut Kind> {
        self.types.get_mut(id.index()).map(|t| &mut t.kind)
    }

    /// Pointer size in bytes: the size of the `long` type if there is one,
    /// otherwise 8 (as libbpf on a 64-bit host).
    pub fn pointer_size(&self) -> u32 {
        self.pointer_size
    }

    fn sorted_by_name(&self) -> &[TypeId] {
        self.by_name.get_or_init(|| {
            let mut ids: Vec<TypeId> = self
                .types()
                .filter(|(_, t)| t.name_off != 0)
                .map(|(id, _)| id)
                .collect();
            ids.sort_by(|a, b| self.name_or_empty(*a).cmp(self.name_or_empty(*b)));
            ids
        })
    }

    fn name_or_empty(&self, id: TypeId) -> &str {
        self.name(id).unwrap_or("")
    }

    /// All types named `name`, in id order.
    pub fn find_all_by_name(&self, name: &str) -> Vec<TypeId> {
        let sorted = self.sorted_by_name();
        let start = sorted.partition_point(|id| self.name_or_empty(*id) < name);
        let mut found: Vec<TypeId> = sorted[start..]
            .iter()
            .take_while(|id| self.name_or_empty(**id) == name)
            .copied()
            .collect();
        found.sort_unstable();
        found
    }

    /// The lowest type id named `name` (`void` for `"void"`, as libbpf).
    pub fn find_by_name(&self, name: &str) -> Option<TypeId> {
        if name == "void" {
            return Some(TypeId::VOID);
        }
        self.find_all_by_name(name).first().copied()
    }

    /// The lowest type id named `name` of the given kind.
    pub fn find_by_name_kind(&self, name: &str, kind: BtfKind) -> Option<TypeId> {
        if kind == BtfKind::Void || name == "void" {
            return Some(TypeId::VOID);
        }
        self.find_all_by_name(name)
            .into_iter()
            .find(|id| self.types[id.index()].kind_tag() == kind)
    }

    fn follow_while(
        &self,
        id: TypeId,
        mut step: impl FnMut(&Kind) -> Option<TypeId>,
    ) -> Result<TypeId, BtfError> {
        let mut current = id;
        for _ in 0..=MAX_RESOLVE_DEPTH {
            match step(&self.type_by_id(current)?.kind) {
                Some(next) => current = next,
                None => return Ok(current),
            }
        }
        Err(BtfError::ResolveDepthExceeded(id))
    }

    /// Follows `const`, `volatile`, `restrict` and type tags to the
    /// underlying type.
    pub fn skip_modifiers(&self, id: TypeId) -> Result<TypeId, BtfError> {
        self.follow_while(id, |k| {
            k.is_modifier().then(|| k.referenced_type()).flatten()
        })
    }

    /// Follows modifiers and typedefs to the underlying type.
    pub fn skip_modifiers_and_typedefs(&self, id: TypeId) -> Result<TypeId, BtfError> {
        self.follow_while(id, |k| match k {
            Kind::Typedef(t) => Some(*t),
            k if k.is_modifier() => k.referenced_type(),
            _ => None,
        })
    }

    /// Size in bytes of a value of type `id` (libbpf's `btf__resolve_size`):
    /// follows typedefs, modifiers, vars and tags, multiplies array lengths,
    /// and fails on types without size, on loops and on 32-bit overflow.
    pub fn size_of(&self, id: TypeId) -> Result<u32, BtfError> {
        let mut nelems: u64 = 1;
        let mut current = id;
        for _ in 0..MAX_RESOLVE_DEPTH {
            let t = self.type_by_id(current)?;
            let size = match &t.kind {
                Kind::Int(i) => i.size,
                Kind::Struct(c) | Kind::Union(c) => c.size,
                Kind::Enum(e) | Kind::Enum64(e) => e.size,
                Kind::Datasec(d) => d.size,
                Kind::Float { size } => *size,
                Kind::Ptr(_) => self.pointer_size,
                Kind::Array(a) => {
                    nelems = nelems
                        .checked_mul(u64::from(a.nelems))
                        .filter(|n| *n <= u64::from(u32::MAX))
                        .ok_or(BtfError::SizeOverflow(id))?;
                    current = a.elem_type;
                    continue;
                }
                Kind::Void | Kind::Fwd(_) | Kind::Func { .. } | Kind::FuncProto(_) => {
                    return Err(BtfError::NoSize {
                        id: current,
                        kind: t.kind_tag(),
                    });
                }
                other => {
                    // Typedef, modifiers, var, decl tag: all carry one reference.
                    current = other.referenced_type().unwrap_or(TypeId::VOID);
                    continue;
                }
            };
            let total = nelems * u64::from(size);
            return u32::try_from(total).map_err(|_| BtfError::SizeOverflow(id));
        }
        Err(BtfError::ResolveDepthExceeded(id))
    }

    /// Natural alignment in bytes of type `id` (libbpf's `btf__align_of`): a
    /// struct whose members are misaligned, or whose size is not a multiple
    /// of its alignment, is packed and has alignment 1.
    pub fn align_of(&self, id: TypeId) -> Result<u32, BtfError> {
        self.align_of_depth(id, 0, &mut HashMap::new())
    }

    /// `known` memoizes composites: hostile BTF can make a DAG of structs
    /// whose members all name the next level, which a plain recursion walks
    /// an exponential number of times.
    fn align_of_depth(
        &self,
        id: TypeId,
        depth: usize,
        known: &mut HashMap<TypeId, u32>,
    ) -> Result<u32, BtfError> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err(BtfError::ResolveDepthExceeded(id));
        }
        if let Some(&align) = known.get(&id) {
            return Ok(align);
        }
        let t = self.type_by_id(id)?;
        match &t.kind {
            Kind::Int(Int { size, .. })
            | Kind::Enum(Enum { size, .. })
            | Kind::Enum64(Enum { size, .. })
            | Kind::Float { size } => Ok((*size).min(self.pointer_size)),
            Kind::Ptr(_) => Ok(self.pointer_size),
            Kind::Typedef(t)
            | Kind::Volatile(t)
            | Kind::Const(t)
            | Kind::Restrict(t)
            | Kind::TypeTag(t) => self.align_of_depth(*t, depth + 1, known),
            Kind::Array(a) => self.align_of_depth(a.elem_type, depth + 1, known),
            Kind::Struct(c) | Kind::Union(c) => {
                let align = self.composite_align(c, depth, known)?;
                known.insert(id, align);
                Ok(align)
            }
            _ => Err(BtfError::NoSize {
                id,
                kind: t.kind_tag(),
            }),
        }
    }

    fn composite_align(
        &self,
        c: &Composite,
        depth: usize,
        known: &mut HashMap<TypeId, u32>,
    ) -> Result<u32, BtfError> {
        let mut max_align = 1;
        for m in &c.members {
            let align = self.align_of_depth(m.ty, depth + 1, known)?;
            if align == 0 {
                return Ok(0);
            }
            max_align = max_align.max(align);
            if m.bitfield_size == 0 && m.bit_offset % (8 * align) != 0 {
                return Ok(1);
            }
        }
        Ok(if !c.size.is_multiple_of(max_align) {
            1
        } else {
            max_align
        })
    }

    /// Members of struct or union `id`, in declaration order.
    pub fn members(&self, id: TypeId) -> Result<&[Member], BtfError> {
        let t = self.type_by_id(id)?;
        t.kind.members().ok_or(BtfError::NotComposite {
            id,
            kind: t.kind_tag(),
        })
    }

    /// Named members of struct or union `id`, descending into anonymous
    /// struct/union members (reached through modifiers and typedefs as C
    /// allows), with offsets relative to `id` and CO-RE access paths.
    pub fn flat_members(&self, id: TypeId) -> Result<Vec<FlatMember<'_>>, BtfError> {
        let mut out = Vec::new();
        let mut path = Vec::new();
        self.collect_flat_members(id, 0, &mut path, &mut out, 0)?;
        Ok(out)
    }

    fn collect_flat_members<'s>(
        &'s self,
        id: TypeId,
        base_offset: u64,
        path: &mut Vec<u32>,
        out: &mut Vec<FlatMember<'s>>,
        depth: usize,
    ) -> Result<(), BtfError> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err(BtfError::ResolveDepthExceeded(id));
        }
        for (index, m) in (0u32..).zip(self.members(id)?) {
            path.push(index);
            let offset = base_offset + u64::from(m.bit_offset);
            if m.name_off == 0 {
                let inner = self.skip_modifiers_and_typedefs(m.ty)?;
                if self.type_by_id(inner)?.kind.members().is_some() {
                    self.collect_flat_members(inner, offset, path, out, depth + 1)?;
                }
            } else {
                out.push(FlatMember {
                    name: self.str_at(m.name_off)?,
                    ty: m.ty,
                    bit_offset: offset,
                    bitfield_size: m.bitfield_size,
                    access_path: path.clone(),
                });
            }
            path.pop();
        }
        Ok(())
    }

    /// Checks every type reference and string offset (libbpf's
    /// `btf_sanity_check`, plus the FUNC_PROTO return type).
    fn validate(&self) -> Result<(), BtfError> {
        let count = self.type_count();
        for (id, t) in self.types() {
            let check_id = |target: TypeId| {
                if target.0 < count {
                    Ok(())
                } else {
                    Err(BtfError::TypeIdOutOfRange {
                        id: id.0,
                        target: target.0,
                        count,
                    })
                }
            };
            self.str_at(t.name_off)?;
            for target in t.kind.references() {
                check_id(target)?;
            }
            match &t.kind {
                Kind::Struct(c) | Kind::Union(c) => {
                    for m in &c.members {
                        self.str_at(m.name_off)?;
                    }
                }
                Kind::Enum(e) | Kind::Enum64(e) => {
                    for v in &e.values {
                        self.str_at(v.name_off)?;
                    }
                }
                Kind::FuncProto(p) => {
                    for param in &p.params {
                        self.str_at(param.name_off)?;
                    }
                }
                Kind::Func { proto, .. } => {
                    let found = self.types[proto.index()].kind_tag();
                    if found != BtfKind::FuncProto {
                        return Err(BtfError::FuncNotProto {
                            id: id.0,
                            target: proto.0,
                            found,
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// libbpf's `determine_ptr_size`: the size of the first 4- or 8-byte
    /// integer spelled as some variant of `long`.
    fn guess_pointer_size(&self) -> u32 {
        const LONG_ALIASES: [&str; 11] = [
            "long",
            "long int",
            "int long",
            "unsigned long",
            "long unsigned",
            "unsigned long int",
            "unsigned int long",
            "long unsigned int",
            "long int unsigned",
            "int unsigned long",
            "int long unsigned",
        ];
        self.types()
            .find_map(|(_, t)| match t.kind {
                Kind::Int(Int { size, .. })
                    if (size == 4 || size == 8)
                        && LONG_ALIASES.contains(&self.str_at(t.name_off).unwrap_or("")) =>
                {
                    Some(size)
                }
                _ => None,
            })
            .unwrap_or(DEFAULT_POINTER_SIZE)
    }
}

struct Header {
    endianness: Endianness,
    hdr_len: usize,
    type_off: u32,
    type_len: u32,
    str_off: u32,
    str_len: u32,
}

/// Validates `struct btf_header` as libbpf's `btf_parse_hdr` and the
/// kernel's `btf_parse_hdr` do (version, flags, unknown header tail).
fn parse_header(data: &[u8]) -> Result<Header, BtfError> {
    if data.len() < HEADER_LEN {
        return Err(BtfError::TruncatedHeader {
            len: data.len(),
            need: HEADER_LEN,
        });
    }
    let endianness = Endianness::from_magic([data[0], data[1]]).map_err(BtfError::BadMagic)?;
    let view = ByteView::new(data, endianness);
    let field = |off| view.u32_at(off).unwrap_or(0);
    let version = data[2];
    if version != 1 {
        return Err(BtfError::UnsupportedVersion(version));
    }
    if data[3] != 0 {
        return Err(BtfError::UnsupportedFlags(data[3]));
    }
    let hdr_len32 = field(4);
    let hdr_len = hdr_len32 as usize;
    if hdr_len < HEADER_LEN || hdr_len > data.len() {
        return Err(BtfError::BadHeaderLength {
            hdr_len: hdr_len32,
            len: data.len(),
        });
    }
    if data[HEADER_LEN..hdr_len].iter().any(|&b| b != 0) {
        return Err(BtfError::NonZeroHeaderTail);
    }
    let header = Header {
        endianness,
        hdr_len,
        type_off: field(8),
        type_len: field(12),
        str_off: field(16),
        str_len: field(20),
    };
    let avail = data.len() - hdr_len;
    let fits = |off: u32, len: u32| u64::from(off) + u64::from(len) <= avail as u64;
    if !fits(header.str_off, header.str_len) {
        return Err(BtfError::SectionOutOfBounds {
            section: "string",
            off: header.str_off,
            len: header.str_len,
            avail,
        });
    }
    if u64::from(header.type_off) + u64::from(header.type_len) > u64::from(header.str_off) {
        return Err(BtfError::SectionsOverlap {
            type_off: header.type_off,
            type_len: header.type_len,
            str_off: header.str_off,
        });
    }
    if !header.type_off.is_multiple_of(4) {
        return Err(BtfError::MisalignedTypeSection(header.type_off));
    }
    Ok(header)
}

/// libbpf's `btf_parse_str_sec`, plus a UTF-8 check so names are `&str`.
fn parse_strings(bytes: &[u8]) -> Result<Box<str>, BtfError> {
    match bytes {
        [] => return Err(BtfError::BadStringSection("empty")),
        [first, .., last] | [first @ last] => {
            if *last != 0 {
                return Err(BtfError::BadStringSection(
                    "last string is not NUL-terminated",
                ));
            }
            if *first != 0 {
                return Err(BtfError::BadStringSection(
                    "does not start with the empty string",
                ));
            }
        }
    }
    if bytes.len() as u64 - 1 > u64::from(MAX_STR_OFFSET) {
        return Err(BtfError::BadStringSection(
            "larger than the largest string offset",
        ));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.into()),
        Err(e) => Err(BtfError::InvalidUtf8(e.valid_up_to() as u32)),
    }
}

/// Decodes the type section: a packed sequence of `struct btf_type` each
/// followed by its kind-specific data.
fn parse_types(view: ByteView<'_>) -> Result<(Vec<Type>, Vec<TypeId>), BtfError> {
    let mut types = vec![VOID_TYPE.clone()];
    let mut flagged_tags = Vec::new();
    let mut pos = 0usize;
    while pos + TYPE_HEADER_LEN <= view.data.len() {
        let id = u32::try_from(types.len())
            .ok()
            .filter(|n| *n <= MAX_NR_TYPES)
            .ok_or(BtfError::TooManyTypes {
                limit: MAX_NR_TYPES,
            })?;
        let (ty, len) = parse_one_type(view, pos, id)?;
        let info = view.u32_at(pos + 4).unwrap_or(0);
        if info >> 31 != 0 && matches!(ty.kind, Kind::TypeTag(_) | Kind::DeclTag { .. }) {
            flagged_tags.push(TypeId(id));
        }
        types.push(ty);
        pos += len;
    }
    if pos != view.data.len() {
        return Err(BtfError::TruncatedType {
            id: types.len() as u32,
        });
    }
    Ok((types, flagged_tags))
}

/// Decodes the type at `pos`, returning it and its encoded length.
fn parse_one_type(view: ByteView<'_>, pos: usize, id: u32) -> Result<(Type, usize), BtfError> {
    let word = |off: usize| view.u32_at(pos + off).ok_or(BtfError::TruncatedType { id });
    let name_off = word(0)?;
    let info = word(4)?;
    let size_or_type = word(8)?;
    let kind_num = ((info >> 24) & 0x1f) as u8;
    let vlen = (info & 0xffff) as usize;
    let kind_flag = info >> 31 != 0;
    let referenced = TypeId(size_or_type);

    let extra_len = match kind_num {
        1 | 14 | 17 => 4,
        3 => 12,
        4 | 5 => vlen * 12,
        6 | 13 => vlen * 8,
        15 | 19 => vlen * 12,
        2 | 7..=12 | 16 | 18 => 0,
        _ => {
            return Err(BtfError::UnknownKind { id, kind: kind_num });
        }
    };
    let total_len = TYPE_HEADER_LEN + extra_len;
    if pos + total_len > view.data.len() {
        return Err(BtfError::TruncatedType { id });
    }
    let extra = |index: usize| word(TYPE_HEADER_LEN + 4 * index);
    // Decodes `vlen` records of `N` 32-bit words each.
    fn records<T, const N: usize>(
        vlen: usize,
        extra: impl Fn(usize) -> Result<u32, BtfError>,
        decode: impl Fn([u32; N]) -> T,
    ) -> Result<Vec<T>, BtfError> {
        let mut out = Vec::with_capacity(vlen);
        for i in 0..vlen {
            let mut words = [0u32; N];
            for (w, slot) in words.iter_mut().enumerate() {
                *slot = extra(i * N + w)?;
            }
            out.push(decode(words));
        }
        Ok(out)
    }
    let kind = match kind_num {
        1 => Kind::Int(parse_int(id, size_or_type, extra(0)?)?),
        2 => Kind::Ptr(referenced),
        3 => Kind::Array(Array {
            elem_type: TypeId(extra(0)?),
            index_type: TypeId(extra(1)?),
            nelems: extra(2)?,
        }),
        4 | 5 => {
            let members = records(vlen, extra, |[name_off, ty, offset]: [u32; 3]| {
                let (bit_offset, bitfield_size) = if kind_flag {
                    (offset & 0x00ff_ffff, (offset >> 24) as u8)
                } else {
                    (offset, 0)
                };
                Member {
                    name_off,
                    ty: TypeId(ty),
                    bit_offset,
                    bitfield_size,
                }
            })?;
            let composite = Composite {
                size: size_or_type,
                bitfield_encoding: kind_flag,
                members,
            };
            if kind_num == 4 {
                Kind::Struct(composite)
            } else {
                Kind::Union(composite)
            }
        }
        6 | 19 => {
            let values = if kind_num == 6 {
                records(vlen, extra, |[name_off, value]: [u32; 2]| EnumValue {
                    name_off,
                    raw: u64::from(value),
                })?
            } else {
                records(vlen, extra, |[name_off, lo, hi]: [u32; 3]| EnumValue {
                    name_off,
                    raw: u64::from(hi) << 32 | u64::from(lo),
                })?
            };
            let e = Enum {
                size: size_or_type,
                signed: kind_flag,
                values,
            };
            if kind_num == 6 {
                Kind::Enum(e)
            } else {
                Kind::Enum64(e)
            }
        }
        7 => Kind::Fwd(if kind_flag {
            FwdKind::Union
        } else {
            FwdKind::Struct
        }),
        8 => Kind::Typedef(referenced),
        9 => Kind::Volatile(referenced),
        10 => Kind::Const(referenced),
        11 => Kind::Restrict(referenced),
        12 => Kind::Func {
            proto: referenced,
            linkage: match vlen {
                0 => FuncLinkage::Static,
                1 => FuncLinkage::Global,
                2 => FuncLinkage::Extern,
                other => {
                    return Err(BtfError::BadLinkage {
                        id,
                        kind: BtfKind::Func,
                        linkage: other as u32,
                    });
                }
            },
        },
        13 => Kind::FuncProto(FuncProto {
            ret_type: referenced,
            params: records(vlen, extra, |[name_off, ty]: [u32; 2]| Param {
                name_off,
                ty: TypeId(ty),
            })?,
        }),
        14 => Kind::Var {
            ty: referenced,
            linkage: match extra(0)? {
                0 => VarLinkage::Static,
                1 => VarLinkage::Global,
                2 => VarLinkage::Extern,
                other => {
                    return Err(BtfError::BadLinkage {
                        id,
                        kind: BtfKind::Var,
                        linkage: other,
                    });
                }
            },
        },
        15 => Kind::Datasec(Datasec {
            size: size_or_type,
            vars: records(vlen, extra, |[ty, offset, size]: [u32; 3]| VarSecinfo {
                ty: TypeId(ty),
                offset,
                size,
            })?,
        }),
        16 => Kind::Float { size: size_or_type },
        17 => Kind::DeclTag {
            target: referenced,
            component_idx: extra(0)? as i32,
        },
        _ => Kind::TypeTag(referenced),
    };
    Ok((Type { name_off, kind }, total_len))
}

/// Decodes and checks an INT's data word as the kernel's
/// `btf_int_check_meta` does.
fn parse_int(id: u32, size: u32, data: u32) -> Result<Int, BtfError> {
    let bad = |reason| Err(BtfError::BadInt { id, reason });
    let bits = data & 0xff;
    let offset = (data >> 16) & 0xff;
    if data & 0xf000_ff00 != 0 {
        return bad("reserved bits set");
    }
    if !matches!(size, 1 | 2 | 4 | 8 | 16) {
        return bad("size is not 1, 2, 4, 8 or 16 bytes");
    }
    if bits > 128 || offset + bits > size * 8 {
        return bad("bits do not fit in the size");
    }
    let encoding = match (data >> 24) & 0x0f {
        0 => IntEncoding::Unsigned,
        1 => IntEncoding::Signed,
        2 => IntEncoding::Char,
        4 => IntEncoding::Bool,
        _ => return bad("unknown or multiple encodings"),
    };
    Ok(Int {
        size,
        encoding,
        offset: offset as u8,
        bits: bits as u8,
    })
}
