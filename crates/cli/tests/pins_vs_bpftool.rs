//! `apiary prog run --pin-maps DIR` followed by `apiary map dump pinned
//! DIR/NAME` prints what bpftool prints for the same object loaded with
//! `bpftool prog loadall FILE.o PROGS pinmaps MAPS`, run with `bpftool prog
//! run` on the same packets and dumped with `bpftool map dump pinned`: the
//! same pin names, and BTF-formatted values (structs, per-CPU values,
//! global-data sections) in plain, `-j` and `-p` form.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use apiary_corpus::traffic;

const APIARY: &str = env!("CARGO_BIN_EXE_apiary");

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

fn succeed(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether `bpf()`, bpftool and taskset work here; skips `test` when not.
fn tools_available(test: &str) -> bool {
    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing(test, format!("bpf() is unavailable: {reason}"));
    }
    for tool in ["bpftool", "taskset"] {
        if let Err(reason) = apiary_testskip::tool(tool, "--version") {
            return apiary_testskip::skip(test, reason);
        }
    }
    true
}

/// The kernel's pins (in bpffs) and Apiary's pin directory, removed on drop.
struct Pins {
    kernel: PathBuf,
    apiary: PathBuf,
}

impl Pins {
    fn new(test: &str) -> Pins {
        let id = std::process::id();
        let pins = Pins {
            kernel: PathBuf::from(format!("/sys/fs/bpf/apiary-pins-{test}-{id}")),
            apiary: std::env::temp_dir().join(format!("apiary-pins-{test}-{id}")),
        };
        let _ = std::fs::remove_dir_all(&pins.kernel);
        let _ = std::fs::remove_dir_all(&pins.apiary);
        std::fs::create_dir_all(&pins.kernel).expect("bpffs directory");
        pins
    }

    fn kernel_maps(&self) -> PathBuf {
        self.kernel.join("maps")
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.kernel);
        let _ = std::fs::remove_dir_all(&self.apiary);
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// One object run on both sides.
struct Case {
    pins: Pins,
    object: &'static Path,
    program: &'static str,
    /// Apiary's `--backend`: `vm`, or `kernel` (maps read back from the
    /// kernel and saved with their BTF).
    backend: &'static str,
}

impl Case {
    /// Loads the object into the kernel with its maps pinned, as bpftool does.
    fn new(object: &'static Path, program: &'static str, backend: &'static str) -> Case {
        let pins = Pins::new(&format!("{program}-{backend}"));
        let progs = pins.kernel.join("progs");
        succeed(
            "bpftool",
            &[
                "prog",
                "loadall",
                path(object),
                path(&progs),
                "pinmaps",
                path(&pins.kernel_maps()),
            ],
        );
        Case {
            pins,
            object,
            program,
            backend,
        }
    }

    /// Runs the program on `frame` in the kernel (on CPU 0, the CPU whose
    /// per-CPU slots Apiary's run fills) and in Apiary with `--pin-maps`.
    fn run_both(&self, frame: &[u8]) {
        let packet = self.pins.apiary.with_extension("frame");
        std::fs::write(&packet, frame).expect("packet file");
        let prog = self.pins.kernel.join("progs").join(self.program);
        succeed(
            "taskset",
            &[
                "-c",
                "0",
                "bpftool",
                "prog",
                "run",
                "pinned",
                path(&prog),
                "data_in",
                path(&packet),
                "repeat",
                "1",
            ],
        );
        succeed(
            APIARY,
            &[
                "prog",
                "run",
                path(self.object),
                "--prog",
                self.program,
                "--backend",
                self.backend,
                "--pin-maps",
                path(&self.pins.apiary),
                "data_in",
                path(&packet),
            ],
        );
        let _ = std::fs::remove_file(packet);
    }

    /// `map COMMAND pinned PIN ARGS` on both sides.
    fn map_command(&self, command: &str, pin: &str, args: &[&str]) {
        for (tool, dir) in [
            ("bpftool", self.pins.kernel_maps()),
            (APIARY, self.pins.apiary.clone()),
        ] {
            let file = dir.join(pin);
            let mut words = vec!["map", command, "pinned", path(&file)];
            words.extend(args);
            succeed(tool, &words);
        }
    }

