//! `bpf_ringbuf_reserve` a compiling tier may call without the helper
//! table ([`DirectReserve`]): the embedder hands over, for each ring
//! buffer a program uses, the ring's own reservation, which native code
//! calls directly where the verifier found the map the same on every
//! path, as it calls a hash table's search ([`crate::DirectLookup`]). A
//! ring with no room answers null there, and the program goes on without
//! leaving native code; only a sample reserved goes to the vm, which
//! makes it accessible and tells the embedder, as the helper would have
//! ([`crate::TierRun::register_reservation`]).

/// A ring buffer's reservation: `reserve(ring, size, flags)` returns the
/// address of a sample of `size` bytes, or null. It never unwinds.
pub type ReserveFn = unsafe extern "C" fn(ring: *const (), size: u64, flags: u64) -> *mut u8;

/// What the embedder does besides reserving, for a sample reserved at
/// `sample` in the ring buffer it tagged `tag` ([`DirectReserve::tag`]):
/// remembers it for the submit or discard that releases it.
pub type RecordReservation<E> = fn(env: &mut E, sample: u64, tag: u64);

/// The reserve helper's work on one ring buffer that a tier may call
/// directly.
///
/// The embedder promises that its reserve helper, called with this ring
/// buffer in `r1`, `size` in `r2` and `flags` in `r3`, returns
/// `reserve(ring, size, flags)` and, when that is not null, first calls
/// the [`RecordReservation`] it gave with the sample and `tag`, then makes
/// the `size` bytes there a writable region of kind
/// [`crate::RegionKind::Memory`] for the rest of the run; that it fails in
/// no other way than registering that region can
/// ([`crate::HelperError::TooManyRegions`]) and changes nothing else of
/// the run. `reserve` may be called with `ring` from any thread for as
/// long as the program lives, and a sample's memory stays mapped as long.
/// A tier that releases every sample it reserves itself
/// ([`crate::DirectCommits`]) skips the record.
#[derive(Clone, Copy, Debug)]
pub struct DirectReserve {
    /// The reservation.
    pub reserve: ReserveFn,
    /// Its first argument: the ring buffer.
    pub ring: *const (),
    /// What the embedder's [`RecordReservation`] is given to know the map.
    pub tag: u64,
}

// SAFETY: the embedder promises that `reserve` may be called with `ring`
// from any thread (see the type's documentation).
unsafe impl Send for DirectReserve {}
// SAFETY: as for `Send`: nothing here is mutated through `&self`.
unsafe impl Sync for DirectReserve {}

/// The ring buffer reservations of one program: the helper that makes
/// them, by map index the ring buffers, and what the embedder records.
pub(crate) struct Reserves<E> {
    pub(crate) helper_id: u32,
    pub(crate) by_map: Vec<Option<DirectReserve>>,
    pub(crate) record: RecordReservation<E>,
}
