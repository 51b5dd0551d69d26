//! The random program generator.
//!
//! Programs have a fixed frame the verifier accepts: r9 keeps the context,
//! the data registers (r0, r2-r8) and eight stack slots are initialised, the
//! body is random, and the epilogue stores every data register into the
//! context so that the comparison sees all of them. Jumps only go forward to
//! the start of a body item (an instruction, a whole counted loop, whose
//! counter is r1, or a whole helper call), so every program terminates and
//! the verifier can prove it. Helper calls look up, update and delete
//! elements of the case's maps (an array and a hash, see
//! [`crate::backend::MAPS`]) with the null check the verifier demands and
//! loads, stores and atomics through the value pointer.

use apiary_isa::{
    AluOp, AtomicOp, CallTarget, EndianOp, Insn, JmpCond, LdImm64Kind, Reg, Size, Source, Width,
};

use crate::backend::{Entries, KEY_SIZE, MAPS, MapKind, VALUE_SIZE};
use crate::program::{Node, Program};
use crate::rng::Rng;

/// Registers holding data.
pub const DATA: [Reg; 8] = [
    Reg::R0,
    Reg::R2,
    Reg::R3,
    Reg::R4,
    Reg::R5,
    Reg::R6,
    Reg::R7,
    Reg::R8,
];
/// Keeps the context pointer.
pub(crate) const CTX: Reg = Reg::R9;
/// Counts loop iterations.
pub(crate) const COUNTER: Reg = Reg::R1;
/// Initialised 8-byte stack slots below r10 that random instructions use.
pub(crate) const STACK_SLOTS: usize = 8;
/// The map key helper calls pass (a `u32`, in an 8-byte slot of its own).
pub(crate) const KEY_SLOT: i16 = -72;
/// The 16-byte value `map_update_elem` passes (two 8-byte slots).
pub(crate) const VALUE_SLOT: i16 = -96;
/// Slots the prologue initialises for helper calls: the key, the value's two halves.
const HELPER_SLOTS: [i16; 3] = [KEY_SLOT, VALUE_SLOT, VALUE_SLOT + 8];
/// Instructions of the prologue (context kept, registers and stack
/// initialised): shrinking keeps them so that reduced programs never read
/// uninitialised stack, whose contents differ between the backends.
pub const PROLOGUE_LEN: usize = 1 + DATA.len() + STACK_SLOTS + HELPER_SLOTS.len();
/// Registers a helper call leaves uninitialised that hold data.
pub(crate) const CLOBBERED: [Reg; 4] = [Reg::R2, Reg::R3, Reg::R4, Reg::R5];
/// Data registers a helper call preserves.
pub(crate) const PRESERVED: [Reg; 3] = [Reg::R6, Reg::R7, Reg::R8];
/// Helper ids.
pub(crate) const MAP_LOOKUP_ELEM: i32 = 1;
const MAP_UPDATE_ELEM: i32 = 2;
const MAP_DELETE_ELEM: i32 = 3;
/// Random input bytes at the start of the context.
pub const CTX_INPUT_LEN: usize = 64;
/// The context: the input, then one 8-byte slot per data register.
pub const CTX_LEN: usize = CTX_INPUT_LEN + DATA.len() * 8;

/// A generated test: the program, the context and the map entries it starts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The program.
    pub program: Program,
    /// The initial context bytes (length [`CTX_LEN`] for generated cases).
    pub ctx: Vec<u8>,
    /// The initial entries of each map of [`MAPS`], sorted by key.
    pub maps: Vec<Entries>,
}

/// Keys programs use are below this, so lookups both hit and miss.
pub const KEY_RANGE: u32 = 6;

