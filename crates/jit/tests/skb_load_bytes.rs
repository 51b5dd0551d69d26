//! `bpf_skb_load_bytes`, which compiled code copies itself where the
//! helper surely succeeds (`emit_packet_load`): through test-run on
//! packets of several lengths, once and repeated, every offset and length
//! around the packet's end, above `i32::MAX` and with high bits the helper
//! ignores, destinations on the stack, across its top, in the context
//! and outside any region, after a helper that moves the packet (and in
//! the runs after it), and an xdp run (no skb): the same results,
//! errors, packet and context as the interpreter's helper. Copies to the
//! stack are also checked against the packet's own bytes.

use apiary_kernel::types::ProgType;
use apiary_runtime::{ProgId, Runtime, TestRunInput};
use apiary_vm::{Engine, Runner};

/// What the destination register is set to, in the program's words.
#[derive(Clone, Copy, Debug)]
enum Dest {
    /// `r10 - 16`, 16 bytes filled with [`FILL`] first.
    Stack,
    /// `r10 - 4`: a copy of more than 4 bytes crosses the stack's top.
    StackTop,
    /// The context (`r1`).
    Context,
    /// An address no region holds.
    Nowhere,
}

/// What the 16 bytes at `r10 - 16` hold before the call.
const FILL: u64 = 0xa5a5_5a5a_0f0f_f0f0;

/// A program that calls `bpf_skb_load_bytes(skb, offset, dest, len)` and
/// returns [`fold`] of its result and the 16 bytes at `r10 - 16`.
fn program(offset: u64, dest: Dest, len: u64) -> String {
    program_after("", offset, dest, len)
}

/// [`program`], with `before` first (given the context in `r6`).
fn program_after(before: &str, offset: u64, dest: Dest, len: u64) -> String {
    let dest = match dest {
        Dest::Stack => "r3 = r10\nr3 += -16".to_owned(),
        Dest::StackTop => "r3 = r10\nr3 += -4".to_owned(),
        Dest::Context => "r3 = r6".to_owned(),
        Dest::Nowhere => "r3 = 0x1000 ll".to_owned(),
    };
    format!(
        "r6 = r1\n{before}r1 = {FILL:#x} ll\n*(u64 *)(r10 - 16) = r1\n*(u64 *)(r10 - 8) = r1\n\
         r1 = r6\nr2 = {offset:#x} ll\n{dest}\nr4 = {len:#x} ll\ncall 26\n\
         r1 = *(u64 *)(r10 - 16)\nr2 = *(u64 *)(r10 - 8)\n\
         r1 *= 31\nr1 ^= r2\nr1 *= 31\nr1 ^= r0\nr0 = r1\nr1 >>= 32\nr0 ^= r1\nexit"
    )
}

/// The program's return value, as test-run reports it (32 bits), for a
/// helper result `r0` and the 16 bytes at `r10 - 16` after the call.
fn fold(r0: u64, bytes: [u8; 16]) -> u32 {
    let word = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    let folded = (word(0).wrapping_mul(31) ^ word(8)).wrapping_mul(31) ^ r0;
    (folded ^ (folded >> 32)) as u32
}

/// What the helper does to the 16 bytes at `r10 - 16` with `offset` and
/// `len` (as `u32`s), and its result: the kernel's `bpf_skb_load_bytes`.
fn expected(packet: &[u8], offset: u64, len: u64) -> u32 {
    let (offset, len) = (offset as u32 as usize, len as u32 as usize);
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&FILL.to_le_bytes());
    bytes[8..].copy_from_slice(&FILL.to_le_bytes());
    let copied = (offset <= i32::MAX as usize)
        .then(|| packet.get(offset..offset + len))
        .flatten();
    let r0 = match copied {
        Some(from) => {
            bytes[..len].copy_from_slice(from);
            0
        }
        None => {
            bytes[..len].fill(0);
            (-14i64) as u64
        }
    };
    fold(r0, bytes)
}

/// A runtime with `source` loaded as a program of `prog_type`, compiled
/// (unverified: every check the fast path relies on is its own) when
/// `engine` is the JIT.
fn load(source: &str, prog_type: ProgType, engine: Engine) -> (std::sync::Arc<Runtime>, ProgId) {
    let insns = apiary_asm::assemble_slots(source).expect("assembles");
    let runtime = Runtime::new(1);
    let prog = runtime
        .load_program("load_bytes", prog_type, &insns, &[])
        .expect("loads");
    if engine == Engine::Compiled {
        let program = runtime.program(prog).expect("loaded");
        apiary_jit::compile(&program).expect("compiles");
    }
    (runtime, prog)
}

