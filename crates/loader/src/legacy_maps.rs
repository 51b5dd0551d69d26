//! Map definitions in the `maps` section, from before BTF: libbpf 0.x's
//! `struct bpf_map_def` (type, key size, value size, max entries, flags)
//! and iproute2's `struct bpf_elf_map` (the same five, then id, pinning,
//! inner id and inner index).
//!
//! Neither loader recorded the entry size: both divide the section size by
//! the number of map symbols in it, so this module does too. The entry
//! size then tells the conventions apart: 36 bytes is a `bpf_elf_map`;
//! a smaller entry with anything non-zero past the 20 bytes of a
//! `bpf_map_def` is an older, shorter `bpf_elf_map`, which iproute2
//! zero-extends; otherwise it is a `bpf_map_def`, zero-extended as libbpf
//! 0.x did. Bytes past 36 must be zero (libbpf refuses non-zero options it
//! does not know, iproute2 any longer entry).

use apiary_kernel::types::MapType;

use crate::elf::{ElfObject, SymbolKind};
use crate::error::LoadError;
use crate::maps::{ElfMapIds, InitialSlot, InitialSlotTarget, MapOrigin, MapSpec, PlacedMap};

/// `sizeof(struct bpf_map_def)` in libbpf 0.x.
const BPF_MAP_DEF_SIZE: usize = 20;
/// `sizeof(struct bpf_elf_map)` in iproute2.
const BPF_ELF_MAP_SIZE: usize = 36;
/// iproute2's `struct bpf_elf_map_min`: type, key, value, max entries.
const MIN_ENTRY_SIZE: usize = 16;
/// `inner_idx` of a map that goes into no map of maps.
const NO_INNER_INDEX: u32 = u32::MAX;

fn section_err(reason: String) -> LoadError {
    LoadError::Section {
        section: "maps".to_owned(),
        reason,
    }
}

/// The maps of the legacy `maps` section, in offset order, with iproute2's
/// map-in-map slots filled; `first_index` is the index of the first one in
/// the object's map list.
pub(crate) fn legacy_maps(
    elf: &ElfObject<'_>,
    first_index: usize,
) -> Result<Vec<PlacedMap>, LoadError> {
    let Some(section) = elf.section_by_name("maps") else {
        return Ok(Vec::new());
    };
    let mut syms: Vec<_> = elf
        .symbols
        .iter()
        .filter(|s| {
            s.section == Some(section.index) && s.kind != SymbolKind::Section && !s.name.is_empty()
        })
        .collect();
    if syms.is_empty() {
        return Ok(Vec::new());
    }
    syms.sort_by_key(|s| s.value);
    let len = section.data.len();
    let entry = len / syms.len();
    if len % syms.len() != 0 || entry % 4 != 0 || entry < MIN_ENTRY_SIZE {
        return Err(section_err(format!(
            "{len} bytes do not split into {} map definitions of a whole number of 4-byte fields, at least {MIN_ENTRY_SIZE} bytes each",
            syms.len()
        )));
    }
    for (slot, sym) in syms.iter().enumerate() {
        let expected = (slot * entry) as u64;
        if sym.value != expected {
            return Err(section_err(format!(
                "{entry}-byte map definitions: symbol {} is at offset {:#x}, expected one at {expected:#x}",
                sym.name, sym.value
            )));
        }
    }
    let records: Vec<&[u8]> = section.data.chunks_exact(entry).collect();
    let iproute2 = entry == BPF_ELF_MAP_SIZE
        || records.iter().any(|r| {
            r.get(BPF_MAP_DEF_SIZE..BPF_ELF_MAP_SIZE.min(entry))
                .is_some_and(|extra| extra.iter().any(|b| *b != 0))
        });
    let mut maps = Vec::with_capacity(syms.len());
    for (sym, record) in syms.iter().zip(&records) {
        if let Some(at) = record.iter().skip(BPF_ELF_MAP_SIZE).position(|b| *b != 0) {
            return Err(crate::maps::map_err(
                sym.name,
                format!(
                    "definition at offset {:#x}: byte {} of a {entry}-byte entry is non-zero, past every known map definition layout",
                    sym.value,
                    BPF_ELF_MAP_SIZE + at
                ),
            ));
        }
        // Zero-extended as both loaders do for shorter entries.
        let field = |i: usize| {
            record
                .get(i * 4..i * 4 + 4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_le_bytes)
        };
        let origin = if iproute2 {
            let inner_idx = if entry > 32 { field(8) } else { 0 };
            MapOrigin::Iproute2(ElfMapIds {
                id: field(5),
                pinning: field(6),
                inner_id: field(7),
                inner_idx,
            })
        } else {
            MapOrigin::Legacy
        };
        let mut spec = MapSpec::empty(sym.name.to_owned(), origin);
        spec.map_type = MapType(field(0));
        spec.key_size = field(1);
        spec.value_size = field(2);
        spec.max_entries = field(3);
        spec.map_flags = field(4);
        maps.push(PlacedMap {
            spec,
            section: section.index,
            offset: sym.value,
        });
    }
    link_maps_of_maps(&mut maps, first_index)?;
    Ok(maps)
}

fn ids(map: &PlacedMap) -> Option<ElfMapIds> {
    match map.spec.origin {
        MapOrigin::Iproute2(ids) => Some(ids),
        _ => None,
    }
}

fn is_map_of_maps(map_type: MapType) -> bool {
    map_type == MapType::ARRAY_OF_MAPS || map_type == MapType::HASH_OF_MAPS
}

/// iproute2's map-in-map: a map of maps takes the map whose id is its
/// `inner_id` as inner template, and every map with an id, no `inner_id`
/// and an `inner_idx` goes into that slot of each map of maps naming it.
fn link_maps_of_maps(maps: &mut [PlacedMap], first_index: usize) -> Result<(), LoadError> {
    let snapshot: Vec<(MapSpec, Option<ElfMapIds>)> =
        maps.iter().map(|m| (m.spec.clone(), ids(m))).collect();
    for map in maps.iter_mut() {
        let Some(outer) = ids(map).filter(|_| is_map_of_maps(map.spec.map_type)) else {
            continue;
        };
        let template = snapshot
            .iter()
            .find(|(_, ids)| outer.inner_id != 0 && ids.is_some_and(|i| i.id == outer.inner_id));
        let Some((template, _)) = template else {
            return Err(crate::maps::map_err(
                &map.spec.name,
                format!(
                    "map of maps at offset {:#x} names inner map id {}, which no map in \"maps\" has",
                    map.offset, outer.inner_id
                ),
            ));
        };
        map.spec.inner = Some(Box::new(template.clone()));
        for (index, (inner, inner_ids)) in snapshot.iter().enumerate() {
            let Some(inner_ids) = inner_ids else { continue };
            if inner_ids.id != outer.inner_id
                || inner_ids.inner_id != 0
                || inner_ids.inner_idx == NO_INNER_INDEX
            {
                continue;
            }
            if inner_ids.inner_idx >= map.spec.max_entries
                && map.spec.map_type == MapType::ARRAY_OF_MAPS
            {
                return Err(crate::maps::map_err(
                    &inner.name,
                    format!(
                        "inner_idx {} is beyond max_entries {} of {:?}",
                        inner_ids.inner_idx, map.spec.max_entries, map.spec.name
                    ),
                ));
            }
            map.spec.initial_slots.push(InitialSlot {
                index: inner_ids.inner_idx,
                target: InitialSlotTarget::Map(first_index + index),
            });
        }
    }
    Ok(())
}
