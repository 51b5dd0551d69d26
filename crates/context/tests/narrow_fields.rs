//! The rewrites of narrow `__sk_buff` accesses give what the kernel gives.
//!
//! For each u32 field whose kernel member is narrower (`pkt_type` is one
//! byte, `protocol`, `tc_index`, ... two), a sched_cls program stores into
//! the field (when it is writable) and then loads 1, 2 or 4 bytes at every
//! aligned offset inside it, plain and sign-extending, and returns the
//! value; the kernel runs it with `BPF_PROG_TEST_RUN`. The same program goes
//! through `prepare`, and its rewritten store and load are applied to an
//! image of the context holding the field's value as the kernel reports it
//! for a full 4-byte load before the store: the results must agree.

use apiary_context::prepare;
use apiary_isa::{AluOp, Insn, RawInsn, Reg, Size, Source, Width, encode_program};
use apiary_kernel::types::ProgType;
use apiary_kernel::{ProgFd, ProgLoadAttrs, TestRunAttrs};

/// A broadcast IPv4 frame: the kernel sets `pkt_type` to PACKET_BROADCAST
/// and `protocol` to htons(ETH_P_IP).
fn packet() -> Vec<u8> {
    let mut frame = vec![0xff; 6];
    frame.extend([0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let mut ip = vec![
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ];
    frame.append(&mut ip);
    frame.resize(64, 0);
    frame
}

/// A `__sk_buff` for `ctx_in` with `gso_segs` and `gso_size` set.
fn ctx_in() -> Vec<u8> {
    let mut ctx = vec![0u8; 192];
    ctx[164..168].copy_from_slice(&0x0203u32.to_le_bytes());
    ctx[176..180].copy_from_slice(&0x0405u32.to_le_bytes());
    ctx
}

fn mov(dst: Reg, imm: i32) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src: Source::Imm(imm),
    }
}

fn kernel_run(insns: &[RawInsn]) -> u32 {
    let bytes = apiary_isa::slots_to_bytes(insns);
    let prog = ProgFd::load(&ProgLoadAttrs {
        prog_type: ProgType::SCHED_CLS,
        insns: &bytes,
        license: "GPL",
        ..ProgLoadAttrs::default()
    })
    .unwrap_or_else(|e| panic!("load: {e}"))
    .prog;
    let data = packet();
    let ctx = ctx_in();
    prog.test_run(&TestRunAttrs {
        data_in: &data,
        ctx_in: &ctx,
        repeat: 1,
        ..TestRunAttrs::default()
    })
    .unwrap_or_else(|e| panic!("test run: {e}"))
    .retval
}

fn size_of(raw: &RawInsn) -> usize {
    match raw.code & 0x18 {
        0x00 => 4,
        0x08 => 2,
        0x10 => 1,
        _ => 8,
    }
}

/// Applies a rewritten `STX` of `value` to the image.
fn store(image: &mut [u8], raw: &RawInsn, value: u64) {
    let (off, size) = (raw.off as usize, size_of(raw));
    image[off..off + size].copy_from_slice(&value.to_le_bytes()[..size]);
}

/// Applies a rewritten `LDX`/`LDXSX` to the image, as the 32-bit `retval`.
fn load(image: &[u8], raw: &RawInsn) -> u32 {
    let (off, size) = (raw.off as usize, size_of(raw));
    let mut bytes = [0u8; 8];
    bytes[..size].copy_from_slice(&image[off..off + size]);
    let value = u64::from_le_bytes(bytes);
    let shift = 64 - 8 * size as u32;
    let value = if raw.code & 0xe0 == 0x80 {
        (((value << shift) as i64) >> shift) as u64
    } else {
        value
    };
    value as u32
}

#[test]
fn narrow_accesses_read_and_write_what_the_kernel_does() {
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(
            "narrow_accesses_read_and_write_what_the_kernel_does",
            reason,
        );
    }
    // (field offset, value stored first if the field is writable)
    let fields: [(i16, Option<i32>); 11] = [
        (4, None),               // pkt_type
        (8, Some(0x0102_0304)),  // mark (a real u32, as a control)
        (12, Some(0x0102)),      // queue_mapping
        (16, None),              // protocol
        (24, None),              // vlan_tci
        (28, None),              // vlan_proto
        (44, Some(0x0001_0203)), // tc_index: the kernel keeps the low 16 bits
        (72, Some(0x0001_0203)), // tc_classid: likewise
        (164, None),             // gso_segs
        (176, None),             // gso_size
        (36, None),              // ingress_ifindex (u32 member, a control)
    ];
    let mut mismatches = Vec::new();
    let mut compared = 0;
    for (field, stored) in fields {
        let setup: Vec<Insn> = match stored {
            Some(value) => vec![
                mov(Reg::R2, value),
                Insn::Store {
                    size: Size::W,
                    dst: Reg::R1,
                    off: field,
                    src: Source::Reg(Reg::R2),
                },
            ],
            None => Vec::new(),
        };
        let full = [
            Insn::Load {
                size: Size::W,
                sign_extend: false,
                dst: Reg::R0,
                src: Reg::R1,
                off: field,
            },
            Insn::Exit,
        ];
        let mut image = vec![0u8; 216];
        let before = kernel_run(&encode_program(&full));
        image[field as usize..field as usize + 4].copy_from_slice(&before.to_le_bytes());
        if let Some(value) = stored {
            let mut program = setup.clone();
            program.extend([mov(Reg::R0, 0), Insn::Exit]);
            let prepared = prepare(ProgType::SCHED_CLS, &encode_program(&program)).expect("store");
            store(&mut image, &prepared[1], value as u64);
        }
        for (size, sign_extend) in [
            (Size::B, false),
            (Size::H, false),
            (Size::W, false),
            (Size::B, true),
            (Size::H, true),
            (Size::W, true),
        ] {
            for inside in (0..4).step_by(size.bytes()) {
                let off = field + inside as i16;
                let mut program = setup.clone();
                program.extend([
                    Insn::Load {
                        size,
                        sign_extend,
                        dst: Reg::R0,
                        src: Reg::R1,
                        off,
                    },
                    Insn::Exit,
                ]);
                let insns = encode_program(&program);
                let kernel = kernel_run(&insns);
                let prepared = prepare(ProgType::SCHED_CLS, &insns).expect("accepted");
                let ours = load(&image, &prepared[setup.len()]);
                compared += 1;
                if kernel != ours {
                    mismatches.push(format!(
                        "field {field} load {size:?} sx={sign_extend} at {off}: kernel {kernel:#x}, image {ours:#x}"
                    ));
                }
            }
        }
    }
    eprintln!("compared {compared} narrow accesses with the kernel");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
