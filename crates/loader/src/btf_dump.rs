//! `bpftool btf dump file FILE [format raw|c]`: the BTF of an eBPF ELF
//! object (its `.BTF` section) or a raw BTF blob such as
//! `/sys/kernel/btf/vmlinux`, printed by apiary-btf's bpftool-identical
//! dumpers.

use std::io::Write;

use apiary_btf::Btf;

use crate::elf::ElfObject;
use crate::report::ReportError;

/// The two output formats of `bpftool btf dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BtfDumpFormat {
    /// `[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED` lines.
    #[default]
    Raw,
    /// Compilable C declarations (`format c`).
    C,
}

/// The first bytes of every ELF file.
const ELF_MAGIC: &[u8] = b"\x7fELF";

/// Parses the BTF in `bytes`: the `.BTF` section when `bytes` is an ELF
/// file (as libbpf's `btf__parse` does), otherwise `bytes` themselves.
pub fn btf_from_file_bytes(bytes: &[u8]) -> Result<Btf, ReportError> {
    if bytes.starts_with(ELF_MAGIC) {
        let elf = ElfObject::parse(bytes)?;
        let section = elf.section_by_name(".BTF").ok_or(ReportError::NoBtf)?;
        Ok(Btf::parse(section.data)?)
    } else {
        Ok(Btf::parse(bytes)?)
    }
}

/// Writes what `bpftool btf dump file FILE format <format>` prints for a
/// file whose contents are `bytes`.
pub fn btf_dump(
    bytes: &[u8],
    format: BtfDumpFormat,
    out: &mut impl Write,
) -> Result<(), ReportError> {
    let btf = btf_from_file_bytes(bytes)?;
    match format {
        BtfDumpFormat::Raw => apiary_btf::dump_raw(&btf, out)?,
        BtfDumpFormat::C => apiary_btf::dump_c(&btf, out)?,
    }
    Ok(())
}

/// [`btf_dump`] of the file at `path`.
pub fn btf_dump_file(
    path: impl AsRef<std::path::Path>,
    format: BtfDumpFormat,
    out: &mut impl Write,
) -> Result<(), ReportError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| ReportError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    btf_dump(&bytes, format, out)
}
