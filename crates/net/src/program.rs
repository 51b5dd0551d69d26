//! The program a worker runs on each frame, behind a seam that does not
//! care which execution tier runs it: the runner it is given decides
//! (the interpreter today; a compiled tier is a runner setting).

use std::sync::Arc;

use apiary_runtime::{
    Env, Event, LiveXdp, ProgId, Runtime, RxQueue, TaskInfo, TestRunError, TraceLine,
};
use apiary_vm::Runner;

/// Runs an XDP program on live frames, as one CPU.
pub trait FrameProgram: Send {
    /// Runs the program on `frame`; returns its return value (the action).
    fn run(&mut self, frame: &[u8], rx: RxQueue) -> Result<u32, TestRunError>;

    /// Redirect targets the last run chose, in order (the last counts).
    fn events(&self) -> &[Event];

    /// `bpf_trace_printk` lines of the last run.
    fn trace(&self) -> &[TraceLine];

    /// The packet as the last run left it, in `out`: what a verdict that
    /// sends the frame on sends (only those pay for the copy).
    fn output(&self, out: &mut Vec<u8>);
}

/// An XDP program of a [`Runtime`], run by one runner as CPU `cpu` (its
/// slot in per-CPU maps and `bpf_get_smp_processor_id`'s answer).
pub struct RuntimeProgram {
    live: LiveXdp,
    runner: Runner<Env>,
}

impl std::fmt::Debug for RuntimeProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeProgram")
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

impl RuntimeProgram {
    /// Program `prog` of `runtime` on `runner` (whose engine is the tier)
    /// as CPU `cpu`. XDP runs in softirq context: no current task, as the
    /// kernel's helpers then report. Fails when `prog` is not an XDP
    /// program of `runtime`.
    pub fn new(
        runtime: &Arc<Runtime>,
        prog: ProgId,
        runner: Runner<Env>,
        cpu: u32,
    ) -> Result<Self, TestRunError> {
        Ok(RuntimeProgram {
            live: runtime.live_xdp(prog, cpu, &TaskInfo::default())?,
            runner,
        })
    }
}

impl FrameProgram for RuntimeProgram {
    #[inline]
    fn run(&mut self, frame: &[u8], rx: RxQueue) -> Result<u32, TestRunError> {
        self.live.run(&mut self.runner, frame, rx)
    }

    fn events(&self) -> &[Event] {
        self.live.events()
    }

    fn trace(&self) -> &[TraceLine] {
        self.live.trace()
    }

    fn output(&self, out: &mut Vec<u8>) {
        self.live.output(out);
    }
}
