//! The four rings of an AF_XDP socket, in memory shared with the kernel:
//! single-producer single-consumer queues of fixed-size entries whose
//! producer and consumer indexes are free-running `u32`s. User space
//! produces into the fill and TX rings and consumes from the RX and
//! completion rings; the kernel does the opposite.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::NetError;
use crate::ring::Mapping;

/// One ring: where its indexes and entries are in its mapping.
pub(crate) struct XskRing {
    map: Mapping,
    producer: usize,
    consumer: usize,
    desc: usize,
    size: u32,
    entry: usize,
}

/// `struct xdp_desc`: a frame in the UMEM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Desc {
    /// Offset of the frame's first byte in the UMEM.
    pub addr: u64,
    /// Its length.
    pub len: u32,
    /// `XDP_PKT_CONTD` when the packet goes on in the next descriptor
    /// (a multi-buffer frame); 0 on its last one.
    pub options: u32,
}

impl XskRing {
    /// Maps the ring of `size` entries of `entry` bytes that the socket
    /// `fd` offers at page offset `pgoff`, laid out as `offsets` says.
    pub(crate) fn map(
        fd: BorrowedFd<'_>,
        pgoff: i64,
        offsets: &libc::xdp_ring_offset,
        size: u32,
        entry: usize,
        what: &str,
    ) -> Result<XskRing, NetError> {
        let len = offsets.desc as usize + size as usize * entry;
        let map = Mapping::map(fd, len, pgoff, what)?;
        Ok(XskRing {
            map,
            producer: offsets.producer as usize,
            consumer: offsets.consumer as usize,
            desc: offsets.desc as usize,
            size,
            entry,
        })
    }

    fn index(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: the kernel's offsets point at 4-aligned u32s inside the
        // mapping, which both sides update atomically.
        unsafe { &*self.map.addr().add(offset).cast::<AtomicU32>() }
    }

    fn slot(&self, position: u32) -> *mut u8 {
        let index = (position & (self.size - 1)) as usize;
        // SAFETY: index < size, so the entry lies inside the mapping.
        unsafe { self.map.addr().add(self.desc + index * self.entry) }
    }

    /// Entries the consumer (user space) may read now.
    pub(crate) fn ready(&self) -> u32 {
        let producer = self.index(self.producer).load(Ordering::Acquire);
        producer.wrapping_sub(self.index(self.consumer).load(Ordering::Relaxed))
    }

    /// Entries the producer (user space) may write now.
    pub(crate) fn room(&self) -> u32 {
        let consumer = self.index(self.consumer).load(Ordering::Acquire);
        let producer = self.index(self.producer).load(Ordering::Relaxed);
        self.size - producer.wrapping_sub(consumer)
    }

    /// Consumes up to `max` descriptors (RX ring).
    pub(crate) fn take_descs(&self, max: u32, each: &mut dyn FnMut(Desc)) -> u32 {
        let n = self.ready().min(max);
        let consumer = self.index(self.consumer).load(Ordering::Relaxed);
        for i in 0..n {
            let slot = self.slot(consumer.wrapping_add(i));
            // SAFETY: the kernel published this entry (producer index
            // read with Acquire above); `struct xdp_desc` is addr u64, len u32.
            let desc = unsafe {
                Desc {
                    addr: slot.cast::<u64>().read_unaligned(),
                    len: slot.add(8).cast::<u32>().read_unaligned(),
                    options: slot.add(12).cast::<u32>().read_unaligned(),
                }
            };
            each(desc);
        }
        self.index(self.consumer)
            .store(consumer.wrapping_add(n), Ordering::Release);
        n
    }

    /// Consumes up to `max` addresses (completion ring).
    pub(crate) fn take_addrs(&self, max: u32, each: &mut dyn FnMut(u64)) -> u32 {
        let n = self.ready().min(max);
        let consumer = self.index(self.consumer).load(Ordering::Relaxed);
        for i in 0..n {
            // SAFETY: a published u64 entry, as in `take_descs`.
            each(unsafe {
                self.slot(consumer.wrapping_add(i))
                    .cast::<u64>()
                    .read_unaligned()
            });
        }
        self.index(self.consumer)
            .store(consumer.wrapping_add(n), Ordering::Release);
        n
    }

    /// Produces the addresses `addrs` (fill ring); returns how many fit.
    pub(crate) fn put_addrs(&self, addrs: &[u64]) -> usize {
        let n = (self.room() as usize).min(addrs.len());
        let producer = self.index(self.producer).load(Ordering::Relaxed);
        for (i, addr) in addrs[..n].iter().enumerate() {
            // SAFETY: the slot is free (room() above) and ours until the
            // producer index moves past it.
            unsafe {
                self.slot(producer.wrapping_add(i as u32))
                    .cast::<u64>()
                    .write_unaligned(*addr)
            };
        }
        self.index(self.producer)
            .store(producer.wrapping_add(n as u32), Ordering::Release);
        n
    }

    /// Produces one descriptor (TX ring); false when the ring is full.
    pub(crate) fn put_desc(&self, desc: Desc) -> bool {
        if self.room() == 0 {
            return false;
        }
        let producer = self.index(self.producer).load(Ordering::Relaxed);
        let slot = self.slot(producer);
        // SAFETY: a free slot, as in `put_addrs`.
        unsafe {
            slot.cast::<u64>().write_unaligned(desc.addr);
            slot.add(8).cast::<u32>().write_unaligned(desc.len);
            slot.add(12).cast::<u32>().write_unaligned(desc.options);
        }
        self.index(self.producer)
            .store(producer.wrapping_add(1), Ordering::Release);
        true
    }
}
