//! `apiary prog load|run` on objects of every era (issue 11): what the
//! listing says about each executable section, the JSON keys for the same,
//! and runs of the legacy corpus with the expectations of its C sources,
//! in the interpreter and, where `bpf()` is usable, in the kernel too
//! (`--backend both`, which compares return value, packet and maps).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn apiary(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_apiary"))
        .args(args)
        .output()
        .expect("running apiary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The legacy object's path, or `None` after skipping.
fn legacy(name: &'static str) -> Option<String> {
    match apiary_corpus::legacy_object(name) {
        Ok(object) => Some(object.path().display().to_string()),
        Err(e) => apiary_testskip::missing(&format!("legacy object {name}"), e),
    }
}

fn section_lines(output: &Output) -> Vec<String> {
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .filter(|l| l.starts_with("section "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn prog_load_says_what_became_of_every_executable_section() {
    let (Some(tc), Some(samples), Some(text_only)) = (
        legacy("tc_elf_maps"),
        legacy("samples_socket"),
        legacy("text_only"),
    ) else {
        return;
    };
    assert_eq!(
        section_lines(&apiary(&["prog", "load", &tc])),
        [
            "section \"classifier\": program cls_entry type sched_cls (type from section name, name from func symbol)",
            "section \"2/1\": skipped: tail call slot 1 of prog array id 2; load with --type tc",
            "section \"3/0\": skipped: tail call slot 0 of prog array id 3, but no prog array in \"maps\" has id 3 (tc skips it too)",
            "section \"from-netdev\": skipped: its name gives no program type (neither libbpf 1.x's SEC() table nor libbpf 0.x's prefixes know it; `tc ... sec NAME` leaves the type to the command); load with --type TYPE",
        ]
    );
    let typed = section_lines(&apiary(&["prog", "load", &tc, "--type", "tc"]));
    assert_eq!(
        typed[1],
        "section \"2/1\": program 2/1 type sched_cls (type from --type, name from section); tail call in slot 1 of jmp_map"
    );
    assert_eq!(
        typed[3],
        "section \"from-netdev\": program from_netdev type sched_cls (type from --type, name from notype symbol)"
    );
    let listing = text(&apiary(&["prog", "load", &tc]).stdout);
    assert!(
        listing.contains("(bpf_elf_map in \"maps\": id 2 pinning 2 inner_id 0 inner_idx -1)"),
        "{listing}"
    );
    assert_eq!(
        section_lines(&apiary(&["prog", "load", &samples]))[0],
        "section \"socket1\": program count_protocols type socket_filter (type from libbpf 0.x prefix \"socket\", name from notype symbol); program sum_lengths type socket_filter (type from libbpf 0.x prefix \"socket\", name from notype symbol)"
    );
    assert_eq!(
        section_lines(&apiary(&["prog", "load", &text_only, "--type", "xdp"])),
        [
            "section \".text\": program xdp_parity type xdp (type from --type, name from func symbol)"
        ]
    );
}

#[test]
fn prog_load_json_has_keys_for_sections_types_and_map_conventions() {
    let Some(tc) = legacy("tc_elf_maps") else {
        return;
    };
    let output = apiary(&["-j", "prog", "load", &tc, "--type", "tc"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let sections = json["sections"].as_array().expect("sections");
    let names: Vec<&str> = sections.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["classifier", "2/1", "3/0", "from-netdev"]);
    assert_eq!(sections[1]["outcome"], "programs");
    assert_eq!(sections[1]["tail_call"]["map"], "jmp_map");
    assert_eq!(sections[1]["tail_call"]["slot"], 1);
    assert_eq!(sections[2]["outcome"], "skipped");
    assert_eq!(sections[2]["hint"], Value::Null);
    let program = &json["programs"][sections[1]["programs"][0].as_u64().expect("index") as usize];
    assert_eq!(program["name"], "2/1");
    assert_eq!(program["type"], "sched_cls");
    assert_eq!(program["type_from"], "user_type");
    assert_eq!(program["name_from"], "section");
    let jmp_map = &json["maps"][0];
    assert_eq!(jmp_map["definition"], "bpf_elf_map");
    assert_eq!(jmp_map["bpf_elf_map"]["id"], 2);
    assert_eq!(jmp_map["bpf_elf_map"]["pinning"], 2);

    let untyped = apiary(&["-j", "prog", "load", &tc]);
    let json: Value = serde_json::from_slice(&untyped.stdout).expect("JSON");
    assert_eq!(json["sections"][1]["hint"], "--type tc");
}

#[test]
fn bad_types_and_untyped_runs_are_one_line_errors_with_the_way_out() {
    let (Some(tc), Some(text_only)) = (legacy("tc_elf_maps"), legacy("text_only")) else {
        return;
    };
    let bad = apiary(&["prog", "load", &tc, "--type", "bogus"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).starts_with("apiary: --type: unknown program type \"bogus\""),
        "{}",
        text(&bad.stderr)
    );
    let untyped = apiary(&["prog", "run", &text_only]);
    let stderr = text(&untyped.stderr);
    assert!(!untyped.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no loadable program; section \".text\" skipped:")
            && stderr.contains("load with --type TYPE"),
        "{stderr}"
    );
    let missing = apiary(&["prog", "run", &tc, "--type", "tc", "--section", "nope"]);
    assert!(
        text(&missing.stderr).contains("--section names no executable section"),
        "{}",
        text(&missing.stderr)
    );
}

fn packet(len: usize) -> PathBuf {
    let path = std::env::temp_dir().join(format!("apiary-legacy-{}-{len}.bin", std::process::id()));
    // An Ethernet frame of `len` bytes: broadcast, IPv4 ethertype.
    let mut frame = vec![0xffu8; 12];
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.resize(len, 0x45);
    std::fs::write(&path, frame).expect("writing the packet");
    path
}

/// `prog run` on `object` with `args`: the return value printed, from
/// both backends when the kernel is usable (which must agree).
fn run(object: &str, args: &[&str], data: &Path) -> u32 {
    let kernel = apiary_kernel::probe().is_ok();
    let data = data.display().to_string();
    let mut all = vec!["prog", "run", object, "data_in", &data];
    all.extend_from_slice(args);
    if kernel {
        all.extend_from_slice(&["--backend", "both"]);
    }
    let output = apiary(&all);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{all:?}: {stdout}{}",
        text(&output.stderr)
    );
    if kernel {
        assert!(
            text(&output.stderr).contains("vm and kernel agree"),
            "{all:?}"
        );
    }
    stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("Return value: "))
        .and_then(|l| l.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{all:?}: no return value in {stdout:?}"))
}

#[test]
fn legacy_programs_run_as_their_sources_say_in_both_backends() {
    let (Some(tc), Some(samples), Some(text_only), Some(xdp), Some(bpf_load)) = (
        legacy("tc_elf_maps"),
        legacy("samples_socket"),
        legacy("text_only"),
        legacy("xdp_prog_section"),
        legacy("bpf_load_calls"),
    ) else {
        return;
    };
    if let Err(reason) = apiary_kernel::probe() {
        apiary_testskip::missing::<()>("the kernel half of legacy runs", reason);
    }
    let (small, large) = (packet(60), packet(120));
    // tc: TC_ACT_SHOT from the tail call "2/1", TC_ACT_OK without it.
    assert_eq!(
        run(&tc, &["--type", "tc", "--prog", "cls_entry"], &large),
        2
    );
    assert_eq!(run(&tc, &["--prog", "cls_entry"], &large), 0);
    assert_eq!(
        run(&tc, &["--type", "tc", "--section", "from-netdev"], &large),
        2
    );
    assert_eq!(
        run(&tc, &["--type", "tc", "--section", "from-netdev"], &small),
        0
    );
    // Socket filters see skb->len without the Ethernet header.
    assert_eq!(run(&samples, &["--prog", "sum_lengths"], &large), 106);
    assert_eq!(run(&samples, &["--prog", "count_protocols"], &large), 0);
    assert_eq!(run(&samples, &["--section", "xdp_drop_small"], &small), 1);
    assert_eq!(run(&samples, &["--section", "xdp_drop_small"], &large), 2);
    assert_eq!(run(&text_only, &["--type", "xdp"], &small), 2);
    // ip link's "prog" section tail-calls "1/0", which drops.
    assert_eq!(
        run(&xdp, &["--type", "xdp", "--section", "prog"], &small),
        1
    );
    let odd = packet(61);
    // Through a call into "helpers" and from there into .text.
    assert_eq!(run(&bpf_load, &[], &small), 2);
    assert_eq!(run(&bpf_load, &[], &odd), 1);
    // Typed sched_cls, the same code reads __sk_buff's len (61) and
    // pkt_type (0) where xdp_md has data and data_end: 0 - 61 is odd.
    assert_eq!(run(&text_only, &["--type", "sched_cls"], &odd), 1);
    for path in [small, large, odd] {
        let _ = std::fs::remove_file(path);
    }
}
