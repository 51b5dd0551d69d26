//! The open → configure → load → test-run lifecycle on corpus objects, with
//! the expectations each corpus file documents and, where `bpf()` works, the
//! kernel running the same configured object.

use apiary::{ContextRun, Error, OpenObject, Syscall, Tc, Xdp, XdpRun};
use apiary_corpus::CorpusObject;

fn corpus(name: &'static str) -> Option<CorpusObject> {
    match apiary_corpus::object(name) {
        Ok(object) => Some(*object),
        Err(why) => apiary_testskip::missing(&format!("corpus object {name}"), why),
    }
}

/// An Ethernet + IPv4 + UDP frame of `len` bytes.
fn udp_frame(len: usize) -> Vec<u8> {
    let mut frame = vec![0u8; len];
    frame[12] = 0x08; // ethertype IPv4
    frame[14] = 0x45;
    let ip_len = (len - 14) as u16;
    frame[16..18].copy_from_slice(&ip_len.to_be_bytes());
    frame[22] = 64;
    frame[23] = 17;
    frame
}

/// Compiles `source` with clang-19 into this process's scratch directory;
/// `None` after a loud skip line when clang cannot.
fn compile(name: &str, source: &str, test: &str) -> Option<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("apiary-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    let o = dir.join(format!("{name}.o"));
    std::fs::write(&c, source).unwrap();
    let arch = std::env::consts::ARCH;
    let compiled = std::process::Command::new("clang-19")
        .args(["-target", "bpf", "-O2", "-g", "-c"])
        .arg(format!("-I/usr/include/{arch}-linux-gnu"))
        .arg(&c)
        .arg("-o")
        .arg(&o)
        .status();
    match compiled {
        Ok(status) => assert!(status.success(), "clang-19 failed on {name}.c: {status}"),
        Err(e) => return apiary_testskip::missing(test, format!("clang-19 cannot run: {e}")),
    }
    Some(o)
}

fn kernel_retval(open: &OpenObject, bytes: &[u8], program: &str, data: &[u8]) -> Option<u32> {
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(&format!("kernel comparison of {program}"), reason);
    }
    let loaded = apiary_backend::load_object(
        open.spec(),
        &apiary_backend::LoadOptions {
            elf: Some(bytes),
            log_level: 0,
            ..Default::default()
        },
    )
    .expect("the kernel loads the configured object");
    let out = loaded
        .program(program)
        .expect("program loaded")
        .test_run(&apiary_kernel::TestRunAttrs {
            data_in: data,
            data_out_capacity: 0,
            ctx_in: &[],
            ctx_out_capacity: 0,
            repeat: 1,
            flags: 0,
            cpu: 0,
            batch_size: 0,
        })
        .expect("kernel test-run");
    Some(out.retval)
}

#[test]
fn rodata_override_changes_the_verdict_as_in_the_kernel() {
    let Some(object) = corpus("global_data") else {
        return;
    };
    let bytes = std::fs::read(object.path()).unwrap();
    let frame = udp_frame(200);

    let default = OpenObject::open(object.path()).unwrap().load().unwrap();
    let program = default.program::<Xdp>("xdp_global_data").unwrap();
    assert_eq!(
        program.test_run(&XdpRun::new(&frame)).unwrap().retval,
        2,
        "XDP_PASS under max_packet 1500"
    );
    // The verifier accepted it at load, and what it found stays reachable.
    let verified = default
        .verified("xdp_global_data")
        .expect("verified at load");
    assert!(verified.stats.insns_processed > 0, "{verified:?}");
    let mut unverified = OpenObject::open(object.path()).unwrap();
    unverified.set_verify(false);
    assert!(
        unverified
            .load()
            .unwrap()
            .verified("xdp_global_data")
            .is_none()
    );

    let mut open = OpenObject::open(object.path()).unwrap();
    open.set_global("max_packet", &100u32).unwrap();
    let expected = kernel_retval(&open, &bytes, "xdp_global_data", &frame);
    let configured = open.load().unwrap();
    let program = configured.program::<Xdp>("xdp_global_data").unwrap();
    let retval = program.test_run(&XdpRun::new(&frame)).unwrap().retval;
    assert_eq!(retval, 1, "XDP_DROP once max_packet is 100");
    if let Some(kernel) = expected {
        assert_eq!(
            retval, kernel,
            "Apiary and the kernel disagree on the configured object"
        );
    }
}

