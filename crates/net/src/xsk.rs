//! `afxdp` mode: an AF_XDP socket per queue, bound to the interface's
//! queue, with its own UMEM. The kernel's redirect program
//! ([`XskRedirect`]) moves every frame of the queue into the socket's RX
//! ring instead of the stack, so verdicts are enforced: `XDP_DROP` gives
//! the frame back to the fill ring, `XDP_TX` copies the program's frame
//! into a free UMEM frame on the TX ring, `XDP_PASS` writes it to the TAP
//! device that stands for the stack, a redirect to another interface goes
//! through a packet socket.
//!
//! Copy mode works with every driver; zero-copy is asked for with
//! [`XskOptions::zero_copy`]. Frames longer than a UMEM frame holds
//! (jumbo frames, multi-buffer XDP) arrive in several descriptors chained
//! by `XDP_PKT_CONTD` (the socket is bound with `XDP_USE_SG`, the redirect
//! program is a frags program) and are joined before the program runs;
//! such frames leave through a packet socket.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use crate::NetError;
use crate::iface::Interface;
use crate::port::Port;
use crate::ring::RxFrame;
use crate::socket::{PacketSender, SendFailure, set_option_at, wait_readable};
use crate::tap::Tap;
use crate::umem::{FRAME_SIZE, Umem};
use crate::xskprog::XskRedirect;
use crate::xskring::{Desc, XskRing};

/// The shape of one socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XskOptions {
    /// Entries per ring (a power of two); the UMEM has twice as many
    /// frames: one half for receiving, the other for sending.
    pub ring_size: u32,
    /// Ask for zero-copy (`XDP_ZEROCOPY`, fails where the driver lacks
    /// it); otherwise copy mode (`XDP_COPY`), which works everywhere.
    pub zero_copy: bool,
}

impl Default for XskOptions {
    /// 2048-entry rings, copy mode.
    fn default() -> XskOptions {
        XskOptions {
            ring_size: 2048,
            zero_copy: false,
        }
    }
}

/// Most frames taken from the RX ring at once.
const BATCH: u32 = 64;

/// One queue of an interface in `afxdp` mode.
pub struct XskPort {
    ifindex: u32,
    queue: u32,
    // Rings and UMEM before the socket: they are unmapped before it closes.
    rx: XskRing,
    tx: XskRing,
    fill: XskRing,
    completion: XskRing,
    umem: Umem,
    fd: OwnedFd,
    /// UMEM frames free for sending.
    tx_free: Vec<u64>,
    /// Sends waiting for a kick.
    tx_pending: bool,
    ring_size: u32,
    batch: Vec<Desc>,
    recycled: Vec<u64>,
    /// A multi-buffer frame whose last descriptor has not arrived yet
    /// (a batch may end inside one).
    joined: Vec<u8>,
    /// Whether `joined` holds the first parts of a frame.
    joining: bool,
    tap: Arc<Tap>,
    sender: PacketSender,
}

impl std::fmt::Debug for XskPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskPort")
            .field("ifindex", &self.ifindex)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

fn ring_offsets(fd: &OwnedFd) -> Result<libc::xdp_mmap_offsets, NetError> {
    // SAFETY: plain data; all-zero is valid.
    let mut offsets: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
    // SAFETY: `offsets` and `len` are valid for the option.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            libc::XDP_MMAP_OFFSETS,
            (&raw mut offsets).cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return Err(NetError::last_os("getsockopt XDP_MMAP_OFFSETS"));
    }
    Ok(offsets)
}

