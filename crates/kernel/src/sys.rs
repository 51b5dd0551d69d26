//! The raw `bpf(2)` syscall and the per-command layouts of `union bpf_attr`.
//!
//! Each command gets its own `#[repr(C)]` struct holding exactly the prefix of
//! the union that command reads; the kernel zero-fills the rest of its own copy
//! (`bpf_check_uarg_tail_zero` accepts any size up to a page whose tail is zero).
//!
//! No struct may have implicit padding: the kernel's `CHECK_ATTR` rejects
//! non-zero bytes after a command's last field, and Rust leaves padding
//! bytes undefined. Padding is therefore spelled out as zeroed `padding`
//! fields, and a unit test checks each size equals the sum of its fields.

use std::mem::size_of;

use crate::error::Errno;

/// `enum bpf_cmd` values used by this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Cmd {
    MapCreate = 0,
    MapLookupElem = 1,
    MapUpdateElem = 2,
    MapDeleteElem = 3,
    MapGetNextKey = 4,
    ProgLoad = 5,
    ObjPin = 6,
    ObjGet = 7,
    ProgTestRun = 10,
    ProgGetNextId = 11,
    MapGetNextId = 12,
    ProgGetFdById = 13,
    MapGetFdById = 14,
    ObjGetInfoByFd = 15,
    BtfLoad = 18,
    BtfGetFdById = 19,
    MapLookupAndDeleteElem = 21,
    MapFreeze = 22,
    BtfGetNextId = 23,
    MapLookupBatch = 24,
    LinkCreate = 28,
}

impl Cmd {
    /// The command's name as in `enum bpf_cmd`, for error messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Cmd::MapCreate => "BPF_MAP_CREATE",
            Cmd::MapLookupElem => "BPF_MAP_LOOKUP_ELEM",
            Cmd::MapUpdateElem => "BPF_MAP_UPDATE_ELEM",
            Cmd::MapDeleteElem => "BPF_MAP_DELETE_ELEM",
            Cmd::MapGetNextKey => "BPF_MAP_GET_NEXT_KEY",
            Cmd::ProgLoad => "BPF_PROG_LOAD",
            Cmd::ObjPin => "BPF_OBJ_PIN",
            Cmd::ObjGet => "BPF_OBJ_GET",
            Cmd::ProgTestRun => "BPF_PROG_TEST_RUN",
            Cmd::ProgGetNextId => "BPF_PROG_GET_NEXT_ID",
            Cmd::MapGetNextId => "BPF_MAP_GET_NEXT_ID",
            Cmd::ProgGetFdById => "BPF_PROG_GET_FD_BY_ID",
            Cmd::MapGetFdById => "BPF_MAP_GET_FD_BY_ID",
            Cmd::ObjGetInfoByFd => "BPF_OBJ_GET_INFO_BY_FD",
            Cmd::BtfLoad => "BPF_BTF_LOAD",
            Cmd::BtfGetFdById => "BPF_BTF_GET_FD_BY_ID",
            Cmd::MapLookupAndDeleteElem => "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
            Cmd::MapFreeze => "BPF_MAP_FREEZE",
            Cmd::BtfGetNextId => "BPF_BTF_GET_NEXT_ID",
            Cmd::MapLookupBatch => "BPF_MAP_LOOKUP_BATCH",
            Cmd::LinkCreate => "BPF_LINK_CREATE",
        }
    }
}

/// `__aligned_u64`: 8-byte aligned even on 32-bit targets, where the kernel
/// still lays the union out as on 64-bit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C, align(8))]
pub(crate) struct AlignedU64(pub u64);

impl AlignedU64 {
    /// A user pointer as the kernel expects it (`u64_to_user_ptr`).
    pub(crate) fn ptr<T>(p: *const T) -> Self {
        AlignedU64(p as usize as u64)
    }

