//! Whole programs through the verifier: the kernel's verdict and its final
//! error line for small programs whose verdict the kernel documents (each
//! case is a rule of kernel/bpf/verifier.c, written anew here).

use apiary_kernel::types::{AttachType, MapType, ProgType};
use apiary_verifier::{MapInfo, Program, Rejection, verify};

fn array_map(value_size: u32) -> MapInfo {
    MapInfo {
        map_type: MapType::ARRAY,
        key_size: 4,
        value_size,
        max_entries: 1,
        flags: 0,
        frozen_value: None,
        inner: None,
    }
}

fn check(prog_type: ProgType, source: &str, maps: &[MapInfo]) -> Result<u64, Box<Rejection>> {
    let insns = apiary_asm::assemble_slots(source).expect("assembles");
    let program = Program {
        name: "test",
        insns: &insns,
        prog_type,
        attach_type: AttachType::default(),
        maps,
        lines: &[],
        gpl: true,
    };
    verify(&program).map(|a| a.stats.insns_processed)
}

fn accepts(prog_type: ProgType, source: &str) {
    if let Err(r) = check(prog_type, source, &[array_map(8)]) {
        panic!("refused: {r}\n{source}");
    }
}

fn refuses(prog_type: ProgType, source: &str, kernel: &str) {
    match check(prog_type, source, &[array_map(8)]) {
        Ok(_) => panic!("accepted, the kernel says {kernel:?}\n{source}"),
        Err(r) => assert_eq!(r.kernel, kernel, "{r}"),
    }
}

#[test]
fn return_value_must_be_set() {
    accepts(ProgType::XDP, "r0 = 2\nexit");
    refuses(ProgType::XDP, "exit", "R0 !read_ok");
    refuses(ProgType::XDP, "r0 = r2\nexit", "R2 !read_ok");
}

#[test]
fn stack_bounds_and_spills() {
    accepts(
        ProgType::XDP,
        "r1 = 7\n*(u64 *)(r10 - 8) = r1\nr0 = *(u64 *)(r10 - 8)\nexit",
    );
    refuses(
        ProgType::XDP,
        "r1 = 7\n*(u64 *)(r10 - 520) = r1\nr0 = 0\nexit",
        "invalid write to stack R10 off=-520 size=8",
    );
    refuses(
        ProgType::XDP,
        "r0 = *(u64 *)(r10 + 0)\nexit",
        "invalid read from stack R10 off=0 size=8",
    );
    refuses(
        ProgType::XDP,
        "r10 = 0\nr0 = 0\nexit",
        "frame pointer is read only",
    );
    // A spilled pointer comes back as the same pointer: its packet range holds.
    accepts(
        ProgType::XDP,
        "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\n*(u64 *)(r10 - 8) = r2\n\
         r4 = r2\nr4 += 1\nif r4 > r3 goto +2\nr5 = *(u64 *)(r10 - 8)\nr0 = *(u8 *)(r5 + 0)\n\
         r0 = 0\nexit",
    );
}

#[test]
fn packet_reads_need_a_data_end_check() {
    let unchecked = "r2 = *(u32 *)(r1 + 0)\nr0 = *(u8 *)(r2 + 23)\nr0 = 0\nexit";
    refuses(
        ProgType::XDP,
        unchecked,
        "R2 offset is outside of the packet",
    );
    let checked = "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 24\n\
                   if r4 > r3 goto +1\nr0 = *(u8 *)(r2 + 23)\nr0 = 0\nexit";
    accepts(ProgType::XDP, checked);
    // Checked for 14 bytes, read at 23: the kernel's drop_tcp example.
    let short = "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 14\n\
                 if r4 > r3 goto +1\nr0 = *(u8 *)(r2 + 23)\nr0 = 0\nexit";
    let r = check(ProgType::XDP, short, &[]).unwrap_err();
    assert_eq!(r.kernel, "R2 offset is outside of the packet");
    assert_eq!(
        r.kernel_context,
        ["invalid access to packet, off=23 size=1, R2(id=0,off=23,r=14)"]
    );
    // Reversed operands: data_end < data + 24 jumps away.
    accepts(
        ProgType::XDP,
        "r2 = *(u32 *)(r1 + 0)\nr3 = *(u32 *)(r1 + 4)\nr4 = r2\nr4 += 24\n\
         if r3 < r4 goto +1\nr0 = *(u8 *)(r2 + 23)\nr0 = 0\nexit",
    );
}

