//! `apiary bench verify`: every program of the objects given, on Apiary's
//! verifier and the running kernel's, with both times, the processed
//! instructions of both and the totals.

mod common;

use common::{apiary, firewall, kernel_usable, text};

#[test]
fn every_program_has_both_times_and_the_kernels_instruction_count() {
    const TEST: &str = "every_program_has_both_times_and_the_kernels_instruction_count";
    if !kernel_usable(TEST) {
        return;
    }
    let Some(object) = firewall(TEST) else {
        return;
    };
    let path = object.to_str().unwrap();
    let out = apiary(&["bench", "verify", path, "--rounds", "2", "-j"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let records: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    // The programs `apiary verify` lists, in its order.
    let verified: Vec<serde_json::Value> =
        serde_json::from_slice(&apiary(&["verify", path, "-j"]).stdout).unwrap();
    let names = |list: &[serde_json::Value]| -> Vec<String> {
        list.iter().map(|r| r["name"].to_string()).collect()
    };
    assert_eq!(names(&records), names(&verified));
    for record in &records {
        let kernel = &record["kernel"];
        assert_eq!(record["verdict"], "accept", "{record}");
        assert_eq!(kernel["verdict"], "accept", "{record}");
        assert_eq!(
            record["insns_processed"], kernel["insns_processed"],
            "{record}"
        );
        for time in [&record["time_us"], &kernel["verification_time_us"]] {
            assert!(time.as_u64().is_some_and(|us| us > 0), "{record}");
        }
        assert!(
            record["ratio"].as_f64().is_some_and(|r| r > 0.0),
            "{record}"
        );
    }

    let table = text(&apiary(&["bench", "verify", path, "--rounds", "1"]).stdout);
    for record in &records {
        let row = format!("xdp_firewall/{} ", record["name"].as_str().unwrap());
        assert!(table.contains(&row), "{row} in\n{table}");
    }
    let total = format!("total over {0} of {0} programs: apiary ", records.len());
    assert!(table.contains(&total), "{total} in\n{table}");
}

#[test]
fn a_path_without_objects_is_one_line_of_error() {
    let dir = std::env::temp_dir().join("apiary-verify-bench-empty");
    std::fs::create_dir_all(&dir).unwrap();
    let out = apiary(&["bench", "verify", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "apiary: arguments: no object files to verify\n"
    );
}
