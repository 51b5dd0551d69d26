//! Calls, exits, and the code shared by all ops: the entry and exit
//! sequences and the routines that call into Rust (`crate::slow`).
//!
//! Stack discipline: compiled code keeps `rsp` 16-byte aligned at every op
//! (the entry pushes 48 bytes after its return address and calls each run
//! with 8 more, a bpf-to-bpf call 48 with its own), so Rust can be called
//! after adjusting only for the routine's own return address.

use apiary_vm::{FRAME_STRIDE, MAX_CALL_FRAMES, Op, PureHelperFn};
use dynasmrt::DynamicLabel;

use crate::compile::{Emitter, R10, R11, Stub, x};
use crate::ctx::{Ctx, off};
use crate::emit_jmp::MAY_GOTO_START;
use crate::slow;
use crate::x64;

/// Labels of the shared routines.
pub(crate) struct Routines {
    pub(crate) exit: DynamicLabel,
    pub(crate) abort: DynamicLabel,
    pub(crate) translate: DynamicLabel,
    pub(crate) packet: DynamicLabel,
    pub(crate) helper: DynamicLabel,
    pub(crate) callx: DynamicLabel,
    pub(crate) misaligned: DynamicLabel,
    pub(crate) budget: DynamicLabel,
    pub(crate) depth: DynamicLabel,
    pub(crate) fell_off: DynamicLabel,
    pub(crate) lookup_found: DynamicLabel,
    pub(crate) reserved: DynamicLabel,
    pub(crate) reserved_unrecorded: DynamicLabel,
}

/// The eBPF registers that live in caller-saved x86 registers (`r0..r5`).
const CALLER_SAVED: usize = 6;

/// Emits `op` if it is a call or exit; `false` otherwise.
pub(crate) fn emit(e: &mut Emitter, op: Op, pc: usize) -> bool {
    match op {
        Op::CallLocal { t } => call_local(e, pc, t),
        Op::CallHelper { index } => {
            let routine = e.routines.helper;
            x64!(e; mov Rd(R11), index as i32; mov Rd(R10), pc as i32; call =>routine);
        }
        Op::Callx { r } => {
            let routine = e.routines.callx;
            x64!(e; mov Rq(R11), Rq(x(r)); mov Rd(R10), pc as i32; call =>routine);
        }
        Op::CallPure { f } => call_pure(e, f),
        // Without bpf-to-bpf calls every exit is the activation's frame's.
        Op::Exit if !e.local_calls => exit_run(e),
        Op::Exit => {
            let exit = e.routines.exit;
            x64!(e
                ; mov Rq(R10), [r12 + off::DEPTH]
                ; cmp Rq(R10), [r12 + off::BASE]
                ; je =>exit
                ; sub QWORD [r12 + off::DEPTH], 1
                ; sub QWORD [r12 + off::STACK_LIMIT], FRAME_STRIDE as i32
                ; sub rbp, FRAME_STRIDE as i32
                ; ret
            );
        }
        Op::FellOff => {
            let routine = e.routines.fell_off;
            x64!(e; jmp =>routine);
        }
        _ => return false,
    }
    true
}

/// A bpf-to-bpf call: a native call with the caller's `r6..r9` saved on
/// the native stack, the next frame's stack and `may_goto` counter set up.
fn call_local(e: &mut Emitter, pc: usize, t: u32) {
    let (too_deep, target) = (e.label(), e.target(t));
    x64!(e
        ; cmp QWORD [r12 + off::DEPTH], (MAX_CALL_FRAMES - 1) as i32
        ; jae =>too_deep
        ; push rbx
        ; push r13
        ; push r14
        ; push r15
        ; sub rsp, 8
        ; add QWORD [r12 + off::DEPTH], 1
        ; add QWORD [r12 + off::STACK_LIMIT], FRAME_STRIDE as i32
        ; add rbp, FRAME_STRIDE as i32
    );
    if e.may_goto {
        x64!(e
            ; mov Rq(R10), [r12 + off::DEPTH]
            ; mov QWORD [r12 + Rq(R10) * 8 + off::MAY_GOTO], MAY_GOTO_START
        );
    }
    x64!(e
        ; call =>target
        ; add rsp, 8
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop rbx
    );
    e.stubs.push(Stub::Depth {
        at: too_deep,
        op: pc,
    });
}

