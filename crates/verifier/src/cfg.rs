//! The checks before the walk (`check_subprogs`, `check_cfg`): every
//! instruction decodes, every jump lands on an instruction inside the
//! program, the program ends with an exit or a jump, and every instruction
//! is reachable. Also marks where states are compared.

use std::collections::HashMap;

use apiary_isa::{CallTarget, DecodeErrorKind, Insn, LdImm64Kind, RawInsn};

use crate::error::Rejection;

/// The decoded program: `insns[slot]` is the instruction starting there
/// (`None` for the second slot of an `lddw`).
pub(crate) struct Cfg {
    pub insns: Vec<Option<Insn>>,
    /// Instructions the kernel refuses only when a path reaches them
    /// (reserved fields, bad registers): the refusal, by slot.
    pub invalid: HashMap<usize, Rejection>,
    /// Where states are saved and compared (`mark_prune_point`): jumps'
    /// targets, conditional jumps, local calls and their callees, the
    /// instructions after calls.
    pub prune: Vec<bool>,
    /// Iterator `next` calls, which the walk always saves a state at
    /// (set from the kernel's BTF after this check: see `kfunc`).
    pub iter_next: Vec<bool>,
}

/// Whether `raw` is an atomic operation on 8 or 16 bits.
fn is_narrow_atomic(raw: &RawInsn) -> bool {
    raw.code & 7 == 3 && raw.code & 0xe0 == 0xc0 && !matches!(raw.code & 0x18, 0x00 | 0x18)
}

/// The kernel's message for an instruction that does not decode.
fn decode_message(raw: &RawInsn, kind: &DecodeErrorKind) -> String {
    let class = raw.code & 7;
    let atomic = class == 3 && raw.code & 0xe0 == 0xc0;
    match kind {
        // 8- and 16-bit atomics exist only as load-acquire/store-release.
        DecodeErrorKind::UnknownOpcode(_) if is_narrow_atomic(raw) => {
            "invalid atomic operand size".into()
        }
        DecodeErrorKind::UnknownOpcode(code) => format!("unknown opcode {code:02x}"),
        // The kernel checks the last instruction before the `lddw` pairs.
        DecodeErrorKind::TruncatedLdImm64 => "last insn is not an exit or jmp".into(),
        DecodeErrorKind::BadLdImm64Second => "invalid bpf_ld_imm64 insn".into(),
        DecodeErrorKind::BadField {
            code: 0x18,
            field: "src",
            ..
        } => "unrecognized bpf_ld_imm64 insn".into(),
        DecodeErrorKind::BadRegister { value, .. } => format!("R{value} is invalid"),
        _ => match class {
            0 if raw.code == 0x18 => "BPF_LD_IMM uses reserved fields".into(),
            0 => "invalid BPF_LD mode".into(),
            1 => "BPF_LDX uses reserved fields".into(),
            2 => "BPF_ST uses reserved fields".into(),
            3 if atomic => format!("BPF_ATOMIC uses invalid atomic opcode {:02x}", raw.imm),
            3 => "BPF_STX uses reserved fields".into(),
            4 | 7 => match raw.code & 0xf0 {
                0xb0 => "BPF_MOV uses reserved fields".into(),
                0x80 => "BPF_NEG uses reserved fields".into(),
                0xd0 => "BPF_END uses reserved fields".into(),
                _ => "BPF_ALU uses reserved fields".into(),
            },
            _ => match raw.code & 0xf0 {
                0x00 => "BPF_JA uses reserved fields".into(),
                0x80 => "BPF_CALL uses reserved fields".into(),
                0x90 => "BPF_EXIT uses reserved fields".into(),
                _ => "BPF_JMP/JMP32 uses reserved fields".into(),
            },
        },
    }
}

/// The decoded instructions by slot, and the ones refused when reached.
type Decoded = (Vec<(usize, Insn)>, HashMap<usize, Rejection>);

