//! The kernel's helper functions by id; their prototypes (argument and
//! return kinds) are `apiary_verifier::helpers`'.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use apiary_kernel::types::ProgType;
use apiary_maps::{Map, MapError, MapType};
use apiary_vm::{HelperContext, HelperError, HelperFn, Helpers, Region, RegionKind};

use crate::{
    Env, Event, MapId, TraceLine, fib, helpers_local_storage as storage, helpers_sock as sock,
    helpers_sysctl as sysctl, helpers_trace as trace, printf, skb_helpers as skb, skb_meta as meta,
    tunnel, xdp_helpers as xdp,
};
use apiary_loader::helpers::HELPER_NAMES;
use apiary_verifier::helpers::helper_proto;

/// What every helper receives.
pub(crate) type Ctx<'a, 'r> = &'a mut HelperContext<'r, Env>;
/// What every helper returns.
pub(crate) type Ret = Result<u64, HelperError>;

/// The errno values helpers return (negated, see [`neg`]).
pub(crate) mod errno {
    pub(crate) const ENOENT: i64 = 2;
    pub(crate) const E2BIG: i64 = 7;
    pub(crate) const ENOMEM: i64 = 12;
    pub(crate) const EACCES: i64 = 13;
    pub(crate) const EFAULT: i64 = 14;
    pub(crate) const ENODEV: i64 = 19;
    pub(crate) const EINVAL: i64 = 22;
    pub(crate) const EBADMSG: i64 = 74;
    pub(crate) const EOVERFLOW: i64 = 75;
    pub(crate) const EOPNOTSUPP: i64 = 95;
    pub(crate) const EAFNOSUPPORT: i64 = 97;
    /// The kernel-internal `ENOTSUPP` (not `EOPNOTSUPP`), as helpers return it.
    pub(crate) const ENOTSUPP: i64 = 524;
}
use errno::{E2BIG, EFAULT, EINVAL, ENOENT};

/// A helper's return value for `-errno`.
pub(crate) fn neg(errno: i64) -> u64 {
    (-errno) as u64
}

fn map_errno(e: &MapError) -> u64 {
    i64::from(e.errno()) as u64
}

pub(crate) fn status(result: Result<(), MapError>) -> u64 {
    result.map_or_else(|e| map_errno(&e), |()| 0)
}

/// A map a helper argument names, borrowed for one helper call.
///
/// Helpers run per packet, so resolving a map must not touch its `Arc`
/// count: on several cores that count is one cache line every core writes.
/// The `Env` keeps an `Arc` of every map its helpers resolved
/// (`maps_used`, never shrunk while the Env lives), and the runtime's table
/// only grows, so the map outlives every `MapRef`, which is a local of the
/// helper that asked for it (neither `Send` nor `Clone`).
pub(crate) struct MapRef(std::ptr::NonNull<Map>);

impl std::ops::Deref for MapRef {
    type Target = Map;
    fn deref(&self) -> &Map {
        // SAFETY: see the type's comment: an `Arc` in the Env keeps it alive.
        unsafe { self.0.as_ref() }
    }
}

impl MapRef {
    /// An owning handle, for what outlives the helper call (a reserved
    /// ring buffer sample).
    pub(crate) fn to_arc(&self) -> Arc<Map> {
        let ptr = self.0.as_ptr().cast_const();
        // SAFETY: the pointer is `Arc::as_ptr` of an `Arc` the Env still
        // holds, so the count is at least one while it is raised.
        unsafe {
            Arc::increment_strong_count(ptr);
            Arc::from_raw(ptr)
        }
    }
}

#[inline]
pub(crate) fn map_arg(ctx: Ctx<'_, '_>, handle: u64) -> Result<(MapId, MapRef, bool), HelperError> {
    map_of_handle(ctx.env(), handle)
        .ok_or_else(|| HelperError::Other(format!("argument {handle:#x} is not a map")))
}

/// The map of `handle` (id, map, read-only), remembered in the Env's
/// `maps_used` after the first time.
#[inline]
fn map_of_handle(env: &mut Env, handle: u64) -> Option<(MapId, MapRef, bool)> {
    let borrow = |map: &Arc<Map>| MapRef(std::ptr::NonNull::from(&**map));
    if let Some((_, id, map, read_only)) = env.maps_used.iter().find(|(h, ..)| *h == handle) {
        return Some((*id, borrow(map), *read_only));
    }
    let (id, map, read_only) = env.runtime.map_of_handle(handle)?;
    // Only real maps are remembered, so the list stays as short as the
    // runtime's map table.
    let map_ref = borrow(&map);
    env.maps_used.push((handle, id, map, read_only));
    Some((id, map_ref, read_only))
}

