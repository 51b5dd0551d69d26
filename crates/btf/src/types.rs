//! The typed BTF type graph: type ids, kinds and their payloads.

use std::fmt;

/// A BTF type id: an index into the type table, where 0 is `void`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TypeId(pub u32);

impl TypeId {
    /// The implicit `void` type every BTF blob starts with.
    pub const VOID: TypeId = TypeId(0);

    /// The id as an index into the type table.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for TypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The kind number of a BTF type, without payload (`BTF_KIND_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BtfKind {
    /// Type id 0, `void`.
    Void = 0,
    /// `BTF_KIND_INT`.
    Int = 1,
    /// `BTF_KIND_PTR`.
    Ptr = 2,
    /// `BTF_KIND_ARRAY`.
    Array = 3,
    /// `BTF_KIND_STRUCT`.
    Struct = 4,
    /// `BTF_KIND_UNION`.
    Union = 5,
    /// `BTF_KIND_ENUM` (32-bit enumerators).
    Enum = 6,
    /// `BTF_KIND_FWD`.
    Fwd = 7,
    /// `BTF_KIND_TYPEDEF`.
    Typedef = 8,
    /// `BTF_KIND_VOLATILE`.
    Volatile = 9,
    /// `BTF_KIND_CONST`.
    Const = 10,
    /// `BTF_KIND_RESTRICT`.
    Restrict = 11,
    /// `BTF_KIND_FUNC`.
    Func = 12,
    /// `BTF_KIND_FUNC_PROTO`.
    FuncProto = 13,
    /// `BTF_KIND_VAR`.
    Var = 14,
    /// `BTF_KIND_DATASEC`.
    Datasec = 15,
    /// `BTF_KIND_FLOAT`.
    Float = 16,
    /// `BTF_KIND_DECL_TAG`.
    DeclTag = 17,
    /// `BTF_KIND_TYPE_TAG`.
    TypeTag = 18,
    /// `BTF_KIND_ENUM64`.
    Enum64 = 19,
}

impl BtfKind {
    /// The kind's name as bpftool prints it (`"INT"`, `"FUNC_PROTO"`, ...).
    pub fn bpftool_name(self) -> &'static str {
        match self {
            BtfKind::Void => "UNKNOWN",
            BtfKind::Int => "INT",
            BtfKind::Ptr => "PTR",
            BtfKind::Array => "ARRAY",
            BtfKind::Struct => "STRUCT",
            BtfKind::Union => "UNION",
            BtfKind::Enum => "ENUM",
            BtfKind::Fwd => "FWD",
            BtfKind::Typedef => "TYPEDEF",
            BtfKind::Volatile => "VOLATILE",
            BtfKind::Const => "CONST",
            BtfKind::Restrict => "RESTRICT",
            BtfKind::Func => "FUNC",
            BtfKind::FuncProto => "FUNC_PROTO",
            BtfKind::Var => "VAR",
            BtfKind::Datasec => "DATASEC",
            BtfKind::Float => "FLOAT",
            BtfKind::DeclTag => "DECL_TAG",
            BtfKind::TypeTag => "TYPE_TAG",
            BtfKind::Enum64 => "ENUM64",
        }
    }
}

impl fmt::Display for BtfKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.bpftool_name())
    }
}

/// How the bits of a `BTF_KIND_INT` are to be interpreted (`BTF_INT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntEncoding {
    /// Plain unsigned integer (encoding 0).
    Unsigned,
    /// `BTF_INT_SIGNED`.
    Signed,
    /// `BTF_INT_CHAR`: a character type, for pretty-printing.
    Char,
    /// `BTF_INT_BOOL`.
    Bool,
}

/// Payload of `BTF_KIND_INT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Int {
    /// Storage size in bytes.
    pub size: u32,
    /// Signedness / character / boolean interpretation.
    pub encoding: IntEncoding,
    /// Bit offset of the value inside its storage.
    pub offset: u8,
    /// Number of value bits.
    pub bits: u8,
}

/// Payload of `BTF_KIND_ARRAY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Array {
    /// Element type.
    pub elem_type: TypeId,
    /// Index type (an integer type, informational).
    pub index_type: TypeId,
    /// Number of elements.
    pub nelems: u32,
}

