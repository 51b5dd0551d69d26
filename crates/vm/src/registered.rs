//! The regions helpers register during a run (map values looked up, ring
//! buffer samples), kept by start address.
//!
//! They last one run, and most runs register none or a few: those sit in
//! a short sorted vector that keeps its capacity from run to run, so a
//! run that looks up a map value allocates and frees nothing (a tree
//! allocated a node for the first region of every run and freed it when
//! the next started, which cost more than a short program's run). Past
//! [`INLINE`] regions they move to a tree, which keeps lookups and
//! insertions logarithmic however many a run registers.

use std::collections::BTreeMap;

use crate::fault::RegionKind;

/// A registered region: start, length, writable.
pub(crate) type Key = (u64, u64, bool);

/// How many regions the vector holds before they move to the tree.
const INLINE: usize = 16;

/// The registered regions, by key.
#[derive(Default)]
pub(crate) struct Registered {
    /// Sorted by key; empty once the tree holds the regions.
    inline: Vec<(Key, RegionKind)>,
    tree: BTreeMap<Key, RegionKind>,
}

impl Registered {
    pub(crate) fn new() -> Self {
        Registered {
            inline: Vec::with_capacity(INLINE),
            tree: BTreeMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.inline.len() + self.tree.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.inline.is_empty() && self.tree.is_empty()
    }

    /// Forgets every region, keeping the vector's room.
    #[inline]
    pub(crate) fn clear(&mut self) {
        self.inline.clear();
        // Clearing even an empty tree is a call that replaces it.
        if !self.tree.is_empty() {
            self.tree.clear();
        }
    }

    pub(crate) fn contains_key(&self, key: &Key) -> bool {
        self.inline.binary_search_by(|(k, _)| k.cmp(key)).is_ok() || self.tree.contains_key(key)
    }

    /// Adds `key`, or gives an existing one the new kind.
    #[inline]
    pub(crate) fn insert(&mut self, key: Key, kind: RegionKind) {
        // A run's first region, or one above the others: appended in
        // place, where the helper that registers it has it in registers.
        if self.tree.is_empty()
            && self.inline.len() < INLINE
            && self.inline.last().is_none_or(|(last, _)| *last < key)
        {
            self.inline.push((key, kind));
            return;
        }
        self.insert_sorted(key, kind);
    }

    #[inline(never)]
    fn insert_sorted(&mut self, key: Key, kind: RegionKind) {
        if !self.tree.is_empty() {
            self.tree.insert(key, kind);
            return;
        }
        match self.inline.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(at) => self.inline[at].1 = kind,
            Err(_) if self.inline.len() == INLINE => {
                self.tree.extend(self.inline.drain(..));
                self.tree.insert(key, kind);
            }
            Err(at) => self.inline.insert(at, (key, kind)),
        }
    }

    /// Every region, by key.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Key, RegionKind)> + '_ {
        self.inline
            .iter()
            .copied()
            .chain(self.tree.iter().map(|(&k, &v)| (k, v)))
    }

    /// The regions starting at or below `addr`, nearest first.
    pub(crate) fn at_or_below(&self, addr: u64) -> impl Iterator<Item = Key> + '_ {
        let last = (addr, u64::MAX, true);
        let end = self.inline.partition_point(|(k, _)| *k <= last);
        self.inline[..end]
            .iter()
            .rev()
            .map(|(k, _)| *k)
            .chain(self.tree.range(..=last).rev().map(|(k, _)| *k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The regions below an address agree with a tree's, inline and past it.
    #[test]
    fn nearest_regions_match_a_trees() {
        let mut registered = Registered::new();
        let mut tree = BTreeMap::new();
        // Starts in a scrambled order, some twice with another length.
        for i in 0..40u64 {
            let start = (i * 37) % 41 * 100;
            for key in [(start, 50, i % 2 == 0), (start, 20 + i, false)] {
                registered.insert(key, RegionKind::Memory);
                tree.insert(key, RegionKind::Memory);
                assert_eq!(registered.len(), tree.len());
                for addr in [0, 99, 100, 2050, 4100, u64::MAX] {
                    let want: Vec<Key> = tree
                        .range(..=(addr, u64::MAX, true))
                        .rev()
                        .map(|(k, _)| *k)
                        .collect();
                    let got: Vec<Key> = registered.at_or_below(addr).collect();
                    assert_eq!(got, want, "{} regions, address {addr}", tree.len());
                }
            }
        }
        assert!(registered.contains_key(&(100, 50, false)) == tree.contains_key(&(100, 50, false)));
        registered.clear();
        assert!(registered.is_empty() && registered.iter().next().is_none());
    }
}
