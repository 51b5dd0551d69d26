//! Tracing helpers that reach kernel state a user-space run does not have
//! (`bpf_get_stackid`, `bpf_get_stack`, `bpf_get_task_stack`,
//! `bpf_perf_prog_read_value`) and the
//! iterator output helpers (`bpf_seq_write`, `bpf_seq_printf`) over the
//! seq_file image [`SeqFile`] describes.
//!
//! Stacks: the kernel walks `get_perf_callchain` for the interrupted
//! context; an Apiary run interrupts nothing, so there is no call chain and
//! the helpers answer as the kernel does when none can be taken (`-EFAULT`,
//! the buffer of `bpf_get_stack` zeroed), after the same flag and size
//! checks (`-EINVAL`).

use apiary_maps::MapType;
use apiary_vm::HelperError;

use crate::helpers::errno::{EFAULT, EINVAL, EOVERFLOW};
use crate::helpers::{Ctx, Ret, bprintf_args, format_text, map_arg, neg, size_arg, write_zeroes};

/// `BPF_F_SKIP_FIELD_MASK`: frames to skip, in the low 8 bits.
pub const BPF_F_SKIP_FIELD_MASK: u64 = 0xff;
/// `BPF_F_USER_STACK`: the user-space stack instead of the kernel's.
pub const BPF_F_USER_STACK: u64 = 1 << 8;
/// `BPF_F_FAST_STACK_CMP`: compare stacks by hash only.
pub const BPF_F_FAST_STACK_CMP: u64 = 1 << 9;
/// `BPF_F_REUSE_STACKID`: replace a colliding stack.
pub const BPF_F_REUSE_STACKID: u64 = 1 << 10;
/// `BPF_F_USER_BUILD_ID`: user frames as build id and offset.
pub const BPF_F_USER_BUILD_ID: u64 = 1 << 11;

/// `sizeof(struct bpf_stack_build_id)`.
const STACK_BUILD_ID_SIZE: usize = 32;

/// `long bpf_get_stackid(void *ctx, struct bpf_map *map, u64 flags)`:
/// `-EINVAL` for unknown flags, else `-EFAULT` (no call chain to store).
pub(crate) fn get_stackid(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (_, map, _) = map_arg(ctx, a[1])?;
    if map.map_type() != MapType::StackTrace {
        return Err(HelperError::Other(format!(
            "bpf_get_stackid needs a stack_trace map, got {:?}",
            map.map_type()
        )));
    }
    let known =
        BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP | BPF_F_REUSE_STACKID;
    if a[2] & !known != 0 {
        return Ok(neg(EINVAL));
    }
    Ok(neg(EFAULT))
}

/// `long bpf_get_stack(void *ctx, void *buf, u32 size, u64 flags)`:
/// `buf` zeroed; `-EINVAL` for unknown flags, build ids of a kernel stack
/// or a size that is not a whole number of frames, else `-EFAULT`.
pub(crate) fn get_stack(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    no_stack(ctx, a[1], a[2], a[3])
}

/// `long bpf_get_task_stack(struct task_struct *task, void *buf, u32 size,
/// u64 flags)`: as [`get_stack`], for the run's task (the only one it has).
pub(crate) fn get_task_stack(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    crate::task::task_of("get_task_stack", a[0])?;
    no_stack(ctx, a[1], a[2], a[3])
}

/// `__bpf_get_stack` when no call chain can be taken: `buf` zeroed,
/// `-EINVAL` for bad flags or sizes, else `-EFAULT`.
fn no_stack(ctx: Ctx<'_, '_>, buf: u64, size: u64, flags: u64) -> Ret {
    let size = size_arg(size)?;
    if size > 0 {
        write_zeroes(ctx, buf, size)?;
    }
    let known = BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_USER_BUILD_ID;
    let user = flags & BPF_F_USER_STACK != 0;
    let build_id = flags & BPF_F_USER_BUILD_ID != 0;
    let frame = if user && build_id {
        STACK_BUILD_ID_SIZE
    } else {
        8
    };
    if flags & !known != 0 || (!user && build_id) || !size.is_multiple_of(frame) {
        return Ok(neg(EINVAL));
    }
    Ok(neg(EFAULT))
}

