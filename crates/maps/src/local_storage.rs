//! Local storage maps (`kernel/bpf/bpf_local_storage.c`,
//! `kernel/bpf/bpf_task_storage.c`, `net/core/bpf_sk_storage.c`): a value
//! per kernel object rather than per key. `task_storage` values belong to
//! tasks, named by their thread id; `sk_storage` values to sockets, named
//! by their cookie.
//!
//! A program reaches a value through the object itself
//! (`bpf_task_storage_get(map, task, ...)`); the runtime names the object,
//! so this module takes owners as numbers. The host names the object by an
//! fd (the map's 4-byte key): a pidfd, resolved through
//! `/proc/self/fdinfo` as the kernel's `pidfd_get_pid` resolves it, or a
//! socket, resolved to its cookie (`SO_COOKIE`) as `sockfd_lookup` finds
//! the socket, or a cgroup v2 directory, resolved to its id (the
//! directory's inode number, as kernfs numbers it).
//!
//! The kernel gives every object its own storage and has no entry limit;
//! here the values live in one hash table of [`MAX_OWNERS`] owners, past
//! which creating another value fails as an allocation failure would.

use crate::def::MapType;
use crate::error::{MapError, Result, check_len};
use crate::hash::{HashKind, HashTable, ValueSrc};
use crate::mem::ValueRef;

/// Objects one local storage map holds values for at most.
pub(crate) const MAX_OWNERS: u32 = 1 << 16;

/// `sizeof(struct bpf_local_storage_elem)` on x86-64: its data is
/// cacheline aligned after four list heads and a pointer.
const LOCAL_STORAGE_ELEM_SIZE: u32 = 128;
/// `BPF_LOCAL_STORAGE_MAX_VALUE_SIZE`: a value and its element fit a `u16`.
pub(crate) const MAX_VALUE_SIZE: u32 = u16::MAX as u32 - LOCAL_STORAGE_ELEM_SIZE;

/// The values of one local storage map, by owner.
pub(crate) struct LocalStorage {
    ty: MapType,
    values: HashTable,
}

impl LocalStorage {
    pub(crate) fn new(ty: MapType, value_size: u32) -> Result<LocalStorage> {
        let values = HashTable::new(
            HashKind {
                percpu: false,
                lru: false,
            },
            8,
            value_size,
            MAX_OWNERS,
            crate::def::BPF_F_NO_PREALLOC,
            1,
            None,
        )?;
        Ok(LocalStorage { ty, values })
    }

    /// `bpf_*_storage_get`: the value of `owner`; when it has none and
    /// `create` is given, a new value holding those bytes (`None` when the
    /// storage is full, as the kernel's failed allocation is NULL).
    pub(crate) fn get(&self, owner: u64, create: Option<&[u8]>) -> Result<Option<ValueRef>> {
        let key = owner.to_ne_bytes();
        if let Some(found) = self.values.lookup(&key, 0, false)? {
            return Ok(Some(found));
        }
        let Some(init) = create else {
            return Ok(None);
        };
        match self
            .values
            .update(&key, ValueSrc::All(init), crate::def::BPF_NOEXIST, 0)
        {
            // Another CPU created it first: the kernel returns that one.
            Ok(()) | Err(MapError::AlreadyExists) => self.values.lookup(&key, 0, false),
            Err(MapError::TooBig(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// `bpf_*_storage_delete`: `ENOENT` when `owner` has no value.
    pub(crate) fn delete(&self, owner: u64) -> Result<()> {
        self.values.delete(&owner.to_ne_bytes())
    }

    /// `BPF_MAP_LOOKUP_ELEM` with the object's fd as key.
    pub(crate) fn sys_lookup(&self, key: &[u8], flags: u64) -> Result<Vec<u8>> {
        let owner = self.owner_of(key)?;
        self.values.sys_lookup(&owner.to_ne_bytes(), flags)
    }

    /// `BPF_MAP_UPDATE_ELEM` with the object's fd as key
    /// (`bpf_local_storage_update`: `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`).
    pub(crate) fn sys_update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        if flags & !crate::def::BPF_F_LOCK > crate::def::BPF_EXIST {
            return Err(MapError::Invalid("unknown local storage update flags"));
        }
        let owner = self.owner_of(key)?;
        check_len("value", value, self.values.host_value_size())?;
        match self
            .values
            .update(&owner.to_ne_bytes(), ValueSrc::All(value), flags, 0)
        {
            Err(MapError::TooBig(_)) => Err(MapError::NoMemory(
                "local storage holds values for 65536 objects at most",
            )),
            other => other,
        }
    }

    /// `BPF_MAP_DELETE_ELEM` with the object's fd as key.
    pub(crate) fn sys_delete(&self, key: &[u8]) -> Result<()> {
        self.delete(self.owner_of(key)?)
    }

    /// Objects that have a value.
    pub(crate) fn len(&self) -> u32 {
        self.values.len()
    }

    /// The owner the host's key (an fd) names.
    fn owner_of(&self, key: &[u8]) -> Result<u64> {
        check_len("key", key, 4)?;
        let fd = i32::from_ne_bytes([key[0], key[1], key[2], key[3]]);
        match self.ty {
            MapType::TaskStorage => pidfd_thread(fd),
            MapType::SkStorage => socket_cookie(fd),
            MapType::CgrpStorage => cgroup_id(fd),
            _ => Err(MapError::NotSupported("local storage of this object kind")),
        }
    }
}

/// The thread a pidfd of this process refers to (`pidfd_get_pid` then
/// `pid_task`): `EBADF` for an fd that is not a pidfd, `ENOENT` for a
/// task that has exited (its fdinfo shows `Pid: -1`).
fn pidfd_thread(fd: i32) -> Result<u64> {
    if fd < 0 {
        return Err(MapError::BadFd);
    }
    let info =
        std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).map_err(|_| MapError::BadFd)?;
    let pid = info
        .lines()
        .find_map(|line| line.strip_prefix("Pid:"))
        .ok_or(MapError::BadFd)?
        .trim();
    match pid.parse::<i64>() {
        Ok(pid) if pid > 0 => Ok(pid as u64),
        Ok(_) => Err(MapError::NotFound),
        Err(_) => Err(MapError::BadFd),
    }
}

/// The cookie of the socket `fd` (`sockfd_lookup`): `EBADF` for an fd that
/// is not open, `ENOTSOCK` for one that is not a socket.
fn socket_cookie(fd: i32) -> Result<u64> {
    let mut cookie = 0u64;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: SO_COOKIE writes at most `len` bytes into `cookie`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_COOKIE,
            (&raw mut cookie).cast(),
            &raw mut len,
        )
    };
    if rc == 0 {
        return Ok(cookie);
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::ENOTSOCK) => Err(MapError::NotSocket),
        _ => Err(MapError::BadFd),
    }
}

/// The id of the cgroup v2 directory `fd` (`cgroup_v1v2_get_from_fd`):
/// `EBADF` for an fd that is not open or not a cgroup.
fn cgroup_id(fd: i32) -> Result<u64> {
    // SAFETY: fstatfs and fstat fill the structs they are given.
    let (fs, st) = unsafe {
        let mut fs: libc::statfs = std::mem::zeroed();
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstatfs(fd, &raw mut fs) != 0 || libc::fstat(fd, &raw mut st) != 0 {
            return Err(MapError::BadFd);
        }
        (fs, st)
    };
    // `CGROUP2_SUPER_MAGIC`: the file system type of cgroup v2 directories.
    if fs.f_type != libc::CGROUP2_SUPER_MAGIC || st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(MapError::BadFd);
    }
    Ok(st.st_ino)
}
