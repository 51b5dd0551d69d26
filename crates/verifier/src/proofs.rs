//! What the walk proved about each memory instruction, for a JIT that
//! drops the checks the proof makes redundant ([`AccessProofs`]).
//!
//! Every visit of a load, store or atomic records the kind of memory its
//! base register pointed into; the access passed that kind's bounds check
//! on that visit (a failing check rejects the whole program). The walk
//! visits every state a run can reach or a state that covers it (pruning
//! keeps only states a visited one covers), so an instruction whose every
//! visit had one kind is in bounds of that kind on every run. An
//! instruction visited with two kinds, or with a kind not listed in
//! [`AccessProof`], or never visited (dead code, bodies of callbacks the
//! walk does not enter) gets no proof.
//!
//! A context proof says less than the others: only that the base register
//! holds the context pointer the run started with (in `r1`), unmoved (the
//! walk refuses a moved or variably offset context pointer), so that the
//! access is at that pointer plus the instruction's offset. Whether those
//! bytes are the run's: the runtime rewrites some context accesses to its
//! own layout (another offset and size, the same base register), so the
//! kernel's field rules do not bound them; a JIT must check the
//! rewritten offsets against the memory `r1` points to when a run starts.
//!
//! What a proof does not cover, and why that is safe to leave out:
//! - helper memory, map keys, sockets and other kernel objects: whether
//!   the runtime's memory behind them has the size the prototypes promise
//!   is the runtime's business, not something the walk saw;
//! - atomics' alignment: it depends on the real address (a packet's), so
//!   a JIT keeps that check.
//! - values of inner maps (a map of maps' template): the runtime, like the
//!   kernel's syscall, may store an inner map whose value is smaller than
//!   the template's, and nothing the walk saw rules that out.
//!
//! A program that hands a function to a helper whose callback the walk
//! does not follow gets no proofs at all: the callback's body may share
//! instructions with code the walk did verify, in another state.

use apiary_isa::{CallTarget, Insn};

use crate::call_maps::{CallMapRecorder, CallMaps};
use crate::program::MapInfo;
use crate::regs::RegType;
use crate::state::State;

/// Where an access is proven to stay, on every run that reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessProof {
    /// Inside the 512 bytes of a live frame's stack (the base register is
    /// `r10` or a pointer derived from some frame's `r10`).
    Stack,
    /// Inside the packet: `data_meta..data_end` as the context's packet
    /// fields give them when the access runs.
    Packet,
    /// Inside a map value of its map's `value_size` bytes (a value a
    /// lookup or an iteration callback handed out, or global data), and
    /// only written when the map is writable by programs.
    MapValue,
    /// At the instruction's offset from the context pointer the run
    /// started with in `r1` (see the module doc for what that leaves to
    /// the JIT).
    Context,
}

/// The proofs of one accepted program: per instruction slot, the proof of
/// its memory access, if it has one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessProofs {
    by_insn: Vec<Option<AccessProof>>,
}

impl AccessProofs {
    /// The proof of the access at instruction slot `insn`.
    pub fn get(&self, insn: usize) -> Option<AccessProof> {
        self.by_insn.get(insn).copied().flatten()
    }

    /// Number of instruction slots the table covers (the program's).
    pub fn len(&self) -> usize {
        self.by_insn.len()
    }

    /// Whether the table covers no instruction.
    pub fn is_empty(&self) -> bool {
        self.by_insn.is_empty()
    }

    /// How many instructions have a proof of `kind`.
    pub fn count(&self, kind: AccessProof) -> usize {
        self.by_insn.iter().filter(|p| **p == Some(kind)).count()
    }
}

/// One instruction's record so far.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Seen {
    Never,
    Always(AccessProof),
    Mixed,
}

/// Collects the proofs, and the maps helper calls are given, during the
/// walk.
pub(crate) struct Recorder {
    seen: Vec<Seen>,
    call_maps: CallMapRecorder,
    /// By map index: the map is some map of maps' inner template.
    inner_template: Vec<bool>,
    /// A helper may call a function the walk does not follow.
    unfollowed_callback: bool,
}

/// Helpers whose callbacks the walk enters (`call::callback`).
const FOLLOWED_CALLBACKS: [i32; 2] = [164, 181];

impl Recorder {
    pub(crate) fn new(slots: usize, maps: &[MapInfo]) -> Self {
        let mut inner_template = vec![false; maps.len()];
        for inner in maps.iter().filter_map(|m| m.inner) {
            if let Some(t) = inner_template.get_mut(inner as usize) {
                *t = true;
            }
        }
        Recorder {
            seen: vec![Seen::Never; slots],
            call_maps: CallMapRecorder::new(slots),
            inner_template,
            unfollowed_callback: false,
        }
    }

    /// Records the visit of `insn` at `pc` in `state`, before it runs.
    pub(crate) fn visit(&mut self, state: &State, pc: usize, insn: &Insn) {
        let regs = &state.frame().regs;
        let base = match *insn {
            Insn::Load { src, .. } | Insn::LoadAcquire { src, .. } => src,
            Insn::Store { dst, .. } | Insn::Atomic { dst, .. } | Insn::StoreRelease { dst, .. } => {
                dst
            }
            Insn::Call(CallTarget::Helper(id)) => {
                if !FOLLOWED_CALLBACKS.contains(&id)
                    && regs[1..=5].iter().any(|r| r.kind == RegType::Func)
                {
                    self.unfollowed_callback = true;
                }
                let r1 = &regs[1];
                let map = (r1.kind == RegType::MapPtr && !self.is_inner_template(r1.map))
                    .then_some(r1.map);
                self.call_maps.visit(pc, map);
                return;
            }
            _ => return,
        };
        let reg = &regs[base.index() as usize];
        let proof = match reg.kind {
            RegType::Stack => Some(AccessProof::Stack),
            RegType::Packet | RegType::PacketMeta => Some(AccessProof::Packet),
            RegType::Ctx => Some(AccessProof::Context),
            RegType::MapValue if !self.is_inner_template(reg.map) => Some(AccessProof::MapValue),
            _ => None,
        };
        let Some(slot) = self.seen.get_mut(pc) else {
            return;
        };
        *slot = match (*slot, proof) {
            (Seen::Never, Some(p)) => Seen::Always(p),
            (Seen::Always(old), Some(p)) if old == p => Seen::Always(p),
            _ => Seen::Mixed,
        };
    }

    /// Whether map `map` is some map of maps' inner template (or no map of
    /// the program's): its real map is only known at run time.
    fn is_inner_template(&self, map: u32) -> bool {
        self.inner_template
            .get(map as usize)
            .copied()
            .unwrap_or(true)
    }

    /// The tables, once the walk accepted the program.
    pub(crate) fn finish(self) -> (AccessProofs, CallMaps) {
        let call_maps = self.call_maps.finish(!self.unfollowed_callback);
        let by_insn = self
            .seen
            .into_iter()
            .map(|seen| match seen {
                Seen::Always(p) if !self.unfollowed_callback => Some(p),
                _ => None,
            })
            .collect();
        (AccessProofs { by_insn }, call_maps)
    }
}