/// Zeroes `len` bytes of program memory at `addr`, checking the range
/// before allocating so a hostile length cannot cost memory.
pub(crate) fn write_zeroes(ctx: Ctx<'_, '_>, addr: u64, len: usize) -> Result<(), HelperError> {
    ctx.read(addr, len)?;
    ctx.write(addr, &vec![0u8; len])
}

pub(crate) fn size_arg(size: u64) -> Result<usize, HelperError> {
    usize::try_from(size)
        .ok()
        .filter(|s| *s <= u32::MAX as usize)
        .ok_or_else(|| HelperError::Other(format!("size {size} is not a u32")))
}

pub(crate) fn expose(
    ctx: Ctx<'_, '_>,
    addr: usize,
    len: usize,
    writable: bool,
    kind: RegionKind,
) -> Result<u64, HelperError> {
    // SAFETY: the address is map memory that lives as long as the runtime,
    // which outlives the run (the Env holds it).
    ctx.add_region(unsafe { Region::from_raw(addr as *mut u8, len, writable) }.with_kind(kind))?;
    Ok(addr as u64)
}

/// `bpf_map_lookup_elem`'s id. On an array or per-CPU array it finds the
/// value by `apiary_vm::ArrayLookup`'s arithmetic (`Map::lookup` on the
/// runner's CPU, see `Runtime::map_lookups`), on a hash table or trie by
/// `Map::search`'s function, registering the value as
/// `apiary_vm::DirectLookup` says: compiled code may do either itself.
pub(crate) const MAP_LOOKUP_ELEM: u32 = 1;

/// `bpf_skb_load_bytes`, which copies from the span `LD_ABS` reads with
/// every promise of `apiary_vm::packet_load`: compiled code may copy
/// itself.
pub(crate) const SKB_LOAD_BYTES: u32 = 26;

fn map_lookup_elem(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (id, map, read_only) = map_arg(ctx, a[0])?;
    let cpu = ctx.env().cpu;
    if matches!(map.map_type(), MapType::ArrayOfMaps | MapType::HashOfMaps) {
        // The kernel returns the inner map itself, which the program then
        // passes to map helpers: here, the inner map's handle.
        let key = ctx.read(a[1], map.key_size())?;
        return Ok(match map.inner_map_id(key) {
            Ok(Some(id)) => MapId(id).handle(),
            Ok(None) | Err(_) => 0,
        });
    }
    let found = {
        let key = ctx.read(a[1], map.key_size())?;
        map.lookup(key, cpu)
    };
    match found {
        Ok(Some(value)) => expose(
            ctx,
            value.addr(),
            value.len(),
            !read_only,
            RegionKind::MapValue(id.0),
        ),
        Ok(None) | Err(_) => Ok(0),
    }
}

fn map_update_elem(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (_, map, _) = map_arg(ctx, a[0])?;
    let cpu = ctx.env().cpu;
    let key = ctx.read(a[1], map.key_size())?;
    let value = ctx.read(a[2], map.value_size())?;
    Ok(status(map.update(key, value, a[3], cpu)))
}

fn map_delete_elem(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (_, map, _) = map_arg(ctx, a[0])?;
    let key = ctx.read(a[1], map.key_size())?;
    Ok(status(map.delete(key)))
}

/// `bpf_probe_read*`: copies what the program may read; otherwise zeroes
/// the destination and returns `-EFAULT`, as `copy_from_kernel_nofault` does.
fn probe_read(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let len = size_arg(a[1])?;
    // The destination must be the program's own writable memory; checking it
    // first also bounds the copy below.
    ctx.read(a[0], len)?;
    let copied = ctx.read(a[2], len).map(<[u8]>::to_vec);
    match copied {
        Ok(bytes) => {
            ctx.write(a[0], &bytes)?;
            Ok(0)
        }
        Err(_) => {
            ctx.write(a[0], &vec![0; len])?;
            Ok(neg(EFAULT))
        }
    }
}

/// `bpf_probe_read*_str`: `strncpy_from_kernel_nofault` semantics.
fn probe_read_str(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let len = size_arg(a[1])?;
    ctx.read(a[0], len)?;
    let mut out = Vec::with_capacity(len);
    let mut result = None;
    for i in 0..len {
        let Ok(byte) = ctx.read(a[2].wrapping_add(i as u64), 1) else {
            ctx.write(a[0], &vec![0; len])?;
            return Ok(neg(EFAULT));
        };
        let byte = byte.first().copied().unwrap_or(0);
        out.push(byte);
        if byte == 0 {
            result = Some(i as u64 + 1);
            break;
        }
    }
    let result = match result {
        Some(n) => n,
        None => {
            if let Some(last) = out.last_mut() {
                *last = 0;
            }
            len as u64
        }
    };
    ctx.write(a[0], &out)?;
    Ok(result)
}

