//! Guest memory: the per-frame stacks and the regions a run may touch.
//!
//! Guest addresses are host addresses. Every access is checked against the
//! active stack frames and the registered regions before the small `unsafe`
//! functions at the end of this file touch host memory.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};

use crate::error::Access;
use crate::fault::RegionKind;
use crate::op::Rmw;
use crate::registered::Registered;

/// Stack bytes of one frame (`MAX_BPF_STACK`).
pub const STACK_SIZE: u64 = 512;
/// Maximum number of bpf-to-bpf frames, the kernel's `MAX_CALL_FRAMES`.
pub const MAX_CALL_FRAMES: usize = 8;
/// Distance between frame stacks: each 512-byte stack is followed by an
/// inaccessible 512-byte gap, so that running over a frame's end faults
/// instead of landing in the caller's stack.
pub const FRAME_STRIDE: u64 = 1024;
pub(crate) const FRAME_SHIFT: u32 = 10;

/// A span of host memory a program may access, with its lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region<'a> {
    addr: u64,
    len: u64,
    writable: bool,
    kind: RegionKind,
    _borrow: PhantomData<&'a mut [u8]>,
}

impl<'a> Region<'a> {
    /// A read-only region over `mem`.
    pub fn readable(mem: &'a [u8]) -> Self {
        Region {
            addr: mem.as_ptr().expose_provenance() as u64,
            len: mem.len() as u64,
            writable: false,
            kind: RegionKind::Memory,
            _borrow: PhantomData,
        }
    }

    /// A read-write region over `mem`.
    pub fn writable(mem: &'a mut [u8]) -> Self {
        Region {
            addr: mem.as_mut_ptr().expose_provenance() as u64,
            len: mem.len() as u64,
            writable: true,
            kind: RegionKind::Memory,
            _borrow: PhantomData,
        }
    }

    /// A region over raw host memory, e.g. a map value.
    ///
    /// # Safety
    /// `addr..addr + len` must be valid for reads (and writes when
    /// `writable`) for as long as any run the region is given to lasts, and
    /// must not be accessed through Rust references while the program may
    /// write it.
    pub unsafe fn from_raw(addr: *mut u8, len: usize, writable: bool) -> Region<'static> {
        Region {
            addr: addr.expose_provenance() as u64,
            len: len as u64,
            writable,
            kind: RegionKind::Memory,
            _borrow: PhantomData,
        }
    }

    /// The region marked as holding `kind`, which faults name.
    pub fn with_kind(mut self, kind: RegionKind) -> Self {
        self.kind = kind;
        self
    }

    /// What the region holds.
    pub fn kind(&self) -> RegionKind {
        self.kind
    }

    /// Guest (= host) start address.
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the region has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether programs may write it.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    pub(crate) fn span(&self) -> Span {
        Span {
            start: self.addr,
            len: self.len,
            writable: self.writable,
        }
    }
}

/// A region without its lifetime, as stored during a run. Its
/// [`RegionKind`] is kept beside it, out of the access path's way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u64,
    pub(crate) len: u64,
    pub(crate) writable: bool,
}

impl Span {
    #[inline(always)]
    pub(crate) fn contains(&self, addr: u64, size: u64) -> bool {
        let off = addr.wrapping_sub(self.start);
        off < self.len && size <= self.len - off
    }
}

/// No region: it contains no address (`contains` needs an offset below
/// its length), so a cache holding it always misses.
const NO_SPAN: Span = Span {
    start: 0,
    len: 0,
    writable: false,
};

/// A [`Span`] as the one-entry cache keeps it: every byte belongs to a
/// word-sized field, so copies move whole words. (Copying a `Span`'s
/// `bool` and padding went through misaligned stack moves that stalled
/// store forwarding, on every cache miss of the JIT's slow path.)
#[derive(Clone, Copy)]
struct Hit {
    start: u64,
    len: u64,
    writable: u64,
}

impl From<Span> for Hit {
    fn from(span: Span) -> Self {
        Hit {
            start: span.start,
            len: span.len,
            writable: u64::from(span.writable),
        }
    }
}

