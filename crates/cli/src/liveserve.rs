//! The owner's side of live maps: a running `xdp run --pin-maps DIR`
//! answers `apiary map ... pinned DIR/NAME` over `DIR/.apiary-live.sock`
//! by applying each operation to the very map its workers use, so an
//! update is seen by the next frame and a dump shows the current values.
//!
//! The socket is mode 0600 and a connection from another user is closed
//! unanswered (its peer credentials are checked). A socket left by a
//! process that died is recognised (nothing accepts on it) and replaced;
//! one another live process accepts on is refused. Each connection is
//! served on its own thread, at most [`MAX_CONNECTIONS`] at once, and a
//! client that stops talking is dropped after [`IDLE`].
//!
//! Stopping (dropping the [`LiveServer`]) removes the socket, lets every
//! connection finish the request it is answering, ends each at its next
//! request, and returns only when none is left, so that nothing the owner
//! writes afterwards (its final pin files) can miss an answered update.
//!
//! It must not encode messages (`livewire`) nor write pin files
//! (`livepins`).

use std::collections::HashMap;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use apiary_maps::Map;
use apiary_maps::pin::MapBtf;

use crate::error::CliError;
use crate::livewire::{
    Description, Op, Request, Response, SOCKET_NAME, WireError, peer_uid, read_frame, write_frame,
};

/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a connection may stay silent before it is closed.
pub const IDLE: Duration = Duration::from_secs(10);
/// How often the accepting thread looks whether the run has ended.
const POLL: Duration = Duration::from_millis(100);
/// How long stopping waits for connections to end their last answer.
const LAST_ANSWER: Duration = Duration::from_secs(5);

/// A map the owner serves: the map itself and its BTF.
pub struct Served {
    /// The map the workers use.
    pub map: Arc<Map>,
    /// Its key and value types.
    pub btf: Option<MapBtf>,
}

/// The listening socket and its thread; dropping it stops serving and
/// removes the socket.
pub struct LiveServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    open: Arc<Open>,
}

/// The connections being served, by number: a second handle on each
/// stream, so that stopping can end their reading.
#[derive(Default)]
struct Open {
    streams: Mutex<(u64, HashMap<u64, UnixStream>)>,
}

impl Open {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<u64, UnixStream>)> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self) -> usize {
        self.lock().1.len()
    }
}

