//! The ring-buffer example read from Rust: every packet of the bundled
//! capture produces one record, in order, whose fields agree with an
//! independent parse of the packet (etherparse) at the offsets the
//! example's README documents.

use apiary::{OpenObject, RingBuf, SkbRun, Tc};
use etherparse::{NetSlice, SlicedPacket, TransportSlice};

fn capture() -> Vec<Vec<u8>> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/pcap/traffic.pcap"
    );
    let file = std::fs::File::open(path).expect("bundled capture");
    let mut reader = pcap_file::pcap::PcapReader::new(file).expect("pcap header");
    let mut packets = Vec::new();
    while let Some(packet) = reader.next_packet() {
        packets.push(packet.expect("packet").data.into_owned());
    }
    packets
}

/// (eth_proto, ip_proto, vlan, source, destination, sport, dport) as the
/// README defines them: the EtherType after at most one 802.1Q tag, and the
/// IP fields from etherparse when that EtherType is IPv4 or IPv6.
fn expected(frame: &[u8]) -> (u16, u8, bool, Vec<u8>, Vec<u8>, u16, u16) {
    let ether_type_at = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let Some(outer) = ether_type_at(12) else {
        return (0, 0, false, Vec::new(), Vec::new(), 0, 0);
    };
    let vlan = outer == 0x8100;
    let eth_proto = if vlan {
        ether_type_at(16).unwrap_or(0)
    } else {
        outer
    };
    let none = (eth_proto, 0, vlan, Vec::new(), Vec::new(), 0, 0);
    if eth_proto != 0x0800 && eth_proto != 0x86dd {
        return none;
    }
    let Ok(sliced) = SlicedPacket::from_ethernet(frame) else {
        return none;
    };
    let (ip_proto, src, dst) = match &sliced.net {
        Some(NetSlice::Ipv4(ip)) => (
            ip.header().protocol().0,
            ip.header().source().to_vec(),
            ip.header().destination().to_vec(),
        ),
        Some(NetSlice::Ipv6(ip)) => (
            ip.header().next_header().0,
            ip.header().source().to_vec(),
            ip.header().destination().to_vec(),
        ),
        _ => return none,
    };
    // Ports follow the IP header directly: an IPv6 extension header in
    // between makes ip_proto that header's number and the ports 0.
    let (sport, dport) = match &sliced.transport {
        Some(TransportSlice::Tcp(t)) if ip_proto == 6 => (t.source_port(), t.destination_port()),
        Some(TransportSlice::Udp(u)) if ip_proto == 17 => (u.source_port(), u.destination_port()),
        _ => (0, 0),
    };
    (eth_proto, ip_proto, vlan, src, dst, sport, dport)
}

#[test]
fn every_packet_yields_one_record_matching_an_independent_parse() {
    let example = match apiary_corpus::example("ringbuf_events") {
        Ok(example) => example,
        Err(why) => return apiary_testskip::missing("ringbuf_events example", why),
    };
    let object = OpenObject::open(example.path()).unwrap().load().unwrap();
    let program = object.program::<Tc>("flow_events").unwrap();
    let mut ring: RingBuf = object.map_view("events").unwrap();
    let mut runner = object.runner(0);
    let packets = capture();
    assert!(packets.len() > 10, "the capture has traffic");
    for (index, frame) in packets.iter().enumerate() {
        let out = runner.test_run(&program, &SkbRun::new(frame)).unwrap();
        assert_eq!(out.retval, 0, "TC_ACT_OK");
        let record = ring.next().expect("one record per packet").to_vec();
        assert!(ring.next().is_none(), "exactly one record per packet");
        assert_eq!(record.len(), 56);
        let u16_at = |at: usize| u16::from_ne_bytes([record[at], record[at + 1]]);
        assert_eq!(
            u64::from_ne_bytes(record[0..8].try_into().unwrap()),
            index as u64 + 1,
            "seq"
        );
        assert_eq!(
            u32::from_ne_bytes(record[8..12].try_into().unwrap()) as usize,
            frame.len(),
            "len"
        );
        let (eth_proto, ip_proto, vlan, src, dst, sport, dport) = expected(frame);
        assert_eq!(u16_at(12), eth_proto, "packet {index}: eth_proto");
        assert_eq!(record[14], ip_proto, "packet {index}: ip_proto");
        assert_eq!(record[15] & 1 != 0, vlan, "packet {index}: vlan flag");
        assert_eq!(
            &record[16..16 + src.len()],
            &src[..],
            "packet {index}: saddr"
        );
        assert_eq!(
            &record[32..32 + dst.len()],
            &dst[..],
            "packet {index}: daddr"
        );
        assert_eq!(
            (u16_at(48), u16_at(50)),
            (sport, dport),
            "packet {index}: ports"
        );
    }
}