#[test]
fn globals_are_checked_by_name_and_size() {
    let Some(object) = corpus("global_data") else {
        return;
    };
    let mut open = OpenObject::open(object.path()).unwrap();
    let err = open.set_global("max_packet", &1u64).unwrap_err();
    assert!(
        matches!(
            err,
            Error::GlobalSize {
                expected: 4,
                given: 8,
                ..
            }
        ),
        "{err}"
    );
    let err = open.set_global("no_such_knob", &1u32).unwrap_err();
    assert!(matches!(err, Error::NoSuchGlobal { .. }), "{err}");
    // .bss variables start as zeros and can be given a value too.
    open.set_global("runs", &41u64).unwrap();
    let loaded = open.load().unwrap();
    let program = loaded.program::<Xdp>("xdp_global_data").unwrap();
    program.test_run(&XdpRun::new(&udp_frame(64))).unwrap();
    let bss = loaded.map("global_d.bss").unwrap();
    let value = bss
        .lookup(&0u32.to_ne_bytes(), 0)
        .unwrap()
        .expect("one entry");
    let runs = u64::from_ne_bytes(value.read()[..8].try_into().unwrap());
    assert_eq!(
        runs, 42,
        "runs starts at the configured 41 and the run adds 1"
    );
}

#[test]
fn max_entries_is_applied_before_maps_exist() {
    let Some(object) = corpus("xdp_proto_counter") else {
        return;
    };
    let mut open = OpenObject::open(object.path()).unwrap();
    assert!(matches!(
        open.set_max_entries("nope", 4),
        Err(Error::NoSuchMap { .. })
    ));
    assert!(matches!(
        open.set_max_entries("packets", 0),
        Err(Error::ZeroMaxEntries { .. })
    ));
    open.set_max_entries("packets", 300).unwrap();
    let loaded = open.load().unwrap();
    assert_eq!(loaded.map("packets").unwrap().max_entries(), 300);
}

#[test]
fn program_kinds_are_checked() {
    let Some(object) = corpus("global_data") else {
        return;
    };
    let loaded = OpenObject::open(object.path()).unwrap().load().unwrap();
    let err = loaded.program::<Tc>("xdp_global_data").unwrap_err();
    assert!(
        matches!(err, Error::WrongProgramType { expected: "tc", .. }),
        "{err}"
    );
    let err = loaded.program::<Xdp>("missing").unwrap_err();
    assert!(
        err.to_string().contains("xdp_global_data"),
        "lists the programs: {err}"
    );
}

