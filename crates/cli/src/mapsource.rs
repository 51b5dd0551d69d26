//! The map an `apiary map` command addresses — bpftool's `MAP := { id ID |
//! name NAME | pinned FILE }` — and the element operations on it: the
//! running program's map when an `xdp run --pin-maps` serves the pin file
//! live (`liveclient`), else an Apiary pin file, or a kernel map (by id,
//! by name, or pinned on a bpffs) reached through `bpf()`, which needs
//! root.
//!
//! It must not print anything: `mapcmd` owns bpftool's output and wording.

use std::path::{Path, PathBuf};

use apiary_kernel::{BtfFd, MapFd, MapInfo};
use apiary_maps::pin::{self, MapBtf};
use apiary_maps::{Map, MapError, MapType};

use crate::liveclient::{self, LiveMap};
use crate::livewire::Op;

/// How a command names its map (`id 7`, `name counters`, `pinned PATH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handle<'a> {
    /// A kernel map by id.
    Id(u32),
    /// Kernel maps by name (several may share it).
    Name(&'a str),
    /// An Apiary pin file, or a kernel pin when the path is on a bpffs.
    Pinned(&'a Path),
}

/// An operation's errno, positive as C's `errno`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// `ENOENT`: no such element (or no more keys).
    pub fn is_not_found(self) -> bool {
        self.0 == libc::ENOENT
    }

    fn of_map(error: &MapError) -> Errno {
        Errno(-error.errno())
    }

    fn of_kernel(error: &apiary_kernel::Error) -> Errno {
        Errno(error.errno().map_or(libc::EINVAL, |e| e.0))
    }
}

/// Where the map's elements live.
pub enum Backing {
    /// An Apiary map read from its pin file.
    Apiary(Box<Map>),
    /// The map a running process serves, each operation applied there.
    Live(Box<LiveMap>),
    /// A kernel map, with its type as Apiary's table names it.
    Kernel {
        /// The open map.
        fd: MapFd,
        /// Its type.
        map_type: MapType,
    },
}

/// A map a command works on, with the BTF of its key and value.
pub struct OpenedMap {
    /// The elements.
    pub backing: Backing,
    /// Key and value types, when the map has them.
    pub btf: Option<MapBtf>,
    /// The Apiary pin file it came from, written back after a change.
    pub pin_file: Option<PathBuf>,
    /// The pin directory's lock, held from reading the pin file to writing
    /// it back, as a running `xdp run --pin-maps` holds it to write its
    /// maps (a live map needs none: its owner applies each operation).
    _dir_lock: Option<pin::DirLock>,
    /// What the kernel reports about a kernel map.
    pub kernel_info: Option<MapInfo>,
}

/// Opens the one map `handle` names; the error is bpftool's message.
pub fn open(handle: Handle<'_>) -> Result<OpenedMap, String> {
    let mut maps = open_all(handle)?;
    match maps.len() {
        1 => Ok(maps.remove(0)),
        0 => Err(no_map_named(handle)),
        _ => Err("several maps match this handle".to_owned()),
    }
}

/// Opens every map `handle` names (a name may match several kernel maps).
pub fn open_all(handle: Handle<'_>) -> Result<Vec<OpenedMap>, String> {
    if let Handle::Pinned(path) = handle
        && !on_bpffs(path)
    {
        if let Some(live) = liveclient::connect(path)? {
            return Ok(vec![OpenedMap {
                btf: live.description.btf.clone(),
                backing: Backing::Live(Box::new(live)),
                pin_file: None,
                kernel_info: None,
                _dir_lock: None,
            }]);
        }
        return Ok(vec![open_pin_file(path)?]);
    }
    open_kernel(handle)?.into_iter().map(kernel_map).collect()
}

/// The error for a handle that matched no map.
pub fn no_map_named(handle: Handle<'_>) -> String {
    match handle {
        Handle::Name(name) => format!("no map named '{name}'"),
        _ => "no map matches this handle".to_owned(),
    }
}

/// Whether `path` lies on a bpffs, where only kernel objects are pinned
/// (asked of its directory when the path itself cannot be examined, as
/// without root it cannot).
pub fn on_bpffs(path: &Path) -> bool {
    apiary_kernel::is_bpffs(path)
        .or_else(|_| apiary_kernel::is_bpffs(path.parent().unwrap_or(path)))
        .unwrap_or(false)
}