/// Nanoseconds on clock `id`.
pub(crate) fn clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write.
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

fn ktime_get_ns(_: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(clock(libc::CLOCK_MONOTONIC))
}

fn ktime_get_boot_ns(_: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(clock(libc::CLOCK_BOOTTIME))
}

fn ktime_get_coarse_ns(_: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(clock(libc::CLOCK_MONOTONIC_COARSE))
}

fn ktime_get_tai_ns(_: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(clock(libc::CLOCK_TAI))
}

/// This kernel's `CONFIG_HZ`.
const HZ: u64 = 250;
/// The kernel's `INITIAL_JIFFIES` (wraps 5 minutes after boot on 32 bits).
const INITIAL_JIFFIES: u64 = (-300i64 * HZ as i64) as u32 as u64;

fn jiffies64(_: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(INITIAL_JIFFIES.wrapping_add(clock(libc::CLOCK_MONOTONIC_COARSE) / (1_000_000_000 / HZ)))
}

fn read_string(ctx: &HelperContext<'_, Env>, addr: u64) -> Option<Vec<u8>> {
    // The kernel copies at most MAX_BPRINTF_BUF bytes of a %s argument.
    let mut out = Vec::new();
    for i in 0..511u64 {
        let byte = *ctx.read(addr.wrapping_add(i), 1).ok()?.first()?;
        if byte == 0 {
            break;
        }
        out.push(byte);
    }
    Some(out)
}

/// The kernel's `MAX_BPRINTF_BUF`: formatted output is cut to 511 bytes.
const MAX_BPRINTF_BUF: usize = 512;

fn trace_printk(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let fmt_len = size_arg(a[1])?;
    let fmt = ctx.read(a[0], fmt_len)?.to_vec();
    let Some(end) = fmt.iter().position(|b| *b == 0) else {
        return Ok(neg(EINVAL));
    };
    let text = match format_text(ctx, fmt.get(..end).unwrap_or_default(), &a[2..5]) {
        Ok(text) => text,
        Err(e) => return Ok(e as u64),
    };
    let shown = text.get(..MAX_BPRINTF_BUF - 1).unwrap_or(&text);
    let env = ctx.env();
    let line = TraceLine::now(&env.task, env.cpu, env.packet.is_some(), shown);
    env.print(line);
    Ok(text.len() as u64)
}

/// The kernel's `MAX_BPRINTF_VARARGS`.
const MAX_BPRINTF_VARARGS: u64 = 12;

/// The `u64` arguments of a `bpf_snprintf`-style call (`data`, `data_len`
/// bytes); `None` where the kernel answers `-EINVAL` (a length that is not
/// a multiple of 8 or above 12 arguments, or a NULL `data` with a length).
pub(crate) fn bprintf_args(
    ctx: Ctx<'_, '_>,
    data: u64,
    data_len: u64,
) -> Result<Option<Vec<u64>>, HelperError> {
    if !data_len.is_multiple_of(8)
        || data_len > MAX_BPRINTF_VARARGS * 8
        || (data_len != 0 && data == 0)
    {
        return Ok(None);
    }
    Ok(Some(
        ctx.read(data, data_len as usize)?
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect(),
    ))
}

/// Formats `fmt` (without its NUL) with `args`, `%s` arguments read from
/// program memory; the text or the negative errno the kernel returns.
pub(crate) fn format_text(ctx: Ctx<'_, '_>, fmt: &[u8], args: &[u64]) -> Result<Vec<u8>, i64> {
    let mut reader = |addr| read_string(ctx, addr);
    printf::format(fmt, args, &mut reader)
}

fn snprintf(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let out_len = size_arg(a[1])?;
    let Some(args) = bprintf_args(ctx, a[3], a[4])? else {
        return Ok(neg(EINVAL));
    };
    let fmt = ctx.read_cstr(a[2], 64 * 1024)?.to_vec();
    let mut text = match format_text(ctx, &fmt, &args) {
        Ok(text) => text,
        Err(e) => return Ok(e as u64),
    };
    let needed = text.len() as u64 + 1;
    if out_len > 0 {
        text.truncate(out_len - 1);
        text.push(0);
        ctx.write(a[0], &text)?;
    }
    Ok(needed)
}

fn get_prandom_u32(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    // splitmix64 over a shared counter: independent draws from every thread.
    let state = &ctx.env().runtime.prandom;
    let mut z = state
        .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    Ok(u64::from((z ^ (z >> 31)) as u32))
}

fn get_smp_processor_id(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(u64::from(ctx.env().cpu))
}

fn get_numa_node_id(_: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(0)
}

