//! Two namespaces joined by a veth pair: Apiary's side (`ap0` in `a`) and
//! the traffic side (`tx0` in `b`), plus frame builders.

use std::time::Duration;

use apiary_net::netns::{Netns, veth_pair};
use apiary_net::{NetError, PacketReceiver, PacketSender};

/// The link of a test; dropping it deletes both namespaces.
pub struct Link {
    pub apiary: Netns,
    pub traffic: Netns,
}

/// Creates the link, or prints a loud SKIPPED line and returns `None` when
/// not root (namespaces and packet sockets need it).
pub fn link(test: &str) -> Option<Link> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIPPED: {test} because network namespaces and packet sockets need root");
        return None;
    }
    let apiary = Netns::new(&format!("{test}-a")).expect("namespace a");
    let traffic = Netns::new(&format!("{test}-b")).expect("namespace b");
    veth_pair(&apiary, "ap0", &traffic, "tx0").expect("veth pair");
    Some(Link { apiary, traffic })
}

/// An Ethernet + IPv4 frame from `src` (UDP, 64 bytes), numbered `seq` in
/// its payload. Addresses are documentation and test ranges only.
pub fn ipv4_frame(src: [u8; 4], seq: u32) -> Vec<u8> {
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

/// Sends `frames` out of `tx0` in the traffic namespace and collects what
/// comes back on it until `expect_back` frames arrived or nothing came for
/// a second.
pub fn exchange(link: &Link, frames: &[Vec<u8>], expect_back: usize) -> Vec<Vec<u8>> {
    link.traffic
        .run(|| -> Result<Vec<Vec<u8>>, NetError> {
            let tx0 = apiary_net::Interface::by_name("tx0")?;
            let receiver = PacketReceiver::bind(tx0.ifindex)?;
            let sender = PacketSender::new()?;
            for frame in frames {
                sender
                    .send(tx0.ifindex, frame)
                    .map_err(|e| NetError::Config(format!("send: {e:?}")))?;
            }
            let mut back = Vec::new();
            while back.len() < expect_back {
                match receiver.recv(Duration::from_secs(1))? {
                    Some(frame) => back.push(frame),
                    None => break,
                }
            }
            Ok(back)
        })
        .expect("enter the traffic namespace")
        .expect("traffic")
}