fn open_pin_file(path: &Path) -> Result<OpenedMap, String> {
    let dir_lock = pin::lock_dir_of(path).map_err(|e| e.to_string())?;
    let pinned = pin::load(path).map_err(|e| match e {
        pin::PinError::Io { source, .. } => {
            format!("bpf obj get ({}): {}", path.display(), strerror_of(&source))
        }
        other => format!(
            "{}: not a usable apiary pinned map: {other}",
            path.display()
        ),
    })?;
    Ok(OpenedMap {
        backing: Backing::Apiary(Box::new(pinned.map)),
        btf: pinned.btf,
        pin_file: Some(path.to_owned()),
        kernel_info: None,
        _dir_lock: Some(dir_lock),
    })
}

/// The kernel maps `handle` names (every match of a name), as bpftool's
/// `map_parse_fds` opens them.
pub fn open_kernel(handle: Handle<'_>) -> Result<Vec<MapFd>, String> {
    apiary_kernel::probe().map_err(|reason| {
        let what = match handle {
            Handle::Id(id) => format!("map id {id} is a kernel map"),
            Handle::Name(name) => format!("map name {name} names kernel maps"),
            Handle::Pinned(path) => format!("{} is a kernel pin (on bpffs)", path.display()),
        };
        format!("{what}: reading it needs bpf(): {reason}")
    })?;
    match handle {
        Handle::Id(id) => MapFd::from_id(id)
            .map(|fd| vec![fd])
            .map_err(|e| format!("get map by id ({id}): {}", strerror_kernel(&e))),
        Handle::Pinned(path) => MapFd::from_pinned(path)
            .map(|fd| vec![fd])
            .map_err(|e| match e {
                apiary_kernel::Error::WrongObjectKind { found, .. } => {
                    format!("incorrect object type: {found}")
                }
                e => format!("bpf obj get ({}): {}", path.display(), strerror_kernel(&e)),
            }),
        Handle::Name(name) => {
            let mut found = Vec::new();
            for fd in every_kernel_map()? {
                if fd.info().is_ok_and(|info| info.name == name) {
                    found.push(fd);
                }
            }
            Ok(found)
        }
    }
}

/// Every map of the running kernel, in id order (maps that vanish while
/// being listed are skipped, as bpftool skips them).
pub fn every_kernel_map() -> Result<Vec<MapFd>, String> {
    let mut maps = Vec::new();
    let mut id = 0;
    loop {
        match apiary_kernel::next_map_id(id) {
            Ok(Some(next)) => id = next,
            Ok(None) => return Ok(maps),
            Err(e) => return Err(format!("can't get next map: {}", strerror_kernel(&e))),
        }
        match MapFd::from_id(id) {
            Ok(fd) => maps.push(fd),
            Err(e) if e.errno().is_some_and(|e| e.0 == libc::ENOENT) => {}
            Err(e) => {
                return Err(format!(
                    "can't get map by id ({id}): {}",
                    strerror_kernel(&e)
                ));
            }
        }
    }
}

fn kernel_map(fd: MapFd) -> Result<OpenedMap, String> {
    let info = fd
        .info()
        .map_err(|e| format!("can't get map info: {}", strerror_kernel(&e)))?;
    let map_type = MapType::from_u32(info.map_type.0).map_err(|_| {
        format!(
            "map type {} is not one Apiary's map commands handle",
            info.map_type
        )
    })?;
    Ok(OpenedMap {
        btf: kernel_btf(&info)?,
        backing: Backing::Kernel { fd, map_type },
        pin_file: None,
        kernel_info: Some(info),
        _dir_lock: None,
    })
}

/// The map's BTF as bpftool fetches it (`btf__load_from_kernel_by_id`),
/// when it has a value type.
fn kernel_btf(info: &MapInfo) -> Result<Option<MapBtf>, String> {
    if info.btf_id == 0 || info.btf_value_type_id == 0 {
        return Ok(None);
    }
    let blob = BtfFd::from_id(info.btf_id)
        .and_then(|btf| btf.data())
        .map_err(|e| format!("failed to get btf: {}", strerror_kernel(&e)))?;
    Ok(Some(MapBtf {
        blob,
        key_type_id: info.btf_key_type_id,
        value_type_id: info.btf_value_type_id,
    }))
}

