//! `ringbuf` (`kernel/bpf/ringbuf.c`) with the kernel's memory layout: a
//! metadata page, the consumer page (`consumer_pos` at offset 0), the
//! producer page (`producer_pos` at offset 0), then the data area, which is
//! mapped twice in a row (memfd + two `mmap`s) so a record that wraps
//! around the end is still contiguous. Each record starts with an 8-byte
//! header: `u32 len` carrying `BPF_RINGBUF_BUSY_BIT` while reserved and
//! `BPF_RINGBUF_DISCARD_BIT` when discarded, and `u32 pg_off`, the page
//! distance from the start of the ring buffer to the header.
//!
//! Wakeups are signalled on an eventfd that user space can poll or epoll.

use crate::error::{MapError, Result};
use crate::mem::{ValueRef, page_size};
use parking_lot::Mutex;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Header bit set while a record is reserved and not yet committed.
pub const BPF_RINGBUF_BUSY_BIT: u32 = 1 << 31;
/// Header bit set on records that were discarded.
pub const BPF_RINGBUF_DISCARD_BIT: u32 = 1 << 30;
/// Size of the record header.
pub const BPF_RINGBUF_HDR_SZ: u32 = 8;
/// Submit flag: do not signal the consumer.
pub const BPF_RB_NO_WAKEUP: u64 = 1 << 0;
/// Submit flag: always signal the consumer.
pub const BPF_RB_FORCE_WAKEUP: u64 = 1 << 1;
/// `bpf_ringbuf_query` selectors.
pub const BPF_RB_AVAIL_DATA: u64 = 0;
/// `bpf_ringbuf_query`: data area size.
pub const BPF_RB_RING_SIZE: u64 = 1;
/// `bpf_ringbuf_query`: consumer position.
pub const BPF_RB_CONS_POS: u64 = 2;
/// `bpf_ringbuf_query`: producer position.
pub const BPF_RB_PROD_POS: u64 = 3;

/// Largest record the kernel accepts (`RINGBUF_MAX_RECORD_SZ`).
const MAX_RECORD: u64 = (u32::MAX / 4) as u64;
/// Pages before the data: metadata, consumer, producer.
const META_PAGES: usize = 3;

/// Where a ring buffer's parts lie; the metadata page holds a copy (as
/// the kernel's `struct bpf_ringbuf` heads its first page), so that a
/// sample's header, whose `pg_off` leads to that page, is all a commit
/// needs ([`commit_reserved`]).
#[derive(Clone, Copy)]
#[repr(C)]
struct Layout {
    base: *mut u8,
    page: usize,
    size: u64,
    wakeup: RawFd,
}

/// A ring buffer.
pub(crate) struct RingBuffer {
    layout: Layout,
    map_len: usize,
    /// Producers serialise on this; it guards `pending_pos`.
    producer: Mutex<u64>,
    wakeup: OwnedFd,
    _memfd: OwnedFd,
}

// SAFETY: all shared state is accessed through atomics or the producer mutex.
unsafe impl Send for RingBuffer {}
// SAFETY: as above.
unsafe impl Sync for RingBuffer {}

/// The page size `pg_off` counts in, set by the first ring buffer made
/// (so before any sample exists).
static PAGE: AtomicUsize = AtomicUsize::new(0);

fn os_err(what: &'static str) -> MapError {
    MapError::NoMemory(what)
}

