//! What a pin file keeps of a map: its contents copied out, and put back
//! into a newly created map.

use super::{Map, Store};
use crate::array::array_next_key;
use crate::def::{BPF_ANY, BPF_NOEXIST, MapType};
use crate::error::{MapError, Result, check_len};
use crate::hash::ValueSrc;
use crate::mem::key_u32;
use crate::slots::pack;

/// `get_next_key` of one store, as [`Map::snapshot`] walks it.
type NextKeyFn<'a> = dyn Fn(Option<&[u8]>) -> Result<Vec<u8>> + 'a;

/// What a pin file can keep of a map's contents, read past the map's
/// user-space access flags (a pin saves the whole map, as the kernel keeps
/// it across processes).
pub(crate) enum Snapshot {
    /// Keyed elements as `(key, host value)`, in iteration order, with the
    /// hash seed of hash-table maps.
    Entries {
        /// Bucket seed of a hash table; `None` for arrays, tries and slots.
        seed: Option<u32>,
        /// The elements.
        entries: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// A queue's or stack's values, oldest first.
    Queue(Vec<Vec<u8>>),
    /// A bloom filter's seed and bitset.
    Bloom {
        /// Hash seed.
        seed: u32,
        /// Bitset words.
        words: Vec<u64>,
    },
    /// Contents that mean nothing outside this process.
    Unsaveable(&'static str),
}

impl Map {
    /// Copies out everything a pin file keeps of this map.
    pub(crate) fn snapshot(&self) -> Result<Snapshot> {
        if let Some(reason) = self.unsaveable_reason() {
            return Ok(Snapshot::Unsaveable(reason));
        }
        let keyed = |seed: Option<u32>,
                     next: &NextKeyFn<'_>,
                     read: &dyn Fn(&[u8]) -> Result<Vec<u8>>|
         -> Result<Snapshot> {
            let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            loop {
                let prev = entries.last().map(|(k, _)| k.as_slice());
                let key = match next(prev) {
                    Ok(key) => key,
                    Err(MapError::NotFound) => break,
                    Err(e) => return Err(e),
                };
                match read(&key) {
                    Ok(value) => entries.push((key, value)),
                    // Deleted between the two steps by a concurrent user.
                    Err(MapError::NotFound) => continue,
                    Err(e) => return Err(e),
                }
                if entries.len() > self.max_entries as usize {
                    return Err(MapError::Busy);
                }
            }
            Ok(Snapshot::Entries { seed, entries })
        };
        match (&self.store, self.ty) {
            (Store::Array(a), _) => keyed(None, &|k| array_next_key(k, self.max_entries), &|k| {
                a.sys_lookup(k, 0)
            }),
            (Store::Hash(h), _) => keyed(Some(h.seed()), &|k| h.get_next_key(k), &|k| {
                h.sys_lookup(k, 0)
            }),
            (Store::Lpm(t), _) => keyed(None, &|k| t.get_next_key(k), &|k| t.sys_lookup(k)),
            (Store::Slots(s), MapType::Devmap | MapType::Cpumap) => {
                let entries = (0..s.len())
                    .filter_map(|i| s.get(i).map(|raw| (i.to_ne_bytes().to_vec(), s.bytes(raw))))
                    .collect();
                Ok(Snapshot::Entries {
                    seed: None,
                    entries,
                })
            }
            (Store::Slots(_), _)
            | (Store::Ringbuf(_), _)
            | (Store::Perf(_), _)
            | (Store::Absent(_), _)
            | (Store::Local(_), _) => Ok(Snapshot::Unsaveable(
                self.unsaveable_reason().unwrap_or("not saveable"),
            )),
            (Store::Queue(q), _) => Ok(Snapshot::Queue(q.values_oldest_first())),
            (Store::Bloom(b), _) => {
                let (seed, words) = b.snapshot();
                Ok(Snapshot::Bloom { seed, words })
            }
        }
    }

    /// Why a pin file keeps only this map's definition, or `None` when it
    /// keeps the contents too.
    pub(crate) fn unsaveable_reason(&self) -> Option<&'static str> {
        match self.ty {
            MapType::ProgArray => Some("program ids are only valid in the process that made them"),
            MapType::ArrayOfMaps | MapType::HashOfMaps => {
                Some("inner map ids are only valid in the process that made them")
            }
            MapType::Xskmap => Some("AF_XDP sockets are only valid in the process that made them"),
            MapType::Ringbuf => Some("ring buffer records are consumed, not stored"),
            MapType::PerfEventArray => Some("perf buffers belong to the process that opened them"),
            MapType::StackTrace => {
                Some("stack traces are kernel call chains Apiary never captures")
            }
            MapType::Sockmap | MapType::Sockhash | MapType::ReuseportSockarray => {
                Some("Apiary has no sockets: socket maps are always empty")
            }
            MapType::TaskStorage => Some("task storage belongs to the tasks of the process"),
            MapType::SkStorage => Some("socket storage belongs to the sockets of the process"),
            MapType::CgrpStorage => Some("cgroup storage ids are only meaningful on this host"),
            _ => None,
        }
    }

    /// Sets the hash seed of an empty hash-table map (no-op for others).
    pub(crate) fn restore_seed(&mut self, seed: u32) -> Result<()> {
        match &mut self.store {
            Store::Hash(h) => h.set_seed(seed),
            _ => Ok(()),
        }
    }

    /// Puts one saved element back, past the access flags.
    pub(crate) fn restore_entry(&self, key: &[u8], value: &[u8]) -> Result<()> {
        check_len("key", key, self.key_size())?;
        check_len("value", value, self.host_value_size())?;
        match (&self.store, self.ty) {
            (Store::Array(a), _) => a.update(key, value, BPF_ANY, None),
            (Store::Hash(h), _) => h.update(key, ValueSrc::All(value), BPF_NOEXIST, 0),
            (Store::Lpm(t), _) => t.update(key, value, BPF_NOEXIST),
            (Store::Slots(s), MapType::Devmap | MapType::Cpumap) => {
                let index = key_u32(key)?;
                if index >= s.len() {
                    return Err(MapError::TooBig("index beyond max_entries"));
                }
                s.set(index, pack(value));
                Ok(())
            }
            _ => Err(self.unsupported()),
        }
    }

    /// Pushes one saved queue/stack value back (oldest first).
    pub(crate) fn restore_queue_value(&self, value: &[u8]) -> Result<()> {
        match &self.store {
            Store::Queue(q) => q.push(value, BPF_ANY),
            _ => Err(self.unsupported()),
        }
    }

    /// Number of bitset words of a bloom filter.
    pub(crate) fn bloom_words(&self) -> Option<usize> {
        match &self.store {
            Store::Bloom(b) => Some(b.word_count()),
            _ => None,
        }
    }

    /// Puts a saved bloom filter bitset back.
    pub(crate) fn restore_bloom(&mut self, seed: u32, words: &[u64]) -> Result<()> {
        match &mut self.store {
            Store::Bloom(b) => b.restore(seed, words),
            _ => Err(MapError::NotSupported("not a bloom filter")),
        }
    }
}
