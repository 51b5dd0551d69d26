//! The typed error every map operation returns, convertible to the errno the
//! kernel would have returned for the same request.

use thiserror::Error;

/// Why a map operation failed. Each variant names the kernel errno it stands
/// for, so the helper layer can hand programs exactly what the kernel does.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MapError {
    /// `ENOENT`: no element with that key (or nothing to pop / no next key).
    #[error("no such element (ENOENT)")]
    NotFound,
    /// `EEXIST`: `BPF_NOEXIST` was given but the key is present.
    #[error("element already exists (EEXIST)")]
    AlreadyExists,
    /// `E2BIG`: the map is full, or an index is at or beyond `max_entries`,
    /// or a size is beyond what the map type allows.
    #[error("too big: {0} (E2BIG)")]
    TooBig(&'static str),
    /// `EINVAL`: the request is malformed for this map type.
    #[error("invalid argument: {0} (EINVAL)")]
    Invalid(&'static str),
    /// `ENOMEM`: memory for the map or an element could not be obtained.
    #[error("out of memory: {0} (ENOMEM)")]
    NoMemory(&'static str),
    /// `EBUSY`: the map is locked by a concurrent user that cannot be waited for.
    #[error("busy (EBUSY)")]
    Busy,
    /// `EPERM`: the map's access flags (`BPF_F_RDONLY`/`BPF_F_WRONLY`) forbid this.
    #[error("operation not permitted by the map's access flags (EPERM)")]
    PermissionDenied,
    /// `ENOSPC`: no room (LPM trie at `max_entries`, full perf buffer).
    #[error("no space left (ENOSPC)")]
    NoSpace,
    /// `EAGAIN`: a ring buffer could not reserve room for a record.
    #[error("try again: ring buffer full (EAGAIN)")]
    TryAgain,
    /// `EBADF`: a program/map/socket reference stored in the map is not valid.
    #[error("bad file descriptor or object id (EBADF)")]
    BadFd,
    /// `ENOTSOCK`: a socket map was given an fd that is not a socket (in
    /// Apiary, which has no sockets, every fd).
    #[error("not a socket (ENOTSOCK)")]
    NotSocket,
    /// `ENODEV`: a cpumap key names a CPU that is not possible.
    #[error("no such device or CPU (ENODEV)")]
    NoDevice,
    /// `EOPNOTSUPP`: the kernel refuses this operation for this map type.
    #[error("operation not supported: {0} (EOPNOTSUPP)")]
    NotSupported(&'static str),
    /// `EOVERFLOW`: a cpumap queue size above the kernel's sanity limit.
    #[error("value out of range: {0} (EOVERFLOW)")]
    Overflow(&'static str),
    /// `ENOTSUPP` (524, kernel-internal errno that does leak to user space).
    #[error("operation not supported: {0} (ENOTSUPP)")]
    KernelNotSupported(&'static str),
    /// A buffer handed in by the caller is shorter or longer than the map
    /// requires. The kernel copies a fixed size from user memory, so this has
    /// no errno of its own there; `EINVAL` is the closest.
    #[error("buffer of {got} bytes where {expected} are required for the {what}")]
    BadLength {
        /// Which buffer (key, value, ...).
        what: &'static str,
        /// Bytes required.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
}

/// Kernel-internal `ENOTSUPP`, which some map operations return to user space.
pub const ENOTSUPP: i32 = 524;

impl MapError {
    /// The kernel's return value for this error: a negative errno.
    pub fn errno(&self) -> i32 {
        -match self {
            MapError::NotFound => libc::ENOENT,
            MapError::AlreadyExists => libc::EEXIST,
            MapError::TooBig(_) => libc::E2BIG,
            MapError::Invalid(_) | MapError::BadLength { .. } => libc::EINVAL,
            MapError::NoMemory(_) => libc::ENOMEM,
            MapError::Busy => libc::EBUSY,
            MapError::PermissionDenied => libc::EPERM,
            MapError::NoSpace => libc::ENOSPC,
            MapError::TryAgain => libc::EAGAIN,
            MapError::BadFd => libc::EBADF,
            MapError::NotSocket => libc::ENOTSOCK,
            MapError::NoDevice => libc::ENODEV,
            MapError::NotSupported(_) => libc::EOPNOTSUPP,
            MapError::Overflow(_) => libc::EOVERFLOW,
            MapError::KernelNotSupported(_) => ENOTSUPP,
        }
    }
}

/// Result alias for map operations.
pub type Result<T> = std::result::Result<T, MapError>;

/// Checks that `buf` is exactly `expected` bytes long.
pub(crate) fn check_len(what: &'static str, buf: &[u8], expected: usize) -> Result<()> {
    if buf.len() == expected {
        Ok(())
    } else {
        Err(MapError::BadLength {
            what,
            expected,
            got: buf.len(),
        })
    }
}
