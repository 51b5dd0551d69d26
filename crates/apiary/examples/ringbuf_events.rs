//! Reads the flow records of `examples/ringbuf_events` from Rust: runs the
//! tc program on every packet of a capture and consumes what it sent
//! through its ring buffer, the way a libbpf program's
//! `ring_buffer__poll` loop consumes a kernel ring buffer.
//!
//! ```sh
//! clang-19 -target bpf -O2 -g -mcpu=v3 -I/usr/include/$(uname -m)-linux-gnu \
//!     -c examples/ringbuf_events/ringbuf_events.c -o rb.o
//! cargo run -p apiary --example ringbuf_events -- rb.o examples/pcap/traffic.pcap
//! ```
//!
//! Errors are printed with `Display`, one line.

use std::error::Error;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;

use apiary::{OpenObject, RingBuf, SkbRun, Tc};

/// `struct flow_event` of ringbuf_events.c (56 bytes, host byte order
/// except the addresses).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FlowEvent {
    seq: u64,
    len: u32,
    eth_proto: u16,
    ip_proto: u8,
    vlan: bool,
    source: Option<IpAddr>,
    destination: Option<IpAddr>,
    sport: u16,
    dport: u16,
}

const FLAG_VLAN: u8 = 1;
const FLAG_IPV6: u8 = 2;
const EVENT_SIZE: usize = 56;

impl FlowEvent {
    fn decode(record: &[u8]) -> Option<FlowEvent> {
        let record: &[u8; EVENT_SIZE] = record.get(..EVENT_SIZE)?.try_into().ok()?;
        let u16_at = |at: usize| u16::from_ne_bytes([record[at], record[at + 1]]);
        let flags = record[15];
        let address = |at: usize| -> Option<IpAddr> {
            let bytes: [u8; 16] = record[at..at + 16].try_into().ok()?;
            if record[14] == 0 {
                None
            } else if flags & FLAG_IPV6 != 0 {
                Some(IpAddr::V6(Ipv6Addr::from(bytes)))
            } else {
                Some(IpAddr::V4(Ipv4Addr::new(
                    bytes[0], bytes[1], bytes[2], bytes[3],
                )))
            }
        };
        Some(FlowEvent {
            seq: u64::from_ne_bytes(record[0..8].try_into().ok()?),
            len: u32::from_ne_bytes(record[8..12].try_into().ok()?),
            eth_proto: u16_at(12),
            ip_proto: record[14],
            vlan: flags & FLAG_VLAN != 0,
            source: address(16),
            destination: address(32),
            sport: u16_at(48),
            dport: u16_at(50),
        })
    }
}

/// Exit status 2 for a wrong command line, 1 for an error while running.
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [object_path, capture_path] = &args[..] else {
        eprintln!("usage: ringbuf_events OBJECT.o CAPTURE.pcap");
        return ExitCode::from(2);
    };
    if let Err(e) = print_flow_events(object_path, capture_path) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn print_flow_events(object_path: &str, capture_path: &str) -> Result<(), Box<dyn Error>> {
    let object = OpenObject::open(object_path)?.load()?;
    let program = object.program::<Tc>("flow_events")?;
    let mut ring: RingBuf = object.map_view("events")?;
    let mut runner = object.runner(0);

    let capture = std::fs::File::open(capture_path).map_err(|e| format!("{capture_path}: {e}"))?;
    let mut reader =
        pcap_file::pcap::PcapReader::new(capture).map_err(|e| format!("{capture_path}: {e}"))?;
    while let Some(packet) = reader.next_packet() {
        let packet = packet.map_err(|e| format!("{capture_path}: {e}"))?;
        runner.test_run(&program, &SkbRun::new(&packet.data))?;
        // The program submitted with flags 0, so a consumer waiting on
        // `ring.as_raw_fd()` with epoll would now be woken; here we just
        // drain what is there after each packet.
        while let Some(record) = ring.next() {
            match FlowEvent::decode(&record) {
                Some(event) => println!("{event:?}"),
                None => eprintln!("short record of {} bytes", record.len()),
            }
        }
    }
    Ok(())
}
