//! Typed map views by name, in aya's style: `object.map_view::<HashMap<K, V>>("name")`.

use std::sync::Arc;

use apiary_maps::Map;
use apiary_maps::typed;

/// A typed view that can be made from a map, checking its type and sizes.
pub trait MapView: Sized {
    /// Wraps `map`, or says why its type or sizes do not fit.
    fn from_map(map: Arc<Map>) -> apiary_maps::Result<Self>;
}

macro_rules! views {
    ($($(#[$doc:meta])* $alias:ident<$($param:ident),*> = $target:ident;)+) => { $(
        $(#[$doc])*
        pub type $alias<$($param),*> = typed::$target<Arc<Map>, $($param),*>;
        impl<$($param: typed::Pod),*> MapView for $alias<$($param),*> {
            fn from_map(map: Arc<Map>) -> apiary_maps::Result<Self> {
                typed::$target::new(map)
            }
        }
    )+ };
}

views! {
    /// A `hash` or `lru_hash` map.
    HashMap<K, V> = HashMap;
    /// An `array` map.
    Array<V> = Array;
    /// A `percpu_array` map: one value per CPU.
    PerCpuArray<V> = PerCpuArray;
    /// A `percpu_hash` or `lru_percpu_hash` map.
    PerCpuHashMap<K, V> = PerCpuHashMap;
    /// An `lpm_trie` map keyed by [`apiary_maps::typed::Key`].
    LpmTrie<K, V> = LpmTrie;
    /// A `queue` map.
    Queue<V> = Queue;
    /// A `stack` map.
    Stack<V> = Stack;
    /// A `ringbuf` map, read by the host.
    RingBuf<> = RingBuf;
    /// A `prog_array` map.
    ProgramArray<> = ProgramArray;
}
