//! The bounds `apiary prog run` keeps where the kernel's verifier would
//! have refused the program or the input: the instruction budget, frame
//! sizes and broken captures, and memory faults named by region. The
//! programs run with `--no-verify`: Apiary's verifier refuses them too,
//! and what is tested here is the interpreter that runs them anyway.

use std::process::Output;
use std::sync::OnceLock;

mod common;
use common::{apiary, assert_one_line_error, compile_c, firewall, scratch, text};

/// `apiary prog run --no-verify ARGS...`.
fn prog_run(args: &[&str]) -> Output {
    let mut all = vec!["prog", "run", "--no-verify"];
    all.extend_from_slice(args);
    apiary(&all)
}

/// `tests/limits/run_limits.c` (at the workspace's root) compiled (once: tests run in parallel), or
/// `None` after skipping `test`.
fn limits_object(test: &str) -> Option<String> {
    static OBJECT: OnceLock<Option<String>> = OnceLock::new();
    let object = OBJECT.get_or_init(|| {
        let object = compile_c(
            "run_limits",
            include_str!("../../../tests/limits/run_limits.c"),
            "compiling tests/limits/run_limits.c",
        )?;
        Some(object.to_str().expect("UTF-8 scratch path").to_owned())
    });
    match object {
        Some(object) => Some(object.clone()),
        None => apiary_testskip::missing(
            test,
            "tests/limits/run_limits.c, which clang-19 did not compile",
        ),
    }
}

/// A broadcast Ethernet frame of `len` bytes starting an IPv4 header
/// (zeroes after its first byte).
fn frame(len: usize) -> Vec<u8> {
    let mut frame = vec![0u8; len];
    frame[..6].fill(0xff);
    frame[12] = 0x08;
    frame[14] = 0x45;
    frame
}

/// A pcap file (microsecond timestamps, Ethernet) holding `frames`, with
/// every record header written by hand as libpcap lays it out.
fn pcap_bytes(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes = Vec::new();
    bytes.extend(0xa1b2_c3d4u32.to_le_bytes());
    bytes.extend(2u16.to_le_bytes());
    bytes.extend(4u16.to_le_bytes());
    bytes.extend([0; 8]); // thiszone, sigfigs
    bytes.extend(262_144u32.to_le_bytes()); // snaplen
    bytes.extend(1u32.to_le_bytes()); // LINKTYPE_ETHERNET
    for (index, frame) in frames.iter().enumerate() {
        bytes.extend((index as u32 + 1).to_le_bytes());
        bytes.extend(0u32.to_le_bytes());
        bytes.extend((frame.len() as u32).to_le_bytes());
        bytes.extend((frame.len() as u32).to_le_bytes());
        bytes.extend(frame);
    }
    bytes
}

fn write_scratch(name: &str, bytes: &[u8]) -> String {
    let path = scratch(name);
    std::fs::write(&path, bytes).expect("writing a scratch file");
    path.to_str().expect("UTF-8 scratch path").to_owned()
}

fn stderr_lines(output: &Output) -> Vec<String> {
    text(&output.stderr).lines().map(str::to_owned).collect()
}

/// A loop that never ends stops at the budget, on one frame, with
/// `repeat` and on every frame of a capture, and the error names the
/// budget and the option that raises it.
#[test]
fn a_program_that_never_ends_stops_at_the_budget() {
    let Some(object) = limits_object("budget test") else {
        return;
    };
    let data = write_scratch("budget.bin", &frame(74));
    let single = prog_run(&[
        &object, "--prog", "spin", "data_in", &data, "--budget", "100000",
    ]);
    assert_one_line_error(
        &single,
        "ran its budget of 100000 instructions without ending",
    );
    assert_one_line_error(&single, "--budget N (or --budget unlimited)");
    let repeated = prog_run(&[
        &object, "--prog", "spin", "data_in", &data, "repeat", "3", "--budget", "0x10000",
    ]);
    assert_one_line_error(&repeated, "budget of 65536 instructions");

    let capture = write_scratch("budget.pcap", &pcap_bytes(&[frame(60), frame(74)]));
    let replay = prog_run(&[
        &object, "--prog", "spin", "--pcap", &capture, "--budget", "5000",
    ]);
    assert!(!replay.status.success());
    assert!(
        text(&replay.stdout).starts_with("packets: 2, written: 0, failed: 2\n"),
        "{}",
        text(&replay.stdout)
    );
    let lines = stderr_lines(&replay);
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (number, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("apiary: packet {}: ", number + 1))
                && line.contains("budget of 5000 instructions")
                && line.contains("--budget"),
            "{line}"
        );
    }
}

