//! Map lookups a compiling tier may do without the helper table
//! ([`MapLookup`]): for each map of a program, what the embedder's lookup
//! helper does on it, when that is simple enough to do from native code.
//!
//! An array lookup is address arithmetic ([`ArrayLookup`], see
//! [`crate::array_lookup`]). A hash or trie lookup is a search the map
//! does itself: the embedder hands over the map's own search function
//! ([`DirectLookup`]), which native code calls directly, as the kernel's
//! `map_gen_lookup`-less maps are called through `map->ops->map_lookup_elem`
//! instead of the helper. The tier then registers the value found as the
//! helper would have ([`crate::TierRun::register_lookup_value`]).

use crate::array_lookup::ArrayLookup;
use crate::fault::RegionKind;

/// A map's own search: `lookup(map, key, cpu)` with `key` the address of
/// the key's bytes returns the address of the value found for `cpu`, or
/// null. It never unwinds.
pub type MapLookupFn = unsafe extern "C" fn(map: *const (), key: *const u8, cpu: u32) -> *mut u8;

/// A lookup helper's work on one map that a tier may call directly.
///
/// The embedder promises that its lookup helper, called with this map in
/// `r1` and a key of `key_size` bytes at `r2` that the run may read,
/// returns `lookup(map, key, cpu)` for the runner's CPU
/// ([`crate::Runner::set_cpu`]) and, when that is not null, makes the
/// `value_size` bytes there a region of kind `kind` (writable when
/// `writable`) for the rest of the run; that it fails in no other way
/// than registering that region can ([`crate::HelperError::TooManyRegions`])
/// and changes nothing else of the run. `lookup` may be called with
/// `map` from any thread for as long as the program lives, and the
/// memory of a value it returns stays mapped as long.
#[derive(Clone, Copy, Debug)]
pub struct DirectLookup {
    /// The search function.
    pub lookup: MapLookupFn,
    /// Its first argument: the map.
    pub map: *const (),
    /// Bytes of the key the search reads.
    pub key_size: u32,
    /// Bytes of the value found, as the helper registers them.
    pub value_size: u32,
    /// Whether the program may write the value.
    pub writable: bool,
    /// The kind of the value's region (the map it belongs to).
    pub kind: RegionKind,
}

// SAFETY: the embedder promises that `lookup` may be called with `map`
// from any thread (see the type's documentation).
unsafe impl Send for DirectLookup {}
// SAFETY: as for `Send`: nothing here is mutated through `&self`.
unsafe impl Sync for DirectLookup {}

/// What the lookup helper does on one map, where a tier may do it itself.
#[derive(Clone, Copy, Debug)]
pub enum MapLookup {
    /// An array's address arithmetic.
    Array(ArrayLookup),
    /// A call of the map's own search.
    Direct(DirectLookup),
}

/// The map lookups of one program: the helper that does them and, by map
/// index, what it does on each map.
#[derive(Clone, Debug, Default)]
pub(crate) struct MapLookups {
    pub(crate) helper_id: u32,
    pub(crate) by_map: Vec<Option<MapLookup>>,
}
