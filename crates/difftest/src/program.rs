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

    /// A program from instructions whose branches carry slot offsets (as
    /// assembled), or why a branch does not land on an instruction.
    pub fn from_insns(insns: &[Insn]) -> Result<Program, BranchError> {
        let mut node_at_slot = std::collections::HashMap::new();
        let mut slot = 0i64;
        for (index, insn) in insns.iter().enumerate() {
            node_at_slot.insert(slot, index);
            slot += insn.slots() as i64;
        }
        node_at_slot.insert(slot, insns.len());
        let mut nodes = Vec::with_capacity(insns.len());
        let mut slot = 0i64;
        for (index, insn) in insns.iter().enumerate() {
            let target = match branch_offset(insn) {
                Some(off) => {
                    let to = slot + 1 + off;
                    Some(
                        *node_at_slot
                            .get(&to)
                            .ok_or(BranchError { index, slot: to })?,
                    )
                }
                None => None,
            };
            nodes.push(Node {
                insn: *insn,
                target,
            });
            slot += insn.slots() as i64;
        }
        Ok(Program { nodes })
    }

    /// The nodes, in order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The program with `insns` inserted before instruction `index`:
    /// branches to `index` now reach the first inserted instruction, so the
    /// insertion runs whenever the instruction it precedes does.
    pub fn with_inserted_before(&self, index: usize, insns: &[Insn]) -> Program {
        let block: Vec<Node> = insns.iter().map(|&insn| Node::plain(insn)).collect();
        self.with_block_before(index, &block)
    }

    /// [`Program::with_inserted_before`] for nodes whose branch targets
    /// count from the block's first node (a target past the program's end
    /// stays past it).
    pub fn with_block_before(&self, index: usize, block: &[Node]) -> Program {
        self.with_inserted(index, block, |target| target > index)
    }

    /// The program with `insns` inserted after instruction `index`:
    /// branches keep their instructions, so only the fall-through from
    /// `index` runs the insertion.
    pub fn with_inserted_after(&self, index: usize, insns: &[Insn]) -> Program {
        let block: Vec<Node> = insns.iter().map(|&insn| Node::plain(insn)).collect();
        self.with_inserted(index + 1, &block, |target| target > index)
    }

    fn with_inserted(&self, at: usize, block: &[Node], moves: impl Fn(usize) -> bool) -> Program {
        let mut nodes: Vec<Node> = self
            .nodes
            .iter()
            .map(|node| Node {
                insn: node.insn,
                target: node
                    .target
                    .map(|t| if moves(t) { t + block.len() } else { t }),
            })
            .collect();
        let at = at.min(nodes.len());
        nodes.splice(
            at..at,
            block.iter().map(|node| Node {
                insn: node.insn,
                target: node.target.map(|relative| at.saturating_add(relative)),
            }),
        );
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

/// A branch whose target is not the first slot of an instruction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("instruction {index} branches to slot {slot}, which does not start an instruction")]
pub struct BranchError {
    /// Index of the branching instruction.
    pub index: usize,
    /// The slot it goes to.
    pub slot: i64,
}

/// The slot offset of a branch within one function (calls are not branches here).
fn branch_offset(insn: &Insn) -> Option<i64> {
    match insn {
        Insn::Jump { off, .. } | Insn::Ja { off } | Insn::MayGoto { off } => Some(i64::from(*off)),
        Insn::Ja32 { imm } => Some(i64::from(*imm)),
        _ => None,
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
