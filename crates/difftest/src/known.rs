//! Kernel bugs that make Linux diverge from RFC 9669, listed in
//! `kernel-divergences.txt`, and the checks that recognise them.
//!
//! A divergence is put down to a listed bug only when the program has the
//! bug's pattern and the kernel's own result moves to Apiary's once the
//! program is rewritten in a way RFC 9669 says changes nothing (the bug's
//! workaround, which must leave Apiary's result unchanged as well). The
//! kernel then disagrees with itself on two equivalent programs, and the
//! version it gets wrong is the one the bug describes.

use apiary_isa::{AluOp, AtomicOp, Insn, Reg, Size, Source, Width};
use thiserror::Error;

use crate::program::Program;

/// A kernel bug the comparison knows how to recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KernelBug {
    /// The x86-64 JIT leaves r0's upper half after a successful 32-bit
    /// cmpxchg when the verifier dropped the zero extension it relies on.
    Cmpxchg32ZextLost,
    /// Precision is not carried from a register an atomic fetched from the
    /// stack to the slot, so pruning hides a path and live code is deleted.
    AtomicFetchPrecisionLost,
}

/// Stack slot the atomic-fetch workaround saves r9 in, below every slot
/// generated programs use.
const SCRATCH_SLOT: i16 = -256;

impl KernelBug {
    /// Every bug the code recognises.
    pub const ALL: [KernelBug; 2] = [
        KernelBug::Cmpxchg32ZextLost,
        KernelBug::AtomicFetchPrecisionLost,
    ];

    /// The bug's id in `kernel-divergences.txt`.
    pub fn id(self) -> &'static str {
        match self {
            KernelBug::Cmpxchg32ZextLost => "cmpxchg32-zext-lost",
            KernelBug::AtomicFetchPrecisionLost => "atomic-fetch-precision-lost",
        }
    }

    /// The bug with id `id`.
    pub fn from_id(id: &str) -> Option<KernelBug> {
        KernelBug::ALL.into_iter().find(|bug| bug.id() == id)
    }

    /// Whether `program` has the instruction the bug needs.
    pub fn applies(self, program: &Program) -> bool {
        program
            .nodes()
            .iter()
            .any(|node| self.triggered_by(&node.insn))
    }

    fn triggered_by(self, insn: &Insn) -> bool {
        match (self, insn) {
            (
                KernelBug::Cmpxchg32ZextLost,
                Insn::Atomic {
                    size: Size::W,
                    op: AtomicOp::CmpXchg,
                    ..
                },
            ) => true,
            (
                KernelBug::AtomicFetchPrecisionLost,
                Insn::Atomic {
                    dst: Reg::R10, op, ..
                },
            ) => fetches(*op),
            _ => false,
        }
    }

    /// `program` rewritten so that the bug cannot strike, with the same
    /// meaning under RFC 9669.
    pub fn workaround(self, program: &Program) -> Program {
        let sites: Vec<usize> = program
            .nodes()
            .iter()
            .enumerate()
            .filter(|(_, node)| self.triggered_by(&node.insn))
            .map(|(index, _)| index)
            .collect();
        // From the last site back, so earlier indexes stay valid.
        sites
            .into_iter()
            .rev()
            .fold(program.clone(), |rewritten, index| {
                let Some(node) = rewritten.nodes().get(index) else {
                    return rewritten;
                };
                match (self, node.insn) {
                    (KernelBug::Cmpxchg32ZextLost, _) => rewritten.with_inserted_after(
                        index,
                        &[Insn::Alu {
                            width: Width::W32,
                            op: AluOp::Mov,
                            dst: Reg::R0,
                            src: Source::Reg(Reg::R0),
                        }],
                    ),
                    (KernelBug::AtomicFetchPrecisionLost, Insn::Atomic { size, off, .. }) => {
                        rewritten.with_inserted_before(index, &forget_slot(size, off))
                    }
                    (KernelBug::AtomicFetchPrecisionLost, _) => rewritten,
                }
            })
    }

    /// Whether the kernel's translated program shows the bug, where it can
    /// (`xlated` is the kernel's `xlated_prog_insns`).
    pub fn visible_in_xlated(self, xlated: &[u8]) -> bool {
        match self {
            KernelBug::Cmpxchg32ZextLost => cmpxchg32_without_zext(xlated),
            // Dead-code removal leaves no mark that survives the kernel's
            // other rewrites; the workaround run is the evidence.
            KernelBug::AtomicFetchPrecisionLost => true,
        }
    }
}

