//! `Map::array_layout` finds what `Map::lookup` finds: every index below,
//! at and past `max_entries`, every CPU and one past the last, for arrays
//! and per-CPU arrays with padded and unpadded values.

use apiary_maps::{Map, MapDef, MapType};

fn check(map_type: MapType, value_size: u32, max_entries: u32, nr_cpus: u32) {
    let map = Map::create(MapDef::new(map_type, 4, value_size, max_entries), nr_cpus).unwrap();
    let layout = map.array_layout().expect("an array has a layout");
    assert_eq!(layout.value_size, value_size);
    for index in (0..max_entries + 2).chain([u32::MAX]) {
        for cpu in 0..nr_cpus + 2 {
            let found = map.lookup(&index.to_ne_bytes(), cpu).unwrap();
            let computed = (index < layout.max_entries).then(|| {
                layout.base
                    + index as usize * layout.elem_stride
                    + cpu.min(layout.nr_cpus - 1) as usize * layout.cpu_stride
            });
            assert_eq!(
                computed,
                found.map(|v| v.addr()),
                "{map_type:?} value {value_size} index {index} cpu {cpu}"
            );
            if let Some(addr) = computed {
                assert!(addr + value_size as usize <= layout.base + layout.len);
            }
        }
    }
}

#[test]
fn array_layouts_find_what_lookups_find() {
    for (value_size, max_entries) in [(4, 1), (8, 3), (12, 5), (256, 2)] {
        check(MapType::Array, value_size, max_entries, 1);
        check(MapType::Array, value_size, max_entries, 3);
        check(MapType::PercpuArray, value_size, max_entries, 1);
        check(MapType::PercpuArray, value_size, max_entries, 3);
    }
}

#[test]
fn other_maps_have_no_array_layout() {
    let hash = Map::create(MapDef::new(MapType::Hash, 4, 8, 4), 2).unwrap();
    assert_eq!(hash.array_layout(), None);
}