fn tail_call(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (_, map, _) = map_arg(ctx, a[1])?;
    if map.map_type() != MapType::ProgArray {
        return Err(HelperError::Other(
            "tail call through a map that is not a prog_array".into(),
        ));
    }
    let Some(target) = map.tail_call_target(a[2] as u32) else {
        return Ok(neg(ENOENT));
    };
    let Some(program) = ctx.env().runtime.program(crate::ProgId(target)) else {
        return Ok(neg(ENOENT));
    };
    match ctx.tail_call(program) {
        Ok(()) => Ok(0),
        Err(_) => Ok(neg(E2BIG)),
    }
}

fn get_current_pid_tgid(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    let task = &ctx.env().task;
    Ok(u64::from(task.tgid) << 32 | u64::from(task.pid))
}

fn get_current_uid_gid(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    let task = &ctx.env().task;
    Ok(u64::from(task.gid) << 32 | u64::from(task.uid))
}

/// `TASK_COMM_LEN`.
const TASK_COMM_LEN: usize = 16;

fn get_current_comm(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let len = size_arg(a[1])?;
    ctx.read(a[0], len)?;
    let comm = ctx.env().task.comm.as_bytes().to_vec();
    // strscpy_pad: at most size - 1 bytes of the name, then zeros.
    let mut out = vec![0u8; len];
    let take = comm.len().min(TASK_COMM_LEN - 1).min(len.saturating_sub(1));
    if let (Some(dst), Some(src)) = (out.get_mut(..take), comm.get(..take)) {
        dst.copy_from_slice(src);
    }
    ctx.write(a[0], &out)?;
    Ok(0)
}

fn value_buffer(ctx: Ctx<'_, '_>, map: &Map, addr: u64) -> Result<Vec<u8>, HelperError> {
    Ok(ctx.read(addr, map.value_size())?.to_vec())
}

fn map_push_elem(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (_, map, _) = map_arg(ctx, a[0])?;
    let value = ctx.read(a[1], map.value_size())?;
    Ok(status(map.push(value, a[2])))
}

fn map_pop_elem(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (_, map, _) = map_arg(ctx, a[0])?;
    let mut buf = value_buffer(ctx, &map, a[1])?;
    let result = map.pop(&mut buf);
    if result.is_ok() {
        ctx.write(a[1], &buf)?;
    }
    Ok(status(result))
}

fn map_peek_elem(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (_, map, _) = map_arg(ctx, a[0])?;
    let mut buf = value_buffer(ctx, &map, a[1])?;
    let result = map.peek(&mut buf);
    if result.is_ok() && map.map_type() != MapType::BloomFilter {
        ctx.write(a[1], &buf)?;
    }
    Ok(status(result))
}

/// The map whose value holds the `bpf_spin_lock` at `addr`.
fn lock_owner(ctx: Ctx<'_, '_>, addr: u64) -> Result<Arc<Map>, HelperError> {
    ctx.read(addr, 4)?;
    crate::read_lock(&ctx.env().runtime.maps)
        .iter()
        .find(|e| e.map.def().spin_lock_off.is_some() && e.map.is_spin_lock(addr as usize))
        .map(|e| Arc::clone(&e.map))
        .ok_or_else(|| {
            HelperError::Other(format!("{addr:#x} is not a bpf_spin_lock in a map value"))
        })
}

fn spin_lock(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let map = lock_owner(ctx, a[0])?;
    // Taking it again would wait for this very run (the verifier refuses
    // such a program; an unverified one is stopped instead of hanging).
    if ctx.env().locks.iter().any(|(addr, _)| *addr == a[0]) {
        return Err(HelperError::Other(format!(
            "the bpf_spin_lock at {:#x} is already held by this run",
            a[0]
        )));
    }
    map.spin_lock(a[0] as usize)
        .map_err(|e| HelperError::Other(e.to_string()))?;
    ctx.env().locks.push((a[0], map));
    Ok(0)
}

fn spin_unlock(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let map = lock_owner(ctx, a[0])?;
    map.spin_unlock(a[0] as usize)
        .map_err(|e| HelperError::Other(e.to_string()))?;
    ctx.env().locks.retain(|(addr, _)| *addr != a[0]);
    Ok(0)
}

fn ringbuf_output(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (_, map, _) = map_arg(ctx, a[0])?;
    let data = ctx.read(a[1], size_arg(a[2])?)?;
    Ok(status(map.ringbuf_output(data, a[3])))
}

/// `bpf_ringbuf_reserve`'s id. It reserves with `Map::ringbuf_reserve`,
/// which `Map::reserve`'s function does too, and records the sample as
/// [`record_reservation`] does before registering it, as
/// `apiary_vm::DirectReserve` says: compiled code may reserve itself.
pub(crate) const RINGBUF_RESERVE: u32 = 131;