#[test]
fn syscall_program_context_and_maps() {
    let Some(object) = corpus("syscall_prog") else {
        return;
    };
    let loaded = OpenObject::open(object.path()).unwrap().load().unwrap();
    let program = loaded.program::<Syscall>("compute").unwrap();
    let args: Vec<u8> = [6i64, 7, 0, 0]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect();
    let out = program.test_run(&ContextRun { ctx: &args }).unwrap();
    assert_eq!(out.retval, 0);
    let ctx = out.ctx_out.expect("syscall programs return their context");
    let words: Vec<i64> = ctx
        .chunks(8)
        .map(|c| i64::from_ne_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(words, [6, 7, 13, 42]);
    let results: apiary::Array<i64> = loaded.map_view("results").unwrap();
    assert_eq!(results.get(0, 0).unwrap(), 42);
}

#[test]
fn runners_on_threads_fill_their_own_cpu_slots() {
    let Some(object) = corpus("xdp_proto_counter") else {
        return;
    };
    let mut open = OpenObject::open(object.path()).unwrap();
    open.set_nr_cpus(4);
    let loaded = open.load().unwrap();
    let program = loaded.program::<Xdp>("xdp_count_protocols").unwrap();
    let frame = udp_frame(100);
    std::thread::scope(|scope| {
        for cpu in 0..4 {
            let program = &program;
            let frame = &frame;
            let mut runner = loaded.runner(cpu);
            scope.spawn(move || {
                for _ in 0..250 {
                    assert_eq!(
                        runner
                            .test_run(program, &XdpRun::new(frame))
                            .unwrap()
                            .retval,
                        2
                    );
                }
            });
        }
    });
    let packets: apiary::Array<u64> = loaded.map_view("packets").unwrap();
    assert_eq!(
        packets.get(17, 0).unwrap(),
        1000,
        "no lost update across 4 threads"
    );
}

#[test]
fn globals_after_the_first_of_their_section_land_at_their_offsets() {
    let Some(object) = corpus("global_data") else {
        return;
    };
    let mut open = OpenObject::open(object.path()).unwrap();
    // `verbose` follows `max_packet` in .rodata; `tag` follows `bytes_seen` in .data.
    open.set_global("verbose", &1u8).unwrap();
    open.set_global("tag", b"queen\0\0\0").unwrap();
    let loaded = open.load().unwrap();
    let program = loaded.program::<Xdp>("xdp_global_data").unwrap();
    let out = program.test_run(&XdpRun::new(&udp_frame(64))).unwrap();
    let trace: Vec<String> = out.trace.iter().map(ToString::to_string).collect();
    assert!(
        trace
            .iter()
            .any(|line| line.ends_with("bpf_trace_printk: global_data: len 64")),
        "verbose = 1 makes the program print: {trace:?}"
    );
    let data = loaded.map("global_d.data").unwrap();
    let value = data.lookup(&0u32.to_ne_bytes(), 0).unwrap().unwrap().read();
    assert_eq!(&value[8..16], b"queen\0\0\0");
    assert_eq!(
        u64::from_ne_bytes(value[..8].try_into().unwrap()),
        164,
        "bytes_seen kept its initial 100"
    );
}
/// The CO-RE-derived globals of core_fields.c's .bss, in declaration
/// order: has_new_state, has_old_state, has_missing, comm_size, pid_offset.
fn core_facts(bss: &[u8]) -> [u32; 5] {
    std::array::from_fn(|i| u32::from_ne_bytes(bss[i * 4..i * 4 + 4].try_into().unwrap()))
}

#[test]
fn core_relocations_against_vmlinux_match_the_kernel() {
    let Some(object) = corpus("core_fields") else {
        return;
    };
    const TEST: &str = "core_relocations_against_vmlinux_match_the_kernel";
    let vmlinux = std::path::Path::new(apiary_testskip::VMLINUX);
    if let Err(reason) = apiary_testskip::vmlinux_btf() {
        return apiary_testskip::skip(TEST, reason);
    }
    let mut open = OpenObject::open(object.path()).unwrap();
    open.set_core_target(vmlinux);
    let loaded = open.load().unwrap();
    let program = loaded
        .program::<apiary::RawTracepoint>("read_task_fields")
        .unwrap();
    let out = program
        .test_run(&apiary::RawTracepointRun { args: &[0, 0] })
        .unwrap();
    assert_eq!(out.retval, 0);
    let bss = loaded.map("core_fie.bss").unwrap();
    let ours = core_facts(&bss.lookup(&0u32.to_ne_bytes(), 0).unwrap().unwrap().read());
    assert_eq!(
        &ours[..4],
        &[1, 0, 0, 16],
        "has_new_state, has_old_state, has_missing, comm_size"
    );

    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(&format!("{TEST} (kernel side)"), reason);
    }
    let bytes = std::fs::read(object.path()).unwrap();
    let mut spec = apiary_loader::Object::parse(&bytes, "core_fields").unwrap();
    let target = apiary::btf::Btf::parse(&std::fs::read(vmlinux).unwrap()).unwrap();
    spec.relocate_core(&target).unwrap();
    let kernel = apiary_backend::load_object(
        &spec,
        &apiary_backend::LoadOptions {
            elf: Some(&bytes),
            log_level: 0,
            ..Default::default()
        },
    )
    .unwrap();
    let run = kernel
        .program("read_task_fields")
        .unwrap()
        .test_run(&apiary_kernel::TestRunAttrs {
            data_in: &[],
            data_out_capacity: 0,
            ctx_in: &[0; 16],
            ctx_out_capacity: 0,
            repeat: 0,
            flags: 0,
            cpu: 0,
            batch_size: 0,
        })
        .unwrap();
    assert_eq!(run.retval, 0);
    let theirs = core_facts(
        &kernel
            .map("core_fie.bss")
            .unwrap()
            .lookup(&0u32.to_ne_bytes(), 0)
            .unwrap()
            .unwrap(),
    );
    assert_eq!(ours, theirs, "CO-RE results differ from the kernel's");
}

