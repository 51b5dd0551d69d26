//! Program preparation: decode once, check what the vm relies on, then
//! translate into [`Op`]s (see `op`) with absolute targets.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use apiary_isa::{
    AtomicOp, CallTarget, Insn, LdImm64Kind, PacketMode, RawInsn, Reg, Width, decode_program,
};

use crate::array_lookup::ArrayLookup;
use crate::error::LoadError;
use crate::helpers::{HelperFn, HelperImpl, Helpers};
use crate::map_lookup::{DirectLookup, MapLookup, MapLookups};
use crate::op::{Op, alu_op, atomic_op, endian_op, jump_op, load_op, r, size_bytes, store_op};
use crate::ringbuf_commit::{CommitFn, DirectCommits};
use crate::ringbuf_reserve::{DirectReserve, RecordReservation, Reserves};
use crate::tier::CompiledCode;

/// The kernel's limit on program length (`BPF_COMPLEXITY_LIMIT_INSNS`).
pub const MAX_PROGRAM_SLOTS: usize = 1_000_000;

/// A program prepared for execution, bound to the helper table it was
/// checked against. Cheap to share between threads behind an `Arc`.
///
/// `lddw` pseudo kinds: `MapFd`, `MapValue`, `BtfId`, `MapIdx` and
/// `MapIdxValue` load their 64-bit immediate unchanged: the loader is
/// expected to have replaced it by the address it stands for. `Func` loads
/// the target's slot index, the value [`crate::HelperContext::call_function`]
/// accepts as a callback address.
pub struct Program<E> {
    pub(crate) ops: Box<[Op]>,
    /// Slot index of each op (plus the sentinel), for error reports.
    pub(crate) op_slot: Box<[u32]>,
    /// Op index of each slot; `u32::MAX` on an `lddw`'s second slot.
    pub(crate) slot_op: Box<[u32]>,
    pub(crate) helpers: Arc<Helpers<E>>,
    /// The helpers the program calls directly, resolved at load time.
    pub(crate) called: Box<[CalledHelper<E>]>,
    /// Native code a second tier attached ([`Program::attach_compiled`]).
    pub(crate) compiled: OnceLock<Box<dyn CompiledCode<E>>>,
    /// What the embedder said of its map lookups ([`Program::set_map_lookups`]).
    map_lookups: MapLookups,
    /// The helper the embedder said copies packet bytes
    /// ([`Program::set_packet_load_helper`]).
    packet_load_helper: Option<u32>,
    /// What the embedder said of its ring buffer reservations
    /// ([`Program::set_ringbuf_reserves`]).
    reserves: Option<Reserves<E>>,
    /// What the embedder said of its ring buffer commits
    /// ([`Program::set_ringbuf_commits`]).
    commits: Option<DirectCommits>,
}

/// A helper resolved at load time.
pub(crate) struct CalledHelper<E> {
    pub(crate) id: u32,
    pub(crate) name: &'static str,
    pub(crate) func: HelperFn<E>,
    /// See [`crate::Helpers::register_keeping_input`].
    pub(crate) keeps_input: bool,
}

impl<E> std::fmt::Debug for Program<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("slots", &self.slot_op.len())
            .field("ops", &self.ops.len())
            .finish_non_exhaustive()
    }
}

fn writes_r10(insn: &Insn) -> bool {
    let dst = match *insn {
        Insn::Alu { dst, .. }
        | Insn::Neg { dst, .. }
        | Insn::MovSx { dst, .. }
        | Insn::AddrSpaceCast { dst, .. }
        | Insn::Endian { dst, .. }
        | Insn::Load { dst, .. }
        | Insn::LoadAcquire { dst, .. }
        | Insn::LoadImm64 { dst, .. } => dst,
        Insn::Atomic { op, src, .. } => match op {
            AtomicOp::Add { fetch: false }
            | AtomicOp::Or { fetch: false }
            | AtomicOp::And { fetch: false }
            | AtomicOp::Xor { fetch: false }
            | AtomicOp::CmpXchg => return false,
            _ => src,
        },
        _ => return false,
    };
    dst == Reg::R10
}

