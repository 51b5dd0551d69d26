//! Test traffic: IPv4/UDP frames from chosen sources, sent from one
//! namespace with a plain packet socket while what comes back is
//! collected (for tests and benchmarks on a [`Link`]).

use std::time::Duration;

use crate::netns::{Link, Netns};
use crate::{Interface, NetError, PacketReceiver, PacketSender};

/// Where a test frame goes: the destination's hardware and IPv4
/// addresses and UDP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    /// Hardware address.
    pub mac: [u8; 6],
    /// IPv4 address.
    pub ip: [u8; 4],
    /// UDP port.
    pub port: u16,
}

/// 198.18.0.1 (the benchmarking range) port 9 behind a made-up address.
pub const NOWHERE: Destination = Destination {
    mac: [0x02, 0, 0, 0, 0, 0xaa],
    ip: [198, 18, 0, 1],
    port: 9,
};

/// A 64-byte Ethernet + IPv4 + UDP frame from `src` (port 4000) to
/// [`NOWHERE`], numbered `seq` in its payload.
pub fn udp_frame(src: [u8; 4], seq: u32) -> Vec<u8> {
    udp_frame_to(src, NOWHERE, seq)
}

/// A 64-byte Ethernet + IPv4 + UDP frame from `src` (port 4000) to `dst`,
/// numbered `seq` in its 22-byte payload; the IPv4 header checksum is
/// right (a host's stack checks it), the UDP checksum 0 (none).
pub fn udp_frame_to(src: [u8; 4], dst: Destination, seq: u32) -> Vec<u8> {
    let mut frame = vec![0u8; 64];
    frame[0..6].copy_from_slice(&dst.mac);
    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xbb]);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut frame[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&50u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&dst.ip);
    let checksum = !ones_complement_sum(ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    let udp = &mut frame[34..42];
    udp[0..2].copy_from_slice(&4000u16.to_be_bytes());
    udp[2..4].copy_from_slice(&dst.port.to_be_bytes());
    udp[4..6].copy_from_slice(&30u16.to_be_bytes());
    frame[42..46].copy_from_slice(&seq.to_be_bytes());
    frame
}

/// In `netns`, sends `frames` out of interface `out` and collects what
/// arrives on interface `back_on` until `expect_back` frames came or none
/// came for a second. Frames the device's queue refuses are sent again
/// after a short pause.
pub fn send_and_collect(
    netns: &Netns,
    out: &str,
    back_on: &str,
    frames: &[Vec<u8>],
    expect_back: usize,
) -> Result<Vec<Vec<u8>>, NetError> {
    netns.run(|| {
        let out = Interface::by_name(out)?;
        let receiver = PacketReceiver::bind(Interface::by_name(back_on)?.ifindex)?;
        let sender = PacketSender::new()?;
        for frame in frames {
            while let Err(failure) = sender.send(out.ifindex, frame) {
                if failure != crate::SendFailure::QueueFull {
                    return Err(NetError::Config(format!("sending a frame: {failure:?}")));
                }
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        let mut back = Vec::new();
        while back.len() < expect_back {
            match receiver.recv(Duration::from_secs(1))? {
                Some(frame) => back.push(frame),
                None => break,
            }
        }
        Ok(back)
    })?
}

/// [`send_and_collect`] on the traffic side of `link`, out of and back on
/// its interface.
pub fn exchange(
    link: &Link,
    frames: &[Vec<u8>],
    expect_back: usize,
) -> Result<Vec<Vec<u8>>, NetError> {
    send_and_collect(
        &link.traffic,
        Link::TRAFFIC_IFACE,
        Link::TRAFFIC_IFACE,
        frames,
        expect_back,
    )
}

/// What a flood sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flood {
    /// Frames the device took.
    pub sent: u64,
    /// Seconds it took.
    pub seconds: f64,
}

/// In `netns`, sends `total` frames out of `out` as fast as one core can
/// (batches of 64 through `sendmmsg`, past the queueing discipline),
/// cycling through `frames`; a full device queue is retried.
pub fn flood(netns: &Netns, out: &str, frames: &[Vec<u8>], total: u64) -> Result<Flood, NetError> {
    if frames.is_empty() {
        return Err(NetError::Config("a flood needs at least one frame".into()));
    }
    netns.run(|| {
        let out = Interface::by_name(out)?;
        let sender = PacketSender::new()?;
        sender.bypass_qdisc()?;
        let batch: Vec<&[u8]> = frames.iter().cycle().take(64).map(Vec::as_slice).collect();
        let start = std::time::Instant::now();
        let mut sent = 0u64;
        while sent < total {
            let want = (total - sent).min(batch.len() as u64) as usize;
            let took = sender
                .send_batch(out.ifindex, &batch[..want])
                .map_err(|e| NetError::Config(format!("flooding: {e:?}")))?;
            sent += took as u64;
        }
        Ok(Flood {
            sent,
            seconds: start.elapsed().as_secs_f64(),
        })
    })?
}

/// The ones' complement sum of `bytes` as big-endian 16-bit words.
fn ones_complement_sum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071: a header with its checksum sums to all ones.
    #[test]
    fn the_ipv4_header_checksum_verifies() {
        for seq in [0, 7, u32::MAX] {
            let frame = udp_frame([192, 0, 2, 1], seq);
            assert_eq!(ones_complement_sum(&frame[14..34]), 0xffff);
            assert_eq!(frame.len(), 64);
        }
    }
}
