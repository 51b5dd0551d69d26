//! The deterministic generator of the bundled capture
//! `examples/pcap/traffic.pcap`: a few dozen Ethernet frames (IPv4 and IPv6;
//! TCP, UDP and ICMP; 802.1Q and 802.1ad tags; IPv4 options and fragments;
//! ARP) chosen to exercise the example programs: sources inside and outside
//! the firewall's example block list, flows to the load balancer's virtual
//! services, ports the tc classifier's rules match.
//!
//! Every checksum (IPv4 header, TCP, UDP, ICMP, ICMPv6) is computed here as
//! RFC 791/793/768/792/8200 define it. A test of this crate checks that the
//! bundled file is byte for byte what [`pcap`] writes, so it cannot drift
//! from this source.

use std::path::Path;

/// One generated frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// What the frame is, e.g. `"IPv4 TCP 192.0.2.10:40000 > 10.0.0.1:22"`.
    pub summary: String,
    /// The Ethernet frame, from the destination MAC on (no FCS).
    pub frame: Vec<u8>,
}

/// Where the capture that [`pcap`] generates is committed.
pub fn bundled_pcap_path() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/pcap/traffic.pcap"
    ))
}

/// The pcap link type of Ethernet frames (LINKTYPE_ETHERNET).
const LINKTYPE_ETHERNET: u32 = 1;
/// Capture time of the first frame (2023-11-14 22:13:20 UTC); the frames
/// follow one millisecond apart.
const FIRST_TIMESTAMP_SECS: u32 = 1_700_000_000;

/// The capture file: a classic little-endian pcap (magic `d4 c3 b2 a1`,
/// version 2.4, microsecond timestamps, snap length 65535, Ethernet) with
/// one record per frame of [`packets`].
pub fn pcap() -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4_u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    for (index, packet) in packets().iter().enumerate() {
        let millis = u32::try_from(index)
            .unwrap_or(u32::MAX)
            .saturating_mul(1000);
        let len = u32::try_from(packet.frame.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&(FIRST_TIMESTAMP_SECS + millis / 1_000_000).to_le_bytes());
        out.extend_from_slice(&(millis % 1_000_000).to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&packet.frame);
    }
    out
}

/// The MAC address the frames are sent to (the host running the programs).
pub const HOST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

const ETH_P_IP: u16 = 0x0800;
const ETH_P_ARP: u16 = 0x0806;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const ETH_P_IPV6: u16 = 0x86dd;

const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_HOPOPTS: u8 = 0;
const PROTO_FRAGMENT: u8 = 44;
const PROTO_ICMPV6: u8 = 58;

const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;
const TCP_PSH_ACK: u8 = 0x18;

/// The addresses of one IP header, which the TCP/UDP/ICMPv6 checksums
/// cover through their pseudo-header.
#[derive(Clone, Copy)]
enum Addrs {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
}

/// How a transport payload is wrapped into an IP packet.
#[derive(Clone, Copy, Default)]
struct IpOptions {
    /// 802.1Q VLAN ids, outermost first (the outer one uses 802.1ad when
    /// there are two).
    vlans: &'static [u16],
    /// IPv4 only: four bytes of options (a NOP-padded router alert), making
    /// ihl 6.
    ipv4_options: bool,
    /// IPv4: fragment offset in 8-byte units; IPv6: emit a fragment header
    /// with this offset.
    fragment_offset: u16,
    /// IPv6 only: put an 8-byte hop-by-hop header (router alert) first.
    hop_by_hop: bool,
}

