//! `BPF_BTF_LOAD`: hands raw BTF bytes to the kernel's BTF checker.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::error::{Error, Result};
use crate::log::{self, Attempt};
use crate::obj;
use crate::sys::{self, AlignedU64, BtfInfoRaw, BtfLoadAttr, Cmd};

/// A BTF object loaded into the kernel.
#[derive(Debug)]
pub struct BtfFd {
    fd: OwnedFd,
}

/// A successful BTF load and the checker's log (empty at log level 0).
#[derive(Debug)]
pub struct LoadedBtf {
    /// The loaded BTF.
    pub btf: BtfFd,
    /// The kernel's log text.
    pub log: String,
}

impl BtfFd {
    /// Loads `data` (a complete `.BTF` blob: header, types, strings) with
    /// `log_level` from [`crate::log_level`]. On failure the error is
    /// [`Error::BtfLoad`] carrying the kernel's log.
    pub fn load(data: &[u8], log_level: u32) -> Result<LoadedBtf> {
        let btf_size = u32::try_from(data.len()).map_err(|_| Error::TooLarge {
            what: "BTF size",
            len: data.len(),
        })?;
        let (result, log) =
            log::run_with_log("BTF", log_level, log::DEFAULT_LOG_SIZE, |buffer, level| {
                let mut attr = BtfLoadAttr {
                    btf: AlignedU64::slice(data),
                    btf_log_buf: AlignedU64::slice_mut(buffer),
                    btf_size,
                    // The buffer never exceeds MAX_LOG_SIZE, far below u32::MAX.
                    btf_log_size: u32::try_from(buffer.len()).unwrap_or(u32::MAX),
                    btf_log_level: level,
                    ..BtfLoadAttr::default()
                };
                // SAFETY: data and buffer outlive the call with the sizes given.
                let result = unsafe { sys::bpf(Cmd::BtfLoad, &mut attr) };
                Attempt {
                    result,
                    log_true_size: attr.btf_log_true_size,
                }
            })?;
        match result {
            Ok(_) => Ok(LoadedBtf {
                btf: BtfFd {
                    fd: obj::new_fd(Cmd::BtfLoad, result)?,
                },
                log,
            }),
            Err(errno) => Err(Error::BtfLoad { errno, log }),
        }
    }

    /// Opens the BTF object with kernel id `id`.
    pub fn from_id(id: u32) -> Result<BtfFd> {
        Ok(BtfFd {
            fd: obj::btf_fd_by_id(id)?,
        })
    }

    /// The object's raw BTF bytes (header, types, strings), as
    /// `BPF_OBJ_GET_INFO_BY_FD` hands them out (bpftool's `btf__load_from_kernel_by_id`).
    pub fn data(&self) -> Result<Vec<u8>> {
        let mut info = BtfInfoRaw::default();
        obj::get_info(self.fd.as_fd(), &mut info)?;
        let mut data = vec![0u8; info.btf_size as usize];
        let mut info = BtfInfoRaw {
            btf: AlignedU64::slice_mut(&mut data),
            btf_size: u32::try_from(data.len()).unwrap_or(u32::MAX),
            ..BtfInfoRaw::default()
        };
        obj::get_info(self.fd.as_fd(), &mut info)?;
        // The object cannot grow; a smaller answer is kept as given.
        data.truncate(info.btf_size as usize);
        Ok(data)
    }
}

impl AsFd for BtfFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<BtfFd> for OwnedFd {
    fn from(btf: BtfFd) -> OwnedFd {
        btf.fd
    }
}
