//! Memory checks, calls, budget, helpers, tail calls and callbacks.

use std::sync::Arc;

use apiary_isa::{
    AluOp, AtomicOp, CallTarget, Insn, JmpCond, LdImm64Kind, PacketMode, Reg, Size, Source, Width,
    encode_program,
};
use apiary_vm::{
    Access, FaultLocation, HelperContext, HelperError, Helpers, LoadError, MAX_TAIL_CALLS, Program,
    Region, RunError, RunInput, Runner,
};

fn mov(dst: Reg, imm: i32) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src: Source::Imm(imm),
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

fn add(dst: Reg, imm: i32) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Add,
        dst,
        src: Source::Imm(imm),
    }
}

fn ldx(size: Size, dst: Reg, src: Reg, off: i16) -> Insn {
    Insn::Load {
        size,
        sign_extend: false,
        dst,
        src,
        off,
    }
}

fn stx(size: Size, dst: Reg, off: i16, src: Reg) -> Insn {
    Insn::Store {
        size,
        dst,
        off,
        src: Source::Reg(src),
    }
}

fn call_local(imm: i32) -> Insn {
    Insn::Call(CallTarget::Local(imm))
}

fn helper(id: i32) -> Insn {
    Insn::Call(CallTarget::Helper(id))
}

fn load<E>(insns: &[Insn], helpers: &Arc<Helpers<E>>) -> Program<E> {
    Program::new(&encode_program(insns), helpers.clone()).expect("program loads")
}

fn run_mem(insns: &[Insn], mem: &mut [u8]) -> Result<u64, RunError> {
    let program = load::<()>(insns, &Arc::new(Helpers::new()));
    Runner::new().run_on_memory(&program, &mut (), mem)
}

#[test]
fn loads_and_stores_inside_the_memory_region() {
    let mut mem = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
    let r = run_mem(
        &[
            ldx(Size::DW, Reg::R0, Reg::R1, 1),
            stx(Size::W, Reg::R1, 0, Reg::R0),
            Insn::Exit,
        ],
        &mut mem,
    );
    assert_eq!(r, Ok(0x0908_0706_0504_0302));
    assert_eq!(mem[..4], [2, 3, 4, 5]);
}

#[test]
fn sign_extending_loads() {
    let mut mem = [0x80u8, 0xff, 0xff, 0xff];
    for (size, want) in [
        (Size::B, -128i64 as u64),
        (Size::H, 0xffff_ffff_ffff_ff80),
        (Size::W, 0xffff_ffff_ffff_ff80),
    ] {
        let r = run_mem(
            &[
                Insn::Load {
                    size,
                    sign_extend: true,
                    dst: Reg::R0,
                    src: Reg::R1,
                    off: 0,
                },
                Insn::Exit,
            ],
            &mut mem,
        );
        assert_eq!(r, Ok(want), "{size:?}");
    }
}

fn fault_at(r: Result<u64, RunError>) -> (u64, u64, Access) {
    match r {
        Err(RunError::MemoryFault {
            addr, size, access, ..
        }) => (addr, size, access),
        other => panic!("expected a memory fault, got {other:?}"),
    }
}

#[test]
fn memory_region_boundaries() {
    let mut mem = [0u8; 16];
    let base = mem.as_ptr() as u64;
    // Last byte in range, then one past, and one before.
    assert_eq!(
        run_mem(&[ldx(Size::B, Reg::R0, Reg::R1, 15), Insn::Exit], &mut mem),
        Ok(0)
    );
    assert_eq!(
        run_mem(&[ldx(Size::DW, Reg::R0, Reg::R1, 8), Insn::Exit], &mut mem),
        Ok(0)
    );
    let (addr, size, access) = fault_at(run_mem(
        &[ldx(Size::B, Reg::R0, Reg::R1, 16), Insn::Exit],
        &mut mem,
    ));
    assert_eq!((addr, size, access), (base + 16, 1, Access::Load));
    let (addr, size, _) = fault_at(run_mem(
        &[ldx(Size::DW, Reg::R0, Reg::R1, 9), Insn::Exit],
        &mut mem,
    ));
    assert_eq!((addr, size), (base + 9, 8));
    let (addr, _, access) = fault_at(run_mem(
        &[stx(Size::B, Reg::R1, -1, Reg::R0), Insn::Exit],
        &mut mem,
    ));
    assert_eq!((addr, access), (base - 1, Access::Store));
}

