//! Arithmetic, byte-order and sign-extension semantics, checked against
//! tables derived from RFC 9669 section 4 (and the kernel's interpreter,
//! `kernel/bpf/core.c`, which the RFC follows).

use std::sync::Arc;

use apiary_isa::{AluOp, EndianOp, Insn, LdImm64Kind, Reg, Size, Source, Width, encode_program};
use apiary_vm::{Helpers, Program, Runner};

fn run(insns: &[Insn]) -> u64 {
    let program = Program::<()>::new(&encode_program(insns), Arc::new(Helpers::new()))
        .expect("program loads");
    Runner::new()
        .run_on_memory(&program, &mut (), &mut [])
        .expect("program runs")
}

fn lddw(dst: Reg, imm: u64) -> Insn {
    Insn::LoadImm64 {
        dst,
        kind: LdImm64Kind::Imm,
        imm,
    }
}

fn alu(width: Width, op: AluOp, dst: Reg, src: Source) -> Insn {
    Insn::Alu {
        width,
        op,
        dst,
        src,
    }
}

/// `r0 = a; r1 = b; r0 op= r1` and, when `b` fits the immediate, `r0 op= imm`.
fn binary(width: Width, op: AluOp, a: u64, b: u64) -> u64 {
    let by_reg = run(&[
        lddw(Reg::R0, a),
        lddw(Reg::R1, b),
        alu(width, op, Reg::R0, Source::Reg(Reg::R1)),
        Insn::Exit,
    ]);
    // Immediates are sign-extended to 64 bits; only test them where that is `b` itself.
    let imm = b as i64;
    let fits = i32::try_from(imm).is_ok() || (width == Width::W32 && (b >> 32) == 0);
    let shift = matches!(op, AluOp::Lsh | AluOp::Rsh | AluOp::Arsh);
    let in_range = !shift || b < if width == Width::W32 { 32 } else { 64 };
    if fits && in_range {
        let by_imm = run(&[
            lddw(Reg::R0, a),
            alu(width, op, Reg::R0, Source::Imm(b as u32 as i32)),
            Insn::Exit,
        ]);
        assert_eq!(by_reg, by_imm, "{op:?} {width:?} {a:#x} {b:#x}: reg vs imm");
    }
    by_reg
}

const MIN64: u64 = 0x8000_0000_0000_0000;
const NEG1: u64 = u64::MAX;

#[test]
fn alu64_table() {
    use AluOp::*;
    let table: &[(AluOp, u64, u64, u64)] = &[
        (Add, 1, 2, 3),
        (Add, NEG1, 1, 0),
        (Sub, 1, 2, NEG1),
        (Mul, 0x1_0000_0001, 3, 0x3_0000_0003),
        (Mul, NEG1, NEG1, 1),
        (Div, 10, 3, 3),
        (Div, NEG1, 2, 0x7fff_ffff_ffff_ffff),
        (Div, 10, 0, 0),
        (SDiv, (-10i64) as u64, 3, (-3i64) as u64),
        (SDiv, MIN64, NEG1, MIN64),
        (SDiv, 7, 0, 0),
        (Mod, 10, 3, 1),
        (Mod, 10, 0, 10),
        (Mod, NEG1, 0, NEG1),
        (SMod, (-10i64) as u64, 3, (-1i64) as u64),
        (SMod, 10, (-3i64) as u64, 1),
        (SMod, MIN64, NEG1, 0),
        (SMod, (-5i64) as u64, 0, (-5i64) as u64),
        (Or, 0xf0, 0x0f, 0xff),
        (And, 0xff0, 0x0ff, 0x0f0),
        (Xor, 0xff, 0x0f, 0xf0),
        (Mov, 5, NEG1, NEG1),
        (Lsh, 1, 63, MIN64),
        (Lsh, 1, 64, 1),
        (Lsh, 1, 99, 1 << 35),
        (Rsh, MIN64, 63, 1),
        (Rsh, MIN64, 64, MIN64),
        (Rsh, MIN64, 99, MIN64 >> 35),
        (Arsh, MIN64, 63, NEG1),
        (Arsh, MIN64, 64, MIN64),
        (Arsh, MIN64, 99, (MIN64 as i64 >> 35) as u64),
    ];
    for &(op, a, b, want) in table {
        assert_eq!(
            binary(Width::W64, op, a, b),
            want,
            "{op:?}64 {a:#x}, {b:#x}"
        );
    }
}