fn ringbuf_reserve(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (_, map, _) = map_arg(ctx, a[0])?;
    match map.ringbuf_reserve(a[1], a[2]) {
        Ok(sample) => {
            ctx.env().reserved.push((sample.addr(), map.to_arc()));
            expose(ctx, sample.addr(), sample.len(), true, RegionKind::Memory)
        }
        Err(_) => Ok(0),
    }
}

/// Remembers a sample compiled code reserved in the ring buffer of map
/// handle `handle` (`apiary_vm::RecordReservation`), as [`ringbuf_reserve`]
/// does, for the submit or discard that releases it.
pub(crate) fn record_reservation(env: &mut Env, sample: u64, handle: u64) {
    if let Some((_, map, _)) = map_of_handle(env, handle) {
        env.reserved.push((sample as usize, map.to_arc()));
    }
}

/// `bpf_ringbuf_submit`'s id. It commits with `Map::ringbuf_submit`, as
/// `apiary_maps::SUBMIT` does, which compiled code may call itself
/// (`apiary_vm::DirectCommits`).
pub(crate) const RINGBUF_SUBMIT: u32 = 132;
/// `bpf_ringbuf_discard`'s id, as [`RINGBUF_SUBMIT`] with
/// `apiary_maps::DISCARD`.
pub(crate) const RINGBUF_DISCARD: u32 = 133;

fn release_sample(ctx: Ctx<'_, '_>, addr: u64, discard: bool, flags: u64) -> Ret {
    let reserved = &mut ctx.env().reserved;
    let Some(pos) = reserved.iter().position(|(a, _)| *a as u64 == addr) else {
        return Err(HelperError::Other(format!(
            "{addr:#x} is not a reserved ring buffer sample"
        )));
    };
    let (sample, map) = reserved.swap_remove(pos);
    let result = if discard {
        map.ringbuf_discard(sample, flags)
    } else {
        map.ringbuf_submit(sample, flags)
    };
    result.map_err(|e| HelperError::Other(format!("ring buffer commit failed: {e}")))?;
    Ok(0)
}

fn ringbuf_submit(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    release_sample(ctx, a[0], false, a[1])
}

fn ringbuf_discard(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    release_sample(ctx, a[0], true, a[1])
}

fn ringbuf_query(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (_, map, _) = map_arg(ctx, a[0])?;
    Ok(map.ringbuf_query(a[1]).unwrap_or(0))
}

/// `BPF_F_INDEX_MASK`: the perf buffer index in `bpf_perf_event_output`'s flags.
const BPF_F_INDEX_MASK: u64 = 0xffff_ffff;
/// `BPF_F_CTXLEN_MASK`: packet bytes to append, for skb and xdp programs.
const BPF_F_CTXLEN_MASK: u64 = 0xf_ffff << 32;

/// `bpf_perf_event_output`; from a packet program (`bpf_skb_event_output`,
/// `bpf_xdp_event_output`) the record is the data followed by the first
/// `flags >> 32` packet bytes.
fn perf_event_output(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (_, map, _) = map_arg(ctx, a[1])?;
    let cpu = ctx.env().cpu;
    let flags = a[2];
    let mut data = ctx.read(a[3], size_arg(a[4])?)?.to_vec();
    if let Some(packet) = &ctx.env().packet {
        if flags & !(BPF_F_CTXLEN_MASK | BPF_F_INDEX_MASK) != 0 {
            return Ok(neg(EINVAL));
        }
        let packet_len = ((flags & BPF_F_CTXLEN_MASK) >> 32) as usize;
        match packet.read_across(0, packet_len) {
            Some(bytes) => data.extend_from_slice(&bytes),
            None => return Ok(neg(EFAULT)),
        }
        return Ok(status(map.perf_event_output(
            cpu,
            flags & BPF_F_INDEX_MASK,
            &data,
        )));
    }
    Ok(status(map.perf_event_output(cpu, flags, &data)))
}

/// The kernel's `BPF_MAX_LOOPS`.
const BPF_MAX_LOOPS: u64 = 1 << 23;

fn callback(ctx: Ctx<'_, '_>, func: u64, args: [u64; 5]) -> Ret {
    ctx.call_function(func, args)
        .map_err(|e| HelperError::Callback(Box::new(e)))
}

fn bpf_loop(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    if a[3] != 0 {
        return Ok(neg(EINVAL));
    }
    let nr_loops = u64::from(a[0] as u32);
    if nr_loops > BPF_MAX_LOOPS {
        return Ok(neg(E2BIG));
    }
    for i in 0..nr_loops {
        if callback(ctx, a[1], [i, a[2], 0, 0, 0])? != 0 {
            return Ok(i + 1);
        }
    }
    Ok(nr_loops)
}

