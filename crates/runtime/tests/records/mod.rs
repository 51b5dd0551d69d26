//! Loading kernel-comparison programs into the kernel and reading back the
//! record arrays they fill.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use apiary_kernel::{Errno, MapFd, ProgFd, ProgLoadAttrs, Refusal};
use apiary_maps::Map;
use apiary_testskip::Reason;

/// Loads a comparison program into the kernel. `EPERM` for root means the
/// host forbids this program type (a refusal to skip on); any other
/// rejection is a defect of the test program and fails the test.
pub fn load(attrs: &ProgLoadAttrs<'_>) -> Result<ProgFd, Reason> {
    match ProgFd::load(attrs) {
        Ok(loaded) => Ok(loaded.prog),
        Err(error) if error.errno() == Some(Errno(libc::EPERM)) => {
            let refusal = Refusal::prog_load(attrs, error);
            Err(Reason::refused(refusal.probed, refusal.answer))
        }
        Err(error) => panic!(
            "the kernel refused the {} program: {error}",
            attrs.prog_type
        ),
    }
}

/// Records `0..count` of a kernel array map.
pub fn kernel(records: &MapFd, count: u32) -> Vec<Vec<u8>> {
    (0..count)
        .map(|key| {
            records
                .lookup(&key.to_ne_bytes(), 0)
                .expect("record array lookups succeed")
                .unwrap_or_else(|| panic!("record {key} missing"))
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
