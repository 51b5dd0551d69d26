//! Which map each helper call is given in `r1`, when it is the same map on
//! every run ([`CallMaps`]), so that a JIT can specialise the call to that
//! map (the kernel's `insn_aux_data.map_ptr_state`, which
//! `do_misc_fixups` uses to inline array lookups only where the map is
//! one and the same on every path).
//!
//! Every visit of a helper call records the map `r1` pointed to, or none
//! when it held no map pointer or the map of maps' inner template (whose
//! real map is chosen at run time). A call reached with two maps, or once
//! without one, varies. The argument of `proofs` carries over: the walk
//! covers every run, except where a helper calls a function it does not
//! follow, in which case nothing is recorded at all.

/// What the walk saw in `r1` at one helper call so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seen {
    Never,
    Map(u32),
    Varies,
}

/// Per instruction slot, the map (by its index in the program's map list)
/// a helper call is given on every run, if always the same.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallMaps {
    by_insn: Vec<Option<u32>>,
}

impl CallMaps {
    /// The index of the map the helper call at instruction slot `insn` is
    /// given in `r1` on every run, if it is always that one.
    pub fn get(&self, insn: usize) -> Option<u32> {
        self.by_insn.get(insn).copied().flatten()
    }

    /// Number of instruction slots the table covers (the program's).
    pub fn len(&self) -> usize {
        self.by_insn.len()
    }

    /// Whether the table covers no instruction.
    pub fn is_empty(&self) -> bool {
        self.by_insn.is_empty()
    }
}

/// Collects [`CallMaps`] during the walk.
pub(crate) struct CallMapRecorder {
    seen: Vec<Seen>,
}

impl CallMapRecorder {
    pub(crate) fn new(slots: usize) -> Self {
        CallMapRecorder {
            seen: vec![Seen::Never; slots],
        }
    }

    /// Records a visit of the helper call at `pc` with `map` in `r1`
    /// (`None`: no map, or one not known before the run).
    pub(crate) fn visit(&mut self, pc: usize, map: Option<u32>) {
        let Some(slot) = self.seen.get_mut(pc) else {
            return;
        };
        *slot = match (*slot, map) {
            (Seen::Never, Some(m)) => Seen::Map(m),
            (Seen::Map(old), Some(m)) if old == m => Seen::Map(m),
            _ => Seen::Varies,
        };
    }

    /// The table; empty when the walk did not cover every run.
    pub(crate) fn finish(self, whole: bool) -> CallMaps {
        let by_insn = self
            .seen
            .into_iter()
            .map(|seen| match seen {
                Seen::Map(m) if whole => Some(m),
                _ => None,
            })
            .collect();
        CallMaps { by_insn }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_map_on_every_visit_is_recorded() {
        let mut r = CallMapRecorder::new(3);
        r.visit(1, Some(4));
        r.visit(1, Some(4));
        let maps = r.finish(true);
        assert_eq!(maps.get(1), Some(4));
        assert_eq!(maps.get(0), None);
        assert_eq!(maps.get(9), None);
    }

    #[test]
    fn two_maps_or_a_visit_without_one_vary() {
        let mut r = CallMapRecorder::new(2);
        r.visit(0, Some(0));
        r.visit(0, Some(1));
        r.visit(1, Some(0));
        r.visit(1, None);
        let maps = r.finish(true);
        assert_eq!((maps.get(0), maps.get(1)), (None, None));
    }

    #[test]
    fn a_walk_that_misses_runs_records_nothing() {
        let mut r = CallMapRecorder::new(1);
        r.visit(0, Some(2));
        assert_eq!(r.finish(false).get(0), None);
    }
}
