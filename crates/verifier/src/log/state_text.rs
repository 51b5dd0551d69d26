//! Register and stack states as the kernel's verifier log prints them
//! (`print_verifier_state` and `print_reg_state` in `kernel/bpf/log.c`):
//! `R1=ctx() R2=pkt(r=14) R3=scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))
//! R10=fp0 fp-8=mmmmmmmm`.
//!
//! Numbers are decimal when small and hexadecimal otherwise, as the kernel
//! prints them; a scalar's bounds that are equal are printed once
//! (`smin=umin=1`); a `btf_id` pointer is named by its struct
//! (`trusted_ptr_task_struct()`). The `P` of precise scalars is printed
//! only for a checkpoint's state, where Apiary keeps precision marks (the
//! state a loop repeats); a path's own are not tracked.

use apiary_btf::{Btf, TypeId};

use crate::program::{MapInfo, Program};
use crate::regs::{RegState, RegType};
use crate::scalar::Scalar;
use crate::stack::SlotType;
use crate::state::State;

/// What a register's text names besides itself: the program's maps
/// (`map=values`) and the kernel's BTF types (`ptr_task_struct`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Names<'a> {
    /// The program's maps, by index.
    pub maps: &'a [MapInfo],
    /// The kernel's BTF, which numbers the structs `btf_id` pointers
    /// point to.
    pub btf: Option<&'a Btf>,
}

impl<'a> Names<'a> {
    /// The names `prog` refers to.
    pub fn of(prog: &Program<'a>) -> Names<'a> {
        Names {
            maps: prog.maps,
            btf: prog.kernel_btf,
        }
    }
}

/// Which registers and stack slots of the innermost frame to print: the
/// ones an instruction touched (the kernel's "scratched" marks), or all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scratch {
    /// Bit `r` for register `r`.
    pub regs: u16,
    /// Bit `s` for the stack slot `fp-8*(s+1)`.
    pub slots: u64,
}

impl Scratch {
    /// Everything.
    pub const ALL: Scratch = Scratch {
        regs: u16::MAX,
        slots: u64::MAX,
    };

    /// Whether nothing is marked.
    pub fn is_empty(self) -> bool {
        self.regs == 0 && self.slots == 0
    }
}

/// `verbose_snum`: decimal within 16 bits, else hexadecimal.
fn snum(n: i64) -> String {
    if (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&n) {
        n.to_string()
    } else {
        format!("{:#x}", n as u64)
    }
}

/// `verbose_unum`: decimal up to 65535, else hexadecimal.
fn unum(n: u64) -> String {
    if n <= u64::from(u16::MAX) {
        n.to_string()
    } else {
        format!("{n:#x}")
    }
}

/// A scalar's bounds that say something, equal ones merged as the kernel
/// merges them (`print_scalar_ranges`): a bound joins an earlier one of
/// the same end (min or max) with the same value and sign.
fn scalar_ranges(v: &Scalar, parts: &mut Vec<String>) {
    let s32 = |n: i32| {
        let wide = i64::from(n);
        if snum(wide).starts_with("0x") {
            u64::from(n as u32)
        } else {
            wide as u64
        }
    };
    let mut bounds = [
        ("smin", v.smin as u64, v.smin == i64::MIN),
        ("smax", v.smax as u64, v.smax == i64::MAX),
        ("umin", v.umin, v.umin == 0),
        ("umax", v.umax, v.umax == u64::MAX),
        ("smin32", s32(v.s32_min), v.s32_min == i32::MIN),
        ("smax32", s32(v.s32_max), v.s32_max == i32::MAX),
        ("umin32", u64::from(v.u32_min), v.u32_min == 0),
        ("umax32", u64::from(v.u32_max), v.u32_max == u32::MAX),
    ];
    let negative = |name: &str, val: u64| name.starts_with('s') && (val as i64) < 0;
    for i in 0..bounds.len() {
        let (name, val, omit) = bounds[i];
        if omit {
            continue;
        }
        let mut text = format!("{name}=");
        for other in bounds.iter_mut().skip(i + 2).step_by(2) {
            if other.2 || other.1 != val || negative(other.0, other.1) != negative(name, val) {
                continue;
            }
            other.2 = true;
            text.push_str(&format!("{}=", other.0));
        }
        text.push_str(&if name.starts_with('s') {
            snum(val as i64)
        } else {
            unum(val)
        });
        parts.push(text);
    }
}

/// A map's name as the kernel keeps it (`BPF_OBJ_NAME_LEN`, 15 bytes).
fn map_name(map: &MapInfo) -> &str {
    let end = map
        .name
        .char_indices()
        .nth(15)
        .map_or(map.name.len(), |(i, _)| i);
    &map.name[..end]
}

