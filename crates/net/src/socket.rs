//! Plain packet sockets: options, binding to an interface, sending a frame
//! out of any interface, and receiving one frame at a time (the traffic
//! side of tests and benchmarks, and the transmit half of the packet port).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::NetError;

/// `ETH_P_ALL` in network order: every protocol.
pub(crate) fn eth_p_all() -> u16 {
    (libc::ETH_P_ALL as u16).to_be()
}

/// `setsockopt(fd, SOL_PACKET, option, value)`.
pub(crate) fn set_option<T>(
    fd: BorrowedFd<'_>,
    option: libc::c_int,
    value: &T,
    what: &str,
) -> Result<(), NetError> {
    set_option_at(fd, libc::SOL_PACKET, option, value, what)
}

/// `setsockopt(fd, level, option, value)`.
pub(crate) fn set_option_at<T>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    option: libc::c_int,
    value: &T,
    what: &str,
) -> Result<(), NetError> {
    // SAFETY: `value` is a live `T` of the size given.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            option,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(NetError::last_os(format!("setsockopt {what}")));
    }
    Ok(())
}

/// Makes the packet socket `fd` see only frames arriving on its device,
/// never the ones sent out of it (by the host or by Apiary).
pub(crate) fn ignore_outgoing(fd: BorrowedFd<'_>) -> Result<(), NetError> {
    let one: libc::c_int = 1;
    set_option(
        fd,
        libc::PACKET_IGNORE_OUTGOING,
        &one,
        "PACKET_IGNORE_OUTGOING",
    )
}

/// A new `AF_PACKET` raw socket receiving `protocol` (network order; 0
/// receives nothing, for sockets that only send).
pub(crate) fn packet_socket(protocol: u16) -> Result<OwnedFd, NetError> {
    // SAFETY: plain socket creation.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::c_int::from(protocol),
        )
    };
    if fd < 0 {
        return Err(NetError::last_os("socket(AF_PACKET)"));
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn link_address(ifindex: u32, protocol: u16) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol;
    addr.sll_ifindex = ifindex as i32;
    addr
}

/// Binds `fd` to interface `ifindex` for `protocol` (network order).
pub(crate) fn bind(fd: BorrowedFd<'_>, ifindex: u32, protocol: u16) -> Result<(), NetError> {
    let addr = link_address(ifindex, protocol);
    // SAFETY: `addr` is a valid sockaddr_ll of the size given.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(match std::io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::ENODEV) => NetError::InterfaceGone { ifindex },
            e => NetError::os(format!("bind to interface {ifindex}"), e),
        });
    }
    Ok(())
}

/// Waits up to `timeout_ms` until the socket `fd` of interface `ifindex`
/// has something to read. A pending socket error of a device that went
/// down or away (`ENETDOWN`) is [`NetError::InterfaceGone`]; it is also
/// looked for when the wait times out.
pub(crate) fn wait_readable(
    fd: BorrowedFd<'_>,
    timeout_ms: i32,
    ifindex: u32,
    what: &str,
) -> Result<(), NetError> {
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let rc = unsafe { libc::poll(&raw mut poll, 1, timeout_ms) };
    if rc < 0 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EINTR) {
            return Ok(());
        }
        return Err(NetError::os(format!("poll on {what}"), error));
    }
    // A pending error is looked at when poll reports one (packet sockets)
    // and when it times out: AF_XDP sockets never report POLLERR, but
    // their device's removal leaves ENETDOWN in SO_ERROR.
    if rc > 0 && poll.revents & libc::POLLERR == 0 {
        return Ok(());
    }
    let mut error: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `error` and `len` are valid for SO_ERROR.
    unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&raw mut error).cast(),
            &raw mut len,
        )
    };
    Err(match error {
        0 => return Ok(()),
        libc::ENETDOWN | libc::ENODEV | libc::ENXIO => NetError::InterfaceGone { ifindex },
        errno => NetError::os(what.to_owned(), std::io::Error::from_raw_os_error(errno)),
    })
}

/// Why one frame was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFailure {
    /// The device's queue was full (`ENOBUFS`/`EAGAIN`): the frame is lost,
    /// as a full transmit ring loses it in the kernel.
    QueueFull,
    /// The target interface does not exist or is down.
    NoDevice,
    /// The frame is larger than the device's MTU allows.
    TooLong,
    /// Any other errno.
    Other(i32),
}

