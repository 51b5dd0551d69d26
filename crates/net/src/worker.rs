//! One worker per queue: receive a batch, run the program on each frame,
//! carry out the verdicts, count; until told to stop, a frame budget is
//! spent, or the interface goes away.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use apiary_runtime::{RxQueue, TestRunError};

use crate::NetError;
use crate::port::Port;
use crate::program::FrameProgram;
use crate::ring::RxFrame;
use crate::stats::{QueueStats, Tally};
use crate::verdict::{Action, Fate, fate_of};

/// How long a worker waits for frames before it looks at the stop flag
/// again.
const POLL_MS: i32 = 100;
/// How often a worker reads the kernel's drop count.
const DROPS_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// What all workers of a run share: the stop flag (set by a signal
/// handler, a duration or the frame budget) and the frames left to run.
#[derive(Debug)]
pub struct Control {
    stop: AtomicBool,
    /// Whether the run has a frame budget; without one no worker touches
    /// `left`, a cache line every core would otherwise write per frame.
    bounded: bool,
    /// Frames left when the run is bounded.
    left: AtomicU64,
}

impl Control {
    /// A run of at most `frames` frames in all (`None`: until stopped).
    pub fn new(frames: Option<u64>) -> Control {
        Control {
            stop: AtomicBool::new(false),
            bounded: frames.is_some(),
            left: AtomicU64::new(frames.unwrap_or(u64::MAX)),
        }
    }

    /// Asks every worker to stop after its current batch.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Whether the run is over.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Takes one frame from the budget; false once it is spent (and then
    /// the run stops).
    fn take_frame(&self) -> bool {
        if !self.bounded {
            return true;
        }
        let taken = self
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
        match taken {
            Ok(1) => {
                self.stop();
                true
            }
            Ok(_) => true,
            Err(_) => {
                self.stop();
                false
            }
        }
    }
}

/// The CPUs this process may run on (its affinity mask), lowest first.
pub fn usable_cpus() -> Result<Vec<usize>, NetError> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(NetError::last_os("sched_getaffinity"));
        }
        set
    };
    let cpus = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    Ok(cpus)
}

/// Pins the calling thread to host CPU `cpu`.
pub fn pin_to_cpu(cpu: usize) -> Result<(), NetError> {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        return Err(NetError::last_os(format!("pinning a worker to CPU {cpu}")));
    }
    Ok(())
}

/// Runs `program` on every frame of `port` until `control` says stop;
/// returns the error that ended the run early (the interface went away).
pub fn run_queue(
    port: &mut dyn Port,
    program: &mut dyn FrameProgram,
    stats: &QueueStats,
    control: &Control,
) -> Result<(), NetError> {
    let rx = RxQueue {
        ifindex: port.ifindex(),
        queue: port.queue(),
    };
    let port_has_copy = port.kernel_has_copy();
    // Frames to send (or pass) after the batch, with their fate: the
    // ring's block is handed back before they leave.
    let mut outbox: Vec<(Fate, Vec<u8>)> = Vec::new();
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let mut tally = Tally::default();
    let mut drops_read = Instant::now();
    while !control.stopped() {
        if drops_read.elapsed() >= DROPS_EVERY {
            stats.lost(port.kernel_drops());
            drops_read = Instant::now();
        }
        port.wait(POLL_MS)?;
        // Timed per batch: two clock reads per frame would cost more than
        // a small program's run.
        let batch_start = Instant::now();
        port.receive(&mut |received: RxFrame<'_>| {
            if control.stopped() || !control.take_frame() {
                return;
            }
            if received.bytes.len() < received.wire_len as usize {
                stats.refused(format!(
                    "a {}-byte frame was cut to {} bytes by the receive ring",
                    received.wire_len,
                    received.bytes.len()
                ));
                return;
            }
            let retval = match program.run(received.bytes, rx) {
                Ok(retval) => retval,
                Err(TestRunError::Run(fault)) => {
                    tally.ran(received.bytes.len(), Action::Aborted);
                    stats.fault(format!("the program faulted (XDP_ABORTED): {fault}"));
                    return;
                }
                Err(refused) => {
                    stats.refused(refused.to_string());
                    return;
                }
            };
            stats.trace(program.trace().iter().map(ToString::to_string));
            let (action, fate) = fate_of(retval, program.events(), rx.ifindex);
            tally.ran(received.bytes.len(), action);
            if action == Action::Aborted {
                // The kernel traces these (xdp:xdp_exception); so does Apiary.
                stats.note(|| match retval {
                    0 => "the program returned XDP_ABORTED".to_owned(),
                    n => format!("the program returned {n}, not an XDP action (XDP_ABORTED)"),
                });
            }
            match fate {
                Fate::Free => {}
                // Packet mode: the stack already has the frame.
                Fate::Pass if port_has_copy => {}
                Fate::Pass | Fate::Transmit(_) => {
                    let mut copy = spare.pop().unwrap_or_default();
                    program.output(&mut copy);
                    outbox.push((fate, copy));
                }
                Fate::Unsupported(why) => stats.unsupported(why),
            }
        });
        stats.ran(&mut tally, batch_start.elapsed().as_nanos() as u64);
        for (fate, bytes) in outbox.drain(..) {
            match fate {
                Fate::Transmit(ifindex) => match port.send(ifindex, &bytes) {
                    Ok(()) => stats.sent(),
                    Err(failure) => {
                        stats.send_failed(format!("sending to interface {ifindex}: {failure:?}"))
                    }
                },
                _ => {
                    if let Err(failure) = port.pass(&bytes) {
                        stats.send_failed(format!("handing a frame to the host: {failure:?}"));
                    }
                }
            }
            spare.push(bytes);
        }
        port.flush();
    }
    stats.lost(port.kernel_drops());
    Ok(())
}
