//! Live XDP frames: frames that arrived on a real interface, run through
//! an XDP program as the kernel's driver hook runs it, for a user-space
//! data plane (`apiary-net`). Unlike test-run, the frame's
//! `ingress_ifindex` and `rx_queue_index` are the real device's, any
//! device may be named, what the program left is handed back for
//! transmission, and one [`LiveXdp`] keeps its frame buffer, context and
//! per-run state from frame to frame instead of building them anew.

use std::sync::Arc;

use apiary_kernel::types::ProgType;
use apiary_vm::{Program, Region, RunInput, Runner};

use crate::packet::{ETH_HLEN, Packet, SHARED_INFO_SIZE, XDP_PACKET_HEADROOM, XdpSetup};
use crate::testrun::{TestRunError, TraceLine};
use crate::{Env, Event, ProgId, Runtime, TaskInfo};

/// `PAGE_SIZE`: a driver's frame.
const PAGE_SIZE: usize = 4096;
/// The linear part of a frame: a page after the headroom and shared info.
const LINEAR: usize = PAGE_SIZE - XDP_PACKET_HEADROOM - SHARED_INFO_SIZE;

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

/// An XDP program ready for a stream of live frames on one CPU.
pub struct LiveXdp {
    program: Arc<Program<Env>>,
    env: Env,
    /// What every run may reach: the frame and context (whose buffers
    /// never move from frame to frame) and the global data.
    regions: Vec<Region<'static>>,
    /// `r1..r5` at entry: the context's address, then zeros. Kept whole
    /// rather than built per frame: an array stored word by word and
    /// read back by the runner in wider loads stalled each run.
    args: [u64; 5],
}

impl std::fmt::Debug for LiveXdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveXdp")
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Readies XDP program `prog` for live frames on `cpu` (its slot in
    /// per-CPU maps) in the name of `task`.
    pub fn live_xdp(
        self: &Arc<Self>,
        prog: ProgId,
        cpu: u32,
        task: &TaskInfo,
    ) -> Result<LiveXdp, TestRunError> {
        let program = self.program(prog).ok_or(TestRunError::NoSuchProgram)?;
        let prog_type = self.program_type(prog);
        if prog_type != ProgType::XDP {
            return Err(TestRunError::NotSupported { prog_type });
        }
        let mut env = self.env(prog, cpu, Arc::new(task.clone()));
        let setup = XdpSetup {
            meta_len: 0,
            ingress_ifindex: 0,
            rx_queue_index: 0,
        };
        let packet = Packet::xdp(&[0; ETH_HLEN], LINEAR, &setup);
        let regions = self.with_data_regions(packet.regions().into_iter());
        let args = [packet.ctx_addr(), 0, 0, 0, 0];
        env.packet = Some(Box::new(packet));
        Ok(LiveXdp {
            program,
            env,
            regions,
            args,
        })
    }

    /// Runs XDP program `prog` on one frame: [`Runtime::live_xdp`] and
    /// [`LiveXdp::run`] for a single frame.
    pub fn run_xdp_frame(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        frame: &mut Vec<u8>,
        rx: RxQueue,
        cpu: u32,
        task: &TaskInfo,
    ) -> Result<LiveVerdict, TestRunError> {
        let mut live = self.live_xdp(prog, cpu, task)?;
        let action = live.run(runner, frame, rx)?;
        live.output(frame);
        Ok(LiveVerdict {
            action,
            events: std::mem::take(&mut live.env.events),
            trace: std::mem::take(&mut live.env.trace),
        })
    }
}

impl LiveXdp {
    /// Runs the program on `frame` (Ethernet header first) as the
    /// kernel's driver hook does and returns its return value (the
    /// action): the frame after 256 bytes of headroom in a page-sized
    /// buffer, bytes past its 3520-byte linear room in page-sized
    /// fragments (seen by `xdp.frags` programs through the fragment
    /// helpers), no metadata. Afterwards [`LiveXdp::events`] and
    /// [`LiveXdp::trace`] tell what the run asked for and printed, and
    /// [`LiveXdp::output`] gives the packet as the program left it: what
    /// `XDP_TX` and `XDP_REDIRECT` send (a dropped frame is never copied
    /// back out). Nothing is allocated per frame: a stream of frames pays
    /// for copying each in and for what the program does.
    ///
    /// A frame shorter than an Ethernet header, or needing more fragments
    /// than a frame holds, is refused with [`TestRunError::Invalid`] (a
    /// driver never hands such a frame to XDP); a fault in the program is
    /// [`TestRunError::Run`] (the kernel's verifier would have refused the
    /// program; a data plane counts the frame as aborted and goes on).
    #[inline]
    pub fn run(
        &mut self,
        runner: &mut Runner<Env>,
        frame: &[u8],
        rx: RxQueue,
    ) -> Result<u32, TestRunError> {
        if frame.len() < ETH_HLEN || frame.len() > LINEAR {
            unfit(frame.len())?;
        }
        let setup = XdpSetup {
            meta_len: 0,
            ingress_ifindex: rx.ifindex,
            rx_queue_index: rx.queue,
        };
        self.env.clear_run_state();
        let packet = self
            .env
            .packet
            .as_mut()
            .ok_or(TestRunError::NoSuchProgram)?;
        packet.refill_xdp(frame, LINEAR, &setup);
        let input = RunInput {
            args: self.args,
            regions: &self.regions,
            packet: None,
            headers: None,
        };
        let action = runner
            .set_cpu(self.env.cpu)
            .run(&self.program, &mut self.env, &input)
            .map_err(TestRunError::Run)?;
        Ok(action as u32)
    }

    /// Redirect targets the last run chose (`bpf_redirect`,
    /// `bpf_redirect_map`), in order; the last one counts, as in the kernel.
    pub fn events(&self) -> &[Event] {
        &self.env.events
    }

    /// `bpf_trace_printk` lines of the last run.
    pub fn trace(&self) -> &[TraceLine] {
        &self.env.trace
    }

    /// The packet as the last run left it (`data..data_end`, then the
    /// fragments), in `out` (replacing what it held).
    pub fn output(&self, out: &mut Vec<u8>) {
        out.clear();
        if let Some(packet) = &self.env.packet {
            out.extend_from_slice(packet.bytes());
            for frag in &packet.frags {
                out.extend_from_slice(frag);
            }
        }
    }
}

/// Refuses a frame of `len` bytes that no driver hands to XDP: shorter
/// than an Ethernet header, or needing more fragments than a frame holds;
/// accepts a multi-buffer frame. Out of line: the per-frame path calls it
/// only for frames outside the linear room.
#[cold]
fn unfit(len: usize) -> Result<(), TestRunError> {
    if len < ETH_HLEN {
        return Err(TestRunError::Invalid {
            reason: format!("a {len}-byte frame is shorter than an Ethernet header (14)"),
        });
    }
    let frags = len.saturating_sub(LINEAR).div_ceil(PAGE_SIZE);
    if frags > crate::packet::MAX_SKB_FRAGS {
        return Err(TestRunError::Invalid {
            reason: format!("a {len}-byte frame needs {frags} fragments, more than a frame holds"),
        });
    }
    Ok(())
}