impl RingBuffer {
    pub(crate) fn new(size: u32) -> Result<RingBuffer> {
        let page = page_size();
        let size_us = size as usize;
        let file_len = META_PAGES * page + size_us;
        let map_len = file_len + size_us;
        // SAFETY: plain syscalls; every result is checked.
        unsafe {
            let fd = libc::memfd_create(c"apiary-ringbuf".as_ptr(), libc::MFD_CLOEXEC);
            if fd < 0 {
                return Err(os_err("memfd_create for ring buffer"));
            }
            let memfd = OwnedFd::from_raw_fd(fd);
            if libc::ftruncate(fd, file_len as libc::off_t) != 0 {
                return Err(os_err("ftruncate of ring buffer memfd"));
            }
            let efd = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
            if efd < 0 {
                return Err(os_err("eventfd for ring buffer"));
            }
            let wakeup = OwnedFd::from_raw_fd(efd);
            let reserve = libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if reserve == libc::MAP_FAILED {
                return Err(os_err("address space for ring buffer"));
            }
            let rw = libc::PROT_READ | libc::PROT_WRITE;
            // Every page up front, as the kernel allocates them when it
            // creates the map (`bpf_ringbuf_area_alloc`): a program's
            // reservation then never waits for a page fault.
            let flags = libc::MAP_SHARED | libc::MAP_FIXED | libc::MAP_POPULATE;
            let first = libc::mmap(reserve, file_len, rw, flags, fd, 0);
            let second_at = reserve.cast::<u8>().add(file_len).cast();
            let second = libc::mmap(
                second_at,
                size_us,
                rw,
                flags,
                fd,
                (META_PAGES * page) as libc::off_t,
            );
            if first == libc::MAP_FAILED || second == libc::MAP_FAILED {
                libc::munmap(reserve, map_len);
                return Err(os_err("double mapping of ring buffer data"));
            }
            let base = reserve.cast::<u8>();
            if base.is_null() {
                return Err(os_err("null ring buffer mapping"));
            }
            let layout = Layout {
                base,
                page,
                size: u64::from(size),
                wakeup: wakeup.as_raw_fd(),
            };
            // The metadata page is the ring's own: programs and consumers
            // see the pages after it.
            base.cast::<Layout>().write(layout);
            PAGE.store(page, Ordering::Relaxed);
            Ok(RingBuffer {
                layout,
                map_len,
                producer: Mutex::new(0),
                wakeup,
                _memfd: memfd,
            })
        }
    }

    /// `consumer_pos`, as the consumer page holds it.
    pub(crate) fn consumer_pos(&self) -> &AtomicU64 {
        self.layout.pos(1)
    }

    /// `producer_pos`, as the producer page holds it.
    pub(crate) fn producer_pos(&self) -> &AtomicU64 {
        self.layout.pos(2)
    }

    fn data(&self) -> *mut u8 {
        self.layout.data()
    }

    fn header_len(&self, pos: u64) -> &AtomicU32 {
        self.layout.header_len(pos)
    }

    /// `bpf_ringbuf_reserve`: room for `size` bytes, or an error where the
    /// kernel returns NULL.
    pub(crate) fn reserve(&self, size: u64, flags: u64) -> Result<ValueRef> {
        if flags != 0 {
            return Err(MapError::Invalid("bpf_ringbuf_reserve takes no flags"));
        }
        if size > MAX_RECORD {
            return Err(MapError::TooBig("ring buffer record"));
        }
        let len = (size + u64::from(BPF_RINGBUF_HDR_SZ)).div_ceil(8) * 8;
        if len > self.layout.size {
            return Err(MapError::TooBig("record larger than the ring"));
        }
        let mut pending = self.producer.lock();
        let cons = self.consumer_pos().load(Ordering::Acquire);
        let prod = self.producer_pos().load(Ordering::Relaxed);
        // Skip the committed records at the start of the pending range.
        while *pending < prod {
            let hdr = self.header_len(*pending).load(Ordering::Acquire);
            if hdr & BPF_RINGBUF_BUSY_BIT != 0 {
                break;
            }
            *pending += (u64::from(hdr & !BPF_RINGBUF_DISCARD_BIT) + u64::from(BPF_RINGBUF_HDR_SZ))
                .div_ceil(8)
                * 8;
        }
        let new_prod = prod + len;
        let mask = self.layout.size - 1;
        if new_prod.wrapping_sub(cons) > mask || new_prod.wrapping_sub(*pending) > mask {
            return Err(MapError::TryAgain);
        }
        let off = (prod & mask) as usize;
        let hdr = self.data().wrapping_add(off);
        let pg_off = ((hdr as usize - self.layout.base as usize) / self.layout.page) as u32;
        // SAFETY: the header lies in the data area, 8-aligned.
        unsafe {
            AtomicU32::from_ptr(hdr.add(4).cast()).store(pg_off, Ordering::Relaxed);
        }
        self.header_len(prod)
            .store(size as u32 | BPF_RINGBUF_BUSY_BIT, Ordering::Relaxed);
        self.producer_pos().store(new_prod, Ordering::Release);
        let sample = NonNull::new(hdr.wrapping_add(BPF_RINGBUF_HDR_SZ as usize))
            .ok_or(MapError::Invalid("null sample"))?;
        Ok(ValueRef::new(sample, size as usize))
    }

