//! `apiary prog run` against `bpftool prog run` on the same corpus objects
//! and packets, capture replay, `--backend both`, `--pin-maps` and the
//! grammar's one-line errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgReader};
use serde_json::Value;

mod common;
use common::{
    apiary, assert_one_line_error, compile_c, kernel_and_bpftool, kernel_usable, scratch, text,
};

/// The compiled corpus object, or `None` after skipping `test`.
fn corpus(name: &'static str, test: &str) -> Option<&'static Path> {
    match apiary_corpus::object(name) {
        Ok(object) => Some(object.path()),
        Err(reason) => apiary_testskip::missing(test, reason),
    }
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ethernet + IPv4 (valid checksum) + a TCP or UDP header and payload.
fn ipv4_packet(protocol: u8, ttl: u8, daddr: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let l4_len = if protocol == 6 { 20 } else { 8 };
    let total = 20 + l4_len + payload.len();
    let mut packet = vec![
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
    ];
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0,
        0,
        ttl,
        protocol,
        0,
        0,
    ];
    ip.extend([10, 0, 0, 9]);
    ip.extend(daddr);
    let checksum = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    packet.extend(ip);
    packet.extend(4321u16.to_be_bytes());
    packet.extend(dport.to_be_bytes());
    if protocol == 6 {
        packet.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x20, 0x00, 0, 0, 0, 0]);
    } else {
        packet.extend(((8 + payload.len()) as u16).to_be_bytes());
        packet.extend([0, 0]);
    }
    packet.extend(payload);
    packet
}

/// The program pinned by `bpftool prog loadall`, removed on drop.
struct Pinned {
    dir: PathBuf,
}

impl Pinned {
    fn load(object: &Path, tag: &str) -> Pinned {
        let dir = PathBuf::from(format!(
            "/sys/fs/bpf/apiary-progrun-{}-{tag}",
            std::process::id()
        ));
        let status = Command::new("bpftool")
            .arg("prog")
            .arg("loadall")
            .arg(object)
            .arg(&dir)
            .status()
            .expect("bpftool");
        assert!(
            status.success(),
            "bpftool prog loadall {}",
            object.display()
        );
        Pinned { dir }
    }

