//! `task_storage`, `sk_storage` and `cgrp_storage` maps, with the kernel's rules from
//! `kernel/bpf/bpf_local_storage.c`, `kernel/bpf/bpf_task_storage.c` and
//! `net/core/bpf_sk_storage.c` (a kernel local storage map needs BTF key
//! and value types, which these tests' raw map creation does not give, so
//! they are not replayed against the running kernel): creation checks,
//! host operations keyed by a pidfd, a socket fd or a cgroup directory
//! fd, and the program side keyed by the task, the socket's cookie or the
//! cgroup's id.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use apiary_maps::*;

fn task_storage(value_size: u32) -> MapDef {
    MapDef::new(MapType::TaskStorage, 4, value_size, 0).with_flags(BPF_F_NO_PREALLOC)
}

fn errno_of(def: MapDef) -> std::result::Result<(), i32> {
    Map::create(def, 1).map(|_| ()).map_err(|e| e.errno())
}

/// A pidfd of this process (`pidfd_open(getpid(), 0)`).
fn own_pidfd() -> OwnedFd {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id(), 0) };
    assert!(fd >= 0, "pidfd_open failed");
    // SAFETY: the fd was just returned to us and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

fn key(fd: i32) -> Vec<u8> {
    fd.to_ne_bytes().to_vec()
}

#[test]
fn creation_follows_local_storage_rules() {
    let einval = Err(-libc::EINVAL);
    assert_eq!(errno_of(task_storage(8)), Ok(()));
    assert_eq!(
        errno_of(task_storage(8).with_flags(BPF_F_NO_PREALLOC | BPF_F_CLONE)),
        Ok(())
    );
    assert_eq!(errno_of(task_storage(8).with_flags(0)), einval);
    assert_eq!(
        errno_of(task_storage(8).with_flags(BPF_F_NO_PREALLOC | BPF_F_RDONLY)),
        einval
    );
    assert_eq!(errno_of(task_storage(0)), einval);
    let mut one_entry = task_storage(8);
    one_entry.max_entries = 1;
    assert_eq!(errno_of(one_entry), einval);
    let mut long_key = task_storage(8);
    long_key.key_size = 8;
    assert_eq!(errno_of(long_key), einval);
    // U16_MAX less the 128-byte element header.
    assert_eq!(errno_of(task_storage(65407)), Ok(()));
    assert_eq!(errno_of(task_storage(65408)), Err(-libc::E2BIG));
}

#[test]
fn host_operations_name_the_task_by_pidfd() {
    let map = Map::create(task_storage(8), 1).expect("task storage");
    let pidfd = own_pidfd();
    let k = key(pidfd.as_raw_fd());
    let errno = |r: apiary_maps::Result<()>| r.map_err(|e| e.errno());
    assert_eq!(
        map.sys_lookup(&k, 0).map_err(|e| e.errno()),
        Err(-libc::ENOENT)
    );
    assert_eq!(
        errno(map.sys_update(&k, &7u64.to_ne_bytes(), BPF_EXIST)),
        Err(-libc::ENOENT)
    );
    assert_eq!(
        errno(map.sys_update(&k, &7u64.to_ne_bytes(), BPF_ANY)),
        Ok(())
    );
    assert_eq!(
        errno(map.sys_update(&k, &8u64.to_ne_bytes(), BPF_NOEXIST)),
        Err(-libc::EEXIST)
    );
    assert_eq!(
        errno(map.sys_update(&k, &8u64.to_ne_bytes(), 3)),
        Err(-libc::EINVAL)
    );
    assert_eq!(
        map.sys_lookup(&k, 0).ok(),
        Some(7u64.to_ne_bytes().to_vec())
    );
    assert_eq!(map.len(), 1);
    // Local storage has no key order (`notsupp_get_next_key`).
    assert_eq!(
        map.sys_get_next_key(None).map_err(|e| e.errno()),
        Err(-ENOTSUPP)
    );
    assert_eq!(errno(map.sys_delete(&k)), Ok(()));
    assert_eq!(errno(map.sys_delete(&k)), Err(-libc::ENOENT));
    // An fd that is not a pidfd, and one that is not open.
    let file = std::fs::File::open("/dev/null").expect("open /dev/null");
    assert_eq!(
        errno(map.sys_delete(&key(file.as_raw_fd()))),
        Err(-libc::EBADF)
    );
    assert_eq!(errno(map.sys_delete(&key(-1))), Err(-libc::EBADF));
}

#[test]
fn programs_reach_the_value_through_the_task() {
    let map = Map::create(task_storage(8), 1).expect("task storage");
    let task = u64::from(std::process::id());
    assert_eq!(map.storage_get(task, None).ok(), Some(None));
    let created = map
        .storage_get(task, Some(&5u64.to_ne_bytes()))
        .expect("get")
        .expect("created");
    assert_eq!(created.len(), 8);
    // A second create finds the first value, not a new one.
    let again = map
        .storage_get(task, Some(&[0; 8]))
        .expect("get")
        .expect("found");
    assert_eq!(again.addr(), created.addr());
    // The host sees the program's value through a pidfd of the same task.
    let pidfd = own_pidfd();
    assert_eq!(
        map.sys_lookup(&key(pidfd.as_raw_fd()), 0).ok(),
        Some(5u64.to_ne_bytes().to_vec())
    );
    assert_eq!(map.storage_delete(task).map_err(|e| e.errno()), Ok(()));
    assert_eq!(
        map.storage_delete(task).map_err(|e| e.errno()),
        Err(-libc::ENOENT)
    );
    assert_eq!(
        map.storage_get(task, Some(&[0; 4])).map_err(|e| e.errno()),
        Err(-libc::EINVAL)
    );
}