    /// The pointer of a slice, or NULL for an empty slice so that the kernel
    /// never reads through a dangling non-null pointer.
    pub(crate) fn slice<T>(s: &[T]) -> Self {
        if s.is_empty() {
            AlignedU64(0)
        } else {
            Self::ptr(s.as_ptr())
        }
    }

    /// Like [`AlignedU64::slice`], for a buffer the kernel writes into.
    pub(crate) fn slice_mut<T>(s: &mut [T]) -> Self {
        if s.is_empty() {
            AlignedU64(0)
        } else {
            Self::ptr(s.as_mut_ptr())
        }
    }
}

/// `BPF_OBJ_NAME_LEN`: object names hold at most 15 bytes plus a NUL.
pub(crate) const OBJ_NAME_LEN: usize = 16;

/// Attribute of `BPF_MAP_CREATE`.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct MapCreateAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; OBJ_NAME_LEN],
    pub map_ifindex: u32,
    pub btf_fd: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub map_extra: AlignedU64,
    pub value_type_btf_obj_fd: i32,
    pub map_token_fd: i32,
}

/// Attribute of `BPF_MAP_*_ELEM`, `BPF_MAP_GET_NEXT_KEY` and `BPF_MAP_FREEZE`
/// (`value` doubles as `next_key`).
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct MapElemAttr {
    pub map_fd: u32,
    pub padding: u32,
    pub key: AlignedU64,
    pub value: AlignedU64,
    pub flags: AlignedU64,
}

/// Attribute of `BPF_MAP_*_BATCH`.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct MapBatchAttr {
    pub in_batch: AlignedU64,
    pub out_batch: AlignedU64,
    pub keys: AlignedU64,
    pub values: AlignedU64,
    pub count: u32,
    pub map_fd: u32,
    pub elem_flags: AlignedU64,
    pub flags: AlignedU64,
}

/// Attribute of `BPF_PROG_LOAD`, up to `fd_array_cnt`.
#[derive(Debug, Default, Clone)]
#[repr(C)]
pub(crate) struct ProgLoadAttr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: AlignedU64,
    pub license: AlignedU64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: AlignedU64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; OBJ_NAME_LEN],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
    pub prog_btf_fd: u32,
    pub func_info_rec_size: u32,
    pub func_info: AlignedU64,
    pub func_info_cnt: u32,
    pub line_info_rec_size: u32,
    pub line_info: AlignedU64,
    pub line_info_cnt: u32,
    pub attach_btf_id: u32,
    /// `attach_prog_fd` or `attach_btf_obj_fd` (a union in the kernel).
    pub attach_fd: u32,
    pub core_relo_cnt: u32,
    pub fd_array: AlignedU64,
    pub core_relos: AlignedU64,
    pub core_relo_rec_size: u32,
    pub log_true_size: u32,
    pub prog_token_fd: i32,
    pub fd_array_cnt: u32,
}

/// Attribute of `BPF_OBJ_PIN` and `BPF_OBJ_GET`.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct ObjAttr {
    pub pathname: AlignedU64,
    pub bpf_fd: u32,
    pub file_flags: u32,
    pub path_fd: i32,
    pub padding: u32,
}

/// Attribute of `BPF_PROG_TEST_RUN` (`test` in the union).
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct TestRunAttr {
    pub prog_fd: u32,
    pub retval: u32,
    pub data_size_in: u32,
    pub data_size_out: u32,
    pub data_in: AlignedU64,
    pub data_out: AlignedU64,
    pub repeat: u32,
    pub duration: u32,
    pub ctx_size_in: u32,
    pub ctx_size_out: u32,
    pub ctx_in: AlignedU64,
    pub ctx_out: AlignedU64,
    pub flags: u32,
    pub cpu: u32,
    pub batch_size: u32,
    pub padding: u32,
}

/// Attribute of `BPF_*_GET_NEXT_ID` and `BPF_*_GET_FD_BY_ID`
/// (`start_id` doubles as `prog_id`/`map_id`/`btf_id`).
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct IdAttr {
    pub start_id: u32,
    pub next_id: u32,
    pub open_flags: u32,
    pub fd_by_id_token_fd: i32,
}

