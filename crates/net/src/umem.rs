//! The UMEM of an AF_XDP socket: one memory area cut into equal frames
//! that the kernel writes received frames into and reads frames to send
//! from, and the pool of frames user space holds.

use std::os::fd::BorrowedFd;

use crate::NetError;
use crate::ring::Mapping;
use crate::socket::set_option_at;

/// Bytes per UMEM frame.
pub const FRAME_SIZE: u32 = 2048;

/// The most bytes of a received frame one UMEM frame takes in copy mode:
/// the kernel writes them after `XDP_PACKET_HEADROOM` (256 bytes); a
/// longer frame goes on in further UMEM frames (`XDP_PKT_CONTD`).
pub const MAX_FRAME_LEN: u32 = FRAME_SIZE - 256;

/// The UMEM area, registered with a socket.
pub(crate) struct Umem {
    area: Mapping,
    frames: u32,
}

impl Umem {
    /// `frames` frames of [`FRAME_SIZE`], registered with the AF_XDP
    /// socket `fd` (`XDP_UMEM_REG`).
    pub(crate) fn register(fd: BorrowedFd<'_>, frames: u32) -> Result<Umem, NetError> {
        let len = frames as usize * FRAME_SIZE as usize;
        let area = Mapping::anonymous(len, "UMEM")?;
        let reg = libc::xdp_umem_reg {
            addr: area.addr() as u64,
            len: len as u64,
            chunk_size: FRAME_SIZE,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        set_option_at(fd, libc::SOL_XDP, libc::XDP_UMEM_REG, &reg, "XDP_UMEM_REG")?;
        Ok(Umem { area, frames })
    }

    /// The address of every frame.
    pub(crate) fn frame_addrs(&self) -> impl Iterator<Item = u64> {
        (0..u64::from(self.frames)).map(|i| i * u64::from(FRAME_SIZE))
    }

    /// The `len` bytes at UMEM address `addr`, or `None` when they do not
    /// lie inside one frame of the area.
    pub(crate) fn bytes(&self, addr: u64, len: u32) -> Option<&[u8]> {
        let (start, end) = self.span(addr, len)?;
        // SAFETY: start..end lies inside the area; the kernel handed this
        // frame to user space (RX ring) and does not touch it until it is
        // given back.
        Some(unsafe { std::slice::from_raw_parts(self.area.addr().add(start), end - start) })
    }

    /// Writes `bytes` into the frame at `addr`; false when they do not fit.
    pub(crate) fn write(&mut self, addr: u64, bytes: &[u8]) -> bool {
        let Some((start, _)) = self.span(addr, bytes.len() as u32) else {
            return false;
        };
        // SAFETY: as in `bytes`, for a frame user space owns.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.area.addr().add(start), bytes.len())
        };
        true
    }

    fn span(&self, addr: u64, len: u32) -> Option<(usize, usize)> {
        let start = usize::try_from(addr).ok()?;
        let end = start.checked_add(len as usize)?;
        let frame_end = (start / FRAME_SIZE as usize + 1) * FRAME_SIZE as usize;
        (end <= frame_end && end <= self.area.len()).then_some((start, end))
    }
}