    /// `bpf_ringbuf_submit` / `bpf_ringbuf_discard` of a reserved sample.
    pub(crate) fn commit(&self, sample: usize, flags: u64, discard: bool) -> Result<()> {
        let rec = self.layout.record_of(sample)?;
        self.layout.release(rec, flags, discard)
    }

    /// `bpf_ringbuf_output`: reserve, copy, submit.
    pub(crate) fn output(&self, data: &[u8], flags: u64) -> Result<()> {
        if flags & !(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP) != 0 {
            return Err(MapError::Invalid("unknown bpf_ringbuf_output flags"));
        }
        let sample = self.reserve(data.len() as u64, 0).map_err(|e| match e {
            MapError::TryAgain | MapError::TooBig(_) => MapError::TryAgain,
            other => other,
        })?;
        // SAFETY: the reservation is `data.len()` bytes of the data area.
        unsafe { crate::mem::copy_to_shared(sample.as_ptr(), data) };
        self.commit(sample.addr(), flags, false)
    }

    /// `bpf_ringbuf_query`.
    pub(crate) fn query(&self, flags: u64) -> u64 {
        let cons = self.consumer_pos().load(Ordering::Acquire);
        let prod = self.producer_pos().load(Ordering::Acquire);
        match flags {
            BPF_RB_AVAIL_DATA => prod.wrapping_sub(cons),
            BPF_RB_RING_SIZE => self.layout.size,
            BPF_RB_CONS_POS => cons,
            BPF_RB_PROD_POS => prod,
            _ => 0,
        }
    }

    /// The eventfd that becomes readable on wakeups.
    pub(crate) fn wakeup_fd(&self) -> RawFd {
        self.wakeup.as_raw_fd()
    }

