//! Programs: `BPF_PROG_LOAD`, `BPF_PROG_TEST_RUN` and program info.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::error::{Errno, Error, Result};
use crate::log::{self, Attempt};
use crate::map::{fd_field, fd_u32};
use crate::obj;
use crate::sys::{self, AlignedU64, Cmd, ProgInfoRaw, ProgLoadAttr, TestRunAttr};
use crate::types::{AttachType, ProgType};

/// Size of one instruction slot (`struct bpf_insn`).
pub const INSN_SIZE: usize = 8;

/// `BPF_PROG_LOAD` retries this often when the kernel answers `EAGAIN`
/// (as libbpf does: verification can be interrupted by signals).
const EAGAIN_ATTEMPTS: u32 = 5;

/// An array of fixed-size records (`bpf_func_info`, `bpf_line_info`) as raw
/// bytes, with the record size the producer used.
#[derive(Debug, Clone, Copy, Default)]
pub struct Records<'a> {
    /// The records, back to back.
    pub bytes: &'a [u8],
    /// Size of one record; the kernel accepts sizes it knows or larger ones
    /// whose tail is zero.
    pub rec_size: u32,
}

impl Records<'_> {
    /// Pointer, count and record size for the attribute; all zero when empty.
    fn encode(&self, what: &'static str) -> Result<(AlignedU64, u32, u32)> {
        if self.bytes.is_empty() {
            return Ok((AlignedU64(0), 0, 0));
        }
        let rec_size = self.rec_size as usize;
        if rec_size == 0 || !self.bytes.len().is_multiple_of(rec_size) {
            return Err(Error::RecordLength {
                what,
                len: self.bytes.len(),
                rec_size: self.rec_size,
            });
        }
        let count = u32::try_from(self.bytes.len() / rec_size).map_err(|_| Error::TooLarge {
            what,
            len: self.bytes.len(),
        })?;
        Ok((AlignedU64::slice(self.bytes), count, self.rec_size))
    }
}

/// Parameters of `BPF_PROG_LOAD`. Fields left at their default are zero, as
/// the kernel expects for "not used".
#[derive(Debug, Clone, Default)]
pub struct ProgLoadAttrs<'a> {
    /// The program type.
    pub prog_type: ProgType,
    /// Attach type the program is verified for; required by some types
    /// (cgroup_sock_addr, tracing, ...). `None` sends 0.
    pub expected_attach_type: Option<AttachType>,
    /// Instructions as the kernel reads them: 8-byte `struct bpf_insn` slots
    /// in host byte order, back to back.
    pub insns: &'a [u8],
    /// License string; GPL-only helpers need a GPL-compatible one.
    pub license: &'a str,
    /// Verifier log level from [`crate::log_level`] (bits 1, 2 and 4).
    pub log_level: u32,
    /// First log buffer size; 0 means [`crate::DEFAULT_LOG_SIZE`]. The buffer
    /// grows while the kernel reports a truncated log.
    pub log_size: usize,
    /// `kern_version` (ignored by modern kernels, kept for old kprobes).
    pub kern_version: u32,
    /// `BPF_F_*` flags from [`crate::types::prog_flags`].
    pub prog_flags: u32,
    /// Object name, at most 15 bytes of `[A-Za-z0-9_.]`.
    pub name: &'a str,
    /// Device to offload to / bind to, 0 for none.
    pub ifindex: u32,
    /// BTF object describing the program (for func_info / line_info).
    pub prog_btf_fd: Option<BorrowedFd<'a>>,
    /// `bpf_func_info` records.
    pub func_info: Records<'a>,
    /// `bpf_line_info` records.
    pub line_info: Records<'a>,
    /// In-kernel BTF type id to attach to (tracing, lsm, struct_ops, ext).
    pub attach_btf_id: u32,
    /// Module BTF holding `attach_btf_id` (None: vmlinux).
    pub attach_btf_obj_fd: Option<BorrowedFd<'a>>,
    /// Program to attach to (freplace / fentry on a BPF program); shares its
    /// field with `attach_btf_obj_fd`, so set at most one of the two.
    pub attach_prog_fd: Option<BorrowedFd<'a>>,
    /// fds that `BPF_PSEUDO_MAP_IDX`, `BPF_PSEUDO_MAP_IDX_VALUE` and kfunc
    /// calls index into.
    pub fd_array: &'a [BorrowedFd<'a>],
    /// Also send `fd_array_cnt` so the kernel binds every map in `fd_array`
    /// to the program, even unreferenced ones (Linux 6.14+).
    pub bind_fd_array: bool,
}

