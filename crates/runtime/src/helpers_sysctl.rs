//! The `cgroup/sysctl` helpers (`bpf_sysctl_get_name`,
//! `bpf_sysctl_get_current_value`, `bpf_sysctl_get_new_value`,
//! `bpf_sysctl_set_new_value`, kernel/bpf/cgroup.c) over the context image
//! [`SysctlContext`] describes.
//!
//! The kernel hands sysctl programs a `struct bpf_sysctl_kern` whose
//! UAPI-visible part (`write`, `file_pos`) is rewritten by the verifier and
//! whose hidden part (the sysctl's table entry, current and new value
//! buffers) only the helpers read. Apiary keeps both in one flat image: the
//! UAPI `struct bpf_sysctl` at offset 0, where the program's own context
//! loads and stores land unrewritten, followed by the hidden state at fixed
//! offsets. Whoever runs a sysctl program builds the image with
//! [`SysctlContext::image`] and reads the outcome back with
//! [`SysctlContext::outcome`].

use apiary_vm::HelperError;
use thiserror::Error;

use crate::helpers::errno::{E2BIG, EINVAL};
use crate::helpers::{Ctx, Ret, neg, size_arg, write_zeroes};

/// `BPF_F_SYSCTL_BASE_NAME`: `bpf_sysctl_get_name` copies only the last
/// path component.
pub const BPF_F_SYSCTL_BASE_NAME: u64 = 1;
/// Most bytes of a sysctl's full name (`net/ipv4/ip_forward`) the image
/// holds.
pub const SYSCTL_NAME_MAX: usize = 256;
/// Size of the kernel's current/new value buffers (`PAGE_SIZE`).
pub const SYSCTL_VALUE_MAX: usize = 4096;

const WRITE_OFF: usize = 0;
const FILE_POS_OFF: usize = 4;
const NAME_LEN_OFF: usize = 8;
const CUR_LEN_OFF: usize = 12;
const NEW_LEN_OFF: usize = 16;
const NEW_UPDATED_OFF: usize = 20;
const NAME_OFF: usize = 32;
const CUR_OFF: usize = NAME_OFF + SYSCTL_NAME_MAX;
const NEW_OFF: usize = CUR_OFF + SYSCTL_VALUE_MAX;

/// One access to a sysctl file, as a `cgroup/sysctl` program sees it.
///
/// Image layout (native-endian `u32`s), [`SysctlContext::IMAGE_SIZE`]
/// bytes:
///
/// | offset | field |
/// |---|---|
/// | 0 | `write` (UAPI `struct bpf_sysctl`) |
/// | 4 | `file_pos` (UAPI; the program may overwrite it) |
/// | 8 | length of the full name |
/// | 12 | length of the current value (0: none, the kernel's `cur_val == NULL`) |
/// | 16 | length of the new value (0: none) |
/// | 20 | `new_updated`: 1 once `bpf_sysctl_set_new_value` replaced it |
/// | 32 | the full name, [`SYSCTL_NAME_MAX`] bytes |
/// | 288 | the current value, [`SYSCTL_VALUE_MAX`] bytes |
/// | 4384 | the new value, [`SYSCTL_VALUE_MAX`] bytes |
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SysctlContext {
    /// Whether the access is a write (`ctx->write`).
    pub write: bool,
    /// The file position (`ctx->file_pos`).
    pub file_pos: u32,
    /// The sysctl's path under `/proc/sys`, components joined by `/`
    /// (`net/ipv4/ip_forward`).
    pub name: String,
    /// The value the sysctl holds now, as its text; `None` when it could
    /// not be read.
    pub current_value: Option<Vec<u8>>,
    /// The text being written (writes only).
    pub new_value: Option<Vec<u8>>,
}

/// What a sysctl program left in its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlOutcome {
    /// `file_pos` after the run.
    pub file_pos: u32,
    /// The replacement text, if the program called `bpf_sysctl_set_new_value`.
    pub new_value: Option<Vec<u8>>,
}

/// Why a sysctl context image could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SysctlError {
    /// The name is longer than [`SYSCTL_NAME_MAX`] or empty.
    #[error("sysctl name of {0} bytes (1 to 256 allowed)")]
    BadName(usize),
    /// A value is longer than [`SYSCTL_VALUE_MAX`].
    #[error("sysctl {what} of {len} bytes (at most 4096)")]
    ValueTooLong {
        /// Which value.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// An image handed back is not [`SysctlContext::IMAGE_SIZE`] bytes or
    /// carries lengths beyond its buffers.
    #[error("sysctl context image is malformed: {0}")]
    BadImage(&'static str),
}

fn put_u32(image: &mut [u8], at: usize, value: u32) {
    if let Some(slot) = image.get_mut(at..at + 4) {
        slot.copy_from_slice(&value.to_ne_bytes());
    }
}

fn get_u32(image: &[u8], at: usize) -> Option<u32> {
    image
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_ne_bytes)
}