/// Test-run of `source` on `packet`, `repeat` times, by `engine`: the
/// result without the timing.
/// `run` of a tc program in the interpreter, then compiled.
fn tc_tiers(source: &str, packet: &[u8], repeat: u32) -> (String, String) {
    let run_in = |engine| run(source, ProgType::SCHED_CLS, engine, packet, repeat);
    (run_in(Engine::Interpreter), run_in(Engine::Compiled))
}

fn run(source: &str, prog_type: ProgType, engine: Engine, packet: &[u8], repeat: u32) -> String {
    let (runtime, prog) = load(source, prog_type, engine);
    let mut runner = Runner::new();
    runner.set_engine(engine);
    let input = TestRunInput {
        data_in: Some(packet),
        repeat,
        ..TestRunInput::default()
    };
    match runtime.test_run(&mut runner, prog, &input) {
        Ok(out) => format!(
            "retval {:#x} data {:?} ctx {:?} events {:?}",
            out.retval, out.data_out, out.ctx_out, out.events
        ),
        Err(error) => format!("error {error}"),
    }
}

/// A frame of `len` bytes, each its index plus one.
fn frame(len: usize) -> Vec<u8> {
    (1..=len).map(|i| i as u8).collect()
}

const OFFSETS: [u64; 12] = [
    0,
    1,
    12,
    40,
    52,
    53,
    54,
    60,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    // The helper reads a `u32`: this is offset 12.
    0x1_0000_000c,
];
const LENS: [u64; 7] = [0, 1, 2, 4, 8, 16, 0x1_0000_0002];

#[test]
fn copies_to_the_stack_agree_with_the_interpreter_and_the_packet() {
    let mut copied = 0;
    for packet in [frame(14), frame(54), frame(60)] {
        for offset in OFFSETS {
            for len in LENS {
                let source = program(offset, Dest::Stack, len);
                for repeat in [1, 3] {
                    let (want, got) = tc_tiers(&source, &packet, repeat);
                    assert_eq!(
                        got,
                        want,
                        "offset {offset:#x} len {len:#x} packet {}",
                        packet.len()
                    );
                    let folded = expected(&packet, offset, len);
                    assert!(
                        want.starts_with(&format!("retval {folded:#x} ")),
                        "{want}: expected retval {folded:#x}, offset {offset:#x} len {len:#x} packet {}",
                        packet.len()
                    );
                    copied += usize::from(expected(&packet, offset, len) != expected(&[], 0, 1));
                }
            }
        }
    }
    assert!(copied > 50, "only {copied} runs copied bytes");
}

#[test]
fn other_destinations_take_the_helper_and_agree() {
    let packet = frame(54);
    for dest in [Dest::StackTop, Dest::Context, Dest::Nowhere] {
        for offset in [0, 50, 54] {
            for len in [0, 2, 4, 8] {
                let source = program(offset, dest, len);
                for repeat in [1, 3] {
                    let (want, got) = tc_tiers(&source, &packet, repeat);
                    assert_eq!(got, want, "{dest:?} offset {offset} len {len}");
                }
            }
        }
    }
}

#[test]
fn a_packet_moved_by_a_helper_is_read_where_it_went() {
    // `bpf_skb_change_head(skb, 16, 0)`: 16 bytes more in front, every run.
    let grow = "r1 = r6\nr2 = 16\nr3 = 0\ncall 43\n";
    let packet = frame(54);
    for (offset, len) in [(0, 16), (16, 8), (60, 8), (62, 8), (70, 8), (78, 8)] {
        let source = program_after(grow, offset, Dest::Stack, len);
        for repeat in [1, 2, 3] {
            let (want, got) = tc_tiers(&source, &packet, repeat);
            assert_eq!(got, want, "offset {offset} len {len} repeat {repeat}");
        }
    }
}

#[test]
fn an_xdp_run_has_no_skb_and_fails_as_the_helper_does() {
    let packet = frame(54);
    let source = program(12, Dest::Stack, 2);
    let want = run(&source, ProgType::XDP, Engine::Interpreter, &packet, 1);
    assert!(want.starts_with("error"), "{want}");
    assert_eq!(
        run(&source, ProgType::XDP, Engine::Compiled, &packet, 1),
        want
    );
}
