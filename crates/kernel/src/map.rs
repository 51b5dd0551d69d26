//! Maps: `BPF_MAP_CREATE` and the element commands.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use crate::cpu::possible_cpus;
use crate::error::{Errno, Error, Result};
use crate::obj;
use crate::sys::{self, AlignedU64, Cmd, MapBatchAttr, MapCreateAttr, MapElemAttr, MapInfoRaw};
use crate::types::MapType;

/// Parameters of `BPF_MAP_CREATE`. Fields left at their default are zero, as
/// the kernel expects for "not used".
#[derive(Debug, Clone, Default)]
pub struct MapCreateAttrs<'a> {
    /// The map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (per CPU, for per-CPU maps).
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// `BPF_F_*` flags from [`crate::types::map_flags`].
    pub map_flags: u32,
    /// Object name, at most 15 bytes of `[A-Za-z0-9_.]`.
    pub name: &'a str,
    /// NUMA node, used only with [`crate::types::map_flags::NUMA_NODE`].
    pub numa_node: u32,
    /// Template inner map for map-in-map types.
    pub inner_map_fd: Option<BorrowedFd<'a>>,
    /// Per-type extra (bloom filter hash count, arena address).
    pub map_extra: u64,
    /// BTF object describing key and value.
    pub btf_fd: Option<BorrowedFd<'a>>,
    /// BTF type id of the key in `btf_fd`.
    pub btf_key_type_id: u32,
    /// BTF type id of the value in `btf_fd`.
    pub btf_value_type_id: u32,
    /// BTF type id of a kernel struct stored as value (struct_ops).
    pub btf_vmlinux_value_type_id: u32,
    /// Module BTF holding `btf_vmlinux_value_type_id`; needs
    /// [`crate::types::map_flags::VTYPE_BTF_OBJ_FD`].
    pub value_type_btf_obj_fd: Option<BorrowedFd<'a>>,
    /// Network device to create the map on (offload), 0 for none.
    pub ifindex: u32,
}

/// An open map: its fd plus the shape needed to size key and value buffers.
#[derive(Debug)]
pub struct MapFd {
    fd: OwnedFd,
    map_type: MapType,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

/// What `BPF_OBJ_GET_INFO_BY_FD` reports for a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapInfo {
    /// Map type.
    pub map_type: MapType,
    /// Kernel-wide id.
    pub id: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// Creation flags.
    pub map_flags: u32,
    /// Object name.
    pub name: String,
    /// Offload device, 0 for none.
    pub ifindex: u32,
    /// BTF type id of a kernel struct value (struct_ops).
    pub btf_vmlinux_value_type_id: u32,
    /// Id of the map's BTF object, 0 for none.
    pub btf_id: u32,
    /// BTF type id of the key.
    pub btf_key_type_id: u32,
    /// BTF type id of the value.
    pub btf_value_type_id: u32,
    /// Per-type extra given at creation.
    pub map_extra: u64,
}

/// One batch of [`MapFd::lookup_batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapBatch {
    /// The entries read, as (key, value) pairs.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// Where the next batch starts; `None` once the map is exhausted.
    pub next: Option<BatchToken>,
}

/// Opaque kernel cursor between two batch lookups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchToken(Vec<u8>);

impl MapFd {
    /// Creates a map (`BPF_MAP_CREATE`).
    pub fn create(attrs: &MapCreateAttrs<'_>) -> Result<MapFd> {
        let mut attr = MapCreateAttr {
            map_type: attrs.map_type.0,
            key_size: attrs.key_size,
            value_size: attrs.value_size,
            max_entries: attrs.max_entries,
            map_flags: attrs.map_flags,
            inner_map_fd: fd_field(attrs.inner_map_fd),
            numa_node: attrs.numa_node,
            map_name: sys::encode_name(attrs.name)?,
            map_ifindex: attrs.ifindex,
            btf_fd: fd_field(attrs.btf_fd),
            btf_key_type_id: attrs.btf_key_type_id,
            btf_value_type_id: attrs.btf_value_type_id,
            btf_vmlinux_value_type_id: attrs.btf_vmlinux_value_type_id,
            map_extra: AlignedU64(attrs.map_extra),
            value_type_btf_obj_fd: attrs.value_type_btf_obj_fd.map_or(0, |fd| fd.as_raw_fd()),
            map_token_fd: 0,
        };
        // SAFETY: the attribute holds no pointers.
        let fd = obj::new_fd(Cmd::MapCreate, unsafe {
            sys::bpf(Cmd::MapCreate, &mut attr)
        })?;
        Ok(MapFd {
            fd,
            map_type: attrs.map_type,
            key_size: attrs.key_size,
            value_size: attrs.value_size,
            max_entries: attrs.max_entries,
            map_flags: attrs.map_flags,
        })
    }

