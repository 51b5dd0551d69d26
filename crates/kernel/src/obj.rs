//! Object commands shared by maps, programs and BTF: pinning, ids, info, and
//! the bpffs mount pins live on.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Errno, Error, Result};
use crate::map::fd_u32;
use crate::sys::{self, AlignedU64, Attr, Cmd, IdAttr, InfoAttr, ObjAttr};

/// `BPF_FS_MAGIC`: `statfs.f_type` of a bpffs mount.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// What kind of bpf object an fd refers to, as its anonymous inode names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectKind {
    /// `anon_inode:bpf-map`.
    Map,
    /// `anon_inode:bpf-prog`.
    Prog,
    /// `anon_inode:bpf-link`.
    Link,
    /// `anon_inode:btf`.
    Btf,
    /// Anything else, with the `/proc/self/fd` link target.
    Other(String),
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectKind::Map => f.write_str("map"),
            ObjectKind::Prog => f.write_str("program"),
            ObjectKind::Link => f.write_str("link"),
            ObjectKind::Btf => f.write_str("BTF object"),
            ObjectKind::Other(target) => write!(f, "non-bpf file {target:?}"),
        }
    }
}

/// Tells maps, programs, links and BTF apart (as bpftool does), by reading
/// the `/proc/self/fd` link: `BPF_OBJ_GET_INFO_BY_FD` would happily fill a
/// map info struct from a program fd.
pub fn object_kind(fd: BorrowedFd<'_>) -> Result<ObjectKind> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let target = std::fs::read_link(&link).map_err(|source| Error::Io { path: link, source })?;
    let target = target.to_string_lossy();
    Ok(match target.as_ref() {
        "anon_inode:bpf-map" => ObjectKind::Map,
        "anon_inode:bpf-prog" => ObjectKind::Prog,
        "anon_inode:bpf-link" => ObjectKind::Link,
        "anon_inode:btf" => ObjectKind::Btf,
        other => ObjectKind::Other(other.to_owned()),
    })
}

/// Fails with [`Error::WrongObjectKind`] unless `fd` is a `wanted`.
pub(crate) fn expect_kind(fd: BorrowedFd<'_>, wanted: ObjectKind) -> Result<()> {
    let found = object_kind(fd)?;
    if found == wanted {
        Ok(())
    } else {
        Err(Error::WrongObjectKind { wanted, found })
    }
}

/// Takes ownership of the fd a successful command returned.
pub(crate) fn new_fd(cmd: Cmd, result: std::result::Result<i64, Errno>) -> Result<OwnedFd> {
    let raw = result.map_err(|errno| Error::syscall(cmd, errno))?;
    let raw = i32::try_from(raw).map_err(|_| Error::syscall(cmd, Errno(libc::EBADF)))?;
    // SAFETY: the kernel just returned this fd to us and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::InteriorNul { what: "path" })
}

/// Pins the object behind `fd` at `path`, which must lie on a bpffs
/// (`BPF_OBJ_PIN`). `EEXIST` if the path exists, `EPERM` outside bpffs.
pub fn pin(fd: BorrowedFd<'_>, path: &Path) -> Result<()> {
    let pathname = c_path(path)?;
    let mut attr = ObjAttr {
        pathname: AlignedU64::ptr(pathname.as_ptr()),
        bpf_fd: fd_u32(fd),
        ..ObjAttr::default()
    };
    // SAFETY: pathname is a live NUL-terminated string.
    unsafe { sys::bpf(Cmd::ObjPin, &mut attr) }
        .map(drop)
        .map_err(|errno| Error::syscall(Cmd::ObjPin, errno))
}

/// Opens the object pinned at `path` (`BPF_OBJ_GET`), whatever its kind.
/// `file_flags` takes [`crate::types::open_flags`].
pub fn get_pinned(path: &Path, file_flags: u32) -> Result<OwnedFd> {
    let pathname = c_path(path)?;
    let mut attr = ObjAttr {
        pathname: AlignedU64::ptr(pathname.as_ptr()),
        file_flags,
        ..ObjAttr::default()
    };
    // SAFETY: pathname is a live NUL-terminated string.
    new_fd(Cmd::ObjGet, unsafe { sys::bpf(Cmd::ObjGet, &mut attr) })
}

