//! Ops the JIT combines in code that does not count the budget, run as
//! the interpreter runs them: byte loads put back together with shifts
//! and ors (one wide load), byte-by-byte copies (one wide copy), and sums
//! reordered so that the operand ready last is added last. Each program
//! ends by folding every register into `r0`, so that a register the
//! combined code leaves with another value than the ops would shows.

mod common;

use common::verified_tiers_agree;

/// Sixteen distinct bytes at `r10 - 16`, `r2` pointing at them, the other
/// registers set; then `body`; then every register but the pointer `r2`
/// (a body that overwrites it folds it into `r1`) and the sixteen bytes
/// folded into `r0`.
fn program(body: &str) -> String {
    let mut text = String::from(
        "r1 = 0x8877665544332211 ll\n*(u64 *)(r10 - 16) = r1\n\
         r1 = 0xf0e0d0c0b0a09080 ll\n*(u64 *)(r10 - 8) = r1\n\
         r2 = r10\nr2 += -16\n",
    );
    for r in [1, 3, 4, 5, 6, 7, 8, 9] {
        text.push_str(&format!("r{r} = {}\n", r * 0x1_0101 + 7));
    }
    text.push_str(body);
    text.push_str("\nr0 = 0\n");
    let stack = "r1 = *(u64 *)(r10 - 16)\nr3 = *(u64 *)(r10 - 8)\n";
    let mut fold = String::new();
    for r in [1, 3, 4, 5, 6, 7, 8, 9] {
        fold.push_str(&format!("r0 *= 31\nr0 ^= r{r}\n"));
    }
    text.push_str(&fold);
    text.push_str(stack);
    text.push_str(&fold);
    text.push_str("exit");
    text
}

#[test]
fn byte_loads_assembled_into_wide_values_load_the_same() {
    let bodies = [
        // clang's u16 from two bytes, 64- and 32-bit.
        "r3 = *(u8 *)(r2 + 0)\nr4 = *(u8 *)(r2 + 1)\nr4 <<= 8\nr4 |= r3",
        "r3 = *(u8 *)(r2 + 5)\nr4 = *(u8 *)(r2 + 6)\nw4 <<= 8\nw4 |= w3",
        // Through the sum of two registers, the sum overwritten (a checksum loop's).
        "r5 = 3\nr4 = r2\nr4 += r5\nr6 = *(u8 *)(r4 + 0)\nr4 = *(u8 *)(r4 + 1)\n\
         w4 <<= 8\nw4 |= w6",
        // ...and the sum kept (a pointer: its distance from r2 is folded).
        "r5 = 3\nr4 = r2\nr4 += r5\nr6 = *(u8 *)(r4 + 2)\nr7 = *(u8 *)(r4 + 3)\n\
         r7 <<= 8\nr7 |= r6\nr4 -= r2",
        // The base overwritten by the last load through it.
        "r3 = *(u8 *)(r2 + 0)\nr2 = *(u8 *)(r2 + 1)\nr2 <<= 8\nr2 |= r3\nr1 ^= r2",
        // clang's u64 from eight bytes: partial values left shifted in r5.
        "r1 = *(u8 *)(r2 + 8)\nr3 = *(u8 *)(r2 + 9)\nr3 <<= 8\nr3 |= r1\n\
         r4 = *(u8 *)(r2 + 10)\nr4 <<= 16\nr1 = *(u8 *)(r2 + 11)\nr1 <<= 24\n\
         r1 |= r4\nr1 |= r3\nr4 = *(u8 *)(r2 + 13)\nw4 <<= 8\nr3 = *(u8 *)(r2 + 12)\n\
         w4 |= w3\nr5 = *(u8 *)(r2 + 14)\nw5 <<= 16\nr3 = *(u8 *)(r2 + 15)\n\
         w3 <<= 24\nw3 |= w5\nw3 |= w4\nr3 <<= 32\nr3 |= r1",
        // A u32 at a negative offset from r10 itself.
        "r3 = *(u8 *)(r10 - 4)\nr4 = *(u8 *)(r10 - 3)\nr4 <<= 8\nr4 |= r3\n\
         r5 = *(u8 *)(r10 - 2)\nr6 = *(u8 *)(r10 - 1)\nr6 <<= 8\nr6 |= r5\n\
         r6 <<= 16\nr6 |= r4",
        // Not combined: big-endian, a shift by half a byte, overlapping
        // bytes, bits shifted out of 32, bytes from two bases, three bytes.
        "r3 = *(u8 *)(r2 + 0)\nr3 <<= 8\nr4 = *(u8 *)(r2 + 1)\nr3 |= r4",
        "r3 = *(u8 *)(r2 + 0)\nr4 = *(u8 *)(r2 + 1)\nr4 <<= 4\nr4 |= r3",
        "r3 = *(u8 *)(r2 + 0)\nr4 = *(u8 *)(r2 + 1)\nr4 |= r3",
        "r3 = *(u8 *)(r2 + 0)\nr4 = *(u8 *)(r2 + 1)\nw4 <<= 24\nw4 <<= 8\nr4 |= r3",
        "r3 = *(u8 *)(r2 + 0)\nr4 = *(u8 *)(r10 - 15)\nr4 <<= 8\nr4 |= r3",
        "r3 = *(u8 *)(r2 + 0)\nr4 = *(u8 *)(r2 + 1)\nr4 <<= 8\nr4 |= r3\n\
         r5 = *(u8 *)(r2 + 2)\nr5 <<= 16\nr4 |= r5",
        // 32-bit or of a value past 32 bits: not combined.
        "r3 = *(u8 *)(r2 + 0)\nr4 = *(u8 *)(r2 + 1)\nr4 <<= 32\nw4 |= w3",
    ];
    for body in bodies {
        verified_tiers_agree(&program(body));
    }
}

