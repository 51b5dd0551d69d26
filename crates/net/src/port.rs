//! What a worker needs from a source of live frames, whichever kind of
//! socket delivers them (`packet` today; `afxdp` implements the same).

use crate::NetError;
use crate::ring::RxFrame;
use crate::socket::SendFailure;

/// One receive queue of an interface, with a way to send frames out.
pub trait Port: Send {
    /// The interface's ifindex (what the program reads as `ingress_ifindex`).
    fn ifindex(&self) -> u32;

    /// The receive queue this port serves (`rx_queue_index`).
    fn queue(&self) -> u32;

    /// Waits up to `timeout_ms` for frames. An interface that went down or
    /// away is [`NetError::InterfaceGone`].
    fn wait(&mut self, timeout_ms: i32) -> Result<(), NetError>;

    /// Calls `each` on the frames ready now (one batch), and returns how
    /// many there were.
    fn receive(&mut self, each: &mut dyn FnMut(RxFrame<'_>)) -> usize;

    /// Sends `frame` out of interface `ifindex` (`XDP_TX`: this port's own).
    fn send(&mut self, ifindex: u32, frame: &[u8]) -> Result<(), SendFailure>;

    /// Pushes out what [`Port::send`] queued (one system call per batch
    /// where the socket needs one).
    fn flush(&mut self) {}

    /// Hands `frame` to the host's stack (`XDP_PASS`) when the kernel
    /// does not have its own copy already.
    fn pass(&mut self, frame: &[u8]) -> Result<(), SendFailure>;

    /// Frames the kernel dropped on this queue before they reached the
    /// port (a full ring; afxdp: frames larger than a UMEM frame), since
    /// it was opened.
    fn kernel_drops(&mut self) -> u64;

    /// Whether the kernel's stack already received its own copy of every
    /// frame (packet mode), so that `XDP_PASS` needs no action and
    /// `XDP_DROP` cannot stop the kernel's copy.
    fn kernel_has_copy(&self) -> bool;
}
