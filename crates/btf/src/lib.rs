//! BTF (BPF Type Format) for Apiary: parsing of `.BTF` and `.BTF.ext` section
//! bytes into a typed, validated type graph, and bpftool-compatible dumps.
//!
//! This crate owns the BTF wire format. It must not know about ELF files,
//! instruction semantics, maps or the kernel: callers hand it section bytes.

mod btf;
mod bytes;
mod dump_c;
mod dump_raw;
mod error;
mod ext;
mod types;

pub use crate::btf::{Btf, FlatMember, MAX_RESOLVE_DEPTH};
pub use crate::bytes::Endianness;
pub use crate::dump_c::{DumpError, dump_c, dump_c_type};
pub use crate::dump_raw::{dump_raw, dump_raw_type};
pub use crate::error::{BtfError, BtfExtError};
pub use crate::ext::{
    BtfExt, CoreRelo, CoreReloKind, ExtSection, FuncInfo, LineInfo, ResolvedCoreRelo,
    ResolvedLineInfo, SectionExtInfo,
};
pub use crate::types::{
    Array, BtfKind, Composite, Datasec, Enum, EnumValue, FuncLinkage, FuncProto, FwdKind, Int,
    IntEncoding, Kind, Member, Param, Type, TypeId, VarLinkage, VarSecinfo,
};
