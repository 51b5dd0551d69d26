//! A program's lookup in a hash table or trie as a plain C function
//! ([`Search`]), for native code that calls it directly at a helper call
//! site instead of going through a helper table and [`Map::lookup`]'s
//! dispatch: the kernel likewise calls `map->ops->map_lookup_elem` of the
//! map it knows at the call site.

use std::ptr::null_mut;

use crate::hash::HashTable;
use crate::lpm::LpmTrie;
use crate::map::Map;

/// `search(map, key, cpu)`: the address of the value `key` finds for
/// `cpu`, or null; exactly what [`Map::lookup`] finds on the map it was
/// made for ([`Map::search`]).
pub type SearchFn = unsafe extern "C" fn(map: *const (), key: *const u8, cpu: u32) -> *mut u8;

/// A map's program lookup as a function and its first argument.
#[derive(Clone, Copy, Debug)]
pub struct Search {
    /// The function.
    pub search: SearchFn,
    /// The first argument it is to be given (the map's table, which
    /// lives, at this address, as long as the [`Map`]).
    pub map: *const (),
    /// Bytes the function reads at its key argument (the map's key size).
    pub key_size: u32,
    /// Bytes of each value it finds (the map's value size; one CPU's copy
    /// in per-CPU tables).
    pub value_size: u32,
}

impl Search {
    pub(crate) fn hash(table: &HashTable, map: &Map) -> Search {
        Search::of(search_hash, std::ptr::from_ref(table).cast(), map)
    }

    pub(crate) fn trie(trie: &LpmTrie, map: &Map) -> Search {
        Search::of(search_trie, std::ptr::from_ref(trie).cast(), map)
    }

    fn of(search: SearchFn, table: *const (), map: &Map) -> Search {
        Search {
            search,
            map: table,
            key_size: map.key_size() as u32,
            value_size: map.value_size() as u32,
        }
    }
}

/// # Safety
/// `map` must come from [`Search::hash`] of a map still alive, and `key`
/// point to its key size of readable bytes.
unsafe extern "C" fn search_hash(map: *const (), key: *const u8, cpu: u32) -> *mut u8 {
    // SAFETY: per the caller, `map` is a live table and `key` readable for its key size.
    let (table, key) = unsafe {
        let table = &*map.cast::<HashTable>();
        (table, std::slice::from_raw_parts(key, table.key_size()))
    };
    match table.lookup(key, cpu, true) {
        Ok(Some(value)) => value.as_ptr(),
        Ok(None) | Err(_) => null_mut(),
    }
}

/// # Safety
/// As [`search_hash`], for [`Search::trie`].
unsafe extern "C" fn search_trie(map: *const (), key: *const u8, _cpu: u32) -> *mut u8 {
    // SAFETY: per the caller, `map` is a live trie and `key` readable for its key size.
    let (trie, key) = unsafe {
        let trie = &*map.cast::<LpmTrie>();
        (trie, std::slice::from_raw_parts(key, trie.key_size()))
    };
    match trie.lookup(key) {
        Ok(Some(value)) => value.as_ptr(),
        Ok(None) | Err(_) => null_mut(),
    }
}
