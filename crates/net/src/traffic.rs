//! Test traffic: IPv4/UDP frames from chosen sources, sent from one
//! namespace with a plain packet socket while what comes back is
//! collected (for tests and benchmarks on a [`Link`]).

use std::time::Duration;

use crate::netns::{Link, Netns};
use crate::{Interface, NetError, PacketReceiver, PacketSender};

/// A 64-byte Ethernet + IPv4 + UDP frame from `src` to 198.18.0.1 (the
/// benchmarking range), numbered `seq` in its payload. Checksums are not
/// filled: nothing on a test link checks them.
pub fn udp_frame(src: [u8; 4], seq: u32) -> Vec<u8> {
    let mut frame = vec![0u8; 64];
    frame[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xaa]);
    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0xbb]);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut frame[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&50u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src);
    ip[16..20].copy_from_slice(&[198, 18, 0, 1]);
    frame[42..46].copy_from_slice(&seq.to_be_bytes());
    frame
}

/// In `netns`, sends `frames` out of `iface` and collects what arrives on
/// it until `expect_back` frames came or none came for a second. Frames
/// the device's queue refuses are sent again after a short pause.
pub fn send_and_collect(
    netns: &Netns,
    iface: &str,
    frames: &[Vec<u8>],
    expect_back: usize,
) -> Result<Vec<Vec<u8>>, NetError> {
    netns.run(|| {
        let iface = Interface::by_name(iface)?;
        let receiver = PacketReceiver::bind(iface.ifindex)?;
        let sender = PacketSender::new()?;
        for frame in frames {
            while let Err(failure) = sender.send(iface.ifindex, frame) {
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

/// [`send_and_collect`] from the traffic side of `link`.
pub fn exchange(
    link: &Link,
    frames: &[Vec<u8>],
    expect_back: usize,
) -> Result<Vec<Vec<u8>>, NetError> {
    send_and_collect(&link.traffic, Link::TRAFFIC_IFACE, frames, expect_back)
}