/// Sums 16-bit big-endian words in one's-complement arithmetic (RFC 1071),
/// an odd trailing byte padded with zero.
fn ones_complement_sum(mut sum: u32, bytes: &[u8]) -> u32 {
    let mut words = bytes.chunks_exact(2);
    for word in &mut words {
        sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn finish_checksum(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn pseudo_header_sum(addrs: Addrs, proto: u8, len: usize) -> u32 {
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    let sum = match addrs {
        Addrs::V4(src, dst) => ones_complement_sum(ones_complement_sum(0, &src), &dst),
        Addrs::V6(src, dst) => ones_complement_sum(ones_complement_sum(0, &src), &dst),
    };
    sum + (len >> 16) + (len & 0xffff) + u32::from(proto)
}

/// Writes the checksum of `segment` (with pseudo-header) at `offset`.
fn set_l4_checksum(segment: &mut [u8], offset: usize, addrs: Addrs, proto: u8) {
    let sum = ones_complement_sum(pseudo_header_sum(addrs, proto, segment.len()), segment);
    let mut check = finish_checksum(sum);
    if proto == PROTO_UDP && check == 0 {
        check = 0xffff;
    }
    segment[offset..offset + 2].copy_from_slice(&check.to_be_bytes());
}

fn tcp(addrs: Addrs, sport: u16, dport: u16, flags: u8, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut segment = Vec::with_capacity(20 + payload.len());
    segment.extend_from_slice(&sport.to_be_bytes());
    segment.extend_from_slice(&dport.to_be_bytes());
    segment.extend_from_slice(&seq.to_be_bytes());
    let ack = if flags & TCP_ACK != 0 {
        0x0100_0000u32
    } else {
        0
    };
    segment.extend_from_slice(&ack.to_be_bytes());
    segment.push(5 << 4); // data offset: 5 words, no options
    segment.push(flags);
    segment.extend_from_slice(&64240u16.to_be_bytes()); // window
    segment.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    segment.extend_from_slice(payload);
    set_l4_checksum(&mut segment, 16, addrs, PROTO_TCP);
    segment
}

fn udp(addrs: Addrs, sport: u16, dport: u16, payload: &[u8], with_checksum: bool) -> Vec<u8> {
    let len = u16::try_from(8 + payload.len()).unwrap_or(u16::MAX);
    let mut datagram = Vec::with_capacity(usize::from(len));
    datagram.extend_from_slice(&sport.to_be_bytes());
    datagram.extend_from_slice(&dport.to_be_bytes());
    datagram.extend_from_slice(&len.to_be_bytes());
    datagram.extend_from_slice(&[0, 0]);
    datagram.extend_from_slice(payload);
    if with_checksum {
        set_l4_checksum(&mut datagram, 6, addrs, PROTO_UDP);
    }
    datagram
}

/// An ICMP (IPv4) or ICMPv6 echo request.
fn echo_request(addrs: Addrs, id: u16, seq: u16) -> Vec<u8> {
    let kind = match addrs {
        Addrs::V4(..) => 8,
        Addrs::V6(..) => 128,
    };
    let mut message = vec![kind, 0, 0, 0];
    message.extend_from_slice(&id.to_be_bytes());
    message.extend_from_slice(&seq.to_be_bytes());
    message.extend_from_slice(b"apiary-echo-0123456789abcdef");
    match addrs {
        Addrs::V4(..) => {
            let check = finish_checksum(ones_complement_sum(0, &message));
            message[2..4].copy_from_slice(&check.to_be_bytes());
        }
        Addrs::V6(..) => set_l4_checksum(&mut message, 2, addrs, PROTO_ICMPV6),
    }
    message
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, id: u16, opts: IpOptions, l4: &[u8]) -> Vec<u8> {
    let options: &[u8] = if opts.ipv4_options {
        &[0x94, 0x04, 0x00, 0x00] // router alert (RFC 2113)
    } else {
        &[]
    };
    let header_len = 20 + options.len();
    let total = u16::try_from(header_len + l4.len()).unwrap_or(u16::MAX);
    let mut packet = Vec::with_capacity(usize::from(total));
    packet.push(0x40 | (header_len / 4) as u8);
    packet.push(0); // DSCP/ECN
    packet.extend_from_slice(&total.to_be_bytes());
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&(opts.fragment_offset & 0x1fff).to_be_bytes());
    packet.push(64); // TTL
    packet.push(proto);
    packet.extend_from_slice(&[0, 0]); // header checksum
    packet.extend_from_slice(&src);
    packet.extend_from_slice(&dst);
    packet.extend_from_slice(options);
    let check = finish_checksum(ones_complement_sum(0, &packet));
    packet[10..12].copy_from_slice(&check.to_be_bytes());
    packet.extend_from_slice(l4);
    packet
}

fn ipv6(src: [u8; 16], dst: [u8; 16], proto: u8, opts: IpOptions, l4: &[u8]) -> Vec<u8> {
    let mut extensions = Vec::new();
    let mut first_next = proto;
    if opts.fragment_offset != 0 {
        // Fragment header: next, reserved, offset << 3 (M flag clear), id.
        let mut fragment = vec![first_next, 0];
        fragment.extend_from_slice(&(opts.fragment_offset << 3).to_be_bytes());
        fragment.extend_from_slice(&0x0000_abcd_u32.to_be_bytes());
        extensions.splice(0..0, fragment);
        first_next = PROTO_FRAGMENT;
    }
    if opts.hop_by_hop {
        // Hop-by-hop: next, length 0 (8 bytes), router alert option, PadN.
        let hop = [first_next, 0, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00];
        extensions.splice(0..0, hop);
        first_next = PROTO_HOPOPTS;
    }
    let payload_len = u16::try_from(extensions.len() + l4.len()).unwrap_or(u16::MAX);
    let mut packet = vec![0x60, 0, 0, 0];
    packet.extend_from_slice(&payload_len.to_be_bytes());
    packet.push(first_next);
    packet.push(64); // hop limit
    packet.extend_from_slice(&src);
    packet.extend_from_slice(&dst);
    packet.extend_from_slice(&extensions);
    packet.extend_from_slice(l4);
    packet
}

fn ethernet(source_host: u8, ethertype: u16, vlans: &[u16], payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + 4 * vlans.len() + payload.len());
    frame.extend_from_slice(&HOST_MAC);
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0x10, source_host]);
    for (index, vlan) in vlans.iter().enumerate() {
        let tpid = if index == 0 && vlans.len() > 1 {
            ETH_P_8021AD
        } else {
            ETH_P_8021Q
        };
        frame.extend_from_slice(&tpid.to_be_bytes());
        frame.extend_from_slice(&(vlan & 0x0fff).to_be_bytes());
    }
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// The transport part of a generated packet.
#[derive(Clone, Copy)]
enum Transport<'a> {
    Tcp {
        sport: u16,
        dport: u16,
        flags: u8,
        payload: &'a [u8],
    },
    Udp {
        sport: u16,
        dport: u16,
        payload: &'a [u8],
        checksum: bool,
    },
    Echo,
}