/// A loaded program.
#[derive(Debug)]
pub struct ProgFd {
    fd: OwnedFd,
}

/// A successful load and the verifier log (empty at log level 0).
#[derive(Debug)]
pub struct LoadedProg {
    /// The program.
    pub prog: ProgFd,
    /// The verifier's log text (with [`crate::log_level::STATS`], the totals).
    pub log: String,
}

/// Parameters of `BPF_PROG_TEST_RUN`. Empty slices and zero capacities are
/// sent as NULL / 0, which the kernel reads as "not given".
#[derive(Debug, Clone, Copy, Default)]
pub struct TestRunAttrs<'a> {
    /// Packet (or other data) handed to the program.
    pub data_in: &'a [u8],
    /// Bytes of room for the packet after the run; 0 to not ask for it.
    pub data_out_capacity: usize,
    /// Context handed to the program (`__sk_buff`, `xdp_md`, raw tracepoint args, ...).
    pub ctx_in: &'a [u8],
    /// Bytes of room for the context after the run; 0 to not ask for it.
    pub ctx_out_capacity: usize,
    /// Number of runs (0 counts as 1); duration is the mean.
    pub repeat: u32,
    /// Flags from [`crate::types::test_run_flags`].
    pub flags: u32,
    /// CPU to run on with [`crate::types::test_run_flags::RUN_ON_CPU`].
    pub cpu: u32,
    /// Frames per batch for XDP live-frames mode.
    pub batch_size: u32,
}

/// What `BPF_PROG_TEST_RUN` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRunOutput {
    /// The program's return value (`r0`, truncated to 32 bits by the kernel).
    pub retval: u32,
    /// Mean run time in nanoseconds.
    pub duration_ns: u32,
    /// The packet after the run, as much as fit in the capacity given.
    pub data_out: Vec<u8>,
    /// The packet's full size after the run, as the kernel reports it (it
    /// can exceed `data_out.len()` when the capacity was too small).
    pub data_size_out: u32,
    /// The context after the run, as much as the kernel wrote.
    pub ctx_out: Vec<u8>,
    /// The context size the kernel reported.
    pub ctx_size_out: u32,
    /// The kernel answered `ENOSPC`: `data_out` (or `ctx_out`) was too small
    /// and holds only a prefix; the run itself happened.
    pub truncated: bool,
}

/// What `BPF_OBJ_GET_INFO_BY_FD` reports for a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgInfo {
    /// Program type.
    pub prog_type: ProgType,
    /// Kernel-wide id.
    pub id: u32,
    /// The program's tag (hash of its instructions), as bpftool prints it in hex.
    pub tag: [u8; 8],
    /// Length of the JITed image in bytes.
    pub jited_prog_len: u32,
    /// Length of the translated (post-verifier) instructions in bytes.
    pub xlated_prog_len: u32,
    /// Load time, nanoseconds since boot.
    pub load_time: u64,
    /// Uid of the loader.
    pub created_by_uid: u32,
    /// Ids of the maps the program uses.
    pub map_ids: Vec<u32>,
    /// Object name.
    pub name: String,
    /// Offload device, 0 for none.
    pub ifindex: u32,
    /// Whether the license is GPL-compatible.
    pub gpl_compatible: bool,
    /// Id of the program's BTF, 0 for none.
    pub btf_id: u32,
    /// Number of func_info records.
    pub nr_func_info: u32,
    /// Number of line_info records.
    pub nr_line_info: u32,
    /// Cumulative run time (needs `kernel.bpf_stats_enabled`).
    pub run_time_ns: u64,
    /// Run count (needs `kernel.bpf_stats_enabled`).
    pub run_cnt: u64,
    /// Instructions the verifier processed.
    pub verified_insns: u32,
    /// BTF object id of the attach target.
    pub attach_btf_obj_id: u32,
    /// BTF type id of the attach target.
    pub attach_btf_id: u32,
    /// The translated instructions, when asked for (and allowed: root only).
    pub xlated_insns: Option<Vec<u8>>,
}