fn for_each_map_elem(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    if a[3] != 0 {
        return Ok(neg(EINVAL));
    }
    let (id, map, read_only) = map_arg(ctx, a[0])?;
    let cpu = ctx.env().cpu;
    let key_size = map.key_size();
    let buffer: Box<[std::cell::UnsafeCell<u8>]> = (0..key_size)
        .map(|_| std::cell::UnsafeCell::new(0))
        .collect();
    let key_addr = buffer.as_ptr() as usize;
    ctx.env().key_buffers.push(buffer);
    expose(ctx, key_addr, key_size, false, RegionKind::Memory)?;
    let mut key: Option<Vec<u8>> = None;
    let mut count = 0u64;
    while let Ok(next) = map.sys_get_next_key(key.as_deref()) {
        let Ok(Some(value)) = map.lookup(&next, cpu) else {
            key = Some(next);
            continue;
        };
        // SAFETY: the buffer is `key_size` bytes owned by the Env, which lives
        // through the run; only the interpreter reads it, between writes here.
        unsafe {
            std::ptr::copy_nonoverlapping(
                next.as_ptr(),
                key_addr as *mut u8,
                key_size.min(next.len()),
            );
        }
        let value_addr = expose(
            ctx,
            value.addr(),
            value.len(),
            !read_only,
            RegionKind::MapValue(id.0),
        )?;
        count += 1;
        let stop = callback(ctx, a[1], [a[0], key_addr as u64, value_addr, a[2], 0])?;
        if stop != 0 {
            break;
        }
        key = Some(next);
        // Arrays iterate their indices exactly once, like the kernel.
        if matches!(map.map_type(), MapType::Array | MapType::PercpuArray)
            && count >= u64::from(map.max_entries())
        {
            break;
        }
    }
    Ok(count)
}

fn strncmp(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let len = size_arg(a[1])?;
    let s1 = ctx.read(a[0], len)?.to_vec();
    let s2 = ctx.read_cstr(a[2], 64 * 1024)?;
    // lib/string.c strncmp: -1/0/1 at the first difference or NUL.
    for i in 0..len {
        let c1 = s1.get(i).copied().unwrap_or(0);
        let c2 = s2.get(i).copied().unwrap_or(0);
        if c1 != c2 {
            return Ok(if c1 < c2 { u64::MAX } else { 1 });
        }
        if c1 == 0 {
            break;
        }
    }
    Ok(0)
}

fn get_current_cgroup_id(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(ctx.env().task.cgroup_ancestry.last().copied().unwrap_or(0))
}

fn get_current_ancestor_cgroup_id(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let level = usize::try_from(a[0] as i32).ok();
    let ancestry = &ctx.env().task.cgroup_ancestry;
    Ok(level.and_then(|l| ancestry.get(l)).copied().unwrap_or(0))
}

/// `bpf_skb_cgroup_id(skb)`: test-run's socket belongs to the running
/// task's cgroup.
fn skb_cgroup_id(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    skb::skb(ctx)?;
    get_current_cgroup_id(ctx, a)
}

/// `bpf_skb_ancestor_cgroup_id(skb, level)`.
fn skb_ancestor_cgroup_id(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    skb::skb(ctx)?;
    get_current_ancestor_cgroup_id(ctx, [a[1], 0, 0, 0, 0])
}

fn get_func_ip(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(ctx.env().task.func_ip)
}

fn get_attach_cookie(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(ctx.env().task.attach_cookie)
}

/// The kernel's `_NSIG`: valid signals are 1..=64.
const NSIG: u64 = 64;

fn send_signal(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let sig = u64::from(a[0] as u32);
    if sig > NSIG {
        return Ok(neg(EINVAL));
    }
    let env = ctx.env();
    let tgid = env.task.tgid;
    env.record(Event::Signal {
        sig: sig as u32,
        tgid,
    });
    Ok(0)
}

fn get_current_task(ctx: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Ok(crate::task::current_task_pointer(&ctx.env().task))
}

const XDP_ABORTED: u64 = 0;
const XDP_REDIRECT: u64 = 4;
const TC_ACT_SHOT: u64 = 2;
const TC_ACT_REDIRECT: u64 = 7;
const BPF_F_INGRESS: u64 = 1;
/// `BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS`.
const REDIRECT_MAP_FLAGS: u64 = 0x18;
/// `XDP_ABORTED | XDP_DROP | XDP_PASS | XDP_TX`: the fallback action in the flags.
const BPF_F_ACTION_MASK: u64 = 3;

fn redirect(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (ifindex, flags) = (a[0] as u32, a[1]);
    let xdp = ctx.env().prog_type == ProgType::XDP;
    if (xdp && flags != 0) || (!xdp && flags & !BPF_F_INGRESS != 0) {
        return Ok(if xdp { XDP_ABORTED } else { TC_ACT_SHOT });
    }
    ctx.env().record(Event::Redirect { ifindex, flags });
    Ok(if xdp { XDP_REDIRECT } else { TC_ACT_REDIRECT })
}

