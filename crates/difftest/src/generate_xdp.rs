//! Random xdp programs: the generator's body (see `generate`) with a
//! read-only `struct xdp_md` context, plus items that prove packet
//! accesses by comparisons with `data_end` (or `data_meta` with `data`)
//! of every shape the verifier understands, at constant and at
//! mask-bounded variable offsets, and the helpers that move the packet's
//! bounds (`bpf_xdp_adjust_head`/`_tail`/`_meta`). The epilogue stores
//! every data register into the value of an output array map, so a
//! comparison of the maps sees them whole (test-run reports only r0's
//! low 32 bits). Packets and `xdp_md` inputs to run them on come from
//! [`xdp_input`].

use apiary_isa::{AluOp, CallTarget, Insn, JmpCond, LdImm64Kind, Reg, Size, Source, Width};

use crate::backend::{Entries, KEY_SIZE, MAPS};
use crate::generate::{
    CLOBBERED, COUNTER, CTX, DATA, Flavour, KEY_SLOT, MAP_LOOKUP_ELEM, PRESERVED, generate_body,
    if_null_goto, imm, initial_maps, key_store, stack_pointer, value,
};
use crate::program::{Node, Program};
use crate::rng::Rng;

/// Body items beyond the syscall generator's: packet checks and accesses, xdp helpers.
pub(crate) const EXTRA_ITEMS: usize = 8;
/// `struct xdp_md` offsets (UAPI).
const XDP_DATA: i16 = 0;
const XDP_DATA_END: i16 = 4;
const XDP_DATA_META: i16 = 8;
/// `sizeof(struct xdp_md)`.
pub const XDP_MD_LEN: usize = 24;
/// Index (in `BPF_PSEUDO_MAP_IDX` terms) of the output array map: after [`MAPS`].
pub const XDP_OUT_MAP: usize = MAPS.len();
/// Its value: the eight data registers.
pub const XDP_OUT_VALUE_SIZE: u32 = 8 * DATA.len() as u32;
/// `bpf_xdp_adjust_head`, `bpf_xdp_adjust_meta`, `bpf_xdp_adjust_tail`.
const XDP_ADJUST: [(i32, &[i32]); 3] = [
    (44, &[-14, -8, -4, 0, 4, 8, 14, 64, -256, 256]),
    (54, &[-4, -8, -32, 4, 8, 0]),
    (65, &[-1, -4, -14, -100, 0, 4, 64, 5000]),
];

/// An xdp test: the program and the initial entries of [`MAPS`] and the
/// output map (zeroed), in that order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpCase {
    /// The program.
    pub program: Program,
    /// Initial entries of each map, the output map last.
    pub maps: Vec<Entries>,
}

/// What one run of an xdp program is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpInput {
    /// The packet (`data_in`), at least an Ethernet header long.
    pub packet: Vec<u8>,
    /// A `struct xdp_md` (`ctx_in`) with a metadata length, a shorter
    /// `data_end` and an ingress queue, or none (test-run's defaults).
    pub ctx: Option<Vec<u8>>,
    /// Instructions the run may execute (`None`: no limit).
    pub budget: Option<u64>,
}

/// Generates the xdp test for `seed`.
pub fn generate_xdp(seed: u64) -> XdpCase {
    let mut nodes = generate_body(seed, Flavour::Xdp);
    let start = nodes.len();
    nodes.extend(epilogue().into_iter().map(|node| Node {
        target: node.target.map(|relative| start + relative),
        ..node
    }));
    let mut maps = initial_maps(seed);
    maps.push(vec![(
        0u32.to_ne_bytes()[..KEY_SIZE as usize].to_vec(),
        vec![0; XDP_OUT_VALUE_SIZE as usize],
    )]);
    XdpCase {
        program: Program::new(nodes),
        maps,
    }
}

/// A packet and `xdp_md` from `rng`: lengths around the offsets programs
/// check (short, header-sized, an MTU), random bytes; now and then a
/// context with metadata (which `data_meta` checks need) or a `data_end`
/// short of the packet's end; budgets small enough to run out now and then.
pub fn xdp_input(rng: &mut Rng) -> XdpInput {
    let len = match rng.below(6) {
        0 => 14 + rng.below(8),
        1 => 14 + rng.below(64),
        2 => 54 + rng.below(16),
        3 => 1500,
        _ => 14 + rng.below(256),
    };
    let packet = (0..len).map(|_| rng.next_u64() as u8).collect();
    let ctx = (rng.below(3) == 0).then(|| {
        let meta = 4 * rng.below(9) as u32;
        let data_end = if rng.coin() {
            len as u32
        } else {
            (14 + rng.below(len - 13)) as u32
        };
        let mut md = vec![0u8; XDP_MD_LEN];
        md[0..4].copy_from_slice(&meta.to_le_bytes());
        md[4..8].copy_from_slice(&data_end.to_le_bytes());
        md[16..20].copy_from_slice(&(rng.below(4) as u32).to_le_bytes());
        md
    });
    let budget = match rng.below(4) {
        0 => Some(1 + rng.below(200) as u64),
        _ => None,
    };
    XdpInput {
        packet,
        ctx,
        budget,
    }
}

