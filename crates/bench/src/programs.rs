//! The benchmark programs, each with the result a Rust model of the same
//! computation predicts, so that a wrong program or a wrong interpreter is
//! caught before anything is timed.

use apiary_isa::{
    AluOp, CallTarget, Insn, JmpCond, RawInsn, Reg, Size, Source, Width, encode_program,
    slots_to_bytes,
};

/// Helper id under which both interpreters register [`mix`]. Far above the
/// kernel's helper ids so it can never be mistaken for a real helper.
pub const MIX_HELPER_ID: u32 = 0xfff0;

/// The trivial helper the call-heavy programs call: a rotate and an xor, so
/// that a wrong argument order changes the result.
pub fn mix(a: u64, b: u64, _c: u64, _d: u64, _e: u64) -> u64 {
    a.rotate_left(5) ^ b.wrapping_add(MIX_ADDEND as u64)
}

const MIX_ADDEND: i32 = 0x9e37;

/// Iterations of the ALU loop.
pub const ALU_LOOP_ITERATIONS: i32 = 10_000;
/// Length of the packet the checksum program reads.
pub const PACKET_LEN: usize = 1500;
/// Calls made by the call-heavy programs.
pub const CALL_ITERATIONS: i32 = 1_000;

const ALU_MUL: i32 = 0x2545_f491;
const ALU_SEED: i32 = 0x12345;

/// One benchmark: bytecode, the memory it gets in `r1`, and its expected `r0`.
#[derive(Clone, Debug)]
pub struct BenchProgram {
    /// Short name, used as the criterion group name.
    pub name: &'static str,
    /// The typed instructions.
    pub insns: Vec<Insn>,
    /// The memory region whose address the program receives in `r1` (may be empty).
    pub memory: Vec<u8>,
    /// `r0` at exit as computed by the Rust model of the program.
    pub expected: u64,
    /// Whether the program calls [`mix`] as helper [`MIX_HELPER_ID`].
    pub calls_helper: bool,
}

impl BenchProgram {
    /// The program as raw slots.
    pub fn slots(&self) -> Vec<RawInsn> {
        encode_program(&self.insns)
    }

    /// The program as little-endian bytecode.
    pub fn bytecode(&self) -> Vec<u8> {
        slots_to_bytes(&self.slots())
    }
}

/// Every benchmark program, in report order.
pub fn all() -> Vec<BenchProgram> {
    vec![
        empty(),
        alu_loop(),
        packet_checksum(),
        helper_calls(),
        local_calls(),
    ]
}

