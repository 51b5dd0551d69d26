//! Division and modulo on both tiers, for every pair of destination and
//! divisor register: the JIT keeps rax and rdx (eBPF `r0`, `r3`) aside
//! around x86's `div`, divides by most registers in place and handles a
//! zero divisor and signed `MIN / -1` out of line, so each register pair
//! takes its own path. Every register is folded into the result, so a
//! register the code clobbered, or a wrong result, shows.

mod common;

use apiary_asm::assemble_slots;
use apiary_jit::Options;

/// Register values: the divisor register's value varies per case.
const VALUES: [u64; 10] = [
    0x8000_0000_0000_0000,
    0x0123_4567_89ab_cdef,
    0xffff_ffff_8000_0000,
    0xfedc_ba98_7654_3210,
    0x0000_0000_8000_0000,
    0x7fff_ffff_ffff_fff7,
    0x0000_0001_0000_0007,
    0xdead_beef_0bad_f00d,
    0x0000_0000_0000_0011,
    0x5555_5555_aaaa_aaaa,
];

/// Divisors given to the divisor register: the edge cases and two plain.
const DIVISORS: [u64; 5] = [0, u64::MAX, 0xffff_ffff, 7, 0xffff_fff0_0000_0003];

const OPS: [&str; 4] = ["/=", "%=", "s/=", "s%="];

/// Sets every register, runs `op`, and folds all registers into r0.
fn program(op: &str) -> String {
    let mut text = String::new();
    for (r, v) in VALUES.iter().enumerate() {
        text.push_str(&format!("r{r} = {v:#x} ll\n"));
    }
    text.push_str(op);
    text.push('\n');
    for r in 1..10 {
        text.push_str(&format!("r0 *= 31\nr0 ^= r{r}\n"));
    }
    text.push_str("exit\n");
    text
}

fn both_tiers(text: &str, options: Options) {
    let slots = assemble_slots(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    common::tiers_agree(
        &slots,
        |program| apiary_jit::compile_with(program, options).expect("compiling"),
        text,
    );
}

#[test]
fn every_register_pair_divides_as_the_interpreter_does() {
    for op in OPS {
        for wide in [true, false] {
            let w = if wide { 'r' } else { 'w' };
            for d in 0..10 {
                for s in 0..10 {
                    for divisor in DIVISORS {
                        // The divisor register holds `divisor`; dividing a
                        // register by itself divides its own value.
                        let text = program(&format!("r{s} = {divisor:#x} ll\n{w}{d} {op} {w}{s}"));
                        both_tiers(&text, Options::default());
                    }
                }
            }
        }
    }
}

#[test]
fn immediate_divisors_divide_as_the_interpreter_does_blinded_or_not() {
    for op in OPS {
        for w in ['r', 'w'] {
            for d in 0..10 {
                for imm in [0, -1, 7, -7, 1] {
                    let text = program(&format!("{w}{d} {op} {imm}"));
                    for blind_constants in [false, true] {
                        both_tiers(&text, Options { blind_constants });
                    }
                }
            }
        }
    }
}
