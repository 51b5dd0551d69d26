//! The ELF container: sections, symbols and relocations read through the
//! `object` crate's raw ELF API, every offset and index checked once here so
//! that the rest of the loader works on validated, borrowed views.

use object::elf;
use object::read::elf::{FileHeader, Rel as _, SectionHeader as _, Sym as _};

use crate::error::LoadError;

/// Upper bound on sections, symbols or relocations per section: far above
/// anything clang emits, low enough that hostile counts cannot exhaust
/// memory through our own per-entry allocations.
const MAX_TABLE_ENTRIES: usize = 1 << 20;

/// One ELF section.
#[derive(Debug, Clone)]
pub(crate) struct Section<'a> {
    pub(crate) index: usize,
    pub(crate) name: &'a str,
    pub(crate) sh_type: u32,
    pub(crate) flags: u64,
    /// File contents; empty for `SHT_NOBITS`.
    pub(crate) data: &'a [u8],
    /// `sh_size`, which for `SHT_NOBITS` is larger than `data`.
    pub(crate) size: u64,
}

impl Section<'_> {
    pub(crate) fn is_code(&self) -> bool {
        self.sh_type == elf::SHT_PROGBITS
            && self.flags & u64::from(elf::SHF_EXECINSTR) != 0
            && !self.data.is_empty()
    }
}

/// The kind of a symbol (`STT_*`), reduced to what the loader distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SymbolKind {
    Func,
    Object,
    Section,
    NoType,
    Other,
}

/// One symbol-table entry.
#[derive(Debug, Clone)]
pub(crate) struct Symbol<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: u64,
    pub(crate) size: u64,
    pub(crate) kind: SymbolKind,
    /// Defining section, `None` for undefined, absolute and common symbols.
    pub(crate) section: Option<usize>,
    pub(crate) global: bool,
    pub(crate) weak: bool,
    /// `STV_HIDDEN` or `STV_INTERNAL` visibility (`__hidden`).
    pub(crate) hidden: bool,
}

/// One `SHT_REL` entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reloc {
    pub(crate) offset: u64,
    pub(crate) r_type: u32,
    pub(crate) symbol: usize,
}

/// `R_BPF_64_ABS64`: 64-bit absolute address in data.
pub(crate) const R_BPF_64_ABS64: u32 = 2;

/// A parsed eBPF relocatable ELF object.
#[derive(Debug)]
pub(crate) struct ElfObject<'a> {
    pub(crate) sections: Vec<Section<'a>>,
    pub(crate) symbols: Vec<Symbol<'a>>,
    /// Relocations per target section index.
    relocs: Vec<(usize, Vec<Reloc>)>,
}

fn elf_err(what: &str) -> impl Fn(object::read::Error) -> LoadError + '_ {
    move |e| LoadError::Elf(format!("{what}: {e}"))
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, LoadError> {
    std::str::from_utf8(bytes).map_err(|_| LoadError::Elf(format!("{what} is not UTF-8")))
}

