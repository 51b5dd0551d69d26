//! Mutations that make a generated program unsafe, each the way real
//! programs go wrong: a dropped NULL or bounds check, a read of an
//! uninitialised register, a scalar used as a pointer, an access outside
//! the stack, the context or a map value, a loop without an end, a helper
//! given the wrong arguments or not offered to the program type, an
//! out-of-range shift, a jump out of the program, forbidden pointer
//! arithmetic. The kernel refuses most of them; a few (reading
//! uninitialised stack, storing a pointer into the context) only an
//! unprivileged loader is refused, which makes them checks that the
//! verifier is not stricter than the kernel. Three more (`edge_mutation`)
//! are safe or unsafe by a hair, so the kernel accepts about half of them.
//! `apiary fuzz verdicts` compares the two verifiers' verdicts on them.
//!
//! Blocks are inserted where a generated body item starts (the start of
//! the body or the epilogue), so they never split a helper call's argument
//! set-up; a block that calls a helper gives the registers the call
//! clobbers new values, as generated calls do.

use apiary_isa::{AluOp, CallTarget, Insn, JmpCond, LdImm64Kind, Reg, Size, Source, Width};

use crate::backend::VALUE_SIZE;
use crate::edge_mutation;
use crate::generate::{
    CLOBBERED, COUNTER, CTX, CTX_LEN, Case, DATA, KEY_SLOT, MAP_LOOKUP_ELEM, PROLOGUE_LEN,
    VALUE_SLOT, imm, loop_back, stack_pointer, value,
};
use crate::program::{Node, Program};
use crate::rng::Rng;

/// How a program was made unsafe (or not at all, for the control group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mutation {
    /// The generated program, unchanged.
    Unchanged,
    /// A map lookup's result dereferenced without the NULL check.
    NullCheckDropped,
    /// A map value indexed by a context byte without masking it first.
    BoundsCheckDropped,
    /// A map value indexed by a masked context byte: safe, for contrast.
    BoundsChecked,
    /// A map value accessed past its end or before its start.
    MapValueOutOfRange,
    /// A register a helper call clobbered read before it is written.
    UninitRegister,
    /// Stack below the initialised slots read.
    UninitStack,
    /// A data register (a scalar) dereferenced.
    ScalarAsPointer,
    /// A stack access outside `r10 - 512 .. r10` or misaligned.
    StackOutOfRange,
    /// A context access at a negative, misaligned or too large offset.
    CtxOutOfRange,
    /// A context access at a variable offset.
    CtxVariableOffset,
    /// A jump to itself, or a loop whose counter never changes.
    UnboundedLoop,
    /// A map helper given a scalar where it wants a pointer, or a key outside the stack.
    BadHelperArg,
    /// A helper id the kernel does not have, or one `syscall` programs may not call.
    UnavailableHelper,
    /// A shift by the width or more, or a division by an immediate zero.
    BadShiftOrDivision,
    /// A jump past the end of the program.
    JumpOutOfRange,
    /// Multiplication, shifting or 32-bit arithmetic on a pointer, or a write to r10.
    PointerArithmetic,
    /// A pointer stored into the context.
    PointerStored,
    /// A map value indexed by a scalar after arithmetic and maybe a bounds
    /// check, safe or not by a hair (see `edge_mutation`).
    IndexArithmetic,
    /// A lookup's result checked for NULL in another form than `if r0 == 0`.
    NullCheckForm,
    /// A pointer spilled to the stack and filled back, whole or not.
    SpillFill,
}

impl Mutation {
    /// Every mutation, in the order [`mutate`] draws from.
    pub const ALL: [Mutation; 21] = [
        Mutation::Unchanged,
        Mutation::NullCheckDropped,
        Mutation::BoundsCheckDropped,
        Mutation::BoundsChecked,
        Mutation::MapValueOutOfRange,
        Mutation::UninitRegister,
        Mutation::UninitStack,
        Mutation::ScalarAsPointer,
        Mutation::StackOutOfRange,
        Mutation::CtxOutOfRange,
        Mutation::CtxVariableOffset,
        Mutation::UnboundedLoop,
        Mutation::BadHelperArg,
        Mutation::UnavailableHelper,
        Mutation::BadShiftOrDivision,
        Mutation::JumpOutOfRange,
        Mutation::PointerArithmetic,
        Mutation::PointerStored,
        Mutation::IndexArithmetic,
        Mutation::NullCheckForm,
        Mutation::SpillFill,
    ];

