//! Instructions as the kernel's verifier log prints them
//! (`print_bpf_insn` in `kernel/bpf/disasm.c`): the opcode byte in
//! parentheses, then C-like text, `(61) r2 = *(u32 *)(r1 +76)`,
//! `(85) call bpf_map_lookup_elem#1`, `(2d) if r3 > r4 goto pc+1`.
//!
//! It reads the raw fields, as the kernel does, so that an instruction the
//! decoder refuses still prints the way the kernel prints it before its
//! refusal.

use apiary_isa::RawInsn;

const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_ST: u8 = 0x02;
const CLASS_STX: u8 = 0x03;
const CLASS_ALU: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_JMP32: u8 = 0x06;
const CLASS_ALU64: u8 = 0x07;

const MODE_IMM: u8 = 0x00;
const MODE_ABS: u8 = 0x20;
const MODE_IND: u8 = 0x40;
const MODE_MEM: u8 = 0x60;
const MODE_MEMSX: u8 = 0x80;
const MODE_ATOMIC: u8 = 0xc0;

const SRC_X: u8 = 0x08;

/// `BPF_FETCH` and the atomic operations that are not ALU operations.
const FETCH: i32 = 0x01;
const XCHG: i32 = 0xe0 | FETCH;
const CMPXCHG: i32 = 0xf0 | FETCH;
const LOAD_ACQ: i32 = 0x100;
const STORE_REL: i32 = 0x110;

/// The class names of `bpf_class_string`, for opcodes nothing else names.
const CLASS_NAMES: [&str; 8] = ["ld", "ldx", "st", "stx", "alu", "jmp", "jmp32", "alu64"];

/// `bpf_alu_string`, by `BPF_OP >> 4`.
const ALU_OPS: [&str; 16] = [
    "+=", "-=", "*=", "/=", "|=", "&=", "<<=", ">>=", "neg", "%=", "^=", "=", "s>>=", "endian",
    "???", "???",
];

/// `bpf_jmp_string`, by `BPF_OP >> 4`.
const JMP_OPS: [&str; 16] = [
    "jmp", "==", ">", ">=", "&", "!=", "s>", "s>=", "call", "exit", "<", "<=", "s<", "s<=", "???",
    "may_goto",
];

/// The atomic operations named by their ALU operation.
fn atomic_name(imm: i32) -> Option<&'static str> {
    match imm & !FETCH {
        0x00 => Some("add"),
        0x40 => Some("or"),
        0x50 => Some("and"),
        0xa0 => Some("xor"),
        _ => None,
    }
}

/// `u8`..`u64` by the size bits.
fn size_name(code: u8) -> &'static str {
    match code & 0x18 {
        0x00 => "u32",
        0x08 => "u16",
        0x10 => "u8",
        _ => "u64",
    }
}

/// `s8`..`s32` for sign-extending loads.
fn signed_size_name(code: u8) -> &'static str {
    match code & 0x18 {
        0x00 => "s32",
        0x08 => "s16",
        0x10 => "s8",
        _ => "s64",
    }
}

/// A helper's name as the kernel's `func_id_name` gives it (`unknown`
/// past the last helper).
fn helper_name(id: i32) -> String {
    apiary_loader::helpers::helper_name(id).unwrap_or_else(|| "unknown".to_string())
}

/// `%+d` of C.
fn signed(n: i64) -> String {
    format!("{n:+}")
}

/// The text the kernel's log gives the instruction at `slots[pc]`
/// (without the `N: ` prefix); a `lddw` takes its upper half from the
/// next slot.
pub fn insn_text(slots: &[RawInsn], pc: usize) -> String {
    insn_text_in(slots, pc, None)
}