fn redirect_map(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (id, map, _) = map_arg(ctx, a[0])?;
    let (key, flags) = (a[1] as u32, a[2]);
    if flags & !(REDIRECT_MAP_FLAGS | BPF_F_ACTION_MASK) != 0 {
        return Ok(XDP_ABORTED);
    }
    match map.redirect_target(key) {
        Some(target) => {
            ctx.env().record(Event::RedirectMap {
                map: id,
                key,
                target,
            });
            Ok(XDP_REDIRECT)
        }
        None => Ok(flags & BPF_F_ACTION_MASK),
    }
}

/// Size of the kernel's per-CPU scratch for `bpf_csum_diff` (128 words).
const CSUM_DIFF_MAX: usize = 512;

fn csum_diff(ctx: Ctx<'_, '_>, a: [u64; 5]) -> Ret {
    let (from_len, to_len) = (size_arg(a[1])?, size_arg(a[3])?);
    if (from_len | to_len) % 4 != 0 || from_len + to_len > CSUM_DIFF_MAX {
        return Ok(neg(EINVAL));
    }
    let words = |bytes: &[u8]| -> Vec<u32> {
        bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect()
    };
    let from = words(ctx.read(a[0], from_len)?);
    let to = words(ctx.read(a[2], to_len)?);
    // csum_partial over (~from, to) seeded with `seed`: a ones' complement
    // sum, folded to 32 bits with end-around carries.
    let mut sum = u64::from(a[4] as u32);
    for w in from.iter().map(|w| !w).chain(to.iter().copied()) {
        sum += u64::from(w);
    }
    while sum >> 32 != 0 {
        sum = (sum & 0xffff_ffff) + (sum >> 32);
    }
    Ok(sum)
}

/// Every helper Apiary implements, by kernel id; the prototypes are
/// `apiary_verifier::helpers`'.
static HELPERS: &[(i32, HelperFn<Env>)] = &[
    (MAP_LOOKUP_ELEM as i32, map_lookup_elem),
    (2, map_update_elem),
    (3, map_delete_elem),
    (4, probe_read),
    (5, ktime_get_ns),
    (6, trace_printk),
    (7, get_prandom_u32),
    (8, get_smp_processor_id),
    (9, skb::skb_store_bytes),
    (10, skb::l3_csum_replace),
    (11, skb::l4_csum_replace),
    (12, tail_call),
    (13, skb::clone_redirect),
    (14, get_current_pid_tgid),
    (15, get_current_uid_gid),
    (16, get_current_comm),
    (17, meta::get_cgroup_classid),
    (18, skb::skb_vlan_push),
    (19, skb::skb_vlan_pop),
    (20, tunnel::skb_get_tunnel_key),
    (21, tunnel::skb_set_tunnel_key),
    (23, redirect),
    (24, meta::get_route_realm),
    (25, perf_event_output),
    (SKB_LOAD_BYTES as i32, skb::skb_load_bytes),
    (27, trace::get_stackid),
    (28, csum_diff),
    (29, tunnel::skb_get_tunnel_opt),
    (30, tunnel::skb_set_tunnel_opt),
    (31, skb::skb_change_proto),
    (32, skb::skb_change_type),
    (34, skb::get_hash_recalc),
    (35, get_current_task),
    (38, skb::skb_change_tail),
    (39, skb::skb_pull_data),
    (40, skb::csum_update),
    (41, skb::set_hash_invalid),
    (42, get_numa_node_id),
    (43, skb::skb_change_head),
    (44, xdp::xdp_adjust_head),
    (45, probe_read_str),
    (46, meta::get_socket_cookie),
    (47, meta::get_socket_uid),
    (48, skb::set_hash),
    (49, sock::setsockopt),
    (50, skb::skb_adjust_room),
    (51, redirect_map),
    (52, sock::sk_redirect_map),
    (53, sock::sock_map_update),
    (54, xdp::xdp_adjust_meta),
    (56, trace::perf_prog_read_value),
    (57, sock::getsockopt),
    (59, sock::sock_ops_cb_flags_set),
    (60, sock::msg_redirect_map),
    (61, sock::msg_apply_bytes),
    (62, sock::msg_cork_bytes),
    (63, sock::msg_pull_data),
    (65, xdp::xdp_adjust_tail),
    (67, trace::get_stack),
    (68, skb::skb_load_bytes_relative),
    (69, fib::fib_lookup),
    (70, sock::sock_hash_update),
    (71, sock::msg_redirect_hash),
    (72, sock::sk_redirect_hash),
    (79, skb_cgroup_id),
    (80, get_current_cgroup_id),
    (82, sock::sk_select_reuseport),
    (83, skb_ancestor_cgroup_id),
    (84, meta::sk_lookup),
    (85, meta::sk_lookup),
    (86, meta::sk_release),
    (87, map_push_elem),
    (88, map_pop_elem),
    (89, map_peek_elem),
    (93, spin_lock),
    (94, spin_unlock),
    (95, meta::sk_fullsock),
    (96, meta::tcp_sock),
    (97, meta::skb_ecn_set_ce),
    (98, meta::get_listener_sock),
    (99, meta::sk_lookup),
    (101, sysctl::sysctl_get_name),
    (102, sysctl::sysctl_get_current_value),
    (103, sysctl::sysctl_get_new_value),
    (104, sysctl::sysctl_set_new_value),
    (107, storage::sk_storage_get),
    (108, storage::sk_storage_delete),
    (109, send_signal),
    (112, probe_read),
    (113, probe_read),
    (114, probe_read_str),
    (115, probe_read_str),
    (118, jiffies64),
    (123, get_current_ancestor_cgroup_id),
    (124, sock::sk_assign),
    (125, ktime_get_boot_ns),
    (126, trace::seq_printf),
    (127, trace::seq_write),
    (130, ringbuf_output),
    (RINGBUF_RESERVE as i32, ringbuf_reserve),
    (RINGBUF_SUBMIT as i32, ringbuf_submit),
    (RINGBUF_DISCARD as i32, ringbuf_discard),
    (134, ringbuf_query),
    (135, meta::csum_level),
    (141, trace::get_task_stack),
    (151, meta::skb_cgroup_classid),
    (152, meta::redirect_neigh),
    (155, meta::redirect_peer),
    (156, storage::task_storage_get),
    (157, storage::task_storage_delete),
    // The kernel's two helpers return the same pointer, `current`.
    (158, get_current_task),
    (160, ktime_get_coarse_ns),
    (163, meta::check_mtu),
    (164, for_each_map_elem),
    (165, snprintf),
    (173, get_func_ip),
    (174, get_attach_cookie),
    (181, bpf_loop),
    (182, strncmp),
    (188, xdp::xdp_get_buff_len),
    (189, xdp::xdp_load_bytes),
    (190, xdp::xdp_store_bytes),
    (192, meta::skb_set_tstamp),
    (208, ktime_get_tai_ns),
    (210, storage::cgrp_storage_get),
    (211, storage::cgrp_storage_delete),
];