fn sk_storage() -> MapDef {
    MapDef::new(MapType::SkStorage, 4, 8, 0).with_flags(BPF_F_NO_PREALLOC)
}

/// The cookie of `socket` (`SO_COOKIE`).
fn cookie_of(socket: &std::net::UdpSocket) -> u64 {
    let mut cookie = 0u64;
    let mut len = 8 as libc::socklen_t;
    // SAFETY: SO_COOKIE writes at most `len` bytes into `cookie`.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_COOKIE,
            (&raw mut cookie).cast(),
            &raw mut len,
        )
    };
    assert_eq!(rc, 0, "SO_COOKIE");
    cookie
}

#[test]
fn socket_storage_is_keyed_by_socket_fd_and_cookie() {
    assert_eq!(errno_of(sk_storage()), Ok(()));
    assert_eq!(errno_of(sk_storage().with_flags(0)), Err(-libc::EINVAL));
    let map = Map::create(sk_storage(), 1).expect("sk storage");
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let k = key(socket.as_raw_fd());
    let errno = |r: apiary_maps::Result<()>| r.map_err(|e| e.errno());
    assert_eq!(
        errno(map.sys_update(&k, &3u64.to_ne_bytes(), BPF_NOEXIST)),
        Ok(())
    );
    // A program reaches the same value through the socket.
    let value = map
        .storage_get(cookie_of(&socket), None)
        .expect("get")
        .expect("the host's value");
    assert_eq!(value.len(), 8);
    assert_eq!(
        map.storage_delete(cookie_of(&socket))
            .map_err(|e| e.errno()),
        Ok(())
    );
    assert_eq!(
        map.sys_lookup(&k, 0).map_err(|e| e.errno()),
        Err(-libc::ENOENT)
    );
    // `sockfd_lookup`: not a socket, not open.
    let file = std::fs::File::open("/dev/null").expect("open /dev/null");
    assert_eq!(
        errno(map.sys_delete(&key(file.as_raw_fd()))),
        Err(-libc::ENOTSOCK)
    );
    assert_eq!(errno(map.sys_delete(&key(-1))), Err(-libc::EBADF));
}

/// Where a cgroup v2 hierarchy is mounted: `/sys/fs/cgroup` on a unified
/// host, `/sys/fs/cgroup/unified` (or elsewhere) on a host that keeps the
/// v1 controllers, so the mount table is asked rather than one path.
fn cgroup2_root() -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_source, target, fstype) = (fields.next()?, fields.next()?, fields.next()?);
        // Mount points escape spaces as `\040`; such a path is not used here.
        (fstype == "cgroup2" && !target.contains('\\')).then(|| target.to_owned())
    })
}

#[test]
fn cgroup_storage_is_keyed_by_cgroup_directory() {
    use std::os::unix::fs::MetadataExt;
    let Some(dir) = cgroup2_root() else {
        return apiary_testskip::missing(
            "cgroup_storage_is_keyed_by_cgroup_directory",
            "no cgroup v2 hierarchy is mounted (/proc/self/mounts)",
        );
    };
    let def = MapDef::new(MapType::CgrpStorage, 4, 8, 0).with_flags(BPF_F_NO_PREALLOC);
    let map = Map::create(def, 1).expect("cgrp storage");
    let dir = dir.as_str();
    let cgroup = std::fs::File::open(dir).expect("open the cgroup directory");
    let k = key(cgroup.as_raw_fd());
    let errno = |r: apiary_maps::Result<()>| r.map_err(|e| e.errno());
    assert_eq!(
        errno(map.sys_update(&k, &9u64.to_ne_bytes(), BPF_ANY)),
        Ok(())
    );
    let id = std::fs::metadata(dir).expect("stat").ino();
    let value = map
        .storage_get(id, None)
        .expect("get")
        .expect("the host's value");
    assert_eq!(value.len(), 8);
    // A directory that is not a cgroup, a file, an fd that is not open.
    let tmp = std::fs::File::open("/tmp").expect("open /tmp");
    assert_eq!(
        errno(map.sys_delete(&key(tmp.as_raw_fd()))),
        Err(-libc::EBADF)
    );
    let file = std::fs::File::open("/dev/null").expect("open /dev/null");
    assert_eq!(
        errno(map.sys_delete(&key(file.as_raw_fd()))),
        Err(-libc::EBADF)
    );
    assert_eq!(errno(map.sys_delete(&key(-1))), Err(-libc::EBADF));
    assert_eq!(errno(map.sys_delete(&k)), Ok(()));
}