/// Whether an atomic operation loads the old value into a register.
fn fetches(op: AtomicOp) -> bool {
    match op {
        AtomicOp::Add { fetch }
        | AtomicOp::Or { fetch }
        | AtomicOp::And { fetch }
        | AtomicOp::Xor { fetch } => fetch,
        AtomicOp::Xchg | AtomicOp::CmpXchg => true,
    }
}

/// `lock *(size *)(r10 + off) += 0`, through r9 saved and restored around
/// it (r9 is always initialised; r1-r5 may not be after a call): memory
/// keeps its value, and the verifier forgets the slot's constant.
fn forget_slot(size: Size, off: i16) -> [Insn; 4] {
    [
        Insn::Store {
            size: Size::DW,
            dst: Reg::R10,
            off: SCRATCH_SLOT,
            src: Source::Reg(Reg::R9),
        },
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: Reg::R9,
            src: Source::Imm(0),
        },
        Insn::Atomic {
            size,
            op: AtomicOp::Add { fetch: false },
            dst: Reg::R10,
            src: Reg::R9,
            off,
        },
        Insn::Load {
            size: Size::DW,
            sign_extend: false,
            dst: Reg::R9,
            src: Reg::R10,
            off: SCRATCH_SLOT,
        },
    ]
}

/// `BPF_STX | BPF_ATOMIC | BPF_W` with `imm == BPF_CMPXCHG`, then `w0 = w0`.
const CMPXCHG32_OPCODE: u8 = 0xc3;
const BPF_CMPXCHG: u32 = 0xf1;
const MOV32_REG_OPCODE: u8 = 0xbc;

/// Whether some 32-bit cmpxchg of the translated program is not followed
/// by the `w0 = w0` the verifier should have appended.
fn cmpxchg32_without_zext(xlated: &[u8]) -> bool {
    let slots: Vec<&[u8]> = xlated.chunks_exact(8).collect();
    slots.iter().enumerate().any(|(index, slot)| {
        let is_cmpxchg32 = slot.first() == Some(&CMPXCHG32_OPCODE)
            && slot
                .get(4..8)
                .and_then(|imm| <[u8; 4]>::try_from(imm).ok())
                .map(u32::from_le_bytes)
                == Some(BPF_CMPXCHG);
        let zext_follows = slots
            .get(index + 1)
            .is_some_and(|next| next.first() == Some(&MOV32_REG_OPCODE) && next.get(1) == Some(&0));
        is_cmpxchg32 && !zext_follows
    })
}

/// One entry of `kernel-divergences.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownDivergence {
    /// The bug, from its `id`.
    pub bug: KernelBug,
    /// When it strikes.
    pub pattern: String,
    /// Where it was measured.
    pub kernel: String,
    /// Why the kernel is wrong.
    pub explanation: String,
    /// The neutral rewrite that avoids it.
    pub workaround: String,
    /// A reproducer file, relative to the crate directory.
    pub reproducer: String,
}

/// Why `kernel-divergences.txt` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ListError {
    /// A line is neither a comment, blank, nor `key: value`.
    #[error("line {line}: expected `key: value`, found {text:?}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
    /// An entry names a bug the code cannot recognise.
    #[error("line {line}: unknown bug id {id:?}")]
    UnknownId {
        /// 1-based line number.
        line: usize,
        /// The id.
        id: String,
    },
    /// An entry lacks a field or has an unknown one.
    #[error("entry ending at line {line}: {problem}")]
    BadEntry {
        /// 1-based line number of the entry's last line.
        line: usize,
        /// What is wrong.
        problem: String,
    },
}

