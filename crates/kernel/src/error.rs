//! Errors: the kernel's errno, verifier and BTF logs, and our own argument checks.

use std::fmt;

/// An errno value returned by the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

impl Errno {
    /// The calling thread's current `errno`.
    pub(crate) fn last() -> Self {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// The symbolic name (`ENOENT`, ...) of the errno values the bpf syscall
    /// returns, or `None` for others.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            libc::EPERM => "EPERM",
            libc::ENOENT => "ENOENT",
            libc::ESRCH => "ESRCH",
            libc::EINTR => "EINTR",
            libc::E2BIG => "E2BIG",
            libc::EBADF => "EBADF",
            libc::EAGAIN => "EAGAIN",
            libc::ENOMEM => "ENOMEM",
            libc::EACCES => "EACCES",
            libc::EFAULT => "EFAULT",
            libc::EBUSY => "EBUSY",
            libc::EEXIST => "EEXIST",
            libc::ENODEV => "ENODEV",
            libc::ENOTDIR => "ENOTDIR",
            libc::EINVAL => "EINVAL",
            libc::ENOSPC => "ENOSPC",
            libc::ERANGE => "ERANGE",
            libc::ENOSYS => "ENOSYS",
            libc::ELOOP => "ELOOP",
            libc::ENOTSUP => "EOPNOTSUPP",
            ENOTSUPP => "ENOTSUPP",
            _ => return None,
        })
    }
}

/// Linux's internal `ENOTSUPP` (524), which leaks to user space from some bpf
/// paths; `libc` does not define it.
const ENOTSUPP: i32 = 524;

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = std::io::Error::from_raw_os_error(self.0);
        match self.name() {
            Some(name) => write!(f, "{name} ({text})"),
            None => write!(f, "errno {} ({text})", self.0),
        }
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bpf command failed with an errno.
    #[error("{command} failed: {errno}")]
    Syscall {
        /// The `enum bpf_cmd` name, e.g. `BPF_MAP_UPDATE_ELEM`.
        command: &'static str,
        /// The kernel's error code.
        errno: Errno,
    },
    /// `BPF_PROG_LOAD` failed; the verifier log says why.
    #[error("BPF_PROG_LOAD failed: {errno}\nverifier log:\n{log}")]
    ProgLoad {
        /// The kernel's error code (`EACCES`/`EINVAL` for verifier rejections).
        errno: Errno,
        /// The verifier log (empty if the kernel wrote none).
        log: String,
    },
    /// `BPF_BTF_LOAD` failed; the BTF log says why.
    #[error("BPF_BTF_LOAD failed: {errno}\nBTF log:\n{log}")]
    BtfLoad {
        /// The kernel's error code.
        errno: Errno,
        /// The kernel's BTF checker log (empty if it wrote none).
        log: String,
    },
    /// A buffer does not have the size the map or kernel requires.
    #[error("{what} is {actual} bytes but must be {expected}")]
    BufferSize {
        /// Which buffer (`key`, `value`, ...).
        what: &'static str,
        /// The size required.
        expected: usize,
        /// The size given.
        actual: usize,
    },
    /// Instructions are passed as 8-byte slots; this length is not a multiple of 8.
    #[error("instruction bytes are {0} long, not a multiple of 8")]
    InsnsLength(usize),
    /// A record array (func_info, line_info) length is not a multiple of its record size.
    #[error("{what}: {len} bytes is not a whole number of {rec_size}-byte records")]
    RecordLength {
        /// Which array.
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The declared record size.
        rec_size: u32,
    },
    /// A length does not fit the kernel's 32-bit field.
    #[error("{what} of {len} does not fit in 32 bits")]
    TooLarge {
        /// Which length.
        what: &'static str,
        /// Its value.
        len: usize,
    },
    /// Kernel object names hold at most 15 bytes.
    #[error("object name {name:?} is longer than 15 bytes")]
    NameTooLong {
        /// The rejected name.
        name: String,
    },
    /// A string passed to the kernel contains a NUL byte.
    #[error("{what} contains a NUL byte")]
    InteriorNul {
        /// Which string.
        what: &'static str,
    },
    /// The kernel's log kept growing past the largest buffer we allow.
    #[error("the {what} log needs {needed} bytes, more than the {limit}-byte limit")]
    LogTooLarge {
        /// `verifier` or `BTF`.
        what: &'static str,
        /// Bytes the kernel asked for.
        needed: u64,
        /// Our limit.
        limit: usize,
    },
    /// Reading a system file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// `/sys/devices/system/cpu/possible` held something other than a CPU list.
    #[error("cannot parse CPU list {text:?}: {reason}")]
    CpuList {
        /// The text read.
        text: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An fd refers to another kind of object than the one asked for.
    #[error("expected a {wanted}, found a {found}")]
    WrongObjectKind {
        /// The kind asked for.
        wanted: crate::ObjectKind,
        /// The kind found.
        found: crate::ObjectKind,
    },
    /// A pathname syscall (mount, statfs) failed.
    #[error("{what} {path}: {errno}")]
    Path {
        /// The operation.
        what: &'static str,
        /// The path.
        path: String,
        /// The kernel's error code.
        errno: Errno,
    },
}

impl Error {
    /// The kernel errno behind this error, if the kernel produced it.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Syscall { errno, .. }
            | Error::ProgLoad { errno, .. }
            | Error::BtfLoad { errno, .. }
            | Error::Path { errno, .. } => Some(*errno),
            Error::Io { source, .. } => source.raw_os_error().map(Errno),
            _ => None,
        }
    }

    /// For a program the verifier refused: its final error line, the last
    /// line before the statistics line (`processed N insns ...`). `None`
    /// for other errors, and for refusals without a log (attach or
    /// permission failures before verification).
    pub fn verifier_error(&self) -> Option<&str> {
        let Error::ProgLoad { log, .. } = self else {
            return None;
        };
        let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        match lines.iter().rposition(|l| l.starts_with("processed ")) {
            Some(i) if i > 0 => Some(lines[i - 1]),
            _ => lines.last().copied(),
        }
    }

    pub(crate) fn syscall(command: crate::sys::Cmd, errno: Errno) -> Self {
        Error::Syscall {
            command: command.name(),
            errno,
        }
    }
}

/// Why the `bpf()` syscall cannot be used on this machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// Not Linux: there is no `bpf()` syscall at all.
    #[error("this is not Linux, which has no bpf() syscall")]
    NotLinux,
    /// The kernel was built without `CONFIG_BPF_SYSCALL` (or a seccomp filter hides it).
    #[error(
        "bpf() returns ENOSYS: the kernel lacks CONFIG_BPF_SYSCALL or a seccomp filter blocks it"
    )]
    NoSyscall,
    /// The caller lacks `CAP_BPF`/`CAP_SYS_ADMIN` and unprivileged bpf is disabled.
    #[error(
        "bpf() returns {0}: run as root or with CAP_BPF (kernel.unprivileged_bpf_disabled forbids unprivileged use)"
    )]
    PermissionDenied(Errno),
    /// Creating a one-element array map failed for another reason.
    #[error("bpf(BPF_MAP_CREATE) of a 1-entry array map fails: {0}")]
    Other(Errno),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
