//! The object comparison as a library: the packet examples run in Apiary and
//! in the kernel on every frame of the bundled capture agree on return
//! value, packet and maps; a difference planted in one map is reported with
//! the map, the key and both values.

use apiary_difftest::objects::{KernelBackend, RunRequest, VmBackend, compare_maps, compare_runs};

fn request(frame: &[u8]) -> RunRequest {
    RunRequest {
        data_in: Some(frame.to_vec()),
        ctx_in: None,
        data_size_out: Some(u32::try_from(frame.len()).unwrap() + 512),
        ctx_size_out: None,
        repeat: 0,
    }
}

/// Both backends of `example`'s program `program`, or `None` (after
/// skipping `test`) when the kernel or the compiled example is unavailable.
fn backends(
    test: &str,
    example: &'static str,
    program: &str,
) -> Option<(VmBackend, KernelBackend)> {
    if let Err(reason) = apiary_difftest::kernel_available() {
        return apiary_testskip::missing(test, reason);
    }
    let compiled = match apiary_corpus::example(example) {
        Ok(compiled) => compiled,
        Err(why) => return apiary_testskip::missing(test, why),
    };
    let elf = compiled.read().unwrap();
    let object = apiary_loader::Object::parse(&elf, example).unwrap();
    let vm = VmBackend::open(&object, program).unwrap();
    let kernel = KernelBackend::open(&object, &elf, program).unwrap();
    Some((vm, kernel))
}

#[test]
fn packet_examples_agree_with_the_kernel_on_the_bundled_capture() {
    let frames = apiary_corpus::traffic::packets();
    for (example, program) in [
        ("proto_counter", "count_protocols"),
        ("tc_mark_redirect", "mark_redirect"),
        ("nat_lb", "nat_lb"),
    ] {
        let Some((mut vm, mut kernel)) = backends(
            "packet_examples_agree_with_the_kernel_on_the_bundled_capture",
            example,
            program,
        ) else {
            return;
        };
        assert!(frames.len() > 30, "the capture has its frames");
        agree_on_every_frame(&mut vm, &mut kernel, &frames, example);
    }
}

/// Runs every frame on both backends, asserting the same outcome, then
/// the same maps (`what` names the program in failures); returns the
/// kernel's return value of each frame.
fn agree_on_every_frame(
    vm: &mut VmBackend,
    kernel: &mut KernelBackend,
    frames: &[apiary_corpus::traffic::Packet],
    what: &str,
) -> Vec<u32> {
    let retvals = frames
        .iter()
        .map(|packet| {
            let ours = vm.run(&request(&packet.frame)).unwrap();
            let theirs = kernel.run(&request(&packet.frame)).unwrap();
            let differences = compare_runs(&ours, &theirs);
            assert!(
                differences.is_empty(),
                "{what} on {}: {differences:?}",
                packet.summary
            );
            theirs.retval
        })
        .collect();
    let differences = compare_maps(&vm.dump_maps(), &kernel.dump_maps());
    assert!(differences.is_empty(), "{what} maps: {differences:?}");
    retvals
}

#[test]
fn a_planted_map_difference_is_named() {
    let Some((mut vm, mut kernel)) = backends(
        "a_planted_map_difference_is_named",
        "proto_counter",
        "count_protocols",
    ) else {
        return;
    };
    let frame = &apiary_corpus::traffic::packets()[0].frame;
    vm.run(&request(frame)).unwrap();
    kernel.run(&request(frame)).unwrap();
    assert!(compare_maps(&vm.dump_maps(), &kernel.dump_maps()).is_empty());
    let map = vm
        .dump_maps()
        .into_iter()
        .find(|m| m.contents.as_ref().is_ok_and(|c| !c.is_empty()));
    let map = map.expect("a map the run wrote");
    let (key, value) = map.contents.as_ref().unwrap().iter().next().unwrap();
    let mut changed = value.clone();
    changed[0] ^= 1;
    vm.map(&map.name)
        .unwrap()
        .sys_update(key, &changed, 0)
        .unwrap();
    let differences = compare_maps(&vm.dump_maps(), &kernel.dump_maps());
    assert_eq!(differences.len(), 1, "{differences:?}");
    let text = differences[0].to_string();
    assert!(
        text.contains(&map.name) && text.contains("vm") && text.contains("kernel"),
        "{text}"
    );
}

/// Program types that take a packet in `BPF_PROG_TEST_RUN`.
fn takes_packets(prog_type: apiary_kernel::types::ProgType) -> bool {
    use apiary_kernel::types::ProgType;
    [
        ProgType::XDP,
        ProgType::SCHED_CLS,
        ProgType::SCHED_ACT,
        ProgType::SOCKET_FILTER,
        ProgType::CGROUP_SKB,
        ProgType::LWT_IN,
        ProgType::LWT_OUT,
        ProgType::LWT_XMIT,
    ]
    .contains(&prog_type)
}

/// Programs whose runs cannot be compared in full, and why. The kernel
/// refuses to test-run XDP programs meant for devmap or cpumap entries
/// (`bpf_prog_test_run_xdp`: EINVAL), which Apiary runs; one program's map
/// state depends on `bpf_get_prandom_u32`. Apiary's runtime does not
/// provide the `bpf_timer_*` helpers yet (its verifier checks them).
const NOT_COMPARED: &[(&str, &str)] = &[
    (
        "xdp_policer_callbacks/police",
        "apiary: the runtime does not provide the bpf_timer_* helpers yet",
    ),
    (
        "xdp_redirect_maps/xdp_devmap_egress",
        "kernel: no test-run for BPF_XDP_DEVMAP programs",
    ),
    (
        "xdp_redirect_maps/xdp_cpumap_rx",
        "kernel: no test-run for BPF_XDP_CPUMAP programs",
    ),
];
const MAPS_NOT_COMPARED: &[(&str, &str)] = &[(
    "events_output/xdp_emit_events",
    "its .bss `discarded` counts random draws (bpf_get_prandom_u32)",
)];