fn put_bytes(image: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(slot) = image.get_mut(at..at + bytes.len()) {
        slot.copy_from_slice(bytes);
    }
}

impl SysctlContext {
    /// Bytes of the context image.
    pub const IMAGE_SIZE: usize = NEW_OFF + SYSCTL_VALUE_MAX;

    /// The context image a sysctl program runs on (`r1` points at it).
    pub fn image(&self) -> Result<Vec<u8>, SysctlError> {
        let name = self.name.as_bytes();
        if name.is_empty() || name.len() > SYSCTL_NAME_MAX {
            return Err(SysctlError::BadName(name.len()));
        }
        let current = self.current_value.as_deref().unwrap_or_default();
        let new = self.new_value.as_deref().unwrap_or_default();
        for (what, value) in [("current value", current), ("new value", new)] {
            if value.len() > SYSCTL_VALUE_MAX {
                return Err(SysctlError::ValueTooLong {
                    what,
                    len: value.len(),
                });
            }
        }
        let mut image = vec![0u8; Self::IMAGE_SIZE];
        put_u32(&mut image, WRITE_OFF, u32::from(self.write));
        put_u32(&mut image, FILE_POS_OFF, self.file_pos);
        put_u32(&mut image, NAME_LEN_OFF, name.len() as u32);
        put_u32(&mut image, CUR_LEN_OFF, current.len() as u32);
        put_u32(&mut image, NEW_LEN_OFF, new.len() as u32);
        put_bytes(&mut image, NAME_OFF, name);
        put_bytes(&mut image, CUR_OFF, current);
        put_bytes(&mut image, NEW_OFF, new);
        Ok(image)
    }

    /// Reads back the file position and any replacement value from an
    /// image a program ran on.
    pub fn outcome(image: &[u8]) -> Result<SysctlOutcome, SysctlError> {
        if image.len() != Self::IMAGE_SIZE {
            return Err(SysctlError::BadImage("wrong size"));
        }
        let field = |at| get_u32(image, at).ok_or(SysctlError::BadImage("truncated"));
        let file_pos = field(FILE_POS_OFF)?;
        let new_value = if field(NEW_UPDATED_OFF)? != 0 {
            let len = field(NEW_LEN_OFF)? as usize;
            let bytes = image
                .get(NEW_OFF..NEW_OFF + len.min(SYSCTL_VALUE_MAX + 1))
                .filter(|_| len <= SYSCTL_VALUE_MAX)
                .ok_or(SysctlError::BadImage("new value length beyond its buffer"))?;
            Some(bytes.to_vec())
        } else {
            None
        };
        Ok(SysctlOutcome {
            file_pos,
            new_value,
        })
    }
}

/// Reads the `u32` at `off` of the context image at `ctx_addr`.
fn ctx_u32(ctx: Ctx<'_, '_>, ctx_addr: u64, off: usize) -> Result<u32, HelperError> {
    let bytes = ctx.read(ctx_addr.wrapping_add(off as u64), 4)?;
    get_u32(bytes, 0).ok_or_else(|| HelperError::Other("short context read".into()))
}

/// Reads `len` bytes at `off` of the image, refusing lengths past `max`
/// (a context that is not a sysctl image).
fn ctx_bytes(
    ctx: Ctx<'_, '_>,
    ctx_addr: u64,
    off: usize,
    len: u32,
    max: usize,
) -> Result<Vec<u8>, HelperError> {
    let len = len as usize;
    if len > max {
        return Err(HelperError::Other(format!(
            "context is not a sysctl image: length {len} above {max}"
        )));
    }
    Ok(ctx.read(ctx_addr.wrapping_add(off as u64), len)?.to_vec())
}

/// The kernel's `strscpy` into a `dst_len`-byte buffer: the copied prefix
/// NUL-terminated, and its length or `-E2BIG` when cut.
fn strscpy(src: &[u8], dst_len: usize) -> (Vec<u8>, u64) {
    if src.len() < dst_len {
        let mut out = src.to_vec();
        out.push(0);
        (out, src.len() as u64)
    } else {
        let mut out = src.get(..dst_len.saturating_sub(1)).unwrap_or(src).to_vec();
        if dst_len > 0 {
            out.push(0);
        }
        (out, neg(E2BIG))
    }
}

