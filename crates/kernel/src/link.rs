//! BPF links (`BPF_LINK_CREATE`): a program attached to a hook for as long
//! as the link's fd is open. Closing it (dropping [`LinkFd`]) detaches.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::error::Result;
use crate::map::fd_u32;
use crate::obj::new_fd;
use crate::sys::{self, Cmd, LinkCreateAttr};
use crate::types::AttachType;

/// An attachment, undone when dropped.
#[derive(Debug)]
pub struct LinkFd {
    fd: OwnedFd,
}

impl LinkFd {
    /// Attaches the XDP program `prog` to interface `ifindex`
    /// (`BPF_LINK_CREATE` with `BPF_XDP`). `flags` picks the mode
    /// ([`xdp_flags`]; 0 lets the kernel choose: native when the driver
    /// has it, else generic). `EBUSY` when another XDP program is attached.
    pub fn xdp(prog: BorrowedFd<'_>, ifindex: u32, flags: u32) -> Result<LinkFd> {
        let mut attr = LinkCreateAttr {
            prog_fd: fd_u32(prog),
            target: ifindex,
            attach_type: AttachType::XDP.0,
            flags,
        };
        // SAFETY: the attribute holds no pointers.
        let result = unsafe { sys::bpf(Cmd::LinkCreate, &mut attr) };
        Ok(LinkFd {
            fd: new_fd(Cmd::LinkCreate, result)?,
        })
    }
}

impl LinkFd {
    /// Attaches the tracing program `prog` (fentry, fexit, ...) to the
    /// function it was loaded for (`attach_btf_id`, and `attach_prog_fd`
    /// when that function is a BPF program's): `BPF_LINK_CREATE` with the
    /// program's `attach_type` and no target of its own.
    pub fn tracing(prog: BorrowedFd<'_>, attach_type: AttachType) -> Result<LinkFd> {
        let mut attr = LinkCreateAttr {
            prog_fd: fd_u32(prog),
            target: 0,
            attach_type: attach_type.0,
            flags: 0,
        };
        // SAFETY: the attribute holds no pointers.
        let result = unsafe { sys::bpf(Cmd::LinkCreate, &mut attr) };
        Ok(LinkFd {
            fd: new_fd(Cmd::LinkCreate, result)?,
        })
    }
}

impl AsFd for LinkFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `XDP_FLAGS_*` for [`LinkFd::xdp`].
pub mod xdp_flags {
    /// `XDP_FLAGS_SKB_MODE`: generic XDP, in the stack after the driver.
    pub const SKB_MODE: u32 = 1 << 1;
    /// `XDP_FLAGS_DRV_MODE`: native XDP in the driver.
    pub const DRV_MODE: u32 = 1 << 2;
}