/// Attribute of `BPF_OBJ_GET_INFO_BY_FD` (`info` in the union).
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct InfoAttr {
    pub bpf_fd: u32,
    pub info_len: u32,
    pub info: AlignedU64,
}

/// Attribute of `BPF_BTF_LOAD`.
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct BtfLoadAttr {
    pub btf: AlignedU64,
    pub btf_log_buf: AlignedU64,
    pub btf_size: u32,
    pub btf_log_size: u32,
    pub btf_log_level: u32,
    pub btf_log_true_size: u32,
    pub btf_flags: u32,
    pub btf_token_fd: i32,
}

/// Attribute of `BPF_LINK_CREATE`, up to `flags` (what device and
/// cgroup attachments read).
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct LinkCreateAttr {
    pub prog_fd: u32,
    /// `target_fd` or `target_ifindex` (a union in the kernel).
    pub target: u32,
    pub attach_type: u32,
    pub flags: u32,
}

/// `struct bpf_prog_info` as of Linux 6.18.
#[derive(Debug, Default, Clone)]
#[repr(C)]
pub(crate) struct ProgInfoRaw {
    pub prog_type: u32,
    pub id: u32,
    pub tag: [u8; 8],
    pub jited_prog_len: u32,
    pub xlated_prog_len: u32,
    pub jited_prog_insns: AlignedU64,
    pub xlated_prog_insns: AlignedU64,
    pub load_time: AlignedU64,
    pub created_by_uid: u32,
    pub nr_map_ids: u32,
    pub map_ids: AlignedU64,
    pub name: [u8; OBJ_NAME_LEN],
    pub ifindex: u32,
    /// Bit 0 is `gpl_compatible`; the other 31 bits are padding.
    pub gpl_compatible_bits: u32,
    pub netns_dev: AlignedU64,
    pub netns_ino: AlignedU64,
    pub nr_jited_ksyms: u32,
    pub nr_jited_func_lens: u32,
    pub jited_ksyms: AlignedU64,
    pub jited_func_lens: AlignedU64,
    pub btf_id: u32,
    pub func_info_rec_size: u32,
    pub func_info: AlignedU64,
    pub nr_func_info: u32,
    pub nr_line_info: u32,
    pub line_info: AlignedU64,
    pub jited_line_info: AlignedU64,
    pub nr_jited_line_info: u32,
    pub line_info_rec_size: u32,
    pub jited_line_info_rec_size: u32,
    pub nr_prog_tags: u32,
    pub prog_tags: AlignedU64,
    pub run_time_ns: AlignedU64,
    pub run_cnt: AlignedU64,
    pub recursion_misses: AlignedU64,
    pub verified_insns: u32,
    pub attach_btf_obj_id: u32,
    pub attach_btf_id: u32,
    pub padding: u32,
}

/// `struct bpf_map_info` as of Linux 6.18 (without the trailing hash fields,
/// which must stay zero on input anyway).
#[derive(Debug, Default, Clone)]
#[repr(C)]
pub(crate) struct MapInfoRaw {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: [u8; OBJ_NAME_LEN],
    pub ifindex: u32,
    pub btf_vmlinux_value_type_id: u32,
    pub netns_dev: AlignedU64,
    pub netns_ino: AlignedU64,
    pub btf_id: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
    pub btf_vmlinux_id: u32,
    pub map_extra: AlignedU64,
}

/// Marker for the attribute structs above: plain `#[repr(C)]` data the kernel
/// may read and write as bytes.
///
/// # Safety
/// Implementors must be `#[repr(C)]` structs of integers and byte arrays only.
pub(crate) unsafe trait Attr {}