#[test]
fn core_against_apiary_contexts_fails_at_the_unsatisfied_read_with_its_source_line() {
    let Some(object) = corpus("core_fields") else {
        return;
    };
    // The default target describes contexts only: task_struct's fields
    // are missing there, so the reads are poisoned as libbpf poisons them,
    // which the verifier refuses as the kernel does ...
    let verified = OpenObject::open(object.path()).unwrap().load().unwrap();
    let refused = verified
        .program::<apiary::RawTracepoint>("read_task_fields")
        .unwrap_err();
    assert!(matches!(refused, Error::Rejected { .. }), "{refused}");
    // ... and the interpreter stops at when it runs unverified.
    let loaded = load_unverified(object.path());
    let program = loaded
        .program::<apiary::RawTracepoint>("read_task_fields")
        .unwrap();
    let err = program
        .test_run(&apiary::RawTracepointRun { args: &[0, 0] })
        .unwrap_err();
    let Error::Run { line, .. } = &err else {
        panic!("expected a run error, got {err}");
    };
    let line = line.as_ref().expect("core_fields.o has line info");
    assert!(line.file.ends_with("core_fields.c"), "{line}");
    assert!(err.to_string().contains("CO-RE"), "{err}");
    eprintln!("{err}");
}

#[test]
fn a_context_write_the_type_forbids_is_rejected_with_its_source_line_as_by_the_kernel() {
    let source = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int mark_packets(struct __sk_buff *skb)
{
	skb->mark = 7; /* socket filters may write only cb[] */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"#;
    const TEST: &str =
        "a_context_write_the_type_forbids_is_rejected_with_its_source_line_as_by_the_kernel";
    let Some(o) = compile("mark_packets", source, TEST) else {
        return;
    };
    // The verifier refuses it with the kernel's line ...
    let loaded = OpenObject::open(&o).unwrap().load().unwrap();
    let err = loaded
        .program::<apiary::SocketFilter>("mark_packets")
        .unwrap_err();
    let Error::Rejected { rejection, .. } = &err else {
        panic!("expected the verifier's rejection, got {err}");
    };
    assert_eq!(rejection.kernel, "invalid bpf_context access off=8 size=4");
    let line = rejection
        .source
        .as_ref()
        .expect("line info names the source line");
    assert!(line.text.contains("skb->mark = 7"), "{line:?}");
    // ... and, unverified, the runtime's context rules refuse it too.
    let loaded = load_unverified(&o);
    let err = loaded
        .program::<apiary::SocketFilter>("mark_packets")
        .unwrap_err();
    let Error::ProgramRejected { insn, line, .. } = &err else {
        panic!("expected a load-time rejection, got {err}");
    };
    assert!(insn.is_some(), "{err}");
    let line = line.as_ref().expect("line info names the source line");
    assert!(line.text.contains("skb->mark = 7"), "{line}");
    assert!(err.to_string().contains("__sk_buff.mark"), "{err}");

    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(&format!("{TEST} (kernel side)"), reason);
    }
    let bytes = std::fs::read(&o).unwrap();
    let spec = apiary_loader::Object::parse(&bytes, "mark_packets").unwrap();
    let kernel = apiary_backend::load_object(
        &spec,
        &apiary_backend::LoadOptions {
            elf: Some(&bytes),
            log_level: 0,
            ..Default::default()
        },
    );
    assert!(
        kernel
            .as_ref()
            .map_or(true, |k| k.program("mark_packets").is_none()),
        "the kernel loaded what Apiary rejected"
    );
}