    /// Wraps an fd that refers to a map, reading its shape from the kernel.
    /// Fails with [`Error::WrongObjectKind`] for other fds.
    pub fn from_fd(fd: OwnedFd) -> Result<MapFd> {
        obj::expect_kind(fd.as_fd(), obj::ObjectKind::Map)?;
        let info = map_info(fd.as_fd())?;
        Ok(MapFd {
            fd,
            map_type: info.map_type,
            key_size: info.key_size,
            value_size: info.value_size,
            max_entries: info.max_entries,
            map_flags: info.map_flags,
        })
    }

    /// Opens the map with kernel id `id` (`BPF_MAP_GET_FD_BY_ID`).
    pub fn from_id(id: u32) -> Result<MapFd> {
        Self::from_fd(obj::fd_by_id(Cmd::MapGetFdById, id, 0)?)
    }

    /// Opens the map pinned at `path` (`BPF_OBJ_GET`); `ENOENT` if nothing is
    /// pinned there, [`Error::WrongObjectKind`] if the object is not a map.
    pub fn from_pinned(path: &Path) -> Result<MapFd> {
        Self::from_fd(obj::get_pinned(path, 0)?)
    }

    /// The map type.
    pub fn map_type(&self) -> MapType {
        self.map_type
    }

    /// Key size in bytes.
    pub fn key_size(&self) -> u32 {
        self.key_size
    }

    /// Value size in bytes as declared (per CPU, for per-CPU maps).
    pub fn value_size(&self) -> u32 {
        self.value_size
    }

    /// Maximum number of entries.
    pub fn max_entries(&self) -> u32 {
        self.max_entries
    }

    /// Creation flags.
    pub fn map_flags(&self) -> u32 {
        self.map_flags
    }

    /// Bytes of one value as the syscall exchanges it: `value_size`, or for
    /// per-CPU maps `round_up(value_size, 8)` for each possible CPU.
    pub fn syscall_value_size(&self) -> Result<usize> {
        let size = self.value_size as usize;
        if self.map_type.is_per_cpu() {
            Ok(size.next_multiple_of(8) * possible_cpus()?)
        } else {
            Ok(size)
        }
    }

    /// Reads the value at `key` (`BPF_MAP_LOOKUP_ELEM`); `Ok(None)` when the
    /// kernel answers `ENOENT`. For queue and stack maps (key size 0) pass an
    /// empty key to peek.
    pub fn lookup(&self, key: &[u8], flags: u64) -> Result<Option<Vec<u8>>> {
        self.read_value(Cmd::MapLookupElem, key, flags)
    }

    /// Reads and removes the value at `key` (`BPF_MAP_LOOKUP_AND_DELETE_ELEM`);
    /// `Ok(None)` on `ENOENT`. For queue and stack maps pass an empty key to pop.
    pub fn lookup_and_delete(&self, key: &[u8], flags: u64) -> Result<Option<Vec<u8>>> {
        self.read_value(Cmd::MapLookupAndDeleteElem, key, flags)
    }

    fn read_value(&self, cmd: Cmd, key: &[u8], flags: u64) -> Result<Option<Vec<u8>>> {
        self.check_key(key)?;
        let mut value = vec![0u8; self.syscall_value_size()?];
        let mut attr = self.elem_attr(
            AlignedU64::slice(key),
            AlignedU64::slice_mut(&mut value),
            flags,
        );
        // SAFETY: key holds key_size bytes and value the syscall value size.
        match unsafe { sys::bpf(cmd, &mut attr) } {
            Ok(_) => Ok(Some(value)),
            Err(Errno(libc::ENOENT)) => Ok(None),
            Err(errno) => Err(Error::syscall(cmd, errno)),
        }
    }

    /// Asks a bloom filter whether `value` may have been added
    /// (`BPF_MAP_LOOKUP_ELEM` reads the candidate from the value buffer);
    /// `false` when the kernel answers `ENOENT`.
    pub fn bloom_contains(&self, value: &[u8]) -> Result<bool> {
        let expected = self.value_size as usize;
        if value.len() != expected {
            return Err(Error::BufferSize {
                what: "value",
                expected,
                actual: value.len(),
            });
        }
        let mut candidate = value.to_vec();
        let mut attr = MapElemAttr {
            map_fd: self.raw_fd_u32(),
            value: AlignedU64::slice_mut(&mut candidate),
            ..MapElemAttr::default()
        };
        // SAFETY: candidate holds value_size bytes; bloom filters take no key.
        match unsafe { sys::bpf(Cmd::MapLookupElem, &mut attr) } {
            Ok(_) => Ok(true),
            Err(Errno(libc::ENOENT)) => Ok(false),
            Err(errno) => Err(Error::syscall(Cmd::MapLookupElem, errno)),
        }
    }

