//! A frame's stack, per 8-byte slot as the kernel tracks it
//! (`struct bpf_stack_state`): each byte is invalid (never written),
//! spilled (part of a saved register), misc (some number) or zero, and a
//! slot whose bytes are spilled keeps the register state that was stored,
//! so that a spill and a fill keep pointers and precise scalars.
//!
//! Byte `i` of slot `s` is at `fp - 8*s - 1 - i`, the kernel's numbering
//! (`slot = -off - 1`, `spi = slot / 8`, index `slot % 8`). The rules are
//! the privileged ones (a loader with `CAP_SYS_ADMIN`): reading bytes never
//! written is allowed, and scalars spill precisely at any size.

use crate::regs::RegState;
use crate::scalar::Scalar;

/// The kernel's `MAX_BPF_STACK`.
pub const MAX_STACK: i32 = 512;

/// What a stack byte holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum SlotType {
    /// Never written (`STACK_INVALID`, `?` in the log).
    Invalid,
    /// Part of a spilled register (`STACK_SPILL`, `r`).
    Spill,
    /// Some number (`STACK_MISC`, `m`).
    Misc,
    /// Zero (`STACK_ZERO`, `0`).
    Zero,
    /// Part of an open-coded iterator's state (`STACK_ITER`, `i`): see
    /// [`crate::iter`].
    Iter,
}

/// Eight bytes of stack.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Slot {
    /// Each byte's kind, by the kernel's index within the slot.
    pub bytes: [SlotType; 8],
    /// The register saved here when the bytes are `Spill`.
    pub spilled: RegState,
    /// The iterator whose state the slot holds when the bytes are `Iter`.
    pub iter: Option<crate::iter::IterSlot>,
}

impl Slot {
    /// A slot never written.
    pub(crate) const EMPTY: Slot = Slot {
        bytes: [SlotType::Invalid; 8],
        spilled: RegState::NOT_INIT,
        iter: None,
    };

    /// Whether the slot holds a spilled register (its top byte is spilled).
    pub fn is_spill(&self) -> bool {
        self.bytes[7] == SlotType::Spill
    }

    /// Turns spilled bytes into misc ones (`scrub_spilled_slot` on each).
    fn scrub(&mut self) {
        for b in &mut self.bytes {
            if *b != SlotType::Invalid {
                *b = SlotType::Misc;
            }
        }
    }
}

/// Why a stack access is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackError {
    /// A pointer spilled with fewer than 8 bytes.
    PartialPointerSpill,
    /// A pointer filled with fewer than 8 bytes.
    PartialPointerFill,
    /// A read of `size` bytes at `fp + off` whose byte `byte` is part of
    /// an iterator's state.
    IterRead { off: i32, byte: i32, size: i32 },
}

impl StackError {
    /// The kernel's message.
    pub fn message(&self) -> String {
        match self {
            StackError::PartialPointerSpill => "invalid size of register spill".to_owned(),
            StackError::PartialPointerFill => "invalid size of register fill".to_owned(),
            StackError::IterRead { off, byte, size } => {
                format!("invalid read from stack off {off}+{byte} size {size}")
            }
        }
    }
}

/// A value stored to the stack.
#[derive(Clone, Copy, Debug)]
pub enum Stored {
    /// A register (`STX`).
    Reg(RegState),
    /// An immediate (`ST`), sign-extended.
    Imm(i64),
}

/// One frame's stack: the slots allocated so far (the kernel grows the
/// tracked stack as accesses reach deeper).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Stack {
    /// Slot 0 covers `fp-8..fp-1`.
    pub slots: Vec<Slot>,
}

/// Slot and index of the byte at `fp + off` (`off` negative).
fn locate(off: i32) -> (usize, usize) {
    let slot = (-off - 1) as usize;
    (slot / 8, slot % 8)
}

impl Stack {
    /// Bytes of stack tracked (the deepest access, rounded up to 8).
    pub fn depth(&self) -> i32 {
        self.slots.len() as i32 * 8
    }

    /// Makes sure slot `spi` (0 for `fp-8`) is tracked.
    pub(crate) fn track(&mut self, spi: usize) {
        if self.slots.len() <= spi {
            self.slots.resize(spi + 1, Slot::EMPTY);
        }
    }

    /// Makes sure the bytes down to `fp + off` are tracked.
    fn grow(&mut self, off: i32) {
        let need = locate(off).0 + 1;
        if self.slots.len() < need {
            self.slots.resize(need, Slot::EMPTY);
        }
    }

    /// The kind of the byte at `fp + off`.
    pub fn byte(&self, off: i32) -> SlotType {
        let (spi, i) = locate(off);
        self.slots
            .get(spi)
            .map_or(SlotType::Invalid, |s| s.bytes[i])
    }

    fn set_byte(&mut self, off: i32, kind: SlotType) {
        let (spi, i) = locate(off);
        self.slots[spi].bytes[i] = kind;
    }