impl XskPort {
    /// Opens queue `queue` of `iface`, registers it in `redirect`'s map,
    /// and hands `XDP_PASS` frames to `tap`.
    pub fn open(
        iface: &Interface,
        queue: u32,
        redirect: &XskRedirect,
        tap: Arc<Tap>,
        options: XskOptions,
    ) -> Result<XskPort, NetError> {
        let size = options.ring_size;
        if !size.is_power_of_two() {
            return Err(NetError::Config(format!(
                "AF_XDP rings of {size} entries: the size must be a power of two"
            )));
        }
        // SAFETY: plain socket creation.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(NetError::last_os("socket(AF_XDP)"));
        }
        // SAFETY: `raw` was just created and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let umem = Umem::register(fd.as_fd(), size * 2)?;
        for (option, name) in [
            (libc::XDP_UMEM_FILL_RING, "XDP_UMEM_FILL_RING"),
            (libc::XDP_UMEM_COMPLETION_RING, "XDP_UMEM_COMPLETION_RING"),
            (libc::XDP_RX_RING, "XDP_RX_RING"),
            (libc::XDP_TX_RING, "XDP_TX_RING"),
        ] {
            set_option_at(fd.as_fd(), libc::SOL_XDP, option, &size, name)?;
        }
        let off = ring_offsets(&fd)?;
        let desc = std::mem::size_of::<libc::xdp_desc>();
        let addr = std::mem::size_of::<u64>();
        let map = |pgoff: u64, offsets, entry, what| {
            XskRing::map(fd.as_fd(), pgoff as i64, offsets, size, entry, what)
        };
        let rx = map(libc::XDP_PGOFF_RX_RING as u64, &off.rx, desc, "RX ring")?;
        let tx = map(libc::XDP_PGOFF_TX_RING as u64, &off.tx, desc, "TX ring")?;
        let fill = map(libc::XDP_UMEM_PGOFF_FILL_RING, &off.fr, addr, "fill ring")?;
        let completion = map(
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
            &off.cr,
            addr,
            "completion ring",
        )?;
        let frames: Vec<u64> = umem.frame_addrs().collect();
        let (receiving, sending) = frames.split_at(size as usize);
        fill.put_addrs(receiving);
        // SAFETY: sockaddr_xdp is plain data; all-zero is valid.
        let mut sxdp: libc::sockaddr_xdp = unsafe { std::mem::zeroed() };
        sxdp.sxdp_family = libc::AF_XDP as u16;
        sxdp.sxdp_ifindex = iface.ifindex;
        sxdp.sxdp_queue_id = queue;
        let copy = if options.zero_copy {
            libc::XDP_ZEROCOPY
        } else {
            libc::XDP_COPY
        };
        let bind = |flags: u16| {
            let mut sxdp = sxdp;
            sxdp.sxdp_flags = flags;
            // SAFETY: `sxdp` is a valid sockaddr_xdp of the size given.
            let rc = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&raw const sxdp).cast(),
                    std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        };
        // Multi-buffer where the kernel (6.6+) and, for zero-copy, the
        // driver have it; otherwise frames that fit one UMEM frame.
        if let Err(error) = bind(copy | libc::XDP_USE_SG).or_else(|_| bind(copy)) {
            let what = if options.zero_copy && error.raw_os_error() == Some(libc::EOPNOTSUPP) {
                format!("{}: the driver offers no AF_XDP zero-copy", iface.name)
            } else {
                format!("binding the AF_XDP socket to {} queue {queue}", iface.name)
            };
            return Err(NetError::os(what, error));
        }
        redirect.insert(queue, fd.as_fd())?;
        Ok(XskPort {
            ifindex: iface.ifindex,
            queue,
            rx,
            tx,
            fill,
            completion,
            umem,
            fd,
            tx_free: sending.to_vec(),
            tx_pending: false,
            ring_size: size,
            batch: Vec::with_capacity(BATCH as usize),
            recycled: Vec::with_capacity(BATCH as usize),
            joined: Vec::new(),
            joining: false,
            tap,
            sender: PacketSender::new()?,
        })
    }

    /// Takes back the UMEM frames the kernel finished sending.
    fn reclaim(&mut self) {
        let free = &mut self.tx_free;
        self.completion
            .take_addrs(u32::MAX, &mut |addr| free.push(addr));
    }
}

impl Port for XskPort {
    fn ifindex(&self) -> u32 {
        self.ifindex
    }

    fn queue(&self) -> u32 {
        self.queue
    }

