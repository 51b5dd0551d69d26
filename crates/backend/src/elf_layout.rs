//! Data section sizes and symbol offsets from the ELF object: what libbpf's
//! `btf_fixup_datasec` reads, since clang leaves DATASEC sizes and variable
//! offsets zero.

use std::collections::{HashMap, HashSet};

use object::{Object, ObjectSection, ObjectSymbol, SectionIndex, SymbolFlags};

use crate::Error;
use crate::btf_encode::SectionLayout;

/// What the ELF symbol table tells the BTF fixup.
#[derive(Debug, Default)]
pub(crate) struct ElfFacts {
    /// Layouts of every section that has a name, keyed by name.
    pub(crate) layouts: HashMap<String, SectionLayout>,
    /// Symbols with hidden or internal visibility: libbpf gives their BTF
    /// FUNCs and VARs static linkage, so the verifier checks `__hidden`
    /// subprograms (libbpf's `bpf_usdt_arg`, ...) with their caller's
    /// context instead of as independent global functions.
    pub(crate) hidden: HashSet<String>,
}

/// `STV_INTERNAL` and `STV_HIDDEN`, the low bits of `st_other`.
const HIDDEN_VISIBILITIES: [u8; 2] = [1, 2];

/// Reads section layouts and hidden symbols from `elf`.
pub(crate) fn elf_facts(elf: &[u8]) -> Result<ElfFacts, Error> {
    let mut hidden = HashSet::new();
    let file = object::File::parse(elf).map_err(|e| Error::Elf(e.to_string()))?;
    let mut by_index: HashMap<SectionIndex, (String, SectionLayout)> = HashMap::new();
    for section in file.sections() {
        let Ok(name) = section.name() else { continue };
        let size = u32::try_from(section.size())
            .map_err(|_| Error::Elf(format!("section {name:?} is larger than 4 GiB")))?;
        by_index.insert(
            section.index(),
            (
                name.to_owned(),
                SectionLayout {
                    size,
                    symbols: HashMap::new(),
                },
            ),
        );
    }
    for symbol in file.symbols() {
        let (Some(index), Ok(name)) = (symbol.section_index(), symbol.name()) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        if let SymbolFlags::Elf { st_other, .. } = symbol.flags()
            && HIDDEN_VISIBILITIES.contains(&(st_other & 3))
        {
            hidden.insert(name.to_owned());
        }
        let Some((_, layout)) = by_index.get_mut(&index) else {
            continue;
        };
        let Ok(offset) = u32::try_from(symbol.address()) else {
            continue;
        };
        layout.symbols.insert(name.to_owned(), offset);
    }
    Ok(ElfFacts {
        layouts: by_index.into_values().collect(),
        hidden,
    })
}