impl<E> Program<E> {
    /// Decodes and prepares `slots`, checking every helper call against `helpers`.
    pub fn new(slots: &[RawInsn], helpers: Arc<Helpers<E>>) -> Result<Program<E>, LoadError> {
        if slots.is_empty() {
            return Err(LoadError::Empty);
        }
        if slots.len() > MAX_PROGRAM_SLOTS {
            return Err(LoadError::TooLarge {
                slots: slots.len(),
                limit: MAX_PROGRAM_SLOTS,
            });
        }
        let by_slot = decode_program(slots)?;
        let mut slot_op = vec![u32::MAX; by_slot.len()];
        let mut op_slot = Vec::with_capacity(by_slot.len() + 1);
        for (slot, insn) in by_slot.iter().enumerate() {
            if insn.is_some() {
                slot_op[slot] = op_slot.len() as u32;
                op_slot.push(slot as u32);
            }
        }
        op_slot.push(by_slot.len() as u32);
        let target_of = |pc: usize, rel: i64| -> Result<u32, LoadError> {
            let target = pc as i64 + rel + 1;
            usize::try_from(target)
                .ok()
                .and_then(|t| slot_op.get(t))
                .copied()
                .filter(|&op| op != u32::MAX)
                .ok_or(LoadError::BadTarget { pc, target })
        };
        let mut ops = Vec::with_capacity(op_slot.len());
        let mut called = Vec::new();
        let mut called_index = HashMap::new();
        for (pc, insn) in by_slot.iter().enumerate() {
            let Some(insn) = insn else { continue };
            if writes_r10(insn) {
                return Err(LoadError::WritesFramePointer { pc });
            }
            let op = match *insn {
                Insn::Alu {
                    width,
                    op,
                    dst,
                    src,
                } => alu_op(width, op, dst, src),
                Insn::Neg {
                    width: Width::W64,
                    dst,
                } => Op::Neg64 { d: r(dst) },
                Insn::Neg {
                    width: Width::W32,
                    dst,
                } => Op::Neg32 { d: r(dst) },
                Insn::MovSx {
                    width,
                    dst,
                    src,
                    from,
                } => {
                    let (d, s, bits) = (r(dst), r(src), from.bits() as u8);
                    match width {
                        Width::W64 => Op::MovSx64 { d, s, bits },
                        Width::W32 => Op::MovSx32 { d, s, bits },
                    }
                }
                Insn::AddrSpaceCast { .. } => return Err(LoadError::AddrSpaceCast { pc }),
                Insn::Endian { op, bits, dst } => endian_op(op, bits, r(dst)),
                Insn::Load {
                    size,
                    sign_extend,
                    dst,
                    src,
                    off,
                } => load_op(size, sign_extend, r(dst), r(src), off),
                Insn::Store {
                    size,
                    dst,
                    off,
                    src,
                } => store_op(size, r(dst), off, src),
                Insn::Atomic {
                    size,
                    op,
                    dst,
                    src,
                    off,
                } => atomic_op(size, op, r(dst), r(src), off),
                Insn::LoadAcquire {
                    size,
                    dst,
                    src,
                    off,
                } => Op::LoadAcquire {
                    d: r(dst),
                    s: r(src),
                    off,
                    size: size_bytes(size),
                },
                Insn::StoreRelease {
                    size,
                    dst,
                    src,
                    off,
                } => Op::StoreRelease {
                    d: r(dst),
                    s: r(src),
                    off,
                    size: size_bytes(size),
                },
                Insn::LoadImm64 {
                    dst,
                    kind: LdImm64Kind::Func,
                    imm,
                } => {
                    let rel = i64::from(imm as u32 as i32);
                    target_of(pc, rel)?;
                    Op::Mov64I {
                        d: r(dst),
                        v: (pc as i64 + rel + 1) as u64,
                    }
                }
                Insn::LoadImm64 { dst, imm, .. } => Op::Mov64I { d: r(dst), v: imm },
                Insn::LoadPacket {
                    mode,
                    size,
                    src,
                    imm,
                } => Op::LdPacket {
                    s: match mode {
                        PacketMode::Abs => None,
                        PacketMode::Ind => Some(r(src)),
                    },
                    imm,
                    size: size_bytes(size),
                },
                Insn::Jump {
                    width,
                    cond,
                    dst,
                    src,
                    off,
                } => jump_op(width, cond, dst, src, target_of(pc, off.into())?),
                Insn::Ja { off } => Op::Ja {
                    t: target_of(pc, off.into())?,
                },
                Insn::Ja32 { imm } => Op::Ja {
                    t: target_of(pc, imm.into())?,
                },
                Insn::MayGoto { off } => Op::MayGoto {
                    t: target_of(pc, off.into())?,
                },
                Insn::Call(CallTarget::Local(imm)) => Op::CallLocal {
                    t: target_of(pc, imm.into())?,
                },
                Insn::Call(CallTarget::Helper(id)) => match u32::try_from(id) {
                    Ok(id) if let Some((name, func)) = helpers.get(id) => match func {
                        HelperImpl::Full(func) => {
                            let next = called.len() as u32;
                            let index = *called_index.entry(id).or_insert(next);
                            if index == next {
                                called.push(CalledHelper {
                                    id,
                                    name,
                                    func,
                                    keeps_input: helpers.keeps_input(id),
                                });
                            }
                            Op::CallHelper { index }
                        }
                        HelperImpl::Pure(f) => Op::CallPure { f },
                    },
                    _ => return Err(LoadError::MissingHelper { pc, id }),
                },
                Insn::Call(CallTarget::Kfunc { btf_id, .. }) => {
                    return Err(LoadError::Kfunc { pc, btf_id });
                }
                Insn::Callx { reg } => Op::Callx { r: r(reg) },
                Insn::Exit => Op::Exit,
            };
            ops.push(op);
        }
        ops.push(Op::FellOff);
        Ok(Program {
            ops: ops.into_boxed_slice(),
            op_slot: op_slot.into_boxed_slice(),
            slot_op: slot_op.into_boxed_slice(),
            helpers,
            called: called.into_boxed_slice(),
            compiled: OnceLock::new(),
            map_lookups: MapLookups::default(),
            packet_load_helper: None,
            reserves: None,
            commits: None,
        })
    }