impl Hit {
    fn span(self) -> Span {
        Span {
            start: self.start,
            len: self.len,
            writable: self.writable != 0,
        }
    }
}

/// The most regions helpers may register in one run (map values looked
/// up, ring buffer samples, ...): a bound on the run's bookkeeping, far
/// above what programs the kernel accepts reach in practice.
pub const MAX_REGIONS: usize = 1 << 20;

/// How many registered regions starting at or below an address are tried
/// before the access faults. Registered regions do not overlap (distinct
/// map values and samples), so the nearest one decides; the few extra
/// cover a value registered twice with different lengths.
const REGISTERED_PROBES: usize = 4;

/// Stacks and regions of a runner.
pub(crate) struct Memory {
    /// Backing store of the frame stacks; programs reach it through
    /// `stack_base`, Rust only to clear it between runs.
    _stack: Box<[u64]>,
    pub(crate) stack_base: u64,
    /// The regions a run was given (few, possibly overlapping: the packet
    /// lies inside its frame).
    pub(crate) regions: Vec<Span>,
    /// What each of `regions` holds, at the same index.
    pub(crate) region_kinds: Vec<RegionKind>,
    /// The regions as the last run was given them, duplicates included:
    /// a run given the same ones reuses `regions` as they are.
    given: Vec<(Span, RegionKind)>,
    /// Regions helpers registered during the run, by start address, with
    /// what they hold.
    pub(crate) registered: Registered,
    /// The region the last search found; [`NO_SPAN`]'s when there is none.
    last_hit: Cell<Hit>,
    pub(crate) packet: Option<Span>,
    pub(crate) headers: Option<HeaderSpans>,
}

/// [`crate::PacketHeaders`] without its lifetime, as stored during a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeaderSpans {
    pub(crate) bounds: Span,
    pub(crate) network: u64,
    pub(crate) mac: u64,
}

/// Classic BPF's `SKF_NET_OFF`: negative load offsets from here on are
/// relative to the network header.
const SKF_NET_OFF: i32 = -0x10_0000;
/// Classic BPF's `SKF_LL_OFF`: relative to the MAC header.
const SKF_LL_OFF: i32 = -0x20_0000;

impl Memory {
    pub(crate) fn new() -> Self {
        let mut stack =
            vec![0u64; (MAX_CALL_FRAMES as u64 * FRAME_STRIDE / 8) as usize].into_boxed_slice();
        let stack_base = stack.as_mut_ptr().expose_provenance() as u64;
        Memory {
            _stack: stack,
            stack_base,
            regions: Vec::with_capacity(16),
            region_kinds: Vec::with_capacity(16),
            given: Vec::with_capacity(16),
            registered: Registered::new(),
            last_hit: Cell::new(Hit::from(NO_SPAN)),
            packet: None,
            headers: None,
        }
    }

    /// Zeroes every frame's stack.
    pub(crate) fn clear_stacks(&mut self) {
        self._stack.fill(0);
    }

    /// `r10` of frame `depth`.
    #[inline(always)]
    pub(crate) fn frame_pointer(&self, depth: usize) -> u64 {
        self.stack_base + ((depth as u64) << FRAME_SHIFT) + STACK_SIZE
    }

    /// Host address of `addr..addr + size` if frames `0..=depth` or a region allow `access`.
    #[inline(always)]
    pub(crate) fn translate(
        &self,
        addr: u64,
        size: u64,
        access: Access,
        depth: usize,
    ) -> Option<usize> {
        if self.in_stack(addr, size, depth) {
            return Some(addr as usize);
        }
        self.translate_region(addr, size, access)
    }

    #[inline]
    fn translate_region(&self, addr: u64, size: u64, access: Access) -> Option<usize> {
        self.region_for(addr, size, access).map(|_| addr as usize)
    }