/// Initial map entries: every array slot, and a random subset of keys
/// (the map full now and then) for a hash. A stream of its own, so that
/// programs stay what they were for a seed.
pub(crate) fn initial_maps(seed: u64) -> Vec<Entries> {
    let mut rng = Rng::new(seed ^ 0x6d61_7073);
    MAPS.iter()
        .map(|shape| {
            let keys: Vec<u32> = match shape.kind {
                MapKind::Array => (0..shape.max_entries).collect(),
                MapKind::Hash => (0..KEY_RANGE)
                    .filter(|_| rng.coin())
                    .take(shape.max_entries as usize)
                    .collect(),
            };
            keys.into_iter()
                .map(|key| {
                    let mut map_value = Vec::with_capacity(VALUE_SIZE as usize);
                    while map_value.len() < VALUE_SIZE as usize {
                        map_value.extend_from_slice(&value(&mut rng).to_le_bytes());
                    }
                    map_value.truncate(VALUE_SIZE as usize);
                    (key.to_ne_bytes()[..KEY_SIZE as usize].to_vec(), map_value)
                })
                .collect()
        })
        .collect()
}

/// The program type generated programs are written for: what their
/// context is and how they hand their registers out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    /// `syscall`: the context is [`CTX_LEN`] bytes of writable memory.
    Syscall,
    /// `xdp`: the context is `struct xdp_md`, read-only, and the body also
    /// checks and accesses the packet (see `generate_xdp`).
    Xdp,
}

/// Generates the test for `seed`.
pub fn generate(seed: u64) -> Case {
    let mut nodes = generate_body(seed, Flavour::Syscall);
    for (i, reg) in DATA.into_iter().enumerate() {
        nodes.push(Node::plain(Insn::Store {
            size: Size::DW,
            dst: CTX,
            off: (CTX_INPUT_LEN + 8 * i) as i16,
            src: Source::Reg(reg),
        }));
    }
    nodes.push(Node::plain(Insn::Exit));
    let mut rng = Rng::new(seed);
    let mut ctx = vec![0u8; CTX_LEN];
    for chunk in ctx.chunks_mut(8) {
        let bytes = value(&mut rng).to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    Case {
        program: Program::new(nodes),
        ctx,
        maps: initial_maps(seed),
    }
}

/// The prologue and the random body for `seed`, without an epilogue.
pub(crate) fn generate_body(seed: u64, flavour: Flavour) -> Vec<Node> {
    let mut rng = Rng::new(seed);
    // The context's bytes come first from the stream (see `generate`), so
    // the programs stay what they were for a seed.
    for _ in 0..CTX_LEN.div_ceil(8) {
        value(&mut rng);
    }
    let mut nodes = vec![Node::plain(Insn::mov64(CTX, Source::Reg(Reg::R1)))];
    for reg in DATA {
        nodes.push(Node::plain(Insn::LoadImm64 {
            dst: reg,
            kind: LdImm64Kind::Imm,
            imm: value(&mut rng),
        }));
    }
    for slot in 1..=STACK_SLOTS {
        nodes.push(Node::plain(Insn::Store {
            size: Size::DW,
            dst: Reg::R10,
            off: -8 * slot as i16,
            src: Source::Reg(rng.pick(&DATA)),
        }));
    }
    for off in HELPER_SLOTS {
        nodes.push(Node::plain(Insn::Store {
            size: Size::DW,
            dst: Reg::R10,
            off,
            src: Source::Reg(rng.pick(&DATA)),
        }));
    }
    let items = 4 + rng.below(60);
    // Items are laid out first; forward jumps name an item (or the epilogue)
    // and are resolved to instruction indexes once every item's start is known.
    let mut laid_out: Vec<Vec<Node>> = Vec::with_capacity(items);
    let mut jump_items: Vec<(usize, usize)> = Vec::new();
    for item in 0..items {
        let remaining = items - item;
        let choices = match flavour {
            Flavour::Syscall => 24,
            Flavour::Xdp => 24 + crate::generate_xdp::EXTRA_ITEMS,
        };
        match rng.below(choices) {
            0 => laid_out.push(counted_loop(&mut rng, flavour)),
            4..=6 => laid_out.push(helper_call(&mut rng, flavour)),
            24.. => laid_out.push(crate::generate_xdp::item(&mut rng)),
            1..=3 => {
                let jump = forward_jump(&mut rng);
                // An unconditional jump over an item would leave it
                // unreachable, which the verifier refuses.
                let skip = match jump {
                    Insn::Ja { .. } | Insn::Ja32 { .. } => 0,
                    _ => rng.below(remaining.min(6)),
                };
                jump_items.push((item, item + 1 + skip));
                laid_out.push(vec![Node::plain(jump)]);
            }
            _ => laid_out.push(vec![Node::plain(straight_insn(&mut rng, flavour))]),
        }
    }
    let body_start = nodes.len();
    let mut starts = Vec::with_capacity(items + 1);
    let mut next = body_start;
    for item in &laid_out {
        starts.push(next);
        next += item.len();
    }
    starts.push(next);
    for (item, &start) in laid_out.iter_mut().zip(&starts) {
        for node in item.iter_mut() {
            // Branches inside an item name their target relative to its start.
            node.target = node.target.map(|relative| start + relative);
        }
    }
    for (item, target_item) in jump_items {
        if let (Some(node), Some(&target)) = (
            laid_out.get_mut(item).and_then(|nodes| nodes.first_mut()),
            starts.get(target_item),
        ) {
            node.target = Some(target);
        }
    }
    nodes.extend(laid_out.into_iter().flatten());
    nodes
}

/// Interesting 64-bit values: edges of the signed and unsigned ranges, small and random numbers.
pub(crate) fn value(rng: &mut Rng) -> u64 {
    match rng.below(10) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => 1 << 63,
        4 => 0xffff_ffff,
        5 => 0x8000_0000,
        6 => rng.next_u64() & 0xff,
        7 => (rng.next_u64() as i8) as u64,
        _ => rng.next_u64(),
    }
}

