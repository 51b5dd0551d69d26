//! Every program of the C corpus and the examples, test-run on every frame
//! of the bundled capture through the runtime: the JIT and the interpreter
//! give the same return value, packet, context, redirect and error, and
//! leave the same maps.

use apiary_difftest::objects::{RunRequest, VmBackend, compare_maps, compare_runs};
use apiary_runtime::Env;
use apiary_vm::Program;

fn jit(program: &Program<Env>) -> Result<(), String> {
    apiary_jit::compile(program).map_err(|e| e.to_string())
}

/// Programs whose maps depend on `bpf_get_prandom_u32`, seeded per runtime.
const MAPS_NOT_COMPARED: &[&str] = &["events_output/xdp_emit_events"];

fn request(frame: &[u8]) -> RunRequest {
    RunRequest {
        data_in: Some(frame.to_vec()),
        ctx_in: None,
        data_size_out: Some(u32::try_from(frame.len()).unwrap_or(u32::MAX) + 512),
        ctx_size_out: None,
        repeat: 0,
    }
}

#[test]
fn every_corpus_program_runs_the_same_on_both_tiers() {
    let (corpus, examples) = match (apiary_corpus::objects(), apiary_corpus::examples()) {
        (Ok(corpus), Ok(examples)) => (corpus, examples),
        (Err(why), _) | (_, Err(why)) => {
            return apiary_testskip::missing(
                "every_corpus_program_runs_the_same_on_both_tiers",
                why,
            );
        }
    };
    let frames = apiary_corpus::traffic::packets();
    let (mut compared, mut runs) = (0, 0);
    let mut failures = Vec::new();
    for compiled in corpus.iter().chain(examples) {
        let elf = compiled.read().expect("reading the object");
        let Ok(object) = apiary_loader::Object::parse(&elf, compiled.name) else {
            continue;
        };
        for program in object.programs.iter().flatten() {
            let name = format!("{}/{}", compiled.name, program.name);
            let (mut interp, mut native) = match (
                VmBackend::open(&object, &program.name),
                VmBackend::open_on(&object, &program.name, Some(jit)),
            ) {
                (Ok(interp), Ok(native)) => (interp, native),
                (Err(a), Err(b)) if a.to_string() == b.to_string() => continue,
                (a, b) => {
                    failures.push(format!("{name}: open: {:?} vs {:?}", a.err(), b.err()));
                    continue;
                }
            };
            for packet in &frames {
                let req = request(&packet.frame);
                match (interp.run(&req), native.run(&req)) {
                    (Ok(a), Ok(b)) => {
                        runs += 1;
                        for difference in compare_runs(&a, &b) {
                            failures.push(format!("{name} on {}: {difference}", packet.summary));
                        }
                    }
                    (Err(a), Err(b)) if a.to_string() == b.to_string() => {}
                    (a, b) => failures.push(format!(
                        "{name} on {}: interpreter {:?}, JIT {:?}",
                        packet.summary,
                        a.err(),
                        b.err()
                    )),
                }
            }
            if !MAPS_NOT_COMPARED.contains(&name.as_str()) {
                for difference in compare_maps(&interp.dump_maps(), &native.dump_maps()) {
                    failures.push(format!("{name}: {difference}"));
                }
            }
            compared += 1;
        }
    }
    eprintln!("{compared} programs compared, {runs} successful runs on each tier");
    assert!(compared >= 40, "only {compared} programs compared");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