    /// A short name, for listings.
    pub fn name(self) -> &'static str {
        match self {
            Mutation::Unchanged => "unchanged",
            Mutation::NullCheckDropped => "null check dropped",
            Mutation::BoundsCheckDropped => "bounds check dropped",
            Mutation::BoundsChecked => "bounds checked",
            Mutation::MapValueOutOfRange => "map value out of range",
            Mutation::UninitRegister => "uninitialised register",
            Mutation::UninitStack => "uninitialised stack",
            Mutation::ScalarAsPointer => "scalar as pointer",
            Mutation::StackOutOfRange => "stack out of range",
            Mutation::CtxOutOfRange => "context out of range",
            Mutation::CtxVariableOffset => "context variable offset",
            Mutation::UnboundedLoop => "unbounded loop",
            Mutation::BadHelperArg => "bad helper argument",
            Mutation::UnavailableHelper => "unavailable helper",
            Mutation::BadShiftOrDivision => "bad shift or division",
            Mutation::JumpOutOfRange => "jump out of range",
            Mutation::PointerArithmetic => "pointer arithmetic",
            Mutation::PointerStored => "pointer stored",
            Mutation::IndexArithmetic => "index arithmetic",
            Mutation::NullCheckForm => "null check form",
            Mutation::SpillFill => "spill and fill",
        }
    }
}

/// The mutations at the edge of what can be proven (`edge_mutation`).
const EDGE: [Mutation; 3] = [
    Mutation::IndexArithmetic,
    Mutation::NullCheckForm,
    Mutation::SpillFill,
];

/// The program of `case` made unsafe by a mutation drawn from `rng`, and
/// which: half the time one at the edge of what can be proven, which find
/// the most disagreements and which the kernel accepts about half the
/// time; otherwise any of [`Mutation::ALL`].
pub fn mutate(case: &Case, rng: &mut Rng) -> (Program, Mutation) {
    let mutation = if rng.coin() {
        rng.pick(&EDGE)
    } else {
        rng.pick(&Mutation::ALL)
    };
    (apply(case, mutation, rng), mutation)
}