/// A pure helper: `r1..r5` are already the SysV argument registers.
fn call_pure(e: &mut Emitter, f: PureHelperFn) {
    let tramp = slow::pure as *const () as usize as i64;
    let f = f as *const () as usize as i64;
    keeping_args(
        e,
        |e| x64!(e; mov r9, QWORD f; mov rax, QWORD tramp; call rax),
    );
}

/// Emits, by `call`, the call of a C function that may clobber the
/// caller-saved registers holding `r1..r5` and the budget: they are kept
/// on the stack around it (six pushes keep the alignment); its result
/// stays in rax.
pub(crate) fn keeping_args(e: &mut Emitter, call: impl FnOnce(&mut Emitter)) {
    x64!(e
        ; push rdi
        ; push rsi
        ; push rdx
        ; push rcx
        ; push r8
        ; push r9
    );
    call(e);
    x64!(e
        ; pop r9
        ; pop r8
        ; pop rcx
        ; pop rdx
        ; pop rsi
        ; pop rdi
    );
}

/// The entry, at offset 0: `extern "sysv64" fn(*mut Ctx) -> u64`, 0 when
/// the activation's runs ended by exiting, 1 when one stopped early (the
/// reason is in the context's `Host`). Saves the callee-saved registers,
/// then runs the program `left` times, or until a run called a helper:
/// each run starts with the eBPF registers of `init` (those it may read
/// before writing them: `Emitter::entry_registers`), the budget
/// `run_budget` and a fresh `may_goto` counter in the activation's frame
/// (when the program has `may_goto`), at the code address `body`, and
/// returns here by its frame's exit.
/// After a run that called a helper, `slow::between` decides whether the
/// next one starts here.
pub(crate) fn prologue<E>(e: &mut Emitter) {
    let between = slow::between::<E> as *const () as usize as i64;
    let (next, done, leave, abort) = (e.label(), e.label(), e.label(), e.routines.abort);
    x64!(e
        ; push rbx
        ; push rbp
        ; push r12
        ; push r13
        ; push r14
        ; push r15
        ; mov r12, rdi
        ; mov [r12 + off::ENTRY_RSP], rsp
        ; =>next
    );
    if e.may_goto {
        x64!(e
            ; mov Rq(R10), [r12 + off::BASE]
            ; mov QWORD [r12 + Rq(R10) * 8 + off::MAY_GOTO], MAY_GOTO_START
        );
    }
    for &i in e.entry_registers {
        x64!(e; mov Rq(x(i)), [r12 + off::init(usize::from(i))]);
    }
    x64!(e
        ; mov r9, [r12 + off::RUN_BUDGET]
        // With the return address, 56 bytes pushed: ops see rsp 16-byte aligned.
        ; call QWORD [r12 + off::BODY]
        ; sub QWORD [r12 + off::LEFT], 1
        ; jz =>done
        ; cmp QWORD [r12 + off::HELPER_RAN], 0
        ; je =>next
        // 48 bytes pushed after the return address: 8 more to call Rust.
        ; mov rdi, r12
        ; sub rsp, 8
        ; mov rax, QWORD between
        ; call rax
        ; add rsp, 8
        ; test rax, rax
        ; jnz =>next
        ; =>done
        ; xor eax, eax
        ; =>leave
        ; mov rsp, [r12 + off::ENTRY_RSP]
        ; pop r15
        ; pop r14
        ; pop r13
        ; pop r12
        ; pop rbp
        ; pop rbx
        ; ret
        ; =>abort
        ; mov eax, 1
        ; jmp =>leave
    );
}

/// The end of a run: its result and what is left of the budget go to the
/// context, and the entry, which called the run's code, takes over.
fn exit_run(e: &mut Emitter) {
    x64!(e
        ; mov [r12 + off::reg(0)], rax
        ; mov [r12 + off::BUDGET], r9
        ; ret
    );
}

fn save(e: &mut Emitter) {
    for i in 0..CALLER_SAVED {
        x64!(e; mov [r12 + off::reg(i)], Rq(x(i as u8)));
    }
    x64!(e; mov [r12 + off::BUDGET], r9);
}