pub(crate) fn imm(rng: &mut Rng) -> i32 {
    match rng.below(6) {
        0 => -1,
        1 => i32::MIN,
        2 => 1,
        3 => rng.below(64) as i32,
        _ => rng.next_u64() as i32,
    }
}

fn width(rng: &mut Rng) -> Width {
    if rng.coin() { Width::W32 } else { Width::W64 }
}

fn source(rng: &mut Rng) -> Source {
    if rng.coin() {
        Source::Reg(rng.pick(&DATA))
    } else {
        Source::Imm(imm(rng))
    }
}

fn alu(rng: &mut Rng) -> Insn {
    let width = width(rng);
    let op = rng.pick(&AluOp::ALL);
    let src = match (op, source(rng)) {
        // The verifier refuses immediate shifts outside the width and division by an immediate 0.
        (AluOp::Lsh | AluOp::Rsh | AluOp::Arsh, Source::Imm(_)) => {
            Source::Imm(rng.below(if width == Width::W32 { 32 } else { 64 }) as i32)
        }
        (AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod, Source::Imm(0)) => Source::Imm(3),
        (_, src) => src,
    };
    Insn::Alu {
        width,
        op,
        dst: rng.pick(&DATA),
        src,
    }
}

/// An offset into the initialised stack, aligned to `size`.
fn stack_off(rng: &mut Rng, size: Size) -> i16 {
    let slot = -8 * (1 + rng.below(STACK_SLOTS) as i16);
    let per_slot = 8 / size.bytes();
    slot + (rng.below(per_slot) * size.bytes()) as i16
}

/// An offset into the context, aligned to `size` as the verifier demands.
fn ctx_off(rng: &mut Rng, size: Size) -> i16 {
    (rng.below(CTX_LEN / size.bytes()) * size.bytes()) as i16
}

fn load(rng: &mut Rng, base: Reg) -> Insn {
    let size = rng.pick(&Size::ALL);
    let off = if base == CTX {
        ctx_off(rng, size)
    } else {
        stack_off(rng, size)
    };
    Insn::Load {
        size,
        // There is no sign-extending 8-byte load.
        sign_extend: size != Size::DW && rng.coin(),
        dst: rng.pick(&DATA),
        src: base,
        off,
    }
}