/// `path` loaded without the verifier, for programs whose run-time
/// behaviour is the point of the test.
fn load_unverified(path: impl AsRef<std::path::Path>) -> apiary::Object {
    let mut open = OpenObject::open(path).unwrap();
    open.set_verify(false);
    open.load().unwrap()
}

/// Programs that break the interpreter's run-time bounds (shared with the
/// CLI's tests).
const RUN_LIMITS_C: &str = include_str!("../../../tests/limits/run_limits.c");

#[test]
fn a_program_that_never_ends_stops_at_the_runners_budget() {
    let Some(o) = compile("spin", RUN_LIMITS_C, "budget test") else {
        return;
    };
    // The verifier would refuse these programs: they test the interpreter.
    let loaded = load_unverified(&o);
    let program = loaded.program::<Xdp>("spin").unwrap();
    let mut runner = loaded.runner(0);
    assert_eq!(runner.budget(), Some(apiary::vm::DEFAULT_BUDGET));
    runner.set_budget(Some(10_000));
    let err = runner
        .test_run(&program, &XdpRun::new(&udp_frame(64)))
        .unwrap_err();
    let Error::BudgetExhausted {
        budget, insn, line, ..
    } = &err
    else {
        panic!("expected the budget error, got {err}");
    };
    assert_eq!(*budget, 10_000);
    assert!(
        line.as_ref().is_some_and(|l| l.text.contains("while (x)")),
        "stopped at {insn}: {line:?}"
    );
    assert!(err.to_string().contains("Runner::set_budget"), "{err}");
}

/// A fault is typed: the packet or the map value the program aimed at,
/// and the offset in it.
#[test]
fn faults_name_the_packet_or_the_map_value() {
    let Some(o) = compile("faults", RUN_LIMITS_C, "fault location test") else {
        return;
    };
    let loaded = load_unverified(&o);
    let location = |name: &str| {
        let err = loaded
            .program::<Xdp>(name)
            .unwrap()
            .test_run(&XdpRun::new(&udp_frame(74)))
            .unwrap_err();
        match err {
            Error::Run { source, .. } => match *source {
                apiary::vm::RunError::MemoryFault { location, .. } => location,
                other => panic!("expected a memory fault, got {other}"),
            },
            other => panic!("expected a run error, got {other}"),
        }
    };
    assert_eq!(
        location("past_packet"),
        apiary::vm::FaultLocation::Packet {
            offset: 5000,
            len: 74
        }
    );
    let value = location("past_value");
    assert!(
        matches!(
            &value,
            apiary::vm::FaultLocation::MapValue {
                name: Some(name),
                offset: 12,
                value_size: 8,
                ..
            } if name == "counters"
        ),
        "{value:?}"
    );
    assert_eq!(
        value.to_string(),
        "map value \"counters\"+12 (value size 8)"
    );
}

/// The engine is a load option: the JIT and the interpreter give the same
/// verdicts, packets and per-CPU counters on the same frames.
#[test]
fn both_engines_give_the_same_runs_and_maps() {
    let Some(object) = corpus("xdp_proto_counter") else {
        return;
    };
    let outcome = |engine| {
        let mut open = OpenObject::open(object.path()).unwrap();
        open.set_nr_cpus(1).set_engine(engine);
        let loaded = open.load().unwrap();
        let program = loaded.program::<Xdp>("xdp_count_protocols").unwrap();
        let mut runner = loaded.runner(0);
        let runs: Vec<(u32, Option<Vec<u8>>)> = [60, 100, 1500]
            .into_iter()
            .map(|len| {
                let out = runner
                    .test_run(&program, &XdpRun::new(&udp_frame(len)))
                    .unwrap();
                (out.retval, out.data_out)
            })
            .collect();
        let packets: apiary::Array<u64> = loaded.map_view("packets").unwrap();
        (runs, packets.get(17, 0).unwrap())
    };
    let jit = outcome(apiary::Engine::Jit);
    assert_eq!(jit.1, 3, "three UDP frames counted");
    assert_eq!(jit, outcome(apiary::Engine::Interpreter));
}
