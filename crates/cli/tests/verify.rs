//! `apiary verify` on the issue's `drop_tcp`: an XDP program that reads
//! `ip->protocol` after checking only the Ethernet header against
//! `data_end`. The diagnostic is checked on its exact text, and the kernel
//! lines it quotes against the running kernel's log; the statistics
//! line and the verification times beside the kernel's.

mod common;

use std::process::Command;

use common::{apiary, compile_c, firewall, kernel_usable, text};

/// The program, laid out so that the check is on line 14 and the read on line 19.
const DROP_TCP: &str = r#"#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("xdp")
int drop_tcp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > data_end)
        return XDP_PASS;

    struct iphdr *ip = (void *)(eth + 1);

    if (ip->protocol == 6)
        return XDP_DROP;
    return XDP_PASS;
}
"#;

/// The kernel's lines for this rejection (its log at level 1).
const KERNEL_LINES: [&str; 2] = [
    "invalid access to packet, off=23 size=1, R1(id=0,off=23,r=14)",
    "R1 offset is outside of the packet",
];

#[test]
fn drop_tcp_is_explained_in_terms_of_the_source() {
    let Some(object) = compile_c(
        "bad",
        DROP_TCP,
        "drop_tcp_is_explained_in_terms_of_the_source",
    ) else {
        return;
    };
    // Run where the source is, so that it is named `bad.c` as rustc would.
    let out = Command::new(env!("CARGO_BIN_EXE_apiary"))
        .current_dir(object.parent().expect("the scratch directory"))
        .args(["verify", "bad.o"])
        .output()
        .expect("running apiary");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let expected = format!(
        "drop_tcp: rejected at insn 6
error: packet read of 1 byte at data+23 is not proven to be inside the packet
  --> bad.c:19:9
   |
19 |     if (ip->protocol == 6)
   |         ^^^^^^^^^^^^ reads data+23..data+24
   |
   = note: the checks before this line prove data+0..data+14 (bad.c:14: `if ((void *)(eth + 1) > data_end)`)
   = note: R1=pkt(off=0,r=14)
   = help: check `ip` against data_end first: `if ((void *)(ip + 1) > data_end) return XDP_PASS;`
   = kernel: {}
   = kernel: {}
",
        KERNEL_LINES[0], KERNEL_LINES[1]
    );
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn drop_tcp_quotes_the_kernel_lines_the_kernel_prints() {
    const TEST: &str = "drop_tcp_quotes_the_kernel_lines_the_kernel_prints";
    if !kernel_usable(TEST) {
        return;
    }
    let Some(object) = compile_c("bad_kernel", DROP_TCP, TEST) else {
        return;
    };
    let out = apiary(&["verify", object.to_str().unwrap(), "--backend", "both"]);
    let stdout = text(&out.stdout);
    for line in KERNEL_LINES {
        assert!(
            stdout.contains(&format!("   = kernel: {line}\n")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains(&format!(
            "drop_tcp: kernel: {}\ndrop_tcp: kernel: rejected: {}\ndrop_tcp: kernel: processed ",
            KERNEL_LINES[0], KERNEL_LINES[1]
        )),
        "{stdout}"
    );
    assert!(stdout.contains("drop_tcp: verdicts agree\n"), "{stdout}");
}

/// The words of a statistics line with its numbers taken out.
fn skeleton(line: &str) -> Vec<&str> {
    line.split_whitespace()
        .filter(|w| {
            w.trim_matches(|c| c == '(' || c == ')')
                .parse::<u64>()
                .is_err()
        })
        .collect()
}

#[test]
fn both_backends_report_statistics_and_times_side_by_side() {
    const TEST: &str = "both_backends_report_statistics_and_times_side_by_side";
    if !kernel_usable(TEST) {
        return;
    }
    let Some(object) = firewall(TEST) else {
        return;
    };
    let path = object.to_str().unwrap();
    let out = apiary(&["verify", path, "--backend", "both", "-j"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let records: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(!records.is_empty());
    for record in &records {
        let name = record["name"].as_str().unwrap();
        let kernel = &record["kernel"];
        assert_eq!(record["verdict"], "accept", "{record}");
        assert_eq!(kernel["verdict"], "accept", "{record}");
        for time in [
            &record["time_us"],
            &kernel["load_time_us"],
            &kernel["verification_time_us"],
        ] {
            assert!(time.as_u64().is_some_and(|us| us > 0), "{name}: {record}");
        }
        let ours = record["stats"]["line"].as_str().unwrap();
        let theirs = kernel["stats"].as_str().unwrap();
        assert!(
            ours.starts_with(&format!("processed {} insns ", record["insns_processed"])),
            "{ours}"
        );
        assert_eq!(
            skeleton(ours),
            skeleton(theirs),
            "{name}: {ours} / {theirs}"
        );
    }
    let listing = text(&apiary(&["verify", path, "--backend", "both"]).stdout);
    for record in &records {
        let name = record["name"].as_str().unwrap();
        let kernel = &record["kernel"];
        for line in [
            format!("{name}: {}\n", record["stats"]["line"].as_str().unwrap()),
            format!("{name}: kernel: {}\n", kernel["stats"].as_str().unwrap()),
        ] {
            assert!(listing.contains(&line), "{line}in\n{listing}");
        }
        assert!(
            listing.contains(&format!("{name}: time: apiary ")),
            "{listing}"
        );
    }
}

#[test]
fn the_log_level_prints_the_kernel_style_log_before_the_verdict() {
    const TEST: &str = "the_log_level_prints_the_kernel_style_log_before_the_verdict";
    let Some(object) = compile_c("bad_log", DROP_TCP, TEST) else {
        return;
    };
    let path = object.to_str().unwrap();
    let out = apiary(&["verify", path, "--log-level", "1"]);
    let stdout = text(&out.stdout);
    // The walk up to the refused read, as the kernel 6.18 prints it.
    let expected = format!(
        "; if ((void *)(eth + 1) > data_end) @ bad_log.c:14
3: (bf) r3 = r1                       ; R1=pkt(r=0) R3=pkt(r=0)
4: (07) r3 += 14                      ; R3=pkt(off=14,r=0)
5: (2d) if r3 > r2 goto pc+4          ; R2=pkt_end() R3=pkt(off=14,r=14)
; if (ip->protocol == 6) @ bad_log.c:19
6: (71) r1 = *(u8 *)(r1 +23)
{}
{}
processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
drop_tcp: rejected at insn 6
",
        KERNEL_LINES[0], KERNEL_LINES[1]
    );
    assert!(stdout.starts_with("0: R1=ctx() R10=fp0\n"), "{stdout}");
    assert!(stdout.contains(&expected), "{stdout}");

    let out = apiary(&["verify", path, "--log-level", "2", "-j"]);
    let records: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let log = records[0]["log"].as_str().expect("the log in the record");
    assert!(log.ends_with(&format!("{}\nprocessed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n", KERNEL_LINES[1])), "{log}");

    let out = apiary(&["verify", path, "--log-level", "3"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let quiet = text(&apiary(&["verify", path]).stdout);
    assert!(
        quiet.starts_with("drop_tcp: rejected at insn 6\n"),
        "{quiet}"
    );
}