#[test]
fn budget_values_are_checked() {
    let Some(object) = limits_object("budget values test") else {
        return;
    };
    let data = write_scratch("values.bin", &frame(74));
    let zero = prog_run(&[&object, "--prog", "spin", "data_in", &data, "--budget", "0"]);
    assert_one_line_error(&zero, "use 'unlimited' for no limit");
    let word = prog_run(&[
        &object, "--prog", "spin", "data_in", &data, "--budget", "lots",
    ]);
    assert_one_line_error(&word, "expected a number of instructions or 'unlimited'");
    // `unlimited` is accepted: this program ends (with a fault), so the
    // run returns.
    let unlimited = prog_run(&[
        &object,
        "--prog",
        "wild_pointer",
        "data_in",
        &data,
        "--budget",
        "unlimited",
    ]);
    assert_one_line_error(&unlimited, "memory fault");
}

fn pcapng_packets(path: &str) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(path).expect("reading the output capture");
    let mut reader = pcap_file::pcapng::PcapNgReader::new(&bytes[..]).expect("a pcapng file");
    let mut packets = Vec::new();
    while let Some(block) = reader.next_block() {
        if let pcap_file::pcapng::Block::EnhancedPacket(packet) = block.expect("a block") {
            packets.push(packet.data.into_owned());
        }
    }
    packets
}

/// `--pcap` sizes each frame's output room from the frame: a 70,000-byte
/// frame runs (in fragments, as the kernel builds it) and comes back whole;
/// a 100,000-byte one needs more fragments than the kernel's
/// `MAX_SKB_FRAGS` and fails alone, with the kernel's reason.
#[test]
fn jumbo_frames_run_with_output_room_sized_from_the_frame() {
    let Some(object) = firewall("jumbo frame test") else {
        return;
    };
    let object = object.to_str().expect("UTF-8 path");
    let jumbo = frame(70_000);
    let capture = write_scratch("jumbo.pcap", &pcap_bytes(&[frame(74), jumbo.clone()]));
    let out = scratch("jumbo-out.pcapng");
    let out = out.to_str().unwrap();
    let run = prog_run(&[object, "--pcap", &capture, "--out", out]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).starts_with("packets: 2, written: 2, failed: 0\n"),
        "{}",
        text(&run.stdout)
    );
    let written = pcapng_packets(out);
    assert_eq!(written.len(), 2);
    assert!(written[1] == jumbo, "the jumbo frame came back changed");

    // One jumbo frame: whole when nobody asked for data_out; with data_out
    // and no data_size_out, bpftool's fixed 32 KiB and its ENOSPC.
    let single = write_scratch("jumbo.bin", &jumbo);
    let run = prog_run(&[object, "data_in", &single]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let bounded = prog_run(&[object, "data_in", &single, "data_out", "-"]);
    assert_one_line_error(&bounded, "No space left on device");
    let sized = prog_run(&[
        object,
        "data_in",
        &single,
        "data_out",
        out,
        "data_size_out",
        "80000",
    ]);
    assert!(sized.status.success(), "{}", text(&sized.stderr));
    assert!(std::fs::read(out).unwrap() == jumbo);

    let huge = write_scratch("huge.pcap", &pcap_bytes(&[frame(74), frame(100_000)]));
    let run = prog_run(&[object, "--pcap", &huge]);
    assert!(!run.status.success());
    assert!(
        text(&run.stdout).starts_with("packets: 2, written: 1, failed: 1\n"),
        "{}",
        text(&run.stdout)
    );
    let lines = stderr_lines(&run);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("apiary: packet 2: ") && lines[0].contains("MAX_SKB_FRAGS"),
        "{lines:?}"
    );

    if let Err(reason) = apiary_kernel::probe() {
        return apiary_testskip::missing("the kernel side of the jumbo frame test", reason);
    }
    // The kernel runs the same frames: the jumbo one agrees, and the huge
    // one fails there too (ENOMEM).
    let both = prog_run(&[object, "--pcap", &capture, "--backend", "both"]);
    assert!(both.status.success(), "{}", text(&both.stderr));
    let kernel = prog_run(&[object, "--pcap", &huge, "--backend", "kernel"]);
    assert!(
        text(&kernel.stderr).contains("packet 2: kernel: BPF_PROG_TEST_RUN failed: ENOMEM"),
        "{}",
        text(&kernel.stderr)
    );
}