    /// Says that helper `helper_id`, given the program's map number `i`
    /// (its index in the map list the verifier was given) in `r1`, looks
    /// a key up as `by_map[i]` describes, when that is `Some`, with every
    /// promise of [`crate::array_lookup`] or of [`DirectLookup`]: a
    /// compiling tier may then do such lookups itself where the verifier
    /// found the map the same on every path.
    pub fn set_map_lookups(&mut self, helper_id: u32, by_map: Vec<Option<MapLookup>>) {
        self.map_lookups = MapLookups { helper_id, by_map };
    }

    /// What the `index`th directly called helper (the operand of
    /// [`crate::Op::CallHelper`]) does when given map number `map`, if
    /// the embedder described it ([`Program::set_map_lookups`]).
    pub fn map_lookup(&self, index: u32, map: u32) -> Option<MapLookup> {
        let called = self.called.get(index as usize)?;
        if called.id != self.map_lookups.helper_id {
            return None;
        }
        self.map_lookups.by_map.get(map as usize).copied().flatten()
    }

    /// [`Program::map_lookup`] when it is an array's.
    pub fn array_lookup(&self, index: u32, map: u32) -> Option<ArrayLookup> {
        match self.map_lookup(index, map)? {
            MapLookup::Array(array) => Some(array),
            MapLookup::Direct(_) => None,
        }
    }

    /// [`Program::map_lookup`] when it is a call of the map's search.
    pub fn direct_lookup(&self, index: u32, map: u32) -> Option<DirectLookup> {
        match self.map_lookup(index, map)? {
            MapLookup::Direct(direct) => Some(direct),
            MapLookup::Array(_) => None,
        }
    }

    /// Says that helper `helper_id` copies packet bytes with every
    /// promise of [`crate::packet_load`]: a compiling tier may then copy
    /// them itself where that module says.
    pub fn set_packet_load_helper(&mut self, helper_id: u32) {
        self.packet_load_helper = Some(helper_id);
    }

    /// Whether the `index`th directly called helper (the operand of
    /// [`crate::Op::CallHelper`]) is the one that copies packet bytes
    /// ([`Program::set_packet_load_helper`]).
    pub fn loads_packet(&self, index: u32) -> bool {
        self.called
            .get(index as usize)
            .is_some_and(|c| Some(c.id) == self.packet_load_helper)
    }

    /// Says that helper `helper_id`, given the program's map number `i` in
    /// `r1`, reserves ring buffer samples as `by_map[i]` describes, when
    /// that is `Some`, with every promise of [`DirectReserve`], recording
    /// each sample with `record`: a compiling tier may then call the
    /// reservation itself where the verifier found the map the same on
    /// every path.
    pub fn set_ringbuf_reserves(
        &mut self,
        helper_id: u32,
        by_map: Vec<Option<DirectReserve>>,
        record: RecordReservation<E>,
    ) {
        self.reserves = Some(Reserves {
            helper_id,
            by_map,
            record,
        });
    }

