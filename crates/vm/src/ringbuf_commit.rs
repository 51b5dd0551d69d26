//! `bpf_ringbuf_submit` and `bpf_ringbuf_discard` a compiling tier may
//! call without the helper table ([`DirectCommits`]): the embedder hands
//! over the functions that commit a sample found from its address alone,
//! which native code calls where the verifier proved `r1` a reservation
//! the program has not released yet. A tier that reserves directly
//! ([`crate::DirectReserve`]) and releases every sample so needs no
//! record of them ([`crate::RecordReservation`]): the run never reaches
//! the helpers that would look a sample up.

/// `commit(sample, flags)`: 0 once the sample at `sample` is committed
/// with `flags`, 1 when it holds no reserved sample. It never unwinds.
///
/// # Safety
/// `sample` must be a sample one of the embedder's ring buffers reserved
/// and nothing released or overwrote the header of since.
pub type CommitFn = unsafe extern "C" fn(sample: u64, flags: u64) -> u64;

/// The submit and discard helpers' work, which a tier may call directly.
///
/// The embedder promises that its helper `submit_id` (`discard_id`),
/// given in `r1` a sample its reserve helper or a [`crate::DirectReserve`]
/// returned and in `r2` flags, returns 0 after `submit(sample, flags)`
/// (`discard`) returned 0, that the only other thing it does is forget
/// the sample's record, and that a sample it has no record of is still a
/// sample to these functions.
#[derive(Clone, Copy, Debug)]
pub struct DirectCommits {
    /// `bpf_ringbuf_submit`'s id.
    pub submit_id: u32,
    /// What it does.
    pub submit: CommitFn,
    /// `bpf_ringbuf_discard`'s id.
    pub discard_id: u32,
    /// What it does.
    pub discard: CommitFn,
}
