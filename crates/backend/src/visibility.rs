//! Symbol visibility from the ELF object, which the loader does not keep:
//! libbpf gives the BTF FUNCs and VARs of hidden symbols static linkage.

use std::collections::HashSet;

use object::{Object, ObjectSymbol, SymbolFlags};

use crate::Error;

/// `STV_INTERNAL` and `STV_HIDDEN`, the low bits of `st_other`.
const HIDDEN_VISIBILITIES: [u8; 2] = [1, 2];

/// Names of the symbols `elf` defines with hidden or internal visibility
/// (externs are resolved elsewhere, whatever their visibility).
pub(crate) fn hidden_symbols(elf: &[u8]) -> Result<HashSet<String>, Error> {
    let file = object::File::parse(elf).map_err(|e| Error::Elf(e.to_string()))?;
    Ok(file
        .symbols()
        .filter(|symbol| symbol.section_index().is_some())
        .filter(|symbol| {
            matches!(symbol.flags(), SymbolFlags::Elf { st_other, .. }
                if HIDDEN_VISIBILITIES.contains(&(st_other & 3)))
        })
        .filter_map(|symbol| symbol.name().ok())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect())
}