/// One of the xdp items: mostly a checked packet access, else an xdp helper.
pub(crate) fn item(rng: &mut Rng) -> Vec<Node> {
    if rng.below(4) == 0 {
        adjust(rng)
    } else {
        packet_block(rng)
    }
}

fn load_ctx(dst: Reg, off: i16) -> Node {
    Node::plain(Insn::Load {
        size: Size::W,
        sign_extend: false,
        dst,
        src: CTX,
        off,
    })
}

fn alu(op: AluOp, dst: Reg, src: Source) -> Node {
    Node::plain(Insn::Alu {
        width: Width::W64,
        op,
        dst,
        src,
    })
}

fn lddw(dst: Reg, imm: u64) -> Node {
    Node::plain(Insn::LoadImm64 {
        dst,
        kind: LdImm64Kind::Imm,
        imm,
    })
}

/// Two distinct data registers.
fn two_regs(rng: &mut Rng) -> (Reg, Reg) {
    let a = rng.pick(&DATA);
    let others: Vec<Reg> = DATA.into_iter().filter(|&r| r != a).collect();
    (a, rng.pick(&others))
}

/// A scalar bounded by a mask, in `reg`: what variable packet offsets are made of.
fn bounded_offset(rng: &mut Rng, reg: Reg, from: Reg) -> Vec<Node> {
    let mut nodes = vec![Node::plain(Insn::mov64(reg, Source::Reg(from)))];
    match rng.below(4) {
        0 => nodes.push(alu(AluOp::Rsh, reg, Source::Imm(56))),
        1 => {
            nodes.push(alu(AluOp::And, reg, Source::Imm(0xf)));
            nodes.push(alu(AluOp::Lsh, reg, Source::Imm(2)));
        }
        2 => nodes.push(Node::plain(Insn::Alu {
            width: Width::W32,
            op: AluOp::And,
            dst: reg,
            src: Source::Imm(rng.pick(&[0x7, 0x3f, 0xff, 0x7ff])),
        })),
        _ => nodes.push(alu(
            AluOp::And,
            reg,
            Source::Imm(rng.pick(&[0x1, 0x7, 0xf, 0x3f, 0xff, 0xffff])),
        )),
    }
    nodes
}

/// `base = data` (or `data_meta`, checked against `data`), perhaps plus a
/// bounded variable offset; `check = base + span` compared with the end
/// in one of eight forms, so that `span` bytes from `base` are proven on
/// the path with the accesses; then accesses inside them, through `base`
/// or through `check` at negative offsets. The end and check registers
/// are data registers and get new values after the block, on both paths.
fn packet_block(rng: &mut Rng) -> Vec<Node> {
    let base = COUNTER;
    let (end, check) = two_regs(rng);
    let meta = rng.below(5) == 0;
    let mut nodes = Vec::new();
    if rng.below(3) == 0 {
        let from = rng.pick(&DATA);
        nodes.extend(bounded_offset(rng, end, from));
        nodes.push(load_ctx(base, if meta { XDP_DATA_META } else { XDP_DATA }));
        nodes.push(alu(AluOp::Add, base, Source::Reg(end)));
    } else {
        nodes.push(load_ctx(base, if meta { XDP_DATA_META } else { XDP_DATA }));
    }
    nodes.push(load_ctx(end, if meta { XDP_DATA } else { XDP_DATA_END }));
    let span: i16 = match rng.below(4) {
        0 => 1 + rng.below(16) as i16,
        1 => rng.pick(&[14, 20, 34, 42, 54, 64]),
        2 => 1 + rng.below(128) as i16,
        _ => rng.pick(&[256, 1000, 1500, 1501]),
    };
    // The check through `check`, or (a third of the time) through `base`
    // itself moved past the span, which the accesses then reach backwards.
    let through_base = rng.below(3) == 0;
    let (checked, back) = if through_base {
        nodes.push(alu(AluOp::Add, base, Source::Imm(span.into())));
        (base, span)
    } else {
        nodes.push(Node::plain(Insn::mov64(check, Source::Reg(base))));
        nodes.push(alu(AluOp::Add, check, Source::Imm(span.into())));
        (check, 0)
    };
    let accesses: Vec<Insn> = (0..1 + rng.below(4))
        .map(|_| packet_access(rng, span, back, [base, end, check]))
        .collect();
    let form = rng.below(8);
    // Forms 0-3 skip the accesses when out of range; 4-7 jump over a
    // `goto skip` into them when in range.
    let skips = form < 4;
    let (cond, dst, src) = match form {
        0 => (JmpCond::Gt, checked, end),
        1 => (JmpCond::Lt, end, checked),
        2 => (JmpCond::Ge, checked, end),
        3 => (JmpCond::Le, end, checked),
        4 => (JmpCond::Gt, end, checked),
        5 => (JmpCond::Lt, checked, end),
        6 => (JmpCond::Ge, end, checked),
        _ => (JmpCond::Le, checked, end),
    };
    let start = nodes.len();
    let skip = start + 1 + usize::from(!skips) + accesses.len();
    nodes.push(Node {
        insn: Insn::Jump {
            width: Width::W64,
            cond,
            dst,
            src: Source::Reg(src),
            off: 0,
        },
        target: Some(if skips { skip } else { start + 2 }),
    });
    if !skips {
        nodes.push(Node {
            insn: Insn::Ja { off: 0 },
            target: Some(skip),
        });
    }
    nodes.extend(accesses.into_iter().map(Node::plain));
    nodes.push(lddw(end, value(rng)));
    nodes.push(lddw(check, value(rng)));
    nodes
}