impl Transport<'_> {
    fn build(self, addrs: Addrs, seq: u16) -> (u8, Vec<u8>, String) {
        match self {
            Transport::Tcp {
                sport,
                dport,
                flags,
                payload,
            } => (
                PROTO_TCP,
                tcp(addrs, sport, dport, flags, u32::from(seq) * 1000, payload),
                format!("TCP {sport} > {dport}"),
            ),
            Transport::Udp {
                sport,
                dport,
                payload,
                checksum,
            } => (
                PROTO_UDP,
                udp(addrs, sport, dport, payload, checksum),
                format!(
                    "UDP {sport} > {dport}{}",
                    if checksum { "" } else { " (no checksum)" }
                ),
            ),
            Transport::Echo => match addrs {
                Addrs::V4(..) => (
                    PROTO_ICMP,
                    echo_request(addrs, 0x4242, seq),
                    "ICMP echo".into(),
                ),
                Addrs::V6(..) => (
                    PROTO_ICMPV6,
                    echo_request(addrs, 0x4242, seq),
                    "ICMPv6 echo".into(),
                ),
            },
        }
    }
}

/// One IPv4 or IPv6 packet (by the kind of `addrs`) in an Ethernet frame.
fn ip_packet(seq: u16, addrs: Addrs, l4: Transport<'_>, opts: IpOptions) -> Packet {
    let (proto, segment, what) = l4.build(addrs, seq);
    let (version, src, dst, host, ethertype, packet) = match addrs {
        Addrs::V4(src, dst) => (
            4,
            std::net::IpAddr::from(src),
            std::net::IpAddr::from(dst),
            src[3],
            ETH_P_IP,
            ipv4(src, dst, proto, seq, opts, &segment),
        ),
        Addrs::V6(src, dst) => (
            6,
            std::net::IpAddr::from(src),
            std::net::IpAddr::from(dst),
            src[15],
            ETH_P_IPV6,
            ipv6(src, dst, proto, opts, &segment),
        ),
    };
    Packet {
        summary: format!(
            "{}IPv{version} {src} > {dst} {what}{}",
            vlan_note(opts),
            ip_note(opts)
        ),
        frame: ethernet(host, ethertype, opts.vlans, &packet),
    }
}