    /// Stores `size` bytes at `fp + off` (`check_stack_write_fixed_off`,
    /// privileged); the caller checked bounds and alignment.
    pub fn write(&mut self, off: i32, size: i32, value: Stored) -> Result<(), StackError> {
        self.grow(off);
        let (spi, _) = locate(off);
        self.forget_iter(spi);
        let aligned = off % 8 == 0;
        let spill = match value {
            // Scalars spill precisely at any size when aligned (6.18's
            // `check_stack_write_fixed_off`), zero and unbounded ones too.
            Stored::Reg(r) if r.is_scalar() && aligned => {
                let mut r = r;
                // A narrowing spill cannot keep the link to the register.
                if 64 - r.value.umax.leading_zeros() > 8 * size as u32 {
                    r.id = 0;
                }
                Some(r)
            }
            Stored::Imm(v) if aligned => Some(RegState::scalar(Scalar::constant(v as u64))),
            Stored::Reg(r) if r.kind.is_pointer() => {
                if size != 8 {
                    return Err(StackError::PartialPointerSpill);
                }
                Some(r)
            }
            _ => None,
        };
        let slot = &mut self.slots[spi];
        match spill {
            Some(r) => {
                slot.spilled = r;
                for i in 0..8 {
                    // The rest of the slot: zero bytes stay zero, never
                    // written ones unwritten (`mark_stack_slot_misc`).
                    if i >= 8 - size as usize {
                        slot.bytes[i] = SlotType::Spill;
                    } else if !matches!(slot.bytes[i], SlotType::Invalid | SlotType::Zero) {
                        slot.bytes[i] = SlotType::Misc;
                    }
                }
            }
            None => {
                slot.spilled = RegState::NOT_INIT;
                if slot.is_spill() {
                    slot.scrub();
                }
                let zero = match value {
                    Stored::Reg(r) => r.is_null(),
                    Stored::Imm(v) => v == 0,
                };
                let kind = if zero { SlotType::Zero } else { SlotType::Misc };
                for b in 0..size {
                    self.set_byte(off + b, kind);
                }
            }
        }
        Ok(())
    }

    /// Loads `size` bytes at `fp + off` into a register state
    /// (`check_stack_read_fixed_off`, privileged); the caller truncates or
    /// sign-extends a narrow scalar afterwards.
    pub fn read(&self, off: i32, size: i32) -> Result<RegState, StackError> {
        // An iterator's bytes are only for its kfuncs.
        if let Some(byte) = (0..size).find(|b| self.byte(off + b) == SlotType::Iter) {
            return Err(StackError::IterRead { off, byte, size });
        }
        let (spi, _) = locate(off);
        let Some(slot) = self.slots.get(spi).filter(|s| s.is_spill()) else {
            return Ok(self.read_bytes(off, size));
        };
        let spill_size = 1 + slot.bytes[..7]
            .iter()
            .rev()
            .take_while(|b| **b == SlotType::Spill)
            .count() as i32;
        let r = slot.spilled;
        if size == 8 && spill_size == 8 {
            return Ok(r);
        }
        if !r.is_scalar() {
            return Err(StackError::PartialPointerFill);
        }
        if size <= spill_size && off % 8 == 0 {
            let mut r = r;
            // The fill stays linked to the spilled register when it loses
            // none of its bits (`get_reg_width`).
            if 64 - r.value.umax.leading_zeros() > 8 * size as u32 {
                r.id = 0;
            }
            return Ok(r);
        }
        let kinds: Vec<SlotType> = (0..size).map(|b| self.byte(off + b)).collect();
        let spilled_zero = kinds.iter().all(|k| *k == SlotType::Spill) && r.is_null();
        if spilled_zero || kinds.iter().all(|k| *k == SlotType::Zero) {
            Ok(RegState::scalar(Scalar::constant(0)))
        } else {
            Ok(RegState::unknown())
        }
    }

    /// Reads bytes that are not a spill: all zero gives 0, anything else
    /// an unknown number (`mark_reg_stack_read`).
    fn read_bytes(&self, off: i32, size: i32) -> RegState {
        if (0..size).all(|b| self.byte(off + b) == SlotType::Zero) {
            RegState::scalar(Scalar::constant(0))
        } else {
            RegState::unknown()
        }
    }

    /// A helper may have written `size` bytes at `fp + off`: they become
    /// misc, and spills they touch are destroyed.
    pub fn clobber(&mut self, off: i32, size: i32) {
        self.grow(off);
        for b in 0..size {
            let (spi, _) = locate(off + b);
            self.forget_iter(spi);
            if self.slots[spi].is_spill() {
                self.slots[spi].scrub();
                self.slots[spi].spilled = RegState::NOT_INIT;
            }
            self.set_byte(off + b, SlotType::Misc);
        }
    }

    /// A write into an iterator's slot leaves its bytes some number and the
    /// slot no iterator (the reference it holds stays held).
    fn forget_iter(&mut self, spi: usize) {
        let slot = &mut self.slots[spi];
        if slot.iter.take().is_some() {
            slot.bytes = [SlotType::Misc; 8];
        }
    }

    /// Puts `reg` back whole into slot `spi` (0 for `fp-8`), which is
    /// tracked already.
    pub fn spill(&mut self, spi: usize, reg: RegState) {
        if let Some(slot) = self.slots.get_mut(spi) {
            slot.bytes = [SlotType::Spill; 8];
            slot.spilled = reg;
        }
    }

    /// Every spilled register, for updates that follow ids (NULL checks,
    /// packet ranges, releases).
    pub fn spilled_mut(&mut self) -> impl Iterator<Item = &mut RegState> {
        self.slots
            .iter_mut()
            .filter(|s| s.is_spill())
            .map(|s| &mut s.spilled)
    }
}
