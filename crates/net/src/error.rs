//! The errors of live packet I/O.

use thiserror::Error;

/// Why an interface, socket or ring could not be set up or used.
#[derive(Debug, Error)]
pub enum NetError {
    /// No interface has that name (or it disappeared).
    #[error("interface {name:?}: no such interface")]
    NoSuchInterface {
        /// The name asked for.
        name: String,
    },
    /// A system call failed; `what` says which step.
    #[error("{what}: {source}")]
    Os {
        /// The step that failed (`socket(AF_PACKET)`, `mmap of the RX ring`, ...).
        what: String,
        /// The kernel's answer.
        source: std::io::Error,
    },
    /// Live packet I/O needs privileges the process lacks.
    #[error(
        "{what}: permission denied (live packet I/O needs root: CAP_NET_RAW for packet \
         sockets, CAP_NET_ADMIN and CAP_BPF for AF_XDP, TAP devices and XDP programs)"
    )]
    Privilege {
        /// The step that was refused.
        what: String,
    },
    /// The interface went down or away while frames were being read.
    #[error("interface {ifindex} went down or disappeared")]
    InterfaceGone {
        /// Its ifindex.
        ifindex: u32,
    },
    /// The kernel refused an optional kind of program this host does not
    /// allow (as some hosts refuse fexit programs, even to root).
    #[error("{what}: this host refuses it ({answer})")]
    Refused {
        /// What was asked.
        what: String,
        /// The kernel's answer.
        answer: String,
    },
    /// A setting that cannot work (a ring size, a queue count).
    #[error("{0}")]
    Config(String),
}

impl NetError {
    /// The error of the system call `what` that just failed (from `errno`).
    pub(crate) fn last_os(what: impl Into<String>) -> NetError {
        NetError::os(what, std::io::Error::last_os_error())
    }

    /// `source` as the failure of `what`; EPERM/EACCES say what privilege is missing.
    pub(crate) fn os(what: impl Into<String>, source: std::io::Error) -> NetError {
        let what = what.into();
        match source.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => NetError::Privilege { what },
            _ => NetError::Os { what, source },
        }
    }
}
