//! `perf_event_array` as an output channel (`bpf_perf_event_output`): each
//! slot may hold a buffer bound to one CPU, opened by the host (the kernel
//! stores a perf event fd opened for that CPU there). Records that do not
//! fit are counted as lost, as perf does.

use crate::error::{MapError, Result};
use parking_lot::Mutex;
use std::collections::VecDeque;

/// `BPF_F_INDEX_MASK`: the index part of the output flags.
pub const BPF_F_INDEX_MASK: u64 = 0xffff_ffff;
/// `BPF_F_CURRENT_CPU`: use the calling CPU's slot.
pub const BPF_F_CURRENT_CPU: u64 = BPF_F_INDEX_MASK;
/// `BPF_F_CTXLEN_MASK`: context bytes to append (skb/xdp variants).
pub const BPF_F_CTXLEN_MASK: u64 = 0xfffff << 32;

/// One CPU's perf buffer: whole records, bounded in bytes.
#[derive(Debug)]
pub(crate) struct PerfBuffer {
    cpu: u32,
    capacity: usize,
    used: usize,
    records: VecDeque<Vec<u8>>,
    lost: u64,
}

/// What the host reads from a perf buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerfRecord {
    /// A sample's raw bytes.
    Sample(Vec<u8>),
    /// Records dropped because the buffer was full, since the last read.
    Lost(u64),
}

/// Per-index optional buffers.
pub(crate) struct PerfEventArray {
    slots: Box<[Mutex<Option<PerfBuffer>>]>,
}

impl PerfEventArray {
    pub(crate) fn new(max_entries: u32) -> PerfEventArray {
        PerfEventArray {
            slots: (0..max_entries).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// Installs a buffer of `capacity` bytes for `cpu` at `index`.
    pub(crate) fn open(&self, index: u32, cpu: u32, capacity: usize) -> Result<()> {
        let slot = self
            .slots
            .get(index as usize)
            .ok_or(MapError::TooBig("index beyond max_entries"))?;
        *slot.lock() = Some(PerfBuffer {
            cpu,
            capacity,
            used: 0,
            records: VecDeque::new(),
            lost: 0,
        });
        Ok(())
    }

    /// Removes the buffer at `index` (`fd_array_map_delete_elem`).
    pub(crate) fn close(&self, index: u32) -> Result<()> {
        let slot = self
            .slots
            .get(index as usize)
            .ok_or(MapError::TooBig("index beyond max_entries"))?;
        slot.lock().take().map(|_| ()).ok_or(MapError::NotFound)
    }

    /// `bpf_perf_event_output` from a program running on `cpu`.
    pub(crate) fn output(&self, cpu: u32, flags: u64, data: &[u8]) -> Result<()> {
        if flags & !(BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK) != 0 {
            return Err(MapError::Invalid("unknown perf output flags"));
        }
        let index = match flags & BPF_F_INDEX_MASK {
            BPF_F_CURRENT_CPU => u64::from(cpu),
            i => i,
        };
        let slot = self
            .slots
            .get(index as usize)
            .ok_or(MapError::TooBig("index beyond max_entries"))?;
        let mut guard = slot.lock();
        let buf = guard.as_mut().ok_or(MapError::NotFound)?;
        if buf.cpu != cpu {
            return Err(MapError::NotSupported("perf buffer belongs to another CPU"));
        }
        if buf.used + data.len() > buf.capacity {
            buf.lost += 1;
            return Err(MapError::NoSpace);
        }
        buf.used += data.len();
        buf.records.push_back(data.to_vec());
        Ok(())
    }

    /// Takes the oldest record (or a lost-count record) from `index`'s buffer.
    pub(crate) fn read(&self, index: u32) -> Result<Option<PerfRecord>> {
        let slot = self
            .slots
            .get(index as usize)
            .ok_or(MapError::TooBig("index beyond max_entries"))?;
        let mut guard = slot.lock();
        let buf = guard.as_mut().ok_or(MapError::NotFound)?;
        if buf.lost > 0 {
            return Ok(Some(PerfRecord::Lost(std::mem::take(&mut buf.lost))));
        }
        Ok(buf.records.pop_front().map(|r| {
            buf.used -= r.len();
            PerfRecord::Sample(r)
        }))
    }

    /// Whether `index` holds a buffer.
    pub(crate) fn is_open(&self, index: u32) -> bool {
        self.slots
            .get(index as usize)
            .is_some_and(|s| s.lock().is_some())
    }
}