fn location_of(r: Result<u64, RunError>) -> (FaultLocation, String) {
    match r {
        Err(error @ RunError::MemoryFault { .. }) => {
            let text = error.to_string();
            let RunError::MemoryFault { location, .. } = error else {
                unreachable!()
            };
            (location, text)
        }
        other => panic!("expected a memory fault, got {other:?}"),
    }
}

/// Faults name the region the base register pointed into and the offset
/// from its start, the stack frame and offset from r10, or say that the
/// value is no pointer at all; never only a host address.
#[test]
fn faults_name_their_region_and_offset() {
    let mut mem = [0u8; 16];
    let (location, text) = location_of(run_mem(
        &[ldx(Size::W, Reg::R0, Reg::R1, 100), Insn::Exit],
        &mut mem,
    ));
    assert_eq!(
        location,
        FaultLocation::Memory {
            offset: 100,
            len: 16
        }
    );
    assert!(
        text.ends_with("load of 4 bytes at memory+100 (the region is 16 bytes)"),
        "{text}"
    );
    let (location, _) = location_of(run_mem(
        &[stx(Size::B, Reg::R1, -3, Reg::R0), Insn::Exit],
        &mut mem,
    ));
    assert_eq!(
        location,
        FaultLocation::Memory {
            offset: -3,
            len: 16
        }
    );
    let (location, text) = location_of(run_mem(
        &[ldx(Size::DW, Reg::R0, Reg::R10, -520), Insn::Exit],
        &mut mem,
    ));
    assert_eq!(
        location,
        FaultLocation::Stack {
            frame: 0,
            offset: -520,
            active: true
        }
    );
    assert!(text.contains("stack frame 0 r10-520"), "{text}");
    // In a callee (frame 1), below its stack; and a pointer a callee
    // returned to its own stack, used by the caller after the return:
    // frame 1 is then no longer running.
    let (location, text) = location_of(run_mem(
        &[
            call_local(1),
            Insn::Exit,
            ldx(Size::DW, Reg::R0, Reg::R10, -520),
            Insn::Exit,
        ],
        &mut mem,
    ));
    assert_eq!(
        location,
        FaultLocation::Stack {
            frame: 1,
            offset: -520,
            active: true
        }
    );
    assert!(text.contains("stack frame 1 r10-520"), "{text}");
    let (location, text) = location_of(run_mem(
        &[
            call_local(2),
            ldx(Size::DW, Reg::R0, Reg::R0, 0),
            Insn::Exit,
            mov_reg(Reg::R0, Reg::R10),
            add(Reg::R0, -8),
            Insn::Exit,
        ],
        &mut mem,
    ));
    assert_eq!(
        location,
        FaultLocation::Stack {
            frame: 1,
            offset: -8,
            active: false
        }
    );
    assert!(text.contains("(frame 1 is not running)"), "{text}");
    let (location, text) = location_of(run_mem(
        &[
            mov(Reg::R1, 0x1000),
            ldx(Size::W, Reg::R0, Reg::R1, 0),
            Insn::Exit,
        ],
        &mut mem,
    ));
    assert_eq!(location, FaultLocation::Nowhere { addr: 0x1000 });
    assert!(
        text.ends_with("0x1000, not a pointer the program may use"),
        "{text}"
    );
}

#[test]
fn null_pointer_faults() {
    let (addr, size, _) = fault_at(run_mem(
        &[
            mov(Reg::R1, 0),
            ldx(Size::W, Reg::R0, Reg::R1, 0),
            Insn::Exit,
        ],
        &mut [],
    ));
    assert_eq!((addr, size), (0, 4));
}

#[test]
fn address_wraparound_faults() {
    let (addr, _, _) = fault_at(run_mem(
        &[
            mov(Reg::R1, -1),
            ldx(Size::DW, Reg::R0, Reg::R1, 0),
            Insn::Exit,
        ],
        &mut [],
    ));
    assert_eq!(addr, u64::MAX);
}

#[test]
fn stack_boundaries() {
    let ok = run_mem(
        &[
            mov(Reg::R1, 7),
            stx(Size::DW, Reg::R10, -512, Reg::R1),
            stx(Size::DW, Reg::R10, -8, Reg::R1),
            ldx(Size::DW, Reg::R0, Reg::R10, -512),
            Insn::Exit,
        ],
        &mut [],
    );
    assert_eq!(ok, Ok(7));
    for (off, size) in [
        (-513i16, Size::B),
        (0, Size::B),
        (-7, Size::DW),
        (-516, Size::DW),
    ] {
        let r = run_mem(&[stx(size, Reg::R10, off, Reg::R1), Insn::Exit], &mut []);
        let (_, _, access) = fault_at(r);
        assert_eq!(access, Access::Store, "off {off}");
    }
}