// SAFETY: all of these are #[repr(C)] structs of integers and byte arrays.
unsafe impl Attr for MapCreateAttr {}
// SAFETY: as above.
unsafe impl Attr for MapElemAttr {}
// SAFETY: as above.
unsafe impl Attr for MapBatchAttr {}
// SAFETY: as above.
unsafe impl Attr for ProgLoadAttr {}
// SAFETY: as above.
unsafe impl Attr for ObjAttr {}
// SAFETY: as above.
unsafe impl Attr for TestRunAttr {}
// SAFETY: as above.
unsafe impl Attr for IdAttr {}
// SAFETY: as above.
unsafe impl Attr for InfoAttr {}
// SAFETY: as above.
unsafe impl Attr for BtfLoadAttr {}
// SAFETY: as above.
unsafe impl Attr for ProgInfoRaw {}
// SAFETY: as above.
unsafe impl Attr for MapInfoRaw {}
// SAFETY: as above.
unsafe impl Attr for LinkCreateAttr {}
// SAFETY: as above.
unsafe impl Attr for BtfInfoRaw {}

/// `struct bpf_btf_info`: the BTF bytes (when `btf` points to `btf_size`
/// bytes), the id, the name and whether it is kernel BTF.
#[derive(Debug, Default, Clone)]
#[repr(C)]
pub(crate) struct BtfInfoRaw {
    pub btf: AlignedU64,
    pub btf_size: u32,
    pub id: u32,
    pub name: AlignedU64,
    pub name_len: u32,
    pub kernel_btf: u32,
}

/// Calls `bpf(cmd, attr, sizeof(*attr))`, retrying on `EINTR`.
///
/// # Safety
/// Every pointer stored in `attr` must be NULL or valid for the accesses the
/// kernel makes for `cmd`: readable (or writable, for output buffers) for the
/// length given next to it in `attr`, and alive for the duration of the call.
pub(crate) unsafe fn bpf<A: Attr>(cmd: Cmd, attr: &mut A) -> Result<i64, Errno> {
    loop {
        // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] struct of
        // the size we pass; the caller vouches for the pointers inside it.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd as u32 as libc::c_long,
                std::ptr::from_mut(attr),
                size_of::<A>() as libc::c_long,
            )
        };
        if ret >= 0 {
            #[allow(
                clippy::useless_conversion,
                reason = "c_long is 32 bits on some targets"
            )]
            return Ok(i64::from(ret));
        }
        let errno = Errno::last();
        if errno.0 != libc::EINTR {
            return Err(errno);
        }
    }
}

/// Copies `name` into a kernel object-name field, NUL-terminated.
pub(crate) fn encode_name(name: &str) -> Result<[u8; OBJ_NAME_LEN], crate::Error> {
    let bytes = name.as_bytes();
    if bytes.len() >= OBJ_NAME_LEN {
        return Err(crate::Error::NameTooLong {
            name: name.to_owned(),
        });
    }
    if bytes.contains(&0) {
        return Err(crate::Error::InteriorNul {
            what: "object name",
        });
    }
    let mut out = [0u8; OBJ_NAME_LEN];
    out.iter_mut().zip(bytes).for_each(|(o, b)| *o = *b);
    Ok(out)
}

