//! Naming the memory a faulting access aimed at: which region (packet,
//! context, map value, stack frame) and where in it, instead of a host
//! address. Only the error path runs this code; the checks of every access
//! stay in `memory.rs`.

use std::fmt;

use crate::memory::{FRAME_SHIFT, FRAME_STRIDE, MAX_CALL_FRAMES, Memory, STACK_SIZE, Span};

/// What a [`crate::Region`] holds, given by the embedder so that faults
/// can name it. The kind costs nothing on the access path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegionKind {
    /// Memory of no particular kind (the default).
    #[default]
    Memory,
    /// The program's context (`r1` at entry).
    Context,
    /// The packet itself, `data..data_end`.
    Packet,
    /// A buffer the packet lies in, with its head- and tailroom; an
    /// embedder that knows where the packet starts resolves faults in it
    /// to [`FaultLocation::Packet`]. Giving one also vouches that the
    /// context's packet pointers (`data_meta`, `data`, `data_end`, as the
    /// program loads them) lie inside it, in order, throughout the run:
    /// a compiled tier drops the checks of packet accesses the verifier
    /// proved only in such runs.
    PacketBuffer,
    /// A value of the embedder's map with this id; the embedder fills in
    /// the map's name ([`FaultLocation::MapValue`]).
    MapValue(u32),
}

/// Where a faulting access aimed, relative to the region it was meant for:
/// the region its base register pointed into, else the nearest region
/// within [`NEAR_REGION`] bytes of the address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultLocation {
    /// A frame's stack, relative to that frame's `r10` (a frame's stack is
    /// `r10-512..r10`).
    Stack {
        /// Call frame: 0 is the program's own, 1 its first callee, ...
        frame: usize,
        /// Offset from the frame's `r10`.
        offset: i64,
        /// Whether the frame was active (a caller's or the running one).
        active: bool,
    },
    /// The context.
    Context {
        /// The context's struct (`__sk_buff`, `xdp_md`), when the embedder
        /// named it.
        type_name: Option<&'static str>,
        /// Offset from the context's start.
        offset: i64,
        /// The context's size.
        len: u64,
    },
    /// The packet, relative to its first byte (`data`).
    Packet {
        /// Offset from `data`.
        offset: i64,
        /// The packet's length (`data_end - data`).
        len: u64,
    },
    /// A packet buffer whose packet the embedder did not locate.
    PacketBuffer {
        /// Offset from the buffer's start.
        offset: i64,
        /// The buffer's length.
        len: u64,
    },
    /// A map value.
    MapValue {
        /// The embedder's map id.
        map: u32,
        /// The map's name, when the embedder filled it in.
        name: Option<String>,
        /// Offset from the value's start.
        offset: i64,
        /// The value's size.
        value_size: u64,
    },
    /// A region of no particular kind.
    Memory {
        /// Offset from the region's start.
        offset: i64,
        /// The region's length.
        len: u64,
    },
    /// No region is near: the value is not a pointer the program may use.
    Nowhere {
        /// The address (not one of the program's regions, so it reveals
        /// nothing about the host).
        addr: u64,
    },
}

/// How far outside a region an access may land and still be named
/// relative to it: past a small packet by a few kilobytes, a value by
/// its neighbour's size.
pub const NEAR_REGION: u64 = 64 * 1024;

impl fmt::Display for FaultLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultLocation::Stack {
                frame,
                offset,
                active,
            } => {
                write!(f, "stack frame {frame} r10{offset:+}")?;
                if !active {
                    write!(f, " (frame {frame} is not running)")
                } else if *offset >= 0 || offset.unsigned_abs() > STACK_SIZE {
                    write!(f, " (a frame's stack is r10-{STACK_SIZE}..r10)")
                } else {
                    Ok(())
                }
            }
            FaultLocation::Context {
                type_name,
                offset,
                len,
            } => {
                match type_name {
                    Some(name) => write!(f, "context {name}{offset:+}")?,
                    None => write!(f, "ctx{offset:+}")?,
                }
                write!(f, " (the context is {len} bytes)")
            }
            FaultLocation::Packet { offset, len } => {
                write!(f, "packet{offset:+} (the packet is {len} bytes)")
            }
            FaultLocation::PacketBuffer { offset, len } => {
                write!(f, "packet buffer{offset:+} (the buffer is {len} bytes)")
            }
            FaultLocation::MapValue {
                map,
                name,
                offset,
                value_size,
            } => {
                match name {
                    Some(name) => write!(f, "map value {name:?}{offset:+}")?,
                    None => write!(f, "a value of map #{map}{offset:+}")?,
                }
                write!(f, " (value size {value_size})")
            }
            FaultLocation::Memory { offset, len } => {
                write!(f, "memory{offset:+} (the region is {len} bytes)")
            }
            FaultLocation::Nowhere { addr } => {
                write!(f, "{addr:#x}, not a pointer the program may use")
            }
        }
    }
}