fn vlan_note(opts: IpOptions) -> String {
    opts.vlans.iter().map(|id| format!("VLAN {id} ")).collect()
}

fn ip_note(opts: IpOptions) -> String {
    let mut note = String::new();
    if opts.ipv4_options {
        note.push_str(", IP options");
    }
    if opts.hop_by_hop {
        note.push_str(", hop-by-hop header");
    }
    if opts.fragment_offset != 0 {
        note.push_str(&format!(
            ", fragment at {}",
            usize::from(opts.fragment_offset) * 8
        ));
    }
    note
}

fn arp_request(sender: [u8; 4], target: [u8; 4]) -> Packet {
    let mut body = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1]; // Ethernet/IPv4, request
    body.extend_from_slice(&[0x02, 0, 0, 0, 0x10, sender[3]]);
    body.extend_from_slice(&sender);
    body.extend_from_slice(&[0; 6]);
    body.extend_from_slice(&target);
    let mut frame = ethernet(sender[3], ETH_P_ARP, &[], &body);
    frame[..6].copy_from_slice(&[0xff; 6]);
    Packet {
        summary: format!(
            "ARP who-has {} tell {}",
            std::net::Ipv4Addr::from(target),
            std::net::Ipv4Addr::from(sender)
        ),
        frame,
    }
}