/// The program of `case` with `mutation` applied, its choices drawn from `rng`.
pub fn apply(case: &Case, mutation: Mutation, rng: &mut Rng) -> Program {
    let program = &case.program;
    if mutation == Mutation::NullCheckDropped
        && let Some(check) = lookup_null_checks(program).first().copied()
    {
        return program.without(check);
    }
    let block = match mutation {
        Mutation::Unchanged => return program.clone(),
        Mutation::JumpOutOfRange => {
            // A target past the end is resolved to the slot after the exit.
            let jump = Node {
                insn: Insn::Jump {
                    width: Width::W64,
                    cond: rng.pick(&JmpCond::ALL),
                    dst: rng.pick(&DATA),
                    src: Source::Imm(imm(rng)),
                    off: 0,
                },
                target: Some(usize::MAX),
            };
            return program.with_block_before(insertion_point(program, rng), &[jump]);
        }
        Mutation::NullCheckDropped => lookup(rng, Access::Unchecked),
        Mutation::BoundsCheckDropped => lookup(rng, Access::UnmaskedIndex),
        Mutation::BoundsChecked => lookup(rng, Access::MaskedIndex),
        Mutation::MapValueOutOfRange => lookup(rng, Access::OutOfRange),
        Mutation::UninitRegister => uninit_register(rng),
        Mutation::UninitStack => vec![Insn::Load {
            size: Size::DW,
            sign_extend: false,
            dst: rng.pick(&DATA),
            src: Reg::R10,
            off: rng.pick(&[-80, -104, -256, -512]),
        }],
        Mutation::ScalarAsPointer => {
            let base = rng.pick(&DATA);
            vec![if rng.coin() {
                Insn::Load {
                    size: Size::DW,
                    sign_extend: false,
                    dst: Reg::R0,
                    src: base,
                    off: 0,
                }
            } else {
                Insn::Store {
                    size: Size::W,
                    dst: base,
                    off: 0,
                    src: Source::Imm(imm(rng)),
                }
            }]
        }
        Mutation::StackOutOfRange => {
            let (size, off) = rng.pick(&[
                (Size::DW, -520),
                (Size::DW, 0),
                (Size::W, -514),
                (Size::B, 0),
                (Size::DW, -3),
                (Size::H, -7),
            ]);
            vec![Insn::Store {
                size,
                dst: Reg::R10,
                off,
                src: Source::Reg(rng.pick(&DATA)),
            }]
        }
        Mutation::CtxOutOfRange => {
            let (size, off) = rng.pick(&[
                (Size::DW, -8),
                (Size::B, -1),
                (Size::W, 2),
                (Size::DW, CTX_LEN as i16 - 4),
                (Size::DW, i16::MAX - 7),
                (Size::B, i16::MAX),
            ]);
            vec![Insn::Load {
                size,
                sign_extend: false,
                dst: rng.pick(&DATA),
                src: CTX,
                off,
            }]
        }
        Mutation::CtxVariableOffset => vec![
            Insn::mov64(COUNTER, Source::Reg(CTX)),
            Insn::Alu {
                width: Width::W64,
                op: AluOp::Add,
                dst: COUNTER,
                src: Source::Reg(rng.pick(&DATA)),
            },
            Insn::Load {
                size: Size::B,
                sign_extend: false,
                dst: rng.pick(&DATA),
                src: COUNTER,
                off: 0,
            },
        ],
        Mutation::UnboundedLoop => return unbounded_loop(program, rng),
        Mutation::IndexArithmetic | Mutation::NullCheckForm | Mutation::SpillFill => {
            let block = match mutation {
                Mutation::IndexArithmetic => edge_mutation::index_arithmetic(rng),
                Mutation::NullCheckForm => edge_mutation::null_check_form(rng),
                _ => edge_mutation::spill_fill(rng),
            };
            return program.with_block_before(insertion_point(program, rng), &block);
        }
        Mutation::BadHelperArg => bad_helper_arg(rng),
        Mutation::UnavailableHelper => {
            // 10000 is no helper; 26 is bpf_skb_load_bytes, 6 bpf_trace_printk
            // (tracing only), 1000 past the last one.
            let helper = rng.pick(&[10_000, 26, 6, 1000, -1]);
            let mut block = vec![Insn::Call(CallTarget::Helper(helper))];
            block.extend(refill_clobbered(rng));
            block
        }
        Mutation::BadShiftOrDivision => {
            let width = if rng.coin() { Width::W32 } else { Width::W64 };
            let bits = if width == Width::W32 { 32 } else { 64 };
            let (op, amount) = rng.pick(&[
                (AluOp::Lsh, bits),
                (AluOp::Rsh, bits + 1),
                (AluOp::Arsh, -1),
                (AluOp::Div, 0),
                (AluOp::Mod, 0),
            ]);
            vec![Insn::Alu {
                width,
                op,
                dst: rng.pick(&DATA),
                src: Source::Imm(amount),
            }]
        }
        Mutation::PointerArithmetic => {
            let base = rng.pick(&[CTX, Reg::R10]);
            let (width, op) = rng.pick(&[
                (Width::W64, AluOp::Mul),
                (Width::W64, AluOp::Lsh),
                (Width::W64, AluOp::Or),
                (Width::W32, AluOp::Add),
                (Width::W64, AluOp::Mov),
            ]);
            let dst = if op == AluOp::Mov { Reg::R10 } else { COUNTER };
            let mut block = Vec::new();
            if op != AluOp::Mov {
                block.push(Insn::mov64(COUNTER, Source::Reg(base)));
            }
            block.push(Insn::Alu {
                width,
                op,
                dst,
                src: Source::Imm(2),
            });
            if op != AluOp::Mov {
                block.push(Insn::Load {
                    size: Size::B,
                    sign_extend: false,
                    dst: rng.pick(&DATA),
                    src: COUNTER,
                    off: 0,
                });
            }
            block
        }
        Mutation::PointerStored => vec![Insn::Store {
            size: Size::DW,
            dst: CTX,
            off: 8 * rng.below(CTX_LEN / 8) as i16,
            src: Source::Reg(rng.pick(&[Reg::R10, CTX])),
        }],
    };
    program.with_inserted_before(insertion_point(program, rng), &block)
}

