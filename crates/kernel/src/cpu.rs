//! The number of possible CPUs, which sizes per-CPU map values.

use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Where the kernel lists the CPUs `for_each_possible_cpu` iterates.
const POSSIBLE_CPUS_PATH: &str = "/sys/devices/system/cpu/possible";

/// Highest CPU id we accept; the kernel's `NR_CPUS` is at most 8192.
const MAX_CPU_ID: u32 = 1 << 16;

/// The number of possible CPUs, read once from `/sys/devices/system/cpu/possible`.
///
/// Per-CPU maps exchange `round_up(value_size, 8) * possible_cpus()` bytes
/// with user space.
pub fn possible_cpus() -> Result<usize> {
    static CACHE: OnceLock<usize> = OnceLock::new();
    if let Some(&count) = CACHE.get() {
        return Ok(count);
    }
    let text = std::fs::read_to_string(POSSIBLE_CPUS_PATH).map_err(|source| Error::Io {
        path: POSSIBLE_CPUS_PATH.to_owned(),
        source,
    })?;
    let count = parse_cpu_list(&text)?;
    Ok(*CACHE.get_or_init(|| count))
}

/// Counts the CPUs in a kernel CPU list such as `0-3,8,10-11\n`.
pub fn parse_cpu_list(text: &str) -> Result<usize> {
    let fail = |reason| Error::CpuList {
        text: text.chars().take(64).collect(),
        reason,
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(fail("empty"));
    }
    let parse_id = |s: &str| -> Result<u32> {
        let id: u32 = s.trim().parse().map_err(|_| fail("not a CPU number"))?;
        if id > MAX_CPU_ID {
            return Err(fail("CPU number too large"));
        }
        Ok(id)
    };
    let mut count = 0usize;
    for part in trimmed.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (parse_id(a)?, parse_id(b)?),
            None => {
                let id = parse_id(part)?;
                (id, id)
            }
        };
        if last < first {
            return Err(fail("descending range"));
        }
        count += (last - first) as usize + 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_cpu_lists() {
        assert_eq!(parse_cpu_list("0\n").ok(), Some(1));
        assert_eq!(parse_cpu_list("0-1\n").ok(), Some(2));
        assert_eq!(parse_cpu_list("0-3,8,10-11").ok(), Some(7));
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "\n", "x", "3-1", "0-", "0-99999999", "1,,2", "-1"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn this_machine_has_cpus() {
        let count = possible_cpus().expect("possible CPUs readable");
        assert!(count >= 1);
        assert!(count >= std::thread::available_parallelism().map_or(1, |n| n.get()));
    }
}
