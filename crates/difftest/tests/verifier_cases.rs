//! Every case of `tests/verifier/*.s` gets, from the running kernel, the
//! verdict and final log line recorded in its `;; expect` header and the
//! message lines before it recorded in its `;; detail` lines (recorded
//! with `cargo run -p apiary-difftest --example record_verifier_cases`).

use std::path::Path;

use apiary_difftest::verifier_cases::{Expect, LoadFailure, case_files, kernel_verdict, read_file};

fn case_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/verifier")
}

#[test]
fn every_case_parses_and_is_recorded() {
    let files = case_files(&case_dir()).unwrap();
    assert!(
        !files.is_empty(),
        "no case files in {}",
        case_dir().display()
    );
    let mut unrecorded = Vec::new();
    let mut total = 0;
    for file in files {
        let cases = read_file(&file).unwrap_or_else(|error| panic!("{error}"));
        total += cases.len();
        unrecorded.extend(
            cases
                .iter()
                .filter(|c| c.expect == Expect::Reject(None))
                .map(|c| c.location()),
        );
    }
    assert!(total >= 150, "only {total} cases");
    assert!(
        unrecorded.is_empty(),
        "rejections without their line: {unrecorded:#?}"
    );
}

#[test]
fn the_kernel_gives_every_recorded_verdict() {
    let test = "the_kernel_gives_every_recorded_verdict";
    if let Err(reason) = apiary_difftest::kernel_available() {
        return apiary_testskip::missing(test, reason);
    }
    let mut differences = Vec::new();
    let mut checked = 0;
    for file in case_files(&case_dir()).unwrap() {
        for case in read_file(&file).unwrap_or_else(|error| panic!("{error}")) {
            match kernel_verdict(&case) {
                Ok(kernel) if kernel.verdict == case.expect && kernel.detail == case.detail => {
                    checked += 1
                }
                Ok(kernel) => differences.push(format!(
                    "{}\n  recorded: {} {:?}\n  kernel:   {} {:?}",
                    case.location(),
                    case.expect,
                    case.detail,
                    kernel.verdict,
                    kernel.detail
                )),
                Err(LoadFailure::Refused { what, errno }) => {
                    apiary_testskip::refused(&format!("{test}: {}", case.location()), what, errno)
                }
                Err(LoadFailure::Unavailable { what, reason }) => apiary_testskip::missing(
                    &format!("{test}: {}", case.location()),
                    format!("{what}: {reason}"),
                ),
                Err(error) => differences.push(format!("{}: {error}", case.location())),
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} cases differ from the kernel ({checked} agree):\n{}",
        differences.len(),
        differences.join("\n")
    );
}