/// Opens an object by kernel id with one of the `*_GET_FD_BY_ID` commands.
pub(crate) fn fd_by_id(cmd: Cmd, id: u32, open_flags: u32) -> Result<OwnedFd> {
    let mut attr = IdAttr {
        start_id: id,
        open_flags,
        ..IdAttr::default()
    };
    // SAFETY: no pointers.
    new_fd(cmd, unsafe { sys::bpf(cmd, &mut attr) })
}

fn next_id(cmd: Cmd, start: u32) -> Result<Option<u32>> {
    let mut attr = IdAttr {
        start_id: start,
        ..IdAttr::default()
    };
    // SAFETY: no pointers.
    match unsafe { sys::bpf(cmd, &mut attr) } {
        Ok(_) => Ok(Some(attr.next_id)),
        Err(Errno(libc::ENOENT)) => Ok(None),
        Err(errno) => Err(Error::syscall(cmd, errno)),
    }
}

/// The smallest program id greater than `start` (`BPF_PROG_GET_NEXT_ID`);
/// start from 0 to list all.
pub fn next_prog_id(start: u32) -> Result<Option<u32>> {
    next_id(Cmd::ProgGetNextId, start)
}

/// The smallest map id greater than `start` (`BPF_MAP_GET_NEXT_ID`).
pub fn next_map_id(start: u32) -> Result<Option<u32>> {
    next_id(Cmd::MapGetNextId, start)
}

/// The smallest BTF object id greater than `start` (`BPF_BTF_GET_NEXT_ID`).
pub fn next_btf_id(start: u32) -> Result<Option<u32>> {
    next_id(Cmd::BtfGetNextId, start)
}

/// Opens the BTF object with kernel id `id` (`BPF_BTF_GET_FD_BY_ID`).
pub fn btf_fd_by_id(id: u32) -> Result<OwnedFd> {
    fd_by_id(Cmd::BtfGetFdById, id, 0)
}

/// Runs `BPF_OBJ_GET_INFO_BY_FD` into `info`, whose pointer/length pairs the
/// caller set (all others zero).
pub(crate) fn get_info<I: Attr>(fd: BorrowedFd<'_>, info: &mut I) -> Result<()> {
    let len = u32::try_from(size_of::<I>()).map_err(|_| Error::TooLarge {
        what: "info struct",
        len: size_of::<I>(),
    })?;
    let mut attr = InfoAttr {
        bpf_fd: fd_u32(fd),
        info_len: len,
        info: AlignedU64::ptr(std::ptr::from_mut(info)),
    };
    // SAFETY: info is a live #[repr(C)] struct of info_len bytes; the caller
    // guarantees the buffers it points to.
    unsafe { sys::bpf(Cmd::ObjGetInfoByFd, &mut attr) }
        .map(drop)
        .map_err(|errno| Error::syscall(Cmd::ObjGetInfoByFd, errno))
}

/// Whether `dir` is the root or inside of a bpffs mount.
pub fn is_bpffs(dir: &Path) -> Result<bool> {
    let path = c_path(dir)?;
    // SAFETY: statfs is plain data; zero is a valid value.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated and stat is a live statfs.
    if unsafe { libc::statfs(path.as_ptr(), &mut stat) } != 0 {
        return Err(Error::Path {
            what: "statfs",
            path: dir.display().to_string(),
            errno: Errno::last(),
        });
    }
    #[allow(
        clippy::unnecessary_cast,
        reason = "f_type's width differs between targets"
    )]
    Ok(stat.f_type as i64 == BPF_FS_MAGIC)
}

/// Makes sure a bpffs is mounted at `dir` (usually `/sys/fs/bpf`), mounting
/// one if not; needs `CAP_SYS_ADMIN`.
pub fn ensure_bpffs(dir: &Path) -> Result<()> {
    if is_bpffs(dir)? {
        return Ok(());
    }
    let target = c_path(dir)?;
    let fstype = c"bpf";
    // SAFETY: all strings are NUL-terminated and outlive the call; data is NULL.
    let ret = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if ret != 0 {
        return Err(Error::Path {
            what: "mount bpffs at",
            path: dir.display().to_string(),
            errno: Errno::last(),
        });
    }
    Ok(())
}
