//! Live XDP frames: one frame that arrived on a real interface, run
//! through an XDP program as the kernel's driver hook runs it, for a
//! user-space data plane (`apiary-net`). Unlike test-run, the frame's
//! `ingress_ifindex` and `rx_queue_index` are the real device's, any
//! device may be named, and what the program left is handed back for
//! transmission.

use std::sync::Arc;

use apiary_kernel::types::ProgType;
use apiary_vm::{RunInput, Runner};

use crate::packet::{ETH_HLEN, Packet, SHARED_INFO_SIZE, XDP_PACKET_HEADROOM, XdpSetup};
use crate::testrun::{TestRunError, TraceLine};
use crate::{Env, Event, ProgId, Runtime, TaskInfo};

/// `PAGE_SIZE`: a driver's frame.
const PAGE_SIZE: usize = 4096;

/// Where a live frame came from: the receiving device and its queue, what
/// the program reads as `xdp_md.ingress_ifindex` and `rx_queue_index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxQueue {
    /// The receiving device's ifindex.
    pub ifindex: u32,
    /// The receive queue.
    pub queue: u32,
}

/// What one live frame's run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveVerdict {
    /// The program's return value (`XDP_ABORTED` 0, `XDP_DROP` 1,
    /// `XDP_PASS` 2, `XDP_TX` 3, `XDP_REDIRECT` 4, or anything else the
    /// program returned, which the kernel treats as aborted).
    pub action: u32,
    /// Redirect targets the program chose (`bpf_redirect`,
    /// `bpf_redirect_map`), in order; the last one counts, as in the kernel.
    pub events: Vec<Event>,
    /// `bpf_trace_printk` lines of this run.
    pub trace: Vec<TraceLine>,
}

impl Runtime {
    /// Runs XDP program `prog` on `frame` (Ethernet header first) as the
    /// kernel's driver hook does: the frame after 256 bytes of headroom in
    /// a page-sized buffer, bytes past its 3520-byte linear room in
    /// page-sized fragments (seen by `xdp.frags` programs through the
    /// fragment helpers), no metadata. Afterwards `frame` holds the packet
    /// as the program left it (`data..data_end`, then the fragments): what
    /// `XDP_TX` and `XDP_REDIRECT` send.
    ///
    /// A frame shorter than an Ethernet header, or needing more fragments
    /// than a frame holds, is refused with [`TestRunError::Invalid`] (a
    /// driver never hands such a frame to XDP); a fault in the program is
    /// [`TestRunError::Run`] (the kernel's verifier would have refused the
    /// program; a data plane counts the frame as aborted and goes on).
    pub fn run_xdp_frame(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        frame: &mut Vec<u8>,
        rx: RxQueue,
        cpu: u32,
        task: &TaskInfo,
    ) -> Result<LiveVerdict, TestRunError> {
        let program = self.program(prog).ok_or(TestRunError::NoSuchProgram)?;
        if self.program_type(prog) != ProgType::XDP {
            return Err(TestRunError::NotSupported {
                prog_type: self.program_type(prog),
            });
        }
        if frame.len() < ETH_HLEN {
            return Err(TestRunError::Invalid {
                reason: format!(
                    "a {}-byte frame is shorter than an Ethernet header (14)",
                    frame.len()
                ),
            });
        }
        let linear = PAGE_SIZE - XDP_PACKET_HEADROOM - SHARED_INFO_SIZE;
        let frags = frame.len().saturating_sub(linear).div_ceil(PAGE_SIZE);
        if frags > crate::packet::MAX_SKB_FRAGS {
            return Err(TestRunError::Invalid {
                reason: format!(
                    "a {}-byte frame needs {frags} fragments, more than a frame holds",
                    frame.len()
                ),
            });
        }
        let setup = XdpSetup {
            meta_len: 0,
            ingress_ifindex: rx.ifindex,
            rx_queue_index: rx.queue,
        };
        let mut env = self.env(prog, cpu, task);
        let packet = Packet::xdp(frame, linear, &setup);
        let ctx_addr = packet.ctx_addr();
        let regions = self.with_data_regions(&packet.regions());
        env.packet = Some(packet);
        let input = RunInput {
            args: [ctx_addr, 0, 0, 0, 0],
            regions: &regions,
            packet: None,
            headers: None,
        };
        let action = runner
            .run(&program, &mut env, &input)
            .map_err(TestRunError::Run)? as u32;
        if let Some(packet) = env.packet.take() {
            frame.clear();
            frame.extend_from_slice(packet.bytes());
            for frag in &packet.frags {
                frame.extend_from_slice(frag);
            }
        }
        Ok(LiveVerdict {
            action,
            events: std::mem::take(&mut env.events),
            trace: std::mem::take(&mut env.trace),
        })
    }
}
