//! Network interfaces by name: ifindex and receive queue count.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::NetError;

/// A network interface of the current network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name (`eth0`, `veth1`).
    pub name: String,
    /// Its ifindex.
    pub ifindex: u32,
}

impl Interface {
    /// The interface named `name`.
    pub fn by_name(name: &str) -> Result<Interface, NetError> {
        let missing = || NetError::NoSuchInterface {
            name: name.to_owned(),
        };
        let c_name = CString::new(name).map_err(|_| missing())?;
        // SAFETY: `c_name` is a valid NUL-terminated string.
        let ifindex = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
        if ifindex == 0 {
            return Err(missing());
        }
        Ok(Interface {
            name: name.to_owned(),
            ifindex,
        })
    }

    /// Its receive queues, as `/sys/class/net/NAME/queues` lists them
    /// (1 when sysfs does not say: every device has at least one). Sysfs
    /// shows the network namespace it was mounted in (`ip netns exec`
    /// mounts the namespace's own).
    pub fn rx_queues(&self) -> u32 {
        let dir = format!("/sys/class/net/{}/queues", self.name);
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 1;
        };
        let count = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
            .count();
        u32::try_from(count).unwrap_or(u32::MAX).max(1)
    }

    /// Its hardware address (`SIOCGIFHWADDR`, in the calling thread's
    /// network namespace).
    pub fn mac(&self) -> Option<[u8; 6]> {
        let sock = control_socket().ok()?;
        let mut req = IfReq::named(&self.name).ok()?;
        ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFHWADDR as _,
            &mut req,
            "SIOCGIFHWADDR",
        )
        .ok()?;
        // struct sockaddr: family, then the address bytes.
        req.data[2..8].try_into().ok()
    }

    /// Whether it still exists under the same ifindex.
    pub fn exists(&self) -> bool {
        Interface::by_name(&self.name).is_ok_and(|i| i.ifindex == self.ifindex)
    }
}

/// `struct ifreq` with the fields used here (flags or a hardware address).
#[repr(C)]
pub(crate) struct IfReq {
    pub(crate) name: [u8; libc::IFNAMSIZ],
    pub(crate) data: [u8; 24],
}

impl IfReq {
    pub(crate) fn named(name: &str) -> Result<IfReq, NetError> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(NetError::Config(format!("bad interface name {name:?}")));
        }
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            data: [0; 24],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        Ok(req)
    }

    pub(crate) fn set_flags(&mut self, flags: libc::c_short) {
        self.data[..2].copy_from_slice(&flags.to_ne_bytes());
    }

    pub(crate) fn flags(&self) -> libc::c_short {
        libc::c_short::from_ne_bytes([self.data[0], self.data[1]])
    }
}

pub(crate) fn ioctl(
    fd: i32,
    request: libc::c_ulong,
    req: &mut IfReq,
    what: &str,
) -> Result<(), NetError> {
    // SAFETY: `req` is a live ifreq-sized buffer the request reads and writes.
    if unsafe { libc::ioctl(fd, request as _, std::ptr::from_mut(req)) } != 0 {
        return Err(NetError::last_os(what.to_owned()));
    }
    Ok(())
}

/// A datagram socket for interface ioctls (of the caller's namespace).
pub(crate) fn control_socket() -> Result<OwnedFd, NetError> {
    // SAFETY: plain socket creation.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(NetError::last_os("socket for interface ioctls"));
    }
    // SAFETY: `sock` was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(sock) })
}
