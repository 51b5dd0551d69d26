//! CO-RE applied by the loader, checked against what libbpf patched when
//! the kernel loaded the same objects (`bpftool -d prog loadall` logs
//! every patched instruction).

mod common;

use std::collections::HashMap;
use std::process::Command;

use apiary_isa::RawInsn;
use apiary_loader::Object;
use common::{bpftool_available, corpus};

/// One `patched insn` / `substituting insn` line of libbpf's debug log.
#[derive(Debug, PartialEq, Eq)]
struct Patched {
    function: String,
    insn: usize,
    what: String,
    old: u64,
    new: u64,
}

/// The value after `word` in `line`, as a number.
fn number_after(line: &str, word: &str) -> Option<u64> {
    let rest = &line[line.find(word)? + word.len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Parses libbpf's `prog 'F': relo #R: patched insn #I (KIND) FIELD OLD -> NEW`
/// and `prog 'F': relo #R: substituting insn #I w/ invalid insn` lines.
fn parse_log(log: &str) -> Vec<Patched> {
    let mut out = Vec::new();
    for line in log.lines() {
        let Some(rest) = line.strip_prefix("libbpf: prog '") else {
            continue;
        };
        let Some((function, rest)) = rest.split_once('\'') else {
            continue;
        };
        let Some(insn) = number_after(rest, "insn #") else {
            continue;
        };
        let insn = insn as usize;
        if rest.contains("substituting insn") {
            out.push(Patched {
                function: function.to_owned(),
                insn,
                what: "poison".to_owned(),
                old: 0,
                new: 0,
            });
            continue;
        }
        if !rest.contains("patched insn") {
            continue;
        }
        for what in [" imm64 ", " imm ", " off ", " mem_sz "] {
            if let Some(at) = rest.find(what) {
                let mut numbers = rest[at + what.len()..].split(" -> ");
                let old = numbers.next().and_then(|n| n.trim().parse().ok());
                let new = numbers.next().and_then(|n| n.trim().parse().ok());
                if let (Some(old), Some(new)) = (old, new) {
                    out.push(Patched {
                        function: function.to_owned(),
                        insn,
                        what: what.trim().to_owned(),
                        old,
                        new,
                    });
                }
                break;
            }
        }
    }
    out
}

/// The value a patch line speaks of, read from a relocated instruction.
fn field_value(insns: &[RawInsn], index: usize, what: &str) -> Option<u64> {
    let insn = insns.get(index)?;
    Some(match what {
        "imm" => u64::from(insn.imm as u32),
        "off" => insn.off as u16 as u64,
        "mem_sz" => match insn.code & 0x18 {
            0x18 => 8,
            0x00 => 4,
            0x08 => 2,
            _ => 1,
        },
        "imm64" => {
            let high = insns.get(index + 1)?.imm as u32;
            u64::from(insn.imm as u32) | (u64::from(high) << 32)
        }
        _ => return None,
    })
}

#[test]
fn relocated_instructions_match_what_libbpf_patched_for_the_kernel() {
    let Some(corpus) = corpus("relocated_instructions_match_what_libbpf_patched_for_the_kernel")
    else {
        return;
    };
    if !bpftool_available("relocated_instructions_match_what_libbpf_patched_for_the_kernel") {
        return;
    }
    let vmlinux_bytes = match apiary_testskip::vmlinux_btf() {
        Ok(bytes) => bytes,
        Err(reason) => {
            return apiary_testskip::skip(
                "relocated_instructions_match_what_libbpf_patched_for_the_kernel",
                reason,
            );
        }
    };
    let vmlinux = apiary_btf::Btf::parse(&vmlinux_bytes).expect("vmlinux BTF parses");
    let mut compared = 0;
    for obj in corpus.iter().filter(|o| {
        o.kernel_loads == apiary_corpus::KernelLoads::Yes
            && o.features.iter().any(|f| f.starts_with("core:"))
    }) {
        let mut object = Object::open(obj.path()).expect("corpus object loads");
        let before: HashMap<String, Vec<RawInsn>> = object
            .programs
            .iter()
            .filter_map(|p| p.as_ref().ok())
            .map(|p| (p.name.clone(), p.insns.clone()))
            .collect();
        let report = object.relocate_core(&vmlinux).expect("CO-RE applies");
        assert!(
            !report.programs.is_empty(),
            "{}: no CO-RE records",
            obj.name
        );

        // The pins go when the guard drops, even if the test fails.
        let pinned = common::Pinned::guard(
            format!(
                "/sys/fs/bpf/apiary_corelog_{}_{}",
                std::process::id(),
                obj.name
            )
            .into(),
            obj.path(),
        );
        let log = Command::new("bpftool")
            .args(["-d", "prog", "loadall"])
            .arg(obj.path())
            .arg(&pinned.dir)
            .output()
            .expect("bpftool");
        drop(pinned);
        assert!(
            log.status.success(),
            "{}: bpftool -d loadall failed",
            obj.name
        );
        let patches = parse_log(&String::from_utf8_lossy(&log.stderr));
        assert!(
            !patches.is_empty(),
            "{}: libbpf logged no patches",
            obj.name
        );

        for program in report.programs.iter() {
            let spec = object.program(&program.program).expect("relocated program");
            // Where each function's instructions start in this program.
            let mut starts: HashMap<&str, usize> = HashMap::new();
            starts.insert(&spec.name, 0);
            for (name, start) in &spec.subprograms {
                starts.insert(name, *start);
            }
            let mut kernel_patched: Vec<usize> = Vec::new();
            for patch in &patches {
                let Some(start) = starts.get(patch.function.as_str()) else {
                    continue;
                };
                let index = start + patch.insn;
                kernel_patched.push(index);
                let context = format!("{} {}: {patch:?}", obj.name, spec.name);
                if patch.what == "poison" {
                    assert_eq!(
                        spec.insns.get(index),
                        Some(&apiary_coreloc::poison_insn()),
                        "{context}"
                    );
                    continue;
                }
                let original = &before[&spec.name];
                assert_eq!(
                    field_value(original, index, &patch.what),
                    Some(patch.old),
                    "{context}"
                );
                assert_eq!(
                    field_value(&spec.insns, index, &patch.what),
                    Some(patch.new),
                    "{context}"
                );
                compared += 1;
            }
            let mut ours: Vec<usize> = program.relocations.iter().map(|r| r.insn_index).collect();
            ours.sort_unstable();
            ours.dedup();
            kernel_patched.sort_unstable();
            kernel_patched.dedup();
            assert_eq!(
                ours, kernel_patched,
                "{} {}: patched instructions",
                obj.name, spec.name
            );
            assert!(spec.core_relos.is_empty(), "relocations are consumed");
        }
    }
    eprintln!("compared {compared} patched values with libbpf's");
    assert!(compared > 10, "only {compared} patched values compared");
}

#[test]
fn listing_reports_unapplied_relocations_without_a_target() {
    let Some(corpus) = corpus("listing_reports_unapplied_relocations_without_a_target") else {
        return;
    };
    let obj = corpus
        .iter()
        .find(|o| o.name == "core_fields")
        .expect("core_fields is in the corpus");
    let object = Object::open(obj.path()).expect("loads");
    let listing = apiary_loader::object_listing(&object);
    assert!(
        listing.contains("co-re relocations") && listing.contains("unapplied"),
        "{listing}"
    );
    let json = apiary_loader::object_json(&object);
    let unapplied = json["programs"][0]["core_relos_unapplied"].as_u64();
    assert!(unapplied.is_some_and(|n| n > 0), "{json}");
}