fn atomic_op(rng: &mut Rng) -> AtomicOp {
    let fetch = rng.coin();
    rng.pick(&[
        AtomicOp::Add { fetch },
        AtomicOp::Or { fetch },
        AtomicOp::And { fetch },
        AtomicOp::Xor { fetch },
        AtomicOp::Xchg,
        AtomicOp::CmpXchg,
    ])
}

fn atomic(rng: &mut Rng) -> Insn {
    let op = atomic_op(rng);
    let size = rng.pick(&[Size::W, Size::DW]);
    Insn::Atomic {
        size,
        op,
        dst: Reg::R10,
        src: rng.pick(&DATA),
        off: stack_off(rng, size),
    }
}

/// Any instruction that does not branch.
fn straight_insn(rng: &mut Rng, flavour: Flavour) -> Insn {
    match rng.below(20) {
        0 => Insn::Neg {
            width: width(rng),
            dst: rng.pick(&DATA),
        },
        1 => Insn::Endian {
            op: rng.pick(&[EndianOp::ToLe, EndianOp::ToBe, EndianOp::Swap]),
            bits: rng.pick(&[16, 32, 64]),
            dst: rng.pick(&DATA),
        },
        2 => {
            let width = width(rng);
            let from = if width == Width::W32 {
                rng.pick(&[Size::B, Size::H])
            } else {
                rng.pick(&[Size::B, Size::H, Size::W])
            };
            Insn::MovSx {
                width,
                dst: rng.pick(&DATA),
                src: rng.pick(&DATA),
                from,
            }
        }
        3 => stack_store(rng),
        // An xdp context is read-only.
        4 if flavour == Flavour::Xdp => stack_store(rng),
        4 => {
            // The verifier refuses BPF_ST (immediate) stores into the context.
            let size = rng.pick(&Size::ALL);
            Insn::Store {
                size,
                dst: CTX,
                off: ctx_off(rng, size),
                src: Source::Reg(rng.pick(&DATA)),
            }
        }
        5 => load(rng, Reg::R10),
        6 if flavour == Flavour::Xdp => Insn::Load {
            size: Size::W,
            sign_extend: false,
            dst: rng.pick(&DATA),
            src: CTX,
            off: xdp_scalar_field(rng),
        },
        6 => load(rng, CTX),
        7 | 8 => atomic(rng),
        9 => Insn::LoadImm64 {
            dst: rng.pick(&DATA),
            kind: LdImm64Kind::Imm,
            imm: value(rng),
        },
        _ => alu(rng),
    }
}

fn stack_store(rng: &mut Rng) -> Insn {
    let size = rng.pick(&Size::ALL);
    Insn::Store {
        size,
        dst: Reg::R10,
        off: stack_off(rng, size),
        src: source(rng),
    }
}

/// `ingress_ifindex` or `rx_queue_index`: the fields of `struct xdp_md`
/// that hold numbers and that every xdp program may read (whole).
fn xdp_scalar_field(rng: &mut Rng) -> i16 {
    rng.pick(&[12, 16])
}

/// A forward branch; its target is filled in by the caller.
fn forward_jump(rng: &mut Rng) -> Insn {
    match rng.below(10) {
        0 => Insn::Ja { off: 0 },
        1 => Insn::Ja32 { imm: 0 },
        2 => Insn::MayGoto { off: 0 },
        _ => Insn::Jump {
            width: width(rng),
            cond: rng.pick(&JmpCond::ALL),
            dst: rng.pick(&DATA),
            src: source(rng),
            off: 0,
        },
    }
}

/// `r1 = N; body; r1 -= 1; if r1 != 0 goto body`: a loop the verifier walks N times.
fn counted_loop(rng: &mut Rng, flavour: Flavour) -> Vec<Node> {
    let iterations = 1 + rng.below(6) as i32;
    let body_len = 1 + rng.below(5);
    let mut nodes = vec![Node::plain(Insn::mov64(COUNTER, Source::Imm(iterations)))];
    for _ in 0..body_len {
        nodes.push(Node::plain(straight_insn(rng, flavour)));
    }
    nodes.push(Node::plain(Insn::Alu {
        width: Width::W64,
        op: AluOp::Sub,
        dst: COUNTER,
        src: Source::Imm(1),
    }));
    // Back to the instruction after the counter's initialisation (relative
    // to the loop's start; the caller makes it absolute).
    nodes.push(loop_back(1));
    nodes
}