#[test]
fn read_only_region_refuses_stores() {
    let data = [5u8; 8];
    let program = load::<()>(
        &[
            ldx(Size::B, Reg::R0, Reg::R1, 0),
            stx(Size::B, Reg::R1, 0, Reg::R0),
            Insn::Exit,
        ],
        &Arc::new(Helpers::new()),
    );
    let regions = [Region::readable(&data)];
    let input = RunInput {
        args: [data.as_ptr() as u64, 0, 0, 0, 0],
        regions: &regions,
        packet: None,
        headers: None,
    };
    let (_, _, access) = fault_at(Runner::new().run(&program, &mut (), &input));
    assert_eq!(access, Access::Store);
}

/// A chain of `depth` nested bpf-to-bpf calls, each returning its callee's r0 + 1.
fn nested_calls(depth: usize) -> Vec<Insn> {
    let mut insns = Vec::new();
    for _ in 1..depth {
        insns.extend([call_local(2), add(Reg::R0, 1), Insn::Exit]);
    }
    insns.extend([mov(Reg::R0, 1), Insn::Exit]);
    insns
}

#[test]
fn call_depth_eight_runs_nine_fails() {
    assert_eq!(run_mem(&nested_calls(8), &mut []), Ok(8));
    assert!(matches!(
        run_mem(&nested_calls(9), &mut []),
        Err(RunError::CallDepthExceeded { pc: 21, max: 8 })
    ));
}

#[test]
fn calls_preserve_callee_saved_registers_and_have_their_own_stack() {
    let r = run_mem(
        &[
            mov(Reg::R6, 10),
            mov(Reg::R1, 1),
            stx(Size::DW, Reg::R10, -8, Reg::R1),
            mov_reg(Reg::R1, Reg::R10),
            call_local(3),
            ldx(Size::DW, Reg::R1, Reg::R10, -8),
            Insn::Alu {
                width: Width::W64,
                op: AluOp::Add,
                dst: Reg::R0,
                src: Source::Reg(Reg::R6),
            },
            Insn::Exit,
            // Callee: clobbers r6, writes its own stack, reads the caller's through r1.
            mov(Reg::R6, 1000),
            stx(Size::DW, Reg::R10, -8, Reg::R6),
            ldx(Size::DW, Reg::R0, Reg::R1, -8),
            Insn::Exit,
        ],
        &mut [],
    );
    assert_eq!(r, Ok(11));
}

#[test]
fn callee_running_over_its_frame_top_faults() {
    // The callee's r10 + 0 would be the caller's stack without the guard gap.
    let r = run_mem(
        &[
            call_local(1),
            Insn::Exit,
            ldx(Size::DW, Reg::R0, Reg::R10, 0),
            Insn::Exit,
        ],
        &mut [],
    );
    fault_at(r);
}

fn infinite_loop() -> Vec<Insn> {
    vec![Insn::Ja { off: -1 }, Insn::Exit]
}

#[test]
fn budget_stops_infinite_loops() {
    let program = load::<()>(&infinite_loop(), &Arc::new(Helpers::new()));
    let mut runner = Runner::new();
    runner.set_budget(Some(1000));
    assert_eq!(
        runner.run_on_memory(&program, &mut (), &mut []),
        Err(RunError::BudgetExhausted { pc: 0, limit: 1000 })
    );
    // Exactly enough budget for a 3-instruction program.
    let program = load::<()>(
        &[mov(Reg::R0, 1), add(Reg::R0, 1), Insn::Exit],
        &Arc::new(Helpers::new()),
    );
    runner.set_budget(Some(3));
    assert_eq!(runner.run_on_memory(&program, &mut (), &mut []), Ok(2));
    runner.set_budget(Some(2));
    assert!(matches!(
        runner.run_on_memory(&program, &mut (), &mut []),
        Err(RunError::BudgetExhausted { pc: 2, .. })
    ));
}

#[test]
fn may_goto_falls_through_eight_million_times() {
    // r0 counts iterations; may_goto leaves the loop once the frame's budget is spent.
    let r = run_mem(
        &[
            mov(Reg::R0, 0),
            Insn::MayGoto { off: 2 },
            add(Reg::R0, 1),
            Insn::Ja { off: -3 },
            Insn::Exit,
        ],
        &mut [],
    );
    assert_eq!(r, Ok(8 * 1024 * 1024));
}