#[test]
fn map_values_need_a_null_check() {
    // The key is the interface index, unknown: the kernel knows a
    // lookup at a constant key in range finds an element.
    let lookup = "r1 = *(u32 *)(r1 + 12)\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\n\
                  ld_pseudo r1, 5, 0\ncall 1\n";
    refuses(
        ProgType::XDP,
        &format!("{lookup}r0 = *(u64 *)(r0 + 0)\nexit"),
        "R0 invalid mem access 'map_value_or_null'",
    );
    accepts(
        ProgType::XDP,
        &format!("{lookup}if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 0)\nr0 = 0\nexit"),
    );
    refuses(
        ProgType::XDP,
        &format!("{lookup}if r0 == 0 goto +1\nr0 = *(u64 *)(r0 + 8)\nr0 = 0\nexit"),
        "R0 min value is outside of the allowed memory range",
    );
}

#[test]
fn context_rules_come_from_apiary_context() {
    refuses(
        ProgType::XDP,
        "r0 = *(u32 *)(r1 + 64)\nexit",
        "invalid bpf_context access off=64 size=4",
    );
    refuses(
        ProgType::XDP,
        "r1 += 4\nr0 = *(u32 *)(r1 + 0)\nexit",
        "dereference of modified ctx ptr R1 off=4 disallowed",
    );
}

#[test]
fn loops_and_limits() {
    // A bounded loop is unrolled by the walk.
    accepts(ProgType::XDP, "r0 = 0\nr0 += 1\nif r0 < 10 goto -2\nexit");
    // A loop that never changes anything.
    refuses(
        ProgType::XDP,
        "r0 = 0\nif r0 == 0 goto -1\nexit",
        "infinite loop detected at insn 1",
    );
    // A loop whose bound is too large to walk.
    refuses(
        ProgType::XDP,
        "r0 = 0\nr0 += 1\nif r0 < 10000000 goto -2\nexit",
        "BPF program is too large. Processed 1000001 insn",
    );
}

#[test]
fn control_flow_checks() {
    refuses(
        ProgType::XDP,
        "r0 = 0\nexit\nr0 = 1\nexit",
        "unreachable insn 2",
    );
    refuses(ProgType::XDP, "r0 = 0", "last insn is not an exit or jmp");
    refuses(
        ProgType::XDP,
        "goto +5\nexit",
        "jump out of range from insn 0 to 6",
    );
}

#[test]
fn division_and_shifts_by_constants() {
    refuses(ProgType::XDP, "r0 = 1\nr0 /= 0\nexit", "div by zero");
    refuses(ProgType::XDP, "r0 = 1\nr0 <<= 64\nexit", "invalid shift 64");
    // By a register the kernel accepts any value (the run time defines it).
    accepts(ProgType::XDP, "r0 = 1\nr1 = 0\nr0 /= r1\nexit");
}

#[test]
fn return_ranges_of_cgroup_programs() {
    accepts(ProgType::CGROUP_SKB, "r0 = 1\nexit");
    refuses(
        ProgType::CGROUP_SKB,
        "r0 = 2\nexit",
        "At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]",
    );
}

