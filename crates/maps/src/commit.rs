//! `bpf_ringbuf_submit` and `bpf_ringbuf_discard` as plain C functions
//! ([`CommitFn`]), for native code that releases the samples it reserved
//! itself ([`crate::Reserve`]): the sample's header leads to its ring
//! buffer, as in the kernel, so a commit needs no map argument and no
//! record of the reservation.

use crate::ringbuf::commit_reserved;

/// `commit(sample, flags)`: 0 once the sample at `sample` is committed
/// (submitted or discarded) with `flags`, exactly as
/// [`crate::Map::ringbuf_submit`] / [`crate::Map::ringbuf_discard`] of its
/// ring buffer would; 1 when the address holds no reserved sample.
///
/// # Safety
/// `sample` must be a sample a ring buffer's reservation returned, in a
/// map still alive, not released since and whose header nothing wrote (a
/// verified program's live reservation).
pub type CommitFn = unsafe extern "C" fn(sample: u64, flags: u64) -> u64;

/// `bpf_ringbuf_submit` of a reserved sample.
pub const SUBMIT: CommitFn = submit;
/// `bpf_ringbuf_discard` of a reserved sample.
pub const DISCARD: CommitFn = discard;

unsafe extern "C" fn submit(sample: u64, flags: u64) -> u64 {
    // SAFETY: per `CommitFn`.
    u64::from(unsafe { commit_reserved(sample as usize, flags, false) }.is_err())
}

unsafe extern "C" fn discard(sample: u64, flags: u64) -> u64 {
    // SAFETY: per `CommitFn`.
    u64::from(unsafe { commit_reserved(sample as usize, flags, true) }.is_err())
}