#[test]
fn load_errors_name_the_instruction() {
    let helpers = Arc::new(Helpers::<()>::new());
    let err = |insns: &[Insn]| Program::new(&encode_program(insns), helpers.clone()).unwrap_err();
    assert_eq!(
        err(&[mov(Reg::R0, 0), helper(1), Insn::Exit]),
        LoadError::MissingHelper { pc: 1, id: 1 }
    );
    assert_eq!(
        err(&[mov(Reg::R10, 0), Insn::Exit]),
        LoadError::WritesFramePointer { pc: 0 }
    );
    assert_eq!(
        err(&[
            Insn::Call(CallTarget::Kfunc {
                btf_id: 7,
                module: 0
            }),
            Insn::Exit
        ]),
        LoadError::Kfunc { pc: 0, btf_id: 7 }
    );
    assert!(matches!(err(&[Insn::Ja { off: 5 }]), LoadError::Decode(_)));
    assert_eq!(
        Program::new(&[], helpers.clone()).unwrap_err(),
        LoadError::Empty
    );
    assert_eq!(
        err(&[
            Insn::AddrSpaceCast {
                dst: Reg::R0,
                src: Reg::R1,
                dst_as: 1,
                src_as: 0
            },
            Insn::Exit
        ]),
        LoadError::AddrSpaceCast { pc: 0 }
    );
}

#[test]
fn falling_off_the_end_is_an_error() {
    assert_eq!(
        run_mem(&[mov(Reg::R0, 0)], &mut []),
        Err(RunError::FellOffEnd { pc: 1 })
    );
}

/// Embedder state for helper tests.
#[derive(Default)]
struct Env {
    calls: u64,
    seen: Vec<u8>,
    tail: Option<Arc<Program<Env>>>,
}

fn sum_bytes(ctx: &mut HelperContext<'_, Env>, args: [u64; 5]) -> Result<u64, HelperError> {
    let bytes = ctx.read(args[0], args[1] as usize)?.to_vec();
    ctx.write(args[2], &[0xaa])?;
    ctx.env().calls += 1;
    ctx.env().seen.extend_from_slice(&bytes);
    Ok(bytes.iter().map(|&b| u64::from(b)).sum())
}

fn unwind(ctx: &mut HelperContext<'_, Env>, args: [u64; 5]) -> Result<u64, HelperError> {
    if args[0] == 0 {
        ctx.stop(0);
    }
    Ok(args[0])
}

fn env_helpers() -> Arc<Helpers<Env>> {
    let mut h = Helpers::new();
    h.register(1, "sum_bytes", sum_bytes).unwrap();
    h.register(5, "unwind", unwind).unwrap();
    h.register(12, "tail_call", tail_call).unwrap();
    h.register(181, "loop", bpf_loop).unwrap();
    Arc::new(h)
}

#[test]
fn helpers_read_and_write_guest_memory() {
    let helpers = env_helpers();
    let program = load(
        &[
            mov(Reg::R2, 3),
            mov_reg(Reg::R3, Reg::R1),
            add(Reg::R3, 3),
            helper(1),
            Insn::Exit,
        ],
        &helpers,
    );
    let mut env = Env::default();
    let mut mem = [1u8, 2, 3, 0];
    assert_eq!(
        Runner::new().run_on_memory(&program, &mut env, &mut mem),
        Ok(6)
    );
    assert_eq!(mem, [1, 2, 3, 0xaa]);
    assert_eq!((env.calls, env.seen.as_slice()), (1, &[1u8, 2, 3][..]));
    // One byte too many: the helper's read faults and the run fails, naming the helper.
    let program = load(
        &[
            mov(Reg::R2, 5),
            mov_reg(Reg::R3, Reg::R1),
            helper(1),
            Insn::Exit,
        ],
        &helpers,
    );
    let r = Runner::new().run_on_memory(&program, &mut env, &mut mem);
    assert!(
        matches!(
            r,
            Err(RunError::Helper {
                pc: 2,
                id: 1,
                name: "sum_bytes",
                source: HelperError::Memory {
                    len: 5,
                    access: Access::Load,
                    ..
                }
            })
        ),
        "{r:?}"
    );
}

#[test]
fn unwind_helper_stops_the_program() {
    let helpers = env_helpers();
    let program = load(
        &[
            mov(Reg::R1, 3),
            helper(5),
            mov(Reg::R1, 0),
            mov(Reg::R0, 9),
            helper(5),
            mov(Reg::R0, 42),
            Insn::Exit,
        ],
        &helpers,
    );
    let r = Runner::new().run_on_memory(&program, &mut Env::default(), &mut []);
    assert_eq!(r, Ok(0));
}

