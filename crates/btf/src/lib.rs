//! BTF (BPF Type Format) for Apiary: parsing of `.BTF` and `.BTF.ext` section
//! bytes into a typed, validated type graph, and bpftool-compatible dumps.
//!
//! This crate owns the BTF wire format. It must not know about ELF files,
//! instruction semantics, maps or the kernel: callers hand it section bytes.
//!
//! - [`Btf::parse`] validates the header, string section and every type
//!   (all referenced ids and string offsets are checked once, so the graph
//!   can be walked without dangling ids), in either byte order. Queries:
//!   [`Btf::type_by_id`], [`Btf::find_by_name_kind`],
//!   [`Btf::skip_modifiers_and_typedefs`], [`Btf::size_of`],
//!   [`Btf::align_of`], [`Btf::flat_members`] (with CO-RE access paths).
//! - [`BtfExt::parse`] reads `.BTF.ext`; [`BtfExt::resolve`] groups its
//!   func/line/CO-RE records by ELF section with strings from the `.BTF`.
//! - [`dump_raw`] and [`dump_c`] print exactly what the bpftool installed
//!   with Apiary's reference kernel prints (`bpftool btf dump file F` and
//!   `... format c`; bpftool 7.1 built from Linux 6.1 stable, whose libbpf
//!   has the 2022 padding/packing rework and the 2024 `(void)` prototype
//!   fix but no `mode(byte)` enum attributes).
//! - [`Btf::to_bytes`] writes BTF back out; [`Btf::fixup_datasec`] is
//!   libbpf's fix-up of clang's data sections (sizes and variable offsets
//!   from the ELF), so that global data values format as the kernel's do.
//! - [`dump_value`] prints a value through its BTF type as bpftool's
//!   `btf_dumper` does in `map dump` (plain text and `-j`), with
//!   [`BpftoolJson`] reproducing bpftool's JSON writer; [`value_to_json`]
//!   gives the same as a `serde_json::Value`.
//!
//! ```no_run
//! let data = std::fs::read("/sys/kernel/btf/vmlinux")?;
//! let btf = apiary_btf::Btf::parse(&data)?;
//! let task = btf.find_by_name_kind("task_struct", apiary_btf::BtfKind::Struct);
//! apiary_btf::dump_raw(&btf, &mut std::io::stdout().lock())?;
//! # let _ = task;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod btf;
mod bytes;
mod dump_c;
mod dump_raw;
mod encode;
mod error;
mod ext;
mod types;
mod value_dump;

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
pub use crate::value_dump::{BpftoolJson, ValueDumpError, dump_value, value_to_json};