impl ProgFd {
    /// Loads a program (`BPF_PROG_LOAD`). A rejection is
    /// [`Error::ProgLoad`] with the errno and the verifier log.
    pub fn load(attrs: &ProgLoadAttrs<'_>) -> Result<LoadedProg> {
        if !attrs.insns.len().is_multiple_of(INSN_SIZE) {
            return Err(Error::InsnsLength(attrs.insns.len()));
        }
        let insn_cnt =
            u32::try_from(attrs.insns.len() / INSN_SIZE).map_err(|_| Error::TooLarge {
                what: "instruction count",
                len: attrs.insns.len() / INSN_SIZE,
            })?;
        let license =
            CString::new(attrs.license).map_err(|_| Error::InteriorNul { what: "license" })?;
        let (func_info, func_info_cnt, func_info_rec_size) = attrs.func_info.encode("func_info")?;
        let (line_info, line_info_cnt, line_info_rec_size) = attrs.line_info.encode("line_info")?;
        let fd_array_len = u32::try_from(attrs.fd_array.len()).map_err(|_| Error::TooLarge {
            what: "fd_array",
            len: attrs.fd_array.len(),
        })?;
        let template = ProgLoadAttr {
            prog_type: attrs.prog_type.0,
            insn_cnt,
            insns: AlignedU64::slice(attrs.insns),
            license: AlignedU64::ptr(license.as_ptr()),
            kern_version: attrs.kern_version,
            prog_flags: attrs.prog_flags,
            prog_name: sys::encode_name(attrs.name)?,
            prog_ifindex: attrs.ifindex,
            expected_attach_type: attrs.expected_attach_type.map_or(0, |t| t.0),
            prog_btf_fd: fd_field(attrs.prog_btf_fd),
            func_info_rec_size,
            func_info,
            func_info_cnt,
            line_info_rec_size,
            line_info,
            line_info_cnt,
            attach_btf_id: attrs.attach_btf_id,
            attach_fd: fd_field(attrs.attach_prog_fd.or(attrs.attach_btf_obj_fd)),
            // BorrowedFd is repr(transparent) over the C int the kernel reads.
            fd_array: AlignedU64::slice(attrs.fd_array),
            fd_array_cnt: if attrs.bind_fd_array { fd_array_len } else { 0 },
            ..ProgLoadAttr::default()
        };
        let initial_log = match attrs.log_size {
            0 => log::DEFAULT_LOG_SIZE,
            size => size,
        };
        let (result, log) =
            log::run_with_log("verifier", attrs.log_level, initial_log, |buffer, level| {
                let mut outcome = Attempt {
                    result: Err(Errno(libc::EAGAIN)),
                    log_true_size: 0,
                };
                for _ in 0..EAGAIN_ATTEMPTS {
                    let mut attr = ProgLoadAttr {
                        log_level: level,
                        // The buffer never exceeds MAX_LOG_SIZE, far below u32::MAX.
                        log_size: u32::try_from(buffer.len()).unwrap_or(u32::MAX),
                        log_buf: AlignedU64::slice_mut(buffer),
                        ..template.clone()
                    };
                    // SAFETY: every pointer in attr refers to a live buffer of the
                    // length stated beside it: insns, license (NUL-terminated),
                    // func/line info, fd_array and the log buffer.
                    outcome = Attempt {
                        result: unsafe { sys::bpf(Cmd::ProgLoad, &mut attr) },
                        log_true_size: attr.log_true_size,
                    };
                    if outcome.result != Err(Errno(libc::EAGAIN)) {
                        break;
                    }
                }
                outcome
            })?;
        match result {
            Ok(_) => Ok(LoadedProg {
                prog: ProgFd {
                    fd: obj::new_fd(Cmd::ProgLoad, result)?,
                },
                log,
            }),
            Err(errno) => Err(Error::ProgLoad { errno, log }),
        }
    }

    /// Wraps an fd that refers to a program; [`Error::WrongObjectKind`] otherwise.
    pub fn from_fd(fd: OwnedFd) -> Result<ProgFd> {
        obj::expect_kind(fd.as_fd(), obj::ObjectKind::Prog)?;
        Ok(ProgFd { fd })
    }

    /// Opens the program with kernel id `id` (`BPF_PROG_GET_FD_BY_ID`).
    pub fn from_id(id: u32) -> Result<ProgFd> {
        Ok(ProgFd {
            fd: obj::fd_by_id(Cmd::ProgGetFdById, id, 0)?,
        })
    }

    /// Opens the program pinned at `path` (`BPF_OBJ_GET`);
    /// [`Error::WrongObjectKind`] if the object is not a program.
    pub fn from_pinned(path: &Path) -> Result<ProgFd> {
        Self::from_fd(obj::get_pinned(path, 0)?)
    }

    /// Pins the program at `path` on a bpffs (`BPF_OBJ_PIN`).
    pub fn pin(&self, path: &Path) -> Result<()> {
        obj::pin(self.fd.as_fd(), path)
    }