#[test]
fn callx_calls_the_helper_in_the_register() {
    let helpers = env_helpers();
    let program = load(
        &[
            mov(Reg::R8, 5),
            mov(Reg::R1, 77),
            Insn::Callx { reg: Reg::R8 },
            Insn::Exit,
        ],
        &helpers,
    );
    assert_eq!(
        Runner::new().run_on_memory(&program, &mut Env::default(), &mut []),
        Ok(77)
    );
    let program = load(
        &[mov(Reg::R8, 6), Insn::Callx { reg: Reg::R8 }, Insn::Exit],
        &helpers,
    );
    assert_eq!(
        Runner::new().run_on_memory(&program, &mut Env::default(), &mut []),
        Err(RunError::UnknownHelper { pc: 1, id: 6 })
    );
}

fn tail_call(ctx: &mut HelperContext<'_, Env>, _args: [u64; 5]) -> Result<u64, HelperError> {
    let Some(next) = ctx.env().tail.clone() else {
        return Ok(u64::MAX);
    };
    match ctx.tail_call(next) {
        Ok(()) => Ok(0),
        Err(_) => Ok(u64::MAX - 1),
    }
}

#[test]
fn tail_calls_stop_after_33() {
    let helpers = env_helpers();
    // Counts its runs in stack slot -8 (the stack is shared by tail calls);
    // returns the count once a tail call is refused.
    let program = Arc::new(load(
        &[
            ldx(Size::DW, Reg::R0, Reg::R10, -8),
            add(Reg::R0, 1),
            stx(Size::DW, Reg::R10, -8, Reg::R0),
            helper(12),
            ldx(Size::DW, Reg::R0, Reg::R10, -8),
            Insn::Exit,
        ],
        &helpers,
    ));
    let entry = load(
        &[
            mov(Reg::R0, 0),
            stx(Size::DW, Reg::R10, -8, Reg::R0),
            helper(12),
            mov(Reg::R0, -1),
            Insn::Exit,
        ],
        &helpers,
    );
    let mut env = Env {
        tail: Some(program),
        ..Env::default()
    };
    let r = Runner::new().run_on_memory(&entry, &mut env, &mut []);
    assert_eq!(r, Ok(u64::from(MAX_TAIL_CALLS)));
}

/// `bpf_loop(nr, callback, ctx, flags)`: calls `callback(i, ctx)` until it returns 1.
fn bpf_loop(ctx: &mut HelperContext<'_, Env>, args: [u64; 5]) -> Result<u64, HelperError> {
    for i in 0..args[0] {
        let r = ctx
            .call_function(args[1], [i, args[2], 0, 0, 0])
            .map_err(|e| HelperError::Callback(Box::new(e)))?;
        if r == 1 {
            return Ok(i + 1);
        }
    }
    Ok(args[0])
}

#[test]
fn callbacks_run_in_their_own_frame_and_see_the_callers_stack() {
    let helpers = env_helpers();
    // Sum 0..10 into the caller's stack slot through the callback's r2.
    let program = load(
        &[
            mov(Reg::R6, 0),
            stx(Size::DW, Reg::R10, -8, Reg::R6),
            mov(Reg::R1, 10),
            Insn::LoadImm64 {
                dst: Reg::R2,
                kind: LdImm64Kind::Func,
                // Slot 3 + 7 + 1 = slot 11, the callback.
                imm: 7,
            },
            mov_reg(Reg::R3, Reg::R10),
            add(Reg::R3, -8),
            mov(Reg::R4, 0),
            helper(181),
            ldx(Size::DW, Reg::R0, Reg::R10, -8),
            Insn::Exit,
            // callback(i, ctx): *ctx += i; return 0
            ldx(Size::DW, Reg::R3, Reg::R2, 0),
            Insn::Alu {
                width: Width::W64,
                op: AluOp::Add,
                dst: Reg::R3,
                src: Source::Reg(Reg::R1),
            },
            stx(Size::DW, Reg::R2, 0, Reg::R3),
            mov(Reg::R0, 0),
            Insn::Exit,
        ],
        &helpers,
    );
    let r = Runner::new().run_on_memory(&program, &mut Env::default(), &mut []);
    assert_eq!(r, Ok(45));
}