/// The C library's text for an I/O error, as `strerror` gives it.
pub fn strerror_of(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn strerror_kernel(error: &apiary_kernel::Error) -> String {
    match error.errno() {
        Some(errno) => strerror_of(&std::io::Error::from_raw_os_error(errno.0)),
        None => error.to_string(),
    }
}

impl Backing {
    /// The map's type.
    pub fn map_type(&self) -> MapType {
        match self {
            Backing::Apiary(map) => map.map_type(),
            Backing::Live(live) => live.map_type,
            Backing::Kernel { map_type, .. } => *map_type,
        }
    }

    /// Key size in bytes.
    pub fn key_size(&self) -> usize {
        match self {
            Backing::Apiary(map) => map.key_size(),
            Backing::Live(live) => live.description.key_size as usize,
            Backing::Kernel { fd, .. } => fd.key_size() as usize,
        }
    }

    /// Value size in bytes (per CPU for per-CPU maps).
    pub fn value_size(&self) -> usize {
        match self {
            Backing::Apiary(map) => map.value_size(),
            Backing::Live(live) => live.description.value_size as usize,
            Backing::Kernel { fd, .. } => fd.value_size() as usize,
        }
    }

    /// Maximum number of entries.
    pub fn max_entries(&self) -> u32 {
        match self {
            Backing::Apiary(map) => map.max_entries(),
            Backing::Live(live) => live.description.max_entries,
            Backing::Kernel { fd, .. } => fd.max_entries(),
        }
    }

    /// Bytes of a value as user space exchanges it (every CPU's slot, 8-byte
    /// padded, for per-CPU maps).
    pub fn host_value_size(&self) -> usize {
        match self {
            Backing::Apiary(map) => map.host_value_size(),
            Backing::Live(live) => live.description.host_value_size as usize,
            Backing::Kernel { fd, .. } => {
                fd.syscall_value_size().unwrap_or(fd.value_size() as usize)
            }
        }
    }

    /// The key after `key` (the first for `None`).
    pub fn next_key(&self, key: Option<&[u8]>) -> Result<Vec<u8>, Errno> {
        match self {
            Backing::Apiary(map) => map.sys_get_next_key(key).map_err(|e| Errno::of_map(&e)),
            Backing::Live(live) => live.operate(Op::NextKey, key, &[], 0),
            Backing::Kernel { fd, .. } => found(fd.next_key(key)),
        }
    }

    /// The value at `key`.
    pub fn lookup(&self, key: &[u8]) -> Result<Vec<u8>, Errno> {
        match self {
            Backing::Apiary(map) => map.sys_lookup(key, 0).map_err(|e| Errno::of_map(&e)),
            Backing::Live(live) => live.operate(Op::Lookup, Some(key), &[], 0),
            Backing::Kernel { fd, .. } => found(fd.lookup(key, 0)),
        }
    }

    /// Takes the value at `key` (a queue's or stack's head for an empty key).
    pub fn lookup_and_delete(&self, key: &[u8]) -> Result<Vec<u8>, Errno> {
        match self {
            Backing::Apiary(map) => map
                .sys_lookup_and_delete(key, 0)
                .map_err(|e| Errno::of_map(&e)),
            Backing::Live(live) => live.operate(Op::LookupAndDelete, Some(key), &[], 0),
            Backing::Kernel { fd, .. } => found(fd.lookup_and_delete(key, 0)),
        }
    }

    /// Whether a bloom filter may contain `value` (`ENOENT` when not).
    pub fn bloom_peek(&self, value: &mut [u8]) -> Result<(), Errno> {
        match self {
            Backing::Apiary(map) => map.peek(value).map_err(|e| Errno::of_map(&e)),
            Backing::Live(live) => live.operate(Op::BloomPeek, None, value, 0).map(|_| ()),
            Backing::Kernel { fd, .. } => match fd.bloom_contains(value) {
                Ok(true) => Ok(()),
                Ok(false) => Err(Errno(libc::ENOENT)),
                Err(e) => Err(Errno::of_kernel(&e)),
            },
        }
    }

    /// Writes `value` at `key` with `flags` (`BPF_ANY`, ...).
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), Errno> {
        match self {
            Backing::Apiary(map) => map
                .sys_update(key, value, flags)
                .map_err(|e| Errno::of_map(&e)),
            Backing::Live(live) => live
                .operate(Op::Update, Some(key), value, flags)
                .map(|_| ()),
            Backing::Kernel { fd, .. } => fd
                .update(key, value, flags)
                .map_err(|e| Errno::of_kernel(&e)),
        }
    }

    /// Removes the element at `key`.
    pub fn delete(&self, key: &[u8]) -> Result<(), Errno> {
        match self {
            Backing::Apiary(map) => map.sys_delete(key).map_err(|e| Errno::of_map(&e)),
            Backing::Live(live) => live.operate(Op::Delete, Some(key), &[], 0).map(|_| ()),
            Backing::Kernel { fd, .. } => fd.delete(key).map_err(|e| Errno::of_kernel(&e)),
        }
    }
}

/// A kernel answer where `Ok(None)` means `ENOENT`.
fn found(answer: apiary_kernel::Result<Option<Vec<u8>>>) -> Result<Vec<u8>, Errno> {
    match answer {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(Errno(libc::ENOENT)),
        Err(e) => Err(Errno::of_kernel(&e)),
    }
}