fn v6(last_groups: [u16; 2]) -> [u8; 16] {
    // 2001:db8::/32 (documentation prefix) with the last two groups given.
    let mut addr = [0u8; 16];
    addr[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    addr[12..14].copy_from_slice(&last_groups[0].to_be_bytes());
    addr[14..].copy_from_slice(&last_groups[1].to_be_bytes());
    addr
}

const HTTP_GET: &[u8] = b"GET / HTTP/1.1\r\nHost: vip.example\r\n\r\n";
const DNS_QUERY: &[u8] = &[
    0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 7, b'e', b'x', b'a',
    b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, 0x00, 0x01, 0x00, 0x01,
];

/// Every frame of the capture, in order.
pub fn packets() -> Vec<Packet> {
    let vip = [10, 0, 0, 100];
    let server = [10, 0, 0, 1];
    let plain = IpOptions::default();
    let syn = |sport, dport| Transport::Tcp {
        sport,
        dport,
        flags: TCP_SYN,
        payload: &[],
    };
    let request = |sport, dport| Transport::Tcp {
        sport,
        dport,
        flags: TCP_PSH_ACK,
        payload: HTTP_GET,
    };
    let dns = |sport, dport, checksum| Transport::Udp {
        sport,
        dport,
        payload: DNS_QUERY,
        checksum,
    };
    let datagram = |sport, dport| Transport::Udp {
        sport,
        dport,
        payload: b"apiary",
        checksum: true,
    };
    // VXLAN (RFC 7348): flags with the VNI-valid bit, VNI 42, then the
    // encapsulated frame.
    let vxlan_payload = [
        &[0x08, 0, 0, 0, 0, 0, 42, 0][..],
        &arp_request([192, 168, 42, 1], [192, 168, 42, 2]).frame,
    ]
    .concat();
    let vxlan = |sport| Transport::Udp {
        sport,
        dport: 4789,
        payload: &vxlan_payload,
        checksum: true,
    };

    // (source, destination, transport, options) of the IPv4 packets.
    let v4: Vec<([u8; 4], [u8; 4], Transport<'_>, IpOptions)> = vec![
        // Clients of the load balancer's TCP service 10.0.0.100:80.
        ([10, 0, 0, 5], vip, syn(40000, 80), plain),
        ([10, 0, 0, 5], vip, request(40000, 80), plain),
        ([10, 0, 0, 6], vip, syn(40001, 80), plain),
        ([10, 0, 7, 21], vip, syn(51515, 80), plain),
        ([172, 16, 4, 2], vip, request(33000, 80), plain),
        (
            [172, 16, 4, 3],
            vip,
            syn(33001, 80),
            IpOptions {
                ipv4_options: true,
                ..plain
            },
        ),
        (
            [10, 0, 0, 9],
            vip,
            syn(41000, 80),
            IpOptions {
                vlans: &[100],
                ..plain
            },
        ),
        // Its UDP service 10.0.0.100:53, one datagram without checksum.
        ([10, 0, 0, 7], vip, dns(5353, 53, true), plain),
        ([10, 0, 0, 8], vip, dns(5354, 53, true), plain),
        ([172, 16, 9, 9], vip, dns(60000, 53, false), plain),
        // To the VIP but no service there, and a later fragment.
        ([10, 0, 0, 5], vip, syn(40002, 443), plain),
        (
            [10, 0, 0, 5],
            vip,
            datagram(5355, 53),
            IpOptions {
                fragment_offset: 185,
                ..plain
            },
        ),
        // From prefixes of the firewall's example block list.
        ([192, 0, 2, 10], server, syn(40010, 22), plain),
        ([192, 0, 2, 70], server, dns(40011, 53, true), plain),
        ([198, 51, 100, 200], server, Transport::Echo, plain),
        ([203, 0, 113, 7], server, syn(40012, 443), plain),
        (
            [192, 0, 2, 99],
            server,
            vxlan(40013),
            IpOptions {
                vlans: &[42],
                ..plain
            },
        ),
        (
            [198, 51, 100, 129],
            server,
            syn(40014, 80),
            IpOptions {
                vlans: &[7, 300],
                ..plain
            },
        ),
        ([203, 0, 113, 7], vip, syn(40015, 80), plain),
        // Their neighbours, not listed.
        ([198, 51, 100, 5], server, Transport::Echo, plain),
        ([203, 0, 113, 8], server, syn(40016, 443), plain),
        ([192, 0, 3, 1], server, vxlan(40017), plain),
        // Traffic for the tc classifier's rules, and some it does not match.
        ([10, 0, 0, 5], server, syn(40018, 22), plain),
        ([10, 0, 0, 5], server, dns(40019, 53, true), plain),
        ([10, 0, 0, 6], server, request(40020, 443), plain),
        ([10, 0, 0, 6], server, vxlan(40021), plain),
        ([10, 0, 0, 6], server, syn(40022, 8080), plain),
        ([10, 0, 0, 6], server, Transport::Echo, plain),
        (
            [10, 0, 0, 7],
            server,
            Transport::Tcp {
                sport: 22,
                dport: 40023,
                flags: TCP_ACK,
                payload: b"SSH-2.0-apiary\r\n",
            },
            plain,
        ),
    ];
    let client6 = v6([0, 1]);
    let server6 = v6([0, 2]);
    let v6_list: Vec<([u8; 16], [u8; 16], Transport<'_>, IpOptions)> = vec![
        (client6, server6, syn(40100, 443), plain),
        (client6, server6, syn(40101, 22), plain),
        (client6, server6, dns(40102, 53, true), plain),
        (client6, server6, Transport::Echo, plain),
        (
            client6,
            server6,
            vxlan(40103),
            IpOptions {
                hop_by_hop: true,
                ..plain
            },
        ),
        (
            client6,
            server6,
            datagram(40104, 9999),
            IpOptions {
                fragment_offset: 0x20,
                ..plain
            },
        ),
        (
            v6([0xbad, 1]),
            server6,
            syn(40105, 80),
            IpOptions {
                vlans: &[100],
                ..plain
            },
        ),
    ];

    let mut out = Vec::new();
    let mut seq = 0u16;
    for (src, dst, l4, opts) in v4 {
        seq += 1;
        out.push(ip_packet(seq, Addrs::V4(src, dst), l4, opts));
    }
    for (src, dst, l4, opts) in v6_list {
        seq += 1;
        out.push(ip_packet(seq, Addrs::V6(src, dst), l4, opts));
    }
    out.push(arp_request([10, 0, 0, 5], server));
    out
}