#[test]
fn atomics_fetch_and_exchange() {
    let mut mem = 10u64.to_le_bytes();
    let atomic = |op, src| Insn::Atomic {
        size: Size::DW,
        op,
        dst: Reg::R1,
        src,
        off: 0,
    };
    let r = run_mem(
        &[
            mov(Reg::R2, 5),
            atomic(AtomicOp::Add { fetch: true }, Reg::R2), // mem 15, r2 10
            mov(Reg::R0, 15),
            mov(Reg::R3, 99),
            atomic(AtomicOp::CmpXchg, Reg::R3), // mem 99, r0 15
            Insn::Alu {
                width: Width::W64,
                op: AluOp::Add,
                dst: Reg::R0,
                src: Source::Reg(Reg::R2),
            },
            Insn::Exit,
        ],
        &mut mem,
    );
    assert_eq!(r, Ok(25));
    assert_eq!(u64::from_le_bytes(mem), 99);
}

#[test]
fn misaligned_atomic_is_an_error() {
    let mut mem = [0u8; 16];
    let r = run_mem(
        &[
            add(Reg::R1, 1),
            Insn::Atomic {
                size: Size::W,
                op: AtomicOp::Add { fetch: false },
                dst: Reg::R1,
                src: Reg::R1,
                off: 0,
            },
            Insn::Exit,
        ],
        &mut mem,
    );
    assert!(
        matches!(r, Err(RunError::MisalignedAtomic { pc: 1, size: 4, .. })),
        "{r:?}"
    );
}

#[test]
fn packet_loads_are_big_endian_and_end_the_program_out_of_bounds() {
    let packet = [0x12u8, 0x34, 0x56, 0x78, 0x9a];
    let program = load::<()>(
        &[
            Insn::LoadPacket {
                mode: PacketMode::Abs,
                size: Size::H,
                src: Reg::R0,
                imm: 1,
            },
            mov_reg(Reg::R6, Reg::R0),
            mov(Reg::R7, 1),
            Insn::LoadPacket {
                mode: PacketMode::Ind,
                size: Size::W,
                src: Reg::R7,
                imm: 0,
            },
            Insn::Jump {
                width: Width::W64,
                cond: JmpCond::Ne,
                dst: Reg::R6,
                src: Source::Imm(0x3456),
                off: 4,
            },
            Insn::LoadPacket {
                mode: PacketMode::Ind,
                size: Size::W,
                src: Reg::R7,
                imm: 1,
            },
            mov(Reg::R0, 7),
            Insn::Exit,
            Insn::Exit,
            mov(Reg::R0, 3),
            Insn::Exit,
        ],
        &Arc::new(Helpers::new()),
    );
    let input = RunInput {
        packet: Some(Region::readable(&packet)),
        ..RunInput::default()
    };
    // The first two loads succeed (r6 = 0x3456); the third reads past the end and returns 0.
    assert_eq!(Runner::new().run(&program, &mut (), &input), Ok(0));
}

fn multiply(a: u64, b: u64, _: u64, _: u64, _: u64) -> u64 {
    a.wrapping_mul(b)
}

#[test]
fn pure_helpers_are_called_directly_and_through_callx() {
    let mut helpers = Helpers::<()>::new();
    helpers.register_pure(7, "multiply", multiply).unwrap();
    let helpers = Arc::new(helpers);
    let program = load(
        &[
            mov(Reg::R1, 6),
            mov(Reg::R2, 7),
            helper(7),
            mov_reg(Reg::R1, Reg::R0),
            mov(Reg::R2, 10),
            mov(Reg::R9, 7),
            Insn::Callx { reg: Reg::R9 },
            Insn::Exit,
        ],
        &helpers,
    );
    assert_eq!(
        Runner::new().run_on_memory(&program, &mut (), &mut []),
        Ok(420)
    );
}

