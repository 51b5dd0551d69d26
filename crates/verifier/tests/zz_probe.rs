// scratch, not committed
use apiary_difftest::verifier_cases::read_file;
mod case_program;
use case_program::CaseInputs;
#[test]
fn probe() {
    let file = std::env::var("PROBE").unwrap();
    let only = std::env::var("CASE").ok();
    for case in read_file(std::path::Path::new(&file)).unwrap() {
        if only.as_ref().is_some_and(|o| *o != case.name) {
            continue;
        }
        let inputs = CaseInputs::of(&case);
        let p = inputs.program(&case);
        let (r, log) = apiary_verifier::verify_with_log(&p, apiary_verifier::LogLevel::Basic);
        println!("=== {}\n{log}", case.name);
        match r {
            Ok(_) => println!("ACCEPT"),
            Err(e) => println!("REJECT at {}: {}", e.insn, e.kernel),
        }
    }
}
