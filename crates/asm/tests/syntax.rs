//! The forms the task and the tools print, checked against encodings from
//! the kernel's uapi headers and llvm-objdump-19 output, and the error
//! messages for bad input.

use apiary_asm::{AsmErrorKind, FormatOptions, Syntax, assemble, assemble_slots, disassemble_with};
use apiary_isa::RawInsn;

/// `(code, dst, src, off, imm)` of one slot.
fn slot(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> RawInsn {
    RawInsn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

#[test]
fn llvm_and_kernel_forms_encode_as_the_kernel_defines() {
    // Encodings as printed by llvm-objdump-19 for the same text (see rare.c).
    let cases: &[(&str, RawInsn)] = &[
        ("r0 = *(u32 *)(r1 + 0x4)", slot(0x61, 0, 1, 4, 0)),
        ("*(u64 *)(r10 - 0x8) = r1", slot(0x7b, 10, 1, -8, 0)),
        ("*(u32 *)(r10 - 8) = 5", slot(0x62, 10, 0, -8, 5)),
        ("w0 = w1", slot(0xbc, 0, 1, 0, 0)),
        ("r0 += 1", slot(0x07, 0, 0, 0, 1)),
        ("w1 s>>= 3", slot(0xc4, 1, 0, 0, 3)),
        ("r1 = -r1", slot(0x87, 1, 0, 0, 0)),
        ("r0 = (s8)r1", slot(0xbf, 0, 1, 8, 0)),
        ("r0 = *(s16 *)(r1 + 2)", slot(0x89, 0, 1, 2, 0)),
        ("r1 s/= r2", slot(0x3f, 1, 2, 1, 0)),
        ("r1 s%= r2", slot(0x9f, 1, 2, 1, 0)),
        ("r0 = be16 r0", slot(0xdc, 0, 0, 0, 16)),
        ("r0 = le32 r0", slot(0xd4, 0, 0, 0, 32)),
        ("r0 = bswap64 r0", slot(0xd7, 0, 0, 0, 64)),
        ("if r1 > r2 goto +0x1b", slot(0x2d, 1, 2, 0x1b, 0)),
        ("if w1 s< 0x5 goto -3", slot(0xc6, 1, 0, -3, 5)),
        ("if r1 & 4 goto +1", slot(0x45, 1, 0, 1, 4)),
        ("goto +5", slot(0x05, 0, 0, 5, 0)),
        ("gotol +100000", slot(0x06, 0, 0, 0, 100_000)),
        ("may_goto +3", slot(0xe5, 0, 0, 3, 0)),
        ("lock *(u64 *)(r0 + 0x0) += r6", slot(0xdb, 0, 6, 0, 0)),
        (
            "r1 = atomic_fetch_add((u64 *)(r10 - 8), r1)",
            slot(0xdb, 10, 1, -8, 1),
        ),
        ("r1 = xchg_64(r10 - 8, r1)", slot(0xdb, 10, 1, -8, 0xe1)),
        (
            "r0 = cmpxchg_64(r10 - 8, r0, r1)",
            slot(0xdb, 10, 1, -8, 0xf1),
        ),
        (
            "w0 = cmpxchg32_32(r10 - 8, w0, w1)",
            slot(0xc3, 10, 1, -8, 0xf1),
        ),
        ("r0 = *(u8 *)skb[0x17]", slot(0x30, 0, 0, 0, 0x17)),
        ("r0 = *(u16 *)skb[r1 + 2]", slot(0x48, 0, 1, 0, 2)),
        ("call 0x1", slot(0x85, 0, 0, 0, 1)),
        ("call bpf_map_lookup_elem#1", slot(0x85, 0, 0, 0, 1)),
        ("call pc-0x3", slot(0x85, 0, 1, 0, -3)),
        ("callx r2", slot(0x8d, 2, 0, 0, 0)),
        ("exit", slot(0x95, 0, 0, 0, 0)),
        ("12: (bf) r6 = r1", slot(0xbf, 6, 1, 0, 0)),
        ("if r1 > r2 goto pc+5", slot(0x2d, 1, 2, 5, 0)),
        ("goto +0x5 <prog+0x218>", slot(0x05, 0, 0, 5, 0)),
    ];
    for (text, expected) in cases {
        assert_eq!(
            assemble_slots(text).as_deref(),
            Ok(&[*expected][..]),
            "`{text}`"
        );
    }
    assert_eq!(
        assemble_slots("r1 = 0x0 ll").expect("lddw"),
        [slot(0x18, 1, 0, 0, 0), slot(0, 0, 0, 0, 0)]
    );
}

#[test]
fn labels_comments_and_both_syntaxes_mix() {
    let text = "
        ; a verifier-log style comment
        start:  r0 = 0          // LLVM syntax
                mov %r1, 2      # ubpf syntax
        loop:   if r1 == 0 goto done
                add %r1, -1
                ja loop
        done:   call func
                exit
        func:   r0 = 7
                exit
    ";
    let slots = assemble_slots(text).expect("assembles");
    assert_eq!(slots[2], slot(0x15, 1, 0, 2, 0), "forward label");
    assert_eq!(slots[4], slot(0x05, 0, 0, -3, 0), "backward label");
    assert_eq!(slots[5], slot(0x85, 0, 1, 0, 1), "local call to a label");
    let options = FormatOptions {
        labels: true,
        ..FormatOptions::lossless(Syntax::Llvm)
    };
    let insns = assemble(text).expect("assembles");
    let listing = disassemble_with(&insns, &options);
    assert!(listing.contains("if r1 == 0x0 goto L5\n"), "{listing}");
    assert!(listing.contains("call L7\n"), "{listing}");
    assert_eq!(assemble(&listing), Ok(insns));
}

#[test]
fn errors_name_line_column_and_problem() {
    type Check = fn(&AsmErrorKind) -> bool;
    let cases: &[(&str, usize, usize, Check)] = &[
        (
            "exit\nfoo r1, 2",
            2,
            1,
            |k| matches!(k, AsmErrorKind::UnknownMnemonic(m) if m == "foo"),
        ),
        (
            "r11 = 1",
            1,
            1,
            |k| matches!(k, AsmErrorKind::BadRegister(r) if r == "r11"),
        ),
        ("r1 = 0x100000000", 1, 6, |k| {
            matches!(k, AsmErrorKind::OutOfRange { .. })
        }),
        ("r1 = *(u8 *)(r2 + 40000)", 1, 17, |k| {
            matches!(k, AsmErrorKind::OutOfRange { what: "offset", .. })
        }),
        (
            "  goto nowhere",
            1,
            8,
            |k| matches!(k, AsmErrorKind::UndefinedLabel(l) if l == "nowhere"),
        ),
        ("mov %r1", 1, 1, |k| {
            matches!(
                k,
                AsmErrorKind::OperandCount {
                    expected: 2,
                    found: 1,
                    ..
                }
            )
        }),
        ("w1 += r2", 1, 7, |k| {
            matches!(k, AsmErrorKind::MixedWidth(_))
        }),
        ("a:\na: exit", 2, 1, |k| {
            matches!(k, AsmErrorKind::DuplicateLabel(_))
        }),
        ("r1 = 1 @", 1, 8, |k| {
            matches!(k, AsmErrorKind::BadCharacter('@'))
        }),
        // xchg returns the old value in its source register: naming
        // another destination cannot be encoded.
        ("r0 = xchg_64(r10 - 8, r1)", 1, 23, |k| {
            matches!(k, AsmErrorKind::InvalidOperands(_))
        }),
        ("goto +40000", 1, 1, |k| {
            matches!(
                k,
                AsmErrorKind::OutOfRange {
                    what: "jump offset",
                    ..
                }
            )
        }),
    ];
    for (text, line, column, check) in cases {
        let err = assemble(text).expect_err(text);
        assert!(check(&err.kind), "`{text}`: {err}");
        assert_eq!((err.line, err.column), (*line, *column), "`{text}`: {err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("line {line}, column {column}")),
            "{message}"
        );
        assert!(message.contains(err.source_line.as_str()), "{message}");
    }
}