/// One member of a struct or union.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Member {
    /// String offset of the member name; 0 for an anonymous member.
    pub name_off: u32,
    /// Member type.
    pub ty: TypeId,
    /// Offset of the member from the start of the aggregate, in bits.
    pub bit_offset: u32,
    /// Bitfield width in bits, 0 for a member that is not a bitfield. Only
    /// aggregates with the kind flag set carry widths; without it, a
    /// bitfield is an INT type whose own `bits` are narrower than its size.
    pub bitfield_size: u8,
}

/// Payload of `BTF_KIND_STRUCT` and `BTF_KIND_UNION`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Composite {
    /// Size in bytes.
    pub size: u32,
    /// Whether member offsets were encoded with bitfield sizes (kind flag).
    pub bitfield_encoding: bool,
    /// Members in declaration order.
    pub members: Vec<Member>,
}

/// One enumerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnumValue {
    /// String offset of the enumerator name.
    pub name_off: u32,
    /// The raw value bits: zero-extended 32-bit value for `ENUM`, the full
    /// 64-bit value for `ENUM64`.
    pub raw: u64,
}

/// Payload of `BTF_KIND_ENUM` and `BTF_KIND_ENUM64`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Enum {
    /// Size in bytes.
    pub size: u32,
    /// Whether enumerator values are signed (kind flag).
    pub signed: bool,
    /// Enumerators in declaration order.
    pub values: Vec<EnumValue>,
}

/// Which aggregate keyword a forward declaration stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FwdKind {
    /// `struct X;`
    Struct,
    /// `union X;` (kind flag set)
    Union,
}

/// Linkage of a `BTF_KIND_FUNC` (stored in its vlen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FuncLinkage {
    /// `BTF_FUNC_STATIC`.
    Static,
    /// `BTF_FUNC_GLOBAL`.
    Global,
    /// `BTF_FUNC_EXTERN`.
    Extern,
}

/// One parameter of a function prototype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Param {
    /// String offset of the parameter name; 0 if unnamed.
    pub name_off: u32,
    /// Parameter type; `void` as the last parameter means varargs.
    pub ty: TypeId,
}

/// Payload of `BTF_KIND_FUNC_PROTO`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FuncProto {
    /// Return type (`void` is id 0).
    pub ret_type: TypeId,
    /// Parameters in order.
    pub params: Vec<Param>,
}

/// Linkage of a `BTF_KIND_VAR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VarLinkage {
    /// `BTF_VAR_STATIC`.
    Static,
    /// `BTF_VAR_GLOBAL_ALLOCATED`.
    Global,
    /// `BTF_VAR_GLOBAL_EXTERN`.
    Extern,
}

/// One variable placed in a data section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VarSecinfo {
    /// The `VAR` (or `FUNC`, for `.ksyms`) type.
    pub ty: TypeId,
    /// Offset of the variable inside the section, in bytes.
    pub offset: u32,
    /// Size of the variable in bytes.
    pub size: u32,
}

/// Payload of `BTF_KIND_DATASEC`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Datasec {
    /// Section size in bytes (0 in objects before the loader fixes it).
    pub size: u32,
    /// Variables in the section.
    pub vars: Vec<VarSecinfo>,
}

/// A BTF type's kind together with its kind-specific data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Type id 0.
    Void,
    /// Integer.
    Int(Int),
    /// Pointer to the given type.
    Ptr(TypeId),
    /// Array.
    Array(Array),
    /// `struct`.
    Struct(Composite),
    /// `union`.
    Union(Composite),
    /// Enum with 32-bit enumerators.
    Enum(Enum),
    /// Forward declaration of a struct or union.
    Fwd(FwdKind),
    /// `typedef` naming the given type.
    Typedef(TypeId),
    /// `volatile` qualifier of the given type.
    Volatile(TypeId),
    /// `const` qualifier of the given type.
    Const(TypeId),
    /// `restrict` qualifier of the given type.
    Restrict(TypeId),
    /// Function: a name bound to a `FUNC_PROTO`.
    Func {
        /// The `FUNC_PROTO` describing the signature.
        proto: TypeId,
        /// Linkage.
        linkage: FuncLinkage,
    },
    /// Function prototype.
    FuncProto(FuncProto),
    /// Global or static variable.
    Var {
        /// Variable type.
        ty: TypeId,
        /// Linkage.
        linkage: VarLinkage,
    },
    /// Data section (`.data`, `.bss`, `.maps`, ...).
    Datasec(Datasec),
    /// Floating-point type of the given size in bytes.
    Float {
        /// Size in bytes.
        size: u32,
    },
    /// `btf_decl_tag` attached to a type, or to one of its members or
    /// parameters.
    DeclTag {
        /// The tagged type.
        target: TypeId,
        /// Member/parameter index, or -1 for the type itself.
        component_idx: i32,
    },
    /// `btf_type_tag` applied to the given type.
    TypeTag(TypeId),
    /// Enum with 64-bit enumerators.
    Enum64(Enum),
}