/// Decodes every slot. Unknown opcodes and malformed `lddw` pairs are
/// refused at once, as the kernel does before its walk; an instruction
/// with reserved fields set or a bad register is refused only if a path
/// reaches it (the kernel checks those in `do_check`), so it decodes here
/// with the fields cleared, or as a jump to the next slot.
fn decode(slots: &[RawInsn]) -> Result<Decoded, Rejection> {
    let mut out = Vec::with_capacity(slots.len());
    let mut invalid = HashMap::new();
    let mut index = 0;
    while index < slots.len() {
        let raw = slots[index];
        let insn = match Insn::decode(&slots[index..]) {
            Ok(insn) => insn,
            // A 8- or 16-bit atomic opcode exists (load-acquire and
            // store-release use it): only `check_atomic`, in the walk,
            // refuses other operations of that size.
            Err(kind @ DecodeErrorKind::UnknownOpcode(_)) if is_narrow_atomic(&raw) => {
                invalid.insert(
                    index,
                    Rejection::new(index, decode_message(&raw, &kind))
                        .cause(format!("the instruction is malformed: {kind}")),
                );
                Insn::Ja { off: 0 }
            }
            Err(
                kind @ (DecodeErrorKind::UnknownOpcode(_)
                | DecodeErrorKind::TruncatedLdImm64
                | DecodeErrorKind::BadLdImm64Second
                | DecodeErrorKind::BadField {
                    code: 0x18,
                    field: "src",
                    ..
                }),
            ) => {
                return Err(Rejection::new(index, decode_message(&raw, &kind))
                    .cause(format!("the instruction does not decode: {kind}")));
            }
            // The kernel checks LDX's reserved fields before the walk.
            Err(kind) if raw.code & 7 == 1 => {
                return Err(Rejection::new(index, decode_message(&raw, &kind))
                    .cause(format!("the instruction is malformed: {kind}")));
            }
            // The kernel ignores `off` of `exit`.
            Err(DecodeErrorKind::ReservedField { field: "off", .. }) if raw.code == 0x95 => {
                Insn::Exit
            }
            Err(kind) => {
                invalid.insert(
                    index,
                    Rejection::new(index, decode_message(&raw, &kind))
                        .cause(format!("the instruction is malformed: {kind}")),
                );
                lenient(&slots[index..]).unwrap_or(Insn::Ja { off: 0 })
            }
        };
        if let Insn::LoadImm64 {
            kind: LdImm64Kind::MapFd | LdImm64Kind::MapIdx,
            imm,
            ..
        } = insn
            && imm >> 32 != 0
        {
            return Err(Rejection::new(index, "unrecognized bpf_ld_imm64 insn")
                .cause("a map reference's second slot must have an immediate of 0"));
        }
        out.push((index, insn));
        index += insn.slots();
    }
    Ok((out, invalid))
}

/// The instruction with its reserved fields cleared, if that decodes.
fn lenient(slots: &[RawInsn]) -> Option<Insn> {
    let mut copy = slots.to_vec();
    for _ in 0..4 {
        match Insn::decode(&copy) {
            Ok(insn) => return Some(insn),
            Err(DecodeErrorKind::ReservedField { field, .. }) => match field {
                "dst" => copy[0].dst = 0,
                "src" => copy[0].src = 0,
                "off" => copy[0].off = 0,
                _ => copy[0].imm = 0,
            },
            Err(_) => return None,
        }
    }
    None
}