/// A load or store of `span` proven bytes: from `base` at `0..span`, or
/// when `back` is the span, from `base` moved past it at `-span..0`.
fn packet_access(rng: &mut Rng, span: i16, back: i16, busy: [Reg; 3]) -> Insn {
    let fitting: Vec<Size> = Size::ALL
        .into_iter()
        .filter(|s| s.bytes() as i16 <= span)
        .collect();
    let size = rng.pick(&fitting);
    let off = rng.below((span - size.bytes() as i16) as usize + 1) as i16 - back;
    let free: Vec<Reg> = DATA.into_iter().filter(|r| !busy.contains(r)).collect();
    match rng.below(3) {
        0 | 1 => Insn::Load {
            size,
            sign_extend: size != Size::DW && rng.coin(),
            dst: rng.pick(&free),
            src: busy[0],
            off,
        },
        _ => Insn::Store {
            size,
            dst: busy[0],
            off,
            src: if rng.coin() {
                Source::Reg(rng.pick(&free))
            } else {
                Source::Imm(imm(rng))
            },
        },
    }
}

/// `bpf_xdp_adjust_head`/`_meta`/`_tail(ctx, delta)`: moves the packet's
/// bounds, which ends every proof made before it; r0 keeps the result.
fn adjust(rng: &mut Rng) -> Vec<Node> {
    let (helper, deltas) = rng.pick(&XDP_ADJUST);
    let mut nodes = vec![
        Node::plain(Insn::mov64(Reg::R1, Source::Reg(CTX))),
        Node::plain(Insn::mov64(Reg::R2, Source::Imm(rng.pick(deltas)))),
        Node::plain(Insn::Call(CallTarget::Helper(helper))),
    ];
    for reg in CLOBBERED {
        nodes.push(lddw(reg, value(rng)));
    }
    nodes
}

/// Spills the data registers, looks the output value up and copies them
/// into it, and exits with the first one (r0 as the body left it).
fn epilogue() -> Vec<Node> {
    let slot = |i: usize| -8 * (i as i16 + 1);
    let mut nodes: Vec<Node> = DATA
        .into_iter()
        .enumerate()
        .map(|(i, reg)| {
            Node::plain(Insn::Store {
                size: Size::DW,
                dst: Reg::R10,
                off: slot(i),
                src: Source::Reg(reg),
            })
        })
        .collect();
    nodes.push(key_store(Source::Imm(0)));
    nodes.push(Node::plain(Insn::LoadImm64 {
        dst: Reg::R1,
        kind: LdImm64Kind::MapIdx,
        imm: XDP_OUT_MAP as u64,
    }));
    nodes.extend(stack_pointer(Reg::R2, KEY_SLOT));
    nodes.push(Node::plain(Insn::Call(CallTarget::Helper(MAP_LOOKUP_ELEM))));
    let copy = DATA.len() * 2;
    let exit = nodes.len() + 1 + copy;
    nodes.push(if_null_goto(exit));
    let scratch = PRESERVED[0];
    for i in 0..DATA.len() {
        nodes.push(Node::plain(Insn::Load {
            size: Size::DW,
            sign_extend: false,
            dst: scratch,
            src: Reg::R10,
            off: slot(i),
        }));
        nodes.push(Node::plain(Insn::Store {
            size: Size::DW,
            dst: Reg::R0,
            off: 8 * i as i16,
            src: Source::Reg(scratch),
        }));
    }
    nodes.push(Node::plain(Insn::Load {
        size: Size::DW,
        sign_extend: false,
        dst: Reg::R0,
        src: Reg::R10,
        off: slot(0),
    }));
    nodes.push(Node::plain(Insn::Exit));
    nodes
}
