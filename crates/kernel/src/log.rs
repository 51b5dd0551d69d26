//! The verifier / BTF log buffer protocol shared by `BPF_PROG_LOAD` and
//! `BPF_BTF_LOAD`.

use crate::error::{Errno, Error};

/// `log_level` bits of `BPF_PROG_LOAD` and `BPF_BTF_LOAD`.
pub mod log_level {
    /// No log (on failure the load is retried at [`BASIC`] to explain why).
    pub const NONE: u32 = 0;
    /// The verifier's messages about the failing path.
    pub const BASIC: u32 = 1;
    /// Every instruction processed, with register state.
    pub const VERBOSE: u32 = 2;
    /// `BPF_LOG_STATS`: totals (instructions processed, states, time).
    pub const STATS: u32 = 4;
}

/// Default first log buffer: large enough for most failures at level 1.
pub const DEFAULT_LOG_SIZE: usize = 64 * 1024;

/// The kernel rejects log buffers smaller than this.
const MIN_LOG_SIZE: usize = 128;

/// We stop growing the log here; the kernel's own limit is `UINT_MAX >> 2`.
pub const MAX_LOG_SIZE: usize = 256 * 1024 * 1024;

/// One attempt's outcome: the syscall result and the `log_true_size` the
/// kernel reported (0 before Linux 6.4).
pub(crate) struct Attempt {
    pub result: Result<i64, Errno>,
    pub log_true_size: u32,
}

/// Runs `attempt(log_buffer, level)` until the kernel stops answering `ENOSPC`
/// for a truncated log, growing the buffer each time. With level 0 a failed
/// load is retried at level 1 so the error can carry the log.
///
/// Returns the final result and the log text.
pub(crate) fn run_with_log(
    what: &'static str,
    level: u32,
    initial_size: usize,
    mut attempt: impl FnMut(&mut [u8], u32) -> Attempt,
) -> Result<(Result<i64, Errno>, String), Error> {
    if level == log_level::NONE {
        let first = attempt(&mut [], log_level::NONE);
        if first.result.is_ok() {
            return Ok((first.result, String::new()));
        }
        return run_with_log(what, log_level::BASIC, initial_size, attempt);
    }
    let mut size = initial_size.clamp(MIN_LOG_SIZE, MAX_LOG_SIZE);
    loop {
        let mut buffer = vec![0u8; size];
        let outcome = attempt(&mut buffer, level);
        let truncated = outcome.result == Err(Errno(libc::ENOSPC));
        if !truncated {
            return Ok((outcome.result, log_text(&buffer)));
        }
        if size >= MAX_LOG_SIZE {
            return Err(Error::LogTooLarge {
                what,
                needed: u64::from(outcome.log_true_size),
                limit: MAX_LOG_SIZE,
            });
        }
        let needed = outcome.log_true_size as usize;
        size = needed.max(size.saturating_mul(2)).min(MAX_LOG_SIZE);
    }
}

/// The text before the first NUL, lossily decoded.
fn log_text(buffer: &[u8]) -> String {
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(buffer.get(..end).unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake kernel whose log needs `needed` bytes and which fails after
    /// writing it with `errno`.
    fn fake_kernel(needed: usize, errno: i32) -> impl FnMut(&mut [u8], u32) -> Attempt {
        move |buf: &mut [u8], level: u32| {
            if level == 0 {
                return Attempt {
                    result: Err(Errno(errno)),
                    log_true_size: 0,
                };
            }
            let text = b"x".repeat(needed - 1);
            let fits = buf.len() >= needed;
            let copy = if fits { needed - 1 } else { buf.len() - 1 };
            buf[..copy].copy_from_slice(&text[..copy]);
            Attempt {
                result: if fits {
                    Err(Errno(errno))
                } else {
                    Err(Errno(libc::ENOSPC))
                },
                log_true_size: needed as u32,
            }
        }
    }

    #[test]
    fn grows_until_the_whole_log_fits() {
        let (result, log) = run_with_log("test", 1, 128, fake_kernel(5000, libc::EACCES)).unwrap();
        assert_eq!(result, Err(Errno(libc::EACCES)));
        assert_eq!(log.len(), 4999);
    }

    #[test]
    fn level_zero_failure_retries_with_a_log() {
        let (result, log) = run_with_log("test", 0, 128, fake_kernel(10, libc::EINVAL)).unwrap();
        assert_eq!(result, Err(Errno(libc::EINVAL)));
        assert_eq!(log, "x".repeat(9));
    }

    #[test]
    fn refuses_to_grow_past_the_limit() {
        let always_full = |_: &mut [u8], _: u32| Attempt {
            result: Err(Errno(libc::ENOSPC)),
            log_true_size: u32::MAX,
        };
        let error = run_with_log("test", 2, MAX_LOG_SIZE, always_full).unwrap_err();
        assert!(matches!(error, Error::LogTooLarge { .. }), "{error}");
    }
}