impl SendFailure {
    /// The failure the last system call's errno means.
    fn last() -> SendFailure {
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ENOBUFS | libc::EAGAIN) => SendFailure::QueueFull,
            Some(libc::ENXIO | libc::ENODEV | libc::ENETDOWN) => SendFailure::NoDevice,
            Some(libc::EMSGSIZE) => SendFailure::TooLong,
            errno => SendFailure::Other(errno.unwrap_or(0)),
        }
    }
}

/// Sends frames out of any interface through one packet socket.
#[derive(Debug)]
pub struct PacketSender {
    fd: OwnedFd,
}

impl PacketSender {
    /// A socket that only sends (it receives nothing).
    pub fn new() -> Result<PacketSender, NetError> {
        let fd = packet_socket(0)?;
        Ok(PacketSender { fd })
    }

    /// Sends `frame` (Ethernet header first) out of interface `ifindex`,
    /// as it is: no checksum or header is added.
    pub fn send(&self, ifindex: u32, frame: &[u8]) -> Result<(), SendFailure> {
        let protocol = frame
            .get(12..14)
            .map_or(0, |t| u16::from_ne_bytes([t[0], t[1]]));
        let addr = link_address(ifindex, protocol);
        // SAFETY: `frame` and `addr` are live for the call.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                libc::MSG_DONTWAIT,
                (&raw const addr).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if rc >= 0 {
            return Ok(());
        }
        Err(SendFailure::last())
    }
}

impl PacketSender {
    /// Sends `frames` out of interface `ifindex` with one `sendmmsg`;
    /// returns how many the device took (fewer when its queue filled).
    pub fn send_batch(&self, ifindex: u32, frames: &[&[u8]]) -> Result<usize, SendFailure> {
        let Some(first) = frames.first() else {
            return Ok(0);
        };
        let protocol = first
            .get(12..14)
            .map_or(0, |t| u16::from_ne_bytes([t[0], t[1]]));
        let mut addr = link_address(ifindex, protocol);
        let mut iovecs: Vec<libc::iovec> = frames
            .iter()
            .map(|f| libc::iovec {
                iov_base: f.as_ptr().cast_mut().cast(),
                iov_len: f.len(),
            })
            .collect();
        let mut messages: Vec<libc::mmsghdr> = iovecs
            .iter_mut()
            .map(|iov| {
                // SAFETY: msghdr is plain data; all-zero is valid.
                let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
                header.msg_name = (&raw mut addr).cast();
                header.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
                header.msg_iov = std::ptr::from_mut(iov);
                header.msg_iovlen = 1;
                libc::mmsghdr {
                    msg_hdr: header,
                    msg_len: 0,
                }
            })
            .collect();
        // SAFETY: every header points at a live iovec, frame and address.
        let sent = unsafe {
            libc::sendmmsg(
                self.fd.as_raw_fd(),
                messages.as_mut_ptr(),
                messages.len() as u32,
                libc::MSG_DONTWAIT,
            )
        };
        if sent >= 0 {
            return Ok(sent as usize);
        }
        match SendFailure::last() {
            SendFailure::QueueFull => Ok(0),
            failure => Err(failure),
        }
    }

    /// Skips the device's queueing discipline (`PACKET_QDISC_BYPASS`), as
    /// a traffic generator does.
    pub fn bypass_qdisc(&self) -> Result<(), NetError> {
        let one: libc::c_int = 1;
        set_option(
            self.fd.as_fd(),
            libc::PACKET_QDISC_BYPASS,
            &one,
            "PACKET_QDISC_BYPASS",
        )
    }
}

impl AsFd for PacketSender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Receives the frames arriving on one interface, one `recv` each: the
/// other end of a test's link.
#[derive(Debug)]
pub struct PacketReceiver {
    fd: OwnedFd,
}

impl PacketReceiver {
    /// Receives every frame arriving on `ifindex` (not the ones it sends).
    pub fn bind(ifindex: u32) -> Result<PacketReceiver, NetError> {
        let fd = packet_socket(eth_p_all())?;
        ignore_outgoing(fd.as_fd())?;
        bind(fd.as_fd(), ifindex, eth_p_all())?;
        Ok(PacketReceiver { fd })
    }

    /// The next frame, or `None` after `wait` without one.
    pub fn recv(&self, wait: Duration) -> Result<Option<Vec<u8>>, NetError> {
        let mut poll = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(wait.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&raw mut poll, 1, ms) };
        if ready < 0 {
            return Err(NetError::last_os("poll"));
        }
        if ready == 0 {
            return Ok(None);
        }
        let mut buf = vec![0u8; 65536];
        // SAFETY: `buf` is writable for its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            return Err(NetError::last_os("recv"));
        }
        buf.truncate(n as usize);
        Ok(Some(buf))
    }
}
