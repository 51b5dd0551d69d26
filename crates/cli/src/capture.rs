//! `prog run --pcap`: runs a program on every packet of a pcap or pcapng
//! capture, writes the packets it lets through to a pcapng file and counts
//! its verdicts by their kernel names.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use apiary_bench::cpu_clock::thread_cpu_time;
use apiary_kernel::types::ProgType;
use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketBlock;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::{Block, PcapNgReader, PcapNgWriter};
use serde_json::json;

use crate::CliResult;
use crate::error::CliError;
use crate::progrun::{
    OutputFormat, RunWords, data_room, describe_failure, emit, report_side_effects,
    request_from_words,
};
use apiary_difftest::objects::{BackendError, Redirect, RunRequest, RunResult, compare_runs};

/// Largest capture read.
const MAX_CAPTURE_BYTES: u64 = 256 << 20;

/// One packet of a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedPacket {
    /// Index of the interface it was captured on (0 for pcap files).
    pub interface: u32,
    /// Capture time, in the units the output file's interface uses.
    pub timestamp: Duration,
    /// Length on the wire.
    pub original_len: u32,
    /// The captured bytes, starting with the link-layer header.
    pub data: Vec<u8>,
}

/// A capture's interfaces and packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// Interface descriptions, written unchanged to the output.
    pub interfaces: Vec<InterfaceDescriptionBlock<'static>>,
    /// Packets in file order.
    pub packets: Vec<CapturedPacket>,
    /// What ended reading early (a record cut short or malformed), after
    /// the packets before it were read; `None` when the whole file read.
    pub broken: Option<String>,
}

/// Reads a pcap or pcapng capture (told apart by their magic numbers).
/// Only Ethernet captures are accepted: test runs take Ethernet frames. A
/// bad file header is an error; a bad record later ends the capture there
/// ([`Capture::broken`]), keeping the packets before it.
pub fn read_capture(bytes: &[u8]) -> Result<Capture, String> {
    let capture = match bytes.get(..4) {
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => read_pcapng(bytes)?,
        Some(
            [0xa1, 0xb2, 0xc3, 0xd4]
            | [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
            | [0x4d, 0x3c, 0xb2, 0xa1],
        ) => read_pcap(bytes)?,
        _ => return Err("not a pcap or pcapng capture (unknown magic number)".to_owned()),
    };
    for (index, interface) in capture.interfaces.iter().enumerate() {
        if interface.linktype != DataLink::ETHERNET {
            return Err(format!(
                "interface {index} has link type {:?}; only Ethernet captures can be run",
                interface.linktype
            ));
        }
    }
    Ok(capture)
}

/// The interface description the output uses for a pcap file: Ethernet,
/// nanosecond timestamps.
fn nanosecond_interface(linktype: DataLink, snaplen: u32) -> InterfaceDescriptionBlock<'static> {
    InterfaceDescriptionBlock {
        linktype,
        snaplen,
        options: vec![InterfaceDescriptionOption::IfTsResol(9)],
    }
}

fn read_pcap(bytes: &[u8]) -> Result<Capture, String> {
    let mut reader = PcapReader::new(bytes).map_err(|e| format!("pcap header: {e}"))?;
    let header = reader.header();
    let mut packets = Vec::new();
    let mut broken = None;
    while let Some(packet) = reader.next_packet() {
        let packet = match packet {
            Ok(packet) => packet,
            Err(e) => {
                broken = Some(format!(
                    "pcap packet {}: {e} (the record is cut short or malformed)",
                    packets.len() + 1
                ));
                break;
            }
        };
        packets.push(CapturedPacket {
            interface: 0,
            timestamp: packet.timestamp,
            original_len: packet.orig_len,
            data: packet.data.into_owned(),
        });
    }
    Ok(Capture {
        interfaces: vec![nanosecond_interface(header.datalink, header.snaplen)],
        packets,
        broken,
    })
}