/// `long bpf_sysctl_get_name(struct bpf_sysctl *ctx, char *buf, size_t
/// buf_len, u64 flags)`: the full name (`net/ipv4/ip_forward`), or with
/// `BPF_F_SYSCTL_BASE_NAME` the last component, NUL-terminated; its length
/// or `-E2BIG` when `buf` is too short (then cut, as `strscpy` leaves it).
/// The kernel ignores other flag bits.
pub(crate) fn sysctl_get_name(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (buf, buf_len, flags) = (a[1], size_arg(a[2])?, a[3]);
    if buf == 0 {
        return Ok(neg(EINVAL));
    }
    let name_len = ctx_u32(ctx, a[0], NAME_LEN_OFF)?;
    let name = ctx_bytes(ctx, a[0], NAME_OFF, name_len, SYSCTL_NAME_MAX)?;
    let shown = if flags & BPF_F_SYSCTL_BASE_NAME != 0 {
        let start = name.iter().rposition(|b| *b == b'/').map_or(0, |i| i + 1);
        name.get(start..).unwrap_or_default()
    } else {
        &name[..]
    };
    let (copied, ret) = strscpy(shown, buf_len);
    ctx.write(buf, &copied)?;
    Ok(ret)
}

/// The kernel's `copy_sysctl_value`: `src` into the `dst_len`-byte buffer
/// at `dst`, zero-padded; its length, or `-E2BIG` when cut (last byte
/// NUL), or `-EINVAL` (buffer zeroed) when there is no value.
fn copy_sysctl_value(ctx: Ctx<'_, '_>, dst: u64, dst_len: usize, src: Option<&[u8]>) -> Ret {
    if dst == 0 {
        return Ok(neg(EINVAL));
    }
    if dst_len == 0 {
        return Ok(neg(E2BIG));
    }
    // The destination bounds the copy below.
    ctx.read(dst, dst_len)?;
    let mut out = vec![0u8; dst_len];
    let ret = match src.filter(|s| !s.is_empty()) {
        None => neg(EINVAL),
        Some(src) if dst_len > src.len() => {
            out.get_mut(..src.len())
                .unwrap_or_default()
                .copy_from_slice(src);
            src.len() as u64
        }
        Some(src) => {
            let kept = dst_len - 1;
            out.get_mut(..kept)
                .unwrap_or_default()
                .copy_from_slice(src.get(..kept).unwrap_or_default());
            neg(E2BIG)
        }
    };
    ctx.write(dst, &out)?;
    Ok(ret)
}

/// The value at `off` whose length is at `len_off`; `None` when absent.
fn image_value(
    ctx: Ctx<'_, '_>,
    ctx_addr: u64,
    len_off: usize,
    off: usize,
) -> Result<Option<Vec<u8>>, HelperError> {
    let len = ctx_u32(ctx, ctx_addr, len_off)?;
    let bytes = ctx_bytes(ctx, ctx_addr, off, len, SYSCTL_VALUE_MAX)?;
    Ok((!bytes.is_empty()).then_some(bytes))
}

/// `long bpf_sysctl_get_current_value(struct bpf_sysctl *ctx, char *buf,
/// size_t buf_len)`: the sysctl's current text, as `copy_sysctl_value`.
pub(crate) fn sysctl_get_current_value(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let current = image_value(ctx, a[0], CUR_LEN_OFF, CUR_OFF)?;
    copy_sysctl_value(ctx, a[1], size_arg(a[2])?, current.as_deref())
}

/// `long bpf_sysctl_get_new_value(struct bpf_sysctl *ctx, char *buf,
/// size_t buf_len)`: the text being written; on a read `-EINVAL` with
/// `buf` zeroed.
pub(crate) fn sysctl_get_new_value(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (buf, buf_len) = (a[1], size_arg(a[2])?);
    if ctx_u32(ctx, a[0], WRITE_OFF)? == 0 {
        if buf != 0 && buf_len != 0 {
            write_zeroes(ctx, buf, buf_len)?;
        }
        return Ok(neg(EINVAL));
    }
    let new = image_value(ctx, a[0], NEW_LEN_OFF, NEW_OFF)?;
    copy_sysctl_value(ctx, buf, buf_len, new.as_deref())
}

/// `long bpf_sysctl_set_new_value(struct bpf_sysctl *ctx, const char *buf,
/// size_t buf_len)`: replaces the text being written; `-EINVAL` on a read,
/// without a new value or with an empty `buf`, `-E2BIG` above
/// `PAGE_SIZE - 1` bytes.
pub(crate) fn sysctl_set_new_value(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (buf, buf_len) = (a[1], size_arg(a[2])?);
    let write = ctx_u32(ctx, a[0], WRITE_OFF)?;
    let new_len = ctx_u32(ctx, a[0], NEW_LEN_OFF)?;
    if write == 0 || new_len == 0 || buf == 0 || buf_len == 0 {
        return Ok(neg(EINVAL));
    }
    if buf_len > SYSCTL_VALUE_MAX - 1 {
        return Ok(neg(E2BIG));
    }
    let bytes = ctx.read(buf, buf_len)?.to_vec();
    ctx.write(a[0].wrapping_add(NEW_OFF as u64), &bytes)?;
    let mut fields = [0u8; 8];
    put_u32(&mut fields, 0, buf_len as u32);
    put_u32(&mut fields, 4, 1);
    ctx.write(a[0].wrapping_add(NEW_LEN_OFF as u64), &fields)?;
    Ok(0)
}