/// One register as `print_reg_state` prints it, in frame `frameno`.
pub fn reg_text(reg: &RegState, frameno: u8, names: Names) -> String {
    marked_reg_text(reg, frameno, false, names)
}

/// [`reg_text`], with the `P` of a scalar marked `precise`.
fn marked_reg_text(reg: &RegState, frameno: u8, precise: bool, names: Names) -> String {
    let v = &reg.value;
    let p = if precise && reg.kind == RegType::Scalar {
        "P"
    } else {
        ""
    };
    match reg.kind {
        RegType::NotInit => return "?".to_string(),
        RegType::Scalar if v.is_const() => return format!("{p}{}", snum(v.var_off.value as i64)),
        _ => {}
    }
    let mut out = format!("{p}{}", reg.type_name());
    if reg.kind == RegType::BtfId
        && let Some(name) = names.btf.and_then(|b| b.name(TypeId(reg.btf_id)).ok())
    {
        out.push_str(name);
    }
    if reg.kind == RegType::Stack {
        if reg.frameno != frameno {
            out.push_str(&format!("[{}]", reg.frameno));
        }
        if v.is_const() {
            return out + &snum((v.var_off.value as i64).wrapping_add(reg.off.into()));
        }
    }
    let mut parts = Vec::new();
    if reg.id != 0 {
        parts.push(format!("id={}", reg.id));
    }
    if reg.ref_obj_id != 0 {
        parts.push(format!("ref_obj_id={}", reg.ref_obj_id));
    }
    if matches!(
        reg.kind,
        RegType::MapPtr | RegType::MapValue | RegType::MapKey
    ) && let Some(map) = names.maps.get(reg.map as usize)
    {
        if !map.name.is_empty() {
            parts.push(format!("map={}", map_name(map)));
        }
        parts.push(format!("ks={},vs={}", map.key_size, map.value_size));
    }
    if reg.kind != RegType::Scalar && reg.off != 0 {
        parts.push(format!("off={}", snum(reg.off.into())));
    }
    if matches!(reg.kind, RegType::Packet | RegType::PacketMeta) {
        parts.push(format!("r={}", unum(reg.range as i64 as u64)));
    }
    if matches!(reg.kind, RegType::Mem | RegType::RingbufMem) {
        parts.push(format!("sz={}", unum(reg.mem_size.into())));
    }
    if v.is_const() {
        if v.var_off.value != 0 {
            parts.push(format!("imm={}", snum(v.var_off.value as i64)));
        }
    } else {
        scalar_ranges(v, &mut parts);
        if v.var_off.mask != u64::MAX {
            parts.push(format!(
                "var_off=(0x{:x}; 0x{:x})",
                v.var_off.value, v.var_off.mask
            ));
        }
    }
    format!("{out}({})", parts.join(","))
}

/// The log character of a stack byte (`slot_type_char`).
fn slot_char(kind: SlotType) -> char {
    match kind {
        SlotType::Invalid => '?',
        SlotType::Spill => 'r',
        SlotType::Misc => 'm',
        SlotType::Zero => '0',
        SlotType::Iter => 'i',
    }
}

/// The innermost frame of `state` as `print_verifier_state` prints it,
/// limited to `scratch`: ` R1=ctx() R10=fp0 fp-8=mmmmmmmm`, each item
/// after a space, ` frameN:` first in a callee, the references held and
/// ` cb` in a callback after.
pub fn state_text(state: &State, scratch: Scratch, names: Names) -> String {
    frame_text(state, state.frames.len() - 1, scratch, names)
}

/// [`state_text`] for the frame `index` of `state` (0 the program's).
pub fn frame_text(state: &State, index: usize, scratch: Scratch, names: Names) -> String {
    marked_frame_text(state, index, scratch, Scratch::default(), names)
}

