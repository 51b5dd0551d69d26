//! Hostile inputs to test-run and the packet helpers: every packet helper
//! called with edge-case and random arguments on packets of many sizes,
//! and random contexts, must answer with a value or a typed error, never a
//! panic, a hang or an out-of-bounds access.

use apiary_isa::{RawInsn, encode_program};
use apiary_kernel::types::ProgType;
use apiary_runtime::{ArgKind, Runtime, TestRunError, TestRunInput, helper_protos};
use apiary_vm::Runner;

fn code(text: &str) -> Vec<RawInsn> {
    encode_program(&apiary_asm::assemble(text).expect("test program assembles"))
}

/// xorshift64*: reproducible pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const EDGES: &[u64] = &[
    0,
    1,
    2,
    3,
    4,
    13,
    14,
    20,
    34,
    0x7f,
    0xff,
    0xfff,
    0x1000,
    0xffff,
    0x1_0000,
    16064,
    16065,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    u64::MAX,
    u64::MAX - 3,
    (-14i64) as u64,
    (-256i64) as u64,
    (-4096i64) as u64,
    0x10 | 4,
    0x20 | 2,
    0xff << 56,
];

/// The helpers that take the packet context first, by id.
fn packet_helpers() -> Vec<(i32, Vec<ArgKind>)> {
    helper_protos()
        .filter(|p| p.args.first() == Some(&ArgKind::PtrToCtx))
        .map(|p| (p.id, p.args.to_vec()))
        .collect()
}

/// `r0 = helper(ctx, ...)` with memory arguments pointing at 64 stack
/// bytes and sizes and scalars from `rng`, called `calls` times in a row.
fn hostile_program(rng: &mut Rng, id: i32, args: &[ArgKind], calls: usize) -> String {
    let helpers = vec![(id, args.to_vec()); calls];
    hostile_sequence(rng, &helpers)
}

/// Calls each helper of `helpers` in turn, as [`hostile_program`] does.
fn hostile_sequence(rng: &mut Rng, helpers: &[(i32, Vec<ArgKind>)]) -> String {
    let mut text = String::from("r6 = r1\n r2 = 0x0102030405060708 ll\n");
    for off in (8..=64).step_by(8) {
        text.push_str(&format!(" *(u64 *)(r10 - {off}) = r2\n"));
    }
    for (id, args) in helpers {
        text.push_str(" r1 = r6\n");
        for (i, kind) in args.iter().enumerate().skip(1) {
            let reg = i + 1;
            match kind {
                ArgKind::PtrToReadableMem
                | ArgKind::PtrToUninitMem
                | ArgKind::PtrToMem
                | ArgKind::PtrToU32 => {
                    text.push_str(&format!(" r{reg} = r10\n r{reg} += -64\n"));
                }
                ArgKind::ConstSize | ArgKind::ConstSizeOrZero => {
                    let size = rng.pick(&[0u64, 1, 2, 4, 8, 20, 64]);
                    text.push_str(&format!(" r{reg} = {size}\n"));
                }
                _ => {
                    let value = if rng.next().is_multiple_of(3) {
                        rng.next()
                    } else {
                        rng.pick(EDGES)
                    };
                    text.push_str(&format!(" r{reg} = {value:#x} ll\n"));
                }
            }
        }
        text.push_str(&format!(" call {id}\n"));
    }
    text.push_str(" exit");
    text
}

fn frame(rng: &mut Rng) -> Vec<u8> {
    let len = rng.pick(&[14usize, 15, 33, 34, 54, 60, 100, 1514, 3520]);
    let mut data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    let ethertype = rng.pick(&[0x0800u16, 0x86dd, 0x8100, 0x88a8, 0x0806, 0x0040]);
    data[12..14].copy_from_slice(&ethertype.to_be_bytes());
    if ethertype == 0x0800 && len > 14 {
        data[14] = 0x45;
    }
    data
}

#[test]
fn packet_helpers_survive_hostile_arguments() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let rt = Runtime::new(1);
    let mut runner = Runner::new();
    let mut runs = 0;
    for (id, args) in packet_helpers() {
        for prog_type in [ProgType::SCHED_CLS, ProgType::SOCKET_FILTER, ProgType::XDP] {
            for _ in 0..40 {
                let calls = 1 + (rng.next() % 4) as usize;
                let text = hostile_program(&mut rng, id, &args, calls);
                let Ok(prog) = rt.load_program("h", prog_type, &code(&text), &[]) else {
                    continue;
                };
                let data = frame(&mut rng);
                let input = TestRunInput {
                    data_in: Some(&data),
                    repeat: 1 + (rng.next() % 3) as u32,
                    ..TestRunInput::default()
                };
                match rt.test_run(&mut runner, prog, &input) {
                    Ok(out) => {
                        let out_len = out.data_out.map_or(0, |d| d.len());
                        assert!(out_len <= 64 * 1024, "helper {id}: {out_len}-byte packet");
                        runs += 1;
                    }
                    Err(TestRunError::Run(_) | TestRunError::Invalid { .. }) => runs += 1,
                    Err(e) => panic!("helper {id}: unexpected {e}"),
                }
            }
        }
    }
    assert!(runs > 1000, "only {runs} runs");
}