/// Decodes and checks the control flow of `slots`.
pub(crate) fn check(slots: &[RawInsn]) -> Result<Cfg, Rejection> {
    let len = slots.len();
    if len == 0 {
        return Err(Rejection::new(0, "program is empty").cause("the program has no instructions"));
    }
    let (decoded, invalid) = decode(slots)?;
    let mut insns = vec![None; len];
    for &(slot, insn) in &decoded {
        insns[slot] = Some(insn);
    }
    for &(slot, insn) in &decoded {
        let Some(rel) = insn.branch_offset() else {
            continue;
        };
        let target = slot as i64 + rel + 1;
        let is_call = matches!(
            insn,
            Insn::Call(CallTarget::Local(_))
                | Insn::LoadImm64 {
                    kind: LdImm64Kind::Func,
                    ..
                }
        );
        if target < 0 || target >= len as i64 {
            let message = if is_call {
                "call to invalid destination".to_string()
            } else {
                format!("jump out of range from insn {slot} to {target}")
            };
            return Err(Rejection::new(slot, message).cause(format!(
                "the jump at insn {slot} leaves the program (target {target})"
            )));
        }
        let target = target as usize;
        if insns[target].is_none() {
            return Err(Rejection::new(
                slot,
                // The kernel names the `lddw` jumped into, one slot before.
                format!("jump into the middle of ldimm64 insn {}", target - 1),
            )
            .cause("the jump lands on the second half of a 64-bit immediate load"));
        }
    }
    let last = decoded.last().map(|&(_, i)| i);
    if !matches!(last, Some(Insn::Exit | Insn::Ja { .. } | Insn::Ja32 { .. })) {
        let slot = decoded.last().map_or(0, |&(s, _)| s);
        return Err(Rejection::new(slot, "last insn is not an exit or jmp")
            .cause("the program can run past its last instruction"));
    }
    reachability(&insns)?;
    let mut prune = vec![false; len];
    for &(slot, insn) in &decoded {
        let target = insn.branch_offset().map(|r| (slot as i64 + r + 1) as usize);
        // `visit_insn`: a conditional jump, itself and its target; an
        // unconditional jump's target; a local call or a function's
        // address (`visit_func_call_insn`), itself, the instruction after
        // it and the function's start; the instruction after a helper
        // call, and the call itself when it calls a callback (a loop the
        // walk goes round, see `callbacks`).
        let marks = match insn {
            Insn::Jump { .. } | Insn::MayGoto { .. } => [Some(slot), target, None],
            Insn::Ja { .. } | Insn::Ja32 { .. } => [target, None, None],
            Insn::Call(CallTarget::Local(_))
            | Insn::LoadImm64 {
                kind: LdImm64Kind::Func,
                ..
            } => [Some(slot), Some(slot + insn.slots()), target],
            Insn::Call(_) if crate::callbacks::calls_callback(&insn) => {
                [Some(slot), Some(slot + 1), None]
            }
            Insn::Call(_) => [Some(slot + 1), None, None],
            _ => [None, None, None],
        };
        for p in marks.into_iter().flatten().filter(|&p| p < len) {
            prune[p] = true;
        }
    }
    Ok(Cfg {
        insns,
        invalid,
        iter_next: vec![false; prune.len()],
        prune,
    })
}

/// The slots control may go to after `slot`.
pub(crate) fn successors(insns: &[Option<Insn>], slot: usize) -> Vec<usize> {
    let Some(insn) = insns[slot] else {
        return Vec::new();
    };
    let next = slot + insn.slots();
    let target = |rel: i64| (slot as i64 + rel + 1) as usize;
    match insn {
        Insn::Exit => Vec::new(),
        Insn::Ja { off } => vec![target(off.into())],
        Insn::Ja32 { imm } => vec![target(imm.into())],
        Insn::Jump { off, .. } | Insn::MayGoto { off } => vec![next, target(off.into())],
        _ => vec![next],
    }
}

/// Every instruction must be reachable from the program's start, following
/// calls and function addresses into their targets (`check_cfg`).
fn reachability(insns: &[Option<Insn>]) -> Result<(), Rejection> {
    let mut seen = vec![false; insns.len()];
    let mut work = vec![0usize];
    while let Some(slot) = work.pop() {
        if slot >= insns.len() || std::mem::replace(&mut seen[slot], true) {
            continue;
        }
        work.extend(successors(insns, slot));
        if let Some(insn) = insns[slot]
            && matches!(
                insn,
                Insn::Call(CallTarget::Local(_))
                    | Insn::LoadImm64 {
                        kind: LdImm64Kind::Func,
                        ..
                    }
            )
            && let Some(rel) = insn.branch_offset()
        {
            work.push((slot as i64 + rel + 1) as usize);
        }
    }
    match (0..insns.len()).find(|&s| insns[s].is_some() && !seen[s]) {
        Some(s) => Err(Rejection::new(s, format!("unreachable insn {s}"))
            .cause(format!("no path from the program's start reaches insn {s}"))),
        None => Ok(()),
    }
}