impl LiveServer {
    /// Serves `maps` (by pin file name) on `dir`'s socket.
    pub fn start(dir: &Path, maps: HashMap<String, Served>) -> Result<LiveServer, CliError> {
        let path = dir.join(SOCKET_NAME);
        let at = || path.display().to_string();
        clear_stale(&path)?;
        let listener = UnixListener::bind(&path).map_err(|e| CliError::at(at(), e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| CliError::at(at(), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| CliError::at(at(), e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Open::default());
        let thread = {
            let stop = Arc::clone(&stop);
            let open = Arc::clone(&open);
            let maps = Arc::new(maps);
            std::thread::Builder::new()
                .name("apiary-live".into())
                .spawn(move || accept_until(&listener, &maps, &stop, &open))
                .map_err(|e| CliError::at(at(), e))?
        };
        Ok(LiveServer {
            path,
            stop,
            thread: Some(thread),
            open,
        })
    }
}

impl Drop for LiveServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_file(&self.path);
        // A connection's next read ends; the answer it is writing does not.
        for stream in self.open.lock().1.values() {
            let _ = stream.shutdown(Shutdown::Read);
        }
        let started = Instant::now();
        while self.open.count() > 0 && started.elapsed() < LAST_ANSWER {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Removes a socket nothing accepts on; refuses a live one or a file that
/// is not a socket.
fn clear_stale(path: &Path) -> Result<(), CliError> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    let at = || path.display().to_string();
    if !meta.file_type().is_socket() {
        return Err(CliError::at(
            at(),
            "exists and is not a socket; remove it to share the maps live",
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(CliError::at(
            at(),
            "another running process serves these maps live; one owner per pin directory",
        )),
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
            std::fs::remove_file(path).map_err(|e| CliError::at(at(), e))
        }
        Err(e) => Err(CliError::at(at(), e)),
    }
}

fn accept_until(
    listener: &UnixListener,
    maps: &Arc<HashMap<String, Served>>,
    stop: &AtomicBool,
    open: &Arc<Open>,
) {
    // SAFETY: geteuid has no preconditions.
    let owner = unsafe { libc::geteuid() };
    while !stop.load(Ordering::Relaxed) {
        if open.count() >= MAX_CONNECTIONS {
            std::thread::sleep(POLL);
            continue;
        }
        if !readable(listener) {
            continue;
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        if peer_uid(&stream).ok() != Some(owner)
            || stream.set_nonblocking(false).is_err()
            || stream.set_read_timeout(Some(IDLE)).is_err()
        {
            continue;
        }
        let Some(slot) = Slot::take(open, &stream) else {
            continue;
        };
        let maps = Arc::clone(maps);
        // A thread that cannot be spawned drops the closure, and the slot.
        let _ = std::thread::Builder::new()
            .name("apiary-live-conn".into())
            .spawn(move || {
                let _slot = slot;
                serve(&stream, &maps);
            });
    }
}

/// One of the [`MAX_CONNECTIONS`], given back when dropped, also when its
/// thread ends by a panic.
struct Slot {
    open: Arc<Open>,
    number: u64,
}

impl Slot {
    /// The slot of `stream`, unless its second handle cannot be made.
    fn take(open: &Arc<Open>, stream: &UnixStream) -> Option<Slot> {
        let handle = stream.try_clone().ok()?;
        let mut streams = open.lock();
        let number = streams.0;
        streams.0 += 1;
        streams.1.insert(number, handle);
        Some(Slot {
            open: Arc::clone(open),
            number,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.open.lock().1.remove(&self.number);
    }
}

/// Waits up to [`POLL`] for a connection to accept.
fn readable(listener: &UnixListener) -> bool {
    let mut fd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the call's duration.
    unsafe { libc::poll(&mut fd, 1, POLL.as_millis() as i32) > 0 }
}

/// Answers one connection's requests until it closes or sends something
/// unreadable (answered with `BadRequest`, then closed: after a bad
/// length the stream cannot be resynchronised).
fn serve(stream: &UnixStream, maps: &HashMap<String, Served>) {
    let mut reader = stream;
    loop {
        let response = match read_frame(&mut reader).and_then(|body| Request::decode(&body)) {
            Ok(request) => answer(&request, maps),
            Err(WireError::Io(_)) => return,
            Err(e) => {
                let _ = write_frame(&mut reader, &Response::BadRequest(e.to_string()).encode());
                return;
            }
        };
        if write_frame(&mut reader, &response.encode()).is_err() {
            return;
        }
    }
}

/// Applies one request to its map.
pub fn answer(request: &Request, maps: &HashMap<String, Served>) -> Response {
    let Some(served) = maps.get(&request.map) else {
        return Response::NotServed;
    };
    let map = &served.map;
    let key = request.key.as_deref().unwrap_or_default();
    let done = match request.op {
        Op::Describe => Ok(describe(served).encode()),
        Op::Lookup => map.sys_lookup(key, 0),
        Op::NextKey => map.sys_get_next_key(request.key.as_deref()),
        Op::LookupAndDelete => map.sys_lookup_and_delete(key, 0),
        Op::BloomPeek if request.value.len() != map.value_size() => {
            return Response::Errno(libc::EINVAL);
        }
        Op::BloomPeek => {
            let mut value = request.value.clone();
            map.peek(&mut value).map(|()| value)
        }
        Op::Update => map
            .sys_update(key, &request.value, request.flags)
            .map(|()| Vec::new()),
        Op::Delete => map.sys_delete(key).map(|()| Vec::new()),
    };
    match done {
        Ok(bytes) => Response::Ok(bytes),
        Err(e) => Response::Errno(-e.errno()),
    }
}

fn describe(served: &Served) -> Description {
    let map = &served.map;
    let size = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Description {
        map_type: map.map_type() as u32,
        key_size: size(map.key_size()),
        value_size: size(map.value_size()),
        max_entries: map.max_entries(),
        host_value_size: size(map.host_value_size()),
        btf: served.btf.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::liveclient;
    use crate::mapsource::Errno;
    use apiary_maps::{BPF_NOEXIST, MapDef, MapType};

    /// A scratch pin directory, removed when dropped.
    struct Dir(PathBuf);

    impl Dir {
        fn new(test: &str) -> Dir {
            let dir =
                std::env::temp_dir().join(format!("apiary-live-{test}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("scratch directory");
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn hash_map() -> Arc<Map> {
        let def = MapDef::new(MapType::Hash, 4, 4, 16).with_name("h");
        Arc::new(Map::create(def, 1).expect("map"))
    }

    fn serve_one(dir: &Path, map: &Arc<Map>) -> Result<LiveServer, CliError> {
        let served = Served {
            map: Arc::clone(map),
            btf: None,
        };
        LiveServer::start(dir, HashMap::from([("h".to_owned(), served)]))
    }

    /// What a client does lands in the served map object itself (read
    /// here directly, not through the socket), and what the map holds is
    /// what the client reads.
    #[test]
    fn operations_apply_to_the_served_map_itself() {
        let dir = Dir::new("ops");
        let map = hash_map();
        let _server = serve_one(&dir.0, &map).expect("server");
        let mode = std::fs::metadata(dir.0.join(SOCKET_NAME)).expect("socket");
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
        let live = liveclient::connect(&dir.0.join("h"))
            .expect("no error")
            .expect("served live");
        assert_eq!(live.map_type, MapType::Hash);
        assert_eq!(live.description.key_size, 4);
        live.operate(Op::Update, Some(&[1, 0, 0, 0]), &[7, 0, 0, 0], 0)
            .expect("update");
        assert_eq!(map.sys_lookup(&[1, 0, 0, 0], 0).unwrap(), [7, 0, 0, 0]);
        map.sys_update(&[2, 0, 0, 0], &[9, 0, 0, 0], 0).unwrap();
        assert_eq!(
            live.operate(Op::Lookup, Some(&[2, 0, 0, 0]), &[], 0),
            Ok(vec![9, 0, 0, 0])
        );
        assert_eq!(
            live.operate(Op::Update, Some(&[2, 0, 0, 0]), &[1, 0, 0, 0], BPF_NOEXIST),
            Err(Errno(libc::EEXIST))
        );
        let first = live
            .operate(Op::NextKey, None, &[], 0)
            .expect("a first key");
        let second = live
            .operate(Op::NextKey, Some(&first), &[], 0)
            .expect("a second key");
        assert_eq!(
            live.operate(Op::NextKey, Some(&second), &[], 0),
            Err(Errno(libc::ENOENT))
        );
        live.operate(Op::Delete, Some(&[1, 0, 0, 0]), &[], 0)
            .expect("delete");
        assert!(map.sys_lookup(&[1, 0, 0, 0], 0).is_err());
        // A key or value of the wrong size is the map's EINVAL, not a crash.
        assert_eq!(
            live.operate(Op::Lookup, Some(&[1]), &[], 0),
            Err(Errno(libc::EINVAL))
        );
        for value in [&[][..], &[1; 3], &[1; 4096]] {
            assert_eq!(
                live.operate(Op::Update, Some(&[3, 0, 0, 0]), value, 0),
                Err(Errno(libc::EINVAL)),
                "a {}-byte value",
                value.len()
            );
        }
        // A map the owner does not serve is left to its pin file.
        assert!(liveclient::connect(&dir.0.join("other")).unwrap().is_none());
    }

    /// Stopping ends every connection before it returns (an owner writes
    /// its final pin files after it), also one idle between requests; a
    /// client then finds no live map, also one whose connection was
    /// accepted but not answered before the stop.
    #[test]
    fn stopping_ends_every_connection_before_returning() {
        let dir = Dir::new("stop");
        let map = hash_map();
        let server = serve_one(&dir.0, &map).expect("server");
        let live = liveclient::connect(&dir.0.join("h"))
            .expect("no error")
            .expect("served live");
        live.operate(Op::Update, Some(&[1, 0, 0, 0]), &[7, 0, 0, 0], 0)
            .expect("update");
        // Connected (in the backlog or accepted) but not yet asking.
        let waiting = UnixStream::connect(dir.0.join(SOCKET_NAME)).expect("connects");
        let open = Arc::clone(&server.open);
        let started = Instant::now();
        drop(server);
        assert_eq!(open.count(), 0, "connections left after stopping");
        assert!(
            started.elapsed() < IDLE,
            "stopping waited for the idle timeout"
        );
        assert!(!dir.0.join(SOCKET_NAME).exists(), "the socket is removed");
        assert_eq!(
            live.operate(Op::Lookup, Some(&[1, 0, 0, 0]), &[], 0),
            Err(Errno(libc::EIO)),
            "a conversation after the stop is over"
        );
        let mut reader = &waiting;
        assert!(
            read_frame(&mut reader).is_err(),
            "the waiting connection is closed unanswered"
        );
        assert!(liveclient::connect(&dir.0.join("h")).unwrap().is_none());
        assert_eq!(map.sys_lookup(&[1, 0, 0, 0], 0).unwrap(), [7, 0, 0, 0]);
    }

    /// An owner that closes a connection unanswered is stopping: the
    /// command goes to the pin file (which the owner writes last, under
    /// the directory's lock) instead of failing.
    #[test]
    fn a_connection_closed_unanswered_leaves_the_map_to_its_pin_file() {
        let dir = Dir::new("closing");
        let listener = UnixListener::bind(dir.0.join(SOCKET_NAME)).expect("binds");
        let closer = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accepts");
            drop(stream);
        });
        assert!(liveclient::connect(&dir.0.join("h")).unwrap().is_none());
        closer.join().expect("closer");
    }

    /// Push, peek and pop of a queue and a bloom filter's peek go to the
    /// served map as `apiary map` sends them (an empty key).
    #[test]
    fn queues_and_bloom_filters_are_served() {
        let dir = Dir::new("queue");
        let queue = Arc::new(Map::create(MapDef::new(MapType::Queue, 0, 4, 4), 1).unwrap());
        let bloom = Arc::new(Map::create(MapDef::new(MapType::BloomFilter, 0, 4, 16), 1).unwrap());
        let served = |map: &Arc<Map>| Served {
            map: Arc::clone(map),
            btf: None,
        };
        let maps = HashMap::from([
            ("q".to_owned(), served(&queue)),
            ("b".to_owned(), served(&bloom)),
        ]);
        let _server = LiveServer::start(&dir.0, maps).expect("server");
        let q = liveclient::connect(&dir.0.join("q"))
            .unwrap()
            .expect("live");
        for n in [5u8, 6] {
            q.operate(Op::Update, Some(&[]), &[n, 0, 0, 0], 0)
                .expect("push");
        }
        assert_eq!(
            q.operate(Op::Lookup, Some(&[]), &[], 0),
            Ok(vec![5, 0, 0, 0])
        );
        assert_eq!(
            q.operate(Op::LookupAndDelete, Some(&[]), &[], 0),
            Ok(vec![5, 0, 0, 0])
        );
        let mut head = [0u8; 4];
        queue.peek(&mut head).expect("the served queue itself");
        assert_eq!(head, [6, 0, 0, 0]);
        let b = liveclient::connect(&dir.0.join("b"))
            .unwrap()
            .expect("live");
        b.operate(Op::Update, Some(&[]), &[1, 2, 3, 4], 0)
            .expect("add");
        assert!(b.operate(Op::BloomPeek, None, &[1, 2, 3, 4], 0).is_ok());
        assert_eq!(
            b.operate(Op::BloomPeek, None, &[1, 2, 3], 0),
            Err(Errno(libc::EINVAL))
        );
    }

    /// Keys and values of every wrong size, to every operation on maps of
    /// several types, are answered (the map's errno), never a crash.
    #[test]
    fn wrong_sizes_are_answered_for_every_map_type() {
        let defs = [
            MapDef::new(MapType::Hash, 4, 8, 4),
            MapDef::new(MapType::Array, 4, 8, 4),
            MapDef::new(MapType::PercpuArray, 4, 8, 4),
            MapDef::new(MapType::LpmTrie, 8, 4, 4).with_flags(apiary_maps::BPF_F_NO_PREALLOC),
            MapDef::new(MapType::LruHash, 4, 8, 4),
            MapDef::new(MapType::Queue, 0, 8, 4),
            MapDef::new(MapType::Stack, 0, 8, 4),
            MapDef::new(MapType::BloomFilter, 0, 8, 4),
            MapDef::new(MapType::Ringbuf, 0, 0, 4096),
        ];
        let ops = [
            Op::Describe,
            Op::Lookup,
            Op::NextKey,
            Op::LookupAndDelete,
            Op::BloomPeek,
            Op::Update,
            Op::Delete,
        ];
        let sizes = [0usize, 1, 3, 4, 5, 7, 8, 9, 4096];
        for def in defs {
            let map_type = def.map_type;
            let map = Arc::new(Map::create(def.with_name("m"), 2).expect("map"));
            let maps = HashMap::from([("m".to_owned(), Served { map, btf: None })]);
            for op in ops {
                for key in sizes {
                    for value in sizes {
                        let request = Request {
                            op,
                            map: "m".to_owned(),
                            key: Some(vec![0x20; key]),
                            value: vec![0x11; value],
                            flags: 0,
                        };
                        let answer = answer(&request, &maps);
                        assert!(
                            !matches!(answer, Response::NotServed | Response::BadRequest(_)),
                            "{map_type:?} {op:?} key {key} value {value}: {answer:?}"
                        );
                    }
                }
            }
        }
    }

    /// A socket left by a dead owner is ignored by clients and replaced by
    /// the next owner; a second owner of a served directory is refused.
    #[test]
    fn a_stale_socket_is_ignored_and_a_live_one_is_kept() {
        let dir = Dir::new("stale");
        let socket = dir.0.join(SOCKET_NAME);
        drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
        assert!(socket.exists(), "the dead owner's socket is left");
        assert!(liveclient::connect(&dir.0.join("h")).unwrap().is_none());
        let map = hash_map();
        let server = serve_one(&dir.0, &map).expect("the stale socket is replaced");
        let second = serve_one(&dir.0, &map).err().expect("a second owner");
        assert!(
            second.problem.contains("another running process"),
            "{second}"
        );
        drop(server);
        assert!(!socket.exists(), "removed when serving ends");
        std::fs::write(&socket, b"not a socket").unwrap();
        let not_socket = serve_one(&dir.0, &map).err().expect("refused");
        assert!(not_socket.problem.contains("not a socket"), "{not_socket}");
    }
}
