//! `apiary map ... pinned DIR/NAME` while a running `xdp run --pin-maps
//! DIR` owns the map: each operation goes over `DIR/.apiary-live.sock` to
//! the owner, which applies it to the map its workers use.
//!
//! No socket, or one nothing accepts on (its owner died), one whose owner
//! closes the connection unanswered (it is stopping), or an owner that
//! does not serve NAME: there is no live map and the pin file is the map.
//! An owner of another user (other than root) is not trusted.
//!
//! It must not print: `mapcmd` owns the output.

use std::os::unix::net::UnixStream;
use std::path::Path;

use apiary_maps::MapType;

use crate::livewire::{
    Description, Op, Request, Response, SOCKET_NAME, WireError, peer_uid, read_frame, write_frame,
};
use crate::mapsource::{Errno, strerror_of};

/// How long an answer may take before the command fails with `EIO`.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// A map a running process serves, and the connection to it.
pub struct LiveMap {
    stream: UnixStream,
    name: String,
    /// The map's type, sizes and BTF as the owner reported them.
    pub description: Description,
    /// Its type.
    pub map_type: MapType,
}

/// The live map behind the pin file `path`, if a running process serves
/// it; the error is a line for `apiary map` to print.
pub fn connect(path: &Path) -> Result<Option<LiveMap>, String> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(None);
    };
    let Some(name) = name.to_str() else {
        return Ok(None);
    };
    let socket = dir.join(SOCKET_NAME);
    let failed = |e: &dyn std::fmt::Display| format!("{}: {e}", socket.display());
    let stream = match UnixStream::connect(&socket) {
        Ok(stream) => stream,
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ECONNREFUSED)) => {
            return Ok(None);
        }
        Err(e) => return Err(failed(&strerror_of(&e))),
    };
    // An owner that stops answering fails the command rather than hanging it.
    stream
        .set_read_timeout(Some(ANSWER_WITHIN))
        .map_err(|e| failed(&strerror_of(&e)))?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    let owner = peer_uid(&stream).map_err(|e| failed(&strerror_of(&e)))?;
    if owner != me && owner != 0 {
        return Err(failed(&format!(
            "served by user {owner}, not by this user or root; not trusted"
        )));
    }
    let payload = match call(&stream, name, Op::Describe, None, &[], 0) {
        Ok(Response::Ok(payload)) => payload,
        Ok(Response::NotServed) => return Ok(None),
        // The owner is stopping: it writes the files last, under the
        // directory's lock, which reading the file waits for.
        Err(WireError::Io(e)) if owner_stopping(&e) => return Ok(None),
        Ok(other) => return Err(failed(&format!("unexpected answer {other:?}"))),
        Err(e) => return Err(failed(&e)),
    };
    let description = Description::decode(&payload).map_err(|e| failed(&e))?;
    let map_type = MapType::from_u32(description.map_type)
        .map_err(|_| failed(&format!("unknown map type {}", description.map_type)))?;
    Ok(Some(LiveMap {
        stream,
        name: name.to_owned(),
        description,
        map_type,
    }))
}

/// One request and its answer.
/// Whether a conversation broke because its owner stopped serving: it
/// closed the connection before answering (or before accepting it).
fn owner_stopping(error: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        error.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof
    )
}

fn call(
    stream: &UnixStream,
    map: &str,
    op: Op,
    key: Option<&[u8]>,
    value: &[u8],
    flags: u64,
) -> Result<Response, WireError> {
    let request = Request {
        op,
        map: map.to_owned(),
        key: key.map(<[u8]>::to_vec),
        value: value.to_vec(),
        flags,
    };
    let mut stream = stream;
    write_frame(&mut stream, &request.encode())?;
    Response::decode(&read_frame(&mut stream)?)
}

impl LiveMap {
    /// One element operation; a broken or unanswered conversation is
    /// `EIO`, an answer of the wrong kind `EPROTO`.
    pub fn operate(
        &self,
        op: Op,
        key: Option<&[u8]>,
        value: &[u8],
        flags: u64,
    ) -> Result<Vec<u8>, Errno> {
        match call(&self.stream, &self.name, op, key, value, flags) {
            Ok(Response::Ok(bytes)) => Ok(bytes),
            Ok(Response::Errno(errno)) => Err(Errno(errno)),
            Ok(Response::NotServed | Response::BadRequest(_)) => Err(Errno(libc::EPROTO)),
            Err(_) => Err(Errno(libc::EIO)),
        }
    }
}
