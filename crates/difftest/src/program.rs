//! Programs as instructions with absolute branch targets, so that the
//! shrinker can delete instructions without breaking jumps.

use apiary_asm::{Syntax, format_insn};
use apiary_isa::{Insn, encode_program};

/// One instruction and, for a branch, the index of the instruction it goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// The instruction; its own offset is ignored when `target` is set.
    pub insn: Insn,
    /// Index (in nodes, not slots) of the branch target.
    pub target: Option<usize>,
}

impl Node {
    /// An instruction that does not branch.
    pub fn plain(insn: Insn) -> Self {
        Node { insn, target: None }
    }
}

/// A program whose branches name their targets by instruction index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    nodes: Vec<Node>,
}

impl Program {
    /// A program from its nodes.
    pub fn new(nodes: Vec<Node>) -> Self {
        Program { nodes }
    }

    /// Number of instructions (not slots).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no instructions.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The program without instruction `index`: branches to it go to its
    /// successor, and targets after it move up by one.
    pub fn without(&self, index: usize) -> Program {
        let nodes = self
            .nodes
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != index)
            .map(|(_, node)| Node {
                insn: node.insn,
                target: node.target.map(|t| if t > index { t - 1 } else { t }),
            })
            .collect();
        Program { nodes }
    }

    /// The instructions with branch offsets computed in slots.
    pub fn insns(&self) -> Vec<Insn> {
        let mut slot_of = Vec::with_capacity(self.nodes.len() + 1);
        let mut slot = 0i64;
        for node in &self.nodes {
            slot_of.push(slot);
            slot += node.insn.slots() as i64;
        }
        slot_of.push(slot);
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, node)| match node.target {
                Some(target) => {
                    let from = slot_of.get(i).copied().unwrap_or(slot) + 1;
                    let to = slot_of.get(target).copied().unwrap_or(slot);
                    with_offset(node.insn, to - from)
                }
                None => node.insn,
            })
            .collect()
    }

    /// The bytecode, 8-byte slots in host (little-endian) order.
    pub fn bytecode(&self) -> Vec<u8> {
        apiary_isa::slots_to_bytes(&encode_program(&self.insns()))
    }

    /// The program in LLVM syntax, one instruction a line, as `apiary asm` reads it.
    pub fn to_asm(&self) -> String {
        self.insns()
            .iter()
            .map(|insn| format_insn(insn, Syntax::Llvm) + "\n")
            .collect()
    }
}

/// `insn` branching `off` slots past the next one; offsets that do not fit
/// the field (impossible for generated programs) saturate, which the kernel
/// and the decoder then refuse.
fn with_offset(insn: Insn, off: i64) -> Insn {
    let short = i16::try_from(off).unwrap_or(i16::MAX);
    match insn {
        Insn::Jump {
            width,
            cond,
            dst,
            src,
            ..
        } => Insn::Jump {
            width,
            cond,
            dst,
            src,
            off: short,
        },
        Insn::Ja { .. } => Insn::Ja { off: short },
        Insn::MayGoto { .. } => Insn::MayGoto { off: short },
        Insn::Ja32 { .. } => Insn::Ja32 {
            imm: i32::try_from(off).unwrap_or(i32::MAX),
        },
        other => other,
    }
}
