//! Array lookups a compiling tier may do itself ([`ArrayLookup`]), as the
//! kernel's `array_map_gen_lookup` and `percpu_array_map_gen_lookup`
//! replace the call to `bpf_map_lookup_elem` by its address arithmetic.
//!
//! The vm knows nothing of maps: the embedder, which implements the
//! lookup helper, says per map of the program (by its index in the map
//! list the verifier was given) where that helper finds the values
//! ([`crate::Program::set_map_lookups`]). It thereby promises that the
//! helper, called with that map in `r1` and a 4-byte key `k` at `r2` that
//! the run may read, returns [`ArrayLookup::value_addr`]`(k, cpu)` (0 for
//! none) for the runner's CPU ([`crate::Runner::set_cpu`]), fails in no
//! way, changes nothing but the regions of the run, and that every run is
//! given the whole of the values (`base..base + len`) as a region, so
//! that accesses through an address the tier computed are allowed as
//! through one the helper handed out. Map memory of an array never moves
//! while the map lives, so the addresses hold for the program's life.

/// Where one array map's values lie, for the lookup helper's address
/// arithmetic: the value of index `i` on CPU `c` is at `base + i *
/// elem_stride + min(c, last_cpu) * cpu_stride` for `i < max_entries`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayLookup {
    /// Address of index 0's value (CPU 0's copy).
    pub base: u64,
    /// Keys `0..max_entries` find a value; larger ones find none.
    pub max_entries: u32,
    /// Bytes from one index's value to the next's.
    pub elem_stride: u64,
    /// Bytes from one CPU's copy to the next's (0 when not per-CPU).
    pub cpu_stride: u64,
    /// The highest CPU with its own copy (0 when not per-CPU); higher CPUs
    /// find its copy.
    pub last_cpu: u32,
}

impl ArrayLookup {
    /// The address the lookup helper returns for `key` on `cpu` (0: none).
    pub fn value_addr(&self, key: u32, cpu: u32) -> u64 {
        if key >= self.max_entries {
            return 0;
        }
        self.base
            .wrapping_add(u64::from(key).wrapping_mul(self.elem_stride))
            .wrapping_add(u64::from(cpu.min(self.last_cpu)).wrapping_mul(self.cpu_stride))
    }
}