fn restore(e: &mut Emitter) {
    for i in 0..CALLER_SAVED {
        x64!(e; mov Rq(x(i as u8)), [r12 + off::reg(i)]);
    }
    x64!(e; mov r9, [r12 + off::BUDGET]);
}

type Slow3 = unsafe extern "sysv64" fn(*mut Ctx, u64, u64) -> u64;

/// A routine reached by `call` with its operands in r11 and r10: saves the
/// eBPF registers Rust may clobber or read (`r0..r5`, the budget) in the
/// context, calls `f(ctx, r11, r10)`, and either returns with them and
/// r11 (the checked address, for memory accesses) reloaded, `r0` possibly
/// set by `f`, or leaves the activation. `r6..r9` sit in callee-saved
/// registers that Rust keeps; they go to the context only when leaving,
/// where a tail call reads every register.
fn returning(e: &mut Emitter, at: DynamicLabel, f: Slow3) {
    let (abort, leaving) = (e.routines.abort, e.label());
    x64!(e; =>at);
    save(e);
    // Rust may clobber r11; the push also realigns the stack for the call.
    x64!(e
        ; mov rdi, r12
        ; mov rsi, Rq(R11)
        ; mov rdx, Rq(R10)
        ; push Rq(R11)
        ; mov rax, QWORD f as *const () as usize as i64
        ; call rax
        ; pop Rq(R11)
        ; test rax, rax
        ; jz =>leaving
    );
    if cfg!(debug_assertions) {
        // r10 is the one register not restored: make code that wrongly
        // relies on it keeping its value fail in tests rather than only in
        // release builds, where Rust happens to clobber it.
        x64!(e; mov Rq(R10), QWORD 0x0bad_0bad_0bad_0bad);
    }
    restore(e);
    x64!(e; ret; =>leaving);
    save_kept(e, 9);
    x64!(e; jmp =>abort);
}

/// Writes the registers calls into Rust keep (`r6` up to `r{last}`) to
/// the context, for code that reads the whole register file there.
fn save_kept(e: &mut Emitter, last: usize) {
    for i in CALLER_SAVED..=last {
        x64!(e; mov [r12 + off::reg(i)], Rq(x(i as u8)));
    }
}

/// A routine reached by `jmp` that reports an error through `f(ctx, r11,
/// r10)` and leaves the activation.
fn stopping(e: &mut Emitter, at: DynamicLabel, f: Slow3) {
    let abort = e.routines.abort;
    x64!(e
        ; =>at
        ; mov rdi, r12
        ; mov rsi, Rq(R11)
        ; mov rdx, Rq(R10)
        ; and rsp, -16
        ; mov rax, QWORD f as *const () as usize as i64
        ; call rax
        ; jmp =>abort
    );
}

/// Emits the exits and every routine, for environment type `E`.
pub(crate) fn routines<E>(e: &mut Emitter) {
    let exit = e.routines.exit;
    x64!(e; =>exit);
    exit_run(e);
    let r = &e.routines;
    let (translate, packet, helper, callx) = (r.translate, r.packet, r.helper, r.callx);
    let (misaligned, budget, depth, fell_off) = (r.misaligned, r.budget, r.depth, r.fell_off);
    returning(e, translate, slow::translate::<E>);
    returning(e, packet, slow::packet::<E>);
    returning(e, helper, slow::helper::<E>);
    returning(e, callx, slow::callx::<E>);
    let lookup_found = e.routines.lookup_found;
    returning(e, lookup_found, slow::lookup_found::<E>);
    let (reserved, unrecorded) = (e.routines.reserved, e.routines.reserved_unrecorded);
    returning(e, reserved, slow::reserved::<E, true>);
    returning(e, unrecorded, slow::reserved::<E, false>);
    stopping(e, misaligned, slow::misaligned::<E>);
    // The interpreter takes over from the group's start: it needs the registers.
    let budget_saved = e.label();
    x64!(e; =>budget);
    save(e);
    save_kept(e, 10);
    x64!(e; jmp =>budget_saved);
    stopping(e, budget_saved, slow::budget::<E>);
    stopping(e, depth, slow::call_depth::<E>);
    stopping(e, fell_off, slow::fell_off::<E>);
}
