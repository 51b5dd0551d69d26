//! A TAP device: frames written to it arrive in the host's stack as if
//! received on it. `afxdp` mode takes frames away from the stack, so its
//! `XDP_PASS` hands them back through a TAP that carries the interface's
//! hardware address (frames addressed to the interface are then for this
//! host). The device exists while its file is open.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;

use crate::NetError;
use crate::iface::{IfReq, control_socket, ioctl};
use crate::socket::SendFailure;

/// `TUNSETIFF`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// `IFF_TAP | IFF_NO_PI`: Ethernet frames without a packet-info header.
const TAP_FLAGS: libc::c_short = 0x0002 | 0x1000;

/// A TAP device, removed when dropped.
#[derive(Debug)]
pub struct Tap {
    file: File,
    name: String,
}

impl Tap {
    /// Creates TAP `name` with hardware address `mac`, up, IPv6 off (it
    /// only carries frames in).
    pub fn create(name: &str, mac: [u8; 6]) -> Result<Tap, NetError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .map_err(|e| NetError::os("opening /dev/net/tun", e))?;
        let mut req = IfReq::named(name)?;
        req.set_flags(TAP_FLAGS);
        ioctl(file.as_raw_fd(), TUNSETIFF, &mut req, "TUNSETIFF")?;
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6"), "1");
        let sock = control_socket()?;
        let mut addr = IfReq::named(name)?;
        // struct sockaddr: family ARPHRD_ETHER, then the address.
        addr.data[..2].copy_from_slice(&1u16.to_ne_bytes());
        addr.data[2..8].copy_from_slice(&mac);
        ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFHWADDR as _,
            &mut addr,
            "SIOCSIFHWADDR",
        )?;
        let mut flags = IfReq::named(name)?;
        ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS as _,
            &mut flags,
            "SIOCGIFFLAGS",
        )?;
        flags.set_flags(flags.flags() | libc::IFF_UP as libc::c_short);
        ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFFLAGS as _,
            &mut flags,
            "SIOCSIFFLAGS",
        )?;
        Ok(Tap {
            file,
            name: name.to_owned(),
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hands `frame` to the host's stack.
    pub fn write(&self, frame: &[u8]) -> Result<(), SendFailure> {
        match (&self.file).write(frame) {
            // A TAP takes a frame whole or not at all.
            Ok(n) if n == frame.len() => Ok(()),
            Ok(_) => Err(SendFailure::TooLong),
            Err(e) => Err(match e.raw_os_error() {
                Some(libc::EAGAIN | libc::ENOBUFS) => SendFailure::QueueFull,
                Some(libc::EIO) => SendFailure::NoDevice,
                Some(libc::EINVAL | libc::EMSGSIZE) => SendFailure::TooLong,
                errno => SendFailure::Other(errno.unwrap_or(0)),
            }),
        }
    }
}