#[test]
fn byte_by_byte_copies_copied_at_once_copy_the_same() {
    let copy = |from: i16, delta: i16, order: &[i16]| {
        order
            .iter()
            .map(|k| {
                format!(
                    "r3 = *(u8 *)(r2 + {})\n*(u8 *)(r2 + {}) = r3\n",
                    from + k,
                    from + k + delta
                )
            })
            .collect::<String>()
    };
    let down: Vec<i16> = (0..8).rev().collect();
    let up: Vec<i16> = (0..8).collect();
    let bodies = [
        copy(0, 8, &down),
        copy(0, 8, &up),
        copy(8, -8, &down),
        copy(0, 8, &[3, 1, 0, 2]),
        copy(4, 6, &[1, 0]),
        // Overlapping ends: a later pair loads what an earlier one stored.
        copy(0, 2, &[0, 1, 2, 3]),
        copy(0, 1, &up),
        copy(2, -1, &down),
        // Not a copy of distinct bytes: a byte twice.
        copy(0, 8, &[0, 0, 1, 2]),
    ];
    for body in bodies {
        verified_tiers_agree(&program(&body));
    }
}

#[test]
fn sums_reordered_by_readiness_compute_the_same() {
    // r6 and r8 come out of multiplications (ready late), r4 and r7 not.
    let late = "r6 *= r9\nr6 *= r9\nr8 *= r6\n";
    let bodies = [
        // `a = b; a += c; e = d; e += a`, `b` ready last: `e = (c + d) + b`.
        "r5 = r6\nr5 += r7\nr7 = r4\nr7 += r5",
        // `e` the operand ready last.
        "r5 = r6\nr5 += r7\nr6 = r4\nr6 += r5",
        // `e` one of the others.
        "r5 = r6\nr5 += r7\nr4 = r4\nr4 += r5",
        "r5 = r7\nr5 += r6\nr7 = r4\nr7 += r5",
        // `b` and `c` the same register; `d` ready last (no reordering).
        "r5 = r6\nr5 += r6\nr7 = r8\nr7 += r5",
        "r5 = r4\nr5 += r7\nr3 = r8\nr3 += r5",
        // A run of additions and subtractions, the late operands first.
        "r1 -= r8\nr1 += r4\nr1 += r7",
        "r1 += r6\nr1 -= r8\nr1 -= r4\nr1 += r7\nr1 += r1",
        "r1 -= r6\nr1 -= r8",
    ];
    for body in bodies {
        verified_tiers_agree(&program(&format!("{late}{body}")));
    }
}

#[test]
fn a_remainder_taken_from_the_division_is_the_remainder() {
    let shapes = [
        // The division loop of the benchmark: the quotient used in between.
        "r0 = r1\nr0 /= r6\nr7 = r0\nr7 <<= 7\nr7 ^= r1\nr8 = r0\nr8 *= r6\nr1 -= r8",
        // The dividend in rdx (r3), nothing in between.
        "r0 = r3\nr0 /= r6\nr8 = r0\nr8 *= r6\nr3 -= r8",
        // The divisor in rcx (r4), 32-bit ops and immediates in between.
        "r0 = r1\nr0 /= r4\nw5 += 3\nr7 = 0x12345678\nr9 >>= 3\nr8 = r0\nr8 *= r4\nr1 -= r8",
        // A 64-bit constant loaded in between.
        "r0 = r1\nr0 /= r6\nr5 = 0x123456789 ll\nr5 += 0x7fffffff\nr8 = r0\nr8 *= r6\nr1 -= r8",
        // The divisor just or-ed with 1 (no zero check), written after the
        // or, or reached by a jump past the or (checks kept).
        "r6 |= 1\nr0 = r1\nr0 /= r6\nr8 = r0\nr8 *= r6\nr1 -= r8",
        "w6 |= 2\nr0 = r1\nr0 /= r6\nr8 = r0\nr8 *= r6\nr1 -= r8",
        "r6 |= 1\nr6 &= r4\nr0 = r1\nr0 /= r6\nr8 = r0\nr8 *= r6\nr1 -= r8",
        "if r4 == 0 goto +1\nr6 |= 1\nr0 = r1\nr0 /= r6\nr8 = r0\nr8 *= r6\nr1 -= r8",
        // Not fused: the divisor in rdx, the dividend written in between.
        "r0 = r1\nr0 /= r3\nr8 = r0\nr8 *= r3\nr1 -= r8",
        "r0 = r1\nr0 /= r6\nr1 += 1\nr8 = r0\nr8 *= r6\nr1 -= r8",
    ];
    for divisor in ["0", "1", "7", "0xffffffffffffffff ll", "0x100000000 ll"] {
        for shape in shapes {
            let set = format!(
                "r1 = 0xfedcba9876543210 ll\nr3 = 0x8000000000000001 ll\nr6 = {divisor}\n\
                 r4 = {divisor}\n{shape}"
            );
            verified_tiers_agree(&program(&set));
        }
    }
}
