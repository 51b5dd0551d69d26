//! Every program of the C corpus and the examples, test-run on every frame
//! of the bundled capture and a full-size one through the runtime (the
//! benchmark programs' loops run on that one): the JIT and the interpreter
//! give the same return value, packet, context, redirect and error, and
//! leave the same maps; once compiled with every check, once with the
//! verifier's proofs (the accesses it proved in bounds unchecked).

use std::sync::atomic::{AtomicUsize, Ordering};

use apiary_difftest::objects::{
    BackendError, BackendKind, RunRequest, VmBackend, compare_maps, compare_runs,
};
use apiary_jit::Compiled;
use apiary_loader::Object;
use apiary_runtime::Env;
use apiary_vm::Program;

fn jit(_: &str, program: &Program<Env>) -> Result<(), String> {
    apiary_jit::compile(program).map_err(|e| e.to_string())
}

/// How an object's programs get their native code.
type OpenNative = fn(&Object, &str) -> Result<VmBackend, BackendError>;

fn checked(object: &Object, program: &str) -> Result<VmBackend, BackendError> {
    VmBackend::open_on(object, program, Some(&jit))
}

/// Programs compiled with proofs by [`verified`], and their proven accesses.
static VERIFIED: AtomicUsize = AtomicUsize::new(0);
static PROVEN: AtomicUsize = AtomicUsize::new(0);

/// Every program the verifier accepts compiled with its proofs, the
/// others with every check.
fn verified(object: &Object, program: &str) -> Result<VmBackend, BackendError> {
    let vm = VmBackend::open(object, program)?;
    let runtime = vm.runtime();
    let compiled = apiary_jit::compile_each(&apiary_verifier::verify_object(object), |name| {
        runtime
            .program_by_name(name)
            .and_then(|id| runtime.program(id))
    })
    .map_err(|e| BackendError {
        backend: BackendKind::Vm,
        problem: e.to_string(),
        run_error: None,
    })?;
    for (name, how) in compiled {
        if let (
            true,
            Compiled::Verified {
                stack,
                packet,
                map_value,
                context,
            },
        ) = (name == program, how)
        {
            VERIFIED.fetch_add(1, Ordering::Relaxed);
            PROVEN.fetch_add(stack + packet + map_value + context, Ordering::Relaxed);
        }
    }
    Ok(vm)
}

/// Programs whose maps depend on `bpf_get_prandom_u32`, seeded per runtime.
const MAPS_NOT_COMPARED: &[&str] = &["events_output/xdp_emit_events"];

fn request(frame: &[u8], repeat: u32) -> RunRequest {
    RunRequest {
        data_in: Some(frame.to_vec()),
        ctx_in: None,
        data_size_out: Some(u32::try_from(frame.len()).unwrap_or(u32::MAX) + 512),
        ctx_size_out: None,
        repeat,
    }
}

#[test]
fn every_corpus_program_runs_the_same_on_both_tiers() {
    compare_tiers("every_corpus_program_runs_the_same_on_both_tiers", checked);
}

#[test]
fn every_corpus_program_compiled_with_the_verifiers_proofs_runs_the_same() {
    compare_tiers(
        "every_corpus_program_compiled_with_the_verifiers_proofs_runs_the_same",
        verified,
    );
    let (programs, proven) = (
        VERIFIED.load(Ordering::Relaxed),
        PROVEN.load(Ordering::Relaxed),
    );
    eprintln!("{programs} programs compiled with proofs, {proven} accesses proven");
    assert!(programs >= 60, "only {programs} programs had proofs");
    assert!(proven >= 500, "only {proven} accesses were proven");
}

fn compare_tiers(test: &str, open_native: OpenNative) {
    let (corpus, examples) = match (apiary_corpus::objects(), apiary_corpus::examples()) {
        (Ok(corpus), Ok(examples)) => (corpus, examples),
        (Err(why), _) | (_, Err(why)) => return apiary_testskip::missing(test, why),
    };
    // The capture's frames, and one full-size frame of varied bytes, on
    // which the benchmark programs run their loops (shorter ones stop them
    // at their length check), once and in a test run repeating on the
    // packet runs leave (a compiling tier's repeated runs start from the
    // registers the last one left).
    let mut frames: Vec<(String, Vec<u8>, u32)> = apiary_corpus::traffic::packets()
        .iter()
        .map(|p| (p.summary.to_string(), p.frame.to_vec(), 0))
        .collect();
    let full: Vec<u8> = (0..1514u64)
        .map(|i| ((i * 2_654_435_761) >> 13) as u8)
        .collect();
    frames.push(("a 1514-byte frame".to_owned(), full.clone(), 0));
    frames.push(("a 1514-byte frame, 3 runs".to_owned(), full, 3));
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
                open_native(&object, &program.name),
            ) {
                (Ok(interp), Ok(native)) => (interp, native),
                (Err(a), Err(b)) if a.to_string() == b.to_string() => continue,
                (a, b) => {
                    failures.push(format!("{name}: open: {:?} vs {:?}", a.err(), b.err()));
                    continue;
                }
            };
            for (summary, frame, repeat) in &frames {
                let req = request(frame, *repeat);
                match (interp.run(&req), native.run(&req)) {
                    (Ok(a), Ok(b)) => {
                        runs += 1;
                        for difference in compare_runs(&a, &b) {
                            failures.push(format!("{name} on {summary}: {difference}"));
                        }
                    }
                    (Err(a), Err(b)) if a.to_string() == b.to_string() => {}
                    (a, b) => failures.push(format!(
                        "{name} on {summary}: interpreter {:?}, JIT {:?}",
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
