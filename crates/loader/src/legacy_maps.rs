//! Map definitions in the `maps` section, from before BTF: libbpf 0.x's
//! `struct bpf_map_def` (type, key size, value size, max entries, flags),
//! samples/bpf's longer variant, and iproute2's `struct bpf_elf_map` (the same five, then id, pinning,
//! inner id and inner index).
//!
//! Neither loader recorded the entry size: both divide the section size by
//! the number of map symbols in it, so this module does too when the
//! symbols carry no size. The entry then tells the conventions apart: 36
//! bytes is a `bpf_elf_map`; a smaller entry with anything non-zero past
//! the 20 bytes of a `bpf_map_def` is samples/bpf's `bpf_load.c`
//! definition (`inner_map_idx`, `numa_node`) when a map of maps or a NUMA
//! node says so, else an older, shorter `bpf_elf_map`, which iproute2
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
/// `BPF_F_NUMA_NODE`: the map's memory comes from the given NUMA node.
const BPF_F_NUMA_NODE: u32 = 1 << 2;

/// Which definition the `maps` section holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Convention {
    /// libbpf 0.x's `struct bpf_map_def`.
    Libbpf0,
    /// samples/bpf's `bpf_load.c`: `bpf_map_def` plus `inner_map_idx`
    /// (the index of a map of maps' inner template) and `numa_node`.
    BpfLoad,
    /// iproute2's `struct bpf_elf_map`.
    Iproute2,
}