/// [`insn_text`], naming a kfunc call's function from `kernel_btf`, the
/// BTF its id is in, as the kernel does (`call bpf_iter_num_new#63675`).
pub fn insn_text_in(slots: &[RawInsn], pc: usize, kernel_btf: Option<&apiary_btf::Btf>) -> String {
    let insn = slots[pc];
    let code = insn.code;
    let class = code & 0x07;
    let (d, s, off, imm) = (insn.dst, insn.src, insn.off, insn.imm);
    let head = format!("({code:02x})");
    let text = match class {
        CLASS_ALU | CLASS_ALU64 => alu_text(insn, class == CLASS_ALU64),
        CLASS_STX if code & 0xe0 == MODE_MEM => {
            format!(
                "*({} *)(r{d} {}) = r{s}",
                size_name(code),
                signed(off.into())
            )
        }
        CLASS_STX if code & 0xe0 == MODE_ATOMIC => match atomic_text(insn) {
            Some(text) => text,
            // An unknown operation: the kernel prints only this.
            None => return format!("BUG_{code:02x}"),
        },
        CLASS_ST if code & 0xe0 == MODE_MEM => {
            format!(
                "*({} *)(r{d} {}) = {imm}",
                size_name(code),
                signed(off.into())
            )
        }
        CLASS_LDX if matches!(code & 0xe0, MODE_MEM | MODE_MEMSX) => {
            let size = if code & 0xe0 == MODE_MEMSX {
                signed_size_name(code)
            } else {
                size_name(code)
            };
            format!("r{d} = *({size} *)(r{s} {})", signed(off.into()))
        }
        CLASS_LD if code & 0xe0 == MODE_ABS => {
            format!("r0 = *({} *)skb[{imm}]", size_name(code))
        }
        CLASS_LD if code & 0xe0 == MODE_IND => {
            format!("r0 = *({} *)skb[r{s} + {imm}]", size_name(code))
        }
        CLASS_LD if code == (CLASS_LD | MODE_IMM | 0x18) => {
            let high = slots.get(pc + 1).map_or(0, |n| n.imm as u32);
            let value = u64::from(imm as u32) | u64::from(high) << 32;
            format!("r{d} = 0x{value:x}")
        }
        CLASS_JMP | CLASS_JMP32 => jump_text(insn, class == CLASS_JMP32, kernel_btf),
        _ => CLASS_NAMES[usize::from(class)].to_string(),
    };
    format!("{head} {text}")
}

fn alu_text(insn: RawInsn, wide: bool) -> String {
    let (code, d, s, off, imm) = (insn.code, insn.dst, insn.src, insn.off, insn.imm);
    let r = if wide { 'r' } else { 'w' };
    let op = code >> 4;
    match op {
        // BPF_END: `le`/`be` in the 32-bit class, `bswap` in the 64-bit one.
        0xd => {
            let name = if wide {
                "bswap"
            } else if code & SRC_X != 0 {
                "be"
            } else {
                "le"
            };
            format!("r{d} = {name}{imm} r{d}")
        }
        0x8 => format!("{r}{d} = -{r}{d}"),
        // BPF_MOV with an offset: sign extension, or an arena cast.
        0xb if code & SRC_X != 0 && wide && off == 1 => format!(
            "r{d} = addr_space_cast(r{s}, {}, {})",
            (imm as u32) >> 16,
            imm as u32 & 0xffff
        ),
        0xb if code & SRC_X != 0 && off != 0 => format!("{r}{d} = (s{off}){r}{s}"),
        _ => {
            let name = match (op, off) {
                (0x3, 1) => "s/=",
                (0x9, 1) => "s%=",
                _ => ALU_OPS[usize::from(op)],
            };
            if code & SRC_X != 0 {
                format!("{r}{d} {name} {r}{s}")
            } else {
                format!("{r}{d} {name} {imm}")
            }
        }
    }
}

/// An atomic instruction's text, `None` for an unknown operation.
fn atomic_text(insn: RawInsn) -> Option<String> {
    let (code, d, s, off, imm) = (insn.code, insn.dst, insn.src, insn.off, insn.imm);
    let size = size_name(code);
    let bits = if code & 0x18 == 0x18 { "64" } else { "" };
    let at = format!("(r{d} {})", signed(off.into()));
    Some(match (atomic_name(imm), imm) {
        (Some(_), _) if imm & FETCH == 0 => {
            let op = ALU_OPS[((imm as u32 >> 4) & 0xf) as usize];
            format!("lock *({size} *){at} {op} r{s}")
        }
        (Some(name), _) => format!("r{s} = atomic{bits}_fetch_{name}(({size} *){at}, r{s})"),
        (None, XCHG) => format!("r{s} = atomic{bits}_xchg(({size} *){at}, r{s})"),
        (None, CMPXCHG) => format!("r0 = atomic{bits}_cmpxchg(({size} *){at}, r0, r{s})"),
        (None, LOAD_ACQ) => format!(
            "r{d} = load_acquire(({size} *)(r{s} {}))",
            signed(off.into())
        ),
        (None, STORE_REL) => format!("store_release(({size} *){at}, r{s})"),
        _ => return None,
    })
}

