//! The protocol between a running `xdp run --pin-maps DIR` (the owner of
//! the maps) and `apiary map ... pinned DIR/NAME` (a client), over the
//! Unix socket `DIR/.apiary-live.sock`: one map operation per request,
//! applied by the owner to the very map its workers use.
//!
//! Every message is a frame: a little-endian `u32` length, then that many
//! bytes (at most [`MAX_FRAME`]). A request is
//! `version:u8 op:u8 flags:u64 name:(u16 len, bytes) key:(u8 present,
//! u32 len, bytes) value:(u32 len, bytes)`; a response is `version:u8
//! status:u8` then, by status, the payload `(u32 len, bytes)`, an `i32`
//! errno, nothing, or a message `(u16 len, bytes)`. Both sides treat every
//! byte they read as hostile: a short, long, oversized or unknown message
//! is a typed [`WireError`], never a panic.
//!
//! It must not touch maps nor own sockets: `liveserve` applies requests,
//! `liveclient` sends them.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use apiary_maps::pin::MapBtf;

/// The protocol's version; a peer speaking another is refused.
pub const VERSION: u8 = 1;
/// The largest frame either side accepts (a per-CPU value of every CPU,
/// or an object's BTF, fits many times over).
pub const MAX_FRAME: u32 = 16 << 20;
/// The socket's name inside the pin directory.
pub const SOCKET_NAME: &str = ".apiary-live.sock";

/// What went wrong on the wire.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The socket failed or closed.
    #[error("live map socket: {0}")]
    Io(#[from] std::io::Error),
    /// A frame longer than [`MAX_FRAME`].
    #[error("frame of {0} bytes is over the {MAX_FRAME}-byte limit")]
    Oversized(u32),
    /// The peer speaks another version.
    #[error("protocol version {0}, expected {VERSION}")]
    Version(u8),
    /// A field runs past the end of its frame.
    #[error("message truncated in {0}")]
    Truncated(&'static str),
    /// Bytes left over after the last field.
    #[error("{0} byte(s) after the end of the message")]
    Trailing(usize),
    /// An operation or status code this version does not know.
    #[error("unknown {what} code {code}")]
    Unknown {
        /// `operation` or `status`.
        what: &'static str,
        /// The code.
        code: u8,
    },
    /// A map name that is not UTF-8.
    #[error("map name is not UTF-8")]
    Name,
}

/// A map operation, as `apiary map` performs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// The map's type, sizes and BTF ([`Description`]).
    Describe = 1,
    /// The value at the key.
    Lookup = 2,
    /// The key after the key (the first without one).
    NextKey = 3,
    /// Takes the value at the key (a queue's head for an empty key).
    LookupAndDelete = 4,
    /// Whether a bloom filter may hold the value.
    BloomPeek = 5,
    /// Writes the value at the key with the flags.
    Update = 6,
    /// Removes the key.
    Delete = 7,
}

impl Op {
    fn from_u8(code: u8) -> Result<Op, WireError> {
        Ok(match code {
            1 => Op::Describe,
            2 => Op::Lookup,
            3 => Op::NextKey,
            4 => Op::LookupAndDelete,
            5 => Op::BloomPeek,
            6 => Op::Update,
            7 => Op::Delete,
            code => {
                return Err(WireError::Unknown {
                    what: "operation",
                    code,
                });
            }
        })
    }
}

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// What to do.
    pub op: Op,
    /// The pin file's name in the directory.
    pub map: String,
    /// The key (`None`: `NextKey` from the start).
    pub key: Option<Vec<u8>>,
    /// The value (`Update`, `BloomPeek`).
    pub value: Vec<u8>,
    /// `BPF_ANY`, `BPF_EXIST`, ... (`Update`).
    pub flags: u64,
}

/// The owner's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// Done; the bytes the operation returns (empty for some).
    Ok(Vec<u8>),
    /// The map refused with this (positive) errno.
    Errno(i32),
    /// The owner serves no map of that name: the pin file is the map.
    NotServed,
    /// The request could not be read.
    BadRequest(String),
}

/// A served map's shape, for `apiary map` to print it as bpftool does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// `BPF_MAP_TYPE_*`.
    pub map_type: u32,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes (per CPU for per-CPU maps).
    pub value_size: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// Bytes of a value as user space exchanges it.
    pub host_value_size: u32,
    /// Key and value types, when the map has them.
    pub btf: Option<MapBtf>,
}