    /// Runs the program once or `repeat` times (`BPF_PROG_TEST_RUN`).
    ///
    /// When `data_out_capacity` is smaller than the resulting packet the
    /// kernel copies a prefix, reports the full size and answers `ENOSPC`;
    /// that comes back as `Ok` with `truncated` set.
    pub fn test_run(&self, attrs: &TestRunAttrs<'_>) -> Result<TestRunOutput> {
        let u32_len =
            |what, len: usize| u32::try_from(len).map_err(|_| Error::TooLarge { what, len });
        let mut data_out = vec![0u8; attrs.data_out_capacity];
        let mut ctx_out = vec![0u8; attrs.ctx_out_capacity];
        let mut attr = TestRunAttr {
            prog_fd: fd_u32(self.fd.as_fd()),
            data_size_in: u32_len("data_in", attrs.data_in.len())?,
            data_size_out: u32_len("data_out capacity", data_out.len())?,
            data_in: AlignedU64::slice(attrs.data_in),
            data_out: AlignedU64::slice_mut(&mut data_out),
            repeat: attrs.repeat,
            ctx_size_in: u32_len("ctx_in", attrs.ctx_in.len())?,
            ctx_size_out: u32_len("ctx_out capacity", ctx_out.len())?,
            ctx_in: AlignedU64::slice(attrs.ctx_in),
            ctx_out: AlignedU64::slice_mut(&mut ctx_out),
            flags: attrs.flags,
            cpu: attrs.cpu,
            batch_size: attrs.batch_size,
            ..TestRunAttr::default()
        };
        // SAFETY: inputs are live for their stated sizes; outputs are NULL or
        // live buffers of exactly the capacity stated, which the kernel never
        // exceeds (a zero capacity is always sent with a NULL pointer, as the
        // kernel would otherwise copy the whole packet).
        let truncated = match unsafe { sys::bpf(Cmd::ProgTestRun, &mut attr) } {
            Ok(_) => false,
            Err(Errno(libc::ENOSPC)) => true,
            Err(errno) => return Err(Error::syscall(Cmd::ProgTestRun, errno)),
        };
        data_out.truncate(attr.data_size_out as usize);
        ctx_out.truncate(attr.ctx_size_out as usize);
        Ok(TestRunOutput {
            retval: attr.retval,
            duration_ns: attr.duration,
            data_out,
            data_size_out: attr.data_size_out,
            ctx_out,
            ctx_size_out: attr.ctx_size_out,
            truncated,
        })
    }

    /// What the kernel reports about this program; with `xlated` also the
    /// translated instructions (`bpftool prog dump xlated`).
    pub fn info(&self, xlated: bool) -> Result<ProgInfo> {
        let fd = self.fd.as_fd();
        let mut sizes = ProgInfoRaw::default();
        obj::get_info(fd, &mut sizes)?;
        // Second pass: the buffers sized by the first; lengths may only shrink
        // in between (they are fixed after load), and the kernel never writes
        // more than the lengths we pass.
        let mut map_ids = vec![0u32; sizes.nr_map_ids as usize];
        let mut insns = vec![
            0u8;
            if xlated {
                sizes.xlated_prog_len as usize
            } else {
                0
            }
        ];
        let mut raw = ProgInfoRaw {
            nr_map_ids: sizes.nr_map_ids,
            map_ids: AlignedU64::slice_mut(&mut map_ids),
            xlated_prog_len: if insns.is_empty() {
                0
            } else {
                sizes.xlated_prog_len
            },
            xlated_prog_insns: AlignedU64::slice_mut(&mut insns),
            ..ProgInfoRaw::default()
        };
        obj::get_info(fd, &mut raw)?;
        map_ids.truncate(raw.nr_map_ids as usize);
        insns.truncate(raw.xlated_prog_len as usize);
        Ok(ProgInfo {
            prog_type: ProgType(raw.prog_type),
            id: raw.id,
            tag: raw.tag,
            jited_prog_len: raw.jited_prog_len,
            xlated_prog_len: raw.xlated_prog_len,
            load_time: raw.load_time.0,
            created_by_uid: raw.created_by_uid,
            map_ids,
            name: sys::decode_name(&raw.name),
            ifindex: raw.ifindex,
            gpl_compatible: raw.gpl_compatible_bits & 1 != 0,
            btf_id: raw.btf_id,
            nr_func_info: raw.nr_func_info,
            nr_line_info: raw.nr_line_info,
            run_time_ns: raw.run_time_ns.0,
            run_cnt: raw.run_cnt.0,
            verified_insns: raw.verified_insns,
            attach_btf_obj_id: raw.attach_btf_obj_id,
            attach_btf_id: raw.attach_btf_id,
            xlated_insns: xlated.then_some(insns),
        })
    }
}

impl AsFd for ProgFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for ProgFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<ProgFd> for OwnedFd {
    fn from(prog: ProgFd) -> OwnedFd {
        prog.fd
    }
}