/// [`frame_text`], with a `P` before the scalars `precise` marks (in
/// registers and spilled slots), as the kernel marks those a path's
/// safety depended on.
pub(crate) fn marked_frame_text(
    state: &State,
    index: usize,
    scratch: Scratch,
    precise: Scratch,
    names: Names,
) -> String {
    let frame = &state.frames[index];
    let mut out = String::new();
    if frame.frameno != 0 {
        out.push_str(&format!(" frame{}:", frame.frameno));
    }
    for (r, reg) in frame.regs.iter().enumerate() {
        if reg.kind == RegType::NotInit || scratch.regs & (1 << r) == 0 {
            continue;
        }
        let text = marked_reg_text(reg, frame.frameno, precise.regs & (1 << r) != 0, names);
        out.push_str(&format!(" R{r}={text}"));
    }
    for (i, slot) in frame.stack.slots.iter().enumerate() {
        let marked = i >= 64 || scratch.slots & (1 << i) != 0;
        if !marked || slot.bytes.iter().all(|b| *b == SlotType::Invalid) {
            continue;
        }
        let at = -8 * (i as i64 + 1);
        if let Some(iter) = slot.iter {
            out.push_str(&format!(" fp{at}={}", iter.text()));
            continue;
        }
        // The bytes above a spill smaller than the slot are printed
        // before the spilled register.
        let shown = if slot.is_spill() {
            slot.bytes
                .iter()
                .position(|b| *b == SlotType::Spill)
                .unwrap_or(8)
        } else {
            8
        };
        let kinds: String = slot.bytes[..shown].iter().map(|b| slot_char(*b)).collect();
        out.push_str(&format!(" fp{at}={kinds}"));
        if slot.is_spill() {
            let marked = precise.slots.checked_shr(i as u32).unwrap_or(0) & 1 != 0;
            out.push_str(&marked_reg_text(
                &slot.spilled,
                frame.frameno,
                marked,
                names,
            ));
        }
    }
    // The kernel keeps a held spin lock among the references, by the id
    // of the map value it was taken through.
    let ids: Vec<String> = state
        .refs
        .iter()
        .map(|r| r.id)
        .chain(state.lock.map(|l| l.id))
        .map(|id| id.to_string())
        .collect();
    if !ids.is_empty() {
        out.push_str(&format!(" refs={}", ids.join(",")));
    }
    if frame.callback {
        out.push_str(" cb");
    }
    if frame.async_cb {
        out.push_str(" async_cb");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(v: Scalar) -> String {
        reg_text(&RegState::scalar(v), 0, Names::default())
    }

    // The expected texts are the kernel 6.18's own, from its level-2 logs.
    #[test]
    fn scalars_print_as_the_kernel_prints_them() {
        assert_eq!(scalar(Scalar::constant(1)), "1");
        assert_eq!(scalar(Scalar::UNKNOWN), "scalar()");
        assert_eq!(
            scalar(Scalar::unsigned_range(0, 255)),
            "scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))"
        );
        assert_eq!(
            scalar(Scalar::constant(0x8000_0000_0000_0000)),
            "0x8000000000000000"
        );
        assert_eq!(scalar(Scalar::constant(-2i64 as u64)), "-2");
    }

    #[test]
    fn pointers_name_their_type_and_what_they_know() {
        let ctx = RegState::pointer(RegType::Ctx);
        assert_eq!(reg_text(&ctx, 0, Names::default()), "ctx()");
        let pkt = RegState {
            off: 1,
            range: crate::regs::BEYOND_PKT_END,
            ..RegState::pointer(RegType::Packet)
        };
        assert_eq!(
            reg_text(&pkt, 0, Names::default()),
            "pkt(off=1,r=0xfffffffffffffffe)"
        );
        let end = RegState::pointer(RegType::PacketEnd);
        assert_eq!(reg_text(&end, 0, Names::default()), "pkt_end()");
        let fp = RegState {
            off: -8,
            ..RegState::pointer(RegType::Stack)
        };
        assert_eq!(reg_text(&fp, 0, Names::default()), "fp-8");
        assert_eq!(reg_text(&fp, 1, Names::default()), "fp[0]-8");
        let maps = [MapInfo {
            name: "values".into(),
            key_size: 4,
            value_size: 8,
            ..MapInfo::default()
        }];
        let value = RegState {
            id: 1,
            maybe_null: true,
            ..RegState::pointer(RegType::MapValue)
        };
        assert_eq!(
            reg_text(
                &value,
                0,
                Names {
                    maps: &maps,
                    btf: None
                }
            ),
            "map_value_or_null(id=1,map=values,ks=4,vs=8)"
        );
    }

    #[test]
    fn a_state_prints_the_marked_registers_and_slots() {
        let mut state = State::entry();
        assert_eq!(
            state_text(&state, Scratch::ALL, Names::default()),
            " R1=ctx() R10=fp0"
        );
        state.frame_mut().stack.slots.push(crate::stack::Slot {
            bytes: [SlotType::Misc; 8],
            spilled: RegState::NOT_INIT,
            iter: None,
        });
        let only_r1 = Scratch {
            regs: 1 << 1,
            slots: 0,
        };
        assert_eq!(state_text(&state, only_r1, Names::default()), " R1=ctx()");
        assert_eq!(
            state_text(&state, Scratch::ALL, Names::default()),
            " R1=ctx() R10=fp0 fp-8=mmmmmmmm"
        );
    }
}
