//! Conditional jumps the JIT encodes its own way, as the interpreter runs
//! them: `if c goto +1; goto t`, folded into one `if !c goto t` in code
//! that does not count the budget (a verified program run with at least
//! its bound), and backward jumps close enough for a one-byte
//! displacement, encoded by hand. Every condition, both widths, register
//! and immediate operands, on values either side of each comparison. And
//! a copy followed by an addition to it, fused into one `lea` there too.

mod common;

use common::verified_tiers_agree;

const CONDS: [&str; 11] = [
    "==", "!=", ">", ">=", "<", "<=", "s>", "s>=", "s<", "s<=", "&",
];

const VALUES: [u64; 6] = [
    0,
    1,
    0x7fff_ffff,
    0xffff_ffff_ffff_fffe,
    0x8000_0000_0000_0001,
    0x0000_0001_0000_0000,
];

/// r0 = 1 when `if r1 cond rhs` does not jump, 2 when it does; `rhs` is
/// r2 or an immediate; the jump is folded, or (`backward`) goes back.
fn program(width: char, cond: &str, a: u64, b: u64, rhs: &str, backward: bool) -> String {
    let jump = if backward {
        format!("goto +2\nr0 += 1\nexit\nif {width}1 {cond} {rhs} goto -3")
    } else {
        format!("if {width}1 {cond} {rhs} goto +1\ngoto +1\nr0 = 2")
    };
    format!("r1 = {a:#x} ll\nr2 = {b:#x} ll\nr0 = 1\n{jump}\nexit")
}

#[test]
fn every_folded_or_short_condition_jumps_as_the_interpreter_does() {
    let mut folded_runs = 0;
    for width in ['r', 'w'] {
        for cond in CONDS {
            for a in VALUES {
                for b in VALUES {
                    let imm = b as u32 as i32;
                    let rhs = [format!("{width}2"), imm.to_string()];
                    for (rhs, backward) in rhs.iter().flat_map(|r| [(r, false), (r, true)]) {
                        let text = program(width, cond, a, b, rhs, backward);
                        verified_tiers_agree(&text);
                        folded_runs += 1;
                    }
                }
            }
        }
    }
    assert_eq!(folded_runs, 2 * 11 * 36 * 2 * 2);
}

#[test]
fn a_copy_and_an_addition_fused_into_one_lea_compute_the_same() {
    // `r3 += r3` reads the copy, not the register's old value: not fused.
    // r7 lives in r13, which as a base needs a displacement (the `lea` of
    // two registers puts it as the index, or both as base and index).
    let additions = [
        "r3 += r2",
        "r3 += -5",
        "r3 += 0x7fffffff",
        "r3 += r3",
        "r3 += r1",
        "r3 += r7",
    ];
    for copy in ["r3 = r1", "r3 = r3", "r3 = r2", "r3 = r7"] {
        for add in additions {
            let text = format!(
                "r1 = 0x0123456789abcdef ll\nr2 = -3\nr3 = 1000\nr7 = 0x55aa55aa\n{copy}\n{add}\n\
                 r0 = r3\nr0 *= 31\nr0 ^= r1\nr0 *= 31\nr0 ^= r2\nexit"
            );
            verified_tiers_agree(&text);
        }
    }
}