/// The helpers that never move the packet or change what a run is given
/// (they touch maps, ring buffers, the events a run records, or only
/// read the packet): repeated runs go on after them without re-reading
/// the packet.
const KEEP_INPUT: [i32; 10] = [
    1,  // map_lookup_elem
    2,  // map_update_elem
    3,  // map_delete_elem
    23, // redirect
    SKB_LOAD_BYTES as i32,
    130, // ringbuf_output
    RINGBUF_RESERVE as i32,
    132, // ringbuf_submit
    133, // ringbuf_discard
    134, // ringbuf_query
];

/// Whether Apiary implements helper `id`.
pub fn helper_implemented(id: i32) -> bool {
    HELPERS.iter().any(|&(h, _)| h == id)
}

/// The kernel's name (without `bpf_`) of helper `id`, provided or not.
pub fn helper_name(id: i32) -> Option<&'static str> {
    usize::try_from(id)
        .ok()
        .and_then(|i| HELPER_NAMES.get(i))
        .copied()
}

/// The helper slot a poisoned CO-RE call (`call 0xbad2310`) is rewritten
/// to at load: past the kernel's ids, within the VM's table limit.
pub(crate) const POISONED_CALL: u32 = 0xfff;

/// Reached a CO-RE relocation libbpf poisoned; the kernel's verifier would
/// have refused the program (`invalid func unknown#195896080`).
fn poisoned_call(_: Ctx<'_, '_>, _: [u64; 5]) -> Ret {
    Err(HelperError::Other(
        "reached an instruction poisoned by an unsatisfiable CO-RE relocation \
         (call 0xbad2310: the field or type does not exist on the target kernel)"
            .into(),
    ))
}

pub(crate) fn table() -> Helpers<Env> {
    let mut helpers = Helpers::new();
    for &(id, func) in HELPERS {
        let name = helper_proto(id).map_or("unknown", |p| p.name);
        // Every id in the table is below 300, within the VM's limit.
        let _ = if KEEP_INPUT.contains(&id) {
            helpers.register_keeping_input(id as u32, name, func)
        } else {
            helpers.register(id as u32, name, func)
        };
    }
    let _ = helpers.register(POISONED_CALL, "core_poisoned_call", poisoned_call);
    crate::kfuncs::register(&mut helpers);
    helpers
}
