//! The bundled capture `examples/pcap/traffic.pcap` against its generator
//! (`apiary_corpus::traffic`), and the generated frames against independent
//! readings: tcpdump's decoding and checksum verification, and a
//! verification in this file that every checksum sums to 0xffff.
//!
//! Regenerate the bundled file after changing the generator with
//! `APIARY_WRITE_PCAP=1 cargo test -p apiary-corpus --test traffic`.

use std::process::Command;

use apiary_corpus::traffic::{self, Packet};

#[test]
fn bundled_capture_is_what_the_generator_writes() {
    let generated = traffic::pcap();
    let path = traffic::bundled_pcap_path();
    if std::env::var_os("APIARY_WRITE_PCAP").is_some() {
        std::fs::write(path, &generated)
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        eprintln!("wrote {} ({} bytes)", path.display(), generated.len());
    }
    let bundled = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert!(
        bundled == generated,
        "{} differs from the generator's output ({} vs {} bytes); regenerate it with \
         APIARY_WRITE_PCAP=1 cargo test -p apiary-corpus --test traffic",
        path.display(),
        bundled.len(),
        generated.len()
    );
}

#[test]
fn capture_has_the_promised_mix() {
    let packets = traffic::packets();
    assert!(
        (30..=60).contains(&packets.len()),
        "a few dozen packets, got {}",
        packets.len()
    );
    let count = |what: &str| packets.iter().filter(|p| p.summary.contains(what)).count();
    for what in [
        "IPv4",
        "IPv6",
        "TCP",
        "UDP",
        "ICMP echo",
        "ICMPv6",
        "VLAN",
        "ARP",
    ] {
        assert!(count(what) > 0, "no {what} packet");
    }
    // The summaries name distinct flows closely enough to tell packets apart
    // in test failures.
    for packet in &packets {
        assert!(
            packet.frame.len() >= 14,
            "{}: shorter than Ethernet",
            packet.summary
        );
        assert_eq!(
            packet.frame[..6] == traffic::HOST_MAC,
            !packet.summary.starts_with("ARP")
        );
    }
}

/// Adds big-endian 16-bit words; a correct Internet checksum makes the sum
/// over the covered bytes (checksum field included) fold to 0xffff.
fn folded_sum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.concat();
    let mut sum: u64 = bytes
        .chunks(2)
        .map(|pair| u64::from(pair[0]) << 8 | u64::from(*pair.get(1).unwrap_or(&0)))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Skips Ethernet and VLAN tags; returns the EtherType and the L3 bytes.
fn l3_of(frame: &[u8]) -> (u16, &[u8]) {
    let mut at = 12;
    loop {
        let ethertype = u16::from_be_bytes([frame[at], frame[at + 1]]);
        if ethertype == 0x8100 || ethertype == 0x88a8 {
            at += 4;
            continue;
        }
        return (ethertype, &frame[at + 2..]);
    }
}

fn check_packet_checksums(packet: &Packet) {
    let (ethertype, l3) = l3_of(&packet.frame);
    let what = &packet.summary;
    match ethertype {
        0x0800 => {
            let header_len = usize::from(l3[0] & 0x0f) * 4;
            assert_eq!(
                folded_sum(&[&l3[..header_len]]),
                0xffff,
                "{what}: IPv4 header checksum"
            );
            let total = usize::from(u16::from_be_bytes([l3[2], l3[3]]));
            assert_eq!(total, l3.len(), "{what}: IPv4 total length");
            let fragment_offset = u16::from_be_bytes([l3[6], l3[7]]) & 0x1fff;
            let proto = l3[9];
            let l4 = &l3[header_len..];
            if proto == 1 {
                assert_eq!(folded_sum(&[l4]), 0xffff, "{what}: ICMP checksum");
            } else if fragment_offset == 0 && !(proto == 17 && l4[6..8] == [0, 0]) {
                let length = u16::try_from(l4.len()).unwrap().to_be_bytes();
                let pseudo = [&l3[12..20], &[0, proto], &length[..]].concat();
                assert_eq!(folded_sum(&[&pseudo, l4]), 0xffff, "{what}: L4 checksum");
            }
        }
        0x86dd => {
            let payload_len = usize::from(u16::from_be_bytes([l3[4], l3[5]]));
            assert_eq!(payload_len + 40, l3.len(), "{what}: IPv6 payload length");
            // Walk the extension headers this capture uses.
            let (mut next, mut at) = (l3[6], 40);
            while next == 0 || next == 44 {
                let len = if next == 44 {
                    8
                } else {
                    (usize::from(l3[at + 1]) + 1) * 8
                };
                next = l3[at];
                at += len;
            }
            let l4 = &l3[at..];
            let length = u32::try_from(l4.len()).unwrap().to_be_bytes();
            let pseudo = [&l3[8..40], &length[..], &[0, 0, 0, next]].concat();
            assert_eq!(
                folded_sum(&[&pseudo, l4]),
                0xffff,
                "{what}: L4 checksum over IPv6"
            );
        }
        0x0806 => {}
        other => panic!("{what}: unexpected EtherType {other:#06x}"),
    }
}

#[test]
fn every_checksum_verifies() {
    for packet in traffic::packets() {
        check_packet_checksums(&packet);
    }
}

#[test]
fn tcpdump_decodes_every_frame_without_checksum_complaints() {
    if let Err(reason) = apiary_testskip::tool("tcpdump", "--version") {
        return apiary_testskip::skip(
            "tcpdump_decodes_every_frame_without_checksum_complaints",
            reason,
        );
    }
    let out = Command::new("tcpdump")
        .args(["-nn", "-vv", "-e", "-tt", "-r"])
        .arg(traffic::bundled_pcap_path())
        .output()
        .expect("tcpdump runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tcpdump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // With -tt every frame's line starts with its epoch timestamp.
    let frames = text
        .lines()
        .filter(|l| l.starts_with("1700000000."))
        .count();
    assert_eq!(frames, traffic::packets().len(), "tcpdump output:\n{text}");
    for bad in ["bad cksum", "incorrect", "truncated", "[|"] {
        assert!(!text.contains(bad), "tcpdump reports {bad:?}:\n{text}");
    }
    // tcpdump -vv prints "cksum 0x.... (correct)" for each verified TCP
    // checksum and "[udp sum ok]" / "[icmp6 sum ok]" for UDP and ICMPv6.
    let correct = text.matches("(correct)").count() + text.matches(" sum ok]").count();
    assert!(
        correct >= 30,
        "only {correct} checksums verified by tcpdump:\n{text}"
    );
}