/// `if r1 != 0 goto target`: a loop's back edge on its counter.
pub(crate) fn loop_back(target: usize) -> Node {
    Node {
        insn: Insn::Jump {
            width: Width::W64,
            cond: JmpCond::Ne,
            dst: COUNTER,
            src: Source::Imm(0),
            off: 0,
        },
        target: Some(target),
    }
}

/// `*(u32 *)(r10 + KEY_SLOT) = key`. Array keys come from context bytes
/// the verifier cannot know (masked to `0..8`, so lookups hit and miss):
/// Linux 6.18 elides the null check of an array lookup whose key it takes
/// for a constant, and a pruned path with another key then dereferences
/// NULL inside the kernel (an oops seen on this machine). Hash keys may
/// also be immediates or masked data registers.
fn store_key(rng: &mut Rng, kind: MapKind, flavour: Flavour, nodes: &mut Vec<Node>) {
    let masked = |nodes: &mut Vec<Node>, load: Insn| {
        nodes.push(Node::plain(load));
        nodes.push(Node::plain(Insn::Alu {
            width: Width::W64,
            op: AluOp::And,
            dst: COUNTER,
            src: Source::Imm(7),
        }));
        nodes.push(key_store(Source::Reg(COUNTER)));
    };
    let from_ctx = Insn::Load {
        size: if flavour == Flavour::Xdp {
            Size::W
        } else {
            Size::B
        },
        sign_extend: false,
        dst: COUNTER,
        src: CTX,
        off: match flavour {
            Flavour::Syscall => rng.below(CTX_INPUT_LEN) as i16,
            Flavour::Xdp => xdp_scalar_field(rng),
        },
    };
    match (kind, rng.below(3)) {
        (MapKind::Array, _) | (MapKind::Hash, 0) => masked(nodes, from_ctx),
        (MapKind::Hash, 1) => masked(nodes, Insn::mov64(COUNTER, Source::Reg(rng.pick(&DATA)))),
        (MapKind::Hash, _) => nodes.push(key_store(Source::Imm(if rng.below(8) == 0 {
            imm(rng)
        } else {
            rng.below(KEY_RANGE as usize) as i32
        }))),
    }
}

/// `if r0 == 0 goto target` (a node index relative to the item's start).
pub(crate) fn if_null_goto(target: usize) -> Node {
    Node {
        insn: Insn::Jump {
            width: Width::W64,
            cond: JmpCond::Eq,
            dst: Reg::R0,
            src: Source::Imm(0),
            off: 0,
        },
        target: Some(target),
    }
}

/// `*(u32 *)(r10 + KEY_SLOT) = src`.
pub(crate) fn key_store(src: Source) -> Node {
    Node::plain(Insn::Store {
        size: Size::W,
        dst: Reg::R10,
        off: KEY_SLOT,
        src,
    })
}

/// `reg = r10 + off`.
pub(crate) fn stack_pointer(reg: Reg, off: i16) -> [Node; 2] {
    [
        Node::plain(Insn::mov64(reg, Source::Reg(Reg::R10))),
        Node::plain(Insn::Alu {
            width: Width::W64,
            op: AluOp::Add,
            dst: reg,
            src: Source::Imm(off.into()),
        }),
    ]
}