fn read_pcapng(bytes: &[u8]) -> Result<Capture, String> {
    let mut reader = PcapNgReader::new(bytes).map_err(|e| format!("pcapng section header: {e}"))?;
    let mut interfaces = Vec::new();
    let mut packets = Vec::new();
    let mut blocks = 1usize;
    let mut broken = None;
    while let Some(block) = reader.next_block() {
        blocks += 1;
        let read = block
            .map_err(|e| {
                format!("pcapng block {blocks}: {e} (the block is cut short or malformed)")
            })
            .and_then(|block| read_block(block, blocks, &mut interfaces, &mut packets));
        if let Err(error) = read {
            broken = Some(error);
            break;
        }
    }
    if interfaces.is_empty() {
        interfaces.push(nanosecond_interface(DataLink::ETHERNET, 0));
    }
    Ok(Capture {
        interfaces,
        packets,
        broken,
    })
}

/// Takes one pcapng block: interfaces and packets are kept, other blocks
/// skipped.
fn read_block(
    block: Block<'_>,
    blocks: usize,
    interfaces: &mut Vec<InterfaceDescriptionBlock<'static>>,
    packets: &mut Vec<CapturedPacket>,
) -> Result<(), String> {
    match block {
        Block::SectionHeader(_) => interfaces.clear(),
        Block::InterfaceDescription(interface) => interfaces.push(interface.into_owned()),
        Block::EnhancedPacket(packet) => {
            if packet.interface_id as usize >= interfaces.len() {
                return Err(format!(
                    "pcapng block {blocks}: packet of interface {} before its description",
                    packet.interface_id
                ));
            }
            packets.push(CapturedPacket {
                interface: packet.interface_id,
                timestamp: packet.timestamp,
                original_len: packet.original_len,
                data: packet.data.into_owned(),
            });
        }
        Block::SimplePacket(packet) => {
            if interfaces.is_empty() {
                return Err(format!(
                    "pcapng block {blocks}: simple packet before any interface description"
                ));
            }
            packets.push(CapturedPacket {
                interface: 0,
                timestamp: Duration::ZERO,
                original_len: packet.original_len,
                data: packet.data.into_owned(),
            });
        }
        Block::Packet(_) => {
            return Err(format!(
                "pcapng block {blocks}: obsolete Packet Block is not supported"
            ));
        }
        _ => {}
    }
    Ok(())
}