    /// The region that allows `access` to `addr..addr + size` (stacks not included).
    #[inline]
    pub(crate) fn region_for(&self, addr: u64, size: u64, access: Access) -> Option<Span> {
        let allowed = |s: &Span| s.contains(addr, size) && (access == Access::Load || s.writable);
        let s = self.last_hit.get().span();
        if allowed(&s) {
            return Some(s);
        }
        self.search_regions(addr, size, access).map(Hit::span)
    }

    /// The regions' search when the last region hit does not allow the
    /// access; out of line so that the hit above stays a few instructions.
    #[inline(never)]
    fn search_regions(&self, addr: u64, size: u64, access: Access) -> Option<Hit> {
        let allowed = |s: &Span| s.contains(addr, size) && (access == Access::Load || s.writable);
        let hit = match self.regions.iter().find(|s| allowed(s)) {
            Some(&hit) => hit,
            None => self
                .registered
                .at_or_below(addr)
                .take(REGISTERED_PROBES)
                .map(|(start, len, writable)| Span {
                    start,
                    len,
                    writable,
                })
                .find(allowed)?,
        };
        let hit = Hit::from(hit);
        self.last_hit.set(hit);
        Some(hit)
    }

    /// Whether `addr..addr + size` lies in the stack of one of frames `0..=depth`.
    #[inline(always)]
    pub(crate) fn in_stack(&self, addr: u64, size: u64, depth: usize) -> bool {
        let off = addr.wrapping_sub(self.stack_base);
        // `size` may come from a helper's argument: compare without adding to it.
        let within = off & (FRAME_STRIDE - 1);
        off < ((depth as u64 + 1) << FRAME_SHIFT)
            && within < STACK_SIZE
            && size <= STACK_SIZE - within
    }

    /// Address of frame 0's stack; frame `d`'s starts [`FRAME_STRIDE`] bytes per frame above.
    pub(crate) fn stack_base(&self) -> u64 {
        self.stack_base
    }

    /// Whether `addr..addr + size` is a store inside a region (given or
    /// registered) that programs may only read: why it faulted.
    #[cold]
    pub(crate) fn read_only(&self, addr: u64, size: u64, access: Access) -> bool {
        access == Access::Store
            && (self.regions.iter().any(|s| s.contains(addr, size))
                || self
                    .registered
                    .at_or_below(addr)
                    .take(REGISTERED_PROBES)
                    .any(|(start, len, _)| {
                        addr.wrapping_sub(start) < len && size <= len - addr.wrapping_sub(start)
                    }))
    }

    /// Adds a region the run was given, ignoring exact duplicates.
    pub(crate) fn add_given(&mut self, span: Span, kind: RegionKind) {
        if !self.regions.contains(&span) {
            self.regions.push(span);
            self.region_kinds.push(kind);
        }
    }

    /// Adds a region a helper registered, ignoring exact duplicates;
    /// `false` when [`MAX_REGIONS`] are already registered.
    #[inline]
    pub(crate) fn add(&mut self, span: Span, kind: RegionKind) -> bool {
        let key = (span.start, span.len, span.writable);
        // One tree walk in the common case: insert replaces a duplicate.
        if self.registered.len() < MAX_REGIONS {
            self.registered.insert(key, kind);
        } else if !self.registered.contains_key(&key) {
            return false;
        }
        // A program uses a value right after a helper hands it out (a map
        // lookup's result): prime the cache so that access skips the tree.
        self.last_hit.set(Hit::from(span));
        true
    }

    /// Forgets the regions helpers registered: they last as long as the
    /// run that registered them.
    #[inline]
    pub(crate) fn forget_registered(&mut self) {
        if !self.registered.is_empty() {
            self.registered.clear();
            // It may name a registered region.
            self.last_hit.set(Hit::from(NO_SPAN));
        }
    }