/// An access through the map value pointer in r1 (aligned, inside the value).
fn value_access(rng: &mut Rng) -> Insn {
    let size = rng.pick(&Size::ALL);
    let off = (rng.below(VALUE_SIZE as usize / size.bytes()) * size.bytes()) as i16;
    match rng.below(4) {
        0 => Insn::Load {
            size,
            sign_extend: size != Size::DW && rng.coin(),
            dst: rng.pick(&PRESERVED),
            src: Reg::R1,
            off,
        },
        1 => Insn::Store {
            size,
            dst: Reg::R1,
            off,
            src: if rng.coin() {
                Source::Reg(rng.pick(&PRESERVED))
            } else {
                Source::Imm(imm(rng))
            },
        },
        _ => {
            let size = rng.pick(&[Size::W, Size::DW]);
            Insn::Atomic {
                size,
                op: atomic_op(rng),
                dst: Reg::R1,
                src: rng.pick(&PRESERVED),
                off: (rng.below(VALUE_SIZE as usize / size.bytes()) * size.bytes()) as i16,
            }
        }
    }
}

/// A call of map_lookup_elem, map_update_elem or map_delete_elem on one of
/// the maps, with the null check the verifier demands and accesses through
/// the value pointer; afterwards r0 holds a number and the registers the
/// call clobbered hold new values. Branch targets are relative to the
/// block's start.
fn helper_call(rng: &mut Rng, flavour: Flavour) -> Vec<Node> {
    let mut nodes = Vec::new();
    let map = rng.below(MAPS.len());
    let kind = MAPS.get(map).map_or(MapKind::Hash, |shape| shape.kind);
    store_key(rng, kind, flavour, &mut nodes);
    let helper = rng.pick(&[
        MAP_LOOKUP_ELEM,
        MAP_LOOKUP_ELEM,
        MAP_UPDATE_ELEM,
        MAP_DELETE_ELEM,
    ]);
    if helper == MAP_UPDATE_ELEM {
        for off in [VALUE_SLOT, VALUE_SLOT + 8] {
            nodes.push(Node::plain(Insn::Store {
                size: Size::DW,
                dst: Reg::R10,
                off,
                src: Source::Reg(rng.pick(&DATA)),
            }));
        }
    }
    nodes.push(Node::plain(Insn::LoadImm64 {
        dst: Reg::R1,
        kind: LdImm64Kind::MapIdx,
        imm: map as u64,
    }));
    nodes.extend(stack_pointer(Reg::R2, KEY_SLOT));
    if helper == MAP_UPDATE_ELEM {
        nodes.extend(stack_pointer(Reg::R3, VALUE_SLOT));
        // BPF_ANY, BPF_NOEXIST, BPF_EXIST, and now and then BPF_F_LOCK (EINVAL here).
        let flags = if rng.below(10) == 0 {
            4
        } else {
            rng.below(3) as i32
        };
        nodes.push(Node::plain(Insn::mov64(Reg::R4, Source::Imm(flags))));
    }
    nodes.push(Node::plain(Insn::Call(CallTarget::Helper(helper))));
    if helper == MAP_LOOKUP_ELEM {
        let accesses: Vec<Insn> = (0..1 + rng.below(4)).map(|_| value_access(rng)).collect();
        // if r0 == 0 goto null; r1 = r0; r0 = number; accesses; [r0 = loaded]; goto done
        let null_check = nodes.len();
        let null_branch = null_check + 3 + accesses.len() + 2;
        nodes.push(if_null_goto(null_branch));
        nodes.push(Node::plain(Insn::mov64(Reg::R1, Source::Reg(Reg::R0))));
        nodes.push(Node::plain(Insn::mov64(
            Reg::R0,
            Source::Reg(rng.pick(&PRESERVED)),
        )));
        nodes.extend(accesses.into_iter().map(Node::plain));
        nodes.push(Node::plain(Insn::Load {
            size: Size::DW,
            sign_extend: false,
            dst: Reg::R0,
            src: Reg::R1,
            off: (rng.below(2) * 8) as i16,
        }));
        nodes.push(Node {
            insn: Insn::Ja { off: 0 },
            target: Some(null_branch + 1),
        });
        nodes.push(Node::plain(Insn::mov64(Reg::R0, Source::Imm(imm(rng)))));
    }
    for reg in CLOBBERED {
        nodes.push(Node::plain(Insn::LoadImm64 {
            dst: reg,
            kind: LdImm64Kind::Imm,
            imm: value(rng),
        }));
    }
    nodes
}
