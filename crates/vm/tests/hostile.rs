//! Arbitrary programs must never panic, hang or touch memory outside the
//! regions they were given: random slots (biased towards valid opcodes) run
//! under a budget next to canary bytes that must survive every run.

use std::sync::Arc;

use apiary_isa::RawInsn;
use apiary_vm::{HelperContext, HelperError, Helpers, Program, Region, RunError, RunInput, Runner};

mod common;
use common::Rng;

/// Every opcode byte the instruction set defines, so most random slots decode.
fn valid_opcodes() -> Vec<u8> {
    (0..=255u8)
        .filter(|&code| {
            (0..16).any(|src| {
                (0..4).any(|off: i16| {
                    let slots = [
                        RawInsn {
                            code,
                            dst: 1,
                            src,
                            off,
                            imm: if code & 0x07 == 0x04 || code & 0x07 == 0x07 {
                                16
                            } else {
                                0
                            },
                        },
                        RawInsn::default(),
                    ];
                    apiary_isa::Insn::decode(&slots).is_ok()
                })
            })
        })
        .collect()
}

fn poke(ctx: &mut HelperContext<'_, ()>, args: [u64; 5]) -> Result<u64, HelperError> {
    let len = (args[1] & 0xff) as usize;
    let bytes = ctx.read(args[0], len)?.to_vec();
    ctx.write(args[2], &bytes)?;
    Ok(bytes.len() as u64)
}

fn call_back(ctx: &mut HelperContext<'_, ()>, args: [u64; 5]) -> Result<u64, HelperError> {
    ctx.call_function(args[0], args)
        .map_err(|e| HelperError::Callback(Box::new(e)))
}

/// A random slot: a defined opcode, registers below r10 mostly, small
/// offsets, and immediates that are often small (helper ids 1 and 2, byte
/// order widths, shift counts).
fn random_slot(rng: &mut Rng, opcodes: &[u8]) -> RawInsn {
    let r = rng.next();
    let zero_some = rng.next();
    RawInsn {
        code: opcodes[(r % opcodes.len() as u64) as usize],
        dst: ((r >> 8) % 10) as u8,
        src: if zero_some & 1 == 0 {
            0
        } else {
            ((r >> 12) % 11) as u8
        },
        off: if zero_some & 2 == 0 {
            0
        } else {
            ((r >> 16) as i16) % 8 - 3
        },
        imm: match (r >> 40) % 5 {
            0 => ((r >> 48) % 70) as i32 - 3,
            1 => 1 + ((r >> 48) % 2) as i32,
            2 => [16, 32, 64][((r >> 48) % 3) as usize],
            3 => 0,
            _ => (r >> 32) as i32,
        },
    }
}

#[test]
fn random_programs_stay_inside_their_regions() {
    let opcodes = valid_opcodes();
    assert!(opcodes.len() > 80, "only {} opcodes decode", opcodes.len());
    let mut helpers = Helpers::new();
    helpers.register(1, "poke", poke).unwrap();
    helpers.register(2, "call_back", call_back).unwrap();
    let helpers = Arc::new(helpers);
    let mut runner = Runner::new();
    runner.set_budget(Some(5_000));
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let (mut loaded, mut completed, mut faults) = (0, 0, 0);
    let mut buffer = [0xa5u8; 192];
    for _ in 0..30_000 {
        let len = 1 + rng.below(24);
        let mut slots = Vec::with_capacity(len + 1);
        while slots.len() < len {
            let slot = random_slot(&mut rng, &opcodes);
            let pair = [slot, RawInsn::default()];
            match apiary_isa::Insn::decode(&pair) {
                Ok(insn) if insn.slots() == 2 => slots.extend([
                    slot,
                    RawInsn {
                        imm: rng.next() as i32,
                        ..RawInsn::default()
                    },
                ]),
                Ok(_) => slots.push(slot),
                Err(_) => {}
            }
        }
        // End with exit so that some programs complete.
        slots.push(RawInsn {
            code: apiary_isa::opcode::BPF_JMP | apiary_isa::opcode::BPF_EXIT,
            ..RawInsn::default()
        });
        let Ok(program) = Program::new(&slots, helpers.clone()) else {
            continue;
        };
        loaded += 1;
        buffer.fill(0xa5);
        let (before, rest) = buffer.split_at_mut(64);
        let (region, after) = rest.split_at_mut(64);
        let addr = region.as_ptr() as u64;
        let regions = [Region::writable(region)];
        let input = RunInput {
            args: [addr, 64, addr + 8, 0, 0],
            regions: &regions,
            packet: None,
            headers: None,
        };
        match runner.run(&program, &mut (), &input) {
            Ok(_) => completed += 1,
            Err(RunError::BudgetExhausted { limit, .. }) => assert_eq!(limit, 5_000),
            Err(e) => {
                if matches!(e, RunError::MemoryFault { .. }) {
                    faults += 1;
                }
                assert!(!e.to_string().contains('\n'), "multi-line error: {e}");
            }
        }
        assert!(
            before.iter().all(|&b| b == 0xa5),
            "bytes before the region changed"
        );
        assert!(
            after.iter().all(|&b| b == 0xa5),
            "bytes after the region changed"
        );
    }
    eprintln!("{loaded} random programs loaded, {completed} completed, {faults} faulted");
    assert!(faults > 1_000, "only {faults} random programs faulted");
    assert!(loaded > 3_000, "only {loaded} random programs loaded");
    assert!(
        completed > 300,
        "only {completed} random programs completed"
    );
}