#[test]
fn every_kernel_loadable_packet_program_agrees_including_maps() {
    const TEST: &str = "every_kernel_loadable_packet_program_agrees_including_maps";
    if let Err(reason) = apiary_difftest::kernel_available() {
        return apiary_testskip::missing(TEST, reason);
    }
    let (corpus, examples) = match (apiary_corpus::objects(), apiary_corpus::examples()) {
        (Ok(corpus), Ok(examples)) => (corpus, examples),
        (Err(e), _) | (_, Err(e)) => return apiary_testskip::missing(TEST, e),
    };
    let frames = apiary_corpus::traffic::packets();
    let mut compared = 0;
    let mut seen = Vec::new();
    let mut failures = Vec::new();
    for compiled in corpus.iter().chain(examples) {
        if compiled.kernel_loads != apiary_corpus::KernelLoads::Yes {
            continue;
        }
        let elf = compiled.read().unwrap();
        let mut object = apiary_loader::Object::parse(&elf, compiled.name).unwrap();
        if object.needs_core() {
            // Kfunc calls get their ids from the kernel's BTF, as libbpf's.
            match apiary_verifier::kernel_btf() {
                Ok(vmlinux) => {
                    object.relocate_core(vmlinux).unwrap();
                }
                Err(reason) => return apiary_testskip::missing(TEST, reason),
            }
        }
        for program in object.programs.iter().flatten() {
            if !takes_packets(program.prog_type) {
                continue;
            }
            let name = format!("{}/{}", compiled.name, program.name);
            seen.push(name.clone());
            if NOT_COMPARED.iter().any(|(listed, _)| *listed == name) {
                continue;
            }
            let (mut vm, mut kernel) = match (
                VmBackend::open(&object, &program.name),
                KernelBackend::open(&object, &elf, &program.name),
            ) {
                (Ok(vm), Ok(kernel)) => (vm, kernel),
                (vm, kernel) => {
                    failures.push(format!(
                        "{name}: open: vm {:?}, kernel {:?}",
                        vm.err(),
                        kernel.err()
                    ));
                    continue;
                }
            };
            for packet in &frames {
                match (
                    vm.run(&request(&packet.frame)),
                    kernel.run(&request(&packet.frame)),
                ) {
                    (Ok(ours), Ok(theirs)) => {
                        for difference in compare_runs(&ours, &theirs) {
                            failures.push(format!("{name} on {}: {difference}", packet.summary));
                        }
                    }
                    (Err(_), Err(_)) => {}
                    (ours, theirs) => failures.push(format!(
                        "{name} on {}: vm {:?}, kernel {:?}",
                        packet.summary,
                        ours.err(),
                        theirs.err()
                    )),
                }
            }
            if !MAPS_NOT_COMPARED.iter().any(|(listed, _)| *listed == name) {
                for difference in compare_maps(&vm.dump_maps(), &kernel.dump_maps()) {
                    failures.push(format!("{name}: {difference}"));
                }
            }
            compared += 1;
        }
    }
    eprintln!(
        "{compared} packet programs compared over {} frames",
        frames.len()
    );
    assert!(compared >= 30, "only {compared} programs compared");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The firewall with its block list filled, so that its LPM trie lookups
/// hit (nested prefixes: the longest wins) and its hash of per-rule
/// counters is inserted into and then found (and added to through the
/// value found) on later hits: on every frame of the capture, both
/// return the same verdicts and end with the same counters. Apiary's
/// compiled code calls both maps' searches directly (`emit_lookup`).
#[test]
fn the_firewall_agrees_with_the_kernel_with_its_block_list_filled() {
    let Some((mut vm, mut kernel)) = backends(
        "the_firewall_agrees_with_the_kernel_with_its_block_list_filled",
        "xdp_firewall",
        "xdp_firewall",
    ) else {
        return;
    };
    // 10.0.0.0/8 (rule 1) holds 10.0.0.0/24 (rule 2), which holds 10.0.0.6/32 (rule 3).
    let rules: [(u32, [u8; 4], u32); 4] = [
        (8, [10, 0, 0, 0], 1),
        (24, [10, 0, 0, 0], 2),
        (32, [10, 0, 0, 6], 3),
        (24, [203, 0, 113, 0], 4),
    ];
    for (prefixlen, addr, rule) in rules {
        let key = [prefixlen.to_ne_bytes(), addr].concat();
        let value = rule.to_ne_bytes();
        vm.map("blocklist")
            .unwrap()
            .sys_update(&key, &value, 0)
            .unwrap();
        kernel
            .map("blocklist")
            .unwrap()
            .update(&key, &value, 0)
            .unwrap();
    }
    let frames = apiary_corpus::traffic::packets();
    let retvals = agree_on_every_frame(&mut vm, &mut kernel, &frames, "xdp_firewall");
    let dropped = retvals.iter().filter(|&&retval| retval == 1).count();
    assert!(dropped > 3, "the rules dropped {dropped} frames");
}