/// Reads one frame's bytes, refusing one over [`MAX_FRAME`] before
/// allocating it.
pub fn read_frame(from: &mut impl Read) -> Result<Vec<u8>, WireError> {
    let mut len = [0u8; 4];
    from.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len);
    if len > MAX_FRAME {
        return Err(WireError::Oversized(len));
    }
    let mut body = vec![0u8; len as usize];
    from.read_exact(&mut body)?;
    Ok(body)
}

/// Writes `body` as one frame.
pub fn write_frame(to: &mut impl Write, body: &[u8]) -> Result<(), WireError> {
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&len| len <= MAX_FRAME)
        .ok_or(WireError::Oversized(u32::MAX))?;
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(body);
    to.write_all(&frame)?;
    Ok(to.flush()?)
}

/// The user id of the process at the other end of `stream`, as the
/// kernel recorded it at connect time (`SO_PEERCRED`).
pub fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes and `len` is `cred`'s size.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// A cursor over a received frame; every read is bounds-checked.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::Truncated(field));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn bytes(&mut self, field: &'static str) -> Result<Vec<u8>, WireError> {
        let len = self.u32(field)? as usize;
        Ok(self.take(len, field)?.to_vec())
    }

    fn short_bytes(&mut self, field: &'static str) -> Result<&'a [u8], WireError> {
        let len = u16::from_le_bytes(self.array(field)?) as usize;
        self.take(len, field)
    }

    fn version(&mut self) -> Result<(), WireError> {
        match self.u8("version")? {
            VERSION => Ok(()),
            other => Err(WireError::Version(other)),
        }
    }

    fn end(&self) -> Result<(), WireError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A string cut to what a `u16` length can say (map names and messages
/// are far shorter).
fn put_short(out: &mut Vec<u8>, text: &str) {
    let mut end = text.len().min(u16::MAX as usize);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_le_bytes());
    out.extend_from_slice(&text.as_bytes()[..end]);
}

impl Request {
    /// The request's frame body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION, self.op as u8];
        out.extend_from_slice(&self.flags.to_le_bytes());
        put_short(&mut out, &self.map);
        out.push(u8::from(self.key.is_some()));
        put_bytes(&mut out, self.key.as_deref().unwrap_or_default());
        put_bytes(&mut out, &self.value);
        out
    }

    /// Reads a request from a frame body.
    pub fn decode(body: &[u8]) -> Result<Request, WireError> {
        let mut fields = Fields { rest: body };
        fields.version()?;
        let op = Op::from_u8(fields.u8("operation")?)?;
        let flags = u64::from_le_bytes(fields.array("flags")?);
        let map = std::str::from_utf8(fields.short_bytes("map name")?)
            .map_err(|_| WireError::Name)?
            .to_owned();
        let has_key = fields.u8("key")? != 0;
        let key = fields.bytes("key")?;
        let value = fields.bytes("value")?;
        fields.end()?;
        Ok(Request {
            op,
            map,
            key: has_key.then_some(key),
            value,
            flags,
        })
    }
}

impl Response {
    /// The response's frame body.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        match self {
            Response::Ok(bytes) => {
                out.push(0);
                put_bytes(&mut out, bytes);
            }
            Response::Errno(errno) => {
                out.push(1);
                out.extend_from_slice(&errno.to_le_bytes());
            }
            Response::NotServed => out.push(2),
            Response::BadRequest(message) => {
                out.push(3);
                put_short(&mut out, message);
            }
        }
        out
    }

    /// Reads a response from a frame body.
    pub fn decode(body: &[u8]) -> Result<Response, WireError> {
        let mut fields = Fields { rest: body };
        fields.version()?;
        let response = match fields.u8("status")? {
            0 => Response::Ok(fields.bytes("payload")?),
            1 => Response::Errno(i32::from_le_bytes(fields.array("errno")?)),
            2 => Response::NotServed,
            3 => Response::BadRequest(
                String::from_utf8_lossy(fields.short_bytes("message")?).into_owned(),
            ),
            code => {
                return Err(WireError::Unknown {
                    what: "status",
                    code,
                });
            }
        };
        fields.end()?;
        Ok(response)
    }
}