/// The size of one definition: the symbols' common `st_size` when clang
/// gave them one (OBJECT symbols; linked objects pad between them), else
/// what both loaders of the time computed, the section size over the
/// number of map symbols, with every entry's start named by a symbol.
fn entry_size(syms: &[&crate::elf::Symbol<'_>], len: usize) -> Result<usize, LoadError> {
    let sized = syms
        .first()
        .map(|s| s.size)
        .filter(|size| *size > 0 && syms.iter().all(|s| s.size == *size));
    let entry = match sized.map(usize::try_from) {
        Some(Ok(size)) => {
            let overlap = syms.windows(2).find(|pair| {
                pair[0]
                    .value
                    .checked_add(pair[0].size)
                    .is_none_or(|end| end > pair[1].value)
            });
            if let Some(pair) = overlap {
                return Err(section_err(format!(
                    "{size}-byte map definitions {} at {:#x} and {} at {:#x} overlap",
                    pair[0].name, pair[0].value, pair[1].name, pair[1].value
                )));
            }
            size
        }
        Some(Err(_)) => return Err(section_err("map symbols are too large".to_owned())),
        None => {
            if !len.is_multiple_of(syms.len()) {
                return Err(section_err(format!(
                    "{len} bytes do not split into {} map definitions",
                    syms.len()
                )));
            }
            let entry = len / syms.len();
            if let Some((slot, sym)) = syms
                .iter()
                .enumerate()
                .find(|(slot, sym)| sym.value != (slot * entry) as u64)
            {
                return Err(section_err(format!(
                    "{entry}-byte map definitions: symbol {} is at offset {:#x}, expected one at {:#x}",
                    sym.name,
                    sym.value,
                    slot * entry
                )));
            }
            entry
        }
    };
    if entry % 4 != 0 || entry < MIN_ENTRY_SIZE {
        return Err(section_err(format!(
            "{entry}-byte map definitions are not a whole number of 4-byte fields of at least {MIN_ENTRY_SIZE} bytes"
        )));
    }
    Ok(entry)
}

/// samples/bpf's map-in-map: a map of maps takes the map at index
/// `inner_map_idx` of the section as inner template, and holds 4-byte map
/// fds whatever its definition says (`bpf_create_map_in_map_node`).
fn link_bpf_load_inner_maps(maps: &mut [PlacedMap], records: &[&[u8]]) -> Result<(), LoadError> {
    let templates: Vec<MapSpec> = maps.iter().map(|m| m.spec.clone()).collect();
    for (map, record) in maps.iter_mut().zip(records) {
        if !is_map_of_maps(map.spec.map_type) {
            continue;
        }
        let index = record
            .get(20..24)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes);
        let template = usize::try_from(index)
            .ok()
            .and_then(|i| templates.get(i))
            .filter(|t| !is_map_of_maps(t.map_type));
        let Some(template) = template else {
            return Err(crate::maps::map_err(
                &map.spec.name,
                format!(
                    "map of maps at offset {:#x}: inner_map_idx {index} is not a plain map of the {} in \"maps\"",
                    map.offset,
                    templates.len()
                ),
            ));
        };
        map.spec.inner = Some(Box::new(template.clone()));
        map.spec.value_size = 4;
    }
    Ok(())
}

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
    let entry = entry_size(&syms, len)?;
    let records: Vec<&[u8]> = syms
        .iter()
        .map(|sym| {
            usize::try_from(sym.value)
                .ok()
                .and_then(|start| section.data.get(start..start.checked_add(entry)?))
                .ok_or_else(|| {
                    crate::maps::map_err(
                        sym.name,
                        format!(
                            "{entry}-byte definition at offset {:#x} runs past the {len}-byte section",
                            sym.value
                        ),
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    let field = |record: &[u8], i: usize| {
        // Zero-extended, as every loader did for shorter entries.
        record
            .get(i * 4..i * 4 + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    };
    let extended = records.iter().any(|r| {
        r.get(BPF_MAP_DEF_SIZE..BPF_ELF_MAP_SIZE.min(entry))
            .is_some_and(|extra| extra.iter().any(|b| *b != 0))
    });
    // iproute2's first bpf_elf_map (28 bytes: id, pinning) had no maps of
    // maps and no NUMA node; samples/bpf's bpf_load.c definition of the
    // same size has both (inner_map_idx, numa_node).
    let bpf_load = (BPF_MAP_DEF_SIZE + 4..BPF_ELF_MAP_SIZE).contains(&entry)
        && records
            .iter()
            .any(|r| is_map_of_maps(MapType(field(r, 0))) || field(r, 4) & BPF_F_NUMA_NODE != 0);
    let convention = match (entry == BPF_ELF_MAP_SIZE || extended, bpf_load) {
        (_, true) => Convention::BpfLoad,
        (true, false) => Convention::Iproute2,
        (false, false) => Convention::Libbpf0,
    };
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
        let field = |i| field(record, i);
        let origin = match convention {
            Convention::Iproute2 => MapOrigin::Iproute2(ElfMapIds {
                id: field(5),
                pinning: field(6),
                inner_id: field(7),
                inner_idx: if entry > 32 { field(8) } else { 0 },
            }),
            Convention::Libbpf0 | Convention::BpfLoad => MapOrigin::Legacy,
        };
        let mut spec = MapSpec::empty(sym.name.to_owned(), origin);
        spec.map_type = MapType(field(0));
        spec.key_size = field(1);
        spec.value_size = field(2);
        spec.max_entries = field(3);
        spec.map_flags = field(4);
        if convention == Convention::BpfLoad && spec.map_flags & BPF_F_NUMA_NODE != 0 {
            spec.numa_node = field(6);
        }
        crate::maps::default_fd_sizes(&mut spec);
        maps.push(PlacedMap {
            spec,
            section: section.index,
            offset: sym.value,
        });
    }
    match convention {
        Convention::BpfLoad => link_bpf_load_inner_maps(&mut maps, &records)?,
        Convention::Libbpf0 => {
            for map in &maps {
                crate::maps::require_inner_template(
                    map,
                    &format!(
                        "its {entry}-byte struct bpf_map_def cannot name one (samples/bpf's inner_map_idx, iproute2's inner_id or a BTF __array(values, ...) can)"
                    ),
                )?;
            }
        }
        Convention::Iproute2 => {}
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