#[test]
fn alu32_table_zero_extends() {
    use AluOp::*;
    let hi = 0xdead_beef_0000_0000u64;
    let table: &[(AluOp, u64, u64, u64)] = &[
        (Add, hi | 1, 2, 3),
        (Add, 0xffff_ffff, 1, 0),
        (Sub, hi | 1, 2, 0xffff_ffff),
        (Mul, hi | 0x8000_0001, 2, 2),
        (Div, hi | 10, 3, 3),
        (Div, hi | 10, 0, 0),
        (Div, 10, hi | 3, 3),
        (SDiv, (-10i32) as u32 as u64, 3, (-3i32) as u32 as u64),
        (SDiv, 0x8000_0000, 0xffff_ffff, 0x8000_0000),
        (Mod, hi | 10, 3, 1),
        // Modulo by zero leaves the low half, zero-extended.
        (Mod, hi | 10, 0, 10),
        (SMod, hi | 10, 0, 10),
        (SMod, (-10i32) as u32 as u64, 3, (-1i32) as u32 as u64),
        (SMod, 0x8000_0000, 0xffff_ffff, 0),
        (Or, hi, 1, 1),
        (And, hi | 0xff, hi | 0x0f, 0x0f),
        (Xor, hi | 0xff, 0x0f, 0xf0),
        (Mov, 5, hi | 7, 7),
        (Lsh, 1, 31, 0x8000_0000),
        (Lsh, 1, 32, 1),
        (Lsh, 1, 99, 8),
        (Rsh, hi | 0x8000_0000, 31, 1),
        (Rsh, 0x8000_0000, 32, 0x8000_0000),
        (Arsh, hi | 0x8000_0000, 31, 0xffff_ffff),
        (Arsh, 0x8000_0000, 32, 0x8000_0000),
        (Arsh, 0x8000_0000, 99, 0xf000_0000),
    ];
    for &(op, a, b, want) in table {
        assert_eq!(
            binary(Width::W32, op, a, b),
            want,
            "{op:?}32 {a:#x}, {b:#x}"
        );
    }
}

#[test]
fn negative_immediates_sign_extend_in_alu64_only() {
    let r = |width| run(&[alu(width, AluOp::Mov, Reg::R0, Source::Imm(-1)), Insn::Exit]);
    assert_eq!(r(Width::W64), NEG1);
    assert_eq!(r(Width::W32), 0xffff_ffff);
    // Unsigned 64-bit division by a negative immediate divides by 2^64 - 1.
    let div = run(&[
        lddw(Reg::R0, NEG1),
        alu(Width::W64, AluOp::Div, Reg::R0, Source::Imm(-1)),
        Insn::Exit,
    ]);
    assert_eq!(div, 1);
}

#[test]
fn neg() {
    let neg = |width, v| {
        run(&[
            lddw(Reg::R0, v),
            Insn::Neg {
                width,
                dst: Reg::R0,
            },
            Insn::Exit,
        ])
    };
    assert_eq!(neg(Width::W64, 1), NEG1);
    assert_eq!(neg(Width::W64, MIN64), MIN64);
    assert_eq!(neg(Width::W32, 1), 0xffff_ffff);
    assert_eq!(neg(Width::W32, 0x1_0000_0000), 0);
}

#[test]
fn byte_order() {
    let v = 0x0102_0304_0506_0708u64;
    let end = |op, bits| {
        run(&[
            lddw(Reg::R0, v),
            Insn::Endian {
                op,
                bits,
                dst: Reg::R0,
            },
            Insn::Exit,
        ])
    };
    assert_eq!(end(EndianOp::ToLe, 16), 0x0708);
    assert_eq!(end(EndianOp::ToLe, 32), 0x0506_0708);
    assert_eq!(end(EndianOp::ToLe, 64), v);
    assert_eq!(end(EndianOp::ToBe, 16), 0x0807);
    assert_eq!(end(EndianOp::ToBe, 32), 0x0807_0605);
    assert_eq!(end(EndianOp::ToBe, 64), 0x0807_0605_0403_0201);
    assert_eq!(end(EndianOp::Swap, 16), 0x0807);
    assert_eq!(end(EndianOp::Swap, 32), 0x0807_0605);
    assert_eq!(end(EndianOp::Swap, 64), 0x0807_0605_0403_0201);
}

#[test]
fn sign_extending_moves() {
    let movsx = |width, from, v| {
        run(&[
            lddw(Reg::R1, v),
            Insn::MovSx {
                width,
                dst: Reg::R0,
                src: Reg::R1,
                from,
            },
            Insn::Exit,
        ])
    };
    assert_eq!(
        movsx(Width::W64, Size::B, 0x1234_5680),
        0xffff_ffff_ffff_ff80
    );
    assert_eq!(movsx(Width::W64, Size::B, 0x7f), 0x7f);
    assert_eq!(
        movsx(Width::W64, Size::H, 0xffff_8000),
        0xffff_ffff_ffff_8000
    );
    assert_eq!(
        movsx(Width::W64, Size::W, 0x8000_0000),
        0xffff_ffff_8000_0000
    );
    assert_eq!(movsx(Width::W32, Size::B, 0x80), 0xffff_ff80);
    assert_eq!(movsx(Width::W32, Size::H, 0xdead_8000), 0xffff_8000);
}
