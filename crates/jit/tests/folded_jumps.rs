//! Conditional jumps the JIT encodes its own way, as the interpreter runs
//! them: `if c goto +1; goto t`, folded into one `if !c goto t` in code
//! that does not count the budget (a verified program run with at least
//! its bound), and backward jumps close enough for a one-byte
//! displacement, encoded by hand. Every condition, both widths, register
//! and immediate operands, on values either side of each comparison.

mod common;

use apiary_asm::assemble_slots;
use apiary_kernel::types::ProgType;
use apiary_verifier::{Program as Verified, verify};

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
                        let slots = assemble_slots(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
                        let accepted = verify(&Verified::bare(&slots, ProgType::XDP, &[]))
                            .unwrap_or_else(|r| panic!("refused: {}\n{text}", r.kernel));
                        // Bounded: the compiled run takes the body that folds.
                        assert!(accepted.run_bound.is_some(), "{text}");
                        common::tiers_agree(
                            &slots,
                            |program| {
                                apiary_jit::compile_verified(program, &accepted).expect("compiling")
                            },
                            &text,
                        );
                        folded_runs += 1;
                    }
                }
            }
        }
    }
    assert_eq!(folded_runs, 2 * 11 * 36 * 2 * 2);
}