#[test]
fn bpf_to_bpf_calls() {
    // A callee gets its arguments and returns r0; r6-r9 survive the call.
    accepts(
        ProgType::XDP,
        "r6 = 3\nr1 = 4\ncall pc+2\nr0 += r6\nexit\nr0 = r1\nexit",
    );
    // The caller's r1-r5 are gone after the call.
    refuses(
        ProgType::XDP,
        "r1 = 4\ncall pc+2\nr0 = r1\nexit\nr0 = 0\nexit",
        "R1 !read_ok",
    );
    // A callee may not leave a pointer to its own stack in its caller's.
    refuses(
        ProgType::XDP,
        "r1 = r10\nr1 += -8\ncall pc+2\nr0 = 0\nexit\nr0 = 0\n*(u64 *)(r1 + 0) = r10\nr0 = 0\nexit",
        "cannot spill pointers to stack into stack frame of the caller",
    );
}

#[test]
fn loop_callbacks_are_verified() {
    // bpf_loop(4, cb, NULL, 0) with a callback that returns 0.
    let call = "r1 = 4\nld_pseudo r2, 4, 6\nr3 = 0\nr4 = 0\ncall 181\nr0 = 0\nexit\n";
    accepts(ProgType::XDP, &format!("{call}r0 = 0\nexit"));
    // A callback that returns 2 is refused where it returns.
    refuses(
        ProgType::XDP,
        &format!("{call}r0 = 2\nexit"),
        "At callback return the register R0 has smin=2 smax=2 should have been in [0, 1]",
    );
    // The callback's body is checked like any code: here it reads r3, unset.
    refuses(
        ProgType::XDP,
        &format!("{call}r0 = r3\nexit"),
        "R3 !read_ok",
    );
}

#[test]
fn atomics_must_be_aligned() {
    // The key is the interface index, unknown: the kernel knows a
    // lookup at a constant key in range finds an element.
    let lookup = "r1 = *(u32 *)(r1 + 12)\n*(u32 *)(r10 - 4) = r1\nr2 = r10\nr2 += -4\n\
                  ld_pseudo r1, 5, 0\ncall 1\n";
    refuses(
        ProgType::XDP,
        &format!("{lookup}if r0 == 0 goto +2\nr1 = 1\nlock *(u64 *)(r0 + 7) += r1\nr0 = 0\nexit"),
        "misaligned value access off 0+0+7 size 8",
    );
    accepts(
        ProgType::XDP,
        &format!("{lookup}if r0 == 0 goto +2\nr1 = 1\nlock *(u64 *)(r0 + 0) += r1\nr0 = 0\nexit"),
    );
}

#[test]
fn a_root_loader_may_turn_pointers_into_numbers() {
    accepts(ProgType::XDP, "r0 = r10\nr0 = -r0\nr0 = (s8)r10\nexit");
}

#[test]
fn a_callback_may_change_its_callers_stack() {
    // The caller spills its context pointer, passes its stack to bpf_loop,
    // whose callback may overwrite the spill: the fill is a number then.
    let program = "*(u64 *)(r10 - 8) = r1\nr1 = 4\nld_pseudo r2, 4, 9\nr3 = r10\nr3 += -8\nr4 = 0\n\
                   call 181\nr1 = *(u64 *)(r10 - 8)\nr0 = *(u32 *)(r1 + 0)\nr0 = 0\nexit\n\
                   r1 = 7\n*(u64 *)(r2 + 0) = r1\nr0 = 0\nexit";
    refuses(ProgType::XDP, program, "R1 invalid mem access 'scalar'");
}

#[test]
fn egress_cgroup_programs_may_return_up_to_3() {
    let insns = apiary_asm::assemble_slots("r0 = 3\nexit").expect("assembles");
    let program = |attach_type| Program {
        name: "egress",
        insns: &insns,
        prog_type: ProgType::CGROUP_SKB,
        attach_type,
        maps: &[],
        lines: &[],
        gpl: true,
    };
    assert!(verify(&program(AttachType::CGROUP_INET_EGRESS)).is_ok());
    let refused = verify(&program(AttachType::CGROUP_INET_INGRESS)).unwrap_err();
    assert_eq!(
        refused.kernel,
        "At program exit the register R0 has smin=3 smax=3 should have been in [0, 1]"
    );
}
