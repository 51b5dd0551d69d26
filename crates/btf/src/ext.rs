//! Parsing of `.BTF.ext`: per-section function info, line info and CO-RE
//! relocation records, whose strings live in the companion `.BTF`.

use crate::btf::Btf;
use crate::bytes::{ByteView, Endianness};
use crate::error::BtfExtError;
use crate::types::TypeId;

/// Length of the header up to and including `line_info_len`.
const MIN_HEADER_LEN: u32 = 24;
/// Length of the header including `core_relo_off`/`core_relo_len`.
const CORE_RELO_HEADER_LEN: u32 = 32;

/// One `bpf_func_info` record: the function starting at an instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FuncInfo {
    /// Offset of the function's first instruction in its ELF section, in
    /// bytes (as clang writes it; the kernel wants instruction indices).
    pub insn_off: u32,
    /// The `FUNC` type describing the function.
    pub type_id: TypeId,
}

/// One `bpf_line_info` record: the source line of an instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LineInfo {
    /// Instruction offset in bytes within the ELF section.
    pub insn_off: u32,
    /// String offset of the source file name.
    pub file_name_off: u32,
    /// String offset of the source line's text.
    pub line_off: u32,
    /// Line number (upper 22 bits of `line_col`).
    pub line: u32,
    /// Column number (lower 10 bits of `line_col`).
    pub column: u32,
}

/// What a CO-RE relocation asks the loader to compute (`bpf_core_relo_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoreReloKind {
    /// Byte offset of a field.
    FieldByteOffset,
    /// Size of a field in bytes.
    FieldByteSize,
    /// Whether the field exists in the target.
    FieldExists,
    /// Whether the field is signed.
    FieldSigned,
    /// Left shift to extract a bitfield from a u64.
    FieldLShiftU64,
    /// Right shift to extract a bitfield from a u64.
    FieldRShiftU64,
    /// The type id in the local (program) BTF.
    TypeIdLocal,
    /// The type id in the target (kernel) BTF.
    TypeIdTarget,
    /// Whether the type exists in the target.
    TypeExists,
    /// Size of the type in the target.
    TypeSize,
    /// Whether the enumerator exists in the target.
    EnumvalExists,
    /// Value of the enumerator in the target.
    EnumvalValue,
    /// Whether the type matches the target's structurally.
    TypeMatches,
}

impl CoreReloKind {
    /// Decodes the numeric kind.
    pub fn from_raw(raw: u32) -> Result<CoreReloKind, BtfExtError> {
        use CoreReloKind::*;
        const ALL: [CoreReloKind; 13] = [
            FieldByteOffset,
            FieldByteSize,
            FieldExists,
            FieldSigned,
            FieldLShiftU64,
            FieldRShiftU64,
            TypeIdLocal,
            TypeIdTarget,
            TypeExists,
            TypeSize,
            EnumvalExists,
            EnumvalValue,
            TypeMatches,
        ];
        ALL.get(raw as usize)
            .copied()
            .ok_or(BtfExtError::UnknownCoreReloKind(raw))
    }

    /// The numeric kind as LLVM and the kernel encode it.
    pub fn raw(self) -> u32 {
        self as u32
    }

    /// libbpf's name for the kind (as in its debug output).
    pub fn name(self) -> &'static str {
        match self {
            CoreReloKind::FieldByteOffset => "byte_off",
            CoreReloKind::FieldByteSize => "byte_sz",
            CoreReloKind::FieldExists => "field_exists",
            CoreReloKind::FieldSigned => "signed",
            CoreReloKind::FieldLShiftU64 => "lshift_u64",
            CoreReloKind::FieldRShiftU64 => "rshift_u64",
            CoreReloKind::TypeIdLocal => "local_type_id",
            CoreReloKind::TypeIdTarget => "target_type_id",
            CoreReloKind::TypeExists => "type_exists",
            CoreReloKind::TypeSize => "type_size",
            CoreReloKind::EnumvalExists => "enumval_exists",
            CoreReloKind::EnumvalValue => "enumval_value",
            CoreReloKind::TypeMatches => "type_matches",
        }
    }
}

/// One `bpf_core_relo` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CoreRelo {
    /// Offset in bytes of the instruction to patch.
    pub insn_off: u32,
    /// The local root type of the access.
    pub type_id: TypeId,
    /// String offset of the access string (`"0:1:2"`).
    pub access_str_off: u32,
    /// What to compute.
    pub kind: CoreReloKind,
}

/// The records of one ELF section (`btf_ext_info_sec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtSection<T> {
    /// String offset of the ELF section name.
    pub sec_name_off: u32,
    /// Records in order.
    pub records: Vec<T>,
}