#[test]
fn runners_on_several_threads_share_a_program_and_atomic_memory() {
    use std::sync::atomic::{AtomicU64, Ordering};
    const THREADS: u64 = 4;
    const ITERATIONS: i32 = 20_000;
    // Adds 1 to the shared counter ITERATIONS times with lock xadd.
    let program = Arc::new(load::<()>(
        &[
            mov(Reg::R2, ITERATIONS),
            mov(Reg::R3, 1),
            Insn::Atomic {
                size: Size::DW,
                op: AtomicOp::Add { fetch: false },
                dst: Reg::R1,
                src: Reg::R3,
                off: 0,
            },
            add(Reg::R2, -1),
            Insn::Jump {
                width: Width::W64,
                cond: JmpCond::Ne,
                dst: Reg::R2,
                src: Source::Imm(0),
                off: -4,
            },
            mov(Reg::R0, 0),
            Insn::Exit,
        ],
        &Arc::new(Helpers::new()),
    ));
    let counter = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (program, counter) = (program.clone(), counter.clone());
            std::thread::spawn(move || {
                // SAFETY: the counter outlives the run (the Arc is held) and is only
                // accessed atomically, by the program and by the final load.
                let region = unsafe { Region::from_raw(counter.as_ptr().cast(), 8, true) };
                let input = RunInput {
                    args: [region.addr(), 0, 0, 0, 0],
                    regions: &[region],
                    packet: None,
                    headers: None,
                };
                Runner::new().run(&program, &mut (), &input)
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread"), Ok(0));
    }
    assert_eq!(counter.load(Ordering::SeqCst), THREADS * ITERATIONS as u64);
}

fn read_len_from_r2(ctx: &mut HelperContext<'_, Env>, args: [u64; 5]) -> Result<u64, HelperError> {
    let len = usize::try_from(args[1]).unwrap_or(usize::MAX);
    Ok(ctx.read(args[0], len)?.len() as u64)
}

#[test]
fn huge_helper_lengths_do_not_wrap_the_bounds_checks() {
    let mut helpers = Helpers::new();
    helpers.register(3, "read", read_len_from_r2).unwrap();
    let helpers = Arc::new(helpers);
    let mut mem = [0u8; 16];
    for (base, len) in [
        (Reg::R10, -8i32),
        (Reg::R10, -520),
        (Reg::R1, -1),
        (Reg::R1, -100),
    ] {
        let program = load(
            &[
                mov_reg(Reg::R1, base),
                add(Reg::R1, -16),
                mov(Reg::R2, len),
                helper(3),
                Insn::Exit,
            ],
            &helpers,
        );
        let r = Runner::new().run_on_memory(&program, &mut Env::default(), &mut mem);
        assert!(
            matches!(
                r,
                Err(RunError::Helper {
                    source: HelperError::Memory { .. },
                    ..
                })
            ),
            "{base} len {len}: {r:?}"
        );
    }
}

#[test]
fn tail_calls_from_a_subprogram_are_refused_and_fall_through() {
    let helpers = env_helpers();
    let target = Arc::new(load(&[mov(Reg::R0, 1), Insn::Exit], &helpers));
    // main calls a subprogram that tries a tail call and returns the helper's answer.
    let program = load(
        &[call_local(1), Insn::Exit, helper(12), Insn::Exit],
        &helpers,
    );
    let mut env = Env {
        tail: Some(target),
        ..Env::default()
    };
    let r = Runner::new().run_on_memory(&program, &mut env, &mut []);
    assert_eq!(r, Ok(u64::MAX - 1));
}

fn stop_with_seven(ctx: &mut HelperContext<'_, Env>, _: [u64; 5]) -> Result<u64, HelperError> {
    ctx.stop(7);
    Ok(0)
}

#[test]
fn stop_inside_a_callback_ends_the_whole_program() {
    let mut helpers = Helpers::new();
    helpers.register(181, "loop", bpf_loop).unwrap();
    helpers.register(5, "stop", stop_with_seven).unwrap();
    let helpers = Arc::new(helpers);
    let program = load(
        &[
            mov(Reg::R1, 100),
            Insn::LoadImm64 {
                dst: Reg::R2,
                kind: LdImm64Kind::Func,
                // Slot 1 + 4 + 1 = slot 6, the callback.
                imm: 4,
            },
            helper(181),
            mov(Reg::R0, 1),
            Insn::Exit,
            // callback: counts its calls in env, then stops the program.
            helper(5),
            Insn::Exit,
        ],
        &helpers,
    );
    let r = Runner::new().run_on_memory(&program, &mut Env::default(), &mut []);
    assert_eq!(r, Ok(7));
}

#[test]
fn callbacks_count_towards_the_frame_limit() {
    // A callback that calls bpf_loop on itself recurses one frame per level.
    let helpers = env_helpers();
    let program = load(
        &[
            mov(Reg::R1, 1),
            Insn::LoadImm64 {
                dst: Reg::R2,
                kind: LdImm64Kind::Func,
                // Slot 1 + (-2) + 1 = slot 0: the program itself is the callback.
                imm: (-2i32) as u32 as u64,
            },
            helper(181),
            Insn::Exit,
        ],
        &helpers,
    );
    let r = Runner::new().run_on_memory(&program, &mut Env::default(), &mut []);
    // Frames 0..=7 each call the helper; the eighth callback frame would be the ninth frame.
    let mut error = r.expect_err("recursion must hit the frame limit");
    let mut levels = 0;
    while let RunError::Helper {
        source: HelperError::Callback(inner),
        ..
    } = error
    {
        error = *inner;
        levels += 1;
    }
    assert_eq!(error, RunError::CallDepthExceeded { pc: 3, max: 8 });
    assert_eq!(levels, 8);
}

/// Moves the packet to `env.0 .. env.0 + env.1` (an address and length).
fn move_packet(ctx: &mut HelperContext<'_, (u64, u64)>, _: [u64; 5]) -> Result<u64, HelperError> {
    let (addr, len) = *ctx.env();
    // SAFETY: the tests below point it at a live buffer they own for the run.
    let region = unsafe { Region::from_raw(addr as *mut u8, len as usize, false) };
    ctx.set_packet(Some(region))?;
    Ok(0)
}

#[test]
fn helpers_move_the_packet_only_within_accessible_memory() {
    let mut helpers = Helpers::new();
    helpers.register(1, "move_packet", move_packet).unwrap();
    let program = load::<(u64, u64)>(
        &[
            Insn::Call(CallTarget::Helper(1)),
            Insn::LoadPacket {
                mode: PacketMode::Abs,
                size: Size::B,
                src: Reg::R0,
                imm: 0,
            },
            Insn::Exit,
        ],
        &Arc::new(helpers),
    );
    let packet = [1u8, 2, 3, 4];
    let base = packet.as_ptr() as u64;
    let input = RunInput {
        packet: Some(Region::readable(&packet)),
        ..RunInput::default()
    };
    // Two bytes further in: LD_ABS 0 reads the old byte 2.
    assert_eq!(
        Runner::new().run(&program, &mut (base + 2, 2), &input),
        Ok(3)
    );
    // Memory the run cannot read is refused, and the helper fails.
    let elsewhere = [9u8; 4];
    let r = Runner::new().run(&program, &mut (elsewhere.as_ptr() as u64, 4), &input);
    assert!(matches!(r, Err(RunError::Helper { .. })), "{r:?}");
    // A span running past the packet is refused too.
    let r = Runner::new().run(&program, &mut (base + 2, 3), &input);
    assert!(matches!(r, Err(RunError::Helper { .. })), "{r:?}");
}

#[test]
fn negative_packet_offsets_read_the_headers_within_bounds() {
    use apiary_vm::PacketHeaders;
    // A 6-byte "MAC header" then a 4-byte "network header"; the packet
    // (LD_ABS offset 0) starts at the network header.
    let frame = [0xa0u8, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xb0, 0xb1, 0xb2, 0xb3];
    let base = frame.as_ptr() as u64;
    let load = |imm: i32| {
        load::<()>(
            &[
                Insn::LoadPacket {
                    mode: PacketMode::Abs,
                    size: Size::H,
                    src: Reg::R0,
                    imm,
                },
                Insn::Exit,
            ],
            &Arc::new(Helpers::new()),
        )
    };
    let run = |imm: i32| {
        let input = RunInput {
            packet: Some(Region::readable(&frame[6..])),
            headers: Some(PacketHeaders {
                bounds: Region::readable(&frame),
                network: base + 6,
                mac: base,
            }),
            ..RunInput::default()
        };
        Runner::new().run(&load(imm), &mut (), &input)
    };
    const SKF_NET_OFF: i32 = -0x10_0000;
    const SKF_LL_OFF: i32 = -0x20_0000;
    assert_eq!(run(0), Ok(0xb0b1));
    assert_eq!(run(SKF_NET_OFF + 2), Ok(0xb2b3));
    assert_eq!(run(SKF_LL_OFF + 4), Ok(0xa4a5));
    assert_eq!(
        run(SKF_LL_OFF + 5),
        Ok(0xa5b0),
        "loads may span the headers"
    );
    // Past the bounds, below SKF_LL_OFF or between SKF_NET_OFF and 0: the
    // program ends with 0.
    assert_eq!(run(SKF_NET_OFF + 3), Ok(0));
    assert_eq!(run(SKF_LL_OFF - 1), Ok(0));
    assert_eq!(run(-1), Ok(0));
}

#[test]
fn stacks_keep_what_a_run_left_until_cleared() {
    let helpers = Arc::new(Helpers::<()>::new());
    let write = load(
        &[
            mov(Reg::R1, 42),
            stx(Size::DW, Reg::R10, -8, Reg::R1),
            Insn::Exit,
        ],
        &helpers,
    );
    let read = load(
        &[ldx(Size::DW, Reg::R0, Reg::R10, -8), Insn::Exit],
        &helpers,
    );
    let mut runner = Runner::new();
    runner.run_on_memory(&write, &mut (), &mut []).unwrap();
    assert_eq!(runner.run_on_memory(&read, &mut (), &mut []), Ok(42));
    runner.clear_stacks();
    assert_eq!(runner.run_on_memory(&read, &mut (), &mut []), Ok(0));
}