/// `r0 = 0; exit`: what one run costs besides the program.
pub fn empty() -> BenchProgram {
    BenchProgram {
        name: "empty",
        insns: vec![alu64_imm(AluOp::Mov, Reg::R0, 0), Insn::Exit],
        memory: Vec::new(),
        expected: 0,
        calls_helper: false,
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

fn alu64_imm(op: AluOp, dst: Reg, imm: i32) -> Insn {
    alu(Width::W64, op, dst, Source::Imm(imm))
}

fn alu64_reg(op: AluOp, dst: Reg, src: Reg) -> Insn {
    alu(Width::W64, op, dst, Source::Reg(src))
}

fn load(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
    Insn::Load {
        size,
        sign_extend: false,
        dst,
        src,
        off,
    }
}

fn store(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
    Insn::Store {
        size,
        dst,
        off,
        src: Source::Reg(src),
    }
}

fn jump(cond: JmpCond, dst: Reg, src: Source, off: i16) -> Insn {
    Insn::Jump {
        width: Width::W64,
        cond,
        dst,
        src,
        off,
    }
}

/// A counted loop of 64- and 32-bit ALU operations, 10k iterations.
pub fn alu_loop() -> BenchProgram {
    use AluOp::*;
    let (r0, r1, r2, r3) = (Reg::R0, Reg::R1, Reg::R2, Reg::R3);
    let insns = vec![
        alu64_imm(Mov, r0, 0),
        alu64_imm(Mov, r1, ALU_LOOP_ITERATIONS),
        alu64_imm(Mov, r2, ALU_SEED),
        // loop: slot 3
        alu64_reg(Add, r0, r1),
        alu64_imm(Mul, r0, ALU_MUL),
        alu64_reg(Mov, r3, r0),
        alu64_imm(Rsh, r3, 29),
        alu64_reg(Xor, r0, r3),
        alu(Width::W32, Add, r2, Source::Reg(r0)),
        alu64_imm(Or, r2, 1),
        alu64_reg(Sub, r0, r2),
        alu64_imm(Sub, r1, 1),
        jump(JmpCond::Ne, r1, Source::Imm(0), -10),
        alu64_reg(Xor, r0, r2),
        Insn::Exit,
    ];
    let mut r0: u64 = 0;
    let mut r2: u64 = ALU_SEED as u64;
    for r1 in (1..=ALU_LOOP_ITERATIONS as u64).rev() {
        r0 = r0.wrapping_add(r1);
        r0 = r0.wrapping_mul(ALU_MUL as u64);
        r0 ^= r0 >> 29;
        r2 = u64::from((r2 as u32).wrapping_add(r0 as u32));
        r2 |= 1;
        r0 = r0.wrapping_sub(r2);
    }
    BenchProgram {
        name: "alu_loop",
        insns,
        memory: Vec::new(),
        expected: r0 ^ r2,
        calls_helper: false,
    }
}

/// Deterministic packet bytes (xorshift), so the checksum depends on every byte.
pub fn packet() -> Vec<u8> {
    let mut state: u32 = 0x9e37_79b9;
    (0..PACKET_LEN)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Sums and xors a 1500-byte packet with word, byte and half-word loads,
/// keeping two accumulators in stack slots.
pub fn packet_checksum() -> BenchProgram {
    use AluOp::*;
    let (r0, r1, r2, r3, r4, r5, r6, r7, r10) = (
        Reg::R0,
        Reg::R1,
        Reg::R2,
        Reg::R3,
        Reg::R4,
        Reg::R5,
        Reg::R6,
        Reg::R7,
        Reg::R10,
    );
    let packet_len = i32::try_from(PACKET_LEN).unwrap_or(i32::MAX);
    let insns = vec![
        alu64_reg(Mov, r2, r1),
        alu64_reg(Mov, r3, r1),
        alu64_imm(Add, r3, packet_len),
        alu64_imm(Mov, r0, 0),
        alu64_imm(Mov, r6, 0),
        alu64_imm(Mov, r7, 0),
        // loop: slot 6
        load(Size::W, r4, r2, 0),
        alu64_reg(Add, r0, r4),
        load(Size::B, r5, r2, 1),
        alu64_reg(Xor, r6, r5),
        load(Size::H, r5, r2, 2),
        alu64_reg(Add, r7, r5),
        store(Size::DW, r10, -8, r0),
        store(Size::W, r10, -16, r6),
        alu64_imm(Add, r2, 4),
        jump(JmpCond::Lt, r2, Source::Reg(r3), -10),
        load(Size::DW, r0, r10, -8),
        load(Size::W, r6, r10, -16),
        alu64_reg(Add, r0, r6),
        alu64_reg(Add, r0, r7),
        alu64_reg(Mov, r1, r0),
        alu64_imm(Rsh, r1, 32),
        alu(Width::W32, Mov, r0, Source::Reg(r0)),
        alu64_reg(Add, r0, r1),
        Insn::Exit,
    ];
    let memory = packet();
    let (mut sum, mut xor, mut halves) = (0u64, 0u64, 0u64);
    for chunk in memory.chunks(4) {
        let byte = |i: usize| chunk.get(i).copied().unwrap_or(0);
        sum = sum.wrapping_add(u64::from(u32::from_le_bytes([
            byte(0),
            byte(1),
            byte(2),
            byte(3),
        ])));
        xor ^= u64::from(byte(1));
        halves += u64::from(u16::from_le_bytes([byte(2), byte(3)]));
    }
    // The stack slot for `xor` is 32 bits wide.
    let total = sum.wrapping_add(u64::from(xor as u32)).wrapping_add(halves);
    BenchProgram {
        name: "packet_checksum",
        insns,
        memory,
        expected: (total & 0xffff_ffff) + (total >> 32),
        calls_helper: false,
    }
}

/// The call loop shared by the helper and local-call programs: `r7 =
/// f(r7, r6)` for `r6` from [`CALL_ITERATIONS`] down to 1.
fn call_loop(call: Insn) -> Vec<Insn> {
    use AluOp::*;
    let (r0, r1, r2, r6, r7) = (Reg::R0, Reg::R1, Reg::R2, Reg::R6, Reg::R7);
    vec![
        alu64_imm(Mov, r6, CALL_ITERATIONS),
        alu64_imm(Mov, r7, 1),
        // loop: slot 2
        alu64_reg(Mov, r1, r7),
        alu64_reg(Mov, r2, r6),
        call,
        alu64_reg(Mov, r7, r0),
        alu64_imm(Sub, r6, 1),
        jump(JmpCond::Ne, r6, Source::Imm(0), -6),
        alu64_reg(Mov, r0, r7),
        Insn::Exit,
    ]
}

fn call_loop_expected() -> u64 {
    (1..=CALL_ITERATIONS as u64)
        .rev()
        .fold(1, |acc, i| mix(acc, i, 0, 0, 0))
}

/// 1000 calls of the [`mix`] helper.
pub fn helper_calls() -> BenchProgram {
    BenchProgram {
        name: "helper_calls",
        insns: call_loop(Insn::Call(CallTarget::Helper(MIX_HELPER_ID as i32))),
        memory: Vec::new(),
        expected: call_loop_expected(),
        calls_helper: true,
    }
}

/// 1000 bpf-to-bpf calls of a subprogram computing [`mix`] in eBPF.
pub fn local_calls() -> BenchProgram {
    use AluOp::*;
    let (r0, r1, r2, r3) = (Reg::R0, Reg::R1, Reg::R2, Reg::R3);
    // The subprogram starts right after the main program's exit, at slot 10;
    // the call sits at slot 4, so its offset from slot 5 is 5.
    let mut insns = call_loop(Insn::Call(CallTarget::Local(5)));
    insns.extend([
        alu64_reg(Mov, r0, r1),
        alu64_imm(Lsh, r0, 5),
        alu64_reg(Mov, r3, r1),
        alu64_imm(Rsh, r3, 59),
        alu64_reg(Or, r0, r3),
        alu64_imm(Add, r2, MIX_ADDEND),
        alu64_reg(Xor, r0, r2),
        Insn::Exit,
    ]);
    BenchProgram {
        name: "local_calls",
        insns,
        memory: Vec::new(),
        expected: call_loop_expected(),
        calls_helper: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiary_isa::decode_program;

    #[test]
    fn every_program_decodes_with_valid_jump_targets() {
        for program in all() {
            let slots = program.slots();
            let decoded =
                decode_program(&slots).unwrap_or_else(|e| panic!("{}: {e}", program.name));
            let back: Vec<Insn> = decoded.into_iter().flatten().collect();
            assert_eq!(back, program.insns, "{}", program.name);
        }
    }

    #[test]
    fn packet_is_not_degenerate() {
        let packet = packet();
        assert_eq!(packet.len(), PACKET_LEN);
        let distinct: std::collections::BTreeSet<u8> = packet.iter().copied().collect();
        assert!(
            distinct.len() > 200,
            "only {} distinct bytes",
            distinct.len()
        );
    }
}