    /// Writes `value` at `key` (`BPF_MAP_UPDATE_ELEM`) with
    /// [`crate::types::elem_flags`]. Queue and stack maps take an empty key (push).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        self.check_key(key)?;
        let expected = self.syscall_value_size()?;
        if value.len() != expected {
            return Err(Error::BufferSize {
                what: "value",
                expected,
                actual: value.len(),
            });
        }
        let mut attr = self.elem_attr(AlignedU64::slice(key), AlignedU64::slice(value), flags);
        // SAFETY: key and value have the sizes the kernel reads.
        unsafe { sys::bpf(Cmd::MapUpdateElem, &mut attr) }
            .map(drop)
            .map_err(|errno| Error::syscall(Cmd::MapUpdateElem, errno))
    }

    /// Removes `key` (`BPF_MAP_DELETE_ELEM`); `ENOENT` if absent.
    pub fn delete(&self, key: &[u8]) -> Result<()> {
        self.check_key(key)?;
        let mut attr = MapElemAttr {
            map_fd: self.raw_fd_u32(),
            key: AlignedU64::slice(key),
            ..MapElemAttr::default()
        };
        // SAFETY: key has the size the kernel reads.
        unsafe { sys::bpf(Cmd::MapDeleteElem, &mut attr) }
            .map(drop)
            .map_err(|errno| Error::syscall(Cmd::MapDeleteElem, errno))
    }

    /// The key after `key`, or the first key for `None`
    /// (`BPF_MAP_GET_NEXT_KEY`); `Ok(None)` past the last key.
    pub fn next_key(&self, key: Option<&[u8]>) -> Result<Option<Vec<u8>>> {
        if let Some(key) = key {
            self.check_key(key)?;
        }
        let mut next = vec![0u8; self.key_size as usize];
        let mut attr = self.elem_attr(
            key.map_or(AlignedU64(0), AlignedU64::slice),
            AlignedU64::slice_mut(&mut next),
            0,
        );
        // SAFETY: key (if any) and next hold key_size bytes.
        match unsafe { sys::bpf(Cmd::MapGetNextKey, &mut attr) } {
            Ok(_) => Ok(Some(next)),
            Err(Errno(libc::ENOENT)) => Ok(None),
            Err(errno) => Err(Error::syscall(Cmd::MapGetNextKey, errno)),
        }
    }

    /// Iterates over the keys with [`MapFd::next_key`]. It yields at most
    /// `max_entries` keys, so that concurrent deletions (which make the kernel
    /// restart hash iteration from the first key) cannot loop forever.
    pub fn keys(&self) -> Keys<'_> {
        Keys {
            map: self,
            last: None,
            remaining: self.max_entries,
        }
    }

    /// Makes the map read-only for user space (`BPF_MAP_FREEZE`); programs may
    /// still write unless created with `BPF_F_RDONLY_PROG`.
    pub fn freeze(&self) -> Result<()> {
        let mut attr = MapElemAttr {
            map_fd: self.raw_fd_u32(),
            ..MapElemAttr::default()
        };
        // SAFETY: no pointers.
        unsafe { sys::bpf(Cmd::MapFreeze, &mut attr) }
            .map(drop)
            .map_err(|errno| Error::syscall(Cmd::MapFreeze, errno))
    }

    /// Reads up to `count` entries starting at `start` (`None`: the beginning)
    /// with `BPF_MAP_LOOKUP_BATCH`. Hash maps answer `ENOSPC` when one bucket
    /// holds more than `count` entries; ask again with a larger `count`.
    pub fn lookup_batch(
        &self,
        start: Option<&BatchToken>,
        count: u32,
        elem_flags: u64,
    ) -> Result<MapBatch> {
        let key_size = self.key_size as usize;
        let value_size = self.syscall_value_size()?;
        // No batch holds more than the map; one spare slot lets the kernel
        // see the end (and answer ENOENT) within the same call.
        let wanted = count.min(self.max_entries.saturating_add(1)) as usize;
        let too_large = |len| Error::TooLarge {
            what: "batch buffer",
            len,
        };
        let keys_len = key_size.checked_mul(wanted).ok_or(too_large(wanted))?;
        let values_len = value_size.checked_mul(wanted).ok_or(too_large(wanted))?;
        let mut keys = vec![0u8; keys_len];
        let mut values = vec![0u8; values_len];
        // Hash maps keep a u32 bucket index here, arrays a key.
        let token_len = key_size.max(8);
        let mut out_token = vec![0u8; token_len];
        let in_token = match start {
            Some(BatchToken(bytes)) if bytes.len() == token_len => AlignedU64::slice(bytes),
            Some(BatchToken(bytes)) => {
                return Err(Error::BufferSize {
                    what: "batch token",
                    expected: token_len,
                    actual: bytes.len(),
                });
            }
            None => AlignedU64(0),
        };
        let mut attr = MapBatchAttr {
            in_batch: in_token,
            out_batch: AlignedU64::slice_mut(&mut out_token),
            keys: AlignedU64::slice_mut(&mut keys),
            values: AlignedU64::slice_mut(&mut values),
            // `wanted` came from a u32.
            count: u32::try_from(wanted).unwrap_or(count),
            map_fd: self.raw_fd_u32(),
            elem_flags: AlignedU64(elem_flags),
            flags: AlignedU64(0),
        };
        // SAFETY: keys/values hold `count` records; both tokens hold
        // max(key_size, 8) bytes, enough for either kind of cursor.
        let result = unsafe { sys::bpf(Cmd::MapLookupBatch, &mut attr) };
        let done = match result {
            Ok(_) => false,
            Err(Errno(libc::ENOENT)) => true,
            Err(errno) => return Err(Error::syscall(Cmd::MapLookupBatch, errno)),
        };
        let filled = (attr.count as usize).min(wanted);
        let entries = keys
            .chunks_exact(key_size.max(1))
            .zip(values.chunks_exact(value_size.max(1)))
            .take(filled)
            .map(|(k, v)| (k.get(..key_size).unwrap_or_default().to_vec(), v.to_vec()))
            .collect();
        Ok(MapBatch {
            entries,
            next: (!done).then_some(BatchToken(out_token)),
        })
    }

    /// What the kernel reports about this map (`BPF_OBJ_GET_INFO_BY_FD`).
    pub fn info(&self) -> Result<MapInfo> {
        map_info(self.fd.as_fd())
    }

    /// Pins the map at `path` on a bpffs (`BPF_OBJ_PIN`).
    pub fn pin(&self, path: &Path) -> Result<()> {
        obj::pin(self.fd.as_fd(), path)
    }

    fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.len() == self.key_size as usize {
            Ok(())
        } else {
            Err(Error::BufferSize {
                what: "key",
                expected: self.key_size as usize,
                actual: key.len(),
            })
        }
    }

    fn elem_attr(&self, key: AlignedU64, value: AlignedU64, flags: u64) -> MapElemAttr {
        MapElemAttr {
            map_fd: self.raw_fd_u32(),
            padding: 0,
            key,
            value,
            flags: AlignedU64(flags),
        }
    }

    fn raw_fd_u32(&self) -> u32 {
        fd_u32(self.fd.as_fd())
    }
}

