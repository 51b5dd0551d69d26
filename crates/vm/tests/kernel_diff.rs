//! Differential test against the kernel: random straight-line programs
//! (every ALU op in both widths, byte swaps, sign-extending moves and loads,
//! forward conditional jumps, stack memory and atomics) run as `syscall`
//! programs through `BPF_PROG_TEST_RUN`, and through this interpreter; the
//! final values of all data registers, written to the context, must agree.

use std::sync::Arc;

use apiary_isa::{
    AluOp, AtomicOp, EndianOp, Insn, JmpCond, LdImm64Kind, Reg, Size, Source, Width,
    encode_program, slots_to_bytes,
};
use apiary_kernel::types::{ProgType, prog_flags};
use apiary_kernel::{ProgFd, ProgLoadAttrs, TestRunAttrs};
use apiary_vm::{Helpers, Program, Region, RunInput, Runner};

/// Registers holding data; r1 is the context and r9 keeps it.
const DATA: [Reg; 8] = [
    Reg::R0,
    Reg::R2,
    Reg::R3,
    Reg::R4,
    Reg::R5,
    Reg::R6,
    Reg::R7,
    Reg::R8,
];
const CTX: Reg = Reg::R9;
const STACK_SLOTS: i16 = 8;
const CTX_LEN: usize = DATA.len() * 8;

mod common;
use common::Rng;

/// Random choices of the generator.
trait Choose {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T;
    fn reg(&mut self) -> Reg;
    fn value(&mut self) -> u64;
    fn imm(&mut self) -> i32;
    fn width(&mut self) -> Width;
}

impl Choose for Rng {
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
    fn reg(&mut self) -> Reg {
        self.pick(&DATA)
    }
    fn value(&mut self) -> u64 {
        match self.below(8) {
            0 => 0,
            1 => 1,
            2 => u64::MAX,
            3 => 1 << 63,
            4 => 0xffff_ffff,
            5 => 0x8000_0000,
            6 => self.next() & 0xff,
            _ => self.next(),
        }
    }
    fn imm(&mut self) -> i32 {
        match self.below(6) {
            0 => -1,
            1 => i32::MIN,
            2 => 1,
            3 => self.below(64) as i32,
            _ => self.next() as i32,
        }
    }
    fn width(&mut self) -> Width {
        if self.below(2) == 0 {
            Width::W32
        } else {
            Width::W64
        }
    }
}

fn mov_reg(dst: Reg, src: Reg) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src: Source::Reg(src),
    }
}

fn stack_off(rng: &mut Rng) -> i16 {
    -8 * (1 + rng.below(STACK_SLOTS as usize) as i16)
}

fn random_alu(rng: &mut Rng) -> Insn {
    let width = rng.width();
    let op = rng.pick(&AluOp::ALL);
    let dst = rng.reg();
    let src = if rng.below(2) == 0 {
        Source::Reg(rng.reg())
    } else {
        let bits = if width == Width::W32 { 32 } else { 64 };
        let imm = match op {
            // The verifier refuses immediate shifts outside the width and division by an immediate 0.
            AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => rng.below(bits) as i32,
            AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod => match rng.imm() {
                0 => 3,
                imm => imm,
            },
            _ => rng.imm(),
        };
        Source::Imm(imm)
    };
    Insn::Alu {
        width,
        op,
        dst,
        src,
    }
}

/// One random instruction; `room` is how many body instructions follow it.
fn random_insn(rng: &mut Rng, room: usize) -> Insn {
    match rng.below(16) {
        0 => Insn::Neg {
            width: rng.width(),
            dst: rng.reg(),
        },
        1 => {
            let op = rng.pick(&[EndianOp::ToLe, EndianOp::ToBe, EndianOp::Swap]);
            Insn::Endian {
                op,
                bits: rng.pick(&[16, 32, 64]),
                dst: rng.reg(),
            }
        }
        2 => {
            let width = rng.width();
            let from = if width == Width::W32 {
                rng.pick(&[Size::B, Size::H])
            } else {
                rng.pick(&[Size::B, Size::H, Size::W])
            };
            Insn::MovSx {
                width,
                dst: rng.reg(),
                src: rng.reg(),
                from,
            }
        }
        3 if room > 0 => {
            let src = if rng.below(2) == 0 {
                Source::Reg(rng.reg())
            } else {
                Source::Imm(rng.imm())
            };
            Insn::Jump {
                width: rng.width(),
                cond: rng.pick(&JmpCond::ALL),
                dst: rng.reg(),
                src,
                off: 1 + rng.below(room.min(4)) as i16,
            }
        }
        4 => Insn::Store {
            size: rng.pick(&Size::ALL),
            dst: Reg::R10,
            off: stack_off(rng),
            src: Source::Reg(rng.reg()),
        },
        5 => Insn::Load {
            size: rng.pick(&Size::ALL),
            sign_extend: rng.below(2) == 0,
            dst: rng.reg(),
            src: Reg::R10,
            off: stack_off(rng),
        }
        .normalised(),
        6 => {
            let fetch = rng.below(2) == 0;
            let op = rng.pick(&[
                AtomicOp::Add { fetch },
                AtomicOp::Or { fetch },
                AtomicOp::And { fetch },
                AtomicOp::Xor { fetch },
                AtomicOp::Xchg,
                AtomicOp::CmpXchg,
            ]);
            Insn::Atomic {
                size: rng.pick(&[Size::W, Size::DW]),
                op,
                dst: Reg::R10,
                src: rng.reg(),
                off: stack_off(rng),
            }
        }
        _ => random_alu(rng),
    }
}