    /// Every map bpftool pinned dumps the same from Apiary's pin, in plain,
    /// `-j` and `-p` form; hash maps (whose iteration order follows a
    /// random seed in the kernel) are compared as sorted JSON. Returns the
    /// number of maps and how many of them printed BTF-formatted values.
    fn compare_dumps(&self) -> (usize, usize) {
        let mut formatted = 0;
        let mut names: Vec<String> = std::fs::read_dir(self.pins.kernel_maps())
            .expect("pinmaps directory")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in &names {
            let kernel_pin = self.pins.kernel_maps().join(name);
            let apiary_pin = self.pins.apiary.join(name);
            assert!(apiary_pin.exists(), "apiary saved no pin {name}");
            let info = succeed(
                "bpftool",
                &["-j", "map", "show", "pinned", path(&kernel_pin)],
            );
            let info: serde_json::Value = serde_json::from_str(&info).expect("map show JSON");
            let hashed = info["type"].as_str().is_some_and(|t| t.contains("hash"));
            for format in [&[][..], &["-j"], &["-p"]] {
                let dump = |tool: &str, pin: &Path| {
                    let mut words = format.to_vec();
                    words.extend(["map", "dump", "pinned", path(pin)]);
                    succeed(tool, &words)
                };
                let expected = dump("bpftool", &kernel_pin);
                let got = dump(APIARY, &apiary_pin);
                if format == ["-j"] && expected.contains("\"formatted\"") {
                    formatted += 1;
                }
                if hashed && got != expected {
                    // A hash map's plain dump is JSON only when it has BTF.
                    let what = format!("{name} dump {format:?}");
                    assert_eq!(
                        common::sorted_json_elements(&got, &what),
                        common::sorted_json_elements(&expected, &what),
                        "{what}"
                    );
                } else {
                    assert_eq!(got, expected, "{name} {format:?}");
                }
            }
        }
        (names.len(), formatted)
    }
}

fn frames(count: usize) -> Vec<Vec<u8>> {
    traffic::packets()
        .into_iter()
        .take(count)
        .map(|p| p.frame)
        .collect()
}

/// The case for `program` of a compiled object, or `None` after a skip
/// when the object or the kernel tools are missing.
fn start(
    test: &str,
    found: Result<&'static apiary_corpus::CorpusObject, apiary_corpus::LookupError>,
    program: &'static str,
    backend: &'static str,
) -> Option<Case> {
    let test = format!("{program} pins vs bpftool ({test}, --backend {backend})");
    let object = match found {
        Ok(object) => object.path(),
        Err(reason) => return apiary_testskip::missing(&test, reason),
    };
    tools_available(&test).then(|| Case::new(object, program, backend))
}

#[test]
fn xdp_firewall_pins_dump_as_bpftool_prints_them() {
    let found = apiary_corpus::object("xdp_firewall");
    let Some(case) = start("corpus", found, "xdp_firewall", "vm") else {
        return;
    };
    let mut packets = frames(12).into_iter();
    for frame in packets.by_ref().take(4) {
        case.run_both(&frame);
    }
    // The rule table (struct rule_key -> action) filled between runs: the
    // next runs load Apiary's pins back and count under the rules.
    let rule_file = apiary_maps::pin::pin_file_name("rules").expect("pin name");
    for (proto, port) in [("6", "0x16"), ("17", "0x35")] {
        let key = ["key", proto, "0", "0", port, "value", "1", "0", "0", "0"];
        case.map_command("update", &rule_file, &key);
    }
    for frame in packets {
        case.run_both(&frame);
    }
    // rules (struct key), verdict_count (per-CPU) and the .bss
    assert_eq!(case.compare_dumps(), (3, 3));
}

#[test]
fn global_data_pins_dump_as_bpftool_prints_them() {
    let found = apiary_corpus::object("global_data");
    let Some(case) = start("corpus", found, "xdp_global_data", "vm") else {
        return;
    };
    for frame in frames(5) {
        case.run_both(&frame);
    }
    // .bss, .data, .rodata, .data.counters, .rodata.limits and
    // .rodata.str1.1, which has no DATASEC (string literals) and so no BTF.
    assert_eq!(case.compare_dumps(), (6, 5));
}

#[test]
fn proto_counter_example_pins_dump_as_bpftool_prints_them() {
    let found = apiary_corpus::example("proto_counter");
    let Some(case) = start("example", found, "count_protocols", "vm") else {
        return;
    };
    for frame in frames(37) {
        case.run_both(&frame);
    }
    let (maps, formatted) = case.compare_dumps();
    assert!(
        maps >= 1 && formatted == maps,
        "{formatted} of {maps} maps formatted"
    );
}

#[test]
fn kernel_backend_pins_dump_as_bpftool_prints_them() {
    // (maps, maps printing formatted values): the firewall's rule table
    // stays empty here, so only its counters and .bss have elements.
    for (object, program, expected) in [
        ("xdp_firewall", "xdp_firewall", (3, 2)),
        ("global_data", "xdp_global_data", (6, 5)),
    ] {
        let found = apiary_corpus::object(object);
        let Some(case) = start("corpus", found, program, "kernel") else {
            return;
        };
        for frame in frames(6) {
            case.run_both(&frame);
        }
        assert_eq!(case.compare_dumps(), expected, "{object}");
    }
}