fn jump_text(insn: RawInsn, narrow: bool, kernel_btf: Option<&apiary_btf::Btf>) -> String {
    let (code, d, s, off, imm) = (insn.code, insn.dst, insn.src, insn.off, insn.imm);
    let op = code >> 4;
    let r = if narrow { 'w' } else { 'r' };
    match op {
        0x8 if code & SRC_X != 0 => format!("call r{d}"),
        0x8 if s == 1 => format!("call pc{}", signed(imm.into())),
        0x8 if s == 2 => {
            let name = kernel_btf
                .filter(|_| insn.off == 0)
                .and_then(|btf| btf.name(apiary_btf::TypeId(imm as u32)).ok())
                .filter(|name| !name.is_empty())
                .unwrap_or("kernel-function");
            format!("call {name}#{imm}")
        }
        0x8 => format!("call {}#{imm}", helper_name(imm)),
        0x9 => "exit".to_string(),
        0x0 if narrow => format!("gotol pc{}", signed(imm.into())),
        0x0 => format!("goto pc{}", signed(off.into())),
        0xe => format!("may_goto pc{}", signed(off.into())),
        _ if code & SRC_X != 0 => format!(
            "if {r}{d} {} {r}{s} goto pc{}",
            JMP_OPS[usize::from(op)],
            signed(off.into())
        ),
        _ => format!(
            "if {r}{d} {} 0x{:x} goto pc{}",
            JMP_OPS[usize::from(op)],
            imm as u32,
            signed(off.into())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slot of these fields, through its wire encoding.
    fn raw(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> RawInsn {
        let [o0, o1] = off.to_le_bytes();
        let [i0, i1, i2, i3] = imm.to_le_bytes();
        RawInsn::from_le_bytes([code, src << 4 | dst, o0, o1, i0, i1, i2, i3])
    }

    // The classic forms' lines are the kernel 6.18's own, from its
    // level-2 logs of `tests/verifier` cases; the others follow
    // `print_bpf_insn`.
    #[test]
    fn prints_as_the_kernel_log_does() {
        let expected = [
            (raw(0x61, 2, 1, 76, 0), "(61) r2 = *(u32 *)(r1 +76)"),
            (raw(0x7a, 10, 0, -8, 0), "(7a) *(u64 *)(r10 -8) = 0"),
            (raw(0x07, 3, 0, 0, -8), "(07) r3 += -8"),
            (raw(0xbf, 3, 2, 0, 0), "(bf) r3 = r2"),
            (raw(0x2d, 3, 4, 1, 0), "(2d) if r3 > r4 goto pc+1"),
            (raw(0x2e, 3, 4, 1, 0), "(2e) if w3 > w4 goto pc+1"),
            (raw(0x15, 0, 0, 2, 0), "(15) if r0 == 0x0 goto pc+2"),
            (raw(0x85, 0, 0, 0, 1), "(85) call bpf_map_lookup_elem#1"),
            (raw(0x85, 0, 1, 0, 2), "(85) call pc+2"),
            (raw(0x95, 0, 0, 0, 0), "(95) exit"),
            (raw(0x05, 0, 0, -2, 0), "(05) goto pc-2"),
            (raw(0x06, 0, 0, 0, 1), "(06) gotol pc+1"),
            (raw(0xc7, 0, 0, 0, 64), "(c7) r0 s>>= 64"),
            (raw(0x30, 0, 0, 0, 0), "(30) r0 = *(u8 *)skb[0]"),
            (raw(0xdb, 10, 1, -8, 0), "(db) lock *(u64 *)(r10 -8) += r1"),
            (raw(0xc3, 10, 1, -8, 0), "(c3) lock *(u32 *)(r10 -8) += r1"),
            (raw(0xbf, 1, 2, 8, 0), "(bf) r1 = (s8)r2"),
            (raw(0xbc, 1, 2, 16, 0), "(bc) w1 = (s16)w2"),
            (raw(0x3f, 1, 2, 1, 0), "(3f) r1 s/= r2"),
            (raw(0xdc, 1, 0, 0, 16), "(dc) r1 = be16 r1"),
            (raw(0xd4, 1, 0, 0, 32), "(d4) r1 = le32 r1"),
            (raw(0xd7, 1, 0, 0, 64), "(d7) r1 = bswap64 r1"),
            (raw(0x84, 1, 0, 0, 0), "(84) w1 = -w1"),
            (raw(0x91, 1, 2, 4, 0), "(91) r1 = *(s8 *)(r2 +4)"),
            (
                raw(0xdb, 10, 1, -8, 0x01),
                "(db) r1 = atomic64_fetch_add((u64 *)(r10 -8), r1)",
            ),
            (
                raw(0xc3, 10, 1, -8, CMPXCHG),
                "(c3) r0 = atomic_cmpxchg((u32 *)(r10 -8), r0, r1)",
            ),
            (raw(0xe5, 0, 0, 3, 0), "(e5) may_goto pc+3"),
            (raw(0x85, 0, 0, 0, 100_000), "(85) call unknown#100000"),
            (raw(0x85, 0, 0, 0, 169), "(85) call bpf_timer_init#169"),
        ];
        for (insn, line) in expected {
            assert_eq!(insn_text(&[insn], 0), line);
        }
        let lddw = [raw(0x18, 0, 0, 0, 0x55667788), raw(0, 0, 0, 0, 0x11223344)];
        assert_eq!(insn_text(&lddw, 0), "(18) r0 = 0x1122334455667788");
    }
}