/// Parsed `.BTF.ext`, with string offsets still unresolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfExt {
    /// Byte order of the blob.
    pub endianness: Endianness,
    /// Record size of func_info as encoded (at least 8).
    pub func_info_rec_size: u32,
    /// Function info per section.
    pub func_info: Vec<ExtSection<FuncInfo>>,
    /// Record size of line_info as encoded (at least 16).
    pub line_info_rec_size: u32,
    /// Line info per section.
    pub line_info: Vec<ExtSection<LineInfo>>,
    /// Record size of CO-RE relocations as encoded (at least 16).
    pub core_relo_rec_size: u32,
    /// CO-RE relocations per section.
    pub core_relos: Vec<ExtSection<CoreRelo>>,
}

/// A line info record with its strings resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedLineInfo<'b> {
    /// Instruction offset in bytes.
    pub insn_off: u32,
    /// Source file name.
    pub file_name: &'b str,
    /// Text of the source line.
    pub line_text: &'b str,
    /// Line number.
    pub line: u32,
    /// Column number.
    pub column: u32,
}

/// A CO-RE relocation with its access string resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedCoreRelo<'b> {
    /// Instruction offset in bytes.
    pub insn_off: u32,
    /// Local root type.
    pub type_id: TypeId,
    /// Access string such as `"0:1:2"`.
    pub access_str: &'b str,
    /// What to compute.
    pub kind: CoreReloKind,
}

/// Everything `.BTF.ext` says about one ELF section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SectionExtInfo<'b> {
    /// ELF section name (`"xdp"`, `"tc"`, `".text"`...).
    pub name: &'b str,
    /// Functions in the section.
    pub func_info: Vec<FuncInfo>,
    /// Line info of the section.
    pub line_info: Vec<ResolvedLineInfo<'b>>,
    /// CO-RE relocations of the section.
    pub core_relos: Vec<ResolvedCoreRelo<'b>>,
}

impl BtfExt {
    /// Parses and validates `.BTF.ext` bytes as libbpf's `btf_ext__new`.
    pub fn parse(data: &[u8]) -> Result<BtfExt, BtfExtError> {
        let truncated = BtfExtError::TruncatedHeader { len: data.len() };
        let magic: [u8; 2] = data
            .get(0..2)
            .and_then(|b| b.try_into().ok())
            .ok_or(truncated.clone())?;
        let endianness = Endianness::from_magic(magic).map_err(BtfExtError::BadMagic)?;
        let view = ByteView::new(data, endianness);
        let hdr_len = view.u32_at(4).ok_or(truncated.clone())?;
        if hdr_len as usize > data.len() {
            return Err(truncated);
        }
        let version = data[2];
        if version != 1 {
            return Err(BtfExtError::UnsupportedVersion(version));
        }
        if data[3] != 0 {
            return Err(BtfExtError::UnsupportedFlags(data[3]));
        }
        if hdr_len < MIN_HEADER_LEN {
            return Err(BtfExtError::HeaderTooShort(hdr_len));
        }
        if hdr_len as usize == data.len() {
            return Err(BtfExtError::NoData);
        }
        let field = |off: usize| view.u32_at(off).unwrap_or(0);
        let body = ByteView::new(&data[hdr_len as usize..], endianness);

        let (func_info_rec_size, func_info) =
            parse_info(body, field(8), field(12), "func_info", 8, |r| {
                Ok(FuncInfo {
                    insn_off: r(0),
                    type_id: TypeId(r(1)),
                })
            })?;
        let (line_info_rec_size, line_info) =
            parse_info(body, field(16), field(20), "line_info", 16, |r| {
                let line_col = r(3);
                Ok(LineInfo {
                    insn_off: r(0),
                    file_name_off: r(1),
                    line_off: r(2),
                    line: line_col >> 10,
                    column: line_col & 0x3ff,
                })
            })?;
        let (core_relo_rec_size, core_relos) = if hdr_len >= CORE_RELO_HEADER_LEN {
            parse_info(body, field(24), field(28), "core_relo", 16, |r| {
                Ok(CoreRelo {
                    insn_off: r(0),
                    type_id: TypeId(r(1)),
                    access_str_off: r(2),
                    kind: CoreReloKind::from_raw(r(3))?,
                })
            })?
        } else {
            (0, Vec::new())
        };
        Ok(BtfExt {
            endianness,
            func_info_rec_size,
            func_info,
            line_info_rec_size,
            line_info,
            core_relo_rec_size,
            core_relos,
        })
    }