/// The entries of the list in the crate, `kernel-divergences.txt`.
pub fn known_divergences() -> Result<Vec<KnownDivergence>, ListError> {
    parse_known(include_str!("../kernel-divergences.txt"))
}

/// Parses a list of known divergences: `#` comments, entries of
/// `key: value` lines separated by blank lines.
pub fn parse_known(text: &str) -> Result<Vec<KnownDivergence>, ListError> {
    let mut entries = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut last_line = 0;
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l)) {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !fields.is_empty() {
                entries.push(entry(std::mem::take(&mut fields), last_line)?);
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            return Err(ListError::Malformed {
                line: number,
                text: line.to_string(),
            });
        };
        if key.trim() == "id" && KernelBug::from_id(value.trim()).is_none() {
            return Err(ListError::UnknownId {
                line: number,
                id: value.trim().to_string(),
            });
        }
        fields.push((key.trim().to_string(), value.trim().to_string()));
        last_line = number;
    }
    if !fields.is_empty() {
        entries.push(entry(fields, last_line)?);
    }
    Ok(entries)
}

fn entry(fields: Vec<(String, String)>, line: usize) -> Result<KnownDivergence, ListError> {
    const KEYS: [&str; 6] = [
        "id",
        "pattern",
        "kernel",
        "explanation",
        "workaround",
        "reproducer",
    ];
    let bad = |problem: String| ListError::BadEntry { line, problem };
    if let Some((key, _)) = fields.iter().find(|(key, _)| !KEYS.contains(&key.as_str())) {
        return Err(bad(format!("unknown field {key:?}")));
    }
    let field = |name: &str| {
        let mut values = fields.iter().filter(|(key, _)| key == name);
        match (values.next(), values.next()) {
            (Some((_, value)), None) if !value.is_empty() => Ok(value.clone()),
            (None, _) => Err(bad(format!("no {name:?} field"))),
            _ => Err(bad(format!("{name:?} must appear once, not empty"))),
        }
    };
    let id = field("id")?;
    Ok(KnownDivergence {
        bug: KernelBug::from_id(&id).ok_or_else(|| bad(format!("unknown bug id {id:?}")))?,
        pattern: field("pattern")?,
        kernel: field("kernel")?,
        explanation: field("explanation")?,
        workaround: field("workaround")?,
        reproducer: field("reproducer")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crate_list_names_every_recognised_bug_once() {
        let known = known_divergences().expect("kernel-divergences.txt parses");
        let mut ids: Vec<&str> = known.iter().map(|k| k.bug.id()).collect();
        ids.sort_unstable();
        let mut all: Vec<&str> = KernelBug::ALL.iter().map(|b| b.id()).collect();
        all.sort_unstable();
        assert_eq!(ids, all);
    }

    #[test]
    fn malformed_lists_are_refused_with_the_line() {
        assert_eq!(
            parse_known("id: no-such-bug\n"),
            Err(ListError::UnknownId {
                line: 1,
                id: "no-such-bug".into()
            })
        );
        assert!(matches!(
            parse_known("# c\nid: cmpxchg32-zext-lost\npattern: p\n"),
            Err(ListError::BadEntry { line: 3, .. })
        ));
        assert!(matches!(
            parse_known("just words\n"),
            Err(ListError::Malformed { line: 1, .. })
        ));
    }

    #[test]
    fn xlated_without_zext_after_cmpxchg32_is_recognised() {
        let cmpxchg = [0xc3, 0x1a, 0xf8, 0xff, 0xf1, 0, 0, 0];
        let zext = [0xbc, 0x00, 0, 0, 0, 0, 0, 0];
        let exit = [0x95, 0, 0, 0, 0, 0, 0, 0];
        assert!(cmpxchg32_without_zext(&[cmpxchg, exit].concat()));
        assert!(!cmpxchg32_without_zext(&[cmpxchg, zext, exit].concat()));
        assert!(!cmpxchg32_without_zext(&exit));
    }
}