trait Normalised {
    fn normalised(self) -> Self;
}

impl Normalised for Insn {
    /// There is no sign-extending 8-byte load.
    fn normalised(self) -> Self {
        match self {
            Insn::Load {
                size: Size::DW,
                dst,
                src,
                off,
                ..
            } => Insn::Load {
                size: Size::DW,
                sign_extend: false,
                dst,
                src,
                off,
            },
            other => other,
        }
    }
}

fn random_program(rng: &mut Rng, body_len: usize) -> Vec<Insn> {
    let mut insns = vec![mov_reg(CTX, Reg::R1)];
    for reg in DATA {
        insns.push(Insn::LoadImm64 {
            dst: reg,
            kind: LdImm64Kind::Imm,
            imm: rng.value(),
        });
    }
    for slot in 1..=STACK_SLOTS {
        insns.push(Insn::Store {
            size: Size::DW,
            dst: Reg::R10,
            off: -8 * slot,
            src: Source::Reg(rng.reg()),
        });
    }
    for i in 0..body_len {
        insns.push(random_insn(rng, body_len - 1 - i));
    }
    for (i, reg) in DATA.into_iter().enumerate() {
        insns.push(Insn::Store {
            size: Size::DW,
            dst: CTX,
            off: 8 * i as i16,
            src: Source::Reg(reg),
        });
    }
    insns.extend([
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: Reg::R0,
            src: Source::Imm(0),
        },
        Insn::Exit,
    ]);
    insns
}

/// Runs in the kernel; the context comes back with the registers.
fn kernel_registers(bytecode: &[u8]) -> Result<Vec<u8>, String> {
    let prog = ProgFd::load(&ProgLoadAttrs {
        prog_type: ProgType::SYSCALL,
        prog_flags: prog_flags::SLEEPABLE,
        insns: bytecode,
        license: "GPL",
        log_level: 1,
        ..ProgLoadAttrs::default()
    })
    .map_err(|e| format!("kernel refused the program: {e}"))?
    .prog;
    let mut ctx = vec![0u8; CTX_LEN];
    let out = prog
        .test_run(&TestRunAttrs {
            ctx_in: &ctx,
            ..TestRunAttrs::default()
        })
        .map_err(|e| format!("test run failed: {e}"))?;
    assert_eq!(out.retval, 0);
    // The kernel wrote the context back into `ctx` behind the shared borrow.
    Ok(std::hint::black_box(ctx.as_mut_slice()).to_vec())
}

fn our_registers(program: &Program<()>) -> Vec<u8> {
    let mut ctx = vec![0u8; CTX_LEN];
    let addr = ctx.as_ptr() as u64;
    let regions = [Region::writable(&mut ctx)];
    let r = Runner::new().run(
        program,
        &mut (),
        &RunInput {
            args: [addr, 0, 0, 0, 0],
            regions: &regions,
            packet: None,
        },
    );
    assert_eq!(r, Ok(0));
    ctx
}

#[test]
fn random_programs_agree_with_the_kernel() {
    if let Err(reason) = apiary_kernel::probe() {
        eprintln!("SKIPPED: random_programs_agree_with_the_kernel because {reason}");
        return;
    }
    let helpers = Arc::new(Helpers::new());
    for seed in 1..=2000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let body_len = 8 + rng.below(120);
        let insns = random_program(&mut rng, body_len);
        let slots = encode_program(&insns);
        let want = kernel_registers(&slots_to_bytes(&slots))
            .unwrap_or_else(|e| panic!("seed {seed}: {e}\n{insns:#?}"));
        let program = Program::new(&slots, helpers.clone()).expect("program loads");
        let got = our_registers(&program);
        if got != want {
            let regs = |b: &[u8]| -> Vec<String> {
                b.chunks(8)
                    .map(|c| format!("{:#x}", u64::from_le_bytes(c.try_into().unwrap())))
                    .collect()
            };
            panic!(
                "seed {seed}: registers r0,r2..r8 differ\nkernel {:?}\napiary {:?}\n{insns:#?}",
                regs(&want),
                regs(&got)
            );
        }
    }
}