impl AsFd for MapFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<MapFd> for OwnedFd {
    fn from(map: MapFd) -> OwnedFd {
        map.fd
    }
}

/// Iterator over a map's keys; see [`MapFd::keys`].
#[derive(Debug)]
pub struct Keys<'a> {
    map: &'a MapFd,
    last: Option<Vec<u8>>,
    remaining: u32,
}

impl Iterator for Keys<'_> {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        match self.map.next_key(self.last.as_deref()) {
            Ok(Some(key)) => {
                self.remaining -= 1;
                self.last = Some(key.clone());
                Some(Ok(key))
            }
            Ok(None) => {
                self.remaining = 0;
                None
            }
            Err(error) => {
                self.remaining = 0;
                Some(Err(error))
            }
        }
    }
}

/// `BPF_OBJ_GET_INFO_BY_FD` on a map fd.
pub(crate) fn map_info(fd: BorrowedFd<'_>) -> Result<MapInfo> {
    let mut raw = MapInfoRaw::default();
    obj::get_info(fd, &mut raw)?;
    Ok(MapInfo {
        map_type: MapType(raw.map_type),
        id: raw.id,
        key_size: raw.key_size,
        value_size: raw.value_size,
        max_entries: raw.max_entries,
        map_flags: raw.map_flags,
        name: sys::decode_name(&raw.name),
        ifindex: raw.ifindex,
        btf_vmlinux_value_type_id: raw.btf_vmlinux_value_type_id,
        btf_id: raw.btf_id,
        btf_key_type_id: raw.btf_key_type_id,
        btf_value_type_id: raw.btf_value_type_id,
        map_extra: raw.map_extra.0,
    })
}

/// An optional fd as the kernel's `__u32` fd fields want it (0 for none).
pub(crate) fn fd_field(fd: Option<BorrowedFd<'_>>) -> u32 {
    fd.map_or(0, fd_u32)
}

/// An open fd is never negative, so it converts losslessly.
pub(crate) fn fd_u32(fd: BorrowedFd<'_>) -> u32 {
    fd.as_raw_fd().unsigned_abs()
}