/// Where a block may go: the start of the body or of the epilogue, the
/// only places that are sure to start a body item.
fn insertion_point(program: &Program, rng: &mut Rng) -> usize {
    // The epilogue stores each data register into the context, then exits.
    let epilogue = program.len().saturating_sub(DATA.len() + 1);
    if rng.coin() {
        PROLOGUE_LEN.min(epilogue)
    } else {
        epilogue
    }
}

/// The NULL checks that follow a `map_lookup_elem` call (`if r0 == 0 goto`).
fn lookup_null_checks(program: &Program) -> Vec<usize> {
    let nodes = program.nodes();
    (1..nodes.len())
        .filter(|&i| {
            nodes[i - 1].insn == Insn::Call(CallTarget::Helper(MAP_LOOKUP_ELEM))
                && matches!(
                    nodes[i].insn,
                    Insn::Jump {
                        cond: JmpCond::Eq,
                        dst: Reg::R0,
                        src: Source::Imm(0),
                        ..
                    }
                )
        })
        .collect()
}

/// How a lookup block reaches into the value it found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// At offset 0, without checking the value pointer for NULL.
    Unchecked,
    /// After the NULL check, at an index read from the context, unmasked.
    UnmaskedIndex,
    /// After the NULL check, at an index read from the context, masked to the value.
    MaskedIndex,
    /// After the NULL check, at a constant offset outside the value.
    OutOfRange,
}

/// `key = k; r0 = lookup(map, &key)` for a key below 4 and a map of the harness.
pub(crate) fn lookup_call(rng: &mut Rng) -> Vec<Insn> {
    let map = rng.below(crate::backend::MAPS.len());
    let mut block = vec![
        Insn::Store {
            size: Size::W,
            dst: Reg::R10,
            off: KEY_SLOT,
            src: Source::Imm(rng.below(4) as i32),
        },
        Insn::LoadImm64 {
            dst: Reg::R1,
            kind: LdImm64Kind::MapIdx,
            imm: map as u64,
        },
    ];
    block.extend(stack_pointer(Reg::R2, KEY_SLOT).map(|node| node.insn));
    block.push(Insn::Call(CallTarget::Helper(MAP_LOOKUP_ELEM)));
    block
}

/// `key = 0; r0 = lookup(map, &key); [if r0 == 0 goto out;] access; out:`
/// then r1-r5 refilled: the value accessed as `access` says.
fn lookup(rng: &mut Rng, access: Access) -> Vec<Insn> {
    let mut block = lookup_call(rng);
    let dst = rng.pick(&[Reg::R6, Reg::R7, Reg::R8]);
    let body: Vec<Insn> = match access {
        Access::Unchecked => vec![Insn::Load {
            size: Size::DW,
            sign_extend: false,
            dst,
            src: Reg::R0,
            off: 0,
        }],
        Access::UnmaskedIndex | Access::MaskedIndex => {
            let mut body = vec![Insn::Load {
                size: Size::B,
                sign_extend: false,
                dst: COUNTER,
                src: CTX,
                off: rng.below(crate::generate::CTX_INPUT_LEN) as i16,
            }];
            if access == Access::MaskedIndex {
                body.push(Insn::Alu {
                    width: Width::W64,
                    op: AluOp::And,
                    dst: COUNTER,
                    src: Source::Imm(VALUE_SIZE as i32 - 8 - 1),
                });
            }
            body.push(Insn::Alu {
                width: Width::W64,
                op: AluOp::Add,
                dst: Reg::R0,
                src: Source::Reg(COUNTER),
            });
            body.push(Insn::Load {
                size: Size::DW,
                sign_extend: false,
                dst,
                src: Reg::R0,
                off: 0,
            });
            body
        }
        Access::OutOfRange => {
            let (size, off) = rng.pick(&[
                (Size::DW, VALUE_SIZE as i16),
                (Size::DW, VALUE_SIZE as i16 - 4),
                (Size::B, VALUE_SIZE as i16),
                (Size::W, -4),
            ]);
            vec![if rng.coin() {
                Insn::Load {
                    size,
                    sign_extend: false,
                    dst,
                    src: Reg::R0,
                    off,
                }
            } else {
                Insn::Store {
                    size,
                    dst: Reg::R0,
                    off,
                    src: Source::Reg(dst),
                }
            }]
        }
    };
    if access != Access::Unchecked {
        block.push(Insn::Jump {
            width: Width::W64,
            cond: JmpCond::Eq,
            dst: Reg::R0,
            src: Source::Imm(0),
            off: i16::try_from(body.len()).unwrap_or(i16::MAX),
        });
    }
    block.extend(body);
    block.extend(refill_clobbered(rng));
    block
}

