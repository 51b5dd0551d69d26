//! The most instructions one run of a program can execute, when the code
//! itself bounds it: no jump goes backwards, nothing calls back into the
//! program (no function pointers), no tail call hands the run on, and the
//! bpf-to-bpf calls do not recurse. A JIT that knows the run's budget
//! covers this bound can stop counting instructions.
//!
//! Without backward jumps an activation's pc only grows (a call returns
//! to the next instruction), so an activation entered at `t` executes at
//! most `len - t` of its own instructions and each call instruction after
//! `t` at most once: `cost(t) = (len - t) + sum of cost(target)` over the
//! calls at or after `t`. That over-counts (it runs into later functions)
//! but is sound.

use apiary_isa::{CallTarget, Insn, LdImm64Kind};

/// `bpf_tail_call`.
const TAIL_CALL: i32 = 12;
/// More calls than this: no bound (the memo stays small).
const MAX_CALLS: usize = 64;

/// The bound over `insns` (by slot, `None` on an `lddw`'s second slot),
/// or `None` when the code does not bound the run.
pub(crate) fn run_bound(insns: &[Option<Insn>]) -> Option<u64> {
    let mut calls = Vec::new();
    for (pc, insn) in insns.iter().enumerate() {
        let Some(insn) = insn else { continue };
        let target = |rel: i64| pc as i64 + rel + 1;
        let backwards = |rel: i64| target(rel) <= pc as i64;
        match *insn {
            Insn::Jump { off, .. } | Insn::Ja { off } if backwards(off.into()) => return None,
            Insn::Ja32 { imm } if backwards(imm.into()) => return None,
            Insn::MayGoto { .. }
            | Insn::Callx { .. }
            | Insn::Call(CallTarget::Kfunc { .. } | CallTarget::Helper(TAIL_CALL))
            | Insn::LoadImm64 {
                kind: LdImm64Kind::Func,
                ..
            } => return None,
            Insn::Call(CallTarget::Local(imm)) => {
                calls.push((pc, usize::try_from(target(imm.into())).ok()?));
            }
            _ => {}
        }
    }
    if calls.len() > MAX_CALLS {
        return None;
    }
    let mut memo = Memo {
        len: insns.len(),
        calls: &calls,
        done: Vec::new(),
        open: Vec::new(),
    };
    memo.cost(0)
}

struct Memo<'a> {
    len: usize,
    calls: &'a [(usize, usize)],
    done: Vec<(usize, u64)>,
    /// Entries being computed: meeting one again is recursion.
    open: Vec<usize>,
}

impl Memo<'_> {
    fn cost(&mut self, entry: usize) -> Option<u64> {
        if let Some(&(_, c)) = self.done.iter().find(|(t, _)| *t == entry) {
            return Some(c);
        }
        if self.open.contains(&entry) || self.open.len() > MAX_CALLS {
            return None;
        }
        self.open.push(entry);
        let mut total = self.len.checked_sub(entry)? as u64;
        let calls = self.calls;
        for &(_, target) in calls.iter().filter(|(pc, _)| *pc >= entry) {
            total = total.saturating_add(self.cost(target)?);
        }
        self.open.pop();
        self.done.push((entry, total));
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiary_isa::decode_program;

    fn bound(text: &str) -> Option<u64> {
        let slots = apiary_asm::assemble_slots(text).expect("assembling");
        run_bound(&decode_program(&slots).expect("decoding"))
    }

    #[test]
    fn straight_code_is_bounded_by_its_length() {
        assert_eq!(bound("r0 = 1\nif r0 > 2 goto +1\nr0 = 2\nexit"), Some(4));
    }

    #[test]
    fn a_backward_jump_leaves_no_bound() {
        assert_eq!(bound("r0 = 1\nr0 += 1\nif r0 < 9 goto -2\nexit"), None);
    }

    #[test]
    fn calls_add_their_callees_and_recursion_leaves_no_bound() {
        // Two calls of the 2-instruction function at 4, after `exit`.
        let twice = "call pc+0x3\ncall pc+0x2\nexit\nexit\nr0 = 0\nexit";
        assert_eq!(bound(twice), Some(6 + 2 * 2));
        assert_eq!(bound("call pc-0x1\nexit"), None);
    }
}
