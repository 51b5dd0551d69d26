//! `queue` and `stack` (`kernel/bpf/queue_stack_maps.c`): a ring of
//! `max_entries + 1` slots; values are copied in and out, never pointed to.

use crate::def::{BPF_EXIST, BPF_NOEXIST};
use crate::error::{MapError, Result, check_len};
use parking_lot::Mutex;

struct Ring {
    data: Vec<u8>,
    head: u32,
    tail: u32,
}

/// A bounded FIFO (queue) or LIFO (stack) of fixed-size values.
pub(crate) struct QueueStack {
    lifo: bool,
    value_size: usize,
    slots: u32,
    ring: Mutex<Ring>,
}

impl QueueStack {
    pub(crate) fn new(lifo: bool, value_size: u32, max_entries: u32) -> Result<QueueStack> {
        let slots = max_entries
            .checked_add(1)
            .ok_or(MapError::TooBig("max_entries"))?;
        let bytes = (value_size as u64)
            .checked_mul(u64::from(slots))
            .filter(|&b| b <= crate::def::MAX_MAP_BYTES)
            .ok_or(MapError::NoMemory("queue too large"))?;
        let mut data = Vec::new();
        data.try_reserve_exact(bytes as usize)
            .map_err(|_| MapError::NoMemory("queue allocation failed"))?;
        data.resize(bytes as usize, 0);
        Ok(QueueStack {
            lifo,
            value_size: value_size as usize,
            slots,
            ring: Mutex::new(Ring {
                data,
                head: 0,
                tail: 0,
            }),
        })
    }

    fn slot<'a>(&self, ring: &'a mut Ring, i: u32) -> &'a mut [u8] {
        let at = i as usize * self.value_size;
        &mut ring.data[at..at + self.value_size]
    }

    /// `bpf_map_push_elem`: with `BPF_EXIST` a full map drops its oldest value.
    pub(crate) fn push(&self, value: &[u8], flags: u64) -> Result<()> {
        check_len("value", value, self.value_size)?;
        if flags & BPF_NOEXIST != 0 || flags > BPF_EXIST {
            return Err(MapError::Invalid("push flags must be BPF_ANY or BPF_EXIST"));
        }
        let mut ring = self.ring.lock();
        let full = (ring.head + 1) % self.slots == ring.tail;
        if full {
            if flags & BPF_EXIST == 0 {
                return Err(MapError::TooBig("queue/stack is full"));
            }
            ring.tail = (ring.tail + 1) % self.slots;
        }
        let head = ring.head;
        self.slot(&mut ring, head).copy_from_slice(value);
        ring.head = (head + 1) % self.slots;
        Ok(())
    }

    fn take(&self, out: &mut [u8], remove: bool) -> Result<()> {
        check_len("value", out, self.value_size)?;
        let mut ring = self.ring.lock();
        if ring.head == ring.tail {
            return Err(MapError::NotFound);
        }
        let index = if self.lifo {
            (ring.head + self.slots - 1) % self.slots
        } else {
            ring.tail
        };
        out.copy_from_slice(self.slot(&mut ring, index));
        if remove {
            if self.lifo {
                ring.head = index;
            } else {
                ring.tail = (index + 1) % self.slots;
            }
        }
        Ok(())
    }

    /// `bpf_map_pop_elem`.
    pub(crate) fn pop(&self, out: &mut [u8]) -> Result<()> {
        self.take(out, true)
    }

    /// `bpf_map_peek_elem`.
    pub(crate) fn peek(&self, out: &mut [u8]) -> Result<()> {
        self.take(out, false)
    }

    /// Every value held, oldest first (the order pushes must replay to
    /// rebuild the same queue or stack).
    pub(crate) fn values_oldest_first(&self) -> Vec<Vec<u8>> {
        let mut ring = self.ring.lock();
        let mut out = Vec::new();
        let mut i = ring.tail;
        while i != ring.head {
            out.push(self.slot(&mut ring, i).to_vec());
            i = (i + 1) % self.slots;
        }
        out
    }

    /// Values currently held.
    pub(crate) fn len(&self) -> u32 {
        let ring = self.ring.lock();
        (ring.head + self.slots - ring.tail) % self.slots
    }
}
