//! The TPACKET_V3 receive ring: blocks of frames in memory shared with the
//! kernel. The kernel fills a block, marks it `TP_STATUS_USER`, and moves
//! on; user space reads every frame of the block in place and hands the
//! block back by writing `TP_STATUS_KERNEL`. No copy and no system call per
//! frame: one `poll` per block at most.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::NetError;

/// The ring's shape. Blocks must be multiples of the page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingGeometry {
    /// Bytes per block (a multiple of the page size).
    pub block_size: u32,
    /// Number of blocks.
    pub block_count: u32,
    /// Milliseconds after which the kernel hands over a block that is not
    /// full (so that a trickle of frames is not held back).
    pub block_timeout_ms: u32,
}

impl Default for RingGeometry {
    /// 16 blocks of 1 MiB, handed over after at most 1 ms.
    fn default() -> RingGeometry {
        RingGeometry {
            block_size: 1 << 20,
            block_count: 16,
            block_timeout_ms: 1,
        }
    }
}

/// `tp_frame_size`: TPACKET_V3 packs frames of any size into a block; the
/// kernel uses this only to check the request.
const FRAME_SIZE: u32 = 2048;

/// A memory mapping, unmapped on drop.
pub(crate) struct Mapping {
    addr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; sharing it with
// the kernel is synchronised through the per-block status words.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps `len` bytes of `fd` at `offset`, readable and writable, shared.
    pub(crate) fn map(
        fd: BorrowedFd<'_>,
        len: usize,
        offset: i64,
        what: &str,
    ) -> Result<Mapping, NetError> {
        // SAFETY: a fresh shared mapping of the socket; the kernel checks
        // that `len` and `offset` match what the socket offers.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd.as_raw_fd(),
                offset,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(NetError::last_os(format!("mmap of the {what}")));
        }
        Ok(Mapping {
            addr: addr.cast(),
            len,
        })
    }

    /// `len` bytes of fresh zeroed memory, not backed by a file (a UMEM).
    pub(crate) fn anonymous(len: usize, what: &str) -> Result<Mapping, NetError> {
        // SAFETY: a fresh private anonymous mapping.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(NetError::last_os(format!("mmap of the {what}")));
        }
        Ok(Mapping {
            addr: addr.cast(),
            len,
        })
    }

    pub(crate) fn addr(&self) -> *mut u8 {
        self.addr
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `addr..addr+len` is the mapping this value made.
        unsafe { libc::munmap(self.addr.cast(), self.len) };
    }
}

/// One received frame, in the ring.
#[derive(Debug)]
pub struct RxFrame<'a> {
    /// The bytes captured, from the Ethernet header.
    pub bytes: &'a [u8],
    /// The frame's length on the wire (more than `bytes` when the ring cut it).
    pub wire_len: u32,
}

/// A TPACKET_V3 receive ring mapped from a packet socket.
pub struct RxRing {
    map: Mapping,
    block_size: usize,
    block_count: usize,
    next: usize,
}

impl std::fmt::Debug for RxRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxRing")
            .field("block_size", &self.block_size)
            .field("block_count", &self.block_count)
            .finish_non_exhaustive()
    }
}

/// `tpacket_block_desc`: version, offset_to_priv, then `tpacket_hdr_v1`.
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST_PKT: usize = 16;
/// `tpacket3_hdr`: next offset, sec, nsec, snaplen, len, status, mac, net.
const PKT_NEXT: usize = 0;
const PKT_SNAPLEN: usize = 12;
const PKT_LEN: usize = 16;
const PKT_MAC: usize = 24;
const PKT_HDR: usize = 32;