    /// Groups all records by ELF section name, with strings resolved
    /// against `btf` and type ids checked against it. Sections appear in the
    /// order they are first mentioned (func_info, then line_info, then
    /// CO-RE relocations).
    pub fn resolve<'b>(&self, btf: &'b Btf) -> Result<Vec<SectionExtInfo<'b>>, BtfExtError> {
        let mut sections: Vec<SectionExtInfo<'b>> = Vec::new();
        fn section<'s, 'b>(
            sections: &'s mut Vec<SectionExtInfo<'b>>,
            btf: &'b Btf,
            name_off: u32,
        ) -> Result<&'s mut SectionExtInfo<'b>, BtfExtError> {
            let name = btf.str_at(name_off)?;
            let index = match sections.iter().position(|s| s.name == name) {
                Some(i) => i,
                None => {
                    sections.push(SectionExtInfo {
                        name,
                        ..SectionExtInfo::default()
                    });
                    sections.len() - 1
                }
            };
            Ok(&mut sections[index])
        }
        let check_type = |id: TypeId| btf.type_by_id(id).map(|_| ()).map_err(BtfExtError::from);
        for sec in &self.func_info {
            let target = section(&mut sections, btf, sec.sec_name_off)?;
            for r in &sec.records {
                check_type(r.type_id)?;
                target.func_info.push(*r);
            }
        }
        for sec in &self.line_info {
            let target = section(&mut sections, btf, sec.sec_name_off)?;
            for r in &sec.records {
                target.line_info.push(ResolvedLineInfo {
                    insn_off: r.insn_off,
                    file_name: btf.str_at(r.file_name_off)?,
                    line_text: btf.str_at(r.line_off)?,
                    line: r.line,
                    column: r.column,
                });
            }
        }
        for sec in &self.core_relos {
            let target = section(&mut sections, btf, sec.sec_name_off)?;
            for r in &sec.records {
                check_type(r.type_id)?;
                target.core_relos.push(ResolvedCoreRelo {
                    insn_off: r.insn_off,
                    type_id: r.type_id,
                    access_str: btf.str_at(r.access_str_off)?,
                    kind: r.kind,
                });
            }
        }
        Ok(sections)
    }
}

/// Parses one info sub-section (libbpf's `btf_ext_setup_info`): a record
/// size followed by per-ELF-section headers and records. `decode` gets a
/// reader of the record's 32-bit words.
fn parse_info<T>(
    body: ByteView<'_>,
    off: u32,
    len: u32,
    section: &'static str,
    min_rec_size: u32,
    decode: impl Fn(&dyn Fn(usize) -> u32) -> Result<T, BtfExtError>,
) -> Result<(u32, Vec<ExtSection<T>>), BtfExtError> {
    let bad = |reason: String| BtfExtError::BadInfo { section, reason };
    if len == 0 {
        return Ok((0, Vec::new()));
    }
    if !off.is_multiple_of(4) {
        return Err(bad(format!("offset {off} is not 4-byte aligned")));
    }
    let start = off as usize;
    let end = start
        .checked_add(len as usize)
        .filter(|end| *end <= body.data.len())
        .ok_or_else(|| bad(format!("offset {off} + length {len} runs past the end")))?;
    let info = ByteView::new(&body.data[start..end], body.order);
    let rec_size = info
        .u32_at(0)
        .ok_or_else(|| bad("record size missing".to_owned()))?;
    if rec_size < min_rec_size || !rec_size.is_multiple_of(4) {
        return Err(bad(format!("invalid record size {rec_size}")));
    }
    let mut pos = 4usize;
    if pos == info.data.len() {
        return Err(bad("no records".to_owned()));
    }
    let mut sections = Vec::new();
    while pos < info.data.len() {
        let header = |i: usize| info.u32_at(pos + 4 * i);
        let (Some(sec_name_off), Some(num_info)) = (header(0), header(1)) else {
            return Err(bad("truncated section header".to_owned()));
        };
        if num_info == 0 {
            return Err(bad("section with zero records".to_owned()));
        }
        pos += 8;
        let total = u64::from(num_info) * u64::from(rec_size);
        if total > (info.data.len() - pos) as u64 {
            return Err(bad(format!(
                "{num_info} records of {rec_size} bytes run past the end"
            )));
        }
        let mut records = Vec::with_capacity(num_info as usize);
        for _ in 0..num_info {
            let record_start = pos;
            let word = move |i: usize| info.u32_at(record_start + 4 * i).unwrap_or(0);
            records.push(decode(&word)?);
            pos += rec_size as usize;
        }
        sections.push(ExtSection {
            sec_name_off,
            records,
        });
    }
    Ok((rec_size, sections))
}