/// r0 and the data registers a helper call clobbers, given new values.
pub(crate) fn refill_clobbered(rng: &mut Rng) -> Vec<Insn> {
    std::iter::once(Reg::R0)
        .chain(CLOBBERED)
        .map(|dst| Insn::LoadImm64 {
            dst,
            kind: LdImm64Kind::Imm,
            imm: value(rng),
        })
        .collect()
}

/// `call bpf_get_prandom_u32; rX = rY` with rY one of r1-r5, which the call
/// left uninitialised; then the clobbered registers refilled.
fn uninit_register(rng: &mut Rng) -> Vec<Insn> {
    let mut block = vec![
        Insn::Call(CallTarget::Helper(7)),
        Insn::Alu {
            width: Width::W64,
            op: rng.pick(&[AluOp::Mov, AluOp::Add, AluOp::Xor]),
            dst: rng.pick(&[Reg::R6, Reg::R7, Reg::R8]),
            src: Source::Reg(rng.pick(&[Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5])),
        },
    ];
    block.extend(refill_clobbered(rng));
    block
}

/// A map helper call with one argument wrong: a scalar map or key, a key
/// pointer outside the stack frame or into the uninitialised part of it.
fn bad_helper_arg(rng: &mut Rng) -> Vec<Insn> {
    let map = Insn::LoadImm64 {
        dst: Reg::R1,
        kind: LdImm64Kind::MapIdx,
        imm: rng.below(crate::backend::MAPS.len()) as u64,
    };
    let mut block = match rng.below(5) {
        0 => vec![Insn::mov64(Reg::R1, Source::Imm(imm(rng)))]
            .into_iter()
            .chain(stack_pointer(Reg::R2, KEY_SLOT).map(|node| node.insn))
            .collect(),
        1 => vec![map, Insn::mov64(Reg::R2, Source::Imm(imm(rng)))],
        2 => std::iter::once(map)
            .chain(stack_pointer(Reg::R2, 0).map(|node| node.insn))
            .collect(),
        3 => std::iter::once(map)
            .chain(stack_pointer(Reg::R2, -516).map(|node| node.insn))
            .collect(),
        _ => std::iter::once(map)
            .chain(stack_pointer(Reg::R2, VALUE_SLOT - 64).map(|node| node.insn))
            .collect(),
    };
    block.push(Insn::Call(CallTarget::Helper(MAP_LOOKUP_ELEM)));
    block.extend(refill_clobbered(rng));
    block
}

/// A jump to itself (unconditional, or on r10 != 0), or a loop that adds
/// to a register and never counts its counter down, at an item boundary.
fn unbounded_loop(program: &Program, rng: &mut Rng) -> Program {
    let at = insertion_point(program, rng);
    // A loop whose state changes runs into the 1,000,000-instruction
    // limit, which takes each verifier a second or more (most of a run's
    // time at one in eight): now and then only.
    let loop_nodes = if rng.below(32) != 0 {
        let jump = if rng.coin() {
            Insn::Ja { off: 0 }
        } else {
            Insn::Jump {
                width: Width::W64,
                cond: JmpCond::Ne,
                dst: Reg::R10,
                src: Source::Imm(0),
                off: 0,
            }
        };
        vec![Node {
            insn: jump,
            target: Some(0),
        }]
    } else {
        vec![
            Node::plain(Insn::mov64(COUNTER, Source::Imm(3))),
            Node::plain(Insn::Alu {
                width: Width::W64,
                op: AluOp::Add,
                dst: rng.pick(&DATA),
                src: Source::Imm(1),
            }),
            loop_back(1),
        ]
    };
    program.with_block_before(at, &loop_nodes)
}