/// Reads a kernel object-name field up to its first NUL.
pub(crate) fn decode_name(raw: &[u8; OBJ_NAME_LEN]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// Offsets computed from `include/uapi/linux/bpf.h` by hand;
    /// `layouts_match_clang` also checks them against the system header.
    #[test]
    fn layouts_match_the_uapi_header() {
        assert_eq!(offset_of!(MapCreateAttr, map_name), 28);
        assert_eq!(offset_of!(MapCreateAttr, map_extra), 64);
        assert_eq!(size_of::<MapCreateAttr>(), 80);
        assert_eq!(offset_of!(MapElemAttr, key), 8);
        assert_eq!(size_of::<MapElemAttr>(), 32);
        assert_eq!(size_of::<MapBatchAttr>(), 56);
        assert_eq!(offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(offset_of!(ProgLoadAttr, func_info), 80);
        assert_eq!(offset_of!(ProgLoadAttr, fd_array), 120);
        assert_eq!(offset_of!(ProgLoadAttr, log_true_size), 140);
        assert_eq!(size_of::<ProgLoadAttr>(), 152);
        assert_eq!(offset_of!(TestRunAttr, ctx_out), 56);
        assert_eq!(size_of::<TestRunAttr>(), 80);
        assert_eq!(offset_of!(BtfLoadAttr, btf_log_true_size), 28);
        assert_eq!(offset_of!(ProgInfoRaw, name), 64);
        assert_eq!(offset_of!(ProgInfoRaw, attach_btf_id), 224);
        assert_eq!(size_of::<ProgInfoRaw>(), 232);
        assert_eq!(offset_of!(MapInfoRaw, map_extra), 80);
        assert_eq!(size_of::<MapInfoRaw>(), 88);
        assert_eq!(offset_of!(LinkCreateAttr, attach_type), 8);
        assert_eq!(size_of::<LinkCreateAttr>(), 16);
    }

    /// Sums field sizes with a macro so that implicit padding shows up as a
    /// size mismatch.
    macro_rules! assert_no_padding {
        ($ty:ty { $($field:ident),+ }) => {{
            let value = <$ty>::default();
            let fields = 0 $(+ std::mem::size_of_val(&value.$field))+;
            assert_eq!(fields, size_of::<$ty>(), stringify!($ty));
        }};
    }

    #[test]
    fn attributes_have_no_implicit_padding() {
        assert_no_padding!(MapCreateAttr {
            map_type,
            key_size,
            value_size,
            max_entries,
            map_flags,
            inner_map_fd,
            numa_node,
            map_name,
            map_ifindex,
            btf_fd,
            btf_key_type_id,
            btf_value_type_id,
            btf_vmlinux_value_type_id,
            map_extra,
            value_type_btf_obj_fd,
            map_token_fd
        });
        assert_no_padding!(MapElemAttr {
            map_fd,
            padding,
            key,
            value,
            flags
        });
        assert_no_padding!(MapBatchAttr {
            in_batch,
            out_batch,
            keys,
            values,
            count,
            map_fd,
            elem_flags,
            flags
        });
        assert_no_padding!(ProgLoadAttr {
            prog_type,
            insn_cnt,
            insns,
            license,
            log_level,
            log_size,
            log_buf,
            kern_version,
            prog_flags,
            prog_name,
            prog_ifindex,
            expected_attach_type,
            prog_btf_fd,
            func_info_rec_size,
            func_info,
            func_info_cnt,
            line_info_rec_size,
            line_info,
            line_info_cnt,
            attach_btf_id,
            attach_fd,
            core_relo_cnt,
            fd_array,
            core_relos,
            core_relo_rec_size,
            log_true_size,
            prog_token_fd,
            fd_array_cnt
        });
        assert_no_padding!(ObjAttr {
            pathname,
            bpf_fd,
            file_flags,
            path_fd,
            padding
        });
        assert_no_padding!(TestRunAttr {
            prog_fd,
            retval,
            data_size_in,
            data_size_out,
            data_in,
            data_out,
            repeat,
            duration,
            ctx_size_in,
            ctx_size_out,
            ctx_in,
            ctx_out,
            flags,
            cpu,
            batch_size,
            padding
        });
        assert_no_padding!(IdAttr {
            start_id,
            next_id,
            open_flags,
            fd_by_id_token_fd
        });
        assert_no_padding!(InfoAttr {
            bpf_fd,
            info_len,
            info
        });
        assert_no_padding!(BtfInfoRaw {
            btf,
            btf_size,
            id,
            name,
            name_len,
            kernel_btf
        });
        assert_no_padding!(BtfLoadAttr {
            btf,
            btf_log_buf,
            btf_size,
            btf_log_size,
            btf_log_level,
            btf_log_true_size,
            btf_flags,
            btf_token_fd
        });
        assert_no_padding!(ProgInfoRaw {
            prog_type,
            id,
            tag,
            jited_prog_len,
            xlated_prog_len,
            jited_prog_insns,
            xlated_prog_insns,
            load_time,
            created_by_uid,
            nr_map_ids,
            map_ids,
            name,
            ifindex,
            gpl_compatible_bits,
            netns_dev,
            netns_ino,
            nr_jited_ksyms,
            nr_jited_func_lens,
            jited_ksyms,
            jited_func_lens,
            btf_id,
            func_info_rec_size,
            func_info,
            nr_func_info,
            nr_line_info,
            line_info,
            jited_line_info,
            nr_jited_line_info,
            line_info_rec_size,
            jited_line_info_rec_size,
            nr_prog_tags,
            prog_tags,
            run_time_ns,
            run_cnt,
            recursion_misses,
            verified_insns,
            attach_btf_obj_id,
            attach_btf_id,
            padding
        });
        assert_no_padding!(MapInfoRaw {
            map_type,
            id,
            key_size,
            value_size,
            max_entries,
            map_flags,
            name,
            ifindex,
            btf_vmlinux_value_type_id,
            netns_dev,
            netns_ino,
            btf_id,
            btf_key_type_id,
            btf_value_type_id,
            btf_vmlinux_id,
            map_extra
        });
    }

    /// Has clang compile `_Static_assert`s of our offsets against the
    /// system's `<linux/bpf.h>` (fields newer than that header are covered by
    /// `layouts_match_the_uapi_header` only).
    #[test]
    fn layouts_match_clang() {
        let checks: Vec<(usize, &str)> = vec![
            (
                offset_of!(MapCreateAttr, inner_map_fd),
                "union bpf_attr, inner_map_fd",
            ),
            (
                offset_of!(MapCreateAttr, map_name),
                "union bpf_attr, map_name",
            ),
            (
                offset_of!(MapCreateAttr, btf_vmlinux_value_type_id),
                "union bpf_attr, btf_vmlinux_value_type_id",
            ),
            (
                offset_of!(MapCreateAttr, map_extra),
                "union bpf_attr, map_extra",
            ),
            (offset_of!(MapElemAttr, key), "union bpf_attr, key"),
            (offset_of!(MapElemAttr, value), "union bpf_attr, value"),
            (offset_of!(MapElemAttr, flags), "union bpf_attr, flags"),
            (
                offset_of!(MapBatchAttr, count),
                "union bpf_attr, batch.count",
            ),
            (
                offset_of!(MapBatchAttr, elem_flags),
                "union bpf_attr, batch.elem_flags",
            ),
            (
                offset_of!(MapBatchAttr, flags),
                "union bpf_attr, batch.flags",
            ),
            (offset_of!(ProgLoadAttr, insns), "union bpf_attr, insns"),
            (offset_of!(ProgLoadAttr, log_buf), "union bpf_attr, log_buf"),
            (
                offset_of!(ProgLoadAttr, prog_name),
                "union bpf_attr, prog_name",
            ),
            (
                offset_of!(ProgLoadAttr, expected_attach_type),
                "union bpf_attr, expected_attach_type",
            ),
            (
                offset_of!(ProgLoadAttr, func_info),
                "union bpf_attr, func_info",
            ),
            (
                offset_of!(ProgLoadAttr, line_info_cnt),
                "union bpf_attr, line_info_cnt",
            ),
            (
                offset_of!(ProgLoadAttr, attach_fd),
                "union bpf_attr, attach_prog_fd",
            ),
            (
                offset_of!(ProgLoadAttr, fd_array),
                "union bpf_attr, fd_array",
            ),
            (
                offset_of!(ProgLoadAttr, core_relo_rec_size),
                "union bpf_attr, core_relo_rec_size",
            ),
            (offset_of!(ObjAttr, bpf_fd), "union bpf_attr, bpf_fd"),
            (
                offset_of!(ObjAttr, file_flags),
                "union bpf_attr, file_flags",
            ),
            (
                offset_of!(TestRunAttr, data_out),
                "union bpf_attr, test.data_out",
            ),
            (
                offset_of!(TestRunAttr, ctx_size_out),
                "union bpf_attr, test.ctx_size_out",
            ),
            (
                offset_of!(TestRunAttr, ctx_out),
                "union bpf_attr, test.ctx_out",
            ),
            (
                offset_of!(TestRunAttr, batch_size),
                "union bpf_attr, test.batch_size",
            ),
            (offset_of!(IdAttr, next_id), "union bpf_attr, next_id"),
            (offset_of!(IdAttr, open_flags), "union bpf_attr, open_flags"),
            (offset_of!(InfoAttr, info), "union bpf_attr, info.info"),
            (
                offset_of!(BtfLoadAttr, btf_size),
                "union bpf_attr, btf_size",
            ),
            (
                offset_of!(BtfLoadAttr, btf_log_level),
                "union bpf_attr, btf_log_level",
            ),
            (
                offset_of!(ProgInfoRaw, xlated_prog_insns),
                "struct bpf_prog_info, xlated_prog_insns",
            ),
            (
                offset_of!(ProgInfoRaw, map_ids),
                "struct bpf_prog_info, map_ids",
            ),
            (
                offset_of!(ProgInfoRaw, ifindex),
                "struct bpf_prog_info, ifindex",
            ),
            (
                offset_of!(ProgInfoRaw, netns_dev),
                "struct bpf_prog_info, netns_dev",
            ),
            (
                offset_of!(ProgInfoRaw, btf_id),
                "struct bpf_prog_info, btf_id",
            ),
            (
                offset_of!(ProgInfoRaw, nr_line_info),
                "struct bpf_prog_info, nr_line_info",
            ),
            (
                offset_of!(ProgInfoRaw, run_cnt),
                "struct bpf_prog_info, run_cnt",
            ),
            (
                offset_of!(ProgInfoRaw, verified_insns),
                "struct bpf_prog_info, verified_insns",
            ),
            (
                offset_of!(ProgInfoRaw, attach_btf_id),
                "struct bpf_prog_info, attach_btf_id",
            ),
            (size_of::<ProgInfoRaw>(), "sizeof(struct bpf_prog_info)"),
            (offset_of!(MapInfoRaw, name), "struct bpf_map_info, name"),
            (
                offset_of!(MapInfoRaw, btf_vmlinux_value_type_id),
                "struct bpf_map_info, btf_vmlinux_value_type_id",
            ),
            (
                offset_of!(MapInfoRaw, btf_value_type_id),
                "struct bpf_map_info, btf_value_type_id",
            ),
            (
                offset_of!(MapInfoRaw, map_extra),
                "struct bpf_map_info, map_extra",
            ),
        ];
        let mut source = String::from("#include <stddef.h>\n#include <linux/bpf.h>\n");
        for (offset, field) in &checks {
            let expr = if field.starts_with("sizeof") {
                (*field).to_owned()
            } else {
                format!("offsetof({field})")
            };
            source.push_str(&format!(
                "_Static_assert({expr} == {offset}, \"{field}\");\n"
            ));
        }
        let multiarch = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
        let child = std::process::Command::new("clang-19")
            .args(["-fsyntax-only", "-x", "c", &multiarch, "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(error) => {
                return apiary_testskip::missing(
                    "layouts_match_clang",
                    format!("clang-19 cannot run: {error}"),
                );
            }
        };
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(source.as_bytes())
            .expect("write source");
        let output = child.wait_with_output().expect("clang finishes");
        assert!(
            output.status.success(),
            "clang disagrees:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    #[test]
    fn names_round_trip_and_reject_overlong() {
        let raw = encode_name("xdp_pass").expect("short name");
        assert_eq!(decode_name(&raw), "xdp_pass");
        assert!(encode_name("a_name_of_16_byt").is_err());
        assert!(encode_name("nul\0inside").is_err());
        assert_eq!(decode_name(&[b'a'; OBJ_NAME_LEN]), "a".repeat(16));
    }
}