/// Signed distance `addr - start`, saturating.
fn offset(addr: u64, start: u64) -> i64 {
    let distance = addr.wrapping_sub(start) as i64;
    if (addr >= start) == (distance >= 0) {
        distance
    } else if addr >= start {
        i64::MAX
    } else {
        i64::MIN
    }
}

fn region_location((span, kind): &(Span, RegionKind), addr: u64) -> FaultLocation {
    let offset = offset(addr, span.start);
    let len = span.len;
    match *kind {
        RegionKind::Memory => FaultLocation::Memory { offset, len },
        RegionKind::Context => FaultLocation::Context {
            type_name: None,
            offset,
            len,
        },
        RegionKind::Packet => FaultLocation::Packet { offset, len },
        RegionKind::PacketBuffer => FaultLocation::PacketBuffer { offset, len },
        RegionKind::MapValue(map) => FaultLocation::MapValue {
            map,
            name: None,
            offset,
            value_size: len,
        },
    }
}

/// The frame whose stack `addr` is nearest, when it lies in the stacks'
/// area (their 512 bytes each and the gaps between them).
fn stack_frame(memory: &Memory, addr: u64) -> Option<usize> {
    let below = memory.stack_base.wrapping_sub(STACK_SIZE);
    let from = addr.wrapping_sub(below);
    if from >= MAX_CALL_FRAMES as u64 * FRAME_STRIDE + STACK_SIZE {
        return None;
    }
    // Frame f's stack is centred 768 bytes above `below` plus f strides;
    // the nearest centre wins.
    let frame = (from.saturating_sub(STACK_SIZE / 2) >> FRAME_SHIFT) as usize;
    Some(frame.min(MAX_CALL_FRAMES - 1))
}

fn stack_location(memory: &Memory, frame: usize, addr: u64, depth: usize) -> FaultLocation {
    FaultLocation::Stack {
        frame,
        offset: offset(addr, memory.frame_pointer(frame)),
        active: frame <= depth,
    }
}

impl Memory {
    /// Every region a run may use, given and registered, with its kind.
    fn spans(&self) -> impl Iterator<Item = (Span, RegionKind)> + '_ {
        self.regions
            .iter()
            .copied()
            .zip(self.region_kinds.iter().copied())
            .chain(
                self.registered
                    .iter()
                    .map(|((start, len, writable), kind)| {
                        (
                            Span {
                                start,
                                len,
                                writable,
                            },
                            kind,
                        )
                    }),
            )
    }

    /// Names where an access at `addr` that faulted was aimed. `base` is
    /// the register the address was computed from (`None` for a pointer a
    /// helper was given, whose origin is not known): the region it points
    /// into (or just past, as `data_end` does) is the one meant, whatever
    /// the offset. Otherwise the region nearest to `addr`, within [`NEAR_REGION`].
    #[cold]
    pub(crate) fn locate(&self, addr: u64, base: Option<u64>, depth: usize) -> FaultLocation {
        if let Some(frame) = base.and_then(|base| stack_frame(self, base)) {
            return stack_location(self, frame, addr, depth);
        }
        let base = base.unwrap_or(addr);
        let containing = self
            .spans()
            .filter(|(s, _)| s.contains(base, 0) || base.wrapping_sub(s.start) == s.len)
            .min_by_key(|(s, _)| (!s.contains(base, 1), s.len));
        if let Some(region) = containing {
            return region_location(&region, addr);
        }
        // Without a base inside the stacks, only a running frame's stack
        // can be what the address was aimed at: no pointer to a frame that
        // is not running exists, and its memory may lie next to unrelated
        // regions the heap put there.
        if let Some(frame) = stack_frame(self, addr).filter(|&frame| frame <= depth) {
            return stack_location(self, frame, addr, depth);
        }
        let distance = |s: &Span| {
            if addr < s.start {
                s.start - addr
            } else {
                (addr - s.start).saturating_sub(s.len)
            }
        };
        self.spans()
            .filter(|(s, _)| distance(s) <= NEAR_REGION)
            .min_by_key(|(s, _)| (distance(s), s.len))
            .map_or(FaultLocation::Nowhere { addr }, |s| {
                region_location(&s, addr)
            })
    }
}