impl Description {
    /// The payload of a `Describe` answer.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for n in [
            self.map_type,
            self.key_size,
            self.value_size,
            self.max_entries,
            self.host_value_size,
        ] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        match &self.btf {
            None => out.push(0),
            Some(btf) => {
                out.push(1);
                out.extend_from_slice(&btf.key_type_id.to_le_bytes());
                out.extend_from_slice(&btf.value_type_id.to_le_bytes());
                put_bytes(&mut out, &btf.blob);
            }
        }
        out
    }

    /// Reads a `Describe` answer's payload.
    pub fn decode(payload: &[u8]) -> Result<Description, WireError> {
        let mut fields = Fields { rest: payload };
        let map_type = fields.u32("map type")?;
        let key_size = fields.u32("key size")?;
        let value_size = fields.u32("value size")?;
        let max_entries = fields.u32("max entries")?;
        let host_value_size = fields.u32("host value size")?;
        let btf = match fields.u8("btf")? {
            0 => None,
            _ => Some(MapBtf {
                key_type_id: fields.u32("btf key type")?,
                value_type_id: fields.u32("btf value type")?,
                blob: fields.bytes("btf")?,
            }),
        };
        fields.end()?;
        Ok(Description {
            map_type,
            key_size,
            value_size,
            max_entries,
            host_value_size,
            btf,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            op: Op::Update,
            map: "blocklist".to_owned(),
            key: Some(vec![32, 0, 0, 0, 203, 0, 113, 7]),
            value: vec![4, 0, 0, 0],
            flags: 2,
        }
    }

    #[test]
    fn messages_read_back_as_written() {
        let req = request();
        assert_eq!(Request::decode(&req.encode()).unwrap(), req);
        let start = Request {
            op: Op::NextKey,
            key: None,
            ..request()
        };
        assert_eq!(Request::decode(&start.encode()).unwrap(), start);
        for response in [
            Response::Ok(vec![1, 2, 3]),
            Response::Errno(libc::ENOENT),
            Response::NotServed,
            Response::BadRequest("nope".into()),
        ] {
            assert_eq!(Response::decode(&response.encode()).unwrap(), response);
        }
        let description = Description {
            map_type: 1,
            key_size: 8,
            value_size: 4,
            max_entries: 64,
            host_value_size: 4,
            btf: Some(MapBtf {
                blob: vec![9; 40],
                key_type_id: 3,
                value_type_id: 4,
            }),
        };
        assert_eq!(
            Description::decode(&description.encode()).unwrap(),
            description
        );
    }

    /// Every cut of a valid request is refused as truncated, every
    /// extension as trailing bytes, and every single-byte corruption is
    /// either refused or read as some request: never a panic.
    #[test]
    fn hostile_bytes_are_typed_errors() {
        let body = request().encode();
        for cut in 0..body.len() {
            assert!(
                matches!(Request::decode(&body[..cut]), Err(WireError::Truncated(_))),
                "cut at {cut}"
            );
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(matches!(
            Request::decode(&longer),
            Err(WireError::Trailing(1))
        ));
        for at in 0..body.len() {
            for byte in [0u8, 1, 0x7f, 0xff] {
                let mut bad = body.clone();
                bad[at] = byte;
                let _ = Request::decode(&bad);
                let _ = Response::decode(&bad);
                let _ = Description::decode(&bad);
            }
        }
        let mut version = body.clone();
        version[0] = 9;
        assert!(matches!(
            Request::decode(&version),
            Err(WireError::Version(9))
        ));
        let mut op = body;
        op[1] = 200;
        assert!(matches!(
            Request::decode(&op),
            Err(WireError::Unknown { code: 200, .. })
        ));
    }

    #[test]
    fn an_oversized_length_is_refused_before_reading_it() {
        let mut frame = (MAX_FRAME + 1).to_le_bytes().to_vec();
        frame.extend_from_slice(&[0; 16]);
        assert!(matches!(
            read_frame(&mut frame.as_slice()),
            Err(WireError::Oversized(n)) if n == MAX_FRAME + 1
        ));
        let mut short = 10u32.to_le_bytes().to_vec();
        short.extend_from_slice(&[1, 2]);
        assert!(matches!(
            read_frame(&mut short.as_slice()),
            Err(WireError::Io(_))
        ));
    }
}