    /// Makes `given` the regions of the run that starts. A program run
    /// many times on the same packet, context and maps is given the same
    /// spans every time: then the table the last run built is kept as it
    /// is, and only a changed input rebuilds it. Spans kept between runs
    /// (given or registered) are only addresses: nothing reads them before
    /// the next run starts here, and it keeps only those it was given again
    /// (with their borrows).
    pub(crate) fn set_given(&mut self, regions: &[Region<'_>], extra: [Option<&Region<'_>>; 2]) {
        let kept = |(&(span, kind), region): (&(Span, RegionKind), &Region<'_>)| {
            span == region.span() && kind == region.kind()
        };
        // The slice and the extras apart: a chained iterator made this
        // comparison cost more than an empty program's run.
        let (head, tail) = self.given.split_at(regions.len().min(self.given.len()));
        let extras = extra.iter().flatten().count();
        if head.len() == regions.len()
            && tail.len() == extras
            && head.iter().zip(regions).all(kept)
            // By reference: moving the array into an iterator copied it
            // through the stack, which cost more than the comparison.
            && tail.iter().zip(extra.iter().flatten().copied()).all(kept)
        {
            return;
        }
        let given = || regions.iter().chain(extra.into_iter().flatten());
        self.given.clear();
        self.regions.clear();
        self.region_kinds.clear();
        self.last_hit.set(Hit::from(NO_SPAN));
        for region in given() {
            self.given.push((region.span(), region.kind()));
            self.add_given(region.span(), region.kind());
        }
    }

    /// Big-endian packet load for `LD_ABS`/`LD_IND`; `None` when out of
    /// bounds. Negative offsets name the network or MAC header as the
    /// kernel's `bpf_internal_load_pointer_neg_helper` does.
    pub(crate) fn packet_load(&self, off: i32, size: u8) -> Option<u64> {
        let size = u64::from(size);
        let (within, addr) = match u64::try_from(off) {
            Ok(off) => (self.packet?, self.packet?.start.wrapping_add(off)),
            Err(_) => {
                let headers = self.headers?;
                let base = if off >= SKF_NET_OFF {
                    headers.network.wrapping_add((off - SKF_NET_OFF) as u64)
                } else if off >= SKF_LL_OFF {
                    headers.mac.wrapping_add((off - SKF_LL_OFF) as u64)
                } else {
                    return None;
                };
                (headers.bounds, base)
            }
        };
        if !within.contains(addr, size) {
            return None;
        }
        let host = addr as usize;
        // SAFETY: `host..host + size` is inside the packet or header region,
        // which the run holds as accessible memory, checked above.
        let value = unsafe {
            match size {
                1 => u64::from(read_host::<u8>(host)),
                2 => u64::from(u16::from_be(read_host::<u16>(host))),
                _ => u64::from(u32::from_be(read_host::<u32>(host))),
            }
        };
        Some(value)
    }
}

/// Reads a `T` at `host`, unaligned.
///
/// # Safety
/// `host..host + size_of::<T>()` must lie in a region or stack frame checked
/// by [`Memory::translate`] (or otherwise valid for reads); `T` must be a
/// plain integer type.
#[inline(always)]
pub(crate) unsafe fn read_host<T: Copy>(host: usize) -> T {
    // SAFETY: the caller guarantees the bytes are valid for reads.
    unsafe { std::ptr::read_unaligned(std::ptr::with_exposed_provenance::<T>(host)) }
}

/// Writes a `T` at `host`, unaligned.
///
/// # Safety
/// `host..host + size_of::<T>()` must lie in a writable region or stack
/// frame checked by [`Memory::translate`]; `T` must be a plain integer type.
#[inline(always)]
pub(crate) unsafe fn write_host<T: Copy>(host: usize, value: T) {
    // SAFETY: the caller guarantees the bytes are valid for writes.
    unsafe { std::ptr::write_unaligned(std::ptr::with_exposed_provenance_mut::<T>(host), value) }
}

/// Borrows `len` bytes at `host`.
///
/// # Safety
/// `host..host + len` must lie in one checked region or frame, and stay
/// unmodified while the slice lives (no program runs while a helper holds it).
pub(crate) unsafe fn host_slice<'a>(host: usize, len: usize) -> &'a [u8] {
    // SAFETY: the caller guarantees validity for `len` bytes.
    unsafe { std::slice::from_raw_parts(std::ptr::with_exposed_provenance::<u8>(host), len) }
}

