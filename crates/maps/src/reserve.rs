//! A program's `bpf_ringbuf_reserve` as a plain C function ([`Reserve`]),
//! for native code that calls it directly at a helper call site, as
//! [`crate::Search`] does for lookups: only a sample reserved then needs
//! the embedder (to make it accessible and remember it for the submit),
//! so a full ring buffer costs the program a call and a comparison.

use std::ptr::null_mut;

use crate::map::Map;
use crate::ringbuf::RingBuffer;

/// `reserve(ring, size, flags)`: the address of a sample of `size` bytes,
/// or null; exactly what [`Map::ringbuf_reserve`] reserves on the ring
/// buffer it was made for ([`Map::reserve`]), where any error is null.
pub type ReserveFn = unsafe extern "C" fn(ring: *const (), size: u64, flags: u64) -> *mut u8;

/// A ring buffer's reservation as a function and its first argument.
#[derive(Clone, Copy, Debug)]
pub struct Reserve {
    /// The function.
    pub reserve: ReserveFn,
    /// The first argument it is to be given (the ring buffer, which lives,
    /// at this address, as long as the [`Map`]).
    pub ring: *const (),
}

impl Map {
    /// This ring buffer's reservation as a C function; `None` for other maps.
    pub fn reserve(&self) -> Option<Reserve> {
        let ring = self.ring()?;
        Some(Reserve {
            reserve: reserve_in,
            ring: std::ptr::from_ref(ring).cast(),
        })
    }
}

/// # Safety
/// `ring` must come from [`Map::reserve`] of a map still alive.
unsafe extern "C" fn reserve_in(ring: *const (), size: u64, flags: u64) -> *mut u8 {
    // SAFETY: per the caller, `ring` is a live ring buffer.
    let ring = unsafe { &*ring.cast::<RingBuffer>() };
    ring.reserve(size, flags)
        .map_or(null_mut(), |sample| sample.as_ptr())
}
