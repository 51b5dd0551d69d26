//! Executable memory: written while only writable, then only executable
//! (W^X: never both at once), and unmapped when dropped.

use std::io;
use std::ptr::NonNull;

/// Machine code mapped read + execute.
pub(crate) struct ExecMem {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is immutable once made executable; it is only read
// (executed) through shared references and unmapped by its single owner.
unsafe impl Send for ExecMem {}
// SAFETY: as above, no interior mutability.
unsafe impl Sync for ExecMem {}

/// Byte that fills the mapping past the code: `int3`, a trap if ever reached.
const TRAP: u8 = 0xcc;

impl ExecMem {
    /// Maps the `len` bytes of `code` (padded with traps to whole pages)
    /// read-write, copies them, then makes the mapping read + execute.
    pub(crate) fn new(len: usize, code: impl Iterator<Item = u8>) -> io::Result<ExecMem> {
        let code_len = len;
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .ok()
            .filter(|&p| p > 0)
            .unwrap_or(4096);
        let len = code_len.max(1).div_ceil(page) * page;
        // SAFETY: an anonymous private mapping at an address the kernel picks.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                // Populated at once: faulting each page in as it is written costs more.
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(raw.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        let mem = ExecMem { ptr, len };
        // SAFETY: the mapping is `len >= code.len()` bytes, writable, and ours alone.
        let bytes = unsafe { std::slice::from_raw_parts_mut(ptr.as_ptr(), len) };
        let (head, tail) = bytes.split_at_mut(code_len);
        for (to, byte) in head.iter_mut().zip(code) {
            *to = byte;
        }
        tail.fill(TRAP);
        // SAFETY: the range is exactly our mapping.
        if unsafe { libc::mprotect(raw, len, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(mem)
    }

    /// Address of the first byte.
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr().expose_provenance()
    }

    /// The mapped bytes (code, then traps).
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is readable for `len` bytes while `self` lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The first `len` mapped bytes (the code, without the padding).
    pub(crate) fn code(&self, len: usize) -> &[u8] {
        self.bytes().get(..len).unwrap_or_default()
    }
}

impl Drop for ExecMem {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; nothing runs it any more.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The protection of the mapping holding `addr`, as /proc/self/maps prints it.
    fn protection(addr: usize) -> String {
        let maps = std::fs::read_to_string("/proc/self/maps").expect("maps");
        maps.lines()
            .find_map(|line| {
                let (range, rest) = line.split_once(' ')?;
                let (lo, hi) = range.split_once('-')?;
                let lo = usize::from_str_radix(lo, 16).ok()?;
                let hi = usize::from_str_radix(hi, 16).ok()?;
                (lo <= addr && addr < hi).then(|| rest[..4].to_string())
            })
            .expect("mapping listed")
    }

    #[test]
    fn code_is_executable_and_never_writable() {
        // mov eax, 42; ret
        let code = [0xb8, 42, 0, 0, 0, 0xc3];
        let mem = ExecMem::new(code.len(), code.into_iter()).expect("mapped");
        assert_eq!(protection(mem.addr()), "r-xp");
        assert_eq!(&mem.bytes()[..6], &[0xb8, 42, 0, 0, 0, 0xc3]);
        assert!(mem.bytes()[6..].iter().all(|&b| b == TRAP));
        // SAFETY: the bytes above are a complete function returning 42.
        let f: extern "sysv64" fn() -> u32 = unsafe { std::mem::transmute(mem.addr()) };
        assert_eq!(f(), 42);
    }
}