/// `long bpf_perf_prog_read_value(struct bpf_perf_event_data *ctx, struct
/// bpf_perf_event_value *buf, u32 buf_size)`: there is no perf event
/// behind an Apiary run to read, so it fails as `perf_event_read_local`
/// does for an event it cannot read (`-EINVAL`), `buf` zeroed; a size
/// other than 24 is `-EINVAL` in the kernel too.
pub(crate) fn perf_prog_read_value(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let size = size_arg(a[2])?;
    write_zeroes(ctx, a[1], size)?;
    Ok(neg(EINVAL))
}

/// Offset of the text in a [`SeqFile`] image.
const SEQ_HEADER: usize = 8;

/// The output buffer of one iterator `show` call, what `meta->seq` points
/// to in an Apiary iterator run.
///
/// Image layout: `u32 size` (capacity of the text), `u32 count` (bytes
/// written; equal to `size` once the buffer overflowed, as the kernel's
/// `seq_set_overflow` marks it), then `size` bytes of text. As the
/// kernel's `seq_file`, a write that does not leave at least one byte free
/// overflows it and fails with `-EOVERFLOW`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqFile {
    image: Vec<u8>,
}

impl SeqFile {
    /// An empty buffer of `size` bytes of text (the kernel's bpf_iter
    /// buffer is 8 pages).
    pub fn with_capacity(size: u32) -> SeqFile {
        let mut image = vec![0u8; SEQ_HEADER + size as usize];
        if let Some(slot) = image.get_mut(..4) {
            slot.copy_from_slice(&size.to_ne_bytes());
        }
        SeqFile { image }
    }

    /// The image, to hand to a run as writable memory.
    pub fn image_mut(&mut self) -> &mut [u8] {
        &mut self.image
    }

    fn field(&self, at: usize) -> u32 {
        self.image
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_ne_bytes)
    }

    /// Whether a write did not fit.
    pub fn overflowed(&self) -> bool {
        self.field(4) >= self.field(0)
    }

    /// The text written so far; empty after an overflow, as the kernel
    /// discards an overflowed record.
    pub fn text(&self) -> &[u8] {
        if self.overflowed() {
            return &[];
        }
        let count = self.field(4) as usize;
        self.image
            .get(SEQ_HEADER..SEQ_HEADER + count)
            .unwrap_or_default()
    }
}

/// Appends `text` to the seq_file image at `seq`: the kernel's
/// `seq_write` / `seq_bprintf` tail.
fn seq_append(ctx: Ctx<'_, '_>, seq: u64, text: &[u8]) -> Ret {
    let header = ctx.read(seq, SEQ_HEADER)?;
    let field = |at: usize| {
        header
            .get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_ne_bytes)
    };
    let (size, count) = (u64::from(field(0)), u64::from(field(4)));
    if count < size && count + (text.len() as u64) < size {
        ctx.write(seq + SEQ_HEADER as u64 + count, text)?;
        let count = (count + text.len() as u64) as u32;
        ctx.write(seq + 4, &count.to_ne_bytes())?;
        return Ok(0);
    }
    ctx.write(seq + 4, &(size as u32).to_ne_bytes())?;
    Ok(neg(EOVERFLOW))
}

/// `long bpf_seq_write(struct seq_file *m, const void *data, u32 len)`:
/// 0, or `-EOVERFLOW` when the buffer is full.
pub(crate) fn seq_write(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let data = ctx.read(a[1], size_arg(a[2])?)?.to_vec();
    seq_append(ctx, a[0], &data)
}

/// `long bpf_seq_printf(struct seq_file *m, const char *fmt, u32 fmt_size,
/// const void *data, u32 data_len)`: formats as `bpf_snprintf` (arguments
/// as an array of u64) into the buffer; 0, `-EINVAL` for a bad format or
/// argument array, `-EOVERFLOW` when the buffer is full.
pub(crate) fn seq_printf(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let Some(args) = bprintf_args(ctx, a[3], a[4])? else {
        return Ok(neg(EINVAL));
    };
    let fmt = ctx.read(a[1], size_arg(a[2])?)?.to_vec();
    let Some(end) = fmt.iter().position(|b| *b == 0) else {
        return Ok(neg(EINVAL));
    };
    match format_text(ctx, fmt.get(..end).unwrap_or_default(), &args) {
        Ok(text) => seq_append(ctx, a[0], &text),
        Err(e) => Ok(e as u64),
    }
}
