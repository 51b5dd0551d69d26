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

/// Both backends of `example`'s program `program`, or `None` (said loudly)
/// when the kernel or the compiled example is unavailable.
fn backends(example: &'static str, program: &str) -> Option<(VmBackend, KernelBackend)> {
    if let Err(reason) = apiary_difftest::kernel_available() {
        eprintln!("SKIPPED: object comparison because {reason}");
        return None;
    }
    let compiled = match apiary_corpus::example(example) {
        Ok(compiled) => compiled,
        Err(why) => {
            eprintln!("SKIPPED: example {example} unavailable because {why}");
            return None;
        }
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
        let Some((mut vm, mut kernel)) = backends(example, program) else {
            return;
        };
        assert!(frames.len() > 30, "the capture has its frames");
        for packet in &frames {
            let ours = vm.run(&request(&packet.frame)).unwrap();
            let theirs = kernel.run(&request(&packet.frame)).unwrap();
            let differences = compare_runs(&ours, &theirs);
            assert!(
                differences.is_empty(),
                "{example} on {}: {differences:?}",
                packet.summary
            );
        }
        let differences = compare_maps(&vm.dump_maps(), &kernel.dump_maps());
        assert!(differences.is_empty(), "{example} maps: {differences:?}");
    }
}

#[test]
fn a_planted_map_difference_is_named() {
    let Some((mut vm, mut kernel)) = backends("proto_counter", "count_protocols") else {
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