impl RxRing {
    /// Asks the kernel for a TPACKET_V3 receive ring of `geometry` on the
    /// packet socket `fd` (which must use `TPACKET_V3` already) and maps it.
    pub(crate) fn new(fd: BorrowedFd<'_>, geometry: RingGeometry) -> Result<RxRing, NetError> {
        let page = apiary_maps::page_size() as u32;
        if geometry.block_size == 0
            || !geometry.block_size.is_multiple_of(page)
            || geometry.block_count == 0
        {
            return Err(NetError::Config(format!(
                "ring blocks of {} bytes x {}: blocks must be non-empty multiples of the page size ({page})",
                geometry.block_size, geometry.block_count
            )));
        }
        let total = u64::from(geometry.block_size) * u64::from(geometry.block_count);
        let req = libc::tpacket_req3 {
            tp_block_size: geometry.block_size,
            tp_block_nr: geometry.block_count,
            tp_frame_size: FRAME_SIZE,
            tp_frame_nr: u32::try_from(total / u64::from(FRAME_SIZE))
                .map_err(|_| NetError::Config("the receive ring is too large".into()))?,
            tp_retire_blk_tov: geometry.block_timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        crate::socket::set_option(fd, libc::PACKET_RX_RING, &req, "PACKET_RX_RING")?;
        let map = Mapping::map(fd, total as usize, 0, "receive ring")?;
        Ok(RxRing {
            map,
            block_size: geometry.block_size as usize,
            block_count: geometry.block_count as usize,
            next: 0,
        })
    }

    fn block(&self, index: usize) -> *mut u8 {
        // SAFETY: index < block_count, so the block lies inside the mapping.
        unsafe { self.map.addr().add(index * self.block_size) }
    }

    fn status(&self, index: usize) -> &AtomicU32 {
        // SAFETY: the status word is 4-aligned inside the block header,
        // and the kernel updates it atomically.
        unsafe { &*self.block(index).add(BLOCK_STATUS).cast::<AtomicU32>() }
    }

    fn u32_at(&self, block: usize, offset: usize) -> Option<u32> {
        if offset.checked_add(4)? > self.block_size {
            return None;
        }
        // SAFETY: inside the block, which user space owns while its status
        // says TP_STATUS_USER.
        Some(unsafe { self.block(block).add(offset).cast::<u32>().read_unaligned() })
    }

    fn u16_at(&self, block: usize, offset: usize) -> Option<u16> {
        if offset.checked_add(2)? > self.block_size {
            return None;
        }
        // SAFETY: as in `u32_at`.
        Some(unsafe { self.block(block).add(offset).cast::<u16>().read_unaligned() })
    }

    /// Whether the next block is ready for user space.
    pub fn ready(&self) -> bool {
        self.status(self.next).load(Ordering::Acquire) & libc::TP_STATUS_USER != 0
    }

    /// Calls `each` on every frame of the next ready block and hands the
    /// block back to the kernel; returns the number of frames (0 when no
    /// block is ready). Offsets that point outside the block end the walk.
    pub fn next_block(&mut self, each: &mut dyn FnMut(RxFrame<'_>)) -> usize {
        if !self.ready() {
            return 0;
        }
        let block = self.next;
        let count = self.u32_at(block, BLOCK_NUM_PKTS).unwrap_or(0);
        let mut offset = self.u32_at(block, BLOCK_FIRST_PKT).unwrap_or(0) as usize;
        let mut seen = 0;
        for _ in 0..count {
            let (Some(next), Some(snaplen), Some(len), Some(mac)) = (
                self.u32_at(block, offset + PKT_NEXT),
                self.u32_at(block, offset + PKT_SNAPLEN),
                self.u32_at(block, offset + PKT_LEN),
                self.u16_at(block, offset + PKT_MAC),
            ) else {
                break;
            };
            let start = offset + usize::from(mac).max(PKT_HDR);
            let Some(end) = start.checked_add(snaplen as usize) else {
                break;
            };
            if end > self.block_size {
                break;
            }
            // SAFETY: start..end lies inside the block, owned by user space
            // until its status is handed back below.
            let bytes = unsafe {
                std::slice::from_raw_parts(self.block(block).add(start), snaplen as usize)
            };
            each(RxFrame {
                bytes,
                wire_len: len,
            });
            seen += 1;
            if next == 0 {
                break;
            }
            offset += next as usize;
        }
        self.status(block)
            .store(libc::TP_STATUS_KERNEL, Ordering::Release);
        self.next = (self.next + 1) % self.block_count;
        seen
    }

    /// The mapped bytes (for statistics and checks).
    pub fn mapped_len(&self) -> usize {
        self.map.len()
    }
}