/// Writes packets as pcapng with the given interface descriptions.
pub fn write_pcapng(
    interfaces: &[InterfaceDescriptionBlock<'static>],
    packets: &[CapturedPacket],
) -> Result<Vec<u8>, String> {
    let mut writer = PcapNgWriter::new(Vec::new()).map_err(|e| e.to_string())?;
    for interface in interfaces {
        writer
            .write_pcapng_block(interface.clone())
            .map_err(|e| e.to_string())?;
    }
    for packet in packets {
        let block = EnhancedPacketBlock {
            interface_id: packet.interface,
            timestamp: packet.timestamp,
            original_len: packet.original_len.max(packet.data.len() as u32),
            data: Cow::Borrowed(&packet.data),
            options: Vec::new(),
        };
        writer
            .write_pcapng_block(block)
            .map_err(|e| e.to_string())?;
    }
    Ok(writer.into_inner())
}

/// What a return value means for a program type, as the kernel's
/// constants name it, and whether the packet goes on.
pub fn verdict(prog_type: ProgType, retval: u32, packet_len: usize) -> (Cow<'static, str>, bool) {
    let named = |name: &'static str, passes: bool| (Cow::Borrowed(name), passes);
    match prog_type {
        ProgType::XDP => match retval {
            0 => named("XDP_ABORTED", false),
            1 => named("XDP_DROP", false),
            2 => named("XDP_PASS", true),
            3 => named("XDP_TX", true),
            4 => named("XDP_REDIRECT", true),
            other => (Cow::Owned(format!("XDP verdict {other}")), false),
        },
        ProgType::SCHED_CLS | ProgType::SCHED_ACT => match retval as i32 {
            -1 => named("TC_ACT_UNSPEC", true),
            0 => named("TC_ACT_OK", true),
            1 => named("TC_ACT_RECLASSIFY", true),
            2 => named("TC_ACT_SHOT", false),
            3 => named("TC_ACT_PIPE", true),
            4 => named("TC_ACT_STOLEN", false),
            5 => named("TC_ACT_QUEUED", false),
            6 => named("TC_ACT_REPEAT", true),
            7 => named("TC_ACT_REDIRECT", true),
            8 => named("TC_ACT_TRAP", false),
            other => (Cow::Owned(format!("TC verdict {other}")), true),
        },
        ProgType::SOCKET_FILTER => match retval {
            0 => named("drop", false),
            n if ETH_HLEN.saturating_add(n as usize) >= packet_len => named("accept", true),
            _ => named("truncate", true),
        },
        ProgType::CGROUP_SKB => match retval {
            0 => named("drop", false),
            1 => named("allow", true),
            other => (Cow::Owned(format!("cgroup_skb verdict {other}")), false),
        },
        ProgType::LWT_IN
        | ProgType::LWT_OUT
        | ProgType::LWT_XMIT
        | ProgType::LWT_SEG6LOCAL
        | ProgType::FLOW_DISSECTOR => match retval {
            0 => named("BPF_OK", true),
            2 => named("BPF_DROP", false),
            7 => named("BPF_REDIRECT", true),
            other => (Cow::Owned(format!("verdict {other}")), true),
        },
        _ => (Cow::Owned(format!("retval {retval}")), true),
    }
}

/// Length of the Ethernet header test runs consume before a socket filter
/// sees the packet.
const ETH_HLEN: usize = 14;

/// The packet a passing verdict lets through: the program's `data_out`.
/// Socket filters cannot change the packet (test-run hands back a zeroed
/// Ethernet header for them), so theirs is the input packet cut to the
/// return value, which counts bytes from the network header where their
/// packet starts.
fn passed_packet(prog_type: ProgType, retval: u32, packet: &[u8], result: RunResult) -> Vec<u8> {
    if prog_type == ProgType::SOCKET_FILTER {
        let keep = ETH_HLEN.saturating_add(retval as usize).min(packet.len());
        return packet.get(..keep).unwrap_or(packet).to_vec();
    }
    result.data_out.unwrap_or_else(|| packet.to_vec())
}

/// Counts one redirect under its sender and target, allocating the
/// target's text only the first time it is seen.
fn count_redirect(
    redirects: &mut BTreeMap<&'static str, BTreeMap<String, u64>>,
    redirect: &Redirect,
) {
    let targets = redirects.entry(redirect.via).or_default();
    match targets.get_mut(redirect.target.as_str()) {
        Some(count) => *count += 1,
        None => {
            targets.insert(redirect.target.clone(), 1);
        }
    }
}

/// Runs the program on every packet of `capture_path` (maps keep their
/// contents from one packet to the next) and reports the verdicts;
/// `compared`: `run` gives a second backend's result to compare with.
pub fn replay(
    run: &mut impl FnMut(&RunRequest) -> Result<(RunResult, Option<RunResult>), BackendError>,
    compared: bool,
    prog_type: ProgType,
    words: &RunWords,
    capture_path: &Path,
    out: Option<&Path>,
    format: OutputFormat,
) -> CliResult {
    if words.data_in.is_some() || words.data_out.is_some() {
        return Err(CliError::at(
            "arguments",
            "data_in and data_out cannot be combined with --pcap (packets come from the capture, --out takes the results)",
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(capture_path)
        .and_then(|f| f.take(MAX_CAPTURE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| CliError::at(capture_path.display(), e))?;
    if bytes.len() as u64 > MAX_CAPTURE_BYTES {
        return Err(CliError::at(
            capture_path.display(),
            format!("capture is larger than {MAX_CAPTURE_BYTES} bytes"),
        ));
    }
    let mut capture = read_capture(&bytes).map_err(|e| CliError::at(capture_path.display(), e))?;
    let mut request = request_from_words(words, Some(Vec::new()))?;

    let mut histogram: BTreeMap<Cow<'static, str>, u64> = BTreeMap::new();
    let mut redirects: BTreeMap<&'static str, BTreeMap<String, u64>> = BTreeMap::new();
    let mut written = Vec::new();
    let mut passed = 0usize;
    let mut total_ns = 0u64;
    let mut failures = 0u64;
    let mut differences = Vec::new();
    // The whole loop (request, run, verdict) on this one thread, for the
    // throughput line: what replaying a capture held in memory achieves,
    // in the thread's CPU time (on a shared machine the wall clock also
    // counts other processes' turns on the core). The packet moves into
    // the request and back rather than being copied: per packet, a copy
    // costs more than a short program's run.
    // The packets after the runs are asked for only when something reads
    // them: copying each out costs about as much as a short program's run.
    let packets_read = out.is_some() || compared || words.data_size_out.is_some();
    // Buffered: a tc program redirecting every other packet would otherwise
    // make a write system call per packet, costing more than its run.
    let mut stderr = std::io::BufWriter::new(std::io::stderr().lock());
    let started = thread_cpu_time();
    for (index, packet) in capture.packets.iter_mut().enumerate() {
        let number = index + 1;
        request.data_size_out = packets_read.then(|| data_room(words, packet.data.len()));
        request.data_in = Some(std::mem::take(&mut packet.data));
        let outcome = run(&request);
        packet.data = request.data_in.take().unwrap_or_default();
        let (result, kernel) = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                let _ = writeln!(
                    stderr,
                    "apiary: packet {number}: {}",
                    describe_failure(&error)
                );
                failures += 1;
                continue;
            }
        };
        report_side_effects(&result, &mut stderr);
        for redirect in &result.redirects {
            count_redirect(&mut redirects, redirect);
        }
        if let Some(kernel) = &kernel {
            differences.extend(
                compare_runs(&result, kernel)
                    .into_iter()
                    .map(|d| format!("packet {number}: {d}")),
            );
        }
        total_ns += u64::from(result.duration_ns);
        let (name, passes) = verdict(prog_type, result.retval, packet.data.len());
        *histogram.entry(name).or_default() += 1;
        passed += usize::from(passes);
        // Kept only to be written: a long capture's packets are not
        // held twice for nothing.
        if passes && out.is_some() {
            written.push(CapturedPacket {
                data: passed_packet(prog_type, result.retval, &packet.data, result),
                ..packet.clone()
            });
        }
    }
    let elapsed = thread_cpu_time().saturating_sub(started).as_secs_f64();
    // Written before anything else is printed, so that stderr keeps its order.
    let _ = std::io::Write::flush(&mut stderr);
    drop(stderr);
    let redirects: BTreeMap<String, u64> = redirects
        .into_iter()
        .flat_map(|(via, targets)| {
            targets
                .into_iter()
                .map(move |(target, count)| (format!("{via} to {target}"), count))
        })
        .collect();
    if let Some(out) = out {
        let file = write_pcapng(&capture.interfaces, &written)
            .map_err(|e| CliError::at(out.display(), e))?;
        std::fs::write(out, file).map_err(|e| CliError::at(out.display(), e))?;
    }
    let ran = capture.packets.len() as u64 - failures;
    let average = total_ns.checked_div(ran).unwrap_or(0);
    let per_second = if elapsed > 0.0 {
        (capture.packets.len() as f64 / elapsed).round() as u64
    } else {
        0
    };
    let report = json!({
        "packets": capture.packets.len(),
        "failed": failures,
        "written": passed,
        "verdicts": histogram,
        "redirects": redirects,
        "average_duration": average,
        "packets_per_second": per_second,
        "differences": differences,
    });
    let text = if format == OutputFormat::PrettyJson {
        format!("{report:#}\n")
    } else if format == OutputFormat::Json {
        format!("{report}\n")
    } else {
        let mut text = format!(
            "packets: {}, written: {}, failed: {failures}\n",
            capture.packets.len(),
            passed
        );
        let width = histogram.keys().map(|name| name.len()).max().unwrap_or(0);
        for (name, count) in &histogram {
            let _ = writeln!(text, "  {name:<width$}  {count}");
        }
        if !redirects.is_empty() {
            text.push_str("redirects:\n");
            for (target, count) in &redirects {
                let _ = writeln!(text, "  {target}  {count}");
            }
        }
        let _ = writeln!(
            text,
            "average duration: {average}ns per packet, {per_second} packets/s on one core"
        );
        text
    };
    emit(&text)?;
    if format == OutputFormat::Text {
        for difference in &differences {
            eprintln!("apiary: differs: {difference}");
        }
    }
    if let Some(broken) = capture.broken {
        return Err(CliError::at(
            capture_path.display(),
            format!("{broken}; the summary above counts the packets before it"),
        ));
    }
    Ok(if failures == 0 && differences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_names_follow_the_kernel_constants() {
        assert_eq!(verdict(ProgType::XDP, 1, 60), ("XDP_DROP".into(), false));
        assert_eq!(verdict(ProgType::XDP, 3, 60), ("XDP_TX".into(), true));
        assert_eq!(
            verdict(ProgType::SCHED_CLS, 2, 60),
            ("TC_ACT_SHOT".into(), false)
        );
        assert_eq!(
            verdict(ProgType::SCHED_ACT, u32::MAX, 60),
            ("TC_ACT_UNSPEC".into(), true)
        );
        assert_eq!(
            verdict(ProgType::SOCKET_FILTER, 0, 60),
            ("drop".into(), false)
        );
        assert_eq!(
            verdict(ProgType::SOCKET_FILTER, 40, 60),
            ("truncate".into(), true)
        );
        assert_eq!(
            verdict(ProgType::SOCKET_FILTER, 46, 60),
            ("accept".into(), true)
        );
        assert_eq!(
            verdict(ProgType::SOCKET_FILTER, u32::MAX, 60),
            ("accept".into(), true)
        );
    }

    #[test]
    fn pcapng_written_reads_back() {
        let packets = vec![CapturedPacket {
            interface: 0,
            timestamp: Duration::from_nanos(1_500),
            original_len: 3,
            data: vec![1, 2, 3],
        }];
        let interfaces = vec![nanosecond_interface(DataLink::ETHERNET, 0)];
        let bytes = write_pcapng(&interfaces, &packets).unwrap();
        let capture = read_capture(&bytes).unwrap();
        assert_eq!(capture.packets, packets);
        assert_eq!(capture.interfaces, interfaces);
    }

    #[test]
    fn hostile_captures_give_errors() {
        assert!(read_capture(b"").is_err());
        assert!(read_capture(b"GIF89a").is_err());
        let packets = vec![CapturedPacket {
            interface: 0,
            timestamp: Duration::ZERO,
            original_len: 70,
            data: vec![0xab; 70],
        }];
        let pcapng =
            write_pcapng(&[nanosecond_interface(DataLink::ETHERNET, 0)], &packets).unwrap();
        let mut pcap = pcap_file::pcap::PcapWriter::new(Vec::new()).unwrap();
        pcap.write_packet(&pcap_file::pcap::PcapPacket::new(
            Duration::ZERO,
            70,
            &packets[0].data,
        ))
        .unwrap();
        let pcap = pcap.into_writer();
        assert_eq!(
            read_capture(&pcap).unwrap().packets[0].data,
            packets[0].data
        );
        // Every truncation and every single-byte corruption must give a
        // result or an error, never a panic or a hang.
        for good in [pcapng, pcap] {
            for cut in 0..good.len() {
                let _ = read_capture(&good[..cut]);
            }
            for position in 0..good.len() {
                for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                    let mut bad = good.clone();
                    bad[position] = value;
                    let _ = read_capture(&bad);
                }
            }
        }
    }
}
