//! Where an array map's values lie ([`ArrayLayout`]), for code that finds
//! a value itself instead of calling [`crate::Map::lookup`]: a JIT that
//! inlines `bpf_map_lookup_elem` on an array, as the kernel's
//! `array_map_gen_lookup` and `percpu_array_map_gen_lookup` do.
//!
//! The layout stays true for the map's lifetime: an array's elements all
//! exist from creation in one mapping that never moves or grows.

/// The address arithmetic of [`crate::Map::lookup`] on an `array` or
/// `percpu_array`: the value of index `i` on CPU `c` lies at
/// `base + i * elem_stride + min(c, nr_cpus - 1) * cpu_stride`, for
/// `i < max_entries`; any other index finds nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayLayout {
    /// Address of index 0's value (CPU 0's copy for per-CPU arrays).
    pub base: usize,
    /// Indexes `0..max_entries` exist.
    pub max_entries: u32,
    /// Bytes of one value, as a lookup hands it out.
    pub value_size: u32,
    /// Bytes from one index's value to the next's.
    pub elem_stride: usize,
    /// Bytes from one CPU's copy of a value to the next CPU's (0 for an
    /// array that is not per-CPU).
    pub cpu_stride: usize,
    /// CPUs with a copy of every value (1 for an array that is not
    /// per-CPU); a lookup on a higher CPU finds the last one's copy.
    pub nr_cpus: u32,
    /// Bytes of the whole mapping from `base`: every value of every CPU.
    pub len: usize,
}