impl Kind {
    /// The kind number without payload.
    pub fn tag(&self) -> BtfKind {
        match self {
            Kind::Void => BtfKind::Void,
            Kind::Int(_) => BtfKind::Int,
            Kind::Ptr(_) => BtfKind::Ptr,
            Kind::Array(_) => BtfKind::Array,
            Kind::Struct(_) => BtfKind::Struct,
            Kind::Union(_) => BtfKind::Union,
            Kind::Enum(_) => BtfKind::Enum,
            Kind::Fwd(_) => BtfKind::Fwd,
            Kind::Typedef(_) => BtfKind::Typedef,
            Kind::Volatile(_) => BtfKind::Volatile,
            Kind::Const(_) => BtfKind::Const,
            Kind::Restrict(_) => BtfKind::Restrict,
            Kind::Func { .. } => BtfKind::Func,
            Kind::FuncProto(_) => BtfKind::FuncProto,
            Kind::Var { .. } => BtfKind::Var,
            Kind::Datasec(_) => BtfKind::Datasec,
            Kind::Float { .. } => BtfKind::Float,
            Kind::DeclTag { .. } => BtfKind::DeclTag,
            Kind::TypeTag(_) => BtfKind::TypeTag,
            Kind::Enum64(_) => BtfKind::Enum64,
        }
    }

    /// The type referenced through the common `type` field, for the kinds
    /// that have exactly one such reference (modifiers, typedef, pointer,
    /// func, var, tags).
    pub fn referenced_type(&self) -> Option<TypeId> {
        match *self {
            Kind::Ptr(t)
            | Kind::Typedef(t)
            | Kind::Volatile(t)
            | Kind::Const(t)
            | Kind::Restrict(t)
            | Kind::TypeTag(t)
            | Kind::Func { proto: t, .. }
            | Kind::Var { ty: t, .. }
            | Kind::DeclTag { target: t, .. } => Some(t),
            _ => None,
        }
    }

    /// Whether this is a qualifier that C writes next to a type without
    /// changing its layout: `const`, `volatile`, `restrict` or a type tag.
    pub fn is_modifier(&self) -> bool {
        matches!(
            self,
            Kind::Const(_) | Kind::Volatile(_) | Kind::Restrict(_) | Kind::TypeTag(_)
        )
    }

    /// Members of a struct or union, `None` for other kinds.
    pub fn members(&self) -> Option<&[Member]> {
        match self {
            Kind::Struct(c) | Kind::Union(c) => Some(&c.members),
            _ => None,
        }
    }

    /// Every type id this kind refers to, in encoding order.
    pub fn references(&self) -> Vec<TypeId> {
        match self {
            Kind::Array(a) => vec![a.elem_type, a.index_type],
            Kind::Struct(c) | Kind::Union(c) => c.members.iter().map(|m| m.ty).collect(),
            Kind::FuncProto(p) => std::iter::once(p.ret_type)
                .chain(p.params.iter().map(|p| p.ty))
                .collect(),
            Kind::Datasec(d) => d.vars.iter().map(|v| v.ty).collect(),
            other => other.referenced_type().into_iter().collect(),
        }
    }
}

/// One BTF type: its name and kind-specific payload.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Type {
    /// String offset of the type name; 0 for anonymous types.
    pub name_off: u32,
    /// Kind and payload.
    pub kind: Kind,
}

impl Type {
    /// The kind number without payload.
    pub fn kind_tag(&self) -> BtfKind {
        self.kind.tag()
    }
}