    /// Clears pending wakeups on the eventfd.
    pub(crate) fn clear_wakeup(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reading 8 bytes into a valid buffer from a non-blocking eventfd.
        let _ = unsafe { libc::read(self.wakeup.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    }

    /// The next committed record at the consumer position, skipping
    /// discarded ones (advancing past them) as libbpf's consumer does.
    /// Returns the record and the position just after it.
    pub(crate) fn peek_record(&self) -> Option<(&[u8], u64)> {
        loop {
            let cons = self.consumer_pos().load(Ordering::Acquire);
            let prod = self.producer_pos().load(Ordering::Acquire);
            if cons >= prod {
                return None;
            }
            let hdr = self.header_len(cons).load(Ordering::Acquire);
            if hdr & BPF_RINGBUF_BUSY_BIT != 0 {
                return None;
            }
            let len = hdr & !BPF_RINGBUF_DISCARD_BIT;
            let next = cons + (u64::from(len) + u64::from(BPF_RINGBUF_HDR_SZ)).div_ceil(8) * 8;
            if hdr & BPF_RINGBUF_DISCARD_BIT != 0 {
                self.consumer_pos().store(next, Ordering::Release);
                continue;
            }
            let start = (cons & (self.layout.size - 1)) as usize + BPF_RINGBUF_HDR_SZ as usize;
            // SAFETY: committed records are not written again until the
            // consumer moves past them; the double mapping makes the whole
            // record contiguous even when it wraps.
            let bytes = unsafe { std::slice::from_raw_parts(self.data().add(start), len as usize) };
            return Some((bytes, next));
        }
    }

    /// Data area size.
    pub(crate) fn size(&self) -> u64 {
        self.layout.size
    }
}

impl Layout {
    fn pos(&self, page: usize) -> &AtomicU64 {
        // SAFETY: pages 1 and 2 are mapped and their first word is 8-aligned.
        unsafe { AtomicU64::from_ptr(self.base.add(page * self.page).cast()) }
    }

    fn data(&self) -> *mut u8 {
        self.base.wrapping_add(META_PAGES * self.page)
    }

    fn header_len(&self, pos: u64) -> &AtomicU32 {
        let off = (pos & (self.size - 1)) as usize;
        // SAFETY: the offset is inside the data area and 8-aligned.
        unsafe { AtomicU32::from_ptr(self.data().add(off).cast()) }
    }

    /// The data area offset of the record whose sample is at `sample`.
    fn record_of(&self, sample: usize) -> Result<usize> {
        sample
            .checked_sub(self.data() as usize + BPF_RINGBUF_HDR_SZ as usize)
            .filter(|&r| (r as u64) < self.size && r % 8 == 0)
            .ok_or(MapError::Invalid("address is not a ring buffer sample"))
    }

    /// Commits the reserved record at data offset `rec`, discarded or not,
    /// and signals the consumer as `flags` and its position say.
    fn release(&self, rec: usize, flags: u64, discard: bool) -> Result<()> {
        let len = self.header_len(rec as u64);
        let cur = len.load(Ordering::Relaxed);
        if cur & BPF_RINGBUF_BUSY_BIT == 0 {
            return Err(MapError::Invalid("sample is not reserved"));
        }
        let mut new_len = cur ^ BPF_RINGBUF_BUSY_BIT;
        if discard {
            new_len |= BPF_RINGBUF_DISCARD_BIT;
        }
        len.swap(new_len, Ordering::AcqRel);
        let cons = self.pos(1).load(Ordering::Acquire) & (self.size - 1);
        if flags & BPF_RB_FORCE_WAKEUP != 0 || (cons == rec as u64 && flags & BPF_RB_NO_WAKEUP == 0)
        {
            self.wake();
        }
        Ok(())
    }

    fn wake(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writing 8 bytes from a valid buffer to the ring's eventfd;
        // a full counter (EAGAIN) already means "readable", so the result
        // is moot.
        let _ = unsafe { libc::write(self.wakeup, one.as_ptr().cast(), one.len()) };
    }
}

/// `bpf_ringbuf_submit` / `bpf_ringbuf_discard` of the sample at `sample`
/// in whichever ring buffer reserved it: the header's `pg_off` leads to
/// the ring's metadata page, as `bpf_ringbuf_restore_from_rec` finds the
/// ring in the kernel.
///
/// # Safety
/// `sample` must be a sample [`RingBuffer::reserve`] returned in a ring
/// buffer still alive, and its header must not have been written since
/// (a verified program's reservation it has not released yet).
pub(crate) unsafe fn commit_reserved(sample: usize, flags: u64, discard: bool) -> Result<()> {
    let hdr = sample.wrapping_sub(BPF_RINGBUF_HDR_SZ as usize);
    // SAFETY: per the caller, the header is a live record's, 8-aligned.
    let pg_off = unsafe { AtomicU32::from_ptr((hdr + 4) as *mut u32) }.load(Ordering::Relaxed);
    let page = PAGE.load(Ordering::Relaxed);
    // `pg_off` counts whole pages from the ring's (page-aligned) start to
    // the header's page.
    let base = (hdr & !(page.wrapping_sub(1))).wrapping_sub(pg_off as usize * page);
    // SAFETY: per the caller, `base` is the start of a live ring buffer,
    // whose first page holds its layout.
    let layout = unsafe { (base as *const Layout).read() };
    if layout.base as usize != base {
        return Err(MapError::Invalid("address is not a ring buffer sample"));
    }
    layout.release(layout.record_of(sample)?, flags, discard)
}

impl Drop for RingBuffer {
    fn drop(&mut self) {
        // SAFETY: the whole reservation was mapped by `new`.
        unsafe { libc::munmap(self.layout.base.cast(), self.map_len) };
    }
}
