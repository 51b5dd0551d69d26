//! `packet` mode: an `AF_PACKET` socket with a TPACKET_V3 receive ring
//! bound to one interface, one socket per queue joined in a
//! `PACKET_FANOUT_QM` group (the kernel gives each socket the frames of
//! its receive queue), and a send-only packet socket for `XDP_TX` and
//! redirects.
//!
//! A packet socket sees a copy: the kernel's stack receives every frame
//! whatever the program decides. `XDP_DROP` therefore cannot drop
//! anything in this mode; it is counted. Enforcement needs `afxdp` mode.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::NetError;
use crate::iface::Interface;
use crate::port::Port;
use crate::ring::{RingGeometry, RxFrame, RxRing};
use crate::socket::{
    PacketSender, SendFailure, bind, eth_p_all, ignore_outgoing, packet_socket, set_option,
    wait_readable,
};

/// `TPACKET_V3`.
const TPACKET_V3: libc::c_int = 2;

/// One queue of an interface in `packet` mode.
#[derive(Debug)]
pub struct PacketPort {
    ifindex: u32,
    queue: u32,
    fd: OwnedFd,
    ring: RxRing,
    sender: PacketSender,
    /// Drops counted so far (the kernel resets its count on each read).
    drops: u64,
}

impl PacketPort {
    /// Opens queue `queue` of `iface`. With `fanout` (a group id and the
    /// number of queues in it), the socket joins that `PACKET_FANOUT_QM`
    /// group; open the queues in order 0, 1, ... so that socket `i` of the
    /// group serves receive queue `i`.
    pub fn open(
        iface: &Interface,
        queue: u32,
        fanout: Option<u16>,
        geometry: RingGeometry,
    ) -> Result<PacketPort, NetError> {
        let fd = packet_socket(eth_p_all())?;
        set_option(
            fd.as_fd(),
            libc::PACKET_VERSION,
            &TPACKET_V3,
            "PACKET_VERSION",
        )?;
        // XDP sees only frames arriving on the device.
        ignore_outgoing(fd.as_fd())?;
        let ring = RxRing::new(fd.as_fd(), geometry)?;
        bind(fd.as_fd(), iface.ifindex, eth_p_all())?;
        if let Some(group) = fanout {
            let arg: libc::c_int =
                libc::c_int::from(group) | ((libc::PACKET_FANOUT_QM as libc::c_int) << 16);
            set_option(fd.as_fd(), libc::PACKET_FANOUT, &arg, "PACKET_FANOUT")?;
        }
        Ok(PacketPort {
            ifindex: iface.ifindex,
            queue,
            fd,
            ring,
            sender: PacketSender::new()?,
            drops: 0,
        })
    }
}

impl Port for PacketPort {
    fn ifindex(&self) -> u32 {
        self.ifindex
    }

    fn queue(&self) -> u32 {
        self.queue
    }

    fn wait(&mut self, timeout_ms: i32) -> Result<(), NetError> {
        if self.ring.ready() {
            return Ok(());
        }
        wait_readable(
            self.fd.as_fd(),
            timeout_ms,
            self.ifindex,
            "the packet socket",
        )
    }

    fn receive(&mut self, each: &mut dyn FnMut(RxFrame<'_>)) -> usize {
        self.ring.next_block(each)
    }

    fn send(&mut self, ifindex: u32, frame: &[u8]) -> Result<(), SendFailure> {
        self.sender.send(ifindex, frame)
    }

    /// Nothing to do: the kernel received its own copy.
    fn pass(&mut self, _frame: &[u8]) -> Result<(), SendFailure> {
        Ok(())
    }

    fn kernel_drops(&mut self) -> u64 {
        // SAFETY: plain data; all-zero is valid.
        let mut stats: libc::tpacket_stats_v3 = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: `stats` and `len` are valid for PACKET_STATISTICS.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&raw mut stats).cast(),
                &raw mut len,
            )
        };
        if rc == 0 {
            self.drops += u64::from(stats.tp_drops);
        }
        self.drops
    }

    fn kernel_has_copy(&self) -> bool {
        true
    }
}