    fn wait(&mut self, timeout_ms: i32) -> Result<(), NetError> {
        if self.rx.ready() > 0 {
            return Ok(());
        }
        wait_readable(
            self.fd.as_fd(),
            timeout_ms,
            self.ifindex,
            "the AF_XDP socket",
        )
    }

    fn receive(&mut self, each: &mut dyn FnMut(RxFrame<'_>)) -> usize {
        let batch = &mut self.batch;
        batch.clear();
        self.rx.take_descs(BATCH, &mut |desc| batch.push(desc));
        for desc in &self.batch {
            let part = self.umem.bytes(desc.addr, desc.len);
            let continues = desc.options & libc::XDP_PKT_CONTD != 0;
            match (part, continues || self.joining) {
                (Some(bytes), false) => each(RxFrame {
                    bytes,
                    wire_len: desc.len,
                }),
                (Some(bytes), true) => {
                    if !self.joining {
                        self.joined.clear();
                    }
                    self.joined.extend_from_slice(bytes);
                    self.joining = continues;
                    if !continues {
                        each(RxFrame {
                            bytes: &self.joined,
                            wire_len: self.joined.len() as u32,
                        });
                    }
                }
                // A descriptor outside the UMEM (a kernel bug): the frame
                // it belongs to is lost.
                (None, _) => self.joining = false,
            }
            // The frame's start: the kernel may hand out an offset into it.
            self.recycled
                .push(desc.addr - desc.addr % u64::from(FRAME_SIZE));
        }
        // Every received frame goes back to the fill ring, which has room
        // for all of them (they came out of it).
        let put = self.fill.put_addrs(&self.recycled);
        self.recycled.drain(..put);
        self.batch.len()
    }

    fn send(&mut self, ifindex: u32, frame: &[u8]) -> Result<(), SendFailure> {
        if ifindex != self.ifindex || frame.len() > FRAME_SIZE as usize {
            return self.sender.send(ifindex, frame);
        }
        if self.tx_free.is_empty() {
            self.reclaim();
        }
        let Some(addr) = self.tx_free.pop() else {
            return Err(SendFailure::QueueFull);
        };
        self.umem.write(addr, frame);
        let desc = Desc {
            addr,
            len: frame.len() as u32,
            options: 0,
        };
        if !self.tx.put_desc(desc) {
            self.tx_free.push(addr);
            return Err(SendFailure::QueueFull);
        }
        self.tx_pending = true;
        Ok(())
    }

    fn flush(&mut self) {
        // Copy mode sends only when asked, at most 32 frames per ask (the
        // kernel's TX_BATCH_SIZE): kick until the kernel took every
        // descriptor, or stops making progress (a full device queue).
        while self.tx_pending {
            let before = self.tx.room();
            // SAFETY: no buffer is passed; an empty sendto is the kick.
            unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    std::ptr::null(),
                    0,
                    libc::MSG_DONTWAIT,
                    std::ptr::null(),
                    0,
                )
            };
            let after = self.tx.room();
            self.tx_pending = after < self.ring_size && after > before;
        }
        self.reclaim();
    }

    fn pass(&mut self, frame: &[u8]) -> Result<(), SendFailure> {
        self.tap.write(frame)
    }

    fn kernel_drops(&mut self) -> u64 {
        // SAFETY: plain data; all-zero is valid.
        let mut stats: libc::xdp_statistics = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::xdp_statistics>() as libc::socklen_t;
        // SAFETY: `stats` and `len` are valid for XDP_STATISTICS.
        let rc = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_XDP,
                libc::XDP_STATISTICS,
                (&raw mut stats).cast(),
                &raw mut len,
            )
        };
        if rc != 0 {
            return 0;
        }
        // Cumulative: frames without a fill ring entry (or too large for
        // the UMEM frames they could get), and frames the full RX ring
        // refused.
        stats.rx_dropped + stats.rx_ring_full
    }

    fn kernel_has_copy(&self) -> bool {
        false
    }
}