    /// `bpftool [-j|-p] prog run pinned DIR/PROGRAM ARGS...` (a leading
    /// `-j` or `-p` in `args` goes before `prog`).
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let (flags, words) = match args.first() {
            Some(&flag) if flag == "-j" || flag == "-p" => args.split_at(1),
            _ => args.split_at(0),
        };
        Command::new("bpftool")
            .args(flags)
            .args(["prog", "run", "pinned"])
            .arg(self.dir.join(program))
            .args(words)
            .output()
            .expect("bpftool prog run")
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// bpftool's text or pretty JSON output with the duration masked (it is
/// timing, not behaviour).
fn mask_duration(output: &str) -> String {
    output
        .lines()
        .map(|line| match line.find("duration") {
            Some(at) if line.starts_with("Return value") => format!("{}duration: N", &line[..at]),
            Some(at) if line.trim_start().starts_with("\"duration\": ") => {
                format!("{}duration: N", &line[..at])
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", text(&output.stdout)))
}

/// For each case, the same command line through bpftool (on the pinned
/// program) and apiary (on the object, with each backend) prints the same
/// text (duration aside) and the same JSON retval and data_out.
#[test]
fn prog_run_matches_bpftool_on_corpus_objects() {
    let test = "prog run vs bpftool";
    if !kernel_and_bpftool(test) {
        return;
    }
    let backends = std::env::var("APIARY_TEST_BACKENDS").unwrap_or_else(|_| "vm,kernel".into());
    let udp = ipv4_packet(17, 64, [10, 0, 0, 2], 53, b"apiary!");
    let tcp_telnet = ipv4_packet(6, 64, [10, 0, 0, 2], 23, b"");
    let tcp_nat = ipv4_packet(6, 64, [10, 0, 0, 1], 8080, b"GET /");
    let cases: [(&'static str, &str, &[u8]); 6] = [
        ("xdp_proto_counter", "xdp_count_protocols", &udp),
        ("xdp_firewall", "xdp_firewall", &udp),
        ("xdp_firewall", "xdp_firewall", &tcp_telnet),
        ("tc_nat_rewrite", "tc_dnat", &tcp_nat),
        ("socket_filter", "keep_tcp_udp_headers", &udp),
        ("socket_filter", "keep_tcp_udp_headers", &tcp_nat),
    ];
    let mut compared = 0;
    for (index, (name, program, packet)) in cases.iter().enumerate() {
        let Some(object) = corpus(name, test) else {
            return;
        };
        let pinned = Pinned::load(object, &format!("{index}"));
        let data = scratch(&format!("packet{index}.bin"));
        std::fs::write(&data, packet).unwrap();
        let data = data.to_str().unwrap();
        let object = object.to_str().unwrap();
        for (backend, args) in backends.split(',').flat_map(|backend| {
            [
                vec!["data_in", data, "data_out", "-"],
                vec!["data_in", data, "data_out", "-", "repeat", "3"],
                vec!["-j", "data_in", data, "data_out", "-"],
                vec!["-p", "data_in", data, "data_out", "-", "repeat", "2"],
            ]
            .map(|args| (backend, args))
        }) {
            let kernel = pinned.run(program, &args);
            let mut ours_args = vec![
                "prog",
                "run",
                object,
                "--prog",
                program,
                "--backend",
                backend,
            ];
            ours_args.extend(&args);
            let ours = apiary(&ours_args);
            assert!(
                kernel.status.success(),
                "bpftool {args:?}: {}",
                text(&kernel.stderr)
            );
            assert!(
                ours.status.success(),
                "apiary {ours_args:?}: {}",
                text(&ours.stderr)
            );
            if args[0] == "-j" {
                let (k, o) = (json(&kernel), json(&ours));
                assert_eq!(o["retval"], k["retval"], "{name} {backend} {args:?}");
                assert_eq!(o["data_out"], k["data_out"], "{name} {backend} {args:?}");
                let keys = |v: &Value| v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>());
                assert_eq!(keys(&o), keys(&k), "JSON keys and their order");
            } else {
                assert_eq!(
                    mask_duration(&text(&ours.stdout)),
                    mask_duration(&text(&kernel.stdout)),
                    "{name} {backend} {args:?}"
                );
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 24 * backends.split(',').count());
}

/// A context in and out (`ctx_in`/`ctx_out`): the tc classifier example
/// sets `mark` and `priority` in the `__sk_buff` it is given; bpftool and
/// apiary (both backends) print the same context, packet and verdict.
#[test]
fn ctx_out_matches_bpftool() {
    let test = "ctx_out vs bpftool";
    if !kernel_and_bpftool(test) {
        return;
    }
    let object = match apiary_corpus::example("tc_mark_redirect") {
        Ok(object) => object.path(),
        Err(reason) => return apiary_testskip::missing(test, reason),
    };
    let pinned = Pinned::load(object, "ctx");
    let data = scratch("ctx-packet.bin");
    std::fs::write(&data, ipv4_packet(6, 64, [10, 0, 0, 2], 443, b"hello")).unwrap();
    let mut skb = vec![0u8; 192];
    skb[8..12].copy_from_slice(&5u32.to_ne_bytes()); // mark, overwritten by the program
    skb[48..52].copy_from_slice(&0x11u32.to_ne_bytes()); // cb[0], kept
    let ctx = scratch("ctx-in.bin");
    std::fs::write(&ctx, &skb).unwrap();
    let (data, ctx) = (data.to_str().unwrap(), ctx.to_str().unwrap());
    for json_flag in [true, false] {
        let mut args = vec![
            "data_in", data, "data_out", "-", "ctx_in", ctx, "ctx_out", "-",
        ];
        if json_flag {
            args.insert(0, "-j");
        }
        let kernel = pinned.run("mark_redirect", &args);
        assert!(kernel.status.success(), "bpftool: {}", text(&kernel.stderr));
        for backend in ["vm", "kernel"] {
            let ours = apiary(
                &[
                    &[
                        "prog",
                        "run",
                        object.to_str().unwrap(),
                        "--backend",
                        backend,
                    ][..],
                    &args[..],
                ]
                .concat(),
            );
            assert!(ours.status.success(), "{backend}: {}", text(&ours.stderr));
            if json_flag {
                let (k, o) = (json(&kernel), json(&ours));
                for key in ["retval", "data_out", "ctx_out"] {
                    assert_eq!(o[key], k[key], "{backend} {key}");
                }
                assert_eq!(k["ctx_out"][8], 0xbb, "mark 0x1bb set by the program");
            } else {
                assert_eq!(
                    mask_duration(&text(&ours.stdout)),
                    mask_duration(&text(&kernel.stdout)),
                    "{backend}"
                );
            }
        }
    }
}

/// A syscall program takes only a context (no `repeat` is sent unless
/// given, as the kernel refuses one): its documented sum and product come
/// back in `ctx_out`, and the kernel agrees on the verdict and the map.
#[test]
fn syscall_programs_run_with_a_context_only() {
    let Some(object) = corpus("syscall_prog", "syscall programs") else {
        return;
    };
    let mut args = Vec::new();
    for value in [6i64, 7, 0, 0] {
        args.extend(value.to_le_bytes());
    }
    let ctx = scratch("syscall-args.bin");
    std::fs::write(&ctx, &args).unwrap();
    let base = [
        "-j",
        "prog",
        "run",
        object.to_str().unwrap(),
        "ctx_in",
        ctx.to_str().unwrap(),
        "ctx_out",
        "-",
    ];
    let run = apiary(&base);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let report = json(&run);
    assert_eq!(report["retval"], 0);
    let ctx_out: Vec<u8> = serde_json::from_value(report["ctx_out"].clone()).unwrap();
    assert_eq!(ctx_out[16..24], 13i64.to_le_bytes(), "sum");
    assert_eq!(ctx_out[24..32], 42i64.to_le_bytes(), "product");
    if !kernel_usable("the kernel half of syscall programs") {
        return;
    }
    let both = apiary(&[&base[1..], &["--backend", "both"]].concat());
    assert!(both.status.success(), "{}", text(&both.stderr));
    assert!(text(&both.stderr).contains("vm and kernel agree"));
}

/// Without `bpf()` (here: dropped to an unprivileged user) the kernel
/// backend fails with one line saying why, while the vm backend still runs.
#[test]
fn kernel_backend_without_bpf_says_why_in_one_line() {
    let test = "kernel backend without bpf()";
    let Some(object) = corpus("xdp_proto_counter", test) else {
        return;
    };
    // The unprivileged user must be able to read the object and packet.
    let dir = std::env::temp_dir().join(format!("apiary-unprivileged-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (copy, data) = (dir.join("counter.o"), dir.join("packet.bin"));
    std::fs::copy(object, &copy).unwrap();
    std::fs::write(&data, ipv4_packet(17, 64, [10, 0, 0, 2], 53, b"x")).unwrap();
    let run_as_nobody = |backend: &str| {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
            ])
            .arg(env!("CARGO_BIN_EXE_apiary"))
            .args(["prog", "run"])
            .arg(&copy)
            .args(["--backend", backend, "data_in"])
            .arg(&data)
            .output()
    };
    let kernel = match run_as_nobody("kernel") {
        Ok(output) if !text(&output.stderr).contains("setpriv:") => output,
        other => {
            return apiary_testskip::missing(
                test,
                format!("setpriv cannot drop privileges here: {other:?}"),
            );
        }
    };
    if kernel.status.success() {
        return apiary_testskip::refused(
            test,
            "bpf() denied to an unprivileged user (kernel.unprivileged_bpf_disabled)",
            "this host allows unprivileged bpf()",
        );
    }
    assert_one_line_error(&kernel, "kernel: cannot use bpf(): ");
    let vm = run_as_nobody("vm").unwrap();
    assert!(vm.status.success(), "{}", text(&vm.stderr));
    assert!(text(&vm.stdout).starts_with("Return value: 2, duration: "));
}

/// Too little room for the packet (`data_size_out` below its length) fails
/// the run with ENOSPC in bpftool and in both backends.
#[test]
fn small_data_size_out_fails_like_bpftool() {
    let test = "data_size_out too small";
    if !kernel_and_bpftool(test) {
        return;
    }
    let Some(object) = corpus("xdp_proto_counter", test) else {
        return;
    };
    let pinned = Pinned::load(object, "enospc");
    let data = scratch("enospc.bin");
    std::fs::write(&data, ipv4_packet(17, 64, [10, 0, 0, 2], 53, b"x")).unwrap();
    let args = [
        "data_in",
        data.to_str().unwrap(),
        "data_out",
        "-",
        "data_size_out",
        "10",
    ];
    let kernel = pinned.run("xdp_count_protocols", &args);
    assert!(!kernel.status.success());
    assert!(text(&kernel.stderr).contains("No space left on device"));
    for backend in ["vm", "kernel"] {
        let ours = apiary(
            &[
                &[
                    "prog",
                    "run",
                    object.to_str().unwrap(),
                    "--backend",
                    backend,
                ][..],
                &args[..],
            ]
            .concat(),
        );
        assert_one_line_error(&ours, "No space left on device");
    }
}

/// bpftool's grammar mistakes give one line and a non-zero exit.
#[test]
fn grammar_errors_are_one_line() {
    let Some(object) = corpus("xdp_proto_counter", "grammar errors") else {
        return;
    };
    let object = object.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (&["data", "x"], "ambiguous prefix: 'data' could be"),
        (&["repeat", "lots"], "can't parse lots as repeat number"),
        (&["data_in", "-", "ctx_in", "-"], "standard input for both"),
        (&["frobnicate", "1"], "expected no more arguments"),
        (&["data_in"], "'data_in' needs a value"),
        (&["data_in", "/nonexistent/packet"], "/nonexistent/packet"),
    ];
    for (words, needle) in cases {
        let mut args = vec!["prog", "run", object];
        args.extend(words);
        assert_one_line_error(&apiary(&args), needle);
    }
    let multi = corpus("xdp_adjust", "grammar errors").unwrap();
    assert_one_line_error(
        &apiary(&["prog", "run", multi.to_str().unwrap()]),
        "choose one with --prog NAME: xdp_vlan_pop (xdp), xdp_vlan_push (xdp), xdp_truncate (xdp)",
    );
    assert_one_line_error(
        &apiary(&["prog", "run", object, "--prog", "nope"]),
        "no program named \"nope\"",
    );
    assert_one_line_error(
        &apiary(&["prog", "run", object, "--out", "x.pcapng"]),
        "--pcap",
    );
}

fn write_pcap(path: &Path, packets: &[Vec<u8>]) {
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(Vec::new(), header).unwrap();
    for (index, data) in packets.iter().enumerate() {
        let packet = PcapPacket::new(
            Duration::from_micros(1_000_000 + index as u64),
            data.len() as u32,
            data,
        );
        writer.write_packet(&packet).unwrap();
    }
    std::fs::write(path, writer.into_writer()).unwrap();
}

fn read_pcapng_packets(path: &Path) -> Vec<(Duration, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let mut reader = PcapNgReader::new(&bytes[..]).unwrap();
    let mut packets = Vec::new();
    while let Some(block) = reader.next_block() {
        if let Block::EnhancedPacket(packet) = block.unwrap() {
            packets.push((packet.timestamp, packet.data.into_owned()));
        }
    }
    packets
}

/// The firewall's documented verdicts over a capture: telnet and TTL 1
/// dropped, the rest passed; the passed packets come out unchanged and in
/// order, timestamps kept.
#[test]
fn pcap_replay_counts_verdicts_and_writes_passed_packets() {
    let Some(object) = corpus("xdp_firewall", "pcap replay") else {
        return;
    };
    let udp = ipv4_packet(17, 64, [10, 0, 0, 2], 53, b"query");
    let telnet = ipv4_packet(6, 64, [10, 0, 0, 2], 23, b"");
    let expiring = ipv4_packet(17, 1, [10, 0, 0, 2], 53, b"");
    let web = ipv4_packet(6, 64, [10, 0, 0, 2], 80, b"GET /");
    let input = scratch("replay.pcap");
    let output = scratch("replay-out.pcapng");
    write_pcap(&input, &[udp.clone(), telnet, expiring, web.clone()]);
    let object = object.to_str().unwrap();
    let (input, output_str) = (input.to_str().unwrap(), output.to_str().unwrap());

    let run = apiary(&[
        "-j", "prog", "run", object, "--pcap", input, "--out", output_str,
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let report = json(&run);
    assert_eq!(report["packets"], 4);
    assert_eq!(report["written"], 2);
    assert_eq!(report["failed"], 0);
    assert_eq!(report["verdicts"]["XDP_PASS"], 2);
    assert_eq!(report["verdicts"]["XDP_DROP"], 2);
    assert_eq!(
        read_pcapng_packets(&output),
        vec![
            (Duration::from_micros(1_000_000), udp),
            (Duration::from_micros(1_000_003), web)
        ]
    );

    let plain = apiary(&["prog", "run", object, "--pcap", input]);
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    let stdout = text(&plain.stdout);
    assert!(
        stdout.starts_with("packets: 4, written: 2, failed: 0\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  XDP_DROP  2\n  XDP_PASS  2\n"),
        "{stdout}"
    );
    assert!(stdout.contains("ns per packet"), "{stdout}");
}

/// A socket filter keeps the headers of TCP and UDP packets (its return
/// value counts from the network header) and drops the rest; the kept
/// packets are the input packets cut after those headers. Checked with
/// both backends when the kernel is there.
#[test]
fn pcap_replay_truncates_for_socket_filters() {
    let Some(object) = corpus("socket_filter", "socket filter replay") else {
        return;
    };
    let udp = ipv4_packet(17, 64, [10, 0, 0, 2], 53, b"a long enough payload");
    let tcp = ipv4_packet(6, 64, [10, 0, 0, 2], 80, b"GET / HTTP/1.0");
    let mut arp = ipv4_packet(17, 64, [10, 0, 0, 2], 53, b"");
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let input = scratch("socket.pcap");
    write_pcap(&input, &[udp.clone(), tcp.clone(), arp]);
    let mut backends = vec!["vm"];
    if kernel_usable("the kernel half of socket filter replay") {
        backends.push("kernel");
    }
    for backend in backends {
        let output = scratch(&format!("socket-out-{backend}.pcapng"));
        let run = apiary(&[
            "-j",
            "prog",
            "run",
            object.to_str().unwrap(),
            "--backend",
            backend,
            "--pcap",
            input.to_str().unwrap(),
            "--out",
            output.to_str().unwrap(),
        ]);
        assert!(run.status.success(), "{backend}: {}", text(&run.stderr));
        let report = json(&run);
        assert_eq!(report["verdicts"]["truncate"], 2, "{backend}: {report}");
        assert_eq!(report["verdicts"]["drop"], 1, "{backend}: {report}");
        let kept: Vec<Vec<u8>> = read_pcapng_packets(&output)
            .into_iter()
            .map(|(_, data)| data)
            .collect();
        assert_eq!(
            kept,
            vec![udp[..14 + 28].to_vec(), tcp[..14 + 40].to_vec()],
            "{backend}"
        );
    }
}

/// `--backend both` runs the vm and the kernel on the same input and finds
/// retval, data_out and every map equal afterwards (one packet, and a
/// capture whose packets accumulate in the maps).
#[test]
fn backend_both_agrees_on_corpus_objects() {
    let test = "--backend both";
    if !kernel_usable(test) {
        return;
    }
    let udp = ipv4_packet(17, 64, [10, 0, 0, 1], 8080, b"payload");
    let tcp = ipv4_packet(6, 64, [10, 0, 0, 1], 8080, b"GET /");
    let telnet = ipv4_packet(6, 64, [10, 0, 0, 2], 23, b"");
    let data = scratch("both.bin");
    std::fs::write(&data, &tcp).unwrap();
    let capture = scratch("both.pcap");
    write_pcap(&capture, &[udp, tcp, telnet]);
    for (name, program) in [
        ("xdp_proto_counter", "xdp_count_protocols"),
        ("xdp_firewall", "xdp_firewall"),
        ("tc_nat_rewrite", "tc_dnat"),
        ("socket_filter", "keep_tcp_udp_headers"),
    ] {
        let Some(object) = corpus(name, test) else {
            return;
        };
        let object = object.to_str().unwrap();
        let base = [
            "prog",
            "run",
            object,
            "--prog",
            program,
            "--backend",
            "both",
        ];
        let single = apiary(
            &[
                &base[..],
                &["data_in", data.to_str().unwrap(), "data_out", "-"],
            ]
            .concat(),
        );
        assert!(
            single.status.success(),
            "{name}: {}{}",
            text(&single.stdout),
            text(&single.stderr)
        );
        assert!(
            text(&single.stderr).contains("vm and kernel agree"),
            "{name}"
        );
        let replay = apiary(&[&base[..], &["--pcap", capture.to_str().unwrap()]].concat());
        assert!(
            replay.status.success(),
            "{name} replay: {}{}",
            text(&replay.stdout),
            text(&replay.stderr)
        );
    }
}

/// `--pin-maps DIR` saves the maps after a run and starts the next run
/// from them: the protocol counter's documented +1 per packet adds up
/// across invocations, whichever backend runs (`both` starts the kernel
/// from the same pinned state as the vm, `kernel` saves the kernel's maps).
#[test]
fn pinned_maps_carry_over_between_runs() {
    let Some(object) = corpus("xdp_proto_counter", "pinned maps") else {
        return;
    };
    let object = object.to_str().unwrap();
    let dir = scratch("pins");
    let _ = std::fs::remove_dir_all(&dir);
    let data = scratch("pin-packet.bin");
    std::fs::write(&data, ipv4_packet(17, 64, [10, 0, 0, 2], 53, b"x")).unwrap();
    let args = [
        "prog",
        "run",
        object,
        "--pin-maps",
        dir.to_str().unwrap(),
        "data_in",
        data.to_str().unwrap(),
    ];
    let udp_count = || {
        let packets = apiary_maps::pin::load(&dir.join("packets")).expect("packets pin file");
        let value = packets.map.sys_lookup(&17u32.to_ne_bytes(), 0).unwrap();
        u64::from_ne_bytes(value.try_into().unwrap())
    };
    for _ in 0..3 {
        let run = apiary(&args);
        assert!(run.status.success(), "{}", text(&run.stderr));
    }
    assert_eq!(udp_count(), 3);
    if !kernel_usable("the kernel half of pinned maps") {
        return;
    }
    for (backend, expected) in [("both", 4), ("kernel", 5), ("vm", 6)] {
        let run = apiary(&[&args[..], &["--backend", backend]].concat());
        assert!(run.status.success(), "{backend}: {}", text(&run.stderr));
        assert_eq!(udp_count(), expected, "after --backend {backend}");
    }
}

/// `bpf_trace_printk` output goes to stderr as trace_pipe lines and an
/// XDP_TX verdict names the device it leaves by; stdout stays bpftool's.
#[test]
fn trace_lines_and_tx_go_to_stderr() {
    let test = "trace and XDP_TX reporting";
    let source = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int say_len(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	bpf_printk("packet of %u bytes", len);
	return XDP_TX;
}
char LICENSE[] SEC("license") = "GPL";
"#;
    let Some(object) = compile_c("say_len", source, test) else {
        return;
    };
    let data = scratch("say_len.bin");
    std::fs::write(&data, ipv4_packet(17, 64, [10, 0, 0, 2], 53, b"abc")).unwrap();
    let run = apiary(&[
        "prog",
        "run",
        object.to_str().unwrap(),
        "data_in",
        data.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).starts_with("Return value: 3, duration: "),
        "{}",
        text(&run.stdout)
    );
    let stderr = text(&run.stderr);
    let trace = stderr.lines().next().unwrap_or_default();
    assert!(
        trace.contains("bpf_trace_printk: packet of 45 bytes") && trace.contains("-"),
        "{stderr}"
    );
    assert!(stderr.contains("XDP_TX to ifindex 1"), "{stderr}");
}

/// When the backends disagree — here a map holding `bpf_ktime_get_ns()`,
/// which no two runs share — `--backend both` names the map, the key and
/// both values, and exits non-zero.
#[test]
fn backend_both_reports_map_differences() {
    let test = "--backend both differences";
    if !kernel_usable(test) {
        return;
    }
    let source = r#"
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} stamp SEC(".maps");
SEC("xdp")
int stamp_time(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&stamp, &key);
	if (value)
		*value = bpf_ktime_get_ns();
	return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
"#;
    let Some(object) = compile_c("stamp_time", source, test) else {
        return;
    };
    let data = scratch("stamp.bin");
    std::fs::write(&data, ipv4_packet(17, 64, [10, 0, 0, 2], 53, b"")).unwrap();
    let run = apiary(&[
        "prog",
        "run",
        object.to_str().unwrap(),
        "--backend",
        "both",
        "data_in",
        data.to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let stderr = text(&run.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("apiary: differs: map stamp key 00000000: vm "))
        .unwrap_or_else(|| panic!("no map difference in {stderr:?}"));
    assert!(line.contains(", kernel "), "{line}");
    assert!(
        text(&run.stdout).contains("kernel: Return value: 2"),
        "{}",
        text(&run.stdout)
    );
}

/// A tc program's `bpf_redirect` verdict (TC_ACT_REDIRECT) names its
/// target on stderr and in the JSON; the kernel agrees on the verdict.
#[test]
fn redirect_targets_are_reported() {
    let test = "redirect reporting";
    let object = match apiary_corpus::example("tc_mark_redirect") {
        Ok(object) => object.path().to_str().unwrap().to_owned(),
        Err(reason) => return apiary_testskip::missing(test, reason),
    };
    let data = scratch("https.bin");
    std::fs::write(&data, ipv4_packet(6, 64, [10, 0, 0, 2], 443, b"hello")).unwrap();
    let args = ["prog", "run", &object, "data_in", data.to_str().unwrap()];
    let plain = apiary(&args);
    assert!(plain.status.success(), "{}", text(&plain.stderr));
    assert!(text(&plain.stdout).starts_with("Return value: 7,"));
    assert!(
        text(&plain.stderr).contains("redirect: bpf_redirect to ifindex 4"),
        "{}",
        text(&plain.stderr)
    );
    let json_run = apiary(&[&["-j"][..], &args[..]].concat());
    let report = json(&json_run);
    assert_eq!(report["retval"], 7);
    assert_eq!(report["redirects"][0]["via"], "bpf_redirect");
    let capture = scratch("https.pcap");
    write_pcap(
        &capture,
        &[
            ipv4_packet(6, 64, [10, 0, 0, 2], 443, b"a"),
            ipv4_packet(6, 64, [10, 0, 0, 2], 443, b"b"),
            ipv4_packet(6, 64, [10, 0, 0, 2], 80, b"c"),
        ],
    );
    let replay = apiary(&[
        "-j",
        "prog",
        "run",
        &object,
        "--pcap",
        capture.to_str().unwrap(),
    ]);
    let report = json(&replay);
    assert_eq!(report["verdicts"]["TC_ACT_REDIRECT"], 2, "{report}");
    assert_eq!(report["verdicts"]["TC_ACT_OK"], 1, "{report}");
    assert_eq!(
        report["redirects"]["bpf_redirect to ifindex 4 (flags 0x0)"], 2,
        "{report}"
    );
    if kernel_usable(&format!("the kernel half of {test}")) {
        let kernel = apiary(&[&args[..], &["--backend", "kernel"]].concat());
        assert!(text(&kernel.stdout).starts_with("Return value: 7,"));
    }
}

/// Damaged captures are refused with one line naming the problem.
#[test]
fn hostile_captures_are_one_line_errors() {
    let Some(object) = corpus("xdp_firewall", "hostile captures") else {
        return;
    };
    let object = object.to_str().unwrap();
    let good = scratch("good.pcap");
    write_pcap(&good, &[ipv4_packet(17, 64, [10, 0, 0, 2], 53, b"x")]);
    let bytes = std::fs::read(&good).unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "garbage.pcap",
            b"definitely not a capture".to_vec(),
            "unknown magic",
        ),
        (
            "cut.pcap",
            bytes[..bytes.len() - 5].to_vec(),
            "pcap packet 1",
        ),
        ("header.pcap", bytes[..10].to_vec(), "pcap header"),
    ];
    for (name, contents, needle) in cases {
        let path = scratch(name);
        std::fs::write(&path, contents).unwrap();
        assert_one_line_error(
            &apiary(&["prog", "run", object, "--pcap", path.to_str().unwrap()]),
            needle,
        );
    }
}

/// Issue 3: `prog run` resolves CO-RE against Apiary's context types by
/// default (core_fields reads task_struct, which they lack: the run stops
/// at libbpf's poison call) and against a kernel BTF when asked, when the
/// relocated sizes and offsets are the kernel's.
#[test]
fn prog_run_resolves_core_against_the_chosen_target_btf() {
    let Some(object) = corpus("core_fields", "prog run --target-btf") else {
        return;
    };
    let object = object.to_str().expect("UTF-8 path");
    let default = apiary(&["prog", "run", "--no-verify", object]);
    assert_one_line_error(&default, "poisoned by an unsatisfiable CO-RE relocation");
    assert_one_line_error(&default, "instruction 14");

    let vmlinux = apiary_testskip::VMLINUX;
    if let Err(reason) = apiary_testskip::vmlinux_btf() {
        return apiary_testskip::skip("prog run --target-btf", reason);
    }
    let pins = scratch("core-fields-pins");
    let pins = pins.to_str().expect("UTF-8 path");
    let run = apiary(&[
        "prog",
        "run",
        "--no-verify",
        object,
        "--target-btf",
        vmlinux,
        "--pin-maps",
        pins,
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let dump = apiary(&[
        "-j",
        "map",
        "dump",
        "pinned",
        &format!("{pins}/core_fie_bss"),
    ]);
    let dump: Value = serde_json::from_str(&text(&dump.stdout)).expect("map dump JSON");
    let variables = dump[0]["formatted"]["value"][".bss"]
        .as_array()
        .expect("the .bss DATASEC's variables");
    let variable = |name: &str| {
        variables
            .iter()
            .find_map(|v| v.get(name))
            .unwrap_or_else(|| panic!("{name} in {variables:?}"))
            .clone()
    };
    // task_struct.comm is char[16] in every kernel; __state exists since 5.14.
    assert_eq!(variable("comm_size"), 16);
    assert_eq!(variable("has_new_state"), 1);
    assert_eq!(variable("has_missing"), 0);

    let missing = apiary(&[
        "prog",
        "run",
        "--no-verify",
        object,
        "--target-btf",
        "/nonexistent/vmlinux",
    ]);
    assert_one_line_error(&missing, "--target-btf /nonexistent/vmlinux");
}

/// Issue 3 with a kernel backend: without `--target-btf`, `--backend both`
/// resolves CO-RE against the running kernel's BTF for both sides, so the
/// vm runs the instructions the kernel runs and they agree, while the vm
/// alone (Apiary's context types) reaches a poisoned relocation.
#[test]
fn backend_both_defaults_to_the_kernels_btf_for_both_sides() {
    let test = "prog run --backend both CO-RE default";
    let Some(object) = corpus("core_types", test) else {
        return;
    };
    if !kernel_usable(test) {
        return;
    }
    let object = object.to_str().expect("UTF-8 path");
    let both = apiary(&["prog", "run", "--no-verify", object, "--backend", "both"]);
    assert!(both.status.success(), "{}", text(&both.stderr));
    assert!(
        text(&both.stderr).contains("vm and kernel agree"),
        "{}",
        text(&both.stderr)
    );
    let vm = apiary(&["prog", "run", "--no-verify", object]);
    assert_one_line_error(&vm, "unsatisfiable CO-RE relocation");
}

/// `--engine jit` (the default on x86-64) and `--engine interp` replay a
/// capture to the same verdicts, packets and maps.
#[test]
fn both_engines_replay_a_capture_identically() {
    let test = "prog run --engine";
    let Some(object) = corpus("xdp_proto_counter", test) else {
        return;
    };
    let capture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/pcap/traffic.pcap");
    let run = |engine: &str| {
        let maps = scratch(&format!("engine-maps-{engine}"));
        let out = scratch(&format!("engine-out-{engine}.pcapng"));
        let output = apiary(&[
            "prog",
            "run",
            object.to_str().unwrap(),
            "--pcap",
            capture.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--pin-maps",
            maps.to_str().unwrap(),
            "--engine",
            engine,
        ]);
        assert!(
            output.status.success(),
            "{engine}: {}",
            text(&output.stderr)
        );
        let report: Vec<String> = text(&output.stdout)
            .lines()
            .filter(|line| !line.contains("duration"))
            .map(str::to_owned)
            .collect();
        // The saved files order hash entries by a per-process seed: compare sorted dumps.
        let mut pinned: Vec<(String, Vec<String>)> = std::fs::read_dir(&maps)
            .expect("pinned maps")
            .map(|entry| {
                let path = entry.expect("entry").path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let dump = apiary(&["map", "dump", "pinned", path.to_str().unwrap(), "-j"]);
                assert!(dump.status.success(), "{}", text(&dump.stderr));
                let mut entries: Vec<String> = json(&dump)
                    .as_array()
                    .expect("a JSON array")
                    .iter()
                    .map(Value::to_string)
                    .collect();
                entries.sort();
                (name, entries)
            })
            .collect();
        pinned.sort();
        (
            report,
            pinned,
            std::fs::read(&out).expect("written capture"),
        )
    };
    let jit = run("jit");
    assert!(!jit.1.is_empty(), "no maps were saved");
    let interp = run("interp");
    assert!(
        jit == interp,
        "the engines differ:\n{:?}\n{:?}",
        jit.0,
        interp.0
    );
}