impl<'a> ElfObject<'a> {
    pub(crate) fn parse(data: &'a [u8]) -> Result<ElfObject<'a>, LoadError> {
        let header =
            elf::FileHeader64::<object::Endianness>::parse(data).map_err(elf_err("file header"))?;
        let endian = header.endian().map_err(elf_err("file header"))?;
        let machine = header.e_machine(endian);
        if machine != elf::EM_BPF {
            return Err(LoadError::NotBpf(format!(
                "e_machine is {machine}, not EM_BPF (247)"
            )));
        }
        if endian != object::Endianness::Little {
            return Err(LoadError::BigEndian);
        }
        let e_type = header.e_type(endian);
        if e_type != elf::ET_REL {
            return Err(LoadError::NotBpf(format!(
                "e_type is {e_type}, not ET_REL (1)"
            )));
        }
        let table = header
            .sections(endian, data)
            .map_err(elf_err("section table"))?;
        if table.len() > MAX_TABLE_ENTRIES {
            return Err(LoadError::Elf(format!("{} sections", table.len())));
        }
        let mut sections = Vec::with_capacity(table.len());
        for (index, sh) in table.enumerate() {
            let name = table
                .section_name(endian, sh)
                .map_err(elf_err("section name"))?;
            let name = utf8(name, "section name")?;
            let section_data = sh.data(endian, data).map_err(|e| LoadError::Section {
                section: name.to_owned(),
                reason: e.to_string(),
            })?;
            sections.push(Section {
                index: index.0,
                name,
                sh_type: sh.sh_type(endian),
                flags: sh.sh_flags(endian),
                data: section_data,
                size: sh.sh_size(endian),
            });
        }

        let symtab = table
            .symbols(endian, data, elf::SHT_SYMTAB)
            .map_err(elf_err("symbol table"))?;
        if symtab.len() > MAX_TABLE_ENTRIES {
            return Err(LoadError::Elf(format!("{} symbols", symtab.len())));
        }
        let mut symbols = Vec::with_capacity(symtab.len());
        for (index, sym) in symtab.enumerate() {
            let name = symtab
                .symbol_name(endian, sym)
                .map_err(elf_err("symbol name"))?;
            let name = utf8(name, "symbol name")?;
            let section = symtab
                .symbol_section(endian, sym, index)
                .map_err(elf_err("symbol section"))?
                .map(|s| s.0)
                .filter(|s| *s != 0);
            if let Some(s) = section
                && s >= sections.len()
            {
                return Err(LoadError::Symbol {
                    symbol: name.to_owned(),
                    reason: format!("section index {s} out of range"),
                });
            }
            let kind = match sym.st_type() {
                elf::STT_FUNC => SymbolKind::Func,
                elf::STT_OBJECT => SymbolKind::Object,
                elf::STT_SECTION => SymbolKind::Section,
                elf::STT_NOTYPE => SymbolKind::NoType,
                _ => SymbolKind::Other,
            };
            let bind = sym.st_bind();
            symbols.push(Symbol {
                name,
                value: sym.st_value(endian),
                size: sym.st_size(endian),
                kind,
                section,
                global: bind == elf::STB_GLOBAL || bind == elf::STB_WEAK,
                weak: bind == elf::STB_WEAK,
                hidden: matches!(sym.st_other() & 3, elf::STV_INTERNAL | elf::STV_HIDDEN),
            });
        }

        let mut relocs = Vec::new();
        for sh in table.iter() {
            let Some((rels, link)) = sh
                .rel(endian, data)
                .map_err(elf_err("relocation section"))?
            else {
                if sh.sh_type(endian) == elf::SHT_RELA {
                    return Err(LoadError::NotBpf(
                        "SHT_RELA relocations (eBPF uses SHT_REL)".to_owned(),
                    ));
                }
                continue;
            };
            let target = sh.sh_info(endian) as usize;
            let Some(target_section) = sections.get(target) else {
                return Err(LoadError::Elf(format!(
                    "relocation section targets section {target}, out of range"
                )));
            };
            if link.0 != symtab.section().0 {
                return Err(LoadError::Elf(format!(
                    "relocations for {:?} use symbol table {} instead of {}",
                    target_section.name,
                    link.0,
                    symtab.section().0
                )));
            }
            if rels.len() > MAX_TABLE_ENTRIES {
                return Err(LoadError::Elf(format!("{} relocations", rels.len())));
            }
            let mut list = Vec::with_capacity(rels.len());
            for rel in rels {
                let symbol = rel.r_sym(endian) as usize;
                let offset = rel.r_offset(endian);
                if symbol >= symbols.len() {
                    return Err(LoadError::Relocation {
                        section: target_section.name.to_owned(),
                        offset,
                        reason: format!(
                            "symbol index {symbol} out of range ({} symbols)",
                            symbols.len()
                        ),
                    });
                }
                list.push(Reloc {
                    offset,
                    r_type: rel.r_type(endian),
                    symbol,
                });
            }
            relocs.push((target, list));
        }
        Ok(ElfObject {
            sections,
            symbols,
            relocs,
        })
    }

    /// Relocations applying to section `index` (every `SHT_REL` section
    /// targeting it, concatenated).
    pub(crate) fn relocs_for(&self, index: usize) -> impl Iterator<Item = &Reloc> {
        self.relocs
            .iter()
            .filter(move |(target, _)| *target == index)
            .flat_map(|(_, list)| list.iter())
    }

    pub(crate) fn section_by_name(&self, name: &str) -> Option<&Section<'a>> {
        self.sections.iter().find(|s| s.name == name)
    }

    pub(crate) fn section(&self, index: usize) -> Option<&Section<'a>> {
        self.sections.get(index)
    }

    pub(crate) fn symbol(&self, index: usize) -> Option<&Symbol<'a>> {
        self.symbols.get(index)
    }
}
