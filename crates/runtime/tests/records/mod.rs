//! Reading back the record arrays that kernel-comparison programs fill.

use apiary_kernel::MapFd;
use apiary_maps::Map;

/// Records `0..count` of a kernel array map, or why they could not be read.
pub fn kernel(records: &MapFd, count: u32) -> Result<Vec<Vec<u8>>, String> {
    (0..count)
        .map(|key| {
            records
                .lookup(&key.to_ne_bytes(), 0)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("record {key} missing"))
        })
        .collect()
}

/// Records `0..count` of an Apiary array map.
pub fn apiary(records: &Map, count: u32) -> Vec<Vec<u8>> {
    (0..count)
        .map(|key| {
            records
                .sys_lookup(&key.to_ne_bytes(), 0)
                .expect("record array lookups succeed")
        })
        .collect()
}