/// Copies `bytes` to `host`.
///
/// # Safety
/// `host..host + bytes.len()` must lie in one checked writable region or frame.
pub(crate) unsafe fn copy_to_host(host: usize, bytes: &[u8]) {
    // SAFETY: the caller guarantees validity; guest memory never overlaps a Rust slice argument
    // that the helper borrowed mutably.
    unsafe {
        std::ptr::copy(
            bytes.as_ptr(),
            std::ptr::with_exposed_provenance_mut::<u8>(host),
            bytes.len(),
        )
    }
}

/// Atomic read-modify-write at an aligned `host`; returns the old value
/// (zero-extended for 32-bit).
///
/// # Safety
/// `host` must be aligned to 4 (8 when `wide`) and inside a checked writable region or frame.
pub(crate) unsafe fn atomic_rmw(
    host: usize,
    wide: bool,
    rmw: Rmw,
    operand: u64,
    expected: u64,
) -> u64 {
    // Both widths run the same operations; the macro instantiates them per atomic type.
    macro_rules! rmw {
        ($atomic:ty, $operand:expr, $expected:expr) => {{
            let order = Ordering::SeqCst;
            // SAFETY: aligned and valid for the duration of the access, per the caller.
            let a = unsafe { <$atomic>::from_ptr(std::ptr::with_exposed_provenance_mut(host)) };
            match rmw {
                Rmw::Add => a.fetch_add($operand, order),
                Rmw::Or => a.fetch_or($operand, order),
                Rmw::And => a.fetch_and($operand, order),
                Rmw::Xor => a.fetch_xor($operand, order),
                Rmw::Xchg => a.swap($operand, order),
                Rmw::CmpXchg => a
                    .compare_exchange($expected, $operand, order, order)
                    .unwrap_or_else(|old| old),
            }
        }};
    }
    if wide {
        rmw!(AtomicU64, operand, expected)
    } else {
        u64::from(rmw!(AtomicU32, operand as u32, expected as u32))
    }
}

/// Load-acquire of `size` (1, 2, 4, 8) bytes at an aligned `host`, zero-extended.
///
/// # Safety
/// `host` must be aligned to `size` and inside a checked region or frame.
pub(crate) unsafe fn load_acquire(host: usize, size: u8) -> u64 {
    let o = Ordering::Acquire;
    // SAFETY: aligned and valid, per the caller.
    unsafe {
        match size {
            1 => u64::from(AtomicU8::from_ptr(std::ptr::with_exposed_provenance_mut(host)).load(o)),
            2 => {
                u64::from(AtomicU16::from_ptr(std::ptr::with_exposed_provenance_mut(host)).load(o))
            }
            4 => {
                u64::from(AtomicU32::from_ptr(std::ptr::with_exposed_provenance_mut(host)).load(o))
            }
            _ => AtomicU64::from_ptr(std::ptr::with_exposed_provenance_mut(host)).load(o),
        }
    }
}

/// Store-release of the low `size` (1, 2, 4, 8) bytes of `value` at an aligned `host`.
///
/// # Safety
/// `host` must be aligned to `size` and inside a checked writable region or frame.
pub(crate) unsafe fn store_release(host: usize, size: u8, value: u64) {
    let o = Ordering::Release;
    // SAFETY: aligned and valid, per the caller.
    unsafe {
        match size {
            1 => AtomicU8::from_ptr(std::ptr::with_exposed_provenance_mut(host))
                .store(value as u8, o),
            2 => AtomicU16::from_ptr(std::ptr::with_exposed_provenance_mut(host))
                .store(value as u16, o),
            4 => AtomicU32::from_ptr(std::ptr::with_exposed_provenance_mut(host))
                .store(value as u32, o),
            _ => AtomicU64::from_ptr(std::ptr::with_exposed_provenance_mut(host)).store(value, o),
        }
    }
}
