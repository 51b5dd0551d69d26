//! Data section sizes and symbol offsets from the ELF object: what libbpf's
//! `btf_fixup_datasec` reads, since clang leaves DATASEC sizes and variable
//! offsets zero.

use std::collections::HashMap;

use object::{Object, ObjectSection, ObjectSymbol, SectionIndex};

use crate::Error;
use crate::btf_encode::SectionLayout;

/// Layouts of every allocated section that has a name, keyed by name.
pub(crate) fn section_layouts(elf: &[u8]) -> Result<HashMap<String, SectionLayout>, Error> {
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
        let Some((_, layout)) = by_index.get_mut(&index) else {
            continue;
        };
        let Ok(offset) = u32::try_from(symbol.address()) else {
            continue;
        };
        layout.symbols.insert(name.to_owned(), offset);
    }
    Ok(by_index.into_values().collect())
}