/// A capture cut inside a record (pcap) or a block (pcapng): the frames
/// before it run and are summed up, then the error ends the run.
#[test]
fn a_cut_capture_keeps_the_summary_of_the_frames_before_it() {
    let Some(object) = firewall("cut capture test") else {
        return;
    };
    let object = object.to_str().expect("UTF-8 path");
    let whole = pcap_bytes(&[frame(74), frame(74), frame(74)]);
    let cut = write_scratch("cut.pcap", &whole[..whole.len() - 10]);
    let mut pcapng = pcap_file::pcapng::PcapNgWriter::new(Vec::new()).unwrap();
    pcapng
        .write_pcapng_block(
            pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock {
                linktype: pcap_file::DataLink::ETHERNET,
                snaplen: 0,
                options: Vec::new(),
            },
        )
        .unwrap();
    for _ in 0..3 {
        pcapng
            .write_pcapng_block(
                pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock {
                    interface_id: 0,
                    timestamp: std::time::Duration::ZERO,
                    original_len: 74,
                    data: frame(74).into(),
                    options: Vec::new(),
                },
            )
            .unwrap();
    }
    let pcapng = pcapng.into_inner();
    let cut_ng = write_scratch("cut.pcapng", &pcapng[..pcapng.len() - 10]);
    for (capture, needle) in [(cut, "pcap packet 3: "), (cut_ng, "pcapng block 5: ")] {
        let run = prog_run(&[object, "--pcap", &capture]);
        assert!(!run.status.success());
        assert!(
            text(&run.stdout).starts_with("packets: 2, written: 2, failed: 0\n  XDP_PASS  2\n"),
            "{}",
            text(&run.stdout)
        );
        assert_one_line_error(&run, needle);
        assert_one_line_error(&run, "the summary above counts the packets before it");
    }
}

/// Faults name the region the program meant and where in it, never a
/// host address: the packet with its size, the map by name with its value
/// size, the stack frame from r10, the context's struct, or no pointer.
#[test]
fn memory_faults_name_the_region_and_offset() {
    let Some(object) = limits_object("fault naming test") else {
        return;
    };
    let data = write_scratch("faults.bin", &frame(74));
    for (program, expected) in [
        (
            "past_packet",
            "instruction 1: memory fault: load of 1 bytes at packet+5000 (the packet is 74 bytes)",
        ),
        (
            "past_value",
            "memory fault: store of 4 bytes at map value \"counters\"+12 (value size 8)",
        ),
        (
            "below_stack",
            "memory fault: load of 8 bytes at stack frame 0 r10-520 (a frame's stack is r10-512..r10)",
        ),
        (
            "past_context",
            "helper 2 (map_update_elem) failed: load of 8 bytes at context xdp_md+4000 (the context is 24 bytes)",
        ),
        (
            "wild_pointer",
            "load of 4 bytes at 0x1000, not a pointer the program may use",
        ),
    ] {
        let run = prog_run(&[&object, "--prog", program, "data_in", &data]);
        assert_one_line_error(&run, expected);
        let stderr = text(&run.stderr);
        assert!(
            !stderr.contains("0x5") && !stderr.contains("0x7f"),
            "{stderr}"
        );
    }
    // The same fault on every frame of a capture, named per frame.
    let capture = write_scratch("faults.pcap", &pcap_bytes(&[frame(60), frame(90)]));
    let replay = prog_run(&[&object, "--prog", "past_packet", "--pcap", &capture]);
    let lines = stderr_lines(&replay);
    assert!(
        lines[0].contains("packet+5000 (the packet is 60 bytes)"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("packet+5000 (the packet is 90 bytes)"),
        "{lines:?}"
    );
}
