//! Maps whose elements are kernel objects a user-space process never holds:
//! `stack_trace` (kernel call chains captured by `bpf_get_stackid`) and the
//! socket maps `sockmap`, `sockhash` and `reuseport_sockarray`.
//!
//! Apiary has no sockets and takes no stack traces, so these maps stay
//! empty for their whole life. Every operation answers exactly what the
//! kernel answers for an empty map of the same shape: lookups find nothing,
//! deletes report the kernel's errno for an empty slot, and host updates,
//! which the kernel resolves as socket fds, are refused with the errno the
//! kernel gives for an fd that is not a socket (`ENOTSOCK`), or `EINVAL` /
//! `EBADF` where the kernel rejects the number before looking it up.

use crate::array::array_next_key;
use crate::def::{BPF_EXIST, MapType};
use crate::error::{MapError, Result, check_len};
use crate::mem::key_u32;

/// Largest fd number the kernel's socket maps accept (`S32_MAX`).
const MAX_SOCKET_FD: u64 = i32::MAX as u64;

/// The bookkeeping of an always-empty map: what its shape makes the
/// kernel answer.
pub(crate) struct KernelObjectMap {
    ty: MapType,
    max_entries: u32,
    value_size: u32,
    /// `stack_trace`: `roundup_pow_of_two(max_entries)`, the id space.
    stack_buckets: u64,
}

impl KernelObjectMap {
    pub(crate) fn new(ty: MapType, max_entries: u32, value_size: u32) -> KernelObjectMap {
        KernelObjectMap {
            ty,
            max_entries,
            value_size,
            stack_buckets: u64::from(max_entries).next_power_of_two(),
        }
    }

    fn is_socket_map(&self) -> bool {
        self.ty != MapType::StackTrace
    }

    /// A program's `bpf_map_lookup_elem`: socket maps answer NULL (no
    /// socket in any slot); the verifier refuses lookups in stack maps.
    pub(crate) fn program_lookup(&self) -> Result<()> {
        if self.is_socket_map() {
            Ok(())
        } else {
            Err(MapError::NotSupported("stack_trace lookup from a program"))
        }
    }

    /// A program's `bpf_map_update_elem` on a socket map: the kernel's
    /// `sock_map_update_elem` refuses a value that is not a full socket,
    /// and a program in Apiary can hold none.
    pub(crate) fn program_update(&self) -> Result<()> {
        if self.is_socket_map() {
            Err(MapError::Invalid("Apiary has no socket to store"))
        } else {
            Err(MapError::NotSupported("stack_trace update from a program"))
        }
    }

    /// `BPF_MAP_LOOKUP_ELEM` (the kernel's `bpf_stackmap_copy`,
    /// `sock_map_lookup_sys`, `bpf_fd_reuseport_array_lookup_elem`).
    pub(crate) fn sys_lookup(&self) -> Result<Vec<u8>> {
        if self.is_socket_map() && self.value_size != 8 {
            // Socket cookies are 8 bytes: a 4-byte value cannot hold one.
            return Err(MapError::NoSpace);
        }
        Err(MapError::NotFound)
    }

    /// `BPF_MAP_LOOKUP_AND_DELETE_ELEM` on a stack map (the kernel's
    /// `stack_map_lookup_and_delete_elem`, which takes no flags).
    pub(crate) fn sys_lookup_and_delete(&self, flags: u64) -> Result<Vec<u8>> {
        if flags != 0 {
            return Err(MapError::Invalid(
                "stack map lookup_and_delete takes no flags",
            ));
        }
        self.sys_lookup()
    }

    /// `BPF_MAP_UPDATE_ELEM`: the value is a socket fd for socket maps.
    pub(crate) fn sys_update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<()> {
        check_len("value", value, self.value_size as usize)?;
        if self.ty == MapType::StackTrace {
            return Err(MapError::Invalid("stack traces cannot be written"));
        }
        let fd = match value {
            [a, b, c, d] => u64::from(u32::from_ne_bytes([*a, *b, *c, *d])),
            [a, b, c, d, e, f, g, h] => u64::from_ne_bytes([*a, *b, *c, *d, *e, *f, *g, *h]),
            _ => return Err(MapError::Invalid("socket map values are 4 or 8 bytes")),
        };
        match self.ty {
            MapType::ReuseportSockarray => {
                if flags > BPF_EXIST {
                    return Err(MapError::Invalid("unknown update flags"));
                }
                if key_u32(key)? >= self.max_entries {
                    return Err(MapError::TooBig("index beyond max_entries"));
                }
                if value.len() == 4 {
                    // A 4-byte value is read as a signed int: negative fds
                    // reach fget and fail there.
                    if fd > MAX_SOCKET_FD {
                        return Err(MapError::BadFd);
                    }
                } else if fd > MAX_SOCKET_FD {
                    return Err(MapError::Invalid("socket fd above S32_MAX"));
                }
                Err(MapError::NotSocket)
            }
            _ => {
                if fd > MAX_SOCKET_FD {
                    return Err(MapError::Invalid("socket fd above S32_MAX"));
                }
                Err(MapError::NotSocket)
            }
        }
    }

    /// `BPF_MAP_DELETE_ELEM`, from the host or a program.
    pub(crate) fn delete(&self, key: &[u8]) -> Result<()> {
        match self.ty {
            MapType::StackTrace => {
                if u64::from(key_u32(key)?) >= self.stack_buckets {
                    Err(MapError::TooBig("stack id beyond the map's buckets"))
                } else {
                    Err(MapError::NotFound)
                }
            }
            // sock_map_delete_elem: out of range and empty slots alike.
            MapType::Sockmap => {
                key_u32(key)?;
                Err(MapError::Invalid("no socket in this slot"))
            }
            MapType::ReuseportSockarray => {
                if key_u32(key)? >= self.max_entries {
                    Err(MapError::TooBig("index beyond max_entries"))
                } else {
                    Err(MapError::NotFound)
                }
            }
            _ => Err(MapError::NotFound),
        }
    }

    /// `BPF_MAP_GET_NEXT_KEY`: index-keyed socket maps walk their slots as
    /// arrays do; stack maps and socket hashes have no element to name.
    pub(crate) fn get_next_key(&self, key: Option<&[u8]>) -> Result<Vec<u8>> {
        match self.ty {
            MapType::Sockmap | MapType::ReuseportSockarray => array_next_key(key, self.max_entries),
            _ => Err(MapError::NotFound),
        }
    }
}