    /// What the `index`th directly called helper (the operand of
    /// [`crate::Op::CallHelper`]) reserves when given map number `map`, if
    /// the embedder described it ([`Program::set_ringbuf_reserves`]).
    pub fn ringbuf_reserve(&self, index: u32, map: u32) -> Option<DirectReserve> {
        let called = self.called.get(index as usize)?;
        let reserves = self.reserves.as_ref()?;
        if called.id != reserves.helper_id {
            return None;
        }
        reserves.by_map.get(map as usize).copied().flatten()
    }

    /// Says what the embedder's submit and discard helpers do, with every
    /// promise of [`DirectCommits`]: a compiling tier may then commit
    /// samples itself where the verifier proved `r1` a live reservation.
    pub fn set_ringbuf_commits(&mut self, commits: DirectCommits) {
        self.commits = Some(commits);
    }

    /// What the embedder said of its ring buffer commits, if it did.
    pub fn ringbuf_commits(&self) -> Option<&DirectCommits> {
        self.commits.as_ref()
    }

    /// What the `index`th directly called helper does, if the embedder
    /// said it submits or discards ring buffer samples
    /// ([`Program::set_ringbuf_commits`]).
    pub fn ringbuf_commit(&self, index: u32) -> Option<CommitFn> {
        let called = self.called.get(index as usize)?;
        let commits = self.commits.as_ref()?;
        if called.id == commits.submit_id {
            Some(commits.submit)
        } else if called.id == commits.discard_id {
            Some(commits.discard)
        } else {
            None
        }
    }

    /// Whether the `index`th directly called helper is the one that
    /// reserves ring buffer samples ([`Program::set_ringbuf_reserves`]).
    pub fn reserves_samples(&self, index: u32) -> bool {
        let reserves = self.reserves.as_ref();
        self.called
            .get(index as usize)
            .is_some_and(|c| reserves.is_some_and(|r| r.helper_id == c.id))
    }

    /// What the embedder records of a reservation, if it described them.
    pub(crate) fn record_reservation(&self) -> Option<RecordReservation<E>> {
        self.reserves.as_ref().map(|r| r.record)
    }

    /// The prepared operations, ending with the [`Op::FellOff`] sentinel.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Attaches the native code a compiling tier made for this program;
    /// runners whose engine is [`crate::Engine::Compiled`] then run it
    /// instead of interpreting. Refused (the code is handed back) when code
    /// is already attached.
    pub fn attach_compiled(
        &self,
        code: Box<dyn CompiledCode<E>>,
    ) -> Result<(), Box<dyn CompiledCode<E>>> {
        self.compiled.set(code)
    }

    /// The attached native code, if any.
    pub fn compiled(&self) -> Option<&dyn CompiledCode<E>> {
        self.compiled.get().map(|c| &**c)
    }

    /// Number of 8-byte instruction slots of the original bytecode.
    pub fn slot_count(&self) -> usize {
        self.slot_op.len()
    }

    /// The helper table the program was checked against.
    pub fn helpers(&self) -> &Arc<Helpers<E>> {
        &self.helpers
    }

    /// Slot index of op `pc` (the slot past the end for the sentinel).
    pub fn slot_of(&self, pc: usize) -> usize {
        self.op_slot
            .get(pc)
            .map_or(self.slot_op.len(), |&s| s as usize)
    }

    /// The registered helper `id` (a `callx` operand), with its id as `u32`.
    pub(crate) fn helper_by_id(&self, id: u64) -> Option<(u32, &'static str, HelperImpl<E>)> {
        let id = u32::try_from(id).ok()?;
        self.helpers.get(id).map(|(name, f)| (id, name, f))
    }

    /// Whether the program's `index`th directly called helper (the operand
    /// of [`crate::Op::CallHelper`]) keeps the run's input
    /// ([`crate::Helpers::register_keeping_input`]).
    pub fn helper_keeps_input(&self, index: u32) -> bool {
        self.called
            .get(index as usize)
            .is_some_and(|c| c.keeps_input)
    }

    /// Op index of a callback address (a slot index), if it starts an instruction.
    pub(crate) fn op_of_address(&self, addr: u64) -> Option<usize> {
        let slot = usize::try_from(addr).ok()?;
        match *self.slot_op.get(slot)? {
            u32::MAX => None,
            op => Some(op as usize),
        }
    }
}