#[test]
fn random_contexts_and_sizes_are_refused_or_run() {
    let mut rng = Rng(0x0bad_cafe_f00d_0001);
    let rt = Runtime::new(2);
    let mut runner = Runner::new();
    let read_all = "r0 = *(u32 *)(r1 + 0)\n exit";
    let types = [
        ProgType::XDP,
        ProgType::SCHED_CLS,
        ProgType::SOCKET_FILTER,
        ProgType::RAW_TRACEPOINT,
        ProgType::SYSCALL,
        ProgType::KPROBE,
        ProgType::UNSPEC,
    ];
    for prog_type in types {
        let prog = rt
            .load_program("c", prog_type, &code(read_all), &[])
            .expect("a 4-byte context read loads");
        for _ in 0..300 {
            let ctx_len = rng.pick(&[0usize, 1, 4, 8, 23, 24, 25, 96, 97, 168, 191, 192, 200, 300]);
            let mut ctx: Vec<u8> = vec![0; ctx_len];
            for byte in ctx.iter_mut() {
                if rng.next().is_multiple_of(8) {
                    *byte = rng.next() as u8;
                }
            }
            let data = frame(&mut rng);
            let input = TestRunInput {
                data_in: (rng.next().is_multiple_of(2)).then_some(data.as_slice()),
                ctx_in: (!rng.next().is_multiple_of(4)).then_some(ctx.as_slice()),
                data_size_out: rng.pick(&[None, Some(0), Some(1), Some(20)]),
                repeat: rng.pick(&[0, 1, 2]),
                cpu: rng.pick(&[0, 1, 5]),
                flags: rng.pick(&[0, 1, 2, 4, 8]),
                ..TestRunInput::default()
            };
            match rt.test_run(&mut runner, prog, &input) {
                Ok(_) | Err(TestRunError::Invalid { .. } | TestRunError::Run(_)) => {}
                Err(e) => panic!("{prog_type}: unexpected {e}"),
            }
        }
    }
}

#[test]
fn repeated_pushes_run_out_of_room_without_panicking() {
    let rt = Runtime::new(1);
    let mut runner = Runner::new();
    let mut data = vec![0u8; 60];
    data[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    data[14] = 0x45;
    // Callbacks push headers until the frame is full: adjust_room by 4095
    // bytes (NET and MAC modes), VLAN tags, and change_head.
    let pushes = [
        "r1 = r2\n r2 = 4095\n r3 = 0\n r4 = 0\n call 50",
        "r1 = r2\n r2 = 4095\n r3 = 1\n r4 = 0\n call 50",
        "r1 = r2\n r2 = 0x81\n r3 = 1\n call 18",
        "r1 = r2\n r2 = 4000\n r3 = 0\n call 43",
        "r1 = r2\n r2 = 0xdd86\n r3 = 0\n call 31\n r1 = r6\n r2 = 0x8\n r3 = 0\n call 31",
    ];
    for push in pushes {
        let text = format!(
            "r6 = r1\n r1 = 5000\n ld_pseudo r2, 4, cb\n r3 = r6\n r4 = 0\n call 181\n r0 = 0\n exit\n cb:\n r6 = r2\n {push}\n r0 = 0\n exit"
        );
        for prog_type in [ProgType::SCHED_CLS, ProgType::SOCKET_FILTER] {
            let prog = rt
                .load_program("push", prog_type, &code(&text), &[])
                .expect("loads");
            let input = TestRunInput {
                data_in: Some(&data),
                ..TestRunInput::default()
            };
            let out = rt.test_run(&mut runner, prog, &input);
            assert!(out.is_ok(), "{prog_type} {push}: {out:?}");
        }
    }
}

#[test]
fn random_helper_sequences_never_panic() {
    let mut rng = Rng(0x5eed_0f5e_ed0f);
    let rt = Runtime::new(1);
    let mut runner = Runner::new();
    let helpers = packet_helpers();
    for round in 0..3000 {
        let count = 1 + (rng.next() % 6) as usize;
        let sequence: Vec<_> = (0..count)
            .map(|_| helpers[(rng.next() % helpers.len() as u64) as usize].clone())
            .collect();
        let text = hostile_sequence(&mut rng, &sequence);
        let prog_type = rng.pick(&[ProgType::SCHED_CLS, ProgType::SOCKET_FILTER, ProgType::XDP]);
        let Ok(prog) = rt.load_program("s", prog_type, &code(&text), &[]) else {
            continue;
        };
        let data = frame(&mut rng);
        let input = TestRunInput {
            data_in: Some(&data),
            repeat: 1 + (rng.next() % 2) as u32,
            ..TestRunInput::default()
        };
        match rt.test_run(&mut runner, prog, &input) {
            Ok(_) | Err(TestRunError::Run(_) | TestRunError::Invalid { .. }) => {}
            Err(e) => panic!("round {round}: unexpected {e}\n{text}"),
        }
    }
}
